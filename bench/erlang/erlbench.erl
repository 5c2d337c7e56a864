%% erlbench: Erlang/OTP's own distribution between two nodes on this
%% machine, measured the way the Go benchmarks of this repository measure
%% ours, so that both can be read side by side.
%%
%% Started by run.sh as the measuring node:
%%   erl -name a@127.0.0.1 ... -eval 'erlbench:main()' -extra Test PeerNode
%% PeerNode is a plain idle node; whatever runs there (sink, echo,
%% gen_server, idle processes) is spawned on it from here with erpc, from
%% this module (run.sh puts the same code path on both nodes).
%%
%% Every result is printed as one line in the format of `go test -bench`
%% ("BenchmarkName  N  value unit  value unit ..."), one line per
%% repetition, so one parser (and benchstat) reads Go's and Erlang's.
-module(erlbench).

-export([main/0]).
%% run on the peer node, through erpc
-export([sink_start/0, echo_start/0, server_start/0, idle_spawn/1,
         pg_watch/2, pg_members/3]).
%% gen_server callbacks of the peer's call server
-export([init/1, handle_call/3, handle_cast/2]).

main() ->
    ok = io:setopts(standard_io, [{encoding, unicode}]),
    Status =
        try
            [Test, Peer] = init:get_plain_arguments(),
            io:format("# erlbench ~s: node ~s, peer ~s, OTP ~s (erts ~s), ~p schedulers~n",
                      [Test, node(), Peer, erlang:system_info(otp_release),
                       erlang:system_info(version), erlang:system_info(schedulers_online)]),
            run(Test, list_to_atom(Peer)),
            0
        catch
            Class:Reason:Stack ->
                io:format(standard_error, "erlbench: FAILED ~p:~p~n~p~n", [Class, Reason, Stack]),
                1
        end,
    erlang:halt(Status).

run("throughput", Peer) ->
    up(Peer),
    N = env("TP_N", 1000000),
    throughput(Peer, "64", 64, N),
    throughput(Peer, "1K", 1024, N);
run("pingpong", Peer) ->
    up(Peer),
    pingpong(Peer, env("PP_N", 100000));
run("calls", Peer) ->
    up(Peer),
    calls(Peer, env("CALL_N", 20000));
run("connect", Peer) ->
    connect(Peer, env("CONNECT_N", 5));
run("pg", Peer) ->
    up(Peer),
    pg_bench(Peer, env("PG_N", 1000), env("BCAST_N", 10000));
run("memory", Peer) ->
    memory(Peer, env("PROC_N", 100000));
run(Test, _) ->
    error({unknown_test, Test}).

env(Name, Default) ->
    case os:getenv(Name) of
        false -> Default;
        "" -> Default;
        V -> list_to_integer(V)
    end.

reps() -> env("REPS", 5).

up(Peer) ->
    case net_adm:ping(Peer) of
        pong -> ok;
        pang -> error({peer_unreachable, Peer})
    end.

now_ns() -> erlang:monotonic_time(nanosecond).

%% line(Name, N, [{Value, Unit}]): one result in `go test -bench` format.
line(Name, N, Metrics) ->
    Ms = [io_lib:format("\t~ts ~ts", [num(V), U]) || {V, U} <- Metrics],
    io:format("BenchmarkErlang~ts\t~10w~ts~n", [Name, N, Ms]).

num(V) when is_integer(V) -> integer_to_list(V);
num(V) when V >= 1000 -> integer_to_list(round(V));
num(V) -> float_to_list(float(V), [{decimals, 2}, compact]).

%%--------------------------------------------------------------------
%% one-way throughput: N binaries of Size bytes to a registered sink on
%% the peer; the clock stops when the sink has counted N and its answer
%% is back (as BenchmarkThroughput64/1K do between Go nodes).
%%--------------------------------------------------------------------
throughput(Peer, Tag, Size, N) ->
    Sink = erpc:call(Peer, ?MODULE, sink_start, []),
    Bin = binary:copy(<<$x>>, Size),
    _ = tp_once(Peer, Bin, min(N, 100000)),   % warm-up
    [begin
         {Secs, Wire} = tp_once(Peer, Bin, N),
         line(["Throughput", Tag], N,
              [{Secs * 1.0e9 / N, "ns/op"}, {N / Secs, "msgs/s"},
               {N * Size / Secs / 1.0e6, "MB/s"}, {Wire / N, "wire-B/msg"}])
     end || _ <- lists:seq(1, reps())],
    exit(Sink, kill),
    ok.

