// Package membership is SWIM membership with failure detection for
// distribute nodes, built on hashicorp/memberlist (SWIM with the Lifeguard
// extensions) and wrapped so that memberlist's types, logger and
// encryption stay inside.
//
// A Membership gossips on its own port (UDP and TCP, one port number). It
// keeps a status table of every member it has seen, itself included:
// Alive, Suspect, Dead or Left, with the member's SWIM incarnation.
// Members, Alive, Member and Watch read it; Leader names the alive member
// with the largest name.
//
//	m, err := membership.Start(ctx, node, membership.Config{Cookie: cookie})
//	if err != nil { ... }
//	defer m.Stop(ctx) // leaves: the others see StateLeft, not StateDead
//	_, err = m.Join(ctx, "10.0.0.1:7946")
//	for ev := range m.Watch(ctx) {
//		fmt.Println(ev.Member.Name, ev.Prev, "->", ev.Member.State)
//	}
//
// The main types: Membership (a running member), Config, Profile (SWIM
// timings: LAN for networks, Local for loopback tests), Member (one row:
// Name, gossip address, Election and Cluster, State, Incarnation, Since,
// Self),
// Event (a row that changed, with its previous State), Stats (gossip
// traffic and the packets dropped because they did not authenticate), and
// Meta, the node meta carried in gossip (see below).
//
// # Membership drives distribution
//
// With Config.Node set, every member seen alive is connected to (a full
// mesh, like Erlang's connect_all), and reconnected every ConnectRetry
// while it stays alive; a member declared dead is disconnected, so links
// and monitors on its processes fire (reason noconnection) within the
// detection bound rather than after net_ticktime (45–75 s at Erlang's
// default of 60 s). SWIM owns failure detection. A false positive is
// therefore costly: with `global` preventing overlapping partitions (ours
// and BEAM's), one cut makes every node drop the member. So the cut waits
// Profile.DisconnectGrace (LAN 5 s, Local 1 s) after the death: a member
// that is alive after all (a loaded machine, lost packets) hears of its
// death in that time and refutes it with a new incarnation, and its
// connection stays; a member still dead in the same incarnation is then
// disconnected. Lifeguard stays on, and the Local profile is for loopback
// only. A crashed node's connections close with its sockets, without
// waiting for SWIM. A member that left is not disconnected by
// the others: it stops its own node, so its links close with reason
// shutdown.
//
// The disconnect happens once, a grace after the member is declared dead, and
// closes only the connection that belongs to the incarnation SWIM
// declared dead: the one up when the member turned alive (or took its
// current incarnation or address), else the first to come up after. A
// connection made later is left alone: a node restarted under the name
// before its old incarnation was declared dead, or a peer that dials
// again while its member stays dead. When the connection is not that one,
// the node on it is asked its gossip address (Config.Resolve; the cluster
// package asks distribute:info()): the dead member's address, an error or
// no answer within TCPTimeout, and it is closed all the same; another
// address, or an answer without one (ErrNoGossip: a node still starting),
// and it is a new process under the name, kept.
//
// # Partitions and restarts
//
// SWIM alone does not heal a partition that outlasts GossipToTheDeadTime:
// each side has declared the other dead and forgotten it. So every
// ReconnectInterval a member tries to rejoin one dead member at its last
// gossip address (for ReconnectTimeout after it died; never one that
// left), as Serf does; the sides merge within about that interval once
// the network heals.
//
// A node restarted under its name (a new distribution creation) comes
// back in one of two ways:
//
//   - On its old gossip address (a fixed GossipAddr port, or the port kept
//     in DataDir): memberlist takes it back at once. Its join's push/pull
//     tells it what the cluster holds about it; if that is a higher
//     incarnation, a suspicion or a death, it refutes, and the others
//     accept the refutation. Bound, from its start: its first join's
//     push/pull (at most TCPTimeout) plus the refutation's dissemination
//     ((RetransmitMult × ⌈log10(N+1)⌉ + 1) × GossipInterval) and a
//     StatusInterval: for fewer than 10 members, LAN 10 + 1 + 0.5 s,
//     Local 2 + 0.25 + 0.1 s.
//   - On a new address (a re-created pod, a new port): memberlist refuses
//     a name at a new address while the old one is alive or suspect, so
//     the old incarnation must first be declared dead (the detection bound
//     below, counted from the crash), and then have been dead for
//     DeadNodeReclaimTime (LAN 2 s, Local 1 s). A member that saw the
//     claim joins the new address itself at that moment (within a
//     StatusInterval), so the bound is the detection bound plus
//     DeadNodeReclaimTime plus a StatusInterval, then the join's round
//     trip: with LAN and three members 27.5 + 2 + 0.5 s. Meanwhile the
//     restarted node is already connected over the distribution (it joins
//     through it), and the old incarnation's death does not cut it.
//
// Measured with `distribute node` processes on loopback (2 loaded cores),
// LAN, three nodes, one killed with SIGKILL and restarted with the same
// flags (TestRestartUnderSameName in cmd/distribute): on its old address a
// member again everywhere 0.1–0.2 s after the restart (at once) and
// 0.2–0.4 s (restarted after the others had declared it dead, 5.2 s after
// the kill); on a new address 7.4–7.9 s (at once) and 2.3–2.5 s (after
// the death). In all four no healthy link was cut, the others saw the
// restarted node come up once, and no connection was closed to prevent
// overlapping partitions. (Before: 50–60 s on a new address, the healthy
// link between the two others cut 35–48 times meanwhile.)
//
// A member forgets a dead or left member ReapTime after its last change
// (LAN 24 h, Local 1 h; once memberlist itself has forgotten it): it
// leaves Members, no rejoin is tried, and if it comes back it is new. The
// table is then bounded by the churn of a ReapTime, not by every name
// that ever joined. The health package judges the cluster against its
// configured size, not against this table, so forgetting the dead does
// not make a minority side of a partition look whole.
//
// # Joining
//
// Join and JoinNode try once. Config.Seeds (the cluster package's Join,
// the CLI's --join) are tried at Start and, when none answers, retried in
// the background with a backoff from ProbeInterval doubling to 30 ×
// ProbeInterval (±20 %), until a join succeeds or another member joins
// this one; Joining reports it meanwhile, and health's readiness fails.
// Nodes started together therefore need no order, and every node may be
// given the same seed list (its own name is ignored).
//
// # Failure detection and its bound
//
// Each member probes one member every ProbeInterval (direct UDP ping,
// then IndirectChecks members ping on its behalf, then a TCP ping). A
// member that fails is suspect; it is declared dead when the suspicion
// timeout ends without a refutation. Lifeguard sets that timeout between
//
//	min = SuspicionMult × max(1, log10 N) × ProbeInterval
//	max = SuspicionMaxTimeoutMult × min
//
// starting at max and falling toward min as other members independently
// confirm the suspicion. A suspect that is alive refutes by gossiping
// itself alive with a higher incarnation. Profile.DetectionBound adds the
// first probe, the probe round, the dead message's dissemination and our
// table's read interval to the max timeout:
//
//	profile  probe   suspicion (N<10)  bound N=5  bound N=20
//	LAN      1 s     4 s .. 24 s       27.5 s     35.52 s
//	Local    200 ms  0.8 s .. 2.4 s    3.15 s     4.07 s
//
// Measured on loopback (2 cores), 5 members: a crashed member is dead
// everywhere after about 1.2 s with Local (also with members in separate
// processes and SIGKILL) and 6.5 s with LAN; Erlang's tick alone takes
// 45–75 s at net_ticktime 60. Steady gossip costs about 1.5 KB/s and
// 0.5 % of a core per member with Local, 240 B/s and 0.1 % with LAN.
// Full membership of 5 (20) members takes about 60 ms (170 ms) with
// Local and 240 ms (800 ms) with LAN. See bench_test.go.
//
// # How the table sees suspicion
//
// memberlist v0.6 reports joins, leaves and updates (EventDelegate), but
// neither suspicion nor incarnations: Members() returns only live nodes
// and never fills Node.State, and its node structs change under its lock,
// so reading them is a data race. Its push/pull message, however, carries
// the full table with every node's state and incarnation. The table is
// read that way: our transport hands memberlist an in-memory stream
// (net.Pipe) carrying a push/pull request with an empty state, and reads
// the answer (msgpack, decoded here). Memberlist merges nothing from it.
// This runs every StatusInterval (default ProbeInterval/2) and at once on
// every join, leave or update memberlist reports, so a suspicion shorter
// than StatusInterval may go unseen; suspicion lasts at least the minimum
// timeout above, which is longer.
//
// # Node meta
//
// memberlist carries up to 512 bytes of meta per member. Ours is a
// version byte and then fields, each a tag byte, a length byte and the
// value:
//
//	01                      version 1
//	01 len name             distribution node name "alive@host" (required)
//	02 len addr             gossip address "ip:port"
//	03 len addr             (older versions: a Raft address; skipped)
//	04 len id               present when the member runs the election:
//	                        its Raft cluster identity, possibly empty
//
// Unknown tags are skipped; a repeated or truncated field, another
// version, or a meta over 512 bytes is a *MetaError. Example, node a@h
// gossiping on 127.0.0.1:7946:
//
//	01 01 03 61 40 68 02 0e 31 32 37 2e 30 2e 30 2e 31 3a 37 39 34 36
//
// The same node running the election in the Raft cluster "c1" (ids are
// 32 hex digits in practice) adds
//
//	04 02 63 31
//
// # Gossip encryption
//
// Every packet and stream is sealed with AES-256-GCM under a key derived
// from the cookie:
//
//	key = HKDF-SHA-256(secret = cookie, salt = "distribute-go membership",
//	                   info = "distribute-go membership gossip key v1", 32 bytes)
//
// so a node with another cookie can neither join nor read nor forge
// gossip, and junk sent to the port is dropped (counted in
// Stats.Dropped) before memberlist parses it. memberlist's own encryption
// and compression are off: sealing happens in our transport. The cookie
// "secret" gives the key
//
//	d5b2ce62db9836181537ab4a56be089e17c9719bfec1c095668d891d3d582598
//
// A UDP packet is version 01, a random 12-byte nonce, then the
// ciphertext with its 16-byte tag; the additional data is the string
// "distribute-go gossip packet v1". The packet "hi" sealed with that key
// and the nonce 000102…0b:
//
//	01 000102030405060708090a0b def6 d0d0e1093b796189f8c1163f25be3f54
//
// A TCP stream is a sequence of frames, each version 01, the length of
// the rest (u32 big-endian, at most 12 + 65536 + 16), a random nonce and
// the ciphertext with its tag. The additional data is the 5-byte frame
// header, the direction ('D' for frames the dialer writes, 'A' for the
// acceptor's) and the frame's sequence number in its direction (u64
// big-endian, from 0), so frames cannot be reordered, dropped, replayed
// within a stream or reflected. "hi" as the dialer's first frame:
//
//	01 0000001e 000102030405060708090a0b def6 0a605ab67d9abf3ff39cecb075af7648
//
// As with memberlist's own encryption, a whole recorded packet or stream
// can be replayed; SWIM's incarnations make a replayed state message
// stale.
//
// # Errors and metrics
//
// Start fails with ErrConfig for a bad Config (no cookie, neither Node nor
// Name, a Name other than the Node's, a bad Profile, Seeds without
// Resolve, a DataDir whose gossip-port file holds no port) or with the
// bind error of the gossip port; seeds that do not answer are no error. Join wraps ErrJoin when no given member
// answered; JoinNode returns ErrNoResolver without Config.Resolve, or the
// resolver's error; Join, JoinNode, SetElection and Refresh return
// ErrClosed (which wraps net.ErrClosed) after Stop. Gossip that does not
// authenticate (ErrAuth) or a malformed stream frame (ErrFrame) is dropped
// (a stream ends there) and counted in Stats.Dropped; bad node meta is a *MetaError (ErrMeta);
// a memberlist state table that cannot be read (ErrSnapshot) is logged at
// warning level and the table keeps its last reading. None of these
// reaches a caller. State changes are counted in the OpenTelemetry counter
// distribute.membership.changes (attribute state) on the node's
// MeterProvider.
//
// # Who may block
//
// Start, Join, JoinNode, Refresh and Stop take a ctx (Start's bounds its
// one attempt at the seeds, and TCPTimeout too). Watch's channel
// queues without bound, so a slow reader never blocks gossip and loses no
// event. memberlist's callbacks into this package never block.
package membership
