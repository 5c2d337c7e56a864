package distribute

import (
	"context"
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
)

// The message hot paths. Sending a message and receiving one are by far
// the most frequent frames, so their control tuples are written and read
// byte by byte here instead of through etf.Tuple values (which box every
// element). Everything else, and anything these readers do not recognize,
// takes the general path.

// Bytes of the pass-through frame and the terms the hot paths use.
const (
	bPassThrough = 112
	bVersion     = etf.VersionByte
	bSmallTuple  = etf.TagSmallTuple
	bSmallInt    = etf.TagSmallInteger
	bNewPid      = etf.TagNewPid
	bSmallAtomU8 = etf.TagSmallAtomUTF8
)

// appendMessageFrame writes 112, 131 {Op, From|”, To|”, [Name]}, 131 Msg
// for SEND (2), SEND_SENDER (22) and REG_SEND (6).
func appendMessageFrame(dst []byte, op dist.Op, from Pid, to Pid, name Atom, msg Term) ([]byte, error) {
	var err error
	switch op {
	case dist.OpSend:
		dst = append(dst, bPassThrough, bVersion, bSmallTuple, 3, bSmallInt, byte(op), bSmallAtomU8, 0)
		dst, err = etf.AppendPid(dst, to)
	case dist.OpSendSender:
		dst = append(dst, bPassThrough, bVersion, bSmallTuple, 3, bSmallInt, byte(op))
		if dst, err = etf.AppendPid(dst, from); err == nil {
			dst, err = etf.AppendPid(dst, to)
		}
	case dist.OpRegSend:
		dst = append(dst, bPassThrough, bVersion, bSmallTuple, 4, bSmallInt, byte(op))
		if dst, err = etf.AppendPid(dst, from); err == nil {
			dst = append(dst, bSmallAtomU8, 0)
			dst, err = etf.AppendAtom(dst, name)
		}
	default:
		return nil, fmt.Errorf("distribute: appendMessageFrame: op %v", op)
	}
	if err != nil {
		return nil, fmt.Errorf("distribute: encode control message: %w", err)
	}
	if dst, err = etf.Append(dst, msg); err != nil {
		return nil, fmt.Errorf("distribute: encode message: %w", err)
	}
	return dst, nil
}

// sendMessage encodes a message frame into a pooled buffer and queues it.
func (n *Node) sendMessage(ctx context.Context, p *peer, op dist.Op, from, to Pid, name Atom, msg Term) error {
	bp := framePool.Get().(*[]byte)
	frame, err := appendMessageFrame((*bp)[:0], op, from, to, name, msg)
	if err == nil {
		err = p.sendErr(p.conn.Send(ctx, frame))
	}
	putFrame(bp, frame)
	return err
}

// pidSendOp is the operation for a message to a pid on p: SEND_SENDER
// when the peer takes it, else SEND.
func (p *peer) pidSendOp() dist.Op {
	if p.flags&dist.SendSender != 0 {
		return dist.OpSendSender
	}
	return dist.OpSend
}

// fastDispatch delivers SEND, SEND_SENDER and REG_SEND frames without
// decoding the control tuple into terms. It reports false, having done
// nothing, for any frame it does not recognize; the general path then
// handles (or rejects) it.
func (n *Node) fastDispatch(dec *etf.Decoder, frame []byte) (handled bool, err error) {
	if len(frame) < 6 || frame[0] != bPassThrough || frame[1] != bVersion || frame[2] != bSmallTuple || frame[4] != bSmallInt {
		return false, nil
	}
	arity, op := frame[3], dist.Op(frame[5])
	pos := 6
	var target *Process
	switch {
	case (op == dist.OpSend || op == dist.OpSendSender) && arity == 3:
		if pos = skipFrom(frame, pos, op == dist.OpSend); pos < 0 {
			return false, nil
		}
		var ok bool
		if target, pos, ok = n.readLocalPid(frame, pos); !ok {
			return false, nil
		}
	case op == dist.OpRegSend && arity == 4:
		if pos = skipFrom(frame, pos, false); pos < 0 {
			return false, nil
		}
		if pos+2 > len(frame) || frame[pos] != bSmallAtomU8 || frame[pos+1] != 0 {
			return false, nil
		}
		pos += 2
		if pos+2 > len(frame) || frame[pos] != bSmallAtomU8 {
			return false, nil
		}
		l := int(frame[pos+1])
		if pos+2+l > len(frame) {
			return false, nil
		}
		name := frame[pos+2 : pos+2+l]
		if !utf8.Valid(name) {
			return false, nil
		}
		pos += 2 + l
		n.procs.mu.RLock()
		target = n.procs.names[Atom(name)]
		n.procs.mu.RUnlock()
		if target == nil {
			n.logger.Debug("message to unregistered name dropped", "name", string(name))
		}
	default:
		return false, nil
	}
	rest := frame[pos:]
	if len(rest) == 0 {
		return false, nil // no payload: let the general path report it
	}
	msg, used, err := dec.Decode(rest)
	if err != nil {
		return true, fmt.Errorf("%w: %v payload: %w", ErrProtocol, op, err)
	}
	if used != len(rest) {
		return true, protoErr("%v: %d bytes after the payload", op, len(rest)-used)
	}
	if target != nil {
		target.deliver(msg)
	}
	return true, nil
}

// skipFrom skips the sender element: a NEW_PID_EXT, or the empty atom for
// SEND. It returns the next position, or -1 if the bytes are not that.
func skipFrom(b []byte, pos int, emptyAtom bool) int {
	if emptyAtom {
		if pos+2 <= len(b) && b[pos] == bSmallAtomU8 && b[pos+1] == 0 {
			return pos + 2
		}
		return -1
	}
	if pos+3 > len(b) || b[pos] != bNewPid || b[pos+1] != bSmallAtomU8 {
		return -1
	}
	l := int(b[pos+2])
	if end := pos + 3 + l + 12; end <= len(b) && utf8.Valid(b[pos+3:pos+3+l]) {
		return end
	}
	return -1
}

// readLocalPid reads a NEW_PID_EXT that names a process of this node and
// returns it (nil if it no longer lives, as for any dead pid). ok is false
// for bytes it does not recognize, including pids of other nodes.
func (n *Node) readLocalPid(b []byte, pos int) (p *Process, next int, ok bool) {
	if pos+3 > len(b) || b[pos] != bNewPid || b[pos+1] != bSmallAtomU8 {
		return nil, 0, false
	}
	l := int(b[pos+2])
	node := b[pos+3 : min(pos+3+l, len(b))]
	end := pos + 3 + l + 12
	if end > len(b) || string(node) != string(n.name) {
		return nil, 0, false
	}
	id := binary.BigEndian.Uint32(b[pos+3+l:])
	creation := binary.BigEndian.Uint32(b[pos+3+l+8:])
	if creation != n.creation {
		return nil, end, true // a pid of an earlier incarnation: dead
	}
	serial := binary.BigEndian.Uint32(b[pos+3+l+4:])
	n.procs.mu.RLock()
	p = n.procs.byID[id]
	n.procs.mu.RUnlock()
	if p != nil && p.pid.Serial != serial {
		p = nil
	}
	if p == nil {
		n.logger.Debug("message to a dead or unknown pid dropped", "id", id, "serial", serial)
	}
	return p, end, true
}
