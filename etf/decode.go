package etf

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"
)

// Decode decodes data, which must hold exactly one term starting with the
// version byte 131, with the default Limits. It is for stored blobs, such
// as term_to_binary/2 output: it accepts a compressed term (charging its
// declared uncompressed size against Limits.MaxSize before inflating it).
// Bytes after the term are an error (ErrTrailingData). The result never
// aliases data.
func Decode(data []byte) (Term, error) {
	d := Decoder{Compressed: true}
	t, n, err := d.Decode(data)
	if err != nil {
		return nil, err
	}
	if n != len(data) {
		return nil, &DecodeError{Offset: n, Tag: data[n], Err: ErrTrailingData}
	}
	return t, nil
}

// A Decoder decodes terms with configurable limits. Its zero value decodes
// with the default limits and copies every byte it keeps. A Decoder holds no
// state between calls; it may be used by one goroutine at a time, or by many
// if none of them changes its fields.
type Decoder struct {
	// Limits bound the input; zero fields mean their defaults.
	Limits Limits
	// AliasBinaries makes the Bytes of decoded Binary and BitBinary values
	// and the Raw of Fun values share memory with the input instead of
	// copying it. The caller must then keep the input unchanged for as
	// long as it uses the term. Binaries inside a compressed term always
	// share the decoder's own inflated buffer.
	AliasBinaries bool
	// AtomRefs resolves ATOM_CACHE_REF i (tag 82) to AtomRefs[i]: the atoms
	// of the distribution header of the frame being decoded. When nil,
	// ATOM_CACHE_REF is rejected with ErrUnsupported.
	AtomRefs []Atom
	// Atoms, when set, returns atoms decoded before without allocating
	// their text again (node names in pids and refs, message tags). A
	// Decoder with Atoms set may be used by one goroutine at a time.
	Atoms *AtomTable
	// Compressed lets Decode inflate a compressed term (tag 80 after the
	// version byte), charging its declared uncompressed size against
	// Limits.MaxSize before inflating it. Without it a compressed term
	// fails with ErrCompressed: the distribution never carries one (OTP
	// closes the connection), and a few kilobytes of it can ask for
	// MaxSize of memory. Decode and Unmarshal, meant for stored blobs,
	// set it.
	Compressed bool
}

// AtomTable remembers the text of decoded atoms, up to a bound, so that a
// decoder reading a stream of similar terms (a distribution connection)
// does not allocate for atoms it has seen. (It is local to the decoder:
// not the distribution header's atom cache, which AtomRefs resolves.) It never grows past its bound,
// so a peer sending ever new atoms costs it nothing. Not safe for
// concurrent use.
type AtomTable struct {
	m   map[string]Atom
	max int
}

// NewAtomTable returns a cache that keeps at most max atoms.
func NewAtomTable(max int) *AtomTable {
	return &AtomTable{m: make(map[string]Atom, min(max, 64)), max: max}
}

// Len returns how many atoms the cache holds.
func (c *AtomTable) Len() int { return len(c.m) }

