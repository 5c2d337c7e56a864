// Package election is leader election for distribute nodes, on a real
// Raft library (hashicorp/raft, with a durable bolt store from
// raft-boltdb), the pairing Consul runs with memberlist. There is no
// home-made consensus here: this package decides only who takes part and
// how they find each other.
//
// # Guarantees
//
// Raft elects at most one leader per term, and a term never repeats: a
// node that leads term T was voted for by a majority of the voters of T,
// and each voter votes once per term (the vote is on disk before it is
// sent, so a restart does not vote twice). "One leader per term" is not
// "one leader at a time": an old leader cut off from the others may still
// believe it leads until its lease runs out, while the majority has
// elected a new one in a higher term. So the term is the fencing token: a
// leader attaches it to every write to a shared resource, and the resource
// remembers the highest token it has accepted and rejects lower ones (see
// the package example). IsLeader confirms leadership with a quorum and
// returns the term to use.
//
// # Addressing
//
// Every server's Raft ID and address are its distribution node name. The
// transport resolves a name to "ip:port" through the Raft field of the
// member's meta in the membership package (it keeps the last address seen,
// so a suspect or dead member stays reachable when it comes back). The
// Raft port is persisted in DataDir (file raft-port), so a restarted node
// listens where it did before; and since the configuration holds names,
// not addresses, a member that comes back on another port needs no
// configuration change.
//
// # Bootstrap (DESIGN decision 9)
//
// Bootstrap is where two-leader bugs hide. A node bootstraps only when all
// of these hold:
//   - it has no Raft state (raft.HasExistingState is false, it has not
//     voted, received entries, or bootstrapped since);
//   - at least Expect alive members run an election (their meta carries a
//     Raft address), and this node is among the first Expect of them
//     sorted by name;
//   - that set has stayed the same for Timing.Settle, so nodes joining at
//     the same moment converge on one set;
//   - every other alive election member answers that it has no Raft state
//     (each election registers StatusName, a process answering the
//     gen_server call raft_status with {raft_status, HasState, Term}); a
//     member that does not answer postpones the bootstrap.
//
// Then it bootstraps with those Expect voters; every node of the set does
// the same with the same configuration, which Raft accepts. A node with a
// wiped data dir finds peers with state and waits: the leader takes it
// back (as the same server, by name). The residual risk is a membership
// view that changes across nodes during the settle window (a member with a
// smaller name appearing then): keep Expect's first members up at start.
//
// # Voters
//
// Only the leader changes the configuration: it adds every alive election
// member that is not in it as a voter, and removes a server only after it
// has been dead or left (in membership) for RemoveGrace — 72 h by default,
// far longer than SWIM's detection bound — and never below Expect voters.
// A graceful Stop hands leadership to another voter first (DESIGN decision
// 13) but keeps its seat: it is expected back.
//
// # Transport
//
// Raft runs on its own TCP port (raft.NetworkTransport over this
// package's stream layer), over TLS when Config.TLS is set (the cluster
// package passes the node's TLS config), with connects bounded by
// Timing.ConnectTimeout and each RPC by Timing.IOTimeout.
//
// # Timings
//
// LAN() is Raft's defaults (1 s heartbeat and election timeouts); Local()
// is for one machine (400 ms, a 200 ms lease). A follower that hears
// nothing from the leader for HeartbeatTimeout (randomized up to twice
// that) starts an election, so failover after a crash takes about one to
// two HeartbeatTimeouts plus an election round.
//
// # Observing
//
// Leader and Status read Raft's view now; Observe streams every (leader,
// term) change this node sees, including the moment it becomes leader
// itself (recorded in Raft's goroutine as it happens, so a short
// leadership is not missed). The CLI prints these as
// `event leader NODE TERM`.
package election
