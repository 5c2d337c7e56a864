package dist

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/distribute-go/distribute/etf"
)

// ErrEncode: a control message or payload could not be encoded (a term
// the external format cannot hold, a payload callback's error, a binary
// over 4 GiB). Nothing was queued; the connection is fine.
var ErrEncode = errors.New("dist: cannot encode")

// Slots of the atom cache (header mode) that a Writer's message frames
// use for the atoms in nearly every one: the empty atom, our node name and
// the peer's. The first message frame of a connection stores them; once
// that frame is queued, later frames only refer to them.
const (
	slotEmpty = 0
	slotSelf  = 1
	slotPeer  = 2
	refEmpty  = 0 // their indexes in the header's refs
	refSelf   = 1
	refPeer   = 2
)

// The headers of message frames in header mode once the fixed entries
// are stored (cachedHeader), and to a peer with Fragments but no atom
// cache (noRefsHeader): 131, 68, 3, 0, 0, 0, 1, 2 and 131, 68, 0.
var (
	cachedHeader = mustHeader(HeaderRef{Slot: slotEmpty}, HeaderRef{Slot: slotSelf}, HeaderRef{Slot: slotPeer})
	noRefsHeader = mustHeader()
)

func mustHeader(refs ...HeaderRef) []byte {
	h, err := AppendHeader(nil, refs...)
	if err != nil {
		panic(err)
	}
	return h
}

// Writer encodes the control messages of one connection and queues them
// on its Conn. It owns what the bytes depend on: the negotiated flags
// (pass-through or header framing, SEND_SENDER, fragments), both node
// names, the sending side of the atom cache, and the numbering of
// fragment sequences. Frames longer than FragmentSize go out in
// fragments when the peer has Fragments, so that other processes' frames
// can go out between them. All methods are safe for concurrent use; the
// frames of one goroutine go out in the order of its calls.
//
// Three ways to queue, one queue (so order between them is kept):
//
//	Send            waits while the send buffer is full (Conn.Send): what a process sends
//	Signal          never waits behind a full buffer (Conn.Signal): what the node owes its
//	                peer (replies to its control messages, exit signals, DOWNs)
//	SignalDeferred  Signal that may wait for the next write, up to DeferDelay (Conn.Defer):
//	                what nobody waits for (a demonitor, a spawn reply)
//
// Errors from the queue wrap net.ErrClosed (the connection is gone) or
// ctx's error; errors from encoding wrap ErrEncode.
type Writer struct {
	conn        *Conn
	flags       Flags
	local, peer etf.Atom
	// cacheSent: a frame storing the fixed atom cache entries is queued,
	// so frames encoded from now on may refer to them.
	cacheSent atomic.Bool
	// seq numbers the fragment sequences sent.
	seq atomic.Uint64
}

// NewWriter returns the writer of conn, whose negotiated flags are flags,
// between our node local and the peer node peer. conn may be nil for a
// writer that only encodes (tests).
func NewWriter(conn *Conn, flags Flags, local, peer etf.Atom) *Writer {
	return &Writer{conn: conn, flags: flags, local: local, peer: peer}
}

// Flags returns the connection's negotiated flags.
func (w *Writer) Flags() Flags { return w.flags }

// Sequences returns how many fragment sequences the writer has started.
func (w *Writer) Sequences() uint64 { return w.seq.Load() }

// Send encodes m and queues it; it waits while the send buffer is full,
// until ctx ends (see Conn.Send).
func (w *Writer) Send(ctx context.Context, m Out) error {
	return w.write(ctx, sendNow, &m, nil, nil)
}

// SendBinary is Send with m's payload a binary whose bytes appendBytes
// appends to dst (and returns, as append does): the writer writes the
// binary's tag and length around them, so a typed message is encoded
// straight into its frame. An error from appendBytes fails the send with
// that error (wrapped in ErrEncode) and nothing is queued. appendBytes is
// called once, before SendBinary returns, and not kept.
func (w *Writer) SendBinary(ctx context.Context, m Out, appendBytes func(dst []byte) ([]byte, error)) error {
	return w.write(ctx, sendNow, &m, appendBytes, nil)
}

