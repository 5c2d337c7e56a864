// Package scale measures what a cluster costs as it grows: it starts N
// nodes as separate OS processes on loopback, measures the cluster, and
// stops every process it started. It is the engine of `distribute bench
// cluster`, and its tests drive it too (a short run by default, the full
// one on demand). The same scenario runs with plain Erlang nodes, so each
// figure can be read as a ratio.
//
// # The cluster
//
// Go (Kind Go): N `distribute node` processes named gK@127.0.0.1, K from
// 1 to N zero-padded to one width (g01 ... g10), so that names sort in
// start order, each with
//
//	--inbox bK --group all --http 127.0.0.1:PORT --profile lan
//	--join G1                                 (all but the first, G1)
//	--election --expect 3 --data-dir DIR      (the first ElectionNodes, default all)
//
// so every node runs membership (joined to the first node), the pg scope
// (its inbox bK in group all), the global registry, RPC with the runtime
// control exports, and /metrics. Election: every node runs it with
// --expect 3 by default, so every node knows the leader; the first three
// (the first by name) bootstrap as voters, and the others join the Raft
// configuration as the election package's leader adds them (as voters
// or, once voters are capped at Expect, as non-voters). With
// ElectionNodes = 3 only the first three run an election and the others
// none.
//
// Erlang (Kind Erlang): N `erl -noshell -name eK@127.0.0.1` nodes (K as
// above) with the defaults (connect_all true, net_ticktime 60, global),
// the pg scope (-kernel start_pg true) and the module scale_node
// (ErlangModule, the file scale_node.erl beside this one), which starts
// an inbox bK in group all, prints `started`, `event nodeup` and `event
// nodedown` lines as a Go node does, connects to the first node (from
// which global's connect_all makes the full mesh) and answers the same
// runtime control functions.
//
// Both kinds register with one private epmd, served by the harness on a
// free loopback port; nothing touches the system's epmd on 4369. Each
// node is its own process group, started with Pdeathsig SIGKILL, so none
// outlives the harness; Run stops them all (SIGTERM, then SIGKILL after
// 20 s) before it returns, whatever happened. The harness talks to the
// nodes through a hidden client node (never in nodes(), never a nodeup)
// over RPC, and reads each node's stdout lines with the time it read
// them.
//
// # The phases and what they measure
//
//  1. start: the first node, until it prints `started`, then all the
//     others at once; started_s runs from the first exec until every
//     node has printed `started`.
//  2. converge: every node is polled (erlang:nodes/0, and for Go
//     distribute:members/0 and distribute:leader/0) until each sees N-1
//     visible nodes and N alive members, and every election node names
//     the same leader and term. converge_s is measured from the first
//     exec to the end of the first poll round in which all of that held
//     (so it can overstate by one round, about 100 ms plus the RPCs).
//  3. idle: the client disconnects from every node; after Settle, the
//     CPU time (utime + stime in /proc/PID/stat) of each node is read at
//     both ends of the Idle window, during which nothing is asked of the
//     nodes: idle_cpu_pct is the mean per node in % of one core,
//     idle_cpu_total_pct the whole cluster's. Then RSS (VmRSS) and
//     threads from /proc/PID/status, open descriptors from
//     /proc/PID/fd, and tasks: goroutines (go_goroutines from /metrics)
//     or Erlang processes (erlang:system_info(process_count)). The
//     /metrics endpoint brings the observer page's sampler with it (one
//     read of the connection table a second), a cost every node served
//     with --http pays.
//  4. global: Names registrations, each by node i mod N registering its
//     inbox (distribute:register_global/1, or scale_node's on Erlang);
//     global_register is the call's duration, global_visible the time
//     until global:whereis_name/1 finds the name on every node (each
//     node polled on its own every 20 ms; both kinds register
//     synchronously, under global's lock, so the first poll usually
//     finds it). At most N names exist at once: after each round of N
//     they are unregistered and seen gone everywhere.
//  5. pg: Joins joins of a fresh group {p, I} by node I mod N's inbox;
//     pg_visible is the time until groups() on every node lists the
//     member. The inbox then leaves and the group is seen empty
//     everywhere before the next join.
//  6. broadcast: the client sends {bcast, I} to every member of group all
//     (N inboxes, as the first node lists them), one send each;
//     broadcast is the time until every node has printed it.
//  7. kill: SIGKILL of the last node (not a voter when N > 3);
//     nodedown is the time until each other node prints `event nodedown
//     NODE`, dead (Go only: Erlang has no membership) until it prints
//     `event member NODE dead`; the median node and the last one are
//     reported.
//
// Distributions are reported as p50 and p99 (nearest rank) in
// milliseconds. Every metric key, its label and unit are in Metrics;
// Growth fits cost ≈ a·N^b over the measured sizes.
//
// # Outputs
//
// WriteTable prints a table per N (Go, Erlang, Go/Erlang) and, with three
// or more sizes, the fitted exponents. WriteResults keeps results.json
// (merged across runs: one result per kind and size), results.csv,
// table.txt and the plots: scale.svg (a panel per cost against N, Go and Erlang) and
// scale-KEY.svg per cost, drawn with the standard library.
//
// # Running it
//
//	distribute bench cluster --nodes 10,25,50,100 --erlang --out DIR
//	go test ./distributetest/scale -run TestCluster                     # N = 10, short
//	DISTRIBUTE_SCALE_FULL=1 DISTRIBUTE_SCALE_OUT=DIR go test ./distributetest/scale \
//	    -run TestCluster -timeout 2h                                    # N = 10..100, 60 s idle
//
// The measurements are as good as the machine is quiet: other work on the
// same CPUs shows up in every figure. They are measurements, never
// assertions: the tests check that each phase happened, not how fast.
package scale
