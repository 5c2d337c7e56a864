package dist

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/distribute-go/distribute/etf"
)

// Fragments (erlang-distribution.md section 4.3). When both nodes have
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
// 68 frame would give them; body is the Reassembler's and stays valid until
// the next call. Errors are ErrFragment, ErrAtomCache, ErrBadFrame or a
// *FrameTooLargeError; the connection should then close.
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
	rest := frame[18:]
	s := r.seqs[seq]
	if frame[1] == distFragHeader {
		if s != nil {
			return nil, nil, false, fmt.Errorf("%w: sequence %#x started again", ErrFragment, seq)
		}
		// The header as a 131, 68 frame: N, flags, refs follow the ids.
		hdr := append([]byte{versionByte, distHeader}, rest...)
		refs, off, err := c.ReadHeader(hdr, nil)
		if err != nil {
			return nil, nil, false, err
		}
		body := hdr[off:]
		if id == 1 {
			return refs, body, true, nil // a message in one fragment
		}
		if len(r.seqs) >= MaxFragmentSequences {
			return nil, nil, false, fmt.Errorf("%w: more than %d sequences at once", ErrFragment, MaxFragmentSequences)
		}
		if r.held+len(body) > limit {
			return nil, nil, false, &FrameTooLargeError{Len: uint64(r.held + len(body)), Max: uint64(limit)}
		}
		if r.seqs == nil {
			r.seqs = make(map[uint64]*fragSeq)
		}
		r.seqs[seq] = &fragSeq{next: id - 1, refs: refs, body: body}
		r.held += len(body)
		return nil, nil, false, nil
	}
	if s == nil {
		return nil, nil, false, fmt.Errorf("%w: continuation of unknown sequence %#x", ErrFragment, seq)
	}
	if id != s.next {
		return nil, nil, false, fmt.Errorf("%w: sequence %#x: fragment %d, want %d", ErrFragment, seq, id, s.next)
	}
	if r.held+len(rest) > limit {
		return nil, nil, false, &FrameTooLargeError{Len: uint64(r.held + len(rest)), Max: uint64(limit)}
	}
	s.body = append(s.body, rest...)
	r.held += len(rest)
	if id > 1 {
		s.next = id - 1
		return nil, nil, false, nil
	}
	delete(r.seqs, seq)
	r.held -= len(s.body)
	return s.refs, s.body, true, nil
}

// Pending reports how many sequences are incomplete and the bytes held.
func (r *Reassembler) Pending() (sequences, bytes int) { return len(r.seqs), r.held }

// AppendFragments splits a header-mode frame (131, 68, ...) as a sender
// with Fragments would: a first fragment carrying the header, Ctrl and up
// to size bytes in all, then continuations of up to size-18 payload bytes.
// It appends each fragment, as a frame payload, to dst. size must leave
// the header and Ctrl whole in the first fragment, as the protocol wants.
// For tests and tools: this package's senders write whole frames.
func AppendFragments(dst [][]byte, frame []byte, seq uint64, size int) ([][]byte, error) {
	if len(frame) < 3 || frame[0] != versionByte || frame[1] != distHeader || size < 19 {
		return dst, fmt.Errorf("%w: AppendFragments of a %d-byte frame, size %d", ErrBadFrame, len(frame), size)
	}
	body := frame[2:]
	first := min(len(body), size-18)
	n := 1
	if rest := len(body) - first; rest > 0 {
		n += (rest + size - 19) / (size - 18)
	}
	out := binary.BigEndian.AppendUint64(append([]byte(nil), versionByte, distFragHeader), seq)
	out = binary.BigEndian.AppendUint64(out, uint64(n))
	dst = append(dst, append(out, body[:first]...))
	body = body[first:]
	for id := n - 1; id >= 1; id-- {
		k := min(len(body), size-18)
		out := binary.BigEndian.AppendUint64(append([]byte(nil), versionByte, distFragCont), seq)
		out = binary.BigEndian.AppendUint64(out, uint64(id))
		dst = append(dst, append(out, body[:k]...))
		body = body[k:]
	}
	return dst, nil
}