// atom returns the atom whose UTF-8 text is b, from the cache when it is
// there.
func (c *AtomTable) atom(b []byte) Atom {
	if a, ok := c.m[string(b)]; ok {
		return a
	}
	a := commonAtom(b)
	if len(c.m) < c.max {
		c.m[string(a)] = a
	}
	return a
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Decode decodes one term that starts with the version byte 131 at the
// start of data (a compressed term, tag 80, included) and returns it with
// the number of bytes it took. Bytes after the term are left alone.
func (d *Decoder) Decode(data []byte) (t Term, n int, err error) {
	if len(data) == 0 {
		return nil, 0, &DecodeError{Offset: 0, Err: ErrTruncated}
	}
	if data[0] != VersionByte {
		return nil, 0, &DecodeError{Offset: 0, Tag: data[0], Err: ErrBadVersion}
	}
	if len(data) > 1 && data[1] == TagCompressed {
		if !d.Compressed {
			return nil, 0, &DecodeError{Offset: 1, Tag: TagCompressed, Err: ErrCompressed}
		}
		return d.decodeCompressed(data)
	}
	var s decodeState
	s.init(d, data, 1, d.AliasBinaries)
	t, err = s.term()
	if err != nil {
		return nil, 0, err
	}
	return t, s.pos, nil
}

// DecodeTerm decodes one term without a version byte at the start of data,
// the form terms take behind a distribution header, and returns it with
// the number of bytes it took.
func (d *Decoder) DecodeTerm(data []byte) (Term, int, error) {
	var s decodeState
	s.init(d, data, 0, d.AliasBinaries)
	t, err := s.term()
	if err != nil {
		return nil, 0, err
	}
	return t, s.pos, nil
}

// DecodeBinary decodes a term that must be a binary, 131 109 Len:32 Bytes
// (or a compressed binary), and returns its bytes and the number of input
// bytes it took. The bytes are a copy unless AliasBinaries is set. Any
// other term fails with ErrNotBinary.
func (d *Decoder) DecodeBinary(data []byte) ([]byte, int, error) {
	if len(data) >= 6 && data[0] == VersionByte && data[1] == TagBinary {
		size := binary.BigEndian.Uint32(data[2:6])
		lim := d.Limits.withDefaults()
		if uint64(size)+5 > uint64(lim.MaxSize) { // MaxSize counts the tag and length too
			return nil, 0, &DecodeError{Offset: 1, Tag: TagBinary, Err: fmt.Errorf("%w: longer than %d bytes (Limits.MaxSize)", ErrTooLarge, lim.MaxSize)}
		}
		if uint64(size) > uint64(len(data)-6) {
			return nil, 0, &DecodeError{Offset: 1, Tag: TagBinary, Err: ErrTruncated}
		}
		end := 6 + int(size)
		if d.AliasBinaries {
			return data[6:end:end], end, nil
		}
		b := make([]byte, size)
		copy(b, data[6:end])
		return b, end, nil
	}
	t, n, err := d.Decode(data)
	if err != nil {
		return nil, 0, err
	}
	if b, ok := t.(Binary); ok {
		return b, n, nil
	}
	tag := byte(0)
	if len(data) > 1 {
		tag = data[1]
	}
	return nil, 0, &DecodeError{Offset: 1, Tag: tag, Err: ErrNotBinary}
}

// maxDeflateRatio is the most a deflate stream can expand (1032:1, plus
// slack for the zlib header and tiny inputs): a declared uncompressed size
// beyond it cannot be true, so it is rejected before allocating.
const maxDeflateRatio = 1032

func (d *Decoder) decodeCompressed(data []byte) (Term, int, error) {
	const hdr = 6 // 131, 80, UncompressedSize:32
	if len(data) < hdr {
		return nil, 0, &DecodeError{Offset: 1, Tag: TagCompressed, Err: ErrTruncated}
	}
	lim := d.Limits.withDefaults()
	size := uint64(binary.BigEndian.Uint32(data[2:6]))
	if size > uint64(lim.MaxSize) {
		return nil, 0, &DecodeError{Offset: 1, Tag: TagCompressed, Err: fmt.Errorf("%w: %d bytes uncompressed, more than %d (Limits.MaxSize)", ErrTooLarge, size, lim.MaxSize)}
	}
	compressed := data[hdr:]
	if size > uint64(len(compressed))*maxDeflateRatio+64 {
		return nil, 0, &DecodeError{Offset: 1, Tag: TagCompressed,
			Err: fmt.Errorf("%w: uncompressed size %d impossible for %d compressed bytes", ErrInvalid, size, len(compressed))}
	}
	if size == 0 {
		return nil, 0, &DecodeError{Offset: 1, Tag: TagCompressed, Err: fmt.Errorf("%w: empty compressed term", ErrInvalid)}
	}
	br := bytes.NewReader(compressed)
	zr, err := zlib.NewReader(br)
	if err != nil {
		return nil, 0, &DecodeError{Offset: 1, Tag: TagCompressed, Err: inflateErr(err)}
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(zr, buf); err != nil {
		return nil, 0, &DecodeError{Offset: 1, Tag: TagCompressed, Err: inflateErr(err)}
	}
	// The stream must end exactly here; reading on checks the checksum.
	var extra [1]byte
	if k, err := zr.Read(extra[:]); k != 0 || err != io.EOF {
		if k != 0 || err == nil {
			err = fmt.Errorf("%w: uncompressed data longer than the declared %d bytes", ErrInvalid, size)
		} else {
			err = inflateErr(err)
		}
		return nil, 0, &DecodeError{Offset: 1, Tag: TagCompressed, Err: err}
	}
	n := hdr + len(compressed) - br.Len()
	var s decodeState
	s.init(d, buf, 0, true)
	t, err := s.term()
	if err != nil {
		return nil, 0, err
	}
	if s.pos != len(buf) {
		return nil, 0, &DecodeError{Offset: s.pos, Tag: buf[s.pos],
			Err: fmt.Errorf("%w: compressed term shorter than its declared size", ErrInvalid)}
	}
	return t, n, nil
}

func inflateErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: compressed data ends early", ErrTruncated)
	}
	return fmt.Errorf("%w: zlib: %v", ErrInvalid, err)
}

// decodeState is one decoding pass. It lives on the caller's stack.
type decodeState struct {
	data     []byte
	pos      int
	start    int // where the term starts
	end      int // data[:end] may be read now (the end of a fun being decoded)
	sizeEnd  int // the end of the term; before len(data) when MaxSize cut it
	depth    int // open frames
	maxDepth int
	atoms    int
	maxAtoms int // 0: no cap
	alias    bool
	refs     []Atom
	funDepth int      // funs open
	funRefs  []funRef // ATOM_CACHE_REFs inside the outermost open fun
	funSpans []funSpan
	expanded int // bytes of funs rebuilt with their atoms written out
	cache    *AtomTable
	cmp      comparer // sorts each decoded map once, for the duplicate-key checks
	inline   [inlineFrames]frame
	chunks   [][]frame // frames deeper than inlineFrames
	ci, cj   int       // the top frame in chunks, when depth > inlineFrames
}

func (s *decodeState) init(d *Decoder, data []byte, pos int, alias bool) {
	lim := d.Limits.withDefaults()
	s.data = data
	s.pos = pos
	s.start = pos
	s.end = len(data)
	if uint64(s.end-pos) > uint64(lim.MaxSize) {
		s.end = pos + lim.MaxSize
	}
	s.sizeEnd = s.end
	s.maxDepth = lim.MaxDepth
	s.maxAtoms = lim.MaxAtoms
	s.alias = alias
	s.refs = d.AtomRefs
	s.cache = d.Atoms
}

func (s *decodeState) fail(start int, tag byte, err error) error {
	return &DecodeError{Offset: start, Tag: tag, Err: err}
}

func (s *decodeState) failf(start int, tag byte, format string, args ...any) error {
	return &DecodeError{Offset: start, Tag: tag, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)}
}

// short is the error for input that ends too soon.
func (s *decodeState) short(start int, tag byte) error {
	switch {
	case s.end < s.sizeEnd:
		return s.failf(start, tag, "term runs past the end of the fun that holds it")
	case s.end < len(s.data):
		return s.fail(start, tag, fmt.Errorf("%w: longer than %d bytes (Limits.MaxSize)", ErrTooLarge, s.sizeEnd-s.start))
	}
	return s.fail(start, tag, ErrTruncated)
}