tp_once(Peer, Bin, N) ->
    Size = byte_size(Bin),
    Sock = dist_socket(Peer),
    {ok, [{send_oct, O0}]} = inet:getstat(Sock, [send_oct]),
    garbage_collect(),
    T0 = now_ns(),
    {erlbench_sink, Peer} ! {count, self(), N},
    send_n({erlbench_sink, Peer}, Bin, N),
    Want = N * Size,
    receive
        {done, Want} -> ok;
        {done, Other} -> error({sink_counted, Other, Want})
    after 600000 -> error(sink_timeout)
    end,
    T1 = now_ns(),
    {ok, [{send_oct, O1}]} = inet:getstat(Sock, [send_oct]),
    {(T1 - T0) / 1.0e9, O1 - O0}.

send_n(_, _, 0) -> ok;
send_n(To, Msg, K) -> To ! Msg, send_n(To, Msg, K - 1).

dist_socket(Peer) ->
    case lists:keyfind(Peer, 1, erlang:system_info(dist_ctrl)) of
        {Peer, Port} when is_port(Port) -> Port;
        Other -> error({no_dist_port, Peer, Other})
    end.

sink_start() ->
    Caller = self(),
    Pid = spawn(fun() ->
                        true = register(erlbench_sink, self()),
                        Caller ! {self(), registered},
                        sink_wait()
                end),
    receive {Pid, registered} -> Pid after 5000 -> error(sink_not_started) end.

sink_wait() ->
    receive
        {count, From, N} -> sink_count(From, N, 0)
    end.

sink_count(From, 0, Bytes) ->
    From ! {done, Bytes},
    sink_wait();
sink_count(From, N, Bytes) ->
    receive
        B when is_binary(B) -> sink_count(From, N - 1, Bytes + byte_size(B))
    end.

%%--------------------------------------------------------------------
%% ping-pong: {self(), 64-byte binary} to an echo process on the peer,
%% which sends the binary back; one round trip at a time, each timed, and
%% the CPU time both nodes used over the run, per round trip.
%% Percentiles are nearest rank over the sorted round trips, the same
%% definition as the Go benchmarks' reportLatency: p50 = lat[n/2],
%% p99 = lat[n*99/100], p99.9 = lat[n*999/1000] (0-based).
%%--------------------------------------------------------------------
pingpong(Peer, N) ->
    Echo = erpc:call(Peer, ?MODULE, echo_start, []),
    Payload = binary:copy(<<$p>>, 64),
    Pids = os_pids(Peer),
    Warm = warm_up(Pids, 5000, fun(K) -> pp_loop(Echo, Payload, K, []) end),
    [begin
         garbage_collect(),
         Cpu0 = cpu_ms(Peer),
         Faults0 = faults(Pids),
         T0 = now_ns(),
         Lat = pp_loop(Echo, Payload, N, []),
         Elapsed = now_ns() - T0,
         Cpu = cpu_ms(Peer) - Cpu0,
         Faults = faults(Pids) - Faults0,
         line("PingPong", N, [{Elapsed / N, "ns/op"}, {1000 * Cpu / N, "cpu-µs/rt"},
                              {1000 * Faults / N, "faults/krt"}, {Warm, "warm-ops"} | latency(Lat)])
     end || _ <- lists:seq(1, reps())],
    exit(Echo, kill),
    ok.

pp_loop(_, _, 0, Acc) -> Acc;
pp_loop(Echo, Payload, K, Acc) ->
    T0 = erlang:monotonic_time(),
    Echo ! {self(), Payload},
    receive Payload -> ok end,
    T1 = erlang:monotonic_time(),
    pp_loop(Echo, Payload, K - 1, [T1 - T0 | Acc]).

%% warm_up(OsPids, Round, Fun) -> the operations run: Fun(Round) runs Round
%% operations, again until 3 rounds in a row have each cost both nodes
%% fewer minor page faults together than one per 100 operations, or 40
%% rounds have run. The Go benchmarks' warmUp follows the same rule: a
%% runtime's heap grows in its first seconds of traffic, and each page it
%% touches for the first time is a page fault, which costs about 11 µs on
%% a VM with shadow paging.
warm_up(Pids, Round, F) -> warm_up(Pids, Round, F, 0, 0).

