package distribute

import (
	"context"
	"errors"
	"fmt"

	"github.com/distribute-go/distribute/etf"
)

// Control message operations (erlang-distribution.md section 5).
const (
	ctrlLink                = 1
	ctrlSend                = 2
	ctrlExit                = 3
	ctrlUnlink              = 4
	ctrlRegSend             = 6
	ctrlGroupLeader         = 7
	ctrlExit2               = 8
	ctrlSendTT              = 12
	ctrlExitTT              = 13
	ctrlRegSendTT           = 16
	ctrlExit2TT             = 18
	ctrlMonitorP            = 19
	ctrlDemonitorP          = 20
	ctrlMonitorPExit        = 21
	ctrlSendSender          = 22
	ctrlSendSenderTT        = 23
	ctrlPayloadExit         = 24
	ctrlPayloadExitTT       = 25
	ctrlPayloadExit2        = 26
	ctrlPayloadExit2TT      = 27
	ctrlPayloadMonitorPExit = 28
	ctrlSpawnRequest        = 29
	ctrlSpawnRequestTT      = 30
	ctrlSpawnReply          = 31
	ctrlSpawnReplyTT        = 32
	ctrlAliasSend           = 33
	ctrlAliasSendTT         = 34
	ctrlUnlinkID            = 35
	ctrlUnlinkIDAck         = 36
)

// passThrough starts every frame when neither the atom cache nor
// fragments are negotiated (we never negotiate them).
const passThrough = 112

// ErrProtocol is wrapped by errors about control messages a peer sent that
// break the protocol. The peer's connection is closed; the node goes on.
var ErrProtocol = errors.New("distribute: protocol violation")

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

// sendControl sends a control message (and a payload when hasMsg) to node,
// connecting first if needed. It blocks while the connection's send buffer
// is full, until ctx ends.
func (n *Node) sendControl(ctx context.Context, node Atom, ctrl etf.Tuple, msg Term, hasMsg bool) error {
	p, err := n.getPeer(ctx, node)
	if err != nil {
		return err
	}
	return n.sendOnPeer(ctx, p, ctrl, msg, hasMsg)
}

// sendControlNoConnect sends only over an existing connection: signals
// about a connection that is gone have nothing left to tell.
func (n *Node) sendControlNoConnect(ctx context.Context, node Atom, ctrl etf.Tuple, msg Term, hasMsg bool) {
	if p := n.peerIfConnected(node); p != nil {
		if err := n.sendOnPeer(ctx, p, ctrl, msg, hasMsg); err != nil {
			n.logger.Debug("signal not sent", "peer", node, "err", err)
		}
	}
}

func (n *Node) sendOnPeer(ctx context.Context, p *peer, ctrl etf.Tuple, msg Term, hasMsg bool) error {
	frame, err := appendFrame(nil, ctrl, msg, hasMsg)
	if err != nil {
		return err
	}
	if err := p.conn.Send(ctx, frame); err != nil {
		return fmt.Errorf("distribute: send to %s: %w: %w", p.name, ErrNodeDown, err)
	}
	return nil
}

// appendFrame encodes a pass-through frame: 112, 131 Ctrl [, 131 Msg].
func appendFrame(dst []byte, ctrl etf.Tuple, msg Term, hasMsg bool) ([]byte, error) {
	dst = append(dst, passThrough)
	dst, err := etf.Append(dst, ctrl)
	if err != nil {
		return nil, fmt.Errorf("distribute: encode control message: %w", err)
	}
	if hasMsg {
		if dst, err = etf.Append(dst, msg); err != nil {
			return nil, fmt.Errorf("distribute: encode message: %w", err)
		}
	}
	return dst, nil
}

// handleFrame dispatches one frame received from p. It runs on the
// connection's reader goroutine; an error closes that connection only.
func (n *Node) handleFrame(p *peer, dec *etf.Decoder, frame []byte) error {
	if len(frame) == 0 || frame[0] != passThrough {
		return protoErr("frame does not start with 112 (pass-through)")
	}
	ctrlTerm, used, err := dec.Decode(frame[1:])
	if err != nil {
		return fmt.Errorf("%w: control message: %w", ErrProtocol, err)
	}
	ctrl, ok := ctrlTerm.(etf.Tuple)
	if !ok || len(ctrl) == 0 {
		return protoErr("control message is not a tuple: %s", etf.Format(ctrlTerm))
	}
	op, ok := ctrl[0].(int64)
	if !ok {
		return protoErr("control message op is not an integer: %s", etf.Format(ctrlTerm))
	}
	rest := frame[1+used:]
	var msg Term
	hasMsg := len(rest) > 0
	if hasMsg {
		m, used, err := dec.Decode(rest)
		if err != nil {
			return fmt.Errorf("%w: message of control op %d: %w", ErrProtocol, op, err)
		}
		if used != len(rest) {
			return protoErr("%d trailing bytes after the message of op %d", len(rest)-used, op)
		}
		msg = m
	}
	return n.dispatch(p, op, ctrl, msg, hasMsg)
}

