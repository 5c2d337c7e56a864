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

// Bytes of the frames and the terms the hot paths use.
const (
	bPassThrough = 112
	bVersion     = etf.VersionByte
	bSmallTuple  = etf.TagSmallTuple
	bSmallInt    = etf.TagSmallInteger
	bNewPid      = etf.TagNewPid
	bSmallAtomU8 = etf.TagSmallAtomUTF8
)

// Slots of the atom cache (header mode) that our message frames use for
// the atoms in nearly every control message: the empty atom, our node
// name and the peer's. The first frames of a connection store them; once
// one of those is queued (peer.cacheSent) later frames only refer to them.
const (
	slotEmpty = 0
	slotSelf  = 1
	slotPeer  = 2
	refEmpty  = 0 // their indexes in the header's refs
	refSelf   = 1
	refPeer   = 2
	bAtomRef  = etf.TagAtomCacheRef
)

// The headers of our message frames in header mode once the fixed entries
// are stored (cachedHeader), and to a peer with Fragments but no atom
// cache (noRefsHeader): 131, 68, 3, 0, 0, 0, 1, 2 and 131, 68, 0.
var (
	cachedHeader = mustHeader(dist.HeaderRef{Slot: slotEmpty}, dist.HeaderRef{Slot: slotSelf}, dist.HeaderRef{Slot: slotPeer})
	noRefsHeader = mustHeader()
)

func mustHeader(refs ...dist.HeaderRef) []byte {
	h, err := dist.AppendHeader(nil, refs...)
	if err != nil {
		panic(err)
	}
	return h
}

// appendMessageFrame writes a SEND (2), SEND_SENDER (22) or REG_SEND (6)
// frame for p. In pass-through mode: 112, 131 {Op, From or the empty
// atom, To or the empty atom, [Name]}, 131 Msg. In header mode: 131, 68
// and the three fixed atom cache refs (none when only Fragments was
// negotiated), then the terms without version bytes, with the empty atom
// and the two node names as cache refs. stored reports whether the header
// stores the fixed entries: send such a frame with p.send.
func (n *Node) appendMessageFrame(dst []byte, p *peer, op dist.Op, from Pid, to Pid, name Atom, msg Term) (frame []byte, stored bool, err error) {
	appendTerm := etf.AppendTerm
	refs := p.flags&dist.DistHdrAtomCache != 0
	switch {
	case refs && p.cacheSent.Load():
		dst = append(dst, cachedHeader...)
	case refs:
		stored = true
		if dst, err = dist.AppendHeader(dst,
			dist.HeaderRef{Slot: slotEmpty, New: true, Atom: ""},
			dist.HeaderRef{Slot: slotSelf, New: true, Atom: n.name},
			dist.HeaderRef{Slot: slotPeer, New: true, Atom: p.name}); err != nil {
			return nil, false, fmt.Errorf("distribute: encode header: %w", err)
		}
	case p.flags.HeaderMode():
		dst = append(dst, noRefsHeader...)
	default:
		dst = append(dst, bPassThrough, bVersion)
		appendTerm = etf.Append
	}
	empty := func(b []byte) []byte {
		if refs {
			return append(b, bAtomRef, refEmpty)
		}
		return append(b, bSmallAtomU8, 0)
	}
	pid := func(b []byte, pid Pid) ([]byte, error) {
		switch {
		case refs && pid.Node == n.name:
			return appendCachedPid(b, refSelf, pid), nil
		case refs && pid.Node == p.name:
			return appendCachedPid(b, refPeer, pid), nil
		}
		return etf.AppendPid(b, pid)
	}
	switch op {
	case dist.OpSend:
		dst = empty(append(dst, bSmallTuple, 3, bSmallInt, byte(op)))
		dst, err = pid(dst, to)
	case dist.OpSendSender:
		dst = append(dst, bSmallTuple, 3, bSmallInt, byte(op))
		if dst, err = pid(dst, from); err == nil {
			dst, err = pid(dst, to)
		}
	case dist.OpRegSend:
		dst = append(dst, bSmallTuple, 4, bSmallInt, byte(op))
		if dst, err = pid(dst, from); err == nil {
			dst, err = etf.AppendAtom(empty(dst), name)
		}
	default:
		return nil, false, fmt.Errorf("distribute: appendMessageFrame: op %v", op)
	}
	if err != nil {
		return nil, false, fmt.Errorf("distribute: encode control message: %w", err)
	}
	if dst, err = appendTerm(dst, msg); err != nil {
		return nil, false, fmt.Errorf("distribute: encode message: %w", err)
	}
	return dst, stored, nil
}