warm_up(_, Round, _, K, Quiet) when K >= 40; Quiet >= 3 ->
    K * Round;
warm_up(Pids, Round, F, K, Quiet) ->
    Faults0 = faults(Pids),
    _ = F(Round),
    case faults(Pids) - Faults0 < Round div 100 of
        true -> warm_up(Pids, Round, F, K + 1, Quiet + 1);
        false -> warm_up(Pids, Round, F, K + 1, 0)
    end.

%% os_pids(Peer) -> the OS process ids of this node and of Peer (both on
%% this machine).
os_pids(Peer) ->
    [os:getpid(), erpc:call(Peer, os, getpid, [])].

%% faults(OsPids) -> the minor page faults the processes have taken so far,
%% together (field 10 of /proc/PID/stat).
faults(Pids) ->
    lists:sum([begin
                   {ok, Stat} = file:read_file("/proc/" ++ Pid ++ "/stat"),
                   %% the command name (field 2) may hold spaces: count from its ')'
                   [_, Rest] = string:split(Stat, <<")">>, trailing),
                   binary_to_integer(lists:nth(8, string:lexemes(Rest, " ")))
               end || Pid <- Pids]).

%% cpu_ms(Peer) -> the CPU time, in ms, both nodes (this one and Peer) have
%% used: every thread of each runtime, busy-waiting schedulers included, so
%% that it compares with the Go benchmarks' cpu-µs/rt.
cpu_ms(Peer) ->
    {Here, _} = erlang:statistics(runtime),
    {There, _} = erpc:call(Peer, erlang, statistics, [runtime]),
    Here + There.

%% latency(NativeDurations) -> the percentile metrics, in µs.
latency(Native) ->
    S = list_to_tuple(lists:sort([erlang:convert_time_unit(D, native, nanosecond) || D <- Native])),
    N = tuple_size(S),
    At = fun(Num, Den) -> element(min(N, N * Num div Den + 1), S) / 1000 end,
    P50 = At(1, 2),
    Slow = length([D || D <- tuple_to_list(S), D / 1000 > 2 * P50]),
    [{P50, "p50-µs"}, {At(99, 100), "p99-µs"}, {At(999, 1000), "p99.9-µs"},
     {100 * Slow / N, "%>2×p50"}, {element(N, S) / 1000, "max-µs"}].

echo_start() ->
    spawn(fun echo/0).

echo() ->
    receive
        {From, Msg} -> From ! Msg, echo()
    end.

%%--------------------------------------------------------------------
%% sequential calls, one after another: gen_server:call to a gen_server
%% on the peer, erpc:call and rpc:call of erlang:node/0 there.
%%--------------------------------------------------------------------
calls(Peer, N) ->
    Server = erpc:call(Peer, ?MODULE, server_start, []),
    Pids = os_pids(Peer),
    Kinds = [{"CallGenServer", fun() -> pong = gen_server:call(Server, ping) end},
             {"CallErpc", fun() -> Peer = erpc:call(Peer, erlang, node, []) end},
             {"CallRpc", fun() -> Peer = rpc:call(Peer, erlang, node, []) end}],
    [begin
         _ = warm_up(Pids, 2000, fun(K) -> call_n(F, K) end),
         [begin
              T0 = now_ns(),
              call_n(F, N),
              Secs = (now_ns() - T0) / 1.0e9,
              line(Name, N, [{Secs * 1.0e9 / N, "ns/op"}, {N / Secs, "calls/s"}])
          end || _ <- lists:seq(1, reps())]
     end || {Name, F} <- Kinds],
    gen_server:stop(Server),
    idle_calls(Peer),
    ok.

%% idle_calls: 1,000 processes here wait in gen_server:call to a process
%% on the peer that never answers (it sleeps; the calls queue up there);
%% the CPU time both nodes use over 2 s of that, in percent of one core:
%% what waiting costs when nothing arrives (Go: BenchmarkIdleBlockedCalls).
idle_calls(Peer) ->
    Hole = erpc:call(Peer, erlang, spawn, [timer, sleep, [infinity]]),
    Callers = [spawn(fun() -> catch gen_server:call(Hole, wait, infinity) end)
               || _ <- lists:seq(1, 1000)],
    wait_queued(Peer, Hole, 1000),
    [begin
         Cpu0 = cpu_ms(Peer),
         T0 = now_ns(),
         timer:sleep(2000),
         Cpu = cpu_ms(Peer) - Cpu0,
         Ms = (now_ns() - T0) / 1.0e6,
         line("IdleBlockedCalls", 200, [{Ms * 1.0e6 / 200, "ns/op"}, {100 * Cpu / Ms, "cpu-%"}])
     end || _ <- lists:seq(1, reps())],
    [exit(C, kill) || C <- Callers],
    erpc:call(Peer, erlang, exit, [Hole, kill]),
    ok.

