package distribute

import (
	"context"
	"fmt"
	"time"

	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
)

// Send sends msg to the process to, on this node or another, as Pid ! Msg.
// Like Erlang's send it gives no delivery receipt: a message to a process
// that does not exist is dropped. It fails only when the message cannot be
// handed to the connection: the node is unreachable (ErrNodeDown), ctx
// ends first (see below), msg cannot be encoded, or the node is stopped
// (ErrClosed).
//
// Send blocks in two cases, both bounded by ctx: when to's node is not
// connected, Send connects first (unless AutoConnect is off), which takes
// up to Config.HandshakeTimeout per handshake step for a node that
// accepts and does not answer (a stopped one); and while the
// connection's send buffer is full (Config.SendBuffer), until the writer
// makes room. When ctx's deadline passes first the error wraps ErrTimeout
// and context.DeadlineExceeded (not ErrNodeDown: the node may well be
// up); when ctx is canceled, context.Canceled. A connection attempt still
// under way goes on for later senders.
//
// A local message is delivered as the same Go value, not a copy: do not
// change it after sending.
func (p *Process) Send(ctx context.Context, to Pid, msg Term) error {
	n := p.node
	if n.closed.Load() {
		return fmt.Errorf("distribute: send to %v: %w", to, ErrClosed)
	}
	if to.Node == n.name {
		if to.Creation == n.creation {
			if t := n.lookup(to); t != nil {
				t.deliver(msg)
			}
		}
		return nil
	}
	return p.sendMessage(ctx, to.Node, dist.Send(p.pid, to, msg))
}

// SendName sends msg to the process registered as name on node (this node
// when node is empty or its own name), as {Name, Node} ! Msg.
func (p *Process) SendName(ctx context.Context, name, node Atom, msg Term) error {
	n := p.node
	if n.closed.Load() {
		return fmt.Errorf("distribute: send to {%s,%s}: %w", name, node, ErrClosed)
	}
	if node == "" || node == n.name {
		if t := n.whereis(name); t != nil {
			t.deliver(msg)
		}
		return nil
	}
	return p.sendMessage(ctx, node, dist.RegSend(p.pid, name, msg))
}

// sendAlias sends msg to an alias: a process on this node or another that
// answers to ref.
func (p *Process) sendAlias(ctx context.Context, ref Ref, msg Term) error {
	n := p.node
	if ref.Node == n.name {
		n.deliverToAlias(ref, msg)
		return nil
	}
	return p.sendMessage(ctx, ref.Node, dist.AliasSend(p.pid, ref, msg))
}

// From identifies the caller of a gen_server call: reply to it with Reply.
type From struct {
	Pid Pid
	// Tag is the caller's tag, opaque: a ref, [alias|Ref], or anything else
	// the caller chose.
	Tag Term
}

var (
	atomGenCall = Atom("$gen_call")
	atomGenCast = Atom("$gen_cast")
	atomAlias   = Atom("alias")
)

// ParseCall recognizes a gen_server call message
// {'$gen_call', {Pid, Tag}, Request}.
func ParseCall(msg any) (from From, request Term, ok bool) {
	return parseFromRequest(msg, atomGenCall)
}

// parseFromRequest recognizes {tag, {Pid, Tag}, Request}, the shape of
// gen_server calls and of sys's system messages.
func parseFromRequest(msg any, tag Atom) (from From, request Term, ok bool) {
	t, ok := msg.(etf.Tuple)
	if !ok || len(t) != 3 || t[0] != tag {
		return From{}, nil, false
	}
	f, ok := t[1].(etf.Tuple)
	if !ok || len(f) != 2 {
		return From{}, nil, false
	}
	pid, ok := f[0].(Pid)
	if !ok {
		return From{}, nil, false
	}
	return From{Pid: pid, Tag: f[1]}, t[2], true
}

// ParseCast recognizes a gen_server cast message {'$gen_cast', Request}.
func ParseCast(msg any) (request Term, ok bool) {
	t, ok := msg.(etf.Tuple)
	if !ok || len(t) != 2 || t[0] != atomGenCast {
		return nil, false
	}
	return t[1], true
}

// aliasOf returns the alias ref of a tag [alias|Ref], [[alias|Ref]|_]
// (the shape that carries a correlation id) or [alias,Ref|_].
func aliasOf(tag Term) (Ref, bool) {
	switch l := tag.(type) {
	case etf.ImproperList:
		if len(l.Elems) == 1 && l.Elems[0] == atomAlias {
			r, ok := l.Tail.(Ref)
			return r, ok
		}
		if len(l.Elems) == 1 {
			// [[alias|Ref]|Extra]: one level only.
			if inner, ok := l.Elems[0].(etf.ImproperList); ok && len(inner.Elems) == 1 && inner.Elems[0] == atomAlias {
				r, ok := inner.Tail.(Ref)
				return r, ok
			}
			return Ref{}, false
		}
		if len(l.Elems) >= 2 && l.Elems[0] == atomAlias {
			r, ok := l.Elems[1].(Ref)
			return r, ok
		}
	case etf.List:
		if len(l) >= 2 && l[0] == atomAlias {
			r, ok := l[1].(Ref)
			return r, ok
		}
	}
	return Ref{}, false
}