// has reports whether n more bytes are available.
func (s *decodeState) has(n uint64) bool { return n <= uint64(s.end-s.pos) }

func (s *decodeState) u8() byte {
	v := s.data[s.pos]
	s.pos++
	return v
}

func (s *decodeState) u16() uint16 {
	v := binary.BigEndian.Uint16(s.data[s.pos:])
	s.pos += 2
	return v
}

func (s *decodeState) u32() uint32 {
	v := binary.BigEndian.Uint32(s.data[s.pos:])
	s.pos += 4
	return v
}

func (s *decodeState) bytes(n int) []byte {
	b := s.data[s.pos : s.pos+n : s.pos+n]
	s.pos += n
	return b
}

// keep returns b as the decoder's result must hold it: aliased or copied.
func (s *decodeState) keep(b []byte) []byte {
	if s.alias {
		return b
	}
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

// frame is a container the decoder is filling: a Tuple, a Map or a
// *funFrame in box, or, with box nil, a list whose elements are in elems
// (boxed only once known to be a proper list, so an improper one costs no
// box it drops), with the index of its next element. Frames live in
// decodeState: the first inlineFrames in the decodeState itself, deeper
// ones in chunks allocated as the depth grows, never more than one (and at
// most maxFrameChunk frames) ahead.
type frame struct {
	box   Term
	elems List
	i     uint32 // next element (a map counts keys and values); listTail: the tail comes next
	start uint32 // offset of the container's tag, for errors (cut to 32 bits)
}

// listTail in frame.i: the elements of the list are in and its tail,
// which is not a list, comes next.
const listTail = math.MaxUint32

const (
	inlineFrames  = 8
	maxFrameChunk = 4096
)

func (s *decodeState) push(start int, tag byte, box Term, elems List) error {
	d := s.depth
	if d >= s.maxDepth {
		return s.fail(start, tag, fmt.Errorf("%w: more than %d levels (Limits.MaxDepth)", ErrTooDeep, s.maxDepth))
	}
	f := frame{box: box, elems: elems, start: uint32(start)}
	if d < inlineFrames {
		s.inline[d] = f
		s.depth++
		return nil
	}
	if d == inlineFrames {
		s.ci, s.cj = 0, 0
	} else if s.cj++; s.cj == len(s.chunks[s.ci]) {
		s.ci, s.cj = s.ci+1, 0
	}
	if s.ci == len(s.chunks) {
		s.chunks = append(s.chunks, make([]frame, min(inlineFrames<<(s.ci+1), maxFrameChunk)))
	}
	s.chunks[s.ci][s.cj] = f
	s.depth++
	return nil
}

// top returns the innermost open frame.
func (s *decodeState) top() *frame {
	if d := s.depth - 1; d < inlineFrames {
		return &s.inline[d]
	}
	return &s.chunks[s.ci][s.cj]
}

// pop closes the innermost frame. The frame stays readable (through a
// pointer from top) until the next push.
func (s *decodeState) pop() {
	s.depth--
	if s.depth <= inlineFrames {
		return // the top is inline, or nothing is open
	}
	if s.cj > 0 {
		s.cj--
	} else {
		s.ci--
		s.cj = len(s.chunks[s.ci]) - 1
	}
}

// Terms for common atoms, boxed once so decoding them allocates nothing.
var (
	termTrue      Term = True
	termFalse     Term = False
	termOK        Term = OK
	termError     Term = Error
	termUndefined Term = Undefined
	termNil       Term = Nil
	termGenCall   Term = Atom("$gen_call")
	termGenCast   Term = Atom("$gen_cast")
	termEXIT      Term = Atom("EXIT")
	termNormal    Term = Atom("normal")
	termEmptyAtom Term = Atom("")
	termEmptyList Term = List{}
	// Empty tuples and maps are shared: with no capacity, nothing can
	// write through them.
	termEmptyTuple Term = Tuple{}
	termEmptyMap   Term = Map{}
)

// term decodes one whole term. It does not recurse: tuples, lists, maps
// and funs being filled are frames on the decoder's own stack (see push),
// so nesting as deep as MaxDepth costs no goroutine stack.
func (s *decodeState) term() (Term, error) {
	base := s.depth
	for {
		v, opened, err := s.next()
		if err != nil {
			return nil, err
		}
		if opened {
			// Fill the new container while its elements are scalars.
			var done bool
			if v, done, err = s.fill(); err != nil {
				return nil, err
			}
			if !done {
				continue // its next element is a container
			}
		}
		// Hand v to the containers it completes, innermost first.
		for s.depth > base {
			var done bool
			if v, done, err = s.put(v); err != nil {
				return nil, err
			}
			if !done {
				break
			}
		}
		if s.depth == base {
			return v, nil
		}
	}
}

// scalarTag marks the tags scalar decodes (everything but containers).
var scalarTag = func() (t [256]bool) {
	for i := range t {
		t[i] = true
	}
	for _, c := range []byte{TagSmallTuple, TagLargeTuple, TagList, TagMap, TagNewFun} {
		t[c] = false
	}
	return t
}()

// fill decodes the elements of the innermost container, a tuple, list or
// map just opened, as long as they are scalars: the common case, without
// the general loop. done reports that the container completed (and was
// popped), returning it.
func (s *decodeState) fill() (Term, bool, error) {
	f := s.top()
	switch c := f.box.(type) {
	case Tuple:
		for int(f.i) < len(c) {
			if s.pos >= s.end || !scalarTag[s.data[s.pos]] {
				return nil, false, nil
			}
			v, err := s.scalar()
			if err != nil {
				return nil, false, err
			}
			c[f.i] = v
			f.i++
		}
		s.pop()
		return f.box, true, nil
	case nil: // a list
		if f.i == listTail {
			return nil, false, nil
		}
		for c := f.elems; int(f.i) < len(c); {
			if s.pos >= s.end || !scalarTag[s.data[s.pos]] {
				return nil, false, nil
			}
			v, err := s.scalar()
			if err != nil {
				return nil, false, err
			}
			c[f.i] = v
			f.i++
		}
		return s.listEnd(f)
	case Map:
		for int(f.i) < 2*len(c) {
			if s.pos >= s.end || !scalarTag[s.data[s.pos]] {
				return nil, false, nil
			}
			v, err := s.scalar()
			if err != nil {
				return nil, false, err
			}
			if f.i&1 == 0 {
				c[f.i/2].Key = v
			} else {
				c[f.i/2].Value = v
			}
			f.i++
		}
		if err := s.checkMap(int(f.start), c); err != nil {
			return nil, false, err
		}
		s.pop()
		return f.box, true, nil
	}
	return nil, false, nil
}

// next reads the term that starts at s.pos. A scalar (or an empty
// container) comes back whole; a container with elements is pushed as a
// frame and reported as opened, or, when it completes at once (a list of
// no elements with a tail of characters), comes back whole too.
func (s *decodeState) next() (v Term, opened bool, err error) {
	start := s.pos
	if start >= s.end {
		return nil, false, s.short(start, 0)
	}
	tag := s.data[start]
	switch tag {
	case TagSmallTuple, TagLargeTuple:
		s.pos++
		var n uint64
		if tag == TagSmallTuple {
			if !s.has(1) {
				return nil, false, s.short(start, tag)
			}
			n = uint64(s.u8())
		} else {
			if !s.has(4) {
				return nil, false, s.short(start, tag)
			}
			n = uint64(s.u32())
		}
		if !s.has(n) { // every element takes at least one byte
			return nil, false, s.short(start, tag)
		}
		if n == 0 {
			return termEmptyTuple, false, nil
		}
		if err := s.push(start, tag, make(Tuple, n), nil); err != nil {
			return nil, false, err
		}
		return nil, true, nil
	case TagList:
		s.pos++
		if !s.has(4) {
			return nil, false, s.short(start, tag)
		}
		n := uint64(s.u32())
		// Every element and the tail take at least one byte each.
		if !s.has(n + 1) {
			return nil, false, s.short(start, tag)
		}
		var elems List
		if n > 0 {
			elems = make(List, n)
		}
		if err := s.push(start, tag, nil, elems); err != nil {
			return nil, false, err
		}
		if n > 0 {
			return nil, true, nil
		}
		v, done, err := s.listEnd(s.top())
		if err != nil || !done {
			return nil, err == nil, err
		}
		return v, false, nil
	case TagMap:
		s.pos++
		if !s.has(4) {
			return nil, false, s.short(start, tag)
		}
		n := uint64(s.u32())
		if !s.has(2 * n) {
			return nil, false, s.short(start, tag)
		}
		if n == 0 {
			return termEmptyMap, false, nil
		}
		if err := s.push(start, tag, make(Map, n), nil); err != nil {
			return nil, false, err
		}
		return nil, true, nil
	case TagNewFun:
		s.pos++
		return s.openFun(start)
	}
	v, err = s.scalar()
	return v, false, err
}

// put stores v, a complete term, in the innermost open container. When
// that completes the container, put pops it and returns it (done).
func (s *decodeState) put(v Term) (Term, bool, error) {
	f := s.top()
	switch c := f.box.(type) {
	case Tuple:
		c[f.i] = v
		f.i++
		if int(f.i) < len(c) {
			return nil, false, nil
		}
		s.pop()
		return f.box, true, nil
	case nil: // a list
		elems := f.elems
		if f.i == listTail {
			s.pop()
			if len(elems) == 0 {
				return v, true, nil // LIST_EXT of no elements is just its tail
			}
			return ImproperList{Elems: elems, Tail: v}, true, nil
		}
		elems[f.i] = v
		f.i++
		if int(f.i) < len(elems) {
			return nil, false, nil
		}
		return s.listEnd(f)
	case Map:
		if f.i&1 == 0 {
			c[f.i/2].Key = v
		} else {
			c[f.i/2].Value = v
		}
		f.i++
		if int(f.i) < 2*len(c) {
			return nil, false, nil
		}
		if err := s.checkMap(int(f.start), c); err != nil {
			return nil, false, err
		}
		s.pop()
		return f.box, true, nil
	case *funFrame:
		f.i++ // a free variable, checked and dropped
		if uint64(f.i) < c.numFree {
			return nil, false, nil
		}
		s.pop()
		t, err := s.closeFun(int(f.start), c)
		return t, err == nil, err
	}
	panic("etf: unknown decoder frame")
}

// scalar decodes a term that holds no other terms (atoms, numbers,
// binaries, pids, references, ports, exports, STRING_EXT); a container
// here is an error. It is also what reads the fields inside exports and
// funs, which must be scalars.
func (s *decodeState) scalar() (Term, error) {
	start := s.pos
	if start >= s.end {
		return nil, s.short(start, 0)
	}
	tag := s.data[start]
	s.pos++
	switch tag {
	case TagSmallInteger:
		if !s.has(1) {
			return nil, s.short(start, tag)
		}
		return int64(s.u8()), nil
	case TagInteger:
		if !s.has(4) {
			return nil, s.short(start, tag)
		}
		return int64(int32(s.u32())), nil
	case TagSmallBig, TagLargeBig:
		return s.bigInt(start, tag)
	case TagNewFloat:
		if !s.has(8) {
			return nil, s.short(start, tag)
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(s.bytes(8)))
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, s.failf(start, tag, "non-finite float")
		}
		return f, nil
	case TagFloat:
		if !s.has(31) {
			return nil, s.short(start, tag)
		}
		text := s.bytes(31)
		if i := bytes.IndexByte(text, 0); i >= 0 {
			text = text[:i]
		}
		f, ok := parseFloatExt(text)
		if !ok {
			return nil, s.failf(start, tag, "bad FLOAT_EXT text %q", text)
		}
		return f, nil
	case TagAtom, TagSmallAtom, TagAtomUTF8, TagSmallAtomUTF8, TagAtomCacheRef:
		s.pos = start
		a, err := s.atom()
		if err != nil {
			return nil, err
		}
		switch a {
		case "":
			return termEmptyAtom, nil
		case True:
			return termTrue, nil
		case False:
			return termFalse, nil
		case OK:
			return termOK, nil
		case Error:
			return termError, nil
		case Undefined:
			return termUndefined, nil
		case Nil:
			return termNil, nil
		case "$gen_call":
			return termGenCall, nil
		case "$gen_cast":
			return termGenCast, nil
		case "EXIT":
			return termEXIT, nil
		case "normal":
			return termNormal, nil
		}
		return a, nil
	case TagNil:
		return termEmptyList, nil
	case TagString:
		if !s.has(2) {
			return nil, s.short(start, tag)
		}
		n := int(s.u16())
		if !s.has(uint64(n)) {
			return nil, s.short(start, tag)
		}
		if n == 0 {
			return termEmptyList, nil // a non-canonical []
		}
		return latin1CharList(s.bytes(n)), nil
	case TagBinary:
		if !s.has(4) {
			return nil, s.short(start, tag)
		}
		n := s.u32()
		if !s.has(uint64(n)) {
			return nil, s.short(start, tag)
		}
		return Binary(s.keep(s.bytes(int(n)))), nil
	case TagBitBinary:
		return s.bitBinary(start)
	case TagNewPid, TagPid:
		return s.pid(start, tag)
	case TagNewerReference, TagNewReference, TagReference:
		return s.ref(start, tag)
	case TagNewPort, TagV4Port, TagPort:
		return s.port(start, tag)
	case TagExport:
		return s.export(start)
	case TagSmallTuple, TagLargeTuple, TagList, TagMap, TagNewFun:
		return nil, s.failf(start, tag, "a container where only a number, atom or pid may be")
	case TagFun:
		return nil, s.fail(start, tag, fmt.Errorf("%w: FUN_EXT (117), not produced since OTP 23", ErrUnsupported))
	case TagLocal:
		return nil, s.fail(start, tag, fmt.Errorf("%w: LOCAL_EXT (121) is private to the node that made it", ErrUnsupported))
	case TagCompressed:
		return nil, s.failf(start, tag, "a compressed term may only follow the version byte")
	}
	return nil, s.fail(start, tag, ErrUnknownTag)
}

