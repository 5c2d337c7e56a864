package dist

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/distribute-go/distribute/etf"
)

// Fragments. When both nodes have
// Fragments, a sender may split a large message into frames
//
//	131, 69, SeqId:64, FragId:64, N, Flags, refs..., Ctrl, first payload bytes
//	131, 70, SeqId:64, FragId:64, more payload bytes
//
// FragId counts down to 1, the last fragment. SeqId tells the sequences of
// different senders apart: they may interleave on one connection, each in
// order. The first fragment's header is an ordinary distribution header:
// its new atom cache entries take effect at once, for frames that follow.

// MaxFragmentSequences bounds the fragmented messages a connection
// reassembles at once.
const MaxFragmentSequences = 1024

// ReassemblyFactor bounds the memory a Reassembler holds for incomplete
// sequences: at most this many times the fragment bytes that arrived. A
// message of up to this many fragments (512 KiB with ERTS's 64 KiB) is
// reassembled in one buffer, copied once.
const ReassemblyFactor = 8

// ErrFragment: a fragment that does not continue a sequence in order, a
// sequence started twice, or too many sequences at once.
var ErrFragment = errors.New("dist: bad fragment")

// Reassembler puts fragmented messages back together for one
// connection's reader. Its zero value is ready; Max bounds the bytes it
// holds across all sequences (0: DefaultMaxFrame), as MaxFrame bounds one
// frame. Not safe for concurrent use.
type Reassembler struct {
	Max  int
	seqs map[uint64]*fragSeq
	held int
}

type fragSeq struct {
	next uint64     // the FragId expected next
	refs []etf.Atom // the first fragment's atom cache references
	body []byte     // Ctrl and the payload so far
}

// Add takes a fragment frame (131, 69 or 131, 70), using c for the first
// fragment's header. When the fragment completes its message, done is true
// and refs and body are the message's atom cache references and its terms
// (Ctrl [Msg], without version bytes), as ReadHeader and the rest of a 131,
// 68 frame would give them; body is valid until the next call and, for a
// message in one fragment, only as long as frame. Errors are ErrFragment,
// ErrAtomCache, ErrBadFrame or a *FrameTooLargeError; the connection
// should then close.
//
// A sequence's buffer grows with the fragments that arrive, never with
// what the first one announces: it starts at ReassemblyFactor times the
// first fragment (or the announced total when smaller: ERTS cuts equal
// fragments) and doubles when full, so the capacity held stays within
// ReassemblyFactor times the bytes received; Max bounds it too.
func (r *Reassembler) Add(c *HeaderCache, frame []byte) (refs []etf.Atom, body []byte, done bool, err error) {
	if len(frame) < 18 || frame[0] != versionByte || (frame[1] != distFragHeader && frame[1] != distFragCont) {
		return nil, nil, false, fmt.Errorf("%w: not a fragment (%d bytes)", ErrBadFrame, len(frame))
	}
	seq := binary.BigEndian.Uint64(frame[2:])
	id := binary.BigEndian.Uint64(frame[10:])
	if id == 0 {
		return nil, nil, false, fmt.Errorf("%w: sequence %#x: fragment id 0", ErrFragment, seq)
	}
	limit := r.Max
	if limit <= 0 {
		limit = DefaultMaxFrame
	}
	s := r.seqs[seq]
	if frame[1] == distFragHeader {
		if s != nil {
			return nil, nil, false, fmt.Errorf("%w: sequence %#x started again", ErrFragment, seq)
		}
		refs, off, err := c.readRefs(frame, 18, make([]etf.Atom, 0, 8))
		if err != nil {
			return nil, nil, false, err
		}
		body := frame[off:]
		if id == 1 {
			return refs, body, true, nil // a message in one fragment
		}
		if len(r.seqs) >= MaxFragmentSequences {
			return nil, nil, false, fmt.Errorf("%w: more than %d sequences at once", ErrFragment, MaxFragmentSequences)
		}
		if r.held+len(body) > limit {
			return nil, nil, false, &FrameTooLargeError{Len: uint64(r.held + len(body)), Max: uint64(limit)}
		}
		want := min(uint64(limit-r.held), ReassemblyFactor*uint64(len(body)))
		if each := uint64(len(frame) - 18); id-1 < want/max(each, 1) {
			// The announced total is smaller: reserve just that.
			want = min(want, uint64(len(body))+(id-1)*each)
		}
		buf := make([]byte, len(body), int(want))
		copy(buf, body)
		if r.seqs == nil {
			r.seqs = make(map[uint64]*fragSeq)
		}
		r.seqs[seq] = &fragSeq{next: id - 1, refs: refs, body: buf}
		r.held += cap(buf)
		return nil, nil, false, nil
	}
	if s == nil {
		return nil, nil, false, fmt.Errorf("%w: continuation of unknown sequence %#x", ErrFragment, seq)
	}
	if id != s.next {
		return nil, nil, false, fmt.Errorf("%w: sequence %#x: fragment %d, want %d", ErrFragment, seq, id, s.next)
	}
	rest := frame[18:]
	if need := len(s.body) + len(rest); need > cap(s.body) {
		// Grow geometrically, within Max: twice the capacity is less than
		// twice what is needed, so the buffer stays within
		// ReassemblyFactor times what arrived. When the first fragment
		// announced how many follow (ERTS cuts them equal), reserve no
		// more than that.
		room := limit - (r.held - cap(s.body))
		if need > room {
			return nil, nil, false, &FrameTooLargeError{Len: uint64(r.held - cap(s.body) + need), Max: uint64(limit)}
		}
		size := max(need, 2*cap(s.body))
		if left := uint64(len(rest)) * id; id <= uint64(room) && left <= uint64(room) && need-len(rest)+int(left) < size {
			size = max(need, need-len(rest)+int(left))
		}
		grown := make([]byte, len(s.body), min(size, room))
		copy(grown, s.body)
		r.held += cap(grown) - cap(s.body)
		s.body = grown
	}
	s.body = append(s.body, rest...)
	if id > 1 {
		s.next = id - 1
		return nil, nil, false, nil
	}
	delete(r.seqs, seq)
	r.held -= cap(s.body)
	return s.refs, s.body, true, nil
}

