# A hidden Elixir node that registers a process as :pg (as a node running
# pg does) and connects to a visible Go node: the Go node's pg scope must
# send it nothing, as OTP's pg never talks to hidden nodes. Run by
# lane_test.go as
#
#   elixir --hidden --name exh@127.0.0.1 --cookie C hidden_pg.exs GO1
#
# It prints `SCENARIO name ok` or `SCENARIO name fail DETAIL`, then `DONE`.

defmodule HiddenLane do
  def main([go1]) do
    go1 = String.to_atom(go1)

    result =
      try do
        run(go1)
      catch
        kind, reason -> {kind, reason}
      end

    case result do
      :ok -> IO.puts("SCENARIO hidden_pg_receives_nothing ok")
      other -> IO.puts("SCENARIO hidden_pg_receives_nothing fail #{inspect(other)}")
    end

    IO.puts("DONE")
  end

  defp scale do
    case Float.parse(System.get_env("DISTRIBUTE_TEST_TIMEOUT_SCALE", "1")) do
      {f, _} when f > 0 -> f
      _ -> 1.0
    end
  end

  defp run(go1) do
    pg = spawn(fn -> receive do: (:stop -> :ok) end)
    true = Process.register(pg, :pg)
    true = Node.connect(go1)
    [] = Node.list()
    true = go1 in Node.list(:hidden)

    # Two discover round trips of our own with the Go scope (it answers a
    # discover from anyone, as pg does): whatever the scope sent on our
    # connection's nodeup travelled before its answers.
    for _ <- 1..2 do
      send({:pg, go1}, {:discover, self()})

      receive do
        {:"$gen_cast", {:sync, _scope, _groups}} -> :ok
      after
        round(10_000 * scale()) -> throw(:no_sync)
      end
    end

    case Process.info(pg, :messages) do
      {:messages, []} -> :ok
      {:messages, ms} -> {:pg_received, ms}
    end
  end
end

HiddenLane.main(System.argv())
