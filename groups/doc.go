// Package groups implements process groups as a peer of Erlang's pg: a
// Scope is a process registered under the scope name (pg by default) that
// speaks OTP's pg scope protocol, so Go processes and BEAM processes join
// the same groups, and pg:get_members/1 on an Erlang node lists Go members
// while Members on a Go node lists Erlang ones.
//
//	s, err := groups.Start(ctx, node, groups.Config{}) // the default scope pg
//	s.Join(ctx, etf.Atom("workers"), p.Pid())     // pg:join(workers, Pid)
//	s.Members(etf.Atom("workers"))                // pg:get_members(workers)
//	s.Broadcast(ctx, etf.Atom("workers"), msg)    // one message to each member
//
// On Erlang the default scope runs only with -kernel start_pg true (or in
// an application that starts it); a named scope is pg:start_link(Name) there
// and Config{Scope: Name} here.
//
// The main types: Scope (a running scope: Join, Leave, Members,
// LocalMembers, WhichGroups, Watch, Broadcast, Stop), Config (the scope
// name and a logger; the zero Config runs pg), Change (one join or leave
// Watch reports, Kind Joined or Left) and BroadcastResult with its
// *MemberError list.
//
// # Groups
//
// A group is any Erlang term, as in pg. From Go pass a term-model value:
// etf.Atom("workers") is the atom workers (what Erlang code usually uses),
// a Go string is converted by etf.ToTerm to the binary <<"workers">>, and
// tuples, integers and the rest work the same way. Two groups are the same
// when their terms are exactly equal (=:=).
//
// Membership follows pg exactly: only local processes join (ErrNotLocal
// otherwise); a process may join a group several times and is then listed
// that many times, and must leave as many times; a process that exits
// leaves all its groups; when a node goes down (or its scope process
// exits), its members are removed everywhere. Members returns a copy in no
// particular order.
//
// # The protocol (OTP 23 to 27, checked against OTP 25 and 27)
//
// Every message below is an ordinary message (SEND or REG_SEND) to a scope
// process; nothing else is ever sent to a scope, because an Erlang scope's
// catch-all clause crashes it on any other message.
//
//	{discover, ScopePid}                           to {Scope, Node}, or to a scope pid
//	{discover, ScopePid, Version}                  OTP 26+ form, accepted, never sent
//	{'$gen_cast', {sync, ScopePid, [{Group, [Pid]}]}}   all local members of the sender
//	{join, ScopePid, Group, Pid | [Pid]}
//	{leave, ScopePid, Pid | [Pid], [Group]}
//
// A scope sends {discover, Self} to {Scope, Node} when it starts (to every
// connected node) and when a node connects. On {discover, Peer} it answers
// with its sync and, if Peer was unknown, monitors Peer and sends
// {discover, Self} back to it. A sync replaces everything known about the
// sender's members (and makes the sender known, monitored, if it was not).
// join and leave change the sender's members; from an unknown sender they
// are ignored (the sender has not discovered us yet, or is gone). A local
// join or leave is sent to every known peer; a local member's exit is one
// leave for all its groups. When a peer scope's monitor fires (reason
// noconnection when its node is lost), all its members are dropped.
//
// A scope discovers only visible peers, as Erlang's pg: nodes that
// published themselves in the handshake (distribute.NodeUp.Published,
// Node.PublishedNodes). It never sends anything to a hidden node or a C
// node (erl_call, ei) on its own, so two hidden Go nodes share no groups
// and a hidden BEAM node's processes never hear from it; a scope on such a
// node that sends discover itself is answered, as pg answers it. Erlang's
// pg discovers only over visible connections, which a hidden Go node (the
// default for a bare distribute.Node; cluster.Start makes nodes visible)
// never has, so the Go scope sends discover to every visible peer on
// connection, hidden itself or not (Erlang's pg answers a discover from
// any node). For the same reason a restarted Erlang scope (new pid,
// nothing known) would never discover us: when a peer scope dies while its
// visible node stays connected, this scope sends discover to
// {Scope, Node} again, with backoff (5 ms doubling to 1 s, 14 tries),
// until a scope there answers.
//
// Worked example: the Go scope <go@h.1.0> (creation 7) discovers a peer.
// The REG_SEND payload, as external term format:
//
//	83                         version
//	68 02                      SMALL_TUPLE_EXT, arity 2
//	77 08 64 69 73 63 6f 76 65 72          SMALL_ATOM_UTF8_EXT "discover"
//	58 77 04 67 6f 40 68                   NEWER_PID_EXT, node 'go@h'
//	   00 00 00 01 00 00 00 00 00 00 00 07  ID 1, Serial 0, Creation 7
//
// and its process <go@h.5.0> joining group g is the message
//
//	83 68 04 77 04 6a 6f 69 6e             {join,
//	58 77 04 67 6f 40 68 00 00 00 01 00 00 00 00 00 00 00 07   <go@h.1.0>,
//	77 01 67                               g,
//	58 77 04 67 6f 40 68 00 00 00 05 00 00 00 00 00 00 00 07   <go@h.5.0>}
//
// Robustness: anything from the network that is not exactly one of these
// shapes is ignored (and logged at debug level), as are member pids that
// are not on the sending scope's node (a correct pg never sends them), and
// discover or sync from a pid on a node this node is not connected to
// (the scope never dials for a peer: pg sends with noconnect).
//
// # Subscriptions
//
// Watch(ctx, group) (pg:monitor/2) and Watch(ctx) (pg:monitor_scope/1)
// return a channel that first carries the current members (one Joined
// change per group that has any), then every later Change, in order. A
// slow reader never slows the scope: changes queue for it, and a reader
// 4096 changes behind is cut off (it receives what is queued, then its
// channel closes). The channel also closes when ctx ends or the scope
// stops. Unlike OTP, a sync that changes a peer's members is reported as
// precise leave and join changes.
//
// # Broadcast
//
// Broadcast converts the message to a term once and sends it to each
// distinct member: a local member gets the term itself (not a copy), a
// remote member one message frame. A member that cannot be reached is
// reported in BroadcastResult.Failed (and the joined error) and never stops
// the others. Delivery is Send's: at most once, in order per sender and
// receiver, no receipt.
//
// # Ordering and blocking
//
// Every change and the messages it causes are made under one lock, so
// each peer receives them in the order the changes happened. Join, Leave
// and Broadcast block only while a connection's send buffer is full, up to
// ctx. Members, LocalMembers and WhichGroups never block on the network.
// Stop tells every peer that the local members left, ends the scope
// process (peers also get its DOWN) and waits for its goroutines.
//
// # Errors
//
// Join and Leave return ErrNotLocal for a pid of another node, ErrBadGroup
// for a group that is not a valid term (a Go value etf.ToTerm cannot
// convert), and Leave ErrNotJoined when none of the pids was a member.
// After Stop every method that changes state returns ErrClosed (which
// wraps distribute.ErrClosed). Broadcast returns the joined errors of
// the members it could not reach (each a *MemberError with the pid and
// the send's error, such as distribute.ErrNodeDown) alongside a
// BroadcastResult that says how many it reached. Sends block only on a
// full connection buffer and fail with ctx's error when ctx ends first.
package groups
