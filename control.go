package distribute

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/distribute-go/distribute/internal/dist"
)

// ErrProtocol is wrapped by errors about control messages a peer sent that
// break the protocol. The peer's connection is closed; the node goes on.
var ErrProtocol = errors.New("distribute: protocol violation")

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

// limitExceeded names the limit a peer went over, as Config calls it,
// when err (why its connection closed) says so, or returns "".
func limitExceeded(err error) string {
	switch dist.LimitOf(err) {
	case dist.LimitFrame:
		return "MaxFrameSize"
	case dist.LimitCompressed:
		return "compressed"
	case dist.LimitDepth:
		return "MaxDepth"
	case dist.LimitAtoms:
		return "MaxAtoms"
	case dist.LimitBigBytes:
		return "MaxBigBytes"
	case dist.LimitMemory:
		return "MemoryPerByte"
	case dist.LimitSize:
		return "MaxSize"
	}
	return ""
}

// signal queues a control message the node owes node (an exit signal of
// a link, a DOWN, a demonitor) only over an existing connection: signals
// about a connection that is gone have nothing left to tell.
func (n *Node) signal(ctx context.Context, node Atom, m dist.Out) {
	if p := n.peerIfConnected(node); p != nil {
		n.signalOn(ctx, p, m)
	}
}

// signalOn queues m on p with dist.Writer.Signal: never dropped, never
// reordered, and never waiting behind a full send buffer. Errors are
// logged: the connection is gone, or it failed because the peer stopped
// reading; either way nothing is left to tell.
func (n *Node) signalOn(ctx context.Context, p *peer, m dist.Out) {
	if err := p.w.Signal(ctx, m); err != nil {
		n.logger.Debug("signal not sent", "peer", p.name, "op", m.Op(), "err", err)
	}
}

// sendErr says a connection refused a frame: it is closed (ErrNodeDown),
// or ctx ended while its send buffer was full: past a deadline the error
// wraps ErrTimeout and context.DeadlineExceeded, canceled it wraps
// context.Canceled (see ErrTimeout); not ErrNodeDown, the connection is
// up. A frame that could not be encoded is the encoder's error.
func (p *peer) sendErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, dist.ErrEncode):
		return fmt.Errorf("distribute: send to %s: %w", p.name, err)
	case errors.Is(err, net.ErrClosed):
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("distribute: send to %s: %w", p.name, deadlineError{err})
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("distribute: send to %s: %w", p.name, err)
	}
	return fmt.Errorf("distribute: send to %s: %w: %w", p.name, ErrNodeDown, err)
}

// handleFrame reads one frame received from p and dispatches its control
// message. It runs on the connection's reader goroutine; an error closes
// that connection only.
func (n *Node) handleFrame(p *peer, frame []byte) error {
	var in dist.In
	done, err := p.r.Read(frame, &in)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	case !done:
		return nil // a fragment of a message still incomplete
	}
	if p.conn.Led() {
		if ok, err := n.dispatchLed(p, &in); ok || err != nil {
			return err
		}
		// A leader reads on a receiving process's goroutine, which must
		// not wait: this frame goes to the reader goroutine
		// (resumeFrame).
		p.handedBack = in
		return dist.ErrHandBack
	}
	return n.dispatch(p, &in)
}

// dispatchLed does, on a leader's goroutine (see dist.Conn.Lead), what a
// control message asks when that cannot wait: delivering a message,
// recording or ending a monitor, dropping a link, firing a DOWN. It
// reports false, having changed nothing, for what may wait (anything
// that sends a signal back or may end a process: a refused monitor, a
// link, an exit, a spawn, an unlink to acknowledge), which the reader
// goroutine then dispatches.
func (n *Node) dispatchLed(p *peer, in *dist.In) (bool, error) {
	switch in.Op {
	case dist.OpSend, dist.OpSendTT, dist.OpSendSender, dist.OpSendSenderTT,
		dist.OpRegSend, dist.OpRegSendTT, dist.OpAliasSend, dist.OpAliasSendTT,
		dist.OpDemonitorP, dist.OpMonitorPExit, dist.OpPayloadMonitorPExit,
		dist.OpUnlink, dist.OpUnlinkIDAck, dist.OpGroupLeader, dist.OpNodeLink:
		return true, n.dispatch(p, in)
	case dist.OpMonitorP:
		var target *Process
		if in.ToName != "" {
			target = n.whereis(in.ToName)
		} else {
			target = n.lookup(in.ToPid)
		}
		// Refused, it owes a DOWN, which only the reader goroutine sends.
		return target != nil && target.addWatcher(in.Ref, watcher{by: in.FromPid, as: in.ToName}), nil
	}
	return false, nil
}

