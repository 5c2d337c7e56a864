// Package election is leader election for distribute nodes, on a real
// Raft library (hashicorp/raft, with a durable bolt store from
// raft-boltdb), the pairing Consul runs with memberlist. There is no
// home-made consensus here: this package decides only who takes part,
// how their Raft messages travel, and how they find each other.
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
// The token never goes backwards: a node's term only grows (Raft's
// heartbeat fast path, which set it outside Raft's main loop, is never
// used: see Transport), Leader and Watch never report a term lower than
// one they reported, and a Raft message whose term is more than 2^32
// above this node's is refused (a forged Term = MaxUint64 would wrap the
// term to 0 at the next election).
//
// # Transport
//
// Raft's RPCs travel over the distribution, as messages between Raft
// processes: each election registers one as RaftName (distribute_raft).
// Servers are addressed by node name (a server's Raft ID and address are
// both its name), so the election opens no port of its own, the cookie
// (or the certificate under TLS) protects Raft as it protects everything
// else, and a restarted node rejoins under its name. The transport never
// sets up a connection: membership decides which nodes are connected, and
// Raft does not undo a disconnect (overlapping-partition prevention
// included). It monitors each peer's Raft process, so an RPC to a node
// whose election is down fails at once.
//
// A process cannot tell which connection a message came over, and the
// pid a request names for its answer is the sender's word. So a node
// proves its name with a token: the receiver's HMAC-SHA256 of the name
// (16 bytes), sent only to a pid on that node, in answer to a hello, over
// that node's own connection. A request carries the token issued to the
// node its answer goes to; the request is refused when the token is not
// that one, when the Raft header's server id or address (or the
// deprecated leader and candidate fields) is not that node, when its term
// is absurd (above), when it comes from another Raft cluster (Cluster
// identity), or, for TimeoutNow, when the sender is not the leader this
// node knows. A refused message is counted in
// distribute.election.rpc_refused{reason} and logged at warning (at most
// once a second per reason); where the answer goes back to the sender it
// says the reason.
//
// Pre-vote stays on (the transport implements raft.WithPreVote; without
// it hashicorp/raft turns pre-vote off): a node cut off from the majority
// asks for pre-votes, gets none, and keeps its term, so it does not
// disrupt the majority when it comes back. The heartbeat handler Raft
// registers (SetHeartbeatHandler) is accepted and never called: every
// heartbeat goes through Raft's main loop. hashicorp/raft 1.7.3's fast
// path updates the term and the leader on the transport's goroutine, and
// readers saw a node's term go back and a new term paired with the old
// leader (hashicorp/raft#695). Pipelined replication is not offered
// (Raft sends AppendEntries one at a time; the log holds a few entries).
//
// # Wire
//
// Every message is an Erlang term (so a BEAM node can trace it), its
// first element an atom naming it; ID is a request number below 2^63,
// Payload a binary holding the msgpack encoding of the hashicorp/raft
// struct (as raft's own network transport encodes it, so every field
// travels), Cluster the sender's cluster identity (<<>> while unknown):
//
//	{'$raft_hello', ReplyTo, Nonce}          to RaftName: asks for a token
//	{'$raft_token', Nonce, Token}            to ReplyTo: the token (16 bytes)
//	{'$raft_rpc', Kind, ID, ReplyTo, Token, Cluster, Payload}
//	                                         to RaftName: a request; Kind is
//	                                         append_entries, request_vote,
//	                                         request_pre_vote, timeout_now or
//	                                         install_snapshot
//	{'$raft_chunk', ID, Seq, Data}           to RaftName: InstallSnapshot's
//	                                         data, after its request, Seq from
//	                                         0, at most 64 KiB each (64 MiB in all)
//	{'$raft_reply', ID, Cluster, {ok, Payload}}
//	{'$raft_reply', ID, Cluster, {error, Reason, Text}}
//	                                         to ReplyTo: the answer
//
// Reasons are the refusals above (bad_token, sender, absurd_term,
// foreign_cluster, not_leader) and raft_error. Example: b@h (creation 1)
// asks for a token with the nonce DE AD, from its pid <0.81.0>:
//
//	83 68 03                        version, SMALL_TUPLE_EXT of 3
//	77 0b 24 72 61 66 74 5f 68 65   SMALL_ATOM_UTF8_EXT '$raft_hello'
//	6c 6c 6f
//	58 77 03 62 40 68               NEW_PID_EXT, node 'b@h'
//	00 00 00 51 00 00 00 00         id 81, serial 0
//	00 00 00 01                     creation 1
//	6d 00 00 00 02 de ad            BINARY_EXT <<222,173>>
//
// and the answer goes to that pid, which lives on b@h:
//
//	{'$raft_token', <<222,173>>, <<16 bytes>>}
//
// # Cluster identity
//
// The first leader of a Raft cluster commits a random identity (32 hex
// digits) to the log; the state machine keeps the first one committed,
// persists it in DataDir (cluster-id), and Cluster returns it. Each node
// puts it in its membership meta (with the flag that says it runs the
// election) and in every Raft message. Two groups of election nodes
// started apart (no seed answered, a partition at first start) can each
// bootstrap a cluster; when they meet, every node sees members of another
// identity: it logs an error, Conflict returns a *ConflictError,
// IsLeader fails with ErrNotLeader and ErrConflict, the leaders do not
// add each other's members, and each side refuses the other's Raft
// messages. The CLI's /readyz fails meanwhile. To resolve it, stop the
// nodes of the smaller side, delete their data dirs, and start them
// again: they have no Raft state, never bootstrap while a peer has some,
// and the other side's leader takes them in.
//
// # Bootstrap (DESIGN decision 9)
//
// Bootstrap is where two-leader bugs hide. A node bootstraps only when all
// of these hold:
//   - it has no Raft state (raft.HasExistingState is false, it has not
//     voted, received entries, or bootstrapped since);
//   - at least Expect alive members run an election (the Election flag of
//     their membership meta), and this node is among the first Expect of
//     them sorted by name;
//   - that set has stayed the same for Timing.Settle, so nodes joining at
//     the same moment converge on one set;
//   - every other alive election member answers that it has no Raft state
//     (each election registers StatusName, a process answering the
//     gen_server call raft_status with {raft_status, HasState, Term,
//     Cluster, LogCluster, LastIndex}); a member that does not answer
//     postpones the bootstrap.
//
// Then it bootstraps with those Expect voters; every node of the set does
// the same with the same configuration, which Raft accepts. A node with a
// wiped data dir finds peers with state and waits: the leader takes it
// back (as the same server, by name). The residual risk is a membership
// view that changes across nodes during the settle window (a member with a
// smaller name appearing then): keep Expect's first members up at start.
// Groups that cannot see each other at all bootstrap apart: see Cluster
// identity.
//
// # Voters
//
// Only the leader changes the configuration, and only once the cluster
// identity is committed. It keeps Expect voters: an alive election member
// that is not in the configuration is added as a voter while there are
// fewer than Expect, as a non-voter otherwise (non-voters follow the log
// and do not vote, so elections and commits cost the same however many
// nodes run the election). A member of another Raft cluster is never
// added, nor one with Raft state but no identity yet unless that state is
// this cluster's: its log holds this cluster's identity (a leader began to
// replicate to it and lost leadership before its addition committed), or
// it has no log, only a term no later than the leader's. A server is removed
// only after it has been dead or left (in membership) for RemoveGrace —
// 72 h by default, far longer than SWIM's detection bound; a voter is
// then replaced by an alive non-voter (promoted first), and kept when
// there is none, so the configuration never falls below Expect voters.
// Voters beyond Expect (a cluster bootstrapped with a larger Expect, or
// by a version without the cap) are demoted, gone ones first, never the
// leader. A graceful Stop hands leadership to an alive voter first
// (DESIGN decision 13) but keeps its seat: it is expected back.
//
// # Data dir
//
// DataDir holds raft.db (the bolt log and stable store), the snapshots
// and cluster-id. A data dir of the version whose Raft had a TCP port
// also holds raft-port: it is ignored, and the rest is read as before
// (the servers were addressed by node name then too); the first leader
// after the upgrade commits a cluster identity. The two versions cannot
// run Raft together: stop every election node, upgrade, start them.
//
// # Timings
//
// LAN() is Raft's defaults (1 s heartbeat and election timeouts); Local()
// is for one machine (400 ms, a 200 ms lease). With LAN, CommitTimeout is
// half the HeartbeatTimeout (Raft's default is 50 ms): an idle leader
// sends each follower a heartbeat every HeartbeatTimeout/10 (randomized
// up to twice that) and its commit index every CommitTimeout (the same),
// about 8 AppendEntries a second, where 50 ms made it 20; a follower
// applies a committed entry within about two CommitTimeouts. A follower that hears
// nothing from the leader for HeartbeatTimeout (randomized up to twice
// that) starts an election, so failover after a crash takes about one to
// two HeartbeatTimeouts plus an election round. Heartbeats share the
// distribution connection with user messages; a large message goes out
// in 64 KiB fragments, and other messages go out between them, so a
// heartbeat waits for at most the connection's send buffer (1 MiB by
// default) to drain, not for the whole message.
//
// # Observing
//
// Leader and Status read Raft's view now; Watch streams every (leader,
// term) change this node sees, including the moment it becomes leader
// itself (recorded in Raft's goroutine as it happens, so a short
// leadership is not missed). The CLI prints these as
// `event leader NODE TERM`. Raft's routine messages (an election under
// way, a follower catching up, a start before bootstrap) log at Info;
// warnings are for what an operator may act on.
package election
