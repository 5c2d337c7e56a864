// Package chaos is a fault-injection harness: it runs N `distribute node`
// processes, each in its own Linux network namespace, injects crashes,
// pauses, restarts and network partitions, and checks the leader
// election's safety and liveness from the outside.
//
// # Network
//
// New creates, per test, a bridge in the root namespace with the address
// 10.A.B.1/24 (A and B random, so parallel tests never collide; a subnet
// on a root-namespace interface is never chosen) and one namespace per
// node, joined to the bridge by a veth pair. Node i (0-based) is
// n(i+1)@10.A.B.(i+2): node 0 is n1@10.A.B.2. Interface names are short
// and derived from A and B (chbAABB, chvAABBi, chpAABBi); namespaces are
// chaos-AABB-i. Each namespace has lo up and its own port space, so every
// node hosts its own embedded epmd on 4369 (none runs there) and uses the
// same fixed ports: gossip 7946 and HTTP 8080. The test is hermetic.
//
// A partition blackholes, inside each namespace, the /32 of every node on
// another side (ip route add blackhole DST/32, both directions); Heal
// deletes those routes. The test process, in the root namespace, reaches
// every node through the bridge at all times, so it can read a node's
// state even when the node is cut off from the others.
//
// The cleanup registered by New kills every process by pid (SIGKILL, which
// also ends a stopped one), deletes the namespaces, the veth pairs and the
// bridge, even when the test fails, and then, if it failed, logs the
// harness's event log, the last observations and the tail of every node's
// stdout and stderr (kept in files under t.TempDir()). Nodes are started
// with Pdeathsig SIGKILL, so they die with a test binary that is killed.
//
// When namespaces are unavailable (not root, no ip command, or the kernel
// refuses) New skips the test with a clear message, unless
// DISTRIBUTE_REQUIRE_NETNS=1 (CI sets it): then it fails.
//
// # Nodes and faults
//
// A node runs as
//
//	ip netns exec NS distribute node --name NAME --cookie C --epmd-port 4369 \
//	    --profile local --gossip IP:7946 --http IP:8080 [--join SEED ...] \
//	    [--election --expect N --data-dir DIR]
//
// (ip netns exec execs, so the pid is the node's). The seeds are every
// live node on the same side of the partition; StartAll starts n1 alone
// and then the others together. Start waits for `started NAME`. The
// command is built once per test binary (Binary) from the module's
// ./cmd/distribute.
//
// Faults: Kill (SIGKILL), Term (SIGTERM, graceful), Stop and Cont
// (SIGSTOP, SIGCONT), Restart (a crash, then a start with the same data
// dir), RestartWiped (a crash, the data dir deleted, a start),
// Partition(groups ...[]int) (the nodes in no group form one more group)
// and Heal.
//
// # Observation and checks
//
// With Options.Election, a goroutine per node reads GET /election every
// PollInterval while the node is live. The JSON is the node's Status:
//
//	{"node":"n1@10.77.3.2","state":"leader","term":7,"leader":"n1@10.77.3.2","stable":true}
//
// The node makes a stable read (term, state and leader, term again;
// stable false when the term moved) and reads with stable false are
// recorded but never counted. Every stdout line `event leader NODE TERM`
// where NODE is the node itself is a leadership claim too. The Recorder
// keeps every observation (observations.log) and every claim, and reports
// a violation the moment two different nodes claim the same term; the
// cleanup fails the test on any violation (CheckSafety fails it at once).
//
// Liveness: Settle finds the live nodes connected to each other; when they
// are a majority (Quorum = Nodes/2+1) it waits up to Options.Bound
// (default 15 s, scaled by DISTRIBUTE_TEST_TIMEOUT_SCALE) until each of
// them gives a stable read with the same term and leader, the leader is
// among them and it is the only one in state leader (WaitLeader). When
// no connected majority is up, no leader is expected. WaitNotLeader checks
// a cut-off leader steps down.
//
// # Tests and benchmarks here
//
// The harness's own tests run plain nodes: membership across namespaces,
// each fault's effect (dead members across a partition, ping failing
// across the blackhole, suspect on SIGSTOP, alive after SIGCONT and after
// a restart) and a cleanup that leaves nothing behind. The election tests
// need `node --election`. TestRandomFaults is seeded by
// DISTRIBUTE_CHAOS_SEED (default: the time; the seed is logged and
// printed on failure) and runs for DISTRIBUTE_CHAOS_DURATION (default 2m,
// 20s with -short). The benchmarks (failover after SIGKILL of the leader,
// time to first leader with 3 and 5 voters) run only with -bench.
package chaos
