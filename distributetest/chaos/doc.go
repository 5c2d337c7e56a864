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
// Options.Alive names every node Alive@IP instead of nK@IP (as DNS A
// discovery names peers), Options.Host puts a host name in place of the
// IP (the test makes it resolve), Options.NoJoin starts the nodes without --join
// (they find each other by --discover in Options.Args), Options.Spare adds
// namespaces with no node on the same bridge (Spare gives one's name and
// IP, Command runs a process in a namespace: an Erlang node, an epmd).
// SetNameserver points every namespace's system resolver at an address,
// through /etc/netns/NS/resolv.conf, which `ip netns exec` bind-mounts over
// /etc/resolv.conf (the cleanup removes it); BridgeIP is the address a
// server in the root namespace, a test's DNS server, listens on.
//
// Faults: Kill (SIGKILL), Term (SIGTERM, graceful), Stop and Cont
// (SIGSTOP, SIGCONT), Restart (a crash, then a start with the same data
// dir), RestartWiped (a crash, the data dir deleted, a start), Wipe (of
// a node that is down), Partition(groups ...[]int) (the nodes in no group
// form one more group) and Heal. Exec runs a one-shot command (`ping`,
// `rpc`, ...) inside a node's namespace. Each node's stdout lines are kept
// (Mark, WaitLine, Expect), and MemberState gives the state its last
// `event member` line printed for another member.
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
// a violation the moment
//   - two different nodes claim the same term;
//   - a node's term goes back: per node and per source (its /election
//     reads; its `event leader` lines), a term lower than one the node gave
//     before, the lower read sent after the higher one was answered (reads
//     that overlap in time may come back in either order); a node whose
//     data dir is wiped starts over;
//   - a term is paired with two different leaders: by the stable reads and
//     the `event leader NODE TERM` lines (any NODE) of all nodes.
//
// The cleanup fails the test on any violation (CheckSafety fails it at
// once).
//
// Liveness: Settle finds the live nodes connected to each other; when they
// are a majority (Quorum = Nodes/2+1) it waits up to Options.Bound
// (default 15 s, scaled by DISTRIBUTE_TEST_TIMEOUT_SCALE) until each of
// them gives a stable read with the same term and leader, the leader is
// among them and it is the only one in state leader (WaitLeader). When
// no connected majority is up, no leader is expected. WaitNotLeader checks
// a cut-off leader steps down.
//
// # Use
//
//	func TestFailover(t *testing.T) {
//		c := chaos.New(t, chaos.Options{Nodes: 3, Election: true})
//		c.StartAll()
//		l, term, err := c.WaitLeader([]int{0, 1, 2}) // all agree on one leader
//		if err != nil {
//			t.Fatal(err)
//		}
//		c.Kill(l)                        // SIGKILL
//		c.Partition([]int{(l + 1) % 3})  // {the next node} {the rest}
//		if _, _, err := c.Settle(); err != nil { // no connected majority: no leader expected
//			t.Fatal(err)
//		}
//		c.Heal()
//		c.Start(l) // same data dir: term and vote kept
//		...
//		c.CheckSafety(t) // no term claimed by two nodes (the cleanup checks it too)
//	}
//
// The package's TestMain must call Main (the goroutine leak check, and the
// removal of the built command). DISTRIBUTE_CHAOS_BINARY names a prebuilt
// distribute command to use instead of building one.
//
// A test binary that dies without running its cleanups (SIGKILL, or go
// test's -timeout) leaves its namespaces and bridge behind (its nodes die
// with it): every network writes a marker under
// $TMPDIR/distribute-chaos-nets naming its owner (pid and command name),
// and the first New of a later test binary deletes the networks, and the
// built commands, of owners that are gone.
//
// # Tests here
//
// The harness's own tests run plain nodes: membership across namespaces,
// each fault's effect (dead members across a partition, ping failing
// across the blackhole and working within a side, suspect on SIGSTOP,
// alive after SIGCONT and after a restart), the recorder flagging two
// claims of one term, a term going back and a term with two leaders, and
// a cleanup that leaves no process, namespace or
// bridge behind.
//
// The election tests: three voters agree on a leader; SIGKILL of the
// leader elects another in a higher term; a leader partitioned into a
// minority steps down and keeps its term (pre-vote: watched for 3 s)
// while the majority elects in a higher term; after
// the heal there is one leader. SIGTERM to the leader exits 0 and hands
// leadership over (a new leader in a higher term). A voter restarted with its data dir reads
// its term at once (not 0, not lower); a full crash and restart elects in
// a higher term without bootstrapping anew; a wiped follower, a wiped
// leader, and a wiped majority (leader included) never claim and follow
// the node(s) with state.
//
// TestDiscoverByDNS: five nodes named app@IP, started together with no
// seed, find each other through a DNS server the test runs on the bridge
// (github.com/miekg/dns; the A records of one name, as a Kubernetes
// headless service gives them), asked by each namespace's system resolver
// (GODEBUG=netdns=go, so Go's resolver reads the namespace's resolv.conf),
// form one cluster and elect a leader; a sixth record is added and its
// node joins; an Erlang node in a spare namespace, with its own epmd, joins
// by DNS too (an -eval with inet_res:lookup/3 and net_kernel:connect_node/1)
// and sees every Go node; a record removed while its node runs cuts
// nothing (after two more polls by every node it is alive everywhere, and
// no nodedown was printed); the leader's record is removed and its node
// killed: the others see it dead and elect another in a higher term.
// TestDiscoverBySRV: three voters named app@hK.disco.test (host names, as
// a StatefulSet's pods have) find each other through SRV records whose
// targets are those names, elect; SIGTERM to the leader exits 0, the others
// see it left, never dead, and elect another in a higher term.
//
// TestRandomFaults runs five voters through a seeded random sequence of
// kills, SIGSTOP/SIGCONT pauses, partitions (sometimes leaving no
// majority) with heals, and restarts with the same data dir, the leader a
// favoured target, checking safety and liveness after every step. It is
// seeded by DISTRIBUTE_CHAOS_SEED (default: the time; the seed is logged
// and printed again on failure) and runs for DISTRIBUTE_CHAOS_DURATION
// (default 2m, 20s with -short). A 2-minute run makes about 150–200 steps
// and 90–110 terms.
//
// # Benchmarks
//
// Run only with -bench (go test -run '^$' -bench . -benchtime 1x). Nodes
// run with --profile local (election.Local(): heartbeat and election
// timeouts 400 ms).
// Measured on the 2-core development machine (load about 1), medians:
//
//	failover after SIGKILL of the leader, 3 voters (10 kills)   794 ms (572 ms .. 1.08 s)
//	  until the two survivors agree on it                      796 ms
//	first leader, 3 voters, from launching n1                  758 ms (632 ms .. 1.18 s)
//	  from the last node's "started"                           630 ms
//	first leader, 5 voters, from launching n1                  1.16 s (771 ms .. 1.23 s)
//	  from the last node's "started"                           1.02 s
//	graceful handoff: SIGTERM of the leader to the next claim  8.2 ms (4.2 .. 11 ms)
//	  to the old leader's exit                                 100 ms
//
// A claim's time is when the node's `event leader SELF TERM` line reached
// the harness.
package chaos