// Reply answers a gen_server call with {Tag, reply}, as gen_server:reply/2:
// to the caller's alias when the tag carries one, else to its pid.
func (p *Process) Reply(ctx context.Context, from From, reply Term) error {
	msg := etf.Tuple{from.Tag, reply}
	if p.node.closed.Load() {
		return fmt.Errorf("distribute: reply to %v: %w", from.Pid, ErrClosed)
	}
	if ref, ok := aliasOf(from.Tag); ok {
		if ref.Node == p.node.name {
			p.node.deliverToAlias(ref, msg)
			return nil
		}
		if peer := p.node.peerIfConnected(ref.Node); peer != nil && peer.flags&dist.Alias != 0 {
			return p.sendAlias(ctx, ref, msg)
		}
	}
	return p.Send(ctx, from.Pid, msg)
}

// replySignal is Reply for the node's own services (net_kernel): a reply
// to another node goes through the connection's signal queue
// (dist.Writer.Signal), as the node's other answers to its peers do, so
// that a peer flooding calls without reading cannot stall the service
// behind its full send buffer. Only an existing connection carries it.
func (p *Process) replySignal(ctx context.Context, from From, reply Term) {
	n := p.node
	msg := etf.Tuple{from.Tag, reply}
	ref, isAlias := aliasOf(from.Tag)
	if isAlias && ref.Node != n.name {
		if pr := n.peerIfConnected(ref.Node); pr != nil && pr.flags&dist.Alias != 0 {
			n.signalOn(ctx, pr, dist.AliasSend(p.pid, ref, msg))
			return
		}
	}
	if isAlias && ref.Node == n.name || from.Pid.Node == n.name {
		p.Reply(ctx, from, reply) // delivered here: never waits
		return
	}
	n.signal(ctx, from.Pid.Node, dist.Send(p.pid, from.Pid, msg))
}

// Call makes a gen_server call to the process to and waits for the reply,
// as gen_server:call/3: the request is {'$gen_call', {Self, Tag}, Request}.
// It returns at once with an error wrapping ErrNoProc when the target does
// not exist, ErrNodeDown when its node is unreachable or lost, an
// *ExitError when it exits before replying, and, when ctx ends, ErrTimeout
// with context.DeadlineExceeded past a deadline or context.Canceled on a
// cancel. A reply that arrives after Call returned is
// dropped: it never reaches the mailbox.
func (p *Process) Call(ctx context.Context, to Pid, request Term) (Term, error) {
	return p.call(ctx, monitorTarget{pid: to}, request)
}

// CallName is Call to the process registered as name on node (this node if
// node is empty).
func (p *Process) CallName(ctx context.Context, name, node Atom, request Term) (Term, error) {
	if node == "" {
		node = p.node.name
	}
	return p.call(ctx, monitorTarget{name: name, node: node}, request)
}

// call makes a call and records its latency (distribute.call.duration).
func (p *Process) call(ctx context.Context, target monitorTarget, request Term) (Term, error) {
	start := time.Now()
	reply, err := p.doCall(ctx, target, request)
	p.node.telemetry().recordCall(ctx, time.Since(start), err)
	return reply, err
}

