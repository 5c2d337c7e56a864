// Package registry is Erlang's global name registry spoken by Go: a Server
// registered as global_name_server that takes part in OTP's `global`
// protocol (version 8, OTP 25–27) with every visible node, Go or BEAM, so
// a name registered in Go is seen by global:whereis_name/1 on Erlang nodes
// and the other way round.
//
// # Use
//
// Start one Server per node. The node must be Visible: global ignores
// hidden nodes, and a visible node must run a Server, or every Erlang
// node's global:sync() waits for it forever.
//
//	s, err := registry.Start(ctx, node, registry.Config{})
//	err = s.Register(ctx, distribute.Atom("db"), p.Pid()) // global:register_name/2
//	pid, ok := s.Whereis(distribute.Atom("db"))          // global:whereis_name/1
//	err = s.Sync(ctx)                                    // global:sync/0
//	err = s.Trans(ctx, p, registry.LockID{Resource: r, Requester: p.Pid()}, fn, nil, registry.Infinity)
//
// Names are terms. From Go, a name is an atom (distribute.Atom) or a
// binary (etf.Binary; a Go string or []byte is taken as a binary), so user
// input never creates atoms. Names registered by Erlang may be any term and
// are looked up (Whereis) and unregistered (Unregister) with the same term. Whereis, Lookup and RegisteredNames read
// the local table and never block; Register, Unregister, SetLock and Trans
// take cluster locks and
// block until every known node answered. ctx bounds the taking of a lock;
// once Register or Unregister holds its lock, the update runs to completion
// on every node, so a canceled ctx never leaves the tables split.
//
// Typed use: RegisterTyped registers the pid of a distribute.Subject[T],
// and Lookup returns a Subject[T] for a name, so the codec travels with
// the name on the Go side (the Gleam library's TypedName):
//
//	registry.RegisterTyped(ctx, s, etf.Atom("counter"), actor.Subject())
//	c, ok := registry.Lookup(s, etf.Atom("counter"), codec.Int)
//	total, err := distribute.Call(ctx, me, c, 1, codec.Int)
//
// The main types: Server; LockID ({ResourceId, LockRequesterId}) for
// SetLock, DelLock and Trans; Resolver, the conflict resolution function
// (RandomExitName, RandomNotifyName, NotifyAllName are OTP's three;
// Config.Resolver sets the default one, RegisterMethod picks one per name
// as an Erlang method term: DefaultMethod, NotifyMethod, NotifyAllMethod);
// and Config (logger, resolver, prevent_overlapping_partitions; the zero
// Config is OTP 25's global).
//
// # Errors
//
// Register returns ErrTaken when the name is registered or the pid already
// has one (global:register_name/2 answering no); a name that is neither an
// atom nor a binary is ErrBadName; Unregister and Send of an unknown name
// are ErrNotRegistered; Trans returns ErrLockNotSet when it could not take
// the lock within its retries (global:trans/4's aborted). Every call that
// takes locks fails with ctx's error when ctx ends first, and with
// ErrClosed (which wraps distribute.ErrClosed) after Stop.
//
// # Protocol (all messages go to the registered name global_name_server)
//
// Connect of A and B, each side on its nodeup of the other:
//
//	cast {init_connect, {8, MyTag}, Me, {locker, no_longer_a_pid, Known, LockerPid}}
//	plain {init_connect_ack, Me, HisTag, MyTag}        (a mismatch: cancel_connect, restart)
//	locker: multi_call {set_lock, {global, lists:sort([LockerA, LockerB])}}
//	        on the boss (max node name) first, then me and the peer, then the rest
//	cast {lock_set, LockerPid, true, KnownAtoms, HisTag}   (routed to the peer's locker)
//	cast {exchange, Me, [{Name, Pid, Method}], [], HisTag}
//	cast {resolved, Me, OpsForPeer, [{Node, 8}], unused, [], HisTag}
//	locker → my old partition: cast {new_nodes, Me, Ops, [], [{Peer, 8} | PeerKnown],
//	                                 [{vsn, 8}, {lock, {global, LockReqId}}]}, then del_lock
//	nodes new to each other: connect, cast {in_sync, Me, true}
//
// The tag in lock_set, exchange and resolved is the receiver's. Ops are
// {insert, {Name, Pid, Method}} and {delete, Name}. The lower node name of
// the pair decides each conflict by running the method of its own entry on
// the node of its own pid: on this node with a Resolver (Methods
// global:random_notify_name/3 and global:notify_all_name/3 map to
// RandomNotifyName and NotifyAllName; anything else, including Erlang's
// default local fun, to the configured Resolver, default RandomExitName),
// on an Erlang node through rex (global:resolve_it/4), on a Go node without
// rex through the call {registry_resolve_it, Method, Name, Pid, Pid2} to its
// global_name_server. A failed rpc gives the name to the peer's pid, as
// Erlang does.
//
// Registration (the registrar): take {global, RegistrarPid} on the boss,
// then on [me | known]; multi_call {register, Name, Pid, Method} (reply yes)
// or {unregister, Name} (reply ok); del_lock on the others, then on the
// boss. A server keeps an insert only if the caller holds its global lock
// (or none is held). Every server monitors every registered pid; the
// monitor's DOWN removes the name locally, with no message between servers.
//
// Locks: {set_lock, {ResourceId, LockRequesterId}} is granted when the
// resource is free or held with the same requester id; the owner is the
// calling pid (from the call's From), monitored. {del_lock, Id} always
// replies true. SetLock and Trans retry with global's random sleep: uniform
// in [1, 2^n·1000/8] ms, at most 8 s.
//
// prevent_overlapping_partitions (on by default, as in OTP 25): on an
// unrequested nodedown of N a server sends plain
// {lost_connection, Me, XCreation, OpId, N} to every known node; a
// receiver passes it on once (deduplicated by {XCreation, OpId}) and sends
// plain {remove_connection, Me} to the lost node, which disconnects. Every
// partition is then a full mesh. Each connection closed that way is logged
// at warning level and counted in the OpenTelemetry counter
// distribute.registry.partition_disconnects.
//
// # A worked example
//
// The in_sync cast from a@h, {'$gen_cast', {in_sync, 'a@h', true}}, as the
// message of a REG_SEND to global_name_server:
//
//	83                                  version
//	68 02                               SMALL_TUPLE_EXT, 2 elements
//	77 09 24 67 65 6e 5f 63 61 73 74    '$gen_cast'
//	68 03                               SMALL_TUPLE_EXT, 3 elements
//	77 07 69 6e 5f 73 79 6e 63          in_sync
//	77 03 61 40 68                      'a@h'
//	77 04 74 72 75 65                   true
//
// and a plain lost_connection, {lost_connection, 'a@h', 1, 2, 'b@h'}:
//
//	83 68 05 77 0f 6c 6f 73 74 5f 63 6f 6e 6e 65 63 74 69 6f 6e
//	77 03 61 40 68  61 01  61 02  77 03 62 40 68
//
// # Robustness
//
// Malformed or unexpected messages are logged at debug level and dropped;
// unknown calls are not answered (as Erlang's server). Messages from nodes
// outside the cluster do not grow the server's state: init_connect is
// stashed only for connected nodes, in_sync only from connected nodes,
// new_nodes only from known or connecting ones, and at most 4096
// lost_connection records are kept.
//
// # Where things live
//
// The protocol's state is a deterministic core that does no I/O: events
// go in, effects (the I/O to do, in order) come out.
//
//   - core.go: the core's type and tables: names (by a key of the name
//     term), locks and their holders, and the monitors both need, named by
//     the core's own monitor ids; the calls register, unregister,
//     set_lock, del_lock and get_*; a monitor's DOWN; the loss of a node's
//     names and locks. The effects: plain sends, monitor and demonitor,
//     locker events, resolver start and stop, sync_others, disconnect, a
//     warning.
//   - connect.go: the core's connect protocol: one attempt per peer from
//     nodeup or init_connect to resolved, the casts (lock_set, exchange,
//     resolved, new_nodes, in_sync) and plain messages (init_connect_ack,
//     cancel_connect), and node loss with prevent_overlapping_partitions
//     (lost_connection, remove_connection).
//   - server.go: the Server and its gns process loop. Each message of the
//     gns mailbox is one step: the core changes under the Server's mutex,
//     then the gns goroutine performs the effects before it takes the next
//     message. It maps the core's monitor ids to monitor refs, runs the
//     resolvers and sync_others in goroutines (their answers come back as
//     messages) and wakes Sync.
//   - locker.go: the locker, one goroutine whose multi_calls take each
//     connect's cluster lock; the core posts events to it, and it answers
//     the gns with lock_is_set.
//   - resolve.go: the conflict resolution of a merge (mergeNames, the
//     pure part, and the resolvers that run methods locally or by rpc).
//   - api.go: the public calls; the registrar's transactions are
//     multi_calls to every server, this one included, so a name changes
//     here only through the gns loop.
//
// Locks: the Server's mutex protects the core and the monitor maps; only
// the gns goroutine changes them, and readers (Whereis, Known, Sync, the
// locker's checks) take it briefly. The registrar's mutex serializes its
// transactions and is taken before the Server's mutex, never while it is
// held; the locker's mutex protects only its event queue.
//
// The core is checked against dumb models (a table model for calls,
// exits and node losses, and a merge model run through the whole connect
// protocol of several cores in a simulated cluster) and fuzzed (junk
// messages; random cluster histories after which every node must agree
// on every name).
//
// # Limits
//
// Global groups are not supported (do not configure them on the Erlang
// side). Names registered with register_name_external are not supported.
// A conflict on a Go pid decided by an Erlang node arrives as an erpc
// spawn request; a Go node without a spawn handler answers notsup, and the
// Erlang side then gives the name to the other pid without killing the Go
// process (names stay consistent; the Go process loses the name).
package registry
