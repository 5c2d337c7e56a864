# The Elixir lane: what an Elixir developer does with Go nodes, one
# scenario at a time. Run by lane_test.go as
#
#   elixir --name ex@127.0.0.1 --cookie C lane.exs GO1 GO2 CLI
#
# GO1 and GO2 are Go nodes started with cluster.Start (GO1 runs the
# processes named below and a control gen_server, ctl, for what needs Go's
# side); CLI is a hidden `distribute node --inbox box`. Every scenario
# prints one line, `SCENARIO name ok` or `SCENARIO name fail DETAIL`, and
# the last line is `DONE`. The Go test writes `conflict_ready` on stdin
# when the global_conflict scenario's Go side is in place.

defmodule Lane.User do
  defstruct [:name, :age, :tags]
end

defmodule Lane.PubSub.Worker do
  # What Phoenix.PubSub's PG adapter runs on each node: a process
  # registered under the adapter name, joined to the group of that name in
  # the Phoenix.PubSub pg scope, that hands {:forward_to_local, ...} to the
  # local subscribers (a duplicate-key Registry, as Phoenix.PubSub's).
  def start(adapter, registry) do
    parent = self()

    pid =
      spawn_link(fn ->
        Process.register(self(), adapter)
        :ok = :pg.join(Phoenix.PubSub, adapter, self())
        send(parent, :worker_ready)
        loop(registry)
      end)

    receive do
      :worker_ready -> pid
    end
  end

  defp loop(registry) do
    receive do
      {:forward_to_local, topic, message, _dispatcher} ->
        Registry.dispatch(registry, topic, fn entries ->
          for {pid, _} <- entries, do: send(pid, message)
        end)
    end

    loop(registry)
  end

  # Phoenix.PubSub.PG2.broadcast/4: to every member on another node.
  def broadcast(adapter, topic, message) do
    for pid <- :pg.get_members(Phoenix.PubSub, adapter), node(pid) != node() do
      send(pid, {:forward_to_local, topic, message, Phoenix.PubSub})
    end

    :ok
  end
end