func (s *decodeState) bigInt(start int, tag byte) (Term, error) {
	var n uint64
	if tag == TagSmallBig {
		if !s.has(2) {
			return nil, s.short(start, tag)
		}
		n = uint64(s.u8())
	} else {
		if !s.has(5) {
			return nil, s.short(start, tag)
		}
		n = uint64(s.u32())
	}
	if !s.has(n + 1) {
		return nil, s.short(start, tag)
	}
	if n > MaxBigBytes {
		return nil, s.fail(start, tag, fmt.Errorf("%w: integer of %d bytes, beyond the %d the BEAM holds", ErrTooLarge, n, MaxBigBytes))
	}
	neg := s.u8() != 0 // ERTS reads any non-zero sign byte as negative
	digits := s.bytes(int(n))
	// Skip high zero bytes of a non-canonical encoding.
	for len(digits) > 0 && digits[len(digits)-1] == 0 {
		digits = digits[:len(digits)-1]
	}
	if len(digits) <= 8 {
		var mag uint64
		for i := len(digits) - 1; i >= 0; i-- {
			mag = mag<<8 | uint64(digits[i])
		}
		switch {
		case !neg && mag <= math.MaxInt64:
			return int64(mag), nil
		case neg && mag <= 1<<63:
			return -int64(mag), nil // 1<<63 wraps to MinInt64, the right value
		}
		v := new(big.Int).SetUint64(mag)
		if neg {
			v.Neg(v)
		}
		return v, nil
	}
	be := make([]byte, len(digits))
	for i, c := range digits {
		be[len(digits)-1-i] = c
	}
	v := new(big.Int).SetBytes(be)
	if neg {
		v.Neg(v)
	}
	return v, nil
}

