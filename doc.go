// Package distribute brings Erlang-style distributed computing to Go on the
// real Erlang distribution protocol.
//
// A Node has a name ("alive@host") and a cookie. It registers with epmd
// (or hosts an embedded one when none runs), accepts and dials connections
// to other nodes, Go and BEAM alike, and hosts processes: a Process is a pid
// and an unbounded mailbox, with links, monitors and exit signals that
// behave as Erlang's. A BEAM process and a Go process cannot tell each other
// apart: Erlang can send to a Go pid, monitor it, link to it, and
// gen_server:call it; Go can do the same to Erlang processes.
//
//	node, err := distribute.Start(ctx, distribute.Config{Name: "app@localhost", Cookie: "secret"})
//	if err != nil { ... }
//	defer node.Stop(context.Background())
//
//	p, _ := node.Spawn(func(ctx context.Context, p *distribute.Process) error {
//		for {
//			m, err := p.Receive(ctx)
//			if err != nil {
//				return err
//			}
//			if from, req, ok := distribute.ParseCall(m); ok {
//				p.Reply(ctx, from, req) // an echo gen_server
//			}
//		}
//	})
//	node.Register("echo", p.Pid())
//
// From Erlang, gen_server:call({echo, 'app@localhost'}, hello) returns hello.
//
// # Main types
//
//	Node            a running node: Start, Stop, Connect, Ping, Spawn, Register, WatchNodes
//	Config          the node's settings; only Name and Cookie are required
//	Process         a pid and a mailbox: Send, Receive, ReceiveMatch and TryReceive
//	                (selective receive, waiting or not), Call, Link, Monitor, Exit,
//	                SpawnLink and SpawnMonitor (a child linked or monitored from the start)
//	Pid, Ref, Atom  Erlang's identifiers (aliases of the etf types); Term is any term
//	Subject[T]      a typed address: a pid or a name, plus a codec.Codec[T]
//	Actor[S, M, R]  a typed server process; ActorHandle is a started one
//	Down, Exit, NodeUp, NodeDown
//	                the messages monitors, trapped exits and node monitors deliver
//
// The services are separate packages built on this one's exported API:
// rpc, groups (pg), registry (global), membership (SWIM), election (Raft),
// health, and cluster, which starts a node with all of them. Package
// supervisor restarts processes and actors as Erlang's supervisors do;
// package gleam speaks the message shapes of the Gleam distribute
// library (v4).
//
// # Messages and terms
//
// Messages between nodes are Erlang terms (package etf): a Go program
// sends etf.Tuple{etf.Atom("ok"), int64(1)} and Erlang receives {ok, 1}.
// Between processes of one node a message is the same Go value, not a
// copy: do not change a value after sending it.
//
// # Typed messages
//
// Every message can have a compile-time type: a Subject[T] is a pid or a
// name plus a codec.Codec[T]; Subject.Send encodes T (the bytes travel as
// an Erlang binary, so a BEAM process sees a binary) and Receive[T] decodes
// it, with a typed *MessageError, never a crash, for a message of another
// type or version. Call[Req, Resp] is a typed gen_server call. An Actor
// holds state and handles typed messages and calls; package supervisor
// restarts actors and processes one-for-one or one-for-all within a
// restart intensity, and package gleam speaks the message shapes of the
// Gleam distribute library (v4), so Go and Gleam actors call each other.
// See Example_typed.
//
// # Calls
//
// Process.Call and CallName speak the gen_server call protocol: the
// request goes out as {'$gen_call', {Self, Tag}, Request} and the reply is
// the message {Tag, Reply}, so Go calls Erlang gen_servers, and Erlang's
// gen_server:call reaches a Go process that answers with ParseCall and
// Reply (or an Actor). Our calls use process aliases as OTP 24+ does (the
// tag is [alias | Ref]) and monitor the target: a missing target fails at
// once (ErrNoProc), a lost node with ErrNodeDown, a target that exits with
// an *ExitError, the deadline with ErrTimeout; and a reply that arrives
// after the call ended is dropped, never left in the mailbox. A call
// looks only at the messages that arrived after it began (as BEAM's
// receive markers do for a fresh reference), so its cost does not grow
// with what else waits in the caller's mailbox.
//
// OTP's sys requests ({system, From, Request}: sys:get_state,
// sys:get_status, sys:suspend and resume, sys:terminate and so
// gen_server:stop and GenServer.stop) are answered as a gen_server answers
// them by every Actor, and by a receive loop that passes its messages to
// Process.HandleSystem.
//
// # Spawn requests and node events
//
// Process.SpawnRequest asks a node to run Module:Function(Args) (Erlang's
// spawn_request/5); HandleSpawn serves such requests from peers (the rpc
// package installs a handler that runs registered Go functions; without
// one, requests are refused with notsup). Node.WatchNodes is a channel of
// connection ups and downs; Process.MonitorNode and MonitorNodes deliver
// Erlang's {nodedown, Node} and nodeup/nodedown messages instead.
//
// A process started with SpawnHandler has no goroutine while its mailbox
// is empty, so a node can hold millions of idle processes; one started
// with Spawn keeps its goroutine for its whole life.
//
// # Ordering
//
// Messages and signals (exits, monitor notifications, link and unlink
// requests) from one process to another arrive in the order they were
// sent, as in Erlang. There is no ordering between different pairs of
// processes.
//
// # Delivery
//
// Delivery is at most once. Send returns once the message is handed to the
// connection (or to the local mailbox); it gives no receipt. A message to a
// process that does not exist is dropped silently. When a connection is
// lost, what was in flight on it is lost, and the loss is reported through
// links (an exit signal with reason noconnection) and monitors (a Down with
// reason noconnection) and node monitors (NodeDown). A process that needs
// to know makes a Call, or monitors its peer.
//
// Sending to a node this node is not connected to sets up the connection
// first, as Erlang's auto-connect does. A process with AutoConnect off
// (Erlang's noconnect) fails instead, with ErrNodeDown: the registry and
// group scopes send that way, so that a message racing with a lost
// connection never reconnects a node a partition has cut off.
//
// # Failures
//
// A peer that sends malformed frames, an unknown control message, an
// oversized frame or term, or that stops answering ticks loses its
// connection; the node and every other connection go on. Errors are
// sentinels (ErrNoProc, ErrNodeDown, ErrTimeout, ErrClosed, ErrBadCookie,
// ErrTLSMismatch) or typed (*ExitError), wrapped with %w: test them with
// errors.Is and errors.As. ErrNodeDown means the connection is lost or
// cannot be made; why a connection was lost is NodeDown.Err and
// NodeEvent.Err, which wrap ErrNodeDown and the cause (ErrTickTimeout for
// a silent peer, ErrFrameTooLarge for an oversized frame, ...). When the ctx of a blocking call ends, its error wraps
// ErrTimeout and context.DeadlineExceeded if the deadline passed (the
// peer may well be up, only slow), and context.Canceled (not ErrTimeout)
// if ctx was canceled. After Stop, sends fail with ErrClosed.
//
// # Who may block
//
// Everything that may wait takes a context.Context first. Send blocks
// while it connects to a node it is not connected to (up to
// Config.HandshakeTimeout per handshake step), and while the connection's
// send buffer is full (Config.SendBuffer), like Erlang's busy dist port;
// both waits end with ctx. What the node owes a peer (the noproc EXIT or
// DOWN answering its LINK or monitor, the exit signals and DOWNs of
// exiting processes, the demonitor of a process that ends a remote
// monitor or exits, net_kernel's answers) never waits behind a full
// buffer: it may take as much again as SendBuffer, in order, and a peer
// that leaves it full for TickTime is disconnected. Receive and Call block until a
// message, the deadline, or the process's exit. Handlers the node calls
// (the net_kernel service, spawn and call handlers) run in their own
// processes; a slow one never blocks a connection. Mailboxes are unbounded:
// a process that does not keep up grows its mailbox rather than dropping
// messages or slowing its senders; watch Process.MailboxLen.
//
// # On the wire
//
// Every message to another node is one distribution frame: a 4-byte
// length, a distribution header, the control message and the message. Both
// nodes of a connection advertise DIST_HDR_ATOM_CACHE and FRAGMENTS (every
// BEAM node and every Go node does; both split frames above 64 KiB into
// fragments, which the receiving node reassembles, and other processes'
// messages go out between them), so the header
// lists atom cache references: each
// connection direction has a 2048-slot cache that the sender fills, and
// ATOM_CACHE_REF i (52 i) in the terms stands for the header's i-th atom.
// A Go node keeps the empty atom, its own name and the peer's in slots 0,
// 1 and 2; the first frame stores them, later ones only refer to them, so
// node names are not repeated in every frame. The frame is the same
// whether the peer is Go or BEAM. Worked example: the process <a@h.1.0>
// (creation 7) sends the typed message 42 (codec.Int) to the name counter
// on node b@h, with NamedSubject("counter", node, codec.Int).Send, after
// the connection's first frame:
//
//	00 00 00 33                 frame length 51
//	83 44 03 00 00              distribution header: 3 refs, all cached (flag nibbles 0)
//	   00 01 02                   slots 0 (''), 1 ('a@h'), 2 ('b@h'): refs 0, 1, 2
//	68 04                       control {6, From, '', counter} (REG_SEND), no 131 byte
//	   61 06                      6
//	   58 52 01                   From: NEW_PID_EXT, node ref 1 ('a@h')
//	      00 00 00 01 00 00 00 00 00 00 00 07   ID 1, serial 0, creation 7
//	   52 00                      '' (unused): ref 0
//	   77 07 63 6f 75 6e 74 65 72 counter
//	6d 00 00 00 08              message: a binary of 8 bytes,
//	   00 00 00 00 00 00 00 2a    the codec.Int encoding of 42
//
// The connection's first such frame has the header 83 44 03 88 08 00 00
// 01 03 61 40 68 02 03 62 40 68: the same three slots, each flagged new
// (nibble 8) with its length and text. A peer that does not advertise the
// atom cache gets the pass-through form instead: 70 (112), then each term
// with its own 131 byte and every atom in full.
//
// A BEAM process receives <<0,0,0,0,0,0,0,42>>. An untyped Send of the
// term {hello, 1} would carry 68 02 77 05 68 65 6c 6c 6f 61 01 as the
// message instead. Frames a node sends are its own; frames it receives
// are decoded into terms the receiving process owns (etf's ownership
// rules: decoded binaries never alias the frame buffer).
//
// # Limits
//
// Every limit is a Config field with a documented default: MaxFrameSize
// (128 MiB) bounds one frame, Limits (etf's: 64 MiB, depth 100 000, at most
// 24 bytes of memory per input byte) bounds each decoded term, and a term
// over a limit closes that peer's connection (logged at warning with the
// peer and the limit); SendBuffer (4 MiB) the bytes queued to one peer,
// HandshakeTimeout (7 s) each handshake step, MaxPendingHandshakes (256)
// the incoming handshakes not yet authenticated, and TickTime (60 s) a
// peer's silence. Errors from Start are ErrConfig (a bad Config),
// ErrNameTaken (epmd holds the name) or the listener's and epmd's; names
// that do not match alive@host are ErrBadName.
//
// # Logging, correlation ids and metrics
//
// Config.Logger (a *slog.Logger; nil discards) receives the node's logs:
// node start, connections up and down with their reason, failed
// incoming handshakes (at warning, at most one line a second, which says
// how many were left out), panics in processes and handlers (with the stack),
// supervisor restarts, and, at debug level, messages dropped because
// their target is gone.
//
// WithCorrelationID puts an id in a context; calls (Process.Call,
// CallName, Call) and RPCs (rpc.Client.Call) made with it carry the id to the
// other node, where the handler's context has it again, and LogHandler
// adds it to every record logged with such a context:
//
//	logger := slog.New(distribute.LogHandler(slog.NewJSONHandler(os.Stderr, nil)))
//	ctx = distribute.WithCorrelationID(ctx, "order-1234")
//	reply, err := p.CallName(ctx, "orders", "b@h", req) // the handler's ctx carries order-1234
//
// On the wire the id rides in the call's tag,
// [[alias | Ref] | {'$correlation_id', <<Id>>}] (at most
// MaxCorrelationID bytes), which Erlang's gen_server treats as opaque and
// answers as usual.
//
// Metrics go through OpenTelemetry's metric API to Config.MeterProvider
// (default: the global provider, a no-op until the program sets one):
// distribute.messages.in/out and distribute.bytes.in/out per peer,
// distribute.connections, distribute.processes, distribute.mailbox.messages
// and distribute.mailbox.max, the histogram distribute.call.duration
// by outcome (ok, timeout, noproc, nodedown, error; buckets 100 µs to
// 10 s), and the counter distribute.handshake.failures by reason
// (bad_cookie, timeout, malformed, refused, tls, evicted, closed) and
// direction (in, out). Services make theirs with Node.Meter (distribute.rpc.duration,
// distribute.membership.changes, distribute.election.leader_changes). The
// observable instruments are read only when the provider collects, never
// on the message path; the mailbox gauges walk every process at each
// collection. In Prometheus the names become
// distribute_messages_out_total, distribute_call_duration_seconds and so
// on (the CLI's node --http serves them at /metrics).
//
// A process that receives calls itself (ReceiveCall, or Receive and
// ParseCall) gets the caller's id with From.CorrelationID. Casts, plain
// sends and gleam.Call carry no id, calls from Erlang bring none, and an id
// longer than MaxCorrelationID stays local.
//
// # Visibility
//
// A bare Node is hidden by default (Config.Visibility): Erlang's nodes()
// does not list it and global and pg do not discover it, but every other
// operation works. A visible node must speak Erlang's global protocol, or
// global:sync/0 blocks on its Erlang peers: cluster.Start runs the registry
// package and makes its nodes visible.
//
// # Where things live
//
// For readers of the source. The wire bytes are internal/dist's: per
// connection, a dist.Writer owns what the node sends (the negotiated
// flags, both node names, the atom cache slots it has stored, fragment
// sequence numbers) and a dist.Reader what it receives (the header's atom
// cache, fragments being reassembled, the decoder). Control messages are
// made by dist's typed builders (dist.Send, dist.Link, dist.PayloadExit,
// ...), one per operation; no file of this package writes a tag byte or
// a control tuple (internal/deptest checks it). This package keeps
// processes, their lookup and delivery:
//
//	connect.go    connections: dialing, accepting, the peers table (Node.connMu)
//	control.go    dispatch of a received control message (dist.In) to processes
//	procs.go      the process table: pids, names, aliases (procTable.mu)
//	relations.go  every process's relation tables: links, monitors it holds,
//	              monitors held on it (watchers), aliases, names (Process.mu);
//	              each change is a method there that takes its locks and
//	              returns the signals it owes (exit signals, Downs,
//	              demonitors), sent once no lock is held; and the per-node
//	              index of processes with relations to another node
//	              (remoteIndex.mu) that makes a lost connection visit only
//	              them (internal/deptest keeps the tables in this file)
//	signals.go    Link, Monitor, Exit, Kill and the rest: what a process
//	              asks for, and the exit signals, Downs and demonitors it sends
//	mailbox.go    the mailbox and its lock (mailbox.mu, used in this file only)
//
// A frame out: Process.Send finds the peer (connecting if needed), makes
// the message with a builder and hands it to the peer's Writer, which
// encodes it into a pooled buffer (atom cache references, a typed
// payload appended by the codec in place, fragments above 64 KiB) and
// queues it on the dist.Conn; the Conn's writer goroutine writes what is
// queued in one batch (or the sender writes it itself when the
// connection is idle). Signals the node owes a peer (exit signals,
// Downs, replies to its control messages) go through Writer.Signal,
// which may use a reserve beyond the send buffer, so they never wait
// behind a full one. A frame in: the Conn's reader goroutine reads it
// (or, on plain TCP, a process waiting for a reply from that node: a
// Call, or a Receive right after a Send there, leads the connection's
// reads while it waits, dist.Conn.Lead, so the reply is taken on the
// goroutine that read it, and messages for others are delivered by it
// in the same order; the role stays with such processes for a short
// lease, so a ping-pong never wakes the reader goroutine; a signal whose
// handling may wait goes back to the reader goroutine, see
// dispatchLed) and calls the
// node, whose peer's Reader parses the header, puts
// fragments back together, reads the control message (a fast path for
// SEND and REG_SEND) and checks its fields' types; Node.dispatch looks up
// the target and pushes onto its mailbox, or asks relations.go to change
// the target's tables (a LINK, an UNLINK_ID, a MONITOR_P, ...) and sends
// what that owes.
//
// Lock order (a lock may be taken while holding those before it, never
// after): procTable.mu (the process table), then a Process.mu (one
// process's relation tables and exit reason; a parent's before the mu of
// the child SpawnLink and SpawnMonitor create, never two unrelated
// processes' at once), then remoteIndex.mu (a lost connection takes its
// node's set out under it and locks each process only after). The other
// locks are leaves, taken with none of those held and holding no other:
// mailbox.mu (a fired monitor's Down is pushed after its Process.mu is
// released; ReceiveMatch's match function runs under mailbox.mu),
// Node.connMu (the connection tables and the node monitors; the
// handshake's callbacks take it), a dist.Conn's queue lock (internal/dist,
// reached through a dist.Writer), the node event hub's lock and then a
// subscriber's, and the handshake slots' and log limiters' locks. No lock
// is held while a frame is queued on a connection (a queue may wait for
// room).
//
// # Security
//
// The cookie authenticates a peer; it does not encrypt. Use Config.TLS on
// any network you do not trust (it is Erlang's inet_tls_dist, so BEAM nodes
// configured with -proto_dist inet_tls interoperate). Received terms are
// decoded within Config.Limits (size, depth, a memory bound per input byte;
// compressed terms refused), so a peer cannot make the node allocate
// without bound, and a peer's terms reach logs and errors cut to
// etf.LogTextMax bytes.
package distribute