// resumeFrame dispatches, on the reader goroutine, the frame a leader
// handed back (see handleFrame).
func (n *Node) resumeFrame(p *peer) error {
	in := p.handedBack
	p.handedBack = dist.In{}
	return n.dispatch(p, &in)
}

// dispatch does what a control message from p asks: one case per
// operation. The Reader has typed and checked the fields (dist.In).
func (n *Node) dispatch(p *peer, in *dist.In) error {
	switch in.Op {
	case dist.OpSend, dist.OpSendTT, dist.OpSendSender, dist.OpSendSenderTT:
		if t := n.lookup(in.ToPid); t != nil {
			t.deliver(in.Payload)
		} else {
			n.logger.Debug("message to a dead or unknown pid dropped", "to", in.ToPid)
		}
	case dist.OpRegSend, dist.OpRegSendTT:
		n.deliverToName(in.ToName, in.Payload)
	case dist.OpAliasSend, dist.OpAliasSendTT:
		if in.IsReply {
			n.deliverToAlias(in.Alias, callReply{ref: in.Alias, reply: in.Reply})
		} else {
			n.deliverToAlias(in.Alias, in.Payload)
		}
	case dist.OpLink:
		from, to := in.FromPid, in.ToPid
		if t := n.lookup(to); t == nil || !t.addLink(from) {
			n.reply(p, dist.PayloadExit(to, from, ReasonNoProc))
		}
	case dist.OpUnlink:
		if t := n.lookup(in.ToPid); t != nil {
			t.dropLink(in.FromPid)
		}
	case dist.OpUnlinkID:
		from, to := in.FromPid, in.ToPid
		if t := n.lookup(to); t != nil {
			t.unlinkRequested(from)
		}
		// Acknowledge even for a dead process: the peer waits for it.
		n.reply(p, dist.UnlinkIDAck(in.ID, to, from))
	case dist.OpUnlinkIDAck:
		from := in.FromPid
		id, ok := dist.UnlinkIDValue(in.ID)
		if t := n.lookup(in.ToPid); t != nil && ok {
			t.unlinkAcked(from, id)
		}
	case dist.OpExit, dist.OpExitTT, dist.OpPayloadExit, dist.OpPayloadExitTT:
		if t := n.lookup(in.ToPid); t != nil {
			t.exitSignal(in.FromPid, in.Reason, true)
		}
	case dist.OpExit2, dist.OpExit2TT, dist.OpPayloadExit2, dist.OpPayloadExit2TT:
		if t := n.lookup(in.ToPid); t != nil {
			t.exitSignal(in.FromPid, in.Reason, false)
		}
	case dist.OpMonitorP, dist.OpDemonitorP:
		from := in.FromPid
		var target *Process
		if in.ToName != "" {
			target = n.whereis(in.ToName)
		} else {
			target = n.lookup(in.ToPid)
		}
		if in.Op == dist.OpDemonitorP {
			if target != nil {
				target.dropWatcher(in.Ref)
			}
			return nil
		}
		if target == nil || !target.addWatcher(in.Ref, watcher{by: from, as: in.ToName}) {
			n.reply(p, dist.PayloadMonitorPExit(in.To, from, in.Ref, ReasonNoProc))
		}
	case dist.OpMonitorPExit, dist.OpPayloadMonitorPExit:
		if t := n.lookup(in.ToPid); t != nil {
			t.fireDown(in.Ref, in.Reason)
		}
	case dist.OpGroupLeader, dist.OpNodeLink:
		// Group leaders are an I/O concept of the BEAM; nothing to do.
	case dist.OpSpawnRequest, dist.OpSpawnRequestTT:
		n.handleSpawnRequest(p, in)
	case dist.OpSpawnReply, dist.OpSpawnReplyTT:
		n.handleSpawnReply(in)
	default:
		return protoErr("unhandled control op %v", in.Op)
	}
	return nil
}

// reply sends a signal back to the peer a frame came from (a noproc EXIT
// or DOWN, an UNLINK_ID_ACK, a refused SPAWN_REPLY). It runs on the
// reader goroutine and goes through p's signal queue: it does not wait
// behind a full send buffer, so two nodes that both wait to write do not
// deadlock; only a peer that reads less than it asks for makes the
// reader wait (and stop reading it), and loses its connection when its
// queue stays full for the tick time.
func (n *Node) reply(p *peer, m dist.Out) {
	n.signalOn(n.ctx, p, m)
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