// atom reads any atom encoding (including ATOM_CACHE_REF when AtomRefs is
// set) starting at the tag byte.
func (s *decodeState) atom() (Atom, error) {
	start := s.pos
	if start >= s.end {
		return "", s.short(start, 0)
	}
	tag := s.u8()
	var n int
	switch tag {
	case TagSmallAtom, TagSmallAtomUTF8:
		if !s.has(1) {
			return "", s.short(start, tag)
		}
		n = int(s.u8())
	case TagAtom, TagAtomUTF8:
		if !s.has(2) {
			return "", s.short(start, tag)
		}
		n = int(s.u16())
	case TagAtomCacheRef:
		if !s.has(1) {
			return "", s.short(start, tag)
		}
		i := int(s.u8())
		if s.refs == nil {
			return "", s.fail(start, tag, fmt.Errorf("%w: ATOM_CACHE_REF outside distribution header mode", ErrUnsupported))
		}
		if i >= len(s.refs) {
			return "", s.failf(start, tag, "atom cache reference %d beyond the header's %d", i, len(s.refs))
		}
		if err := s.countAtom(start, tag); err != nil {
			return "", err
		}
		if s.funDepth > 0 {
			s.funRefs = append(s.funRefs, funRef{pos: start, idx: uint8(i)})
		}
		return s.refs[i], nil
	default:
		s.pos = start
		return "", s.failf(start, tag, "expected an atom")
	}
	if !s.has(uint64(n)) {
		return "", s.short(start, tag)
	}
	if err := s.countAtom(start, tag); err != nil {
		return "", err
	}
	text := s.bytes(n)
	if tag == TagAtom || tag == TagSmallAtom {
		if n > MaxAtomChars {
			return "", s.failf(start, tag, "atom longer than 255 characters")
		}
		if s.cache != nil && isASCII(text) {
			return s.cache.atom(text), nil
		}
		return latin1Atom(text), nil
	}
	if !utf8.Valid(text) {
		return "", s.failf(start, tag, "atom is not valid UTF-8")
	}
	if n > MaxAtomChars && utf8.RuneCount(text) > MaxAtomChars {
		return "", s.failf(start, tag, "atom longer than 255 characters")
	}
	if s.cache != nil {
		return s.cache.atom(text), nil
	}
	return commonAtom(text), nil
}