// appendCachedPid writes NEW_PID_EXT with its node as ATOM_CACHE_REF ref.
func appendCachedPid(b []byte, ref byte, pid Pid) []byte {
	b = append(b, bNewPid, bAtomRef, ref)
	b = binary.BigEndian.AppendUint32(b, pid.ID)
	b = binary.BigEndian.AppendUint32(b, pid.Serial)
	return binary.BigEndian.AppendUint32(b, pid.Creation)
}

// send queues frames on p's connection (conn.Send). stored says they
// store the fixed atom cache entries (appendMessageFrame): once they are
// queued, frames encoded from then on go out after them and may refer to
// the entries. A frame longer than dist.FragmentSize goes out in
// fragments when p has Fragments (see sendFragments).
func (p *peer) send(ctx context.Context, stored bool, frames ...[]byte) error {
	if p.flags&dist.Fragments != 0 {
		for i, f := range frames {
			if len(f) > dist.FragmentSize {
				return p.sendFragments(ctx, stored, frames, i)
			}
		}
	}
	err := p.conn.Send(ctx, frames...)
	if err == nil && stored {
		p.cacheSent.Store(true)
	}
	return err
}

// signal queues frames the node owes the peer (dist.Conn.Signal): a reply
// to its control messages or a signal of an exiting process. Never
// dropped, never reordered, and never waiting behind a full send buffer
// (see dist.Conn.Signal). A frame longer than dist.FragmentSize goes out
// in fragments when p has Fragments.
func (p *peer) signal(ctx context.Context, frame []byte) error {
	if p.flags&dist.Fragments == 0 || len(frame) <= dist.FragmentSize {
		return p.conn.Signal(ctx, frame)
	}
	f, err := dist.NewFragmenter(frame, p.fragSeq.Add(1), dist.FragmentSize)
	if err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx) // once the first is queued, the rest follow
	for buf := make([]byte, 0, dist.FragmentSize); ; {
		var ok bool
		if buf, ok = f.Next(buf[:0]); !ok {
			return nil
		}
		if err := p.conn.Signal(ctx, buf); err != nil {
			return err
		}
	}
}

// sendFragments is send with frames[i], a large one, cut into fragments,
// each queued on its own, so that other processes' frames can go out
// between them instead of waiting for the whole message, as with ERTS.
// Frames from one sender stay in order. Once the first fragment is queued
// the rest go out whatever ctx does: the peer holds the sequence until it
// is complete. The fragments are cut one at a time into one buffer, which
// Send copies, so a large message is not copied whole again.
func (p *peer) sendFragments(ctx context.Context, stored bool, frames [][]byte, i int) error {
	f, err := dist.NewFragmenter(frames[i], p.fragSeq.Add(1), dist.FragmentSize)
	if err != nil {
		return err
	}
	first, _ := f.Next(make([]byte, 0, dist.FragmentSize))
	if err := p.conn.Send(ctx, append(frames[:i:i], first)...); err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx) // the rest goes out whatever ctx does
	for buf := first; ; {
		var ok bool
		if buf, ok = f.Next(buf[:0]); !ok {
			break
		}
		if err := p.conn.Send(ctx, buf); err != nil {
			return err
		}
	}
	if i+1 < len(frames) {
		return p.send(ctx, stored, frames[i+1:]...)
	}
	if stored {
		p.cacheSent.Store(true)
	}
	return nil
}