wait_queued(Peer, Pid, N) ->
    case erpc:call(Peer, erlang, process_info, [Pid, message_queue_len]) of
        {message_queue_len, Len} when Len >= N -> ok;
        _ -> timer:sleep(10), wait_queued(Peer, Pid, N)
    end.

call_n(_, 0) -> ok;
call_n(F, K) -> F(), call_n(F, K - 1).

server_start() ->
    {ok, Pid} = gen_server:start(?MODULE, [], []),
    Pid.

init([]) -> {ok, []}.
handle_call(ping, _From, S) -> {reply, pong, S}.
handle_cast(_, S) -> {noreply, S}.

%%--------------------------------------------------------------------
%% connection setup, K times per repetition:
%%   EpmdLookup: the peer's port from epmd alone;
%%   Reconnect: net_adm:ping after disconnect_node (epmd lookup, TCP
%%     connect, handshake and one is_auth call; BenchmarkReconnect);
%%   ConnectNode: net_kernel:connect_node after disconnect_node;
%%   FreshNode: the first net_adm:ping to a node started for it (once per
%%     repetition; includes that node's first-use code loading).
%%--------------------------------------------------------------------
connect(Peer, K) ->
    up(Peer),
    [_, Host] = string:split(atom_to_list(Peer), "@"),
    {ok, Addr} = inet:parse_address(Host),
    [PeerName, _] = string:split(atom_to_list(Peer), "@"),
    [begin
         Ts = [timed(fun() -> {port, _, _} = erl_epmd:port_please(PeerName, Addr) end)
               || _ <- lists:seq(1, K)],
         mean_line("EpmdLookup", Ts)
     end || _ <- lists:seq(1, reps())],
    [begin
         Ts = [begin
                   disconnect(Peer),
                   timed(fun() -> pong = net_adm:ping(Peer) end)
               end || _ <- lists:seq(1, K)],
         mean_line("Reconnect", Ts)
     end || _ <- lists:seq(1, reps())],
    [begin
         Ts = [begin
                   disconnect(Peer),
                   timed(fun() -> true = net_kernel:connect_node(Peer) end)
               end || _ <- lists:seq(1, K)],
         mean_line("ConnectNode", Ts)
     end || _ <- lists:seq(1, reps())],
    disconnect(Peer),
    [mean_line("FreshNode", [fresh_node(I, Host)]) || I <- lists:seq(1, reps())],
    ok.

timed(F) ->
    T0 = now_ns(),
    F(),
    now_ns() - T0.

mean_line(Name, Ns) ->
    line(Name, length(Ns), [{lists:sum(Ns) / length(Ns), "ns/op"}]).

%% disconnect(Node): drop the connection and make sure it stays down (the
%% peer's global may set it up again right after).
disconnect(Node) ->
    _ = erlang:disconnect_node(Node),
    timer:sleep(300),
    case lists:member(Node, nodes(connected)) of
        true -> disconnect(Node);
        false -> ok
    end.

%% fresh_node(I, Host): starts a node with erl, waits until it is
%% registered with epmd and has had a second to boot, times the first
%% net_adm:ping to it, then kills it by its OS pid.
fresh_node(I, Host) ->
    Name = "erlbench_fresh" ++ integer_to_list(I),
    Node = list_to_atom(Name ++ "@" ++ Host),
    Erl = case os:find_executable("erl") of
              false -> error(erl_not_found);
              E -> E
          end,
    Port = open_port({spawn_executable, Erl},
                     [{args, ["-name", atom_to_list(Node),
                              "-setcookie", atom_to_list(erlang:get_cookie()),
                              "-noshell", "-noinput", "-start_epmd", "false",
                              "-kernel", "inet_dist_use_interface", "{127,0,0,1}"]},
                      exit_status, stderr_to_stdout]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    try
        await_epmd(Name, Host, 100),
        timer:sleep(1000),
        timed(fun() -> pong = net_adm:ping(Node) end)
    after
        _ = os:cmd("kill " ++ integer_to_list(OsPid)),
        receive {Port, {exit_status, _}} -> ok
        after 10000 -> error({fresh_node_not_stopped, OsPid})
        end
    end.

await_epmd(Name, _Host, 0) -> error({not_registered_with_epmd, Name});
await_epmd(Name, Host, Tries) ->
    case erl_epmd:names(Host) of
        {ok, Names} ->
            case lists:keymember(Name, 1, Names) of
                true -> ok;
                false -> timer:sleep(50), await_epmd(Name, Host, Tries - 1)
            end;
        _ -> timer:sleep(50), await_epmd(Name, Host, Tries - 1)
    end.

%%--------------------------------------------------------------------
%% memory: the peer's RSS before and after this node connects, then N
%% idle processes (each blocked in receive) spawned on it, N more in each
%% repetition:
%%   B/process: erlang:memory(processes) grows by this per process (the
%%     figure next to BenchmarkIdleProcess's B/process);
%%   info-B/process: process_info(P, memory) of one of them;
%%   rss-B/process: the peer's RSS growth per process.
%%--------------------------------------------------------------------
memory(Peer, N) ->
    %% the peer's OS pid comes from the runner: asking the peer would
    %% connect to it before its unconnected RSS is read
    PeerPid = case os:getenv("ERLBENCH_PEER_OSPID") of
                  false -> error(no_peer_os_pid);
                  P -> P
              end,
    Unconnected = rss_kib(PeerPid),
    up(Peer),
    timer:sleep(2000),
    Connected = rss_kib(PeerPid),
    Total = erpc:call(Peer, erlang, memory, [total]) div 1024,
    line("NodeMemory", 1, [{Unconnected, "rss-KiB"}, {Connected, "connected-rss-KiB"},
                           {Total, "erlang-total-KiB"}, {rss_kib(os:getpid()), "caller-rss-KiB"}]),
    %% each repetition adds N more; all stay until the end, so no
    %% repetition reuses memory an earlier one freed
    Holders = [begin
                   {Holder, Before, Delta, One} = erpc:call(Peer, ?MODULE, idle_spawn, [N]),
                   After = rss_kib(PeerPid),
                   line("IdleProcess", N, [{Delta / N, "B/process"}, {One, "info-B/process"},
                                           {(After - Before) * 1024 / N, "rss-B/process"}]),
                   Holder
               end || _ <- lists:seq(1, reps())],
    [begin Holder ! stop, wait_down(Holder) end || Holder <- Holders],
    ok.

rss_kib(OsPid) ->
    {ok, Status} = file:read_file("/proc/" ++ OsPid ++ "/status"),
    [_, Rest] = binary:split(Status, <<"VmRSS:">>),
    [Kib | _] = string:lexemes(Rest, " \t\n"),
    binary_to_integer(Kib).

%% idle_spawn(N), on the peer: a holder process spawns N processes that
%% wait in receive; returns {Holder, RSS in KiB before, growth of
%% erlang:memory(processes), process_info memory of one}. The holder stops
%% them on stop.
idle_spawn(N) ->
    Caller = self(),
    Rss = rss_kib(os:getpid()),
    Holder = spawn(fun() ->
                           garbage_collect(),
                           M0 = erlang:memory(processes),
                           Ps = [spawn(fun idle/0) || _ <- lists:seq(1, N)],
                           M1 = erlang:memory(processes),
                           {memory, One} = process_info(hd(Ps), memory),
                           Caller ! {self(), M1 - M0, One},
                           receive stop -> [P ! stop || P <- Ps] end
                   end),
    receive {Holder, Delta, One} -> {Holder, Rss, Delta, One} end.

idle() ->
    receive stop -> ok end.

wait_down(Pid) ->
    Ref = monitor(process, Pid),
    receive {'DOWN', Ref, process, Pid, _} -> ok
    after 30000 -> error({not_stopped, Pid})
    end.

%%--------------------------------------------------------------------
%% pg (the default scope, on both nodes):
%%   JoinVisibility: the time from pg:join of a process on this node until
%%     a pg:monitor watcher on the peer is told of it (the timestamps of
%%     both nodes come from the same host clock); the process leaves and
%%     the leave is seen before the next join (BenchmarkJoinVisibility);
%%   Broadcast100: a 64-byte binary sent from this node to each of 100
%%     members, 34 here and 66 on the peer, K times; the clock stops when
%%     every member has counted K (BenchmarkBroadcast100).
%%--------------------------------------------------------------------
pg_bench(Peer, N, K) ->
    G = erlbench_join,
    Watcher = erpc:call(Peer, ?MODULE, pg_watch, [G, self()]),
    Member = self(),
    [begin
         Ns = [begin
                   T0 = os:system_time(nanosecond),
                   ok = pg:join(G, Member),
                   Seen = receive {Watcher, join, T} -> T after 10000 -> error(pg_join_not_seen) end,
                   ok = pg:leave(G, Member),
                   receive {Watcher, leave, _} -> ok after 10000 -> error(pg_leave_not_seen) end,
                   Seen - T0
               end || _ <- lists:seq(1, N)],
         Mean = lists:sum(Ns) / N,
         line("JoinVisibility", N, [{Mean, "ns/op"}, {Mean / 1000, "µs/join-visible"}])
     end || _ <- lists:seq(1, reps())],
    exit(Watcher, kill),
    B = erlbench_bcast,
    Here = pg_members(B, 34, self()),
    There = erpc:call(Peer, ?MODULE, pg_members, [B, 66, self()]),
    Holders = [Here, There],
    pg_await(B, 100, 1000),
    Bin = binary:copy(<<$b>>, 64),
    _ = bcast(B, Bin, 1000),   % warm-up
    [begin
         Secs = bcast(B, Bin, K),
         line("Broadcast100", K, [{Secs * 1.0e9 / K, "ns/op"}, {100 * K / Secs, "deliveries/s"}])
     end || _ <- lists:seq(1, reps())],
    [H ! stop || H <- Holders],
    ok.

%% pg_watch(G, To), on the peer: a process that monitors group G and tells
%% To of each join and leave, with the time it saw it.
pg_watch(G, To) ->
    Caller = self(),
    W = spawn(fun() ->
                      {Ref, _} = pg:monitor(G),
                      Caller ! {self(), watching},
                      pg_watch_loop(Ref, G, To)
              end),
    receive {W, watching} -> W after 5000 -> error(pg_watch_not_started) end.

pg_watch_loop(Ref, G, To) ->
    receive
        {Ref, Kind, G, _Pids} ->
            To ! {self(), Kind, os:system_time(nanosecond)},
            pg_watch_loop(Ref, G, To)
    end.

%% pg_members(G, Count, Coord): spawns Count members of G that count the
%% binaries of a broadcast ({bcast, K} first) and tell Coord when they have
%% K; returns a holder that stops them on stop.
pg_members(G, Count, Coord) ->
    Caller = self(),
    H = spawn(fun() ->
                      Ms = [spawn(fun() -> member(Coord) end) || _ <- lists:seq(1, Count)],
                      ok = pg:join(G, Ms),
                      Caller ! {self(), joined},
                      receive stop -> [exit(M, kill) || M <- Ms] end
              end),
    receive {H, joined} -> H after 5000 -> error(pg_members_not_started) end.

member(Coord) ->
    receive
        {bcast, K} -> member_count(Coord, K), member(Coord)
    end.

member_count(Coord, 0) -> Coord ! {counted, self()};
member_count(Coord, K) ->
    receive B when is_binary(B) -> member_count(Coord, K - 1) end.

pg_await(G, Want, 0) -> error({pg_members, length(pg:get_members(G)), Want});
pg_await(G, Want, Tries) ->
    case length(pg:get_members(G)) of
        Want -> ok;
        _ -> timer:sleep(10), pg_await(G, Want, Tries - 1)
    end.

bcast(G, Bin, K) ->
    Ms = pg:get_members(G),
    [M ! {bcast, K} || M <- Ms],
    T0 = now_ns(),
    bcast_n(G, Bin, K),
    [receive {counted, M} -> ok after 600000 -> error(bcast_timeout) end || M <- Ms],
    (now_ns() - T0) / 1.0e9.

bcast_n(_, _, 0) -> ok;
bcast_n(G, Bin, K) ->
    [M ! Bin || M <- pg:get_members(G)],
    bcast_n(G, Bin, K - 1).
