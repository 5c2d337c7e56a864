#!/usr/bin/env bash
# Runs the Erlang baseline (bench/erlang: two erl nodes) and our benchmarks
# in one run on this machine, then prints a summary of medians: ours beside
# Erlang's and the raw TCP floors (ping-pong and stream).
#   scripts/bench.sh                            all (long: see N_DIV)
#   REPS=3 COUNT=5 scripts/bench.sh
#   REPS=3 COUNT=3 N_DIV=20 scripts/bench.sh    quick: 1/20 of every count
# REPS: Erlang repetitions; COUNT: go test -count, and the rounds of the
# ping-pong (each measures Erlang's once, then ours); N_DIV divides the
# message, round-trip, call and process counts of both sides.
# Output: bench-results/<UTC>/erlang.txt, go.txt, summary.txt; the summary
# on stdout (scripts/bench-summary.sh prints it again from the files).
# Needs Erlang/OTP (erl, erlc, epmd) on PATH: without it this fails.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench-results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
export REPS=${REPS:-3}
COUNT=${COUNT:-5}
N_DIV=${N_DIV:-1}
# x N: a -benchtime of N/N_DIV iterations (at least 1)
x() { local n=$(($1 / N_DIV)); echo "$((n > 0 ? n : 1))x"; }
export TP_N=${TP_N:-$((1000000 / N_DIV))} PP_N=${PP_N:-$((100000 / N_DIV))}
export CALL_N=${CALL_N:-$((20000 / N_DIV))} PROC_N=${PROC_N:-$((100000 / N_DIV))}
export PG_N=${PG_N:-$((1000 / N_DIV + 1))} BCAST_N=${BCAST_N:-$((10000 / N_DIV))}

echo "== Erlang baseline (bench/erlang, REPS=$REPS)"
bench/erlang/run.sh throughput calls connect pg memory | tee "$OUT/erlang.txt"

# Ping-pong: COUNT rounds, each measuring Erlang's, the raw TCP floors (no
# protocol) of this machine and ours back to back, so that a comparison
# within a run is not also one between two minutes of a machine whose
# speed drifts.
echo "== Ping-pong, $COUNT rounds of Erlang, the floors and ours"
for _ in $(seq "$COUNT"); do
  REPS=1 bench/erlang/run.sh pingpong | tee -a "$OUT/erlang.txt"
  go test -run '^$' -count 1 -benchtime "$(x 100000)" -bench 'TCPPingPongFloor|PingPong$' . | tee -a "$OUT/go.txt"
done

echo "== Go (go test -bench, count=$COUNT)"
go test -run '^$' -count "$COUNT" -benchtime "$(x 2000000)" -bench 'Throughput(64|1K)$' . | tee -a "$OUT/go.txt"
# 256 KiB messages (fragmented): 4,000 of them, 1 GiB per count
go test -run '^$' -count "$COUNT" -benchtime "$(x 4000)" -bench 'Throughput256K$' . | tee -a "$OUT/go.txt"
# the raw TCP stream (no protocol) of this machine, the ceiling over it
go test -run '^$' -count "$COUNT" -benchtime "$(x 2000000)" -bench 'TCPStreamFloor' . | tee -a "$OUT/go.txt"
go test -run '^$' -count "$COUNT" -benchtime "$(x 100000)" -bench 'IdleProcess|IdleHandler' . | tee -a "$OUT/go.txt"
# the memory floor: a bare parked goroutine, in a process of its own (the
# runtime never frees g structs, so later runs in one process report less)
go test -run '^$' -count 1 -benchtime "$(x 100000)" -bench 'IdleGoroutineFloor' . | tee -a "$OUT/go.txt"
# the same message count as Erlang's throughput runs (N=1,000,000)
go test -run '^$' -count "$COUNT" -benchtime "$(x 1000000)" -bench 'GoToErlang|ErlangToGo' . | tee -a "$OUT/go.txt"
go test -run '^$' -count "$COUNT" -benchtime "$(x 20000)" -bench 'CallSequential' . | tee -a "$OUT/go.txt"
# what waiting costs: 1,000 processes blocked in calls nobody answers, 2 s
go test -run '^$' -count "$COUNT" -benchtime 200x -bench 'IdleBlockedCalls' . | tee -a "$OUT/go.txt"
# a million idle processes, once (about 3-4.5 GB for Spawn)
go test -run '^$' -count 1 -benchtime "$(x 1000000)" -bench 'IdleProcess$|IdleHandlerProcess' . | tee -a "$OUT/go.txt"
go test -run '^$' -count "$COUNT" -benchtime "$(x 200)" -bench 'Reconnect' . | tee -a "$OUT/go.txt"
for pkg in ./rpc ./groups; do
  if [ -d "$pkg" ]; then go test -run '^$' -count "$COUNT" -bench . "$pkg" | tee -a "$OUT/go.txt"; fi
done

echo
scripts/bench-summary.sh "$OUT/erlang.txt" "$OUT/go.txt" | tee "$OUT/summary.txt"
echo "results in $OUT"
