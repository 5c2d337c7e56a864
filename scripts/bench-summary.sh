#!/usr/bin/env bash
# Summarizes benchmark output in `go test -bench` format (ours, and
# bench/erlang's BenchmarkErlang* lines) as tables of medians, ours beside
# Erlang's and the raw TCP floors.
#   scripts/bench-summary.sh bench-results/<UTC>/*.txt
# Each cell is the median over the result lines of that benchmark (of the
# lines with the largest N, when it ran at several sizes; N within 2x is
# one size); "-" when it did not run.
set -euo pipefail
if [ $# -eq 0 ]; then
  echo "usage: $0 FILE..." >&2
  exit 2
fi
LC_ALL=C awk '
# All lengths in bytes (LC_ALL=C): pad() allows for UTF-8.
function median(key,    n, i, j, t, a) {
  n = cnt[key]
  if (n == 0) return ""
  for (i = 1; i <= n; i++) a[i] = val[key, i]
  for (i = 2; i <= n; i++) {          # insertion sort; n is small
    t = a[i]
    for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
    a[j + 1] = t
  }
  if (n % 2) return a[(n + 1) / 2]
  return (a[n / 2] + a[n / 2 + 1]) / 2
}
# get(name, unit[, scale]): the median of metric unit of benchmark name
function get(name, unit, scale,    m) {
  m = median(name SUBSEP unit)
  if (m == "") return ""
  return scale ? m * scale : m
}
function num(v) {
  if (v == "") return "-"
  if (v >= 1e6) return sprintf("%.2f M", v / 1e6)
  if (v >= 1e4) return sprintf("%.1f k", v / 1e3)
  if (v >= 100) return sprintf("%.0f", v)
  if (v >= 10) return sprintf("%.1f", v)
  return sprintf("%.2f", v)
}
# pad(s, w): s padded with spaces to w characters (mawk counts bytes: the
# UTF-8 continuation bytes of µ, ×, → do not take a column)
function pad(s, w,    c, extra) {
  c = s
  extra = gsub(/[\200-\277]/, "", c)
  while (length(s) - extra < w) s = s " "
  return s
}
function rpad(s, w,    c, extra) {
  c = s
  extra = gsub(/[\200-\277]/, "", c)
  while (length(s) - extra < w) s = " " s
  return s
}
function ratio(a, b) {
  if (a == "" || b == "" || b == 0) return "-"
  return sprintf("%.2f×", a / b)
}
function pp(label, name,    n, slow) {
  n = cnt[name SUBSEP "p50-µs"] + 0
  slow = get(name, "%>2×p50")
  printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", pad(label, 34),
    rpad(num(get(name, "p50-µs")), 8), rpad(num(get(name, "p99-µs")), 8),
    rpad(num(get(name, "p99.9-µs")), 8), rpad(slow == "" ? "-" : sprintf("%.1f%%", slow), 8),
    rpad(num(get(name, "cpu-µs/rt")), 8), rpad(num(get(name, "faults/krt")), 8), rpad(n, 2)
}
# row(label, ours, erlang): ours against Erlang, ratio ours/Erlang
function row(label, a, b) {
  printf "| %s | %s | %s | %s |\n", pad(label, 46), rpad(num(a), 10), rpad(num(b), 10), rpad(ratio(a, b), 7)
}
# only(label, v): an Erlang-only measure
function only(label, v) {
  printf "| %s | %s |\n", pad(label, 46), rpad(num(v), 10)
}
/^Benchmark/ && NF >= 4 {
  name = $1
  sub(/^Benchmark/, "", name)
  sub(/-[0-9]+$/, "", name)           # GOMAXPROCS suffix
  n = $2 + 0
  # A size is N within 2x: go test sizes each -count run of a benchmark
  # without -benchtime Nx on its own, a little differently every time.
  if (2 * n < maxn[name]) next
  if (n > 2 * maxn[name]) {           # a larger size: forget the smaller ones
    for (k in cnt) { split(k, parts, SUBSEP); if (parts[1] == name) delete cnt[k] }
  }
  if (n > maxn[name]) maxn[name] = n
  for (i = 3; i + 1 <= NF; i += 2) {
    key = name SUBSEP $(i + 1)
    val[key, ++cnt[key]] = $i + 0
  }
}
END {
  print "Ping-pong, 64 B round trips, µs (medians over runs; n = runs; cpu: the CPU"
  print "time both ends used, per round trip; faults: the page faults both ends"
  print "took, per 1,000 round trips, after a warm-up that ends when they stop)"
  print ""
  printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", pad("", 34), rpad("p50", 8), rpad("p99", 8), rpad("p99.9", 8), rpad(">2×p50", 8), rpad("cpu", 8), rpad("faults", 8), " n"
  print "|------------------------------------|----------|----------|----------|----------|----------|----------|----|"
  pp("ours, Go↔Go", "PingPong")
  pp("Erlang↔Erlang (bench/erlang)", "ErlangPingPong")
  pp("floor: raw TCP, netpoll", "TCPPingPongFloor/netpoll")
  pp("floor: raw TCP, spin", "TCPPingPongFloor/spin")
  pp("floor: raw TCP, spin + hand-off", "TCPPingPongFloor/handoff")
  print ""
  print "Ours against Erlang↔Erlang (medians; ratio = ours / Erlang)"
  print ""
  printf "| %s | %s | %s | %s |\n", pad("", 46), rpad("ours", 10), rpad("Erlang", 10), rpad("ratio", 7)
  print "|------------------------------------------------|------------|------------|---------|"
  row("one-way 64 B, msgs/s, Go→Go", get("Throughput64", "msgs/s"), get("ErlangThroughput64", "msgs/s"))
  row("one-way 1 KiB, msgs/s, Go→Go", get("Throughput1K", "msgs/s"), get("ErlangThroughput1K", "msgs/s"))
  row("  floor: raw TCP stream, 64 B writes, msgs/s", get("TCPStreamFloor/64", "msgs/s"), "")
  row("  floor: raw TCP stream, 1 KiB writes, msgs/s", get("TCPStreamFloor/1024", "msgs/s"), "")
  row("one-way 64 B, msgs/s, Go→Erlang", get("GoToErlang64", "msgs/s"), get("ErlangThroughput64", "msgs/s"))
  row("one-way 64 B, msgs/s, Erlang→Go", get("ErlangToGo64", "msgs/s"), get("ErlangThroughput64", "msgs/s"))
  row("sequential gen_server calls/s", get("CallSequential", "calls/s"), get("ErlangCallGenServer", "calls/s"))
  row("sequential RPC calls/s (erpc protocol)", get("CallGoToGoProcesses", "calls/s"), get("ErlangCallErpc", "calls/s"))
  row("sequential RPC calls/s, Go→Erlang", get("CallGoToErlang", "calls/s"), get("ErlangCallErpc", "calls/s"))
  row("sequential erpc calls/s, Erlang→Go", get("ErlangCallsGo", "calls/s"), get("ErlangCallErpc", "calls/s"))
  row("1,000 calls waiting, CPU % of a core (2 nodes)", get("IdleBlockedCalls", "cpu-%"), get("ErlangIdleBlockedCalls", "cpu-%"))
  row("reconnect (ping after disconnect), µs", get("Reconnect", "ns/op", 1e-3), get("ErlangReconnect", "ns/op", 1e-3))
  row("idle process, B (Spawn)", get("IdleProcess", "B/process"), get("ErlangIdleProcess", "B/process"))
  row("idle process, B (SpawnHandler)", get("IdleHandlerProcess", "B/process"), get("ErlangIdleProcess", "B/process"))
  row("  floor: a bare parked goroutine, B", get("IdleGoroutineFloor", "B/process"), "")
  row("pg join visible on the peer, µs", get("JoinVisibility", "µs/join-visible"), get("ErlangJoinVisibility", "µs/join-visible"))
  row("pg broadcast to 100 members, deliveries/s", get("Broadcast100", "deliveries/s"), get("ErlangBroadcast100", "deliveries/s"))
  print ""
  print "floor: the machine and Go runtime without any protocol (no Erlang counterpart)."
  print ""
  print "Erlang only (bench/erlang)"
  print ""
  printf "| %s | %s |\n", pad("", 46), rpad("Erlang", 10)
  print "|------------------------------------------------|------------|"
  only("rpc:call calls/s", get("ErlangCallRpc", "calls/s"))
  only("epmd port lookup, µs", get("ErlangEpmdLookup", "ns/op", 1e-3))
  only("net_kernel:connect_node after disconnect, µs", get("ErlangConnectNode", "ns/op", 1e-3))
  only("first ping to a freshly started node, µs", get("ErlangFreshNode", "ns/op", 1e-3))
  only("idle process, RSS growth, B", get("ErlangIdleProcess", "rss-B/process"))
  only("peer node RSS, distributed, unconnected, KiB", get("ErlangNodeMemory", "rss-KiB"))
  only("peer node RSS, idle with one connection, KiB", get("ErlangNodeMemory", "connected-rss-KiB"))
}' "$@"