func (s *decodeState) countAtom(start int, tag byte) error {
	s.atoms++
	if s.maxAtoms > 0 && s.atoms > s.maxAtoms {
		return s.fail(start, tag, fmt.Errorf("%w: more than %d atoms (Limits.MaxAtoms)", ErrAtomBudget, s.maxAtoms))
	}
	return nil
}

// commonAtom returns the atom with text b, without allocating for atoms
// that turn up in almost every message.
func commonAtom(b []byte) Atom {
	switch string(b) {
	case "":
		return ""
	case "true":
		return True
	case "false":
		return False
	case "ok":
		return OK
	case "error":
		return Error
	case "undefined":
		return Undefined
	case "nil":
		return Nil
	case "nonode@nohost":
		return "nonode@nohost"
	case "$gen_call":
		return "$gen_call"
	case "$gen_cast":
		return "$gen_cast"
	case "EXIT":
		return "EXIT"
	case "normal":
		return "normal"
	}
	return Atom(b)
}

func latin1Atom(b []byte) Atom {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return Atom(latin1ToUTF8(b))
		}
	}
	return commonAtom(b)
}

func latin1ToUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)*2)
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return out
}

func latin1CharList(b []byte) CharList {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return CharList(latin1ToUTF8(b))
		}
	}
	return CharList(b)
}

// listEnd runs when the elements of a LIST_EXT are all in: it reads what
// follows them. NIL_EXT ends the list; another LIST_EXT (a non-canonical
// tail that is a list) or a STRING_EXT adds its elements, iteratively;
// anything else is the tail of an improper list, which the frame then
// waits for (f.i = listTail). done reports a completed (and popped) list.
func (s *decodeState) listEnd(f *frame) (Term, bool, error) {
	for {
		elems := f.elems
		start := s.pos
		if start >= s.end {
			return nil, false, s.short(start, 0)
		}
		switch s.data[start] {
		case TagNil:
			s.pos++
			s.pop()
			if len(elems) == 0 {
				return termEmptyList, true, nil
			}
			return elems, true, nil
		case TagList:
			s.pos++
			if !s.has(4) {
				return nil, false, s.short(start, TagList)
			}
			n := uint64(s.u32())
			if !s.has(n + 1) {
				return nil, false, s.short(start, TagList)
			}
			if n == 0 {
				continue
			}
			l := growList(elems, n)
			f.elems = l[:len(elems)+int(n)]
			f.start = uint32(start)
			return nil, false, nil
		case TagString:
			tail, err := s.scalar()
			if err != nil {
				return nil, false, err
			}
			s.pop()
			chars, ok := tail.(CharList) // else the empty list
			if !ok && len(elems) == 0 {
				return termEmptyList, true, nil
			}
			if !ok {
				return elems, true, nil
			}
			elems = growList(elems, uint64(len(chars)))
			for _, r := range string(chars) {
				elems = append(elems, int64(r))
			}
			return elems, true, nil
		}
		f.i = listTail
		return nil, false, nil
	}
}

// growList returns l with room for n more elements.
func growList(l List, n uint64) List {
	if uint64(cap(l)-len(l)) >= n {
		return l
	}
	// Grow at least twofold so that long chains of cells stay linear; what
	// is already decoded justifies the doubling.
	c := max(uint64(len(l))+n, 2*uint64(cap(l)))
	g := make(List, len(l), c)
	copy(g, l)
	return g
}

func (s *decodeState) bitBinary(start int) (Term, error) {
	const tag = TagBitBinary
	if !s.has(5) {
		return nil, s.short(start, tag)
	}
	n := s.u32()
	bits := s.u8()
	if !s.has(uint64(n)) {
		return nil, s.short(start, tag)
	}
	switch {
	case n == 0 && bits == 0:
		return Binary(s.keep(s.bytes(0))), nil
	case n == 0 || bits == 0 || bits > 8:
		return nil, s.failf(start, tag, "bit length %d of a %d-byte bit string", bits, n)
	}
	b := s.bytes(int(n))
	if bits == 8 {
		return Binary(s.keep(b)), nil
	}
	mask := byte(0xFF) << (8 - bits)
	last := b[len(b)-1]
	if last&^mask != 0 {
		// Clear the unused bits, on a copy.
		c := make([]byte, len(b))
		copy(c, b)
		c[len(c)-1] = last & mask
		return BitBinary{Bytes: c, Bits: bits}, nil
	}
	return BitBinary{Bytes: s.keep(b), Bits: bits}, nil
}

