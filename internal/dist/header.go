package dist

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/distribute-go/distribute/etf"
)

// Distribution header mode. When both
// nodes advertise DistHdrAtomCache, every data frame in both directions is
//
//	131, 68, N:8, [Flags: N/2+1 bytes, N cache refs], Ctrl, [Msg]
//
// where Ctrl and Msg are terms without their own 131 version byte, and
// ATOM_CACHE_REF i (82, i) inside them stands for the i-th atom the header
// lists. Each listed atom is a slot of a 2048-slot cache that belongs to
// one direction of one connection: the header either stores a new atom in
// the slot (NewEntry) or refers to what an earlier frame stored there.
// Flags holds a nibble per ref (low nibble first): bit 3 NewEntry, bits
// 0-2 the slot's segment (slot = segment*256 + the ref's Internal byte);
// one more nibble at position N has bit 0 set when new entries carry
// 2-byte lengths (LongAtoms).
//
// Example: a frame that stores 'a@h' in slot 0x105 and refers to slot 3
// already holding '':
//
//	83 44 02            131, 68, two refs
//	09 00               nibble 0: new entry, segment 1; nibble 1: segment 0; nibble 2: short atoms
//	05 03 61 40 68      ref 0: slot 0x105, length 3, "a@h"
//	03                  ref 1: slot 3 (old)
//	...                 Ctrl and Msg, in which 52 00 is 'a@h' and 52 01 is ''

// AtomCacheSize is the number of slots of a distribution header atom cache.
const AtomCacheSize = 2048

// MaxHeaderRefs is the most atom cache references one header can list.
const MaxHeaderRefs = 255

const (
	headerNewEntry  = 8 // NewEntry bit of a ref's flag nibble
	headerLongAtoms = 1 // bit 0 of the nibble after the last ref
)

// ErrAtomCache: a distribution header that is malformed, or that refers to
// a cache slot no earlier frame stored an atom in.
var ErrAtomCache = errors.New("dist: bad distribution header")

// HeaderCache is the receiving side of one connection's atom cache: what
// the peer's headers stored. Its zero value is empty and ready. Not safe
// for concurrent use (a connection's reader owns it). It holds at most
// AtomCacheSize atoms, so a peer sending ever new atoms cannot grow it.
type HeaderCache struct {
	slots [AtomCacheSize]etf.Atom
	set   [AtomCacheSize / 64]uint64
}

// ReadHeader reads the distribution header (131, 68, ...) at the start
// of frame, stores its new entries, and returns the frame's atom
// references appended to refs[:0] (never nil, so that a decoder given
// them accepts ATOM_CACHE_REF) and the offset of the control term. A
// fragment (131, 69 or 70) fails with ErrBadFrame: fragments go to a
// Reassembler (HeaderReader routes them when Fragments was negotiated).
// Other malformed headers fail with ErrAtomCache; the cache is then
// unchanged or holds only well-formed new entries of the frame.
func (c *HeaderCache) ReadHeader(frame []byte, refs []etf.Atom) ([]etf.Atom, int, error) {
	refs = refs[:0]
	if refs == nil {
		refs = make([]etf.Atom, 0, 8)
	}
	if len(frame) < 3 || frame[0] != versionByte || frame[1] != distHeader {
		if len(frame) >= 2 && frame[0] == versionByte && (frame[1] == distFragHeader || frame[1] == distFragCont) {
			return nil, 0, fmt.Errorf("%w: a fragment (131, %d), but fragments were not negotiated", ErrBadFrame, frame[1])
		}
		if len(frame) > 0 && frame[0] == passThrough {
			return nil, 0, fmt.Errorf("%w: a pass-through frame (112) on a connection in header mode", ErrBadFrame)
		}
		return nil, 0, fmt.Errorf("%w: does not start with 131, 68", ErrAtomCache)
	}
	return c.readRefs(frame, 2, refs)
}

