package distribute

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
)

// ErrProtocol is wrapped by errors about control messages a peer sent that
// break the protocol. The peer's connection is closed; the node goes on.
var ErrProtocol = errors.New("distribute: protocol violation")

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

// errTermMax bounds the text of a peer's term inside an error (which
// reaches logs, NodeEvent.Reason and the CLI's nodedown line).
const errTermMax = 128

// termText is the text of a peer's term for an error: cut to errTermMax
// bytes, with work bounded by that, whatever the term.
func termText(t Term) string { return etf.FormatLimit(t, errTermMax) }

// limitExceeded names the limit a peer went over when err (why its
// connection closed) says so, or returns "".
func limitExceeded(err error) string {
	var de *etf.DecodeError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, dist.ErrFrameTooLarge):
		return "MaxFrameSize"
	case errors.Is(err, etf.ErrCompressed):
		return "compressed"
	case errors.Is(err, etf.ErrTooDeep):
		return "MaxDepth"
	case errors.Is(err, etf.ErrAtomBudget):
		return "MaxAtoms"
	case errors.As(err, &de) && errors.Is(err, etf.ErrTooLarge):
		switch de.Tag {
		case etf.TagSmallBig, etf.TagLargeBig:
			return "MaxBigBytes"
		case etf.TagNewFun:
			return "MemoryPerByte"
		}
		return "MaxSize"
	}
	return ""
}

// sendControlNoConnect sends a signal (an exit signal of a link, a DOWN)
// only over an existing connection: signals about a connection that is
// gone have nothing left to tell. It goes through p.signal: it does not
// wait behind a full send buffer, in order with what went before.
func (n *Node) sendControlNoConnect(ctx context.Context, node Atom, ctrl etf.Tuple, msg Term, hasMsg bool) {
	if p := n.peerIfConnected(node); p != nil {
		n.signalPeer(ctx, p, ctrl, msg, hasMsg)
	}
}

// signalPeer encodes a control message (and payload) and queues it on p
// with p.signal. Errors are logged: the connection is gone, or it failed
// because the peer stopped reading; either way nothing is left to tell.
func (n *Node) signalPeer(ctx context.Context, p *peer, ctrl etf.Tuple, msg Term, hasMsg bool) {
	bp := framePool.Get().(*[]byte)
	frame, err := appendFrame((*bp)[:0], p, ctrl, msg, hasMsg)
	if err == nil {
		err = p.signal(ctx, frame)
	}
	putFrame(bp, frame)
	if err != nil {
		n.logger.Debug("signal not sent", "peer", p.name, "err", err)
	}
}

// framePool recycles encoding buffers: Conn.Send copies the frame, so the
// buffer is free again as soon as it returns.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledFrame keeps one huge message from pinning a huge buffer.
const maxPooledFrame = 64 << 10

// putFrame returns a buffer taken from framePool, holding used (which may
// have grown from it), unless it grew past maxPooledFrame.
func putFrame(bp *[]byte, used []byte) {
	if used == nil { // encoding failed: the buffer is as it was
		framePool.Put(bp)
		return
	}
	if cap(used) > maxPooledFrame {
		return
	}
	*bp = used[:0]
	framePool.Put(bp)
}

// sendErr says a connection refused frames: it is closed (ErrNodeDown),
// or ctx ended while its send buffer was full: past a deadline the error
// wraps ErrTimeout and context.DeadlineExceeded, canceled it wraps
// context.Canceled (see ErrTimeout); not ErrNodeDown, the connection is
// up.
func (p *peer) sendErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, net.ErrClosed):
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("distribute: send to %s: %w", p.name, deadlineError{err})
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("distribute: send to %s: %w", p.name, err)
	}
	return fmt.Errorf("distribute: send to %s: %w: %w", p.name, ErrNodeDown, err)
}

func (n *Node) sendOnPeer(ctx context.Context, p *peer, ctrl etf.Tuple, msg Term, hasMsg bool) error {
	bp := framePool.Get().(*[]byte)
	frame, err := appendFrame((*bp)[:0], p, ctrl, msg, hasMsg)
	if err == nil {
		err = p.sendErr(p.send(ctx, false, frame))
	}
	putFrame(bp, frame)
	return err
}

// appendFrame encodes a frame for p: 112, 131 Ctrl [, 131 Msg] in
// pass-through mode, 131, 68, 0, Ctrl [, Msg] in header mode.
func appendFrame(dst []byte, p *peer, ctrl etf.Tuple, msg Term, hasMsg bool) ([]byte, error) {
	if !hasMsg {
		msg = nil
	}
	appendFn := dist.AppendPassThrough
	if p.flags.HeaderMode() {
		appendFn = dist.AppendHeaderFrame
	}
	out, err := appendFn(dst, ctrl, msg)
	if err != nil {
		return nil, fmt.Errorf("distribute: %w", err)
	}
	return out, nil
}

