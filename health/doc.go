// Package health answers "is this node alive, is it ready, how is its
// cluster": liveness and readiness checks of a distribute node and its
// membership, cluster health from the membership table, a quorum test,
// and the /healthz and /readyz HTTP handlers (what `distribute node
// --http` serves, and what a Kubernetes liveness and readiness probe
// wants).
//
// # Using it
//
// Make one Checker per node; it starts no goroutine and is safe for
// concurrent use. Serve its handlers, or call Liveness, Readiness and
// Cluster directly:
//
//	c, err := cluster.Start(ctx, cluster.Config{Node: distribute.Config{Name: "app@host", Cookie: cookie}})
//	checks, err := health.Start(ctx, c.Node(), health.Config{
//		Membership: c.Membership(), // nil without membership
//		Expected:   3,              // the size health is judged against
//	})
//	mux.Handle("/healthz", checks.Healthz())
//	mux.Handle("/readyz", checks.Readyz())
//
// The main types: Checker (the checks), Config (its membership,
// the epmd to check, the expected size, a quorum hook, the timeout),
// Report (the outcome of a probe: OK, the node, each Check, and, for
// readiness, the ClusterHealth), ClusterHealth (member counts, the total
// judged against, a quorum flag and a ClusterState).
//
// # Liveness and readiness
//
// Liveness says the node should not be restarted: its node runs (the
// net_kernel service is registered) and its membership loop answers.
// Readiness says it may take traffic: live, listening, registered with
// epmd under its name at its listening port, joined to a cluster (when
// membership runs), and with a known quorum (when election runs: the
// Quorum hook). The checks, in report order:
//
//	node        net_kernel is registered (liveness)
//	membership  the membership loop refreshed its table within Timeout (liveness; with Membership)
//	listener    the node listens; Detail is the address
//	epmd        epmd at EpmdAddr maps the node's alive name to its listening port (unless EpmdAddr is "-")
//	joined      membership has joined a cluster, or no other member is expected; never while it
//	            still retries its seeds (with Membership)
//	quorum      the Quorum hook holds (when set)
//
// # Cluster health
//
// Cluster health is this node's view, from its membership table (or,
// without membership, from its distribution connections):
//
//	healthy   every known member is alive
//	degraded  some member is suspect or dead, or fewer are alive than expected
//	isolated  no other member is alive although others are known or expected
//
// Members that left on purpose do not count. The total judged against is
// Config.Expected, the size the cluster is configured to have (or the
// alive and suspect members, when more); a quorum is a strict majority
// of it alive (HasQuorum). Membership forgets dead members after its
// Profile.ReapTime; since the total comes from the configuration, a
// minority side of a long partition stays isolated or degraded without a
// quorum after the dead are forgotten. Without Expected the total is the
// members the table knows (alive, suspect or dead), so there the
// minority would look healthy once the dead are reaped: set Expected in
// production. Assess computes the same from plain counts:
// Assess(2, 0, 1, 0, 0) is degraded with a quorum (2 of 3),
// Assess(1, 0, 0, 0, 3) isolated without one, and so is
// Assess(1, 0, 2, 0, 3), the same node before its dead were reaped.
//
// # Worked example
//
// A client-only node (it does not listen) with the epmd check skipped
// answers /readyz with status 503 and this body (ExampleChecker_Readyz),
// one JSON object and a newline:
//
//	{"ok":false,"node":"readyz_example@localhost",
//	 "checks":[{"name":"node","ok":true},
//	           {"name":"listener","ok":false,"detail":"the node does not listen (client-only)"}],
//	 "cluster":{"state":"healthy","alive":1,"suspect":0,"dead":0,"left":0,"total":1,"quorum":true}}
//
// A passing probe is status 200 with "ok":true; a failing check carries a
// Detail saying why. Methods other than GET and HEAD get 405.
//
// # Errors and blocking
//
// New fails with an error wrapping ErrConfig (no Node, a negative
// Timeout or Expected). A check never returns
// an error: its failure is a Check with OK false and a Detail. Checks
// that wait (the membership refresh, the epmd lookup) are each bounded by
// Config.Timeout (default 2 s) and by the probe's ctx (the HTTP
// request's). The epmd check asks through Node.EpmdPort.
package health