// readRefs is ReadHeader from frame[at], the header's N byte (2 in a 131,
// 68 frame, 18 in a first fragment); refs is empty and not nil.
func (c *HeaderCache) readRefs(frame []byte, at int, refs []etf.Atom) ([]etf.Atom, int, error) {
	if at >= len(frame) {
		return nil, 0, fmt.Errorf("%w: no header", ErrAtomCache)
	}
	n := int(frame[at])
	pos := at + 1
	if n == 0 {
		return refs, pos, nil
	}
	flagLen := n/2 + 1
	if len(frame) < pos+flagLen {
		return nil, 0, fmt.Errorf("%w: %d refs but %d bytes of flags", ErrAtomCache, n, len(frame)-pos)
	}
	flags := frame[pos : pos+flagLen]
	pos += flagLen
	long := nibble(flags, n)&headerLongAtoms != 0
	for i := range n {
		f := nibble(flags, i)
		if pos >= len(frame) {
			return nil, 0, fmt.Errorf("%w: ref %d of %d truncated", ErrAtomCache, i, n)
		}
		slot := int(f&7)<<8 | int(frame[pos])
		pos++
		if f&headerNewEntry == 0 {
			if c.set[slot/64]&(1<<(slot%64)) == 0 {
				return nil, 0, fmt.Errorf("%w: ref %d names slot %d, which holds no atom", ErrAtomCache, i, slot)
			}
			refs = append(refs, c.slots[slot])
			continue
		}
		var l int
		switch {
		case long && pos+2 <= len(frame):
			l = int(frame[pos])<<8 | int(frame[pos+1])
			pos += 2
		case !long && pos < len(frame):
			l = int(frame[pos])
			pos++
		default:
			return nil, 0, fmt.Errorf("%w: ref %d: length truncated", ErrAtomCache, i)
		}
		if pos+l > len(frame) {
			return nil, 0, fmt.Errorf("%w: ref %d: %d bytes of atom text, %d left", ErrAtomCache, i, l, len(frame)-pos)
		}
		text := frame[pos : pos+l]
		pos += l
		if !utf8.Valid(text) || utf8.RuneCount(text) > etf.MaxAtomChars {
			return nil, 0, fmt.Errorf("%w: ref %d: atom text is not UTF-8 of at most %d characters", ErrAtomCache, i, etf.MaxAtomChars)
		}
		// A slot stored again with the atom it holds keeps its string.
		if c.set[slot/64]&(1<<(slot%64)) == 0 || string(c.slots[slot]) != string(text) {
			c.slots[slot] = etf.Atom(text)
			c.set[slot/64] |= 1 << (slot % 64)
		}
		refs = append(refs, c.slots[slot])
	}
	return refs, pos, nil
}

func nibble(flags []byte, i int) byte {
	b := flags[i/2]
	if i%2 == 1 {
		return b >> 4
	}
	return b & 15
}

// HeaderRef is one atom cache reference a sender lists in a header.
type HeaderRef struct {
	Slot int      // 0 to AtomCacheSize-1
	New  bool     // store Atom in the slot (else the peer already holds it there)
	Atom etf.Atom // the atom; its text is written only when New
}

// AppendHeader appends a distribution header listing refs (131, 68, N,
// ...) to dst. Terms that follow refer to refs[i] as ATOM_CACHE_REF i.
// The caller keeps the sending side of the cache: a ref that is not New
// must name a slot an earlier frame on this connection stored that atom
// in.
func AppendHeader(dst []byte, refs ...HeaderRef) ([]byte, error) {
	if len(refs) > MaxHeaderRefs {
		return dst, fmt.Errorf("%w: %d refs, at most %d", ErrAtomCache, len(refs), MaxHeaderRefs)
	}
	dst = append(dst, versionByte, distHeader, byte(len(refs)))
	if len(refs) == 0 {
		return dst, nil
	}
	long := false
	for _, r := range refs {
		if r.Slot < 0 || r.Slot >= AtomCacheSize {
			return dst, fmt.Errorf("%w: slot %d", ErrAtomCache, r.Slot)
		}
		if r.New && len(r.Atom) > 255 {
			long = true
		}
	}
	flagAt := len(dst)
	for range len(refs)/2 + 1 {
		dst = append(dst, 0)
	}
	setNibble := func(i int, v byte) {
		if i%2 == 1 {
			v <<= 4
		}
		dst[flagAt+i/2] |= v
	}
	if long {
		setNibble(len(refs), headerLongAtoms)
	}
	for i, r := range refs {
		f := byte(r.Slot >> 8)
		if r.New {
			f |= headerNewEntry
		}
		setNibble(i, f)
		dst = append(dst, byte(r.Slot))
		if !r.New {
			continue
		}
		if !utf8.ValidString(string(r.Atom)) || utf8.RuneCountInString(string(r.Atom)) > etf.MaxAtomChars {
			return dst, fmt.Errorf("%w: atom %q is not UTF-8 of at most %d characters", ErrAtomCache, r.Atom, etf.MaxAtomChars)
		}
		if long {
			dst = append(dst, byte(len(r.Atom)>>8))
		}
		dst = append(dst, byte(len(r.Atom)))
		dst = append(dst, r.Atom...)
	}
	return dst, nil
}

