#!/usr/bin/env bash
# Runs the Erlang baseline (shared/bench/erlang) and our benchmarks in one
# run on this machine, so the numbers can be compared side by side.
#   scripts/bench.sh            all (several minutes)
#   REPS=3 COUNT=5 scripts/bench.sh
# Output: bench-results/<UTC>/erlang-*.txt and go.txt, and a summary on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
ERL_BENCH=${ERL_BENCH:-../shared/bench/erlang}
OUT=bench-results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
export REPS=${REPS:-3}
COUNT=${COUNT:-5}

echo "== Erlang baseline ($ERL_BENCH, REPS=$REPS)"
for t in throughput pingpong rpc connect memory; do
  EPMD_PORT=4370 BENCH_OUT=$(mktemp -d) "$ERL_BENCH/run.sh" "$t" 2>&1 | tee "$OUT/erlang-$t.txt" | grep -Ei "median|msgs/s|µs|us|calls" || true
done

echo "== Go (go test -bench, count=$COUNT)"
go test -run '^$' -count "$COUNT" -benchtime 2000000x -bench 'Throughput' . | tee "$OUT/go.txt"
# PingPong beside the raw TCP floor (no protocol) of this machine
go test -run '^$' -count "$COUNT" -benchtime 100000x -bench 'PingPong|IdleProcess|IdleHandler' . | tee -a "$OUT/go.txt"
# the memory floor: a bare parked goroutine, in a process of its own (the
# runtime never frees g structs, so later runs in one process report less)
go test -run '^$' -count 1 -benchtime 100000x -bench 'IdleGoroutineFloor' . | tee -a "$OUT/go.txt"
# the same message count as Erlang's throughput runs (N=1,000,000)
go test -run '^$' -count "$COUNT" -benchtime 1000000x -bench 'GoToErlang|ErlangToGo' . | tee -a "$OUT/go.txt"
go test -run '^$' -count "$COUNT" -benchtime 20000x -bench 'CallSequential' . | tee -a "$OUT/go.txt"
# a million idle processes, once (about 3-4.5 GB for Spawn)
go test -run '^$' -count 1 -benchtime 1000000x -bench 'IdleProcess$|IdleHandlerProcess' . | tee -a "$OUT/go.txt"
go test -run '^$' -count "$COUNT" -benchtime 200x -bench 'Reconnect' . | tee -a "$OUT/go.txt"
for pkg in ./rpc ./groups; do
  if [ -d "$pkg" ]; then go test -run '^$' -count "$COUNT" -bench . "$pkg" | tee -a "$OUT/go.txt"; fi
done
echo "results in $OUT"