// field returns ctrl[i] as T, or a protocol error.
func field[T any](ctrl etf.Tuple, i int) (T, error) {
	var zero T
	if i >= len(ctrl) {
		return zero, protoErr("control op %v has %d elements, want more than %d", ctrl[0], len(ctrl), i)
	}
	v, ok := ctrl[i].(T)
	if !ok {
		return zero, protoErr("control op %v element %d is %s, want %T", ctrl[0], i, etf.Format(ctrl[i]), zero)
	}
	return v, nil
}

func wantLen(ctrl etf.Tuple, n int, hasMsg, wantMsg bool) error {
	if len(ctrl) != n {
		return protoErr("control op %v has %d elements, want %d", ctrl[0], len(ctrl), n)
	}
	if hasMsg != wantMsg {
		return protoErr("control op %v: payload present %v, want %v", ctrl[0], hasMsg, wantMsg)
	}
	return nil
}

func (n *Node) dispatch(p *peer, op int64, ctrl etf.Tuple, msg Term, hasMsg bool) error {
	switch op {
	case ctrlSend, ctrlSendTT, ctrlSendSender, ctrlSendSenderTT:
		size := map[int64]int{ctrlSend: 3, ctrlSendTT: 4, ctrlSendSender: 3, ctrlSendSenderTT: 4}[op]
		if err := wantLen(ctrl, size, hasMsg, true); err != nil {
			return err
		}
		to, err := field[Pid](ctrl, 2)
		if err != nil {
			return err
		}
		if t := n.lookup(to); t != nil {
			t.deliver(msg)
		}
	case ctrlRegSend, ctrlRegSendTT:
		if err := wantLen(ctrl, map[int64]int{ctrlRegSend: 4, ctrlRegSendTT: 5}[op], hasMsg, true); err != nil {
			return err
		}
		from, err := field[Pid](ctrl, 1)
		if err != nil {
			return err
		}
		name, err := field[Atom](ctrl, 3)
		if err != nil {
			return err
		}
		n.deliverToName(p, from, name, msg)
	case ctrlAliasSend, ctrlAliasSendTT:
		if err := wantLen(ctrl, map[int64]int{ctrlAliasSend: 3, ctrlAliasSendTT: 4}[op], hasMsg, true); err != nil {
			return err
		}
		alias, err := field[Ref](ctrl, 2)
		if err != nil {
			return err
		}
		n.deliverToAlias(alias, msg)
	case ctrlLink:
		if err := wantLen(ctrl, 3, hasMsg, false); err != nil {
			return err
		}
		from, to, err := fromTo(ctrl)
		if err != nil {
			return err
		}
		if t := n.lookup(to); t == nil || !t.addLink(from) {
			n.reply(p, etf.Tuple{int64(ctrlPayloadExit), to, from}, ReasonNoProc, true)
		}
	case ctrlUnlink:
		if err := wantLen(ctrl, 3, hasMsg, false); err != nil {
			return err
		}
		from, to, err := fromTo(ctrl)
		if err != nil {
			return err
		}
		if t := n.lookup(to); t != nil {
			t.mu.Lock()
			delete(t.links, from)
			t.mu.Unlock()
		}
	case ctrlUnlinkID, ctrlUnlinkIDAck:
		if err := wantLen(ctrl, 4, hasMsg, false); err != nil {
			return err
		}
		id := ctrl[1]
		from, err := field[Pid](ctrl, 2)
		if err != nil {
			return err
		}
		to, err := field[Pid](ctrl, 3)
		if err != nil {
			return err
		}
		t := n.lookup(to)
		if op == ctrlUnlinkID {
			if t != nil {
				t.mu.Lock()
				if l, ok := t.links[from]; ok && l.unlinkID == 0 {
					delete(t.links, from)
				}
				t.mu.Unlock()
			}
			// Acknowledge even for a dead process: the peer waits for it.
			n.reply(p, etf.Tuple{int64(ctrlUnlinkIDAck), id, to, from}, nil, false)
		} else if t != nil {
			t.mu.Lock()
			if l, ok := t.links[from]; ok && l.unlinkID != 0 && etf.Equal(unlinkIDTerm(l.unlinkID), id) {
				delete(t.links, from)
			}
			t.mu.Unlock()
		}
	case ctrlExit, ctrlExitTT, ctrlExit2, ctrlExit2TT:
		size := map[int64]int{ctrlExit: 4, ctrlExitTT: 5, ctrlExit2: 4, ctrlExit2TT: 5}[op]
		if err := wantLen(ctrl, size, hasMsg, false); err != nil {
			return err
		}
		from, to, err := fromTo(ctrl)
		if err != nil {
			return err
		}
		if t := n.lookup(to); t != nil {
			t.exitSignal(from, ctrl[len(ctrl)-1], op == ctrlExit || op == ctrlExitTT)
		}
	case ctrlPayloadExit, ctrlPayloadExitTT, ctrlPayloadExit2, ctrlPayloadExit2TT:
		size := map[int64]int{ctrlPayloadExit: 3, ctrlPayloadExitTT: 4, ctrlPayloadExit2: 3, ctrlPayloadExit2TT: 4}[op]
		if err := wantLen(ctrl, size, hasMsg, true); err != nil {
			return err
		}
		from, to, err := fromTo(ctrl)
		if err != nil {
			return err
		}
		if t := n.lookup(to); t != nil {
			t.exitSignal(from, msg, op == ctrlPayloadExit || op == ctrlPayloadExitTT)
		}
	case ctrlMonitorP, ctrlDemonitorP:
		if err := wantLen(ctrl, 4, hasMsg, false); err != nil {
			return err
		}
		from, err := field[Pid](ctrl, 1)
		if err != nil {
			return err
		}
		ref, err := field[Ref](ctrl, 3)
		if err != nil {
			return err
		}
		var target *Process
		var as Atom
		switch to := ctrl[2].(type) {
		case Pid:
			target = n.lookup(to)
		case Atom:
			target, as = n.whereis(to), to
		default:
			return protoErr("monitor target %s is neither a pid nor an atom", etf.Format(to))
		}
		if op == ctrlDemonitorP {
			if target != nil {
				target.mu.Lock()
				delete(target.watchers, ref)
				target.mu.Unlock()
			}
			return nil
		}
		if target == nil || !target.addWatcher(ref, watcher{by: from, as: as}) {
			n.reply(p, etf.Tuple{int64(ctrlPayloadMonitorPExit), ctrl[2], from, ref}, ReasonNoProc, true)
		}
	case ctrlMonitorPExit, ctrlPayloadMonitorPExit:
		size := map[int64]int{ctrlMonitorPExit: 5, ctrlPayloadMonitorPExit: 4}[op]
		if err := wantLen(ctrl, size, hasMsg, op == ctrlPayloadMonitorPExit); err != nil {
			return err
		}
		to, err := field[Pid](ctrl, 2)
		if err != nil {
			return err
		}
		ref, err := field[Ref](ctrl, 3)
		if err != nil {
			return err
		}
		reason := msg
		if op == ctrlMonitorPExit {
			reason = ctrl[4]
		}
		if t := n.lookup(to); t != nil {
			t.fireDown(ref, reason)
		}
	case ctrlGroupLeader:
		// Group leaders are an I/O concept of the BEAM; nothing to do.
	case ctrlSpawnRequest, ctrlSpawnRequestTT:
		return n.handleSpawnRequest(p, op, ctrl, msg, hasMsg)
	case ctrlSpawnReply, ctrlSpawnReplyTT:
		// Replies to spawn requests this node made.
		n.handleSpawnReply(ctrl)
	default:
		return protoErr("unknown control op %d", op)
	}
	return nil
}