// sendMessage encodes a message frame into a pooled buffer and queues it.
func (n *Node) sendMessage(ctx context.Context, p *peer, op dist.Op, from, to Pid, name Atom, msg Term) error {
	bp := framePool.Get().(*[]byte)
	frame, stored, err := n.appendMessageFrame((*bp)[:0], p, op, from, to, name, msg)
	if err == nil {
		err = p.sendErr(p.send(ctx, stored, frame))
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
// decoding the control tuple into terms. body is the frame from its
// control term on: with version bytes (versioned, pass-through mode) or
// without them, its atoms possibly ATOM_CACHE_REFs to dec.AtomRefs
// (header mode). It reports false, having done nothing, for any frame it
// does not recognize; the general path then handles (or rejects) it.
func (n *Node) fastDispatch(dec *etf.Decoder, body []byte, versioned bool) (handled bool, err error) {
	pos := 0
	if versioned {
		if len(body) == 0 || body[0] != bVersion {
			return false, nil
		}
		pos = 1
	}
	if len(body) < pos+4 || body[pos] != bSmallTuple || body[pos+2] != bSmallInt {
		return false, nil
	}
	arity, op := body[pos+1], dist.Op(body[pos+3])
	pos += 4
	refs := dec.AtomRefs
	var target *Process
	switch {
	case (op == dist.OpSend || op == dist.OpSendSender) && arity == 3:
		if pos = skipFrom(body, pos, op == dist.OpSend, refs); pos < 0 {
			return false, nil
		}
		var ok bool
		if target, pos, ok = n.readLocalPid(body, pos, refs); !ok {
			return false, nil
		}
	case op == dist.OpRegSend && arity == 4:
		if pos = skipFrom(body, pos, false, refs); pos < 0 {
			return false, nil
		}
		text, ref, next := readAtom(body, pos, refs)
		if next < 0 || (text != nil || ref != "") {
			return false, nil // not the empty atom
		}
		if text, ref, pos = readAtom(body, next, refs); pos < 0 {
			return false, nil
		}
		n.procs.mu.RLock()
		if text != nil {
			target = n.procs.names[Atom(text)]
		} else {
			target = n.procs.names[ref]
		}
		n.procs.mu.RUnlock()
		if target == nil {
			n.logger.Debug("message to unregistered name dropped", "name", atomString(text, ref))
		}
	default:
		return false, nil
	}
	rest := body[pos:]
	if len(rest) == 0 {
		return false, nil // no payload: let the general path report it
	}
	var msg Term
	var used int
	if versioned {
		msg, used, err = dec.Decode(rest)
	} else {
		msg, used, err = dec.DecodeTerm(rest)
	}
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

// readAtom reads the atom at b[pos]: SMALL_ATOM_UTF8, whose text it
// returns (non-nil, aliasing b, for a non-empty atom), or ATOM_CACHE_REF,
// whose atom it returns as ref. The empty atom is nil text and "" ref.
// next is -1 for anything else, malformed or out of range.
func readAtom(b []byte, pos int, refs []etf.Atom) (text []byte, ref Atom, next int) {
	if pos+2 > len(b) {
		return nil, "", -1
	}
	switch b[pos] {
	case bSmallAtomU8:
		l := int(b[pos+1])
		if pos+2+l > len(b) || !utf8.Valid(b[pos+2:pos+2+l]) {
			return nil, "", -1
		}
		if l == 0 {
			return nil, "", pos + 2
		}
		return b[pos+2 : pos+2+l], "", pos + 2 + l
	case bAtomRef:
		i := int(b[pos+1])
		if i >= len(refs) {
			return nil, "", -1
		}
		return nil, refs[i], pos + 2
	}
	return nil, "", -1
}

func atomString(text []byte, ref Atom) string {
	if text != nil {
		return string(text)
	}
	return string(ref)
}

// skipFrom skips the sender element: a NEW_PID_EXT, or the empty atom for
// SEND. It returns the next position, or -1 if the bytes are not that.
func skipFrom(b []byte, pos int, emptyAtom bool, refs []etf.Atom) int {
	if emptyAtom {
		if text, ref, next := readAtom(b, pos, refs); next > 0 && text == nil && ref == "" {
			return next
		}
		return -1
	}
	if pos >= len(b) || b[pos] != bNewPid {
		return -1
	}
	if _, _, next := readAtom(b, pos+1, refs); next > 0 && next+12 <= len(b) {
		return next + 12
	}
	return -1
}

// readLocalPid reads a NEW_PID_EXT that names a process of this node and
// returns it (nil if it no longer lives, as for any dead pid). ok is false
// for bytes it does not recognize, including pids of other nodes.
func (n *Node) readLocalPid(b []byte, pos int, refs []etf.Atom) (p *Process, next int, ok bool) {
	if pos >= len(b) || b[pos] != bNewPid {
		return nil, 0, false
	}
	text, ref, at := readAtom(b, pos+1, refs)
	if at < 0 || at+12 > len(b) {
		return nil, 0, false
	}
	if text != nil && string(text) != string(n.name) || text == nil && ref != n.name {
		return nil, 0, false
	}
	end := at + 12
	id := binary.BigEndian.Uint32(b[at:])
	serial := binary.BigEndian.Uint32(b[at+4:])
	creation := binary.BigEndian.Uint32(b[at+8:])
	if creation != n.creation {
		return nil, end, true // a pid of an earlier incarnation: dead
	}
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
