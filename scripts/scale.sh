#!/usr/bin/env bash
# The full scale measurement of docs/SCALE.md: Go clusters and plain Erlang
# clusters of each size, one after the other, on this machine. Run it on a
# quiet machine: every other job on the same CPUs shows up in the figures.
#   scripts/scale.sh                          N = 10,25,50,100, 60 s idle (about 25-40 min)
#   NODES=10,25 IDLE=20s scripts/scale.sh     a shorter run
#   ERLANG_MAX=50 scripts/scale.sh            Erlang only up to N = 50
# Output: this run's table on stdout; in $OUT, merged with the results
# already there: results.json, results.csv, table.txt and the plots
# (scale.svg, scale-*.svg); each run's node output in $LOGS.
set -euo pipefail
cd "$(dirname "$0")/.."
NODES=${NODES:-10,25,50,100}
IDLE=${IDLE:-60s}
OUT=${OUT:-docs/scale}
LOGS=${LOGS:-scale-logs/$(date -u +%Y%m%dT%H%M%SZ)}
ERLANG_MAX=${ERLANG_MAX:-0}
BIN=$(mktemp -d)/distribute
trap 'rm -rf "$(dirname "$BIN")"' EXIT
go build -o "$BIN" ./cmd/distribute
erlang=()
if command -v erl >/dev/null; then
  erlang=(--erlang --erlang-max "$ERLANG_MAX")
else
  echo "erl is not installed: Go nodes only" >&2
fi
ulimit -n 65536 2>/dev/null || true
mkdir -p "$OUT"
"$BIN" bench cluster --nodes "$NODES" "${erlang[@]}" --idle "$IDLE" --out "$OUT" --logs "$LOGS"