func (p *Process) doCall(ctx context.Context, target monitorTarget, request Term) (Term, error) {
	var mref Ref
	var err error
	var peer *peer
	if node := target.remoteNode(p.node.name); node != "" {
		// Connect first: an unreachable node is an error at once, after a
		// single connection attempt.
		if peer, err = p.peerFor(ctx, node); err != nil {
			if ctx.Err() != nil {
				// The deadline passed while connecting: a timeout too.
				return nil, fmt.Errorf("distribute: call %s: %w", target, ctxError(ctx))
			}
			return nil, fmt.Errorf("distribute: call %s: %w", target, err)
		}
		// The monitor is sent with the request, below.
		p.mbox.setMark()
		mref, err = p.addMonitor(target)
	} else {
		p.mbox.setMark()
		mref, err = p.monitor(ctx, target)
	}
	if err != nil {
		p.mbox.clearMark()
		return nil, err
	}
	// The monitor's ref doubles as the alias the reply goes to (OTP 24+).
	n := p.node
	n.procs.mu.Lock()
	n.procs.alias[mref] = p
	n.procs.mu.Unlock()
	p.addAlias(mref)
	defer func() {
		n.procs.mu.Lock()
		delete(n.procs.alias, mref)
		n.procs.mu.Unlock()
		p.dropAlias(mref)
		dctx := ctx
		if ctx.Done() != nil {
			// The demonitor goes out even when ctx has ended.
			dctx = context.WithoutCancel(ctx)
		}
		e := p.demonitor(mref)
		p.node.apply(dctx, &e)
		// A reply or a DOWN that raced with the end of the call is
		// dropped; only what came after the mark can be either.
		p.mbox.dropAfterMark(func(m any) bool { return isCallAnswer(m, mref) })
	}()

	switch {
	case peer != nil:
		err = p.node.sendMonitored(ctx, peer, p.pid, target, mref, request)
	case target.name != "":
		err = p.SendName(ctx, target.name, target.node, callRequest(ctx, p.pid, mref, request))
	default:
		err = p.Send(ctx, target.pid, callRequest(ctx, p.pid, mref, request))
	}
	if err != nil {
		if peer != nil {
			p.fireDown(mref, ReasonNoConnection)
		}
		return nil, err
	}
	if peer != nil {
		p.monitorRacedExit(target, mref)
	}
	var lc *dist.Conn
	if peer != nil {
		lc = peer.conn
	}
	m, err := p.mbox.wait(ctx, p, func(m any) bool { return isCallAnswer(m, mref) }, true, lc, time.Time{})
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("distribute: call %s: %w", target, ctxError(ctx))
		}
		return nil, err
	}
	switch m := m.(type) {
	case Down:
		return nil, fmt.Errorf("distribute: call %s: %w", target, downError(m.Reason))
	case callReply:
		return m.reply, nil
	}
	return m.(etf.Tuple)[1], nil
}

// callReply is a call's reply as the reader read it from the wire,
// {[alias|ref], reply} without the tag made into terms (dist.In.IsReply):
// it goes only to the alias of a call under way, which takes it or, once
// ended, drops it.
type callReply struct {
	ref   Ref
	reply Term
}

// sendMonitored sends MONITOR_P for mref and then the call's request to
// target in one write on peer's connection. The request's envelope is
// written byte by byte (dist.CallOf), unless ctx carries a correlation
// id, whose tag the writer does not lay out.
func (n *Node) sendMonitored(ctx context.Context, peer *peer, from Pid, target monitorTarget, mref Ref, request Term) error {
	m := dist.CallOf(from, target.pid, target.name, mref, request)
	if _, ok := CorrelationID(ctx); ok {
		msg := callRequest(ctx, from, mref, request)
		m = dist.RegSend(from, target.name, msg)
		if target.name == "" {
			m = dist.Send(from, target.pid, msg)
		}
	}
	return peer.sendErr(peer.w.SendPair(ctx, monitorCtrl(from, target, mref), m))
}

// isCallAnswer reports whether m ends the call whose monitor and alias
// are ref: its reply or the monitor's Down.
func isCallAnswer(m any, ref Ref) bool {
	switch m := m.(type) {
	case Down:
		return m.Ref == ref
	case callReply:
		return m.ref == ref
	}
	return isReplyTo(m, ref)
}

// isReplyTo reports whether m is {[alias|ref], Reply}.
func isReplyTo(m any, ref Ref) bool {
	t, ok := m.(etf.Tuple)
	if !ok || len(t) != 2 {
		return false
	}
	r, ok := aliasOf(t[0])
	return ok && r == ref
}

// downError turns the reason of a Down into an error.
func downError(reason Term) error {
	switch reason {
	case ReasonNoProc:
		return ErrNoProc
	case ReasonNoConnection:
		return ErrNodeDown
	}
	return &ExitError{Reason: reason}
}

func (m monitorTarget) String() string {
	if m.name != "" {
		return fmt.Sprintf("{%s,%s}", m.name, m.node)
	}
	return etf.Format(m.pid)
}

// Ping checks that node answers, as net_adm:ping/1: it connects if needed
// and asks the node's net_kernel. It returns nil for pong.
func (n *Node) Ping(ctx context.Context, node Atom) error {
	p, err := n.NewProcess()
	if err != nil {
		return err
	}
	defer p.Exit(ReasonNormal)
	reply, err := p.CallName(ctx, "net_kernel", node, etf.Tuple{Atom("is_auth"), n.name})
	if err != nil {
		return fmt.Errorf("distribute: ping %s: %w", node, err)
	}
	if reply != Atom("yes") {
		return fmt.Errorf("distribute: ping %s: net_kernel answered %s: %w", node, etf.FormatLimit(reply, etf.LogTextMax), ErrNodeDown)
	}
	return nil
}
