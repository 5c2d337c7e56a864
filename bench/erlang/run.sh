#!/usr/bin/env bash
# Erlang/OTP's own distribution, measured between two erl nodes on this
# machine: the baseline beside the Go benchmarks (see README.md here).
#
#   bench/erlang/run.sh                       every test
#   bench/erlang/run.sh pingpong calls        some of them
#   REPS=3 PP_N=20000 bench/erlang/run.sh     fewer repetitions, round trips
#
# Tests: throughput pingpong calls connect pg memory. Each runs between a
# fresh pair of nodes, a@127.0.0.1 (measuring) and b@127.0.0.1 (idle peer),
# registered with an epmd of our own on a free loopback port. Everything
# started here is stopped by pid and the temporary directory removed on
# exit. Results go to stdout in `go test -bench` format, one line per
# repetition. Exits non-zero, with a message, when Erlang is missing or a
# test fails.
set -euo pipefail
for tool in erl erlc epmd; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "bench/erlang: '$tool' not found on PATH: install Erlang/OTP (25 or later) to measure the Erlang baseline" >&2
    exit 2
  fi
done
HERE=$(cd "$(dirname "$0")" && pwd)


TESTS=("$@")
if [ ${#TESTS[@]} -eq 0 ]; then TESTS=(throughput pingpong calls connect pg memory); fi
for t in "${TESTS[@]}"; do
  case $t in
    throughput | pingpong | calls | connect | pg | memory) ;;
    *) echo "bench/erlang: unknown test '$t' (throughput pingpong calls connect pg memory)" >&2; exit 2 ;;
  esac
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/erlbench.XXXXXX")
PIDS=() # everything started here, stopped in reverse order
stop_all() {
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill "${PIDS[$i]}" 2>/dev/null || true
    wait "${PIDS[$i]}" 2>/dev/null || true
  done
  PIDS=()
}
cleanup() {
  stop_all
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

erlc -Wall +warnings_as_errors -o "$WORK" "$HERE/erlbench.erl"

# epmd of our own, loopback only, on a free port: a port another epmd (or
# anything else) holds makes ours exit, and we try the next one.
export ERL_EPMD_ADDRESS=127.0.0.1
EPMD_PID=
for _ in $(seq 20); do
  port=$((20000 + RANDOM % 20000))
  epmd -address 127.0.0.1 -port "$port" >"$WORK/epmd.log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    if ERL_EPMD_PORT=$port epmd -names >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  sleep 0.2 # a second epmd on a taken port exits at once; ours stays
  if kill -0 "$pid" 2>/dev/null && ERL_EPMD_PORT=$port epmd -names >/dev/null 2>&1; then
    EPMD_PID=$pid
    export ERL_EPMD_PORT=$port
    break
  fi
  wait "$pid" 2>/dev/null || true
done
if [ -z "$EPMD_PID" ]; then
  echo "bench/erlang: could not start an epmd on a free loopback port" >&2
  cat "$WORK/epmd.log" >&2
  exit 1
fi
EPMD_KEEP=("$EPMD_PID")

COOKIE=erlbench_$RANDOM$RANDOM
ERL_ARGS=(-setcookie "$COOKIE" -noshell -noinput -start_epmd false
  -kernel inet_dist_use_interface '{127,0,0,1}' -kernel start_pg true -pa "$WORK")

# registered NAME: is NAME registered with our epmd?
registered() { epmd -names 2>/dev/null | grep -q "^name $1 at port"; }

for t in "${TESTS[@]}"; do
  PIDS=("${EPMD_KEEP[@]}")
  erl -name b@127.0.0.1 "${ERL_ARGS[@]}" >"$WORK/b-$t.log" 2>&1 &
  B_PID=$!
  PIDS+=("$B_PID")
  for _ in $(seq 150); do
    registered b && break
    if ! kill -0 "$B_PID" 2>/dev/null; then break; fi
    sleep 0.1
  done
  if ! registered b; then
    echo "bench/erlang: peer node b did not start" >&2
    cat "$WORK/b-$t.log" >&2
    exit 1
  fi
  sleep 1 # let b finish booting before it is measured
  status=0
  ERLBENCH_PEER_OSPID=$B_PID erl -name a@127.0.0.1 "${ERL_ARGS[@]}" \
    -eval 'erlbench:main()' -extra "$t" b@127.0.0.1 &
  A_PID=$!
  PIDS+=("$A_PID")
  wait "$A_PID" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "bench/erlang: test $t failed (exit $status); peer log:" >&2
    cat "$WORK/b-$t.log" >&2
    exit "$status"
  fi
  # stop b, keep epmd for the next test
  kill "$B_PID" 2>/dev/null || true
  wait "$B_PID" 2>/dev/null || true
  for _ in $(seq 50); do registered b || break; sleep 0.1; done
done