// handleFrame dispatches one frame received from p. It runs on the
// connection's reader goroutine; an error closes that connection only.
func (n *Node) handleFrame(p *peer, dec *etf.Decoder, frame []byte) error {
	var (
		ctrlTuple etf.Tuple
		msg       Term
		hasMsg    bool
		err       error
	)
	if p.hdr != nil {
		// The header's atom cache refs resolve ATOM_CACHE_REF in the terms.
		refs, body, done, rerr := p.hdr.Read(frame)
		switch {
		case rerr != nil:
			return fmt.Errorf("%w: %w", ErrProtocol, rerr)
		case !done:
			return nil // a fragment of a message still incomplete
		}
		dec.AtomRefs = refs
		// A message put back together from fragments has a buffer of its
		// own: its binaries may share it instead of being copied again.
		dec.AliasBinaries = p.hdr.Owned
		if handled, err := n.fastDispatch(dec, body, false); handled {
			return err
		}
		ctrlTuple, msg, hasMsg, err = dist.ParseBody(dec, body)
	} else {
		if len(frame) > 0 && frame[0] == bPassThrough {
			if handled, err := n.fastDispatch(dec, frame[1:], true); handled {
				return err
			}
		}
		ctrlTuple, msg, hasMsg, err = dist.ParseFrame(dec, frame)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	c, err := dist.ParseControl(ctrlTuple)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if hasMsg != c.Op.HasPayload() {
		return protoErr("%v: payload present %v, want %v", c.Op, hasMsg, c.Op.HasPayload())
	}
	return n.dispatch(p, c, msg)
}

// pidField returns a control field that must be a pid.
func pidField(c dist.Control, v Term, what string) (Pid, error) {
	pid, ok := v.(Pid)
	if !ok {
		return Pid{}, protoErr("%v: %s is %s, not a pid", c.Op, what, termText(v))
	}
	return pid, nil
}

func (n *Node) dispatch(p *peer, c dist.Control, msg Term) error {
	switch c.Op {
	case dist.OpSend, dist.OpSendTT, dist.OpSendSender, dist.OpSendSenderTT:
		to, err := pidField(c, c.To, "receiver")
		if err != nil {
			return err
		}
		if t := n.lookup(to); t != nil {
			t.deliver(msg)
		} else {
			n.logger.Debug("message to a dead or unknown pid dropped", "to", to)
		}
	case dist.OpRegSend, dist.OpRegSendTT:
		name, ok := c.To.(Atom)
		if !ok {
			return protoErr("%v: name is %s, not an atom", c.Op, termText(c.To))
		}
		n.deliverToName(name, msg)
	case dist.OpAliasSend, dist.OpAliasSendTT:
		alias, ok := c.To.(Ref)
		if !ok {
			return protoErr("%v: alias is %s, not a reference", c.Op, termText(c.To))
		}
		n.deliverToAlias(alias, msg)
	case dist.OpLink:
		from, to, err := fromTo(c)
		if err != nil {
			return err
		}
		if t := n.lookup(to); t == nil || !t.addLink(from) {
			n.reply(p, etf.Tuple{int64(dist.OpPayloadExit), to, from}, ReasonNoProc, true)
		}
	case dist.OpUnlink:
		from, to, err := fromTo(c)
		if err != nil {
			return err
		}
		if t := n.lookup(to); t != nil {
			t.mu.Lock()
			delete(t.rels().links, from)
			t.mu.Unlock()
		}
	case dist.OpUnlinkID, dist.OpUnlinkIDAck:
		from, to, err := fromTo(c)
		if err != nil {
			return err
		}
		t := n.lookup(to)
		if c.Op == dist.OpUnlinkID {
			if t != nil {
				t.mu.Lock()
				if l, ok := t.rels().links[from]; ok && l.unlinkID == 0 {
					delete(t.rels().links, from)
				}
				t.mu.Unlock()
			}
			// Acknowledge even for a dead process: the peer waits for it.
			n.reply(p, etf.Tuple{int64(dist.OpUnlinkIDAck), c.ID, to, from}, nil, false)
		} else if t != nil {
			t.mu.Lock()
			if l, ok := t.rels().links[from]; ok && l.unlinkID != 0 && etf.Equal(unlinkIDTerm(l.unlinkID), c.ID) {
				delete(t.rels().links, from)
			}
			t.mu.Unlock()
		}
	case dist.OpExit, dist.OpExitTT, dist.OpExit2, dist.OpExit2TT,
		dist.OpPayloadExit, dist.OpPayloadExitTT, dist.OpPayloadExit2, dist.OpPayloadExit2TT:
		from, to, err := fromTo(c)
		if err != nil {
			return err
		}
		reason := c.Reason
		if c.Op.HasPayload() {
			reason = msg
		}
		fromLink := c.Op == dist.OpExit || c.Op == dist.OpExitTT || c.Op == dist.OpPayloadExit || c.Op == dist.OpPayloadExitTT
		if t := n.lookup(to); t != nil {
			t.exitSignal(from, reason, fromLink)
		}
	case dist.OpMonitorP, dist.OpDemonitorP:
		from, err := pidField(c, c.From, "monitoring process")
		if err != nil {
			return err
		}
		var target *Process
		var as Atom
		switch to := c.To.(type) {
		case Pid:
			target = n.lookup(to)
		case Atom:
			target, as = n.whereis(to), to
		default:
			return protoErr("%v: target %s is neither a pid nor an atom", c.Op, termText(to))
		}
		if c.Op == dist.OpDemonitorP {
			if target != nil {
				target.mu.Lock()
				delete(target.rels().watchers, c.Ref)
				target.mu.Unlock()
			}
			return nil
		}
		if target == nil || !target.addWatcher(c.Ref, watcher{by: from, as: as}) {
			n.reply(p, etf.Tuple{int64(dist.OpPayloadMonitorPExit), c.To, from, c.Ref}, ReasonNoProc, true)
		}
	case dist.OpMonitorPExit, dist.OpPayloadMonitorPExit:
		to, err := pidField(c, c.To, "monitoring process")
		if err != nil {
			return err
		}
		reason := c.Reason
		if c.Op.HasPayload() {
			reason = msg
		}
		if t := n.lookup(to); t != nil {
			t.fireDown(c.Ref, reason)
		}
	case dist.OpGroupLeader, dist.OpNodeLink:
		// Group leaders are an I/O concept of the BEAM; nothing to do.
	case dist.OpSpawnRequest, dist.OpSpawnRequestTT:
		return n.handleSpawnRequest(p, c, msg)
	case dist.OpSpawnReply, dist.OpSpawnReplyTT:
		n.handleSpawnReply(c)
	default:
		return protoErr("unhandled control op %v", c.Op)
	}
	return nil
}

func fromTo(c dist.Control) (from, to Pid, err error) {
	if from, err = pidField(c, c.From, "sender"); err != nil {
		return
	}
	to, err = pidField(c, c.To, "receiver")
	return
}

// reply sends a signal back to the peer a frame came from (a noproc EXIT
// or DOWN, an UNLINK_ID_ACK, a refused SPAWN_REPLY). It runs on the
// reader goroutine and goes through p.signal: it does not wait behind a
// full send buffer, so two nodes that both wait to write do not
// deadlock; only a peer that reads less than it asks for makes the
// reader wait (and stop reading it), and loses its connection when its
// queue stays full for the tick time.
func (n *Node) reply(p *peer, ctrl etf.Tuple, msg Term, hasMsg bool) {
	n.signalPeer(n.ctx, p, ctrl, msg, hasMsg)
}

// deliverToName delivers a REG_SEND to a local registered process.
// Messages to names nobody holds are dropped, as Erlang does.
func (n *Node) deliverToName(name Atom, msg Term) {
	if t := n.whereis(name); t != nil {
		t.deliver(msg)
		return
	}
	n.logger.Debug("message to unregistered name dropped", "name", name)
}

// deliverToAlias delivers a message sent to an alias.
func (n *Node) deliverToAlias(alias Ref, msg Term) {
	n.procs.mu.RLock()
	t := n.procs.alias[alias]
	n.procs.mu.RUnlock()
	if t != nil {
		t.deliver(msg)
	}
}

// nodeDown fires what a lost connection to node ends: links to processes
// there get exit signals noconnection, monitors on them a Down with
// noconnection, and monitors held from there are forgotten.
func (n *Node) nodeDown(node Atom) {
	for _, p := range n.Processes() {
		var linked []Pid
		var downs []Ref
		p.mu.Lock()
		for pid, l := range p.rels().links {
			if pid.Node == node {
				delete(p.rels().links, pid)
				if l.unlinkID == 0 {
					linked = append(linked, pid)
				}
			}
		}
		for ref, m := range p.rels().monitors {
			if m.remoteNode(n.name) == node {
				downs = append(downs, ref)
			}
		}
		for ref, w := range p.rels().watchers {
			if w.by.Node == node {
				delete(p.rels().watchers, ref)
			}
		}
		p.mu.Unlock()
		for _, ref := range downs {
			p.fireDown(ref, ReasonNoConnection)
		}
		for _, pid := range linked {
			// The link is already removed: apply the signal directly.
			p.exitSignalNoLink(pid, ReasonNoConnection)
		}
	}
}

// exitSignalNoLink applies a link exit whose link entry is already gone.
func (p *Process) exitSignalNoLink(from Pid, reason Term) {
	switch {
	case p.hasFlag(flagTrapExit):
		p.deliver(Exit{From: from, Reason: reason})
	case reason == ReasonNormal:
	default:
		p.Exit(reason)
	}
}