// Pending reports how many sequences are incomplete and the bytes held
// (their buffers' capacity).
func (r *Reassembler) Pending() (sequences, bytes int) { return len(r.seqs), r.held }

// FragmentSize is the size of the fragments a sender cuts a large
// message into, as ERTS does (ERTS_DIST_FRAGMENT_SIZE): a frame longer
// than this goes out in fragments when the peer has Fragments.
const FragmentSize = 64 << 10

// fragmentHeader is the length of a fragment's own header: 131, 69 or 70,
// SeqId, FragId.
const fragmentHeader = 18

// Fragmenter cuts a header-mode frame (131, 68, ...) into the fragments
// of one sequence, as a sender with Fragments does: each at most size
// bytes, except that the first always holds the distribution header and
// the control term whole, as the protocol wants. Next appends them one at
// a time, so a sender can let other frames go between them.
type Fragmenter struct {
	body  []byte // the frame without 131, 68: what the fragments carry
	seq   uint64
	first int // bytes of body in the first fragment
	chunk int // bytes of body per continuation, the last may have fewer
	next  uint64
	sent  int // bytes of body already cut
}

// NewFragmenter prepares frame's fragments for sequence seq; size must be
// more than the 18 bytes of a fragment's own header. An error is
// ErrBadFrame or ErrAtomCache: the frame is not a well-formed header-mode
// frame.
func NewFragmenter(frame []byte, seq uint64, size int) (*Fragmenter, error) {
	if size <= fragmentHeader {
		return nil, fmt.Errorf("%w: fragment size %d", ErrBadFrame, size)
	}
	end, err := controlEnd(frame)
	if err != nil {
		return nil, err
	}
	f := &Fragmenter{body: frame[2:], seq: seq, chunk: size - fragmentHeader}
	f.first = min(len(f.body), max(f.chunk, end-2))
	f.next = 1
	if rest := len(f.body) - f.first; rest > 0 {
		f.next += uint64((rest + f.chunk - 1) / f.chunk)
	}
	return f, nil
}

// Next appends the next fragment to dst and returns it, or dst and false
// when all have been appended.
func (f *Fragmenter) Next(dst []byte) ([]byte, bool) {
	if f.next == 0 {
		return dst, false
	}
	tag, n := byte(distFragCont), min(f.chunk, len(f.body)-f.sent)
	if f.sent == 0 {
		tag, n = distFragHeader, f.first
	}
	dst = binary.BigEndian.AppendUint64(append(dst, versionByte, tag), f.seq)
	dst = binary.BigEndian.AppendUint64(dst, f.next)
	dst = append(dst, f.body[f.sent:f.sent+n]...)
	f.sent += n
	f.next--
	return dst, true
}

// AppendFragments appends all of frame's fragments (see Fragmenter) to
// dst, each a frame payload of its own.
func AppendFragments(dst [][]byte, frame []byte, seq uint64, size int) ([][]byte, error) {
	f, err := NewFragmenter(frame, seq, size)
	if err != nil {
		return dst, err
	}
	for {
		b, ok := f.Next(nil)
		if !ok {
			return dst, nil
		}
		dst = append(dst, b)
	}
}

// controlEnd returns the offset in a header-mode frame just after its
// control term: its header's length, walked without a cache, and the
// control term's.
func controlEnd(frame []byte) (int, error) {
	if len(frame) < 3 || frame[0] != versionByte || frame[1] != distHeader {
		return 0, fmt.Errorf("%w: not a header-mode frame", ErrBadFrame)
	}
	n, pos := int(frame[2]), 3
	if n > 0 {
		flagLen := n/2 + 1
		if len(frame) < pos+flagLen {
			return 0, fmt.Errorf("%w: %d refs but %d bytes of flags", ErrAtomCache, n, len(frame)-pos)
		}
		flags := frame[pos : pos+flagLen]
		pos += flagLen
		long := nibble(flags, n)&headerLongAtoms != 0
		for i := range n {
			pos++ // the slot's low byte
			if nibble(flags, i)&headerNewEntry == 0 {
				continue
			}
			switch {
			case long && pos+2 <= len(frame):
				pos += 2 + int(binary.BigEndian.Uint16(frame[pos:]))
			case !long && pos < len(frame):
				pos += 1 + int(frame[pos])
			default:
				pos = len(frame) + 1
			}
		}
		if pos > len(frame) {
			return 0, fmt.Errorf("%w: header truncated", ErrAtomCache)
		}
	}
	d := etf.Decoder{AtomRefs: make([]etf.Atom, n)}
	_, clen, err := d.DecodeTerm(frame[pos:])
	if err != nil {
		return 0, fmt.Errorf("%w: control term: %w", ErrBadFrame, err)
	}
	return pos + clen, nil
}