// checkMap refuses duplicate keys and puts the pairs of a map of up to 32
// keys in key order, as the BEAM keeps them; a larger map keeps the order
// of the input (term_to_binary writes the BEAM's hash-trie order, which
// Format prints reversed, as ~0p does).
func (s *decodeState) checkMap(start int, m Map) error {
	cm := &s.cmp
	sorted := true
	for i := 1; i < len(m); i++ {
		c := cm.compare(m[i-1].Key, m[i].Key, true)
		if c == 0 {
			return s.failf(start, TagMap, "duplicate map key")
		}
		if c > 0 {
			sorted = false
			break
		}
	}
	if sorted {
		return nil
	}
	p := m
	if len(m) > textFlatMapLimit {
		p = make([]Pair, len(m)) // only to find duplicates
		copy(p, m)
	}
	cm.sortPairs(p)
	for i := 1; i < len(p); i++ {
		if cm.compare(p[i-1].Key, p[i].Key, true) == 0 {
			return s.failf(start, TagMap, "duplicate map key")
		}
	}
	return nil
}

func (s *decodeState) pid(start int, tag byte) (Term, error) {
	node, err := s.atom()
	if err != nil {
		return nil, err
	}
	need := uint64(12)
	if tag == TagPid {
		need = 9
	}
	if !s.has(need) {
		return nil, s.short(start, tag)
	}
	p := Pid{Node: node, ID: s.u32(), Serial: s.u32()}
	if tag == TagPid {
		p.Creation = uint32(s.u8())
	} else {
		p.Creation = s.u32()
	}
	return p, nil
}

func (s *decodeState) ref(start int, tag byte) (Term, error) {
	var r Ref
	if tag == TagReference {
		node, err := s.atom()
		if err != nil {
			return nil, err
		}
		if !s.has(5) {
			return nil, s.short(start, tag)
		}
		r.Node, r.Len = node, 1
		r.ID[0] = s.u32()
		r.Creation = uint32(s.u8())
		return r, nil
	}
	if !s.has(2) {
		return nil, s.short(start, tag)
	}
	n := s.u16()
	if n == 0 || n > MaxRefWords {
		// A reference of 0 words crashes OTP 25 (segfault): never echo one.
		return nil, s.failf(start, tag, "reference of %d words (1 to %d)", n, MaxRefWords)
	}
	node, err := s.atom()
	if err != nil {
		return nil, err
	}
	r.Node, r.Len = node, uint8(n)
	if tag == TagNewReference {
		if !s.has(1 + 4*uint64(n)) {
			return nil, s.short(start, tag)
		}
		r.Creation = uint32(s.u8())
	} else {
		if !s.has(4 + 4*uint64(n)) {
			return nil, s.short(start, tag)
		}
		r.Creation = s.u32()
	}
	for i := range int(n) {
		r.ID[i] = s.u32()
	}
	return r, nil
}

func (s *decodeState) port(start int, tag byte) (Term, error) {
	node, err := s.atom()
	if err != nil {
		return nil, err
	}
	p := Port{Node: node}
	switch tag {
	case TagNewPort:
		if !s.has(8) {
			return nil, s.short(start, tag)
		}
		p.ID, p.Creation = uint64(s.u32()), s.u32()
	case TagV4Port:
		if !s.has(12) {
			return nil, s.short(start, tag)
		}
		p.ID = binary.BigEndian.Uint64(s.bytes(8))
		p.Creation = s.u32()
	default:
		if !s.has(5) {
			return nil, s.short(start, tag)
		}
		p.ID, p.Creation = uint64(s.u32()), uint32(s.u8())
	}
	return p, nil
}

func (s *decodeState) export(start int) (Term, error) {
	const tag = TagExport
	mod, err := s.atom()
	if err != nil {
		return nil, err
	}
	fn, err := s.atom()
	if err != nil {
		return nil, err
	}
	arity, err := s.scalar()
	if err != nil {
		return nil, err
	}
	a, ok := arity.(int64)
	if !ok || a < 0 || a > 255 {
		return nil, s.failf(start, tag, "export arity is not an integer in 0..255")
	}
	return Export{Module: mod, Function: fn, Arity: uint8(a)}, nil
}

// funFrame is a NEW_FUN_EXT whose free variables are being decoded.
type funFrame struct {
	f        Fun
	numFree  uint64
	end      int // the end of the fun
	outerEnd int // s.end outside the fun
	span     int // its index in funSpans, when the decoder has AtomRefs
}

// funRef is an ATOM_CACHE_REF inside a fun, and funSpan a fun inside the
// outermost one: what rebuilding that fun's bytes with the atoms written
// out needs.
type funRef struct {
	pos int
	idx uint8
}

type funSpan struct {
	pos, end          int
	refOpen, refClose int // its refs are funRefs[refOpen:refClose]
}