// SendPair queues first and then second in one write (a call's monitor
// and its request). It waits as Send does.
func (w *Writer) SendPair(ctx context.Context, first, second Out) error {
	return w.write(ctx, sendNow, &first, nil, &second)
}

// Signal encodes m and queues it without waiting behind a full send
// buffer, in order with what went before (see Conn.Signal).
func (w *Writer) Signal(ctx context.Context, m Out) error {
	return w.write(ctx, sendNow|sendSignal, &m, nil, nil)
}

// SignalDeferred is Signal for a frame nobody waits for: it goes out with
// the connection's next write, or after DeferDelay (see Conn.Defer).
func (w *Writer) SignalDeferred(ctx context.Context, m Out) error {
	return w.write(ctx, sendDefer|sendSignal, &m, nil, nil)
}

// binaryFunc appends the bytes of a binary payload (SendBinary). It
// travels apart from the Out: a term payload's memory may escape into
// an error, and the escape analysis would take the function with it.
type binaryFunc = func(dst []byte) ([]byte, error)

// framePool recycles encoding buffers: the Conn copies a frame into its
// queue, so the buffer is free again once the frame is queued.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledFrame keeps one huge message from pinning a huge buffer.
const maxPooledFrame = 64 << 10

// write encodes m (with bin as its payload if set, and then n, if set)
// into a pooled buffer and queues the frames with mode.
func (w *Writer) write(ctx context.Context, mode int, m *Out, bin binaryFunc, n *Out) error {
	bp := framePool.Get().(*[]byte)
	buf, stores, err := w.appendFrameBinary((*bp)[:0], m, bin)
	if err == nil {
		first := len(buf)
		if n == nil {
			err = w.queue(ctx, mode, stores, buf)
		} else {
			var more bool
			if buf, more, err = w.appendFrame(buf, n); err == nil {
				err = w.queue(ctx, mode, stores || more, buf[:first], buf[first:])
			}
		}
	}
	if err == nil && cap(buf) <= maxPooledFrame {
		*bp = buf[:0]
	}
	framePool.Put(bp)
	return err
}

// appendFrame appends m's frame, as it must go out now, to dst. stores
// reports that it stores the fixed atom cache entries (the connection's
// first message frames): once it is queued, later frames may refer to
// them (queue records that).
func (w *Writer) appendFrame(dst []byte, m *Out) (frame []byte, stores bool, err error) {
	return w.appendFrameBinary(dst, m, nil)
}

// appendFrameBinary is appendFrame with bin, if set, writing the payload.
func (w *Writer) appendFrameBinary(dst []byte, m *Out, bin binaryFunc) (frame []byte, stores bool, err error) {
	switch m.op {
	case OpSendSender, OpRegSend:
		if m.ctrl == nil {
			return w.appendMessage(dst, m, bin)
		}
	}
	n := len(dst)
	versioned := !w.flags.HeaderMode()
	if versioned {
		dst = append(dst, passThrough, versionByte)
	} else {
		dst = append(dst, versionByte, distHeader, 0)
	}
	if m.ctrl == nil {
		dst, err = appendMonitor(dst, m)
	} else {
		dst, err = etf.AppendTerm(dst, m.ctrl)
	}
	if err != nil {
		return dst[:n], false, fmt.Errorf("%w: %v control: %w", ErrEncode, m.op, err)
	}
	if m.op.HasPayload() {
		if dst, err = w.appendPayload(dst, m, bin, versioned); err != nil {
			return dst[:n], false, err
		}
	}
	return dst, false, nil
}