// AppendHeaderFrame appends a header-mode data frame with no atom cache
// references: 131, 68, 0, ctrl and, unless msg is nil, msg, both without
// version bytes. It is AppendPassThrough's counterpart for connections in
// header mode. On error dst is returned unchanged.
func AppendHeaderFrame(dst []byte, ctrl etf.Tuple, msg etf.Term) ([]byte, error) {
	n := len(dst)
	out, err := etf.AppendTerm(append(dst, versionByte, distHeader, 0), ctrl)
	if err != nil {
		return dst[:n], fmt.Errorf("dist: encode control: %w", err)
	}
	if msg != nil {
		if out, err = etf.AppendTerm(out, msg); err != nil {
			return dst[:n], fmt.Errorf("dist: encode payload: %w", err)
		}
	}
	return out, nil
}

// HeaderReader reads the frames of one connection in header mode: the
// distribution header's atom cache and, when Fragments was negotiated,
// the reassembly of fragmented messages. Set Fragments and Reassembler.Max
// before the first Read. Not safe for concurrent use (a connection's
// reader owns it).
type HeaderReader struct {
	Cache       HeaderCache
	Fragments   bool // the peer may send 131, 69 / 131, 70 fragments
	Reassembler Reassembler
	// Owned reports whether the body the last Read returned is a message
	// put back together from fragments, in a buffer nothing reuses: its
	// decoder may alias it (etf.Decoder.AliasBinaries) instead of copying.
	Owned bool
	refs  []etf.Atom
}

// Read takes a data frame and returns its atom cache references and its
// body (Ctrl [Msg], without version bytes). done is false, with no error,
// for a fragment of a message not yet complete. refs and body are valid
// until the next Read and, unless Owned, no longer than frame. Errors are
// ReadHeader's and Reassembler.Add's.
func (h *HeaderReader) Read(frame []byte) (refs []etf.Atom, body []byte, done bool, err error) {
	h.Owned = false
	if h.Fragments && len(frame) > 1 && frame[0] == versionByte && (frame[1] == distFragHeader || frame[1] == distFragCont) {
		refs, body, done, err = h.Reassembler.Add(&h.Cache, frame)
		h.Owned = done && frame[1] == distFragCont
		return refs, body, done, err
	}
	var off int
	if h.refs, off, err = h.Cache.ReadHeader(frame, h.refs); err != nil {
		return nil, nil, false, err
	}
	return h.refs, frame[off:], true, nil
}

// ParseHeaderFrame decodes a header-mode data frame with d, resolving
// atom cache references through c (which it updates). It is ParseFrame's
// counterpart for connections in header mode, with the same results and
// errors. d.AtomRefs is set to the frame's references while it decodes
// and restored after.
func ParseHeaderFrame(d *etf.Decoder, c *HeaderCache, frame []byte) (ctrl etf.Tuple, msg etf.Term, hasMsg bool, err error) {
	refs, off, err := c.ReadHeader(frame, nil)
	if err != nil {
		return nil, nil, false, err
	}
	saved := d.AtomRefs
	d.AtomRefs = refs
	defer func() { d.AtomRefs = saved }()
	return ParseBody(d, frame[off:])
}

// ParseBody decodes what follows a distribution header (the control
// tuple and optional payload, without version bytes) with d, whose
// AtomRefs the caller has set to the header's references (ReadHeader).
// Results and errors are ParseFrame's.
func ParseBody(d *etf.Decoder, body []byte) (ctrl etf.Tuple, msg etf.Term, hasMsg bool, err error) {
	return parseTerms(d, body, d.DecodeTerm)
}
