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
// holds state and handles typed messages and calls; StartSupervisor
// restarts actors and processes one-for-one or one-for-all within a
// restart intensity. GleamCall and GleamActor speak the message shapes of
// the Gleam distribute library (v4), so Go and Gleam actors call each
// other. See Example_typed.
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
// # Failures
//
// A peer that sends malformed frames, an unknown control message, an
// oversized frame or term, or that stops answering ticks loses its
// connection; the node and every other connection go on. Errors are
// sentinels (ErrNoProc, ErrNodeDown, ErrTimeout, ErrClosed, ErrBadCookie)
// or typed (*ExitError), wrapped with %w: test them with errors.Is and
// errors.As.
//
// # Who may block
//
// Everything that may wait takes a context.Context first. Send blocks only
// while the connection's send buffer is full (Config.SendBuffer), like
// Erlang's busy dist port, until ctx ends. Receive and Call block until a
// message, the deadline, or the process's exit. Handlers the node calls
// (the net_kernel service, spawn and call handlers) run in their own
// processes; a slow one never blocks a connection. Mailboxes are unbounded:
// a process that does not keep up grows its mailbox rather than dropping
// messages or slowing its senders; watch Process.MailboxLen.
//
// # Visibility
//
// A bare Node is hidden by default (Config.Visibility): Erlang's nodes()
// does not list it and global and pg do not discover it, but every other
// operation works. A visible node must speak Erlang's global protocol, or
// global:sync/0 blocks on its Erlang peers: cluster.Start runs the registry
// package and makes its nodes visible.
//
// # Security
//
// The cookie authenticates a peer; it does not encrypt. Use Config.TLS on
// any network you do not trust (it is Erlang's inet_tls_dist, so BEAM nodes
// configured with -proto_dist inet_tls interoperate). Received terms are
// decoded within Config.Limits (size, depth, atoms), so a peer cannot make
// the node allocate without bound.
package distribute