// appendMessage writes a SEND (2), SEND_SENDER (22) or REG_SEND (6)
// frame byte by byte. In pass-through mode: 112, 131 {Op, From or the
// empty atom, To or the empty atom, [Name]}, 131 Msg. In header mode: 131,
// 68 and the three fixed atom cache refs (none when only Fragments was
// negotiated), then the terms without version bytes, with the empty atom
// and the two node names as cache refs.
func (w *Writer) appendMessage(dst []byte, m *Out, bin binaryFunc) (frame []byte, stores bool, err error) {
	start := len(dst)
	refs := w.flags&DistHdrAtomCache != 0
	switch {
	case refs && w.cacheSent.Load():
		dst = append(dst, cachedHeader...)
	case refs:
		stores = true
		if dst, err = AppendHeader(dst,
			HeaderRef{Slot: slotEmpty, New: true, Atom: ""},
			HeaderRef{Slot: slotSelf, New: true, Atom: w.local},
			HeaderRef{Slot: slotPeer, New: true, Atom: w.peer}); err != nil {
			return dst[:start], false, fmt.Errorf("%w: header: %w", ErrEncode, err)
		}
	case w.flags.HeaderMode():
		dst = append(dst, noRefsHeader...)
	default:
		dst = append(dst, passThrough, versionByte)
	}
	empty := func(b []byte) []byte {
		if refs {
			return append(b, etf.TagAtomCacheRef, refEmpty)
		}
		return append(b, etf.TagSmallAtomUTF8, 0)
	}
	pid := func(b []byte, pid etf.Pid) ([]byte, error) {
		switch {
		case refs && pid.Node == w.local:
			return appendCachedPid(b, refSelf, pid), nil
		case refs && pid.Node == w.peer:
			return appendCachedPid(b, refPeer, pid), nil
		}
		return etf.AppendPid(b, pid)
	}
	op := m.op
	if op == OpSendSender && w.flags&SendSender == 0 {
		op = OpSend
	}
	switch op {
	case OpSend:
		dst = empty(append(dst, etf.TagSmallTuple, 3, etf.TagSmallInteger, byte(op)))
		dst, err = pid(dst, m.to)
	case OpSendSender:
		dst = append(dst, etf.TagSmallTuple, 3, etf.TagSmallInteger, byte(op))
		if dst, err = pid(dst, m.from); err == nil {
			dst, err = pid(dst, m.to)
		}
	case OpRegSend:
		dst = append(dst, etf.TagSmallTuple, 4, etf.TagSmallInteger, byte(op))
		if dst, err = pid(dst, m.from); err == nil {
			dst, err = etf.AppendAtom(empty(dst), m.name)
		}
	}
	if err != nil {
		return dst[:start], false, fmt.Errorf("%w: %v control: %w", ErrEncode, op, err)
	}
	if dst, err = w.appendPayload(dst, m, bin, !w.flags.HeaderMode()); err != nil {
		return dst[:start], false, err
	}
	return dst, stores, nil
}

// appendMonitor writes the control tuple of a MONITOR_P or DEMONITOR_P
// made without one (see monitorOut): {Op, From, To, Ref}, To the pid
// m.to or the atom m.name, with the bytes AppendTerm writes for the
// tuple, but without building it.
func appendMonitor(dst []byte, m *Out) ([]byte, error) {
	dst = append(dst, etf.TagSmallTuple, 4, etf.TagSmallInteger, byte(m.op))
	dst, err := etf.AppendPid(dst, m.from)
	if err != nil {
		return dst, err
	}
	if m.name != "" {
		dst, err = etf.AppendAtom(dst, m.name)
	} else {
		dst, err = etf.AppendPid(dst, m.to)
	}
	if err != nil {
		return dst, err
	}
	return etf.AppendRef(dst, m.ref)
}

// appendCachedPid writes NEW_PID_EXT with its node as ATOM_CACHE_REF ref.
func appendCachedPid(b []byte, ref byte, pid etf.Pid) []byte {
	b = append(b, etf.TagNewPid, etf.TagAtomCacheRef, ref)
	b = binary.BigEndian.AppendUint32(b, pid.ID)
	b = binary.BigEndian.AppendUint32(b, pid.Serial)
	return binary.BigEndian.AppendUint32(b, pid.Creation)
}