// openFun reads the fixed fields of a NEW_FUN_EXT (s.pos is past the tag)
// and opens it for its free variables, which are decoded (and dropped)
// so that the size is known to be right; the fun itself is kept as its
// bytes.
//
//	112, Size:32, Arity:8, Uniq:16 bytes, Index:32, NumFree:32,
//	Module(atom), OldIndex(int), OldUniq(int), Pid, FreeVars...
func (s *decodeState) openFun(start int) (Term, bool, error) {
	const tag = TagNewFun
	const fixed = 4 + 1 + 16 + 4 + 4
	if !s.has(fixed) {
		return nil, false, s.short(start, tag)
	}
	size := uint64(s.u32())
	if size < fixed {
		return nil, false, s.failf(start, tag, "fun size %d too small", size)
	}
	if !s.has(size - 4) {
		return nil, false, s.short(start, tag)
	}
	ff := &funFrame{end: start + 1 + int(size), outerEnd: s.end}
	if err := s.push(start, tag, ff, nil); err != nil {
		return nil, false, err
	}
	s.funDepth++
	if s.refs != nil {
		ff.span = len(s.funSpans)
		s.funSpans = append(s.funSpans, funSpan{pos: start, end: ff.end, refOpen: len(s.funRefs)})
	}
	s.end = ff.end // nothing in the fun may reach beyond its size
	ff.f.Arity = s.u8()
	s.pos += 16 // Uniq
	ff.f.Index = s.u32()
	ff.numFree = uint64(s.u32())
	var err error
	if ff.f.Module, err = s.atom(); err != nil {
		return nil, false, err
	}
	oldIndex, err := s.scalar()
	if err != nil {
		return nil, false, err
	}
	oldUniq, err := s.scalar()
	if err != nil {
		return nil, false, err
	}
	_, ok1 := oldIndex.(int64)
	ou, ok2 := oldUniq.(int64)
	if !ok1 || !ok2 {
		return nil, false, s.failf(start, tag, "fun OldIndex/OldUniq are not integers")
	}
	ff.f.Uniq = uint32(ou)
	pid, err := s.scalar()
	if err != nil {
		return nil, false, err
	}
	if _, ok := pid.(Pid); !ok {
		return nil, false, s.failf(start, tag, "fun creator is not a pid")
	}
	if !s.has(ff.numFree) {
		return nil, false, s.short(start, tag)
	}
	if ff.numFree > 0 {
		return nil, true, nil
	}
	s.pop()
	t, err := s.closeFun(start, ff)
	return t, false, err
}

// closeFun finishes a fun whose free variables are all decoded (and whose
// frame is popped). Only the outermost fun gets its bytes: a fun inside
// another is a free variable, which is dropped, and copying its bytes
// would make nested funs cost memory quadratic in their depth.
func (s *decodeState) closeFun(start int, ff *funFrame) (Term, error) {
	const tag = TagNewFun
	if s.pos != ff.end {
		return nil, s.failf(start, tag, "fun size %d but its fields end at %d", ff.end-start-1, s.pos-start-1)
	}
	s.end = ff.outerEnd
	s.funDepth--
	if s.refs != nil {
		s.funSpans[ff.span].refClose = len(s.funRefs)
	}
	f := ff.f
	if s.funDepth > 0 {
		return f, nil
	}
	if len(s.funRefs) == 0 {
		f.Raw = s.keep(s.data[start:ff.end:ff.end])
		s.funSpans = s.funSpans[:0]
		return f, nil
	}
	// Atom cache references mean nothing outside this frame: rebuild the
	// fun with the atoms written out.
	raw, err := s.expandFun(start, ff.end)
	s.funRefs, s.funSpans = s.funRefs[:0], s.funSpans[:0]
	if err != nil {
		return nil, s.fail(start, tag, err)
	}
	f.Raw = raw
	return f, nil
}

// expandFun returns the bytes of the fun at data[start:end] with every
// ATOM_CACHE_REF in it replaced by its atom and the size of every fun in
// it corrected, in one pass. The bytes so written count against the memory
// bound of the decode: at most MemoryPerByte per byte of its input.
func (s *decodeState) expandFun(start, end int) ([]byte, error) {
	refs, spans := s.funRefs, s.funSpans
	// grown[k] is how many bytes the first k references add.
	grown := make([]int, len(refs)+1)
	for k, r := range refs {
		grown[k+1] = grown[k] + atomSize(s.refs[r.idx]) - 2
	}
	size := end - start + grown[len(refs)]
	s.expanded += size
	if s.expanded > MemoryPerByte*(s.sizeEnd-s.start) {
		return nil, fmt.Errorf("%w: funs whose atom cache references expand to %d bytes, beyond %d per byte of input",
			ErrTooLarge, s.expanded, MemoryPerByte)
	}
	out := make([]byte, 0, size)
	pos, ri, fi := start, 0, 0
	for pos < end {
		next := end
		if ri < len(refs) {
			next = refs[ri].pos
		}
		if fi < len(spans) && spans[fi].pos < next {
			next = spans[fi].pos
		}
		out = append(out, s.data[pos:next]...)
		pos = next
		switch {
		case pos == end:
		case fi < len(spans) && spans[fi].pos == pos:
			sp := spans[fi]
			newSize := sp.end - sp.pos - 1 + grown[sp.refClose] - grown[sp.refOpen]
			if uint64(newSize) > math.MaxUint32 {
				return nil, fmt.Errorf("%w: fun of %d bytes with its atoms written out", ErrTooLarge, newSize)
			}
			out = append(out, TagNewFun)
			out = appendU32(out, uint32(newSize))
			pos += 5
			fi++
		default:
			var err error
			if out, err = appendAtom(out, s.refs[refs[ri].idx]); err != nil {
				return nil, err
			}
			pos += 2
			ri++
		}
	}
	return out, nil
}

// atomSize is the size of the encoding appendAtom writes for a.
func atomSize(a Atom) int {
	if len(a) <= 255 {
		return 2 + len(a)
	}
	return 3 + len(a)
}

// parseFloatExt reads the text of a FLOAT_EXT exactly as ERTS does (checked
// against OTP 25's binary_to_term): [+-]Digits[.,]Digits, then optionally
// [eE][+-]Digits, with ASCII digits only. A value that overflows is
// refused; one that underflows is 0.0.
func parseFloatExt(text []byte) (float64, bool) {
	var buf [31]byte
	b := append(buf[:0], text...)
	i := 0
	digits := func() bool {
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		i++
	}
	if !digits() || i == len(b) || (b[i] != '.' && b[i] != ',') {
		return 0, false
	}
	b[i] = '.'
	i++
	if !digits() {
		return 0, false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return 0, false
		}
	}
	if i != len(b) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}
