// Package hostile holds the hostile-peer suite: tests that attack a
// `distribute node` running as its own OS process, on loopback, while a
// real Erlang node calls it every 10 ms. It has no API; run it with
// `go test ./distributetest/hostile` (it needs erl and epmd, and fails
// without them under DISTRIBUTE_REQUIRE_ERL=1).
//
// Each TestHostile<Case> starts its own target: a private epmd, the
// `distribute` binary built from this module (`node --inbox box --http
// ...`, GOMEMLIMIT=48MiB so that the Go collector runs soon after an
// attack ends), and an `erl -name` peer with the same cookie whose
// process calls `box` (an echo) with gen_server:call every 10 ms. A case
// then attacks one of the ports the node opens and asserts that
//
//   - the node lives and refuses what it must (the connection it closes,
//     the handshake it refuses);
//   - every call of the Erlang peer during the attack succeeded within a
//     generous timeout (latencies are logged, not asserted);
//   - the node's goroutines and Go heap (read from its /metrics) and its
//     file descriptors (from /proc) return to within a stated bound of
//     the baseline taken before the attack. RSS lags for minutes after a
//     spike: it is logged, never asserted.
//
// docs/SECURITY.md lists the attacks, their bounds and what was measured.
package hostile