defmodule Lane do
  @adapter Lane.PubSub.Adapter

  def main([go1, go2, cli]) do
    go1 = String.to_atom(go1)
    go2 = String.to_atom(go2)
    cli = String.to_atom(cli)
    ctx = %{go1: go1, go2: go2, cli: cli}

    {:ok, _} = :pg.start_link(Phoenix.PubSub)
    {:ok, _} = Registry.start_link(keys: :duplicate, name: Lane.PubSub)
    Lane.PubSub.Worker.start(@adapter, Lane.PubSub)

    for {name, fun} <- scenarios() do
      run(name, fun, ctx)
    end

    IO.puts("DONE")
  end

  def scale do
    case Float.parse(System.get_env("DISTRIBUTE_TEST_TIMEOUT_SCALE", "1")) do
      {f, _} when f > 0 -> f
      _ -> 1.0
    end
  end

  def ms(n), do: round(n * scale())

  # Runs one scenario in its own process, so that a crash, an exit signal
  # or a hang fails that scenario only.
  def run(name, fun, ctx) do
    parent = self()

    {pid, ref} =
      spawn_monitor(fn ->
        result =
          try do
            fun.(ctx)
          catch
            kind, reason -> {:raised, kind, reason, Enum.take(__STACKTRACE__, 2)}
          end

        send(parent, {:result, self(), result})
      end)

    result =
      receive do
        {:result, ^pid, r} ->
          Process.demonitor(ref, [:flush])
          r

        {:DOWN, ^ref, :process, _, reason} ->
          {:died, reason}
      after
        ms(60_000) ->
          Process.exit(pid, :kill)
          {:timeout, ms(60_000)}
      end

    case result do
      :ok ->
        IO.puts("SCENARIO #{name} ok")

      other ->
        detail = inspect(other, limit: 12, printable_limit: 80) |> String.replace("\n", " ")
        IO.puts("SCENARIO #{name} fail #{detail}")
    end
  end

  # check!/2 fails the scenario with a readable detail.
  def check!(true, _), do: :ok
  def check!(_, detail), do: throw({:check_failed, detail})

  def eq!(got, want), do: check!(got == want, {:got, got, :want, want})

  # wait_until! polls fun until it returns true.
  def wait_until!(what, fun, deadline \\ nil) do
    deadline = deadline || System.monotonic_time(:millisecond) + ms(20_000)

    cond do
      fun.() ->
        :ok

      System.monotonic_time(:millisecond) > deadline ->
        throw({:timed_out_waiting_for, what})

      true ->
        Process.sleep(10)
        wait_until!(what, fun, deadline)
    end
  end

  def recv!(what, timeout \\ 20_000) do
    receive do
      m -> m
    after
      ms(timeout) -> throw({:nothing_received, what})
    end
  end

  def ctl(ctx, req), do: GenServer.call({:ctl, ctx.go1}, req, ms(30_000))

  def puppet(ctx) do
    {:ok, pid} = ctl(ctx, :spawn_puppet)
    pid
  end

  def idle, do: spawn(fn -> receive do: (:stop -> :ok) end)

  def scenarios do
    [
      # Connecting and node visibility.
      {"node_connect",
       fn ctx ->
         eq!(Node.connect(ctx.go1), true)
         eq!(Node.connect(ctx.go2), true)
         eq!(:net_adm.ping(ctx.go1), :pong)
         check!(ctx.go1 in Node.list() and ctx.go2 in Node.list(), {:visible_nodes, Node.list()})
         eq!(ctl(ctx, {:visible, node()}), true)
         :ok
       end},

      # GenServer into a typed Go actor (binary requests, codec.Int).
      {"genserver_call_actor",
       fn ctx ->
         eq!(GenServer.call({:counter, ctx.go1}, <<5::64-signed>>), <<5::64-signed>>)
         :ok
       end},
      {"genserver_cast_actor",
       fn ctx ->
         eq!(GenServer.cast({:counter, ctx.go1}, <<2::64-signed>>), :ok)
         eq!(GenServer.call({:counter, ctx.go1}, <<0::64-signed>>), <<7::64-signed>>)
         :ok
       end},
      {"genserver_call_actor_bad_request",
       fn ctx ->
         # Answered at once; the caller's timeout is longer than the
         # scenario's.
         case GenServer.call({:counter, ctx.go1}, {:add, 1}, ms(120_000)) do
           {:error, {:bad_request, text}} when is_binary(text) -> :ok
           other -> {:got, other}
         end
       end},

      # GenServer into a Go gen_server (native terms).
      {"genserver_call_gen_server",
       fn ctx ->
         term = {:hello, [1, 2.5, "bin", :atom, %{a: 1}, Bitwise.bsl(1, 70)], make_ref(), self()}
         eq!(GenServer.call({:echo, ctx.go1}, {:echo, term}), term)
         :ok
       end},
      {"genserver_cast_gen_server",
       fn ctx ->
         eq!(GenServer.cast({:echo, ctx.go1}, {:store, :casted}), :ok)
         eq!(GenServer.call({:echo, ctx.go1}, :get), :casted)
         :ok
       end},
      {"genserver_multi_call",
       fn ctx ->
         nonode = :"nonode@127.0.0.1"
         {replies, bad} = GenServer.multi_call([ctx.go1, ctx.go2, nonode], :echo, {:echo, :hi}, ms(10_000))
         eq!(Enum.sort(replies), Enum.sort([{ctx.go1, :hi}, {ctx.go2, :hi}]))
         eq!(bad, [nonode])
         :ok
       end},
      {"genserver_abcast",
       fn ctx ->
         eq!(GenServer.abcast([ctx.go1, ctx.go2], :echo, {:store, :ab}), :abcast)
         eq!(GenServer.call({:echo, ctx.go1}, :get), :ab)
         eq!(GenServer.call({:echo, ctx.go2}, :get), :ab)
         :ok
       end},

      # Monitors, links and exit signals, both ways.
      {"monitor_go_process",
       fn ctx ->
         p = puppet(ctx)
         ref = Process.monitor(p)
         send(p, {:exit, :bye})
         eq!(recv!(:down), {:DOWN, ref, :process, p, :bye})
         # Monitoring it again: noproc at once.
         ref2 = Process.monitor(p)
         eq!(recv!(:down_noproc), {:DOWN, ref2, :process, p, :noproc})
         :ok
       end},
      {"go_monitors_elixir_process",
       fn ctx ->
         e = spawn(fn -> receive do: (:go -> exit(:boom)) end)
         p = puppet(ctx)
         eq!(GenServer.call(p, {:report_to, self()}), :ok)
         ref = GenServer.call(p, {:monitor, e})
         send(e, :go)
         eq!(recv!(:go_saw_down), {:go_saw, {:DOWN, ref, :process, e, :boom}})
         :ok
       end},
      {"link_elixir_exit_kills_go",
       fn ctx ->
         p = puppet(ctx)
         ref = Process.monitor(p)
         e = spawn(fn -> receive do: ({:link, p} -> Process.link(p); exit(:linked_boom)) end)
         send(e, {:link, p})
         eq!(recv!(:down), {:DOWN, ref, :process, p, :linked_boom})
         :ok
       end},
      {"link_go_exit_reaches_trapping_elixir",
       fn ctx ->
         Process.flag(:trap_exit, true)
         p = puppet(ctx)
         eq!(GenServer.call(p, {:link, self()}), :ok)
         send(p, {:exit, :go_boom})
         eq!(recv!(:exit), {:EXIT, p, :go_boom})
         :ok
       end},
      {"link_elixir_exit_reaches_trapping_go",
       fn ctx ->
         p = puppet(ctx)
         eq!(GenServer.call(p, {:trap_exit, true}), :ok)
         eq!(GenServer.call(p, {:report_to, self()}), :ok)
         e = spawn(fn -> receive do: ({:link, p} -> Process.link(p); exit(:e_boom)) end)
         send(e, {:link, p})
         eq!(recv!(:go_saw_exit), {:go_saw, {:EXIT, e, :e_boom}})
         :ok
       end},
      {"exit_signal_to_go",
       fn ctx ->
         p = puppet(ctx)
         ref = Process.monitor(p)
         # A normal exit signal does nothing to a process that does not trap.
         Process.exit(p, :normal)
         eq!(GenServer.call(p, :ping), :pong)
         Process.exit(p, :kill)
         eq!(recv!(:down), {:DOWN, ref, :process, p, :killed})
         :ok
       end},
      {"exit_signal_from_go",
       fn ctx ->
         p = puppet(ctx)
         e = idle()
         ref = Process.monitor(e)
         eq!(GenServer.call(p, {:exit_signal, e, :from_go}), :ok)
         eq!(recv!(:down), {:DOWN, ref, :process, e, :from_go})
         :ok
       end},

      # erpc and rpc: every outcome's shape.
      {"erpc_return",
       fn ctx ->
         t = %{"k" => [1, {2, :three}]}
         eq!(:erpc.call(ctx.go1, :gox, :echo, [t]), t)
         :ok
       end},
      {"erpc_undef",
       fn ctx ->
         try do
           {:returned, :erpc.call(ctx.go1, :gox, :nope, [])}
         catch
           :error, {:exception, :undef, [{:gox, :nope, [], _} | _]} -> :ok
           k, r -> {k, r}
         end
       end},
      {"erpc_raise",
       fn ctx ->
         try do
           {:returned, :erpc.call(ctx.go1, :gox, :raise, [:boom])}
         catch
           :error, {:exception, :boom, [{:gox, :raise, 1, _} | _]} -> :ok
           k, r -> {k, r}
         end
       end},
      {"erpc_throw",
       fn ctx ->
         try do
           {:returned, :erpc.call(ctx.go1, :gox, :throw, [:ball])}
         catch
           :throw, :ball -> :ok
           k, r -> {k, r}
         end
       end},
      {"erpc_exit",
       fn ctx ->
         try do
           {:returned, :erpc.call(ctx.go1, :gox, :exit, [:bye])}
         catch
           :exit, {:exception, :bye} -> :ok
           k, r -> {k, r}
         end
       end},
      {"erpc_timeout",
       fn ctx ->
         try do
           {:returned, :erpc.call(ctx.go1, :gox, :sleep, [ms(30_000)], 200)}
         catch
           :error, {:erpc, :timeout} -> :ok
           k, r -> {k, r}
         end
       end},
      {"rpc_undef",
       fn ctx ->
         case :rpc.call(ctx.go1, :gox, :nope, []) do
           {:badrpc, {:EXIT, {:undef, [{:gox, :nope, [], _} | _]}}} -> :ok
           other -> {:got, other}
         end
       end},
      {"rpc_raise",
       fn ctx ->
         case :rpc.call(ctx.go1, :gox, :raise, [:boom]) do
           {:badrpc, {:EXIT, {:boom, [{:gox, :raise, 1, _} | _]}}} -> :ok
           other -> {:got, other}
         end
       end},
      {"rpc_throw",
       fn ctx ->
         eq!(:rpc.call(ctx.go1, :gox, :throw, [:ball]), :ball)
         :ok
       end},
      {"rpc_exit",
       fn ctx ->
         eq!(:rpc.call(ctx.go1, :gox, :exit, [:bye]), {:badrpc, {:EXIT, :bye}})
         :ok
       end},
      {"rpc_timeout",
       fn ctx ->
         eq!(:rpc.call(ctx.go1, :gox, :sleep, [ms(30_000)], 200), {:badrpc, :timeout})
         :ok
       end},

      # :global names, locks and transactions.
      {"global_whereis_go_name",
       fn ctx ->
         eq!(:global.sync(), :ok)
         pid = :global.whereis_name(:go_global)
         check!(is_pid(pid) and node(pid) == ctx.go1, {:whereis, pid})
         eq!(GenServer.call({:global, :go_global}, {:echo, :via_global}), :via_global)
         :ok
       end},
      {"global_register",
       fn ctx ->
         e = idle()
         eq!(:global.register_name(:ex_global, e), :yes)
         eq!(:global.register_name(:ex_global, idle()), :no)
         eq!(ctl(ctx, {:global_whereis, :ex_global}), e)
         eq!(:global.unregister_name(:ex_global), :ok)
         eq!(ctl(ctx, {:global_whereis, :ex_global}), :undefined)
         :ok
       end},
      {"global_trans",
       fn ctx ->
         eq!(:global.trans({:lane_lock, self()}, fn -> :done end), :done)
         eq!(:global.trans({:lane_lock2, self()}, fn -> :done end, [node(), ctx.go1, ctx.go2]), :done)
         # A lock Go holds makes a transaction with no retries abort.
         eq!(ctl(ctx, {:hold_lock, :lane_res}), :ok)
         eq!(:global.trans({:lane_res, self()}, fn -> :done end, [node(), ctx.go1], 0), :aborted)
         eq!(ctl(ctx, {:release_lock, :lane_res}), :ok)
         eq!(:global.trans({:lane_res, self()}, fn -> :done end, [node(), ctx.go1]), :done)
         :ok
       end},

      # :pg, the default scope and Phoenix.PubSub's way in a named one.
      {"pg_default_scope",
       fn ctx ->
         eq!(:pg.join(:ex_group, self()), :ok)
         me = self()
         wait_until!(:go_sees_member, fn -> ctl(ctx, {:pg_members, :pg, :ex_group}) == [me] end)
         wait_until!(:go_member, fn -> :pg.get_members(:go_workers) != [] end)
         [m] = :pg.get_members(:go_workers)
         eq!(node(m), ctx.go1)
         send(m, {:ping, self()})
         eq!(recv!(:pong), {:pong, m})
         eq!(:pg.leave(:ex_group, self()), :ok)
         wait_until!(:go_sees_leave, fn -> ctl(ctx, {:pg_members, :pg, :ex_group}) == [] end)
         :ok
       end},
      {"pg_phoenix_broadcast_to_go",
       fn ctx ->
         wait_until!(:go_worker, fn ->
           Enum.any?(:pg.get_members(Phoenix.PubSub, @adapter), &(node(&1) == ctx.go1))
         end)
         eq!(Lane.PubSub.Worker.broadcast(@adapter, "room:1", {:hello, self()}), :ok)
         eq!(recv!(:go_got), {:go_got, "room:1", :hello})
         :ok
       end},
      {"pg_phoenix_broadcast_from_go",
       fn ctx ->
         {:ok, _} = Registry.register(Lane.PubSub, "room:2", nil)
         worker = Process.whereis(@adapter)
         wait_until!(:go_sees_worker, fn -> worker in ctl(ctx, {:pg_members, Phoenix.PubSub, @adapter}) end)
         eq!(ctl(ctx, {:phx_broadcast, "room:2", {:from_go, 1}}), :ok)
         eq!(recv!(:from_go), {:from_go, 1})
         :ok
       end},
      {"pg_phoenix_direct_broadcast",
       fn ctx ->
         send({@adapter, ctx.go1}, {:forward_to_local, "room:1", {:hello, self()}, Phoenix.PubSub})
         eq!(recv!(:go_got), {:go_got, "room:1", :hello})
         :ok
       end},

      # Structs and string-key maps through Go values and back.
      {"struct_roundtrip",
       fn ctx ->
         u = %Lane.User{name: "Ada", age: 36, tags: [:math, :engines]}
         eq!(ctl(ctx, {:struct_roundtrip, u}), u)
         eq!(GenServer.call({:echo, ctx.go1}, {:echo, u}), u)
         :ok
       end},
      {"string_key_map_roundtrip",
       fn ctx ->
         m = %{"name" => "Ada", "langs" => ["en", "fr"], "n" => 1, "nested" => %{"k" => 2.5}}
         eq!(ctl(ctx, {:map_roundtrip, m}), m)
         :ok
       end},

      # sys on a Go actor: each request its own scenario.
      {"sys_get_state",
       fn ctx ->
         eq!(GenServer.call({:counter, ctx.go1}, <<0::64-signed>>), <<7::64-signed>>)
         eq!(:sys.get_state({:counter, ctx.go1}), 7)
         :ok
       end},
      {"sys_get_status",
       fn ctx ->
         case :sys.get_status({:counter, ctx.go1}) do
           {:status, pid, {:module, :gen_server},
            [[], :running, pid,
             [],
             [
               header: 'Status for generic server counter',
               data: [{'Status', :running}, {'Parent', pid}, {'Logged events', []}],
               data: [{'State', 7}]
             ]]}
           when node(pid) == ctx.go1 ->
             :ok

           other ->
             {:got, other}
         end
       end},
      {"sys_suspend",
       fn ctx ->
         eq!(:sys.suspend({:counter, ctx.go1}), :ok)
         # A call sent now waits in the actor's mailbox: a holder process
         # makes it and keeps the request for sys_resume.
         me = self()

         holder =
           spawn(fn ->
             req = :gen_server.send_request({:counter, ctx.go1}, <<1::64-signed>>)
             send(me, :sent)
             holder_loop(req)
           end)

         Process.register(holder, :lane_sys_holder)
         eq!(recv!(:sent), :sent)
         # Answered while suspended; the state has not moved: the call
         # (sent before, on the same connection) was not handled.
         eq!(:sys.get_state({:counter, ctx.go1}), 7)
         {:status, _, _, [_, sys_state | _]} = :sys.get_status({:counter, ctx.go1})
         eq!(sys_state, :suspended)
         send(holder, {:peek, self()})
         eq!(recv!(:peek), {:peek, :timeout})
         :ok
       end},
      {"sys_resume",
       fn ctx ->
         eq!(:sys.resume({:counter, ctx.go1}), :ok)
         send(:lane_sys_holder, {:wait, self()})
         eq!(recv!(:queued_reply), {:wait, {:reply, <<8::64-signed>>}})
         eq!(:sys.get_state({:counter, ctx.go1}), 8)
         :ok
       end},
      {"sys_replace_state",
       fn ctx ->
         try do
           {:returned, :sys.replace_state({:counter, ctx.go1}, fn s -> s + 1 end)}
         catch
           :error, {:callback_failed, {:gen_server, :system_replace_state}, {:error, {:badfun, f}}}
           when is_function(f) ->
             eq!(:sys.get_state({:counter, ctx.go1}), 8)
             :ok

           k, r ->
             {k, r}
         end
       end},
      {"sys_terminate",
       fn ctx ->
         ref = Process.monitor({:victim1, ctx.go1})
         eq!(:sys.terminate({:victim1, ctx.go1}, :shutdown), :ok)
         {:DOWN, ^ref, :process, _, reason} = recv!(:down)
         eq!(reason, :shutdown)
         :ok
       end},
      {"genserver_stop",
       fn ctx ->
         ref = Process.monitor({:victim2, ctx.go1})
         eq!(GenServer.stop({:victim2, ctx.go1}), :ok)
         {:DOWN, ^ref, :process, _, reason} = recv!(:down)
         eq!(reason, :normal)
         :ok
       end},
      {"genserver_stop_reason",
       fn ctx ->
         eq!(GenServer.stop({:victim3, ctx.go1}, {:shutdown, :bye}, ms(10_000)), :ok)
         :ok
       end},
      {"sys_get_state_gen_server",
       fn ctx ->
         eq!(:sys.get_state({:echo, ctx.go1}), %{stored: :ab})
         :ok
       end},

      # The CLI's --inbox (a `distribute node` OS process).
      {"cli_inbox_call",
       fn ctx ->
         eq!(GenServer.call({:box, ctx.cli}, {:hi, 1}), {:hi, 1})
         :ok
       end},
      {"cli_inbox_sys_get_state",
       fn ctx ->
         eq!(:sys.get_state({:box, ctx.cli}), %{name: :box, received: 1})
         :ok
       end},
      {"cli_inbox_stop",
       fn ctx ->
         eq!(GenServer.stop({:box, ctx.cli}), :ok)
         # That inbox is gone; the node runs on.
         eq!(:net_adm.ping(ctx.cli), :pong)

         try do
           {:returned, GenServer.call({:box, ctx.cli}, :again, ms(5_000))}
         catch
           :exit, {{:nodedown, _}, _} -> {:nodedown}
           :exit, {:noproc, _} -> :ok
           k, r -> {k, r}
         end
       end},

      # Node.monitor: GO2 stops.
      {"node_monitor",
       fn ctx ->
         eq!(Node.monitor(ctx.go2, true), true)
         eq!(ctl(ctx, :stop_go2), :ok)
         eq!(recv!(:nodedown), {:nodedown, ctx.go2})
         :ok
       end},

      # A name registered on both sides of a partition: global resolves
      # the conflict when the partition heals, and both sides agree.
      {"global_conflict",
       fn ctx ->
         eq!(ctl(ctx, {:arm_conflict, :conflicted}), :ok)
         eq!(Node.disconnect(ctx.go1), true)
         eq!(IO.gets(""), "conflict_ready\n")
         e = idle()
         eq!(:global.register_name(:conflicted, e), :yes)
         eq!(Node.connect(ctx.go1), true)
         eq!(:global.sync(), :ok)
         winner = :global.whereis_name(:conflicted)
         check!(is_pid(winner), {:no_winner, winner})
         wait_until!(:go_agrees, fn -> ctl(ctx, {:global_whereis, :conflicted}) == winner end)

         if winner == e do
           wait_until!(:go_loser_dead, fn -> ctl(ctx, :conflict_loser_alive) == false end)
         else
           eq!(node(winner), ctx.go1)
           wait_until!(:elixir_loser_dead, fn -> not Process.alive?(e) end)
         end

         :ok
       end},

      # Large terms into a Go echo and back.
      {"iolist_2000_chunks",
       fn ctx ->
         chunk = :binary.copy("x", 64)
         iolist = Enum.reduce(1..2000, [], fn _, acc -> [acc, chunk] end)
         got = GenServer.call({:echo, ctx.go1}, {:echo, iolist}, ms(60_000))
         check!(got == iolist, {:differs, IO.iodata_length(got)})
         :ok
       end},
      {"bools_1_1m",
       fn ctx ->
         bools = for i <- 1..1_100_000, do: rem(i, 3) == 0
         got = GenServer.call({:echo, ctx.go1}, {:echo, bools}, ms(60_000))
         check!(got == bools, {:differs, length(got)})
         :ok
       end}
    ]
  end

  def holder_loop(req) do
    receive do
      {:peek, from} ->
        send(from, {:peek, :gen_server.wait_response(req, 0)})
        holder_loop(req)

      {:wait, from} ->
        send(from, {:wait, :gen_server.wait_response(req, ms(20_000))})
    end
  end
end

Lane.main(System.argv())