// appendPayload writes m's payload: its term (with its 131 byte when
// versioned), or the binary bin appends, whose length is written once
// its bytes are.
func (w *Writer) appendPayload(dst []byte, m *Out, bin binaryFunc, versioned bool) ([]byte, error) {
	if m.call {
		return appendGenCall(dst, m, versioned)
	}
	if bin == nil {
		var err error
		if versioned {
			dst, err = etf.Append(dst, m.payload)
		} else {
			dst, err = etf.AppendTerm(dst, m.payload)
		}
		if err != nil {
			return dst, fmt.Errorf("%w: %v payload: %w", ErrEncode, m.op, err)
		}
		return dst, nil
	}
	if versioned {
		dst = append(dst, versionByte)
	}
	dst = append(dst, etf.TagBinary, 0, 0, 0, 0)
	at := len(dst)
	out, err := bin(dst)
	if err != nil {
		return dst, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	size := len(out) - at
	if uint64(size) > math.MaxUint32 {
		return dst, fmt.Errorf("%w: a binary of %d bytes: %w", ErrEncode, size, etf.ErrTooLarge)
	}
	binary.BigEndian.PutUint32(out[at-4:], uint32(size))
	return out, nil
}

// appendGenCall writes a call's request (Out.call): {'$gen_call',
// {From, [alias|Ref]}, Request}, the envelope byte by byte, then the
// request's term.
func appendGenCall(dst []byte, m *Out, versioned bool) ([]byte, error) {
	if versioned {
		dst = append(dst, versionByte)
	}
	dst, _ = etf.AppendAtom(append(dst, etf.TagSmallTuple, 3), "$gen_call") // a valid atom
	dst, err := etf.AppendPid(append(dst, etf.TagSmallTuple, 2), m.from)
	if err != nil {
		return dst, fmt.Errorf("%w: call: %w", ErrEncode, err)
	}
	dst, _ = etf.AppendAtom(append(dst, etf.TagList, 0, 0, 0, 1), "alias")
	if dst, err = etf.AppendRef(dst, m.ref); err != nil {
		return dst, fmt.Errorf("%w: call: %w", ErrEncode, err)
	}
	if dst, err = etf.AppendTerm(dst, m.payload); err != nil {
		return dst, fmt.Errorf("%w: %v payload: %w", ErrEncode, m.op, err)
	}
	return dst, nil
}

// queue hands frames to the connection with mode. stores says they store
// the fixed atom cache entries: once they are queued, frames encoded from
// then on go out after them and may refer to the entries. A frame longer
// than FragmentSize goes out in fragments when the peer has Fragments.
func (w *Writer) queue(ctx context.Context, mode int, stores bool, frames ...[]byte) error {
	if w.flags&Fragments != 0 {
		for i, f := range frames {
			if len(f) > FragmentSize {
				return w.queueFragments(ctx, mode, stores, frames, i)
			}
		}
	}
	err := w.conn.send(ctx, mode, frames)
	if err == nil && stores {
		w.cacheSent.Store(true)
	}
	return err
}

// queueFragments is queue with frames[i], a large one, cut into
// fragments, each queued on its own, so that other processes' frames can
// go out between them instead of waiting for the whole message, as with
// ERTS. Frames from one sender stay in order. Once the first fragment is
// queued the rest go out whatever ctx does: the peer holds the sequence
// until it is complete. The fragments are cut one at a time into one
// buffer, which the Conn copies, so a large message is not copied whole
// again.
func (w *Writer) queueFragments(ctx context.Context, mode int, stores bool, frames [][]byte, i int) error {
	f, err := NewFragmenter(frames[i], w.seq.Add(1), FragmentSize)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrEncode, err)
	}
	first, _ := f.Next(make([]byte, 0, FragmentSize))
	if err := w.conn.send(ctx, mode, append(frames[:i:i], first)); err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx) // the rest goes out whatever ctx does
	for buf := first; ; {
		var ok bool
		if buf, ok = f.Next(buf[:0]); !ok {
			break
		}
		if err := w.conn.send(ctx, mode, [][]byte{buf}); err != nil {
			return err
		}
	}
	if i+1 < len(frames) {
		return w.queue(ctx, mode, stores, frames[i+1:]...)
	}
	if stores {
		w.cacheSent.Store(true)
	}
	return nil
}