func fromTo(ctrl etf.Tuple) (from, to Pid, err error) {
	if from, err = field[Pid](ctrl, 1); err != nil {
		return
	}
	to, err = field[Pid](ctrl, 2)
	return
}

// reply sends a signal back to the peer a frame came from. It runs on the
// reader goroutine, so it must not wait on a full send buffer: that could
// deadlock two nodes that both wait to write.
func (n *Node) reply(p *peer, ctrl etf.Tuple, msg Term, hasMsg bool) {
	frame, err := appendFrame(nil, ctrl, msg, hasMsg)
	if err != nil {
		n.logger.Error("encode reply", "err", err)
		return
	}
	// A canceled context makes Send queue the frame only if there is room.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.conn.Send(done, frame); err == nil || !errors.Is(err, context.Canceled) {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		p.conn.Send(n.ctx, frame)
	}()
}

// deliverToName delivers a REG_SEND to a local registered process.
// Messages to names nobody holds are dropped, as Erlang does.
func (n *Node) deliverToName(p *peer, from Pid, name Atom, msg Term) {
	if t := n.whereis(name); t != nil {
		t.deliver(msg)
		return
	}
	n.logger.Debug("message to unregistered name dropped", "name", name, "from", from)
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
		for pid, l := range p.links {
			if pid.Node == node {
				delete(p.links, pid)
				if l.unlinkID == 0 {
					linked = append(linked, pid)
				}
			}
		}
		for ref, m := range p.monitors {
			if m.remoteNode(n.name) == node {
				downs = append(downs, ref)
			}
		}
		for ref, w := range p.watchers {
			if w.by.Node == node {
				delete(p.watchers, ref)
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
	case p.trapExit.Load():
		p.deliver(Exit{From: from, Reason: reason})
	case reason == ReasonNormal:
	default:
		p.Exit(reason)
	}
}
