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
// version byte 131, with the default Limits. Bytes after the term are an
// error (ErrTrailingData). The result never aliases data.
func Decode(data []byte) (Term, error) {
	var d Decoder
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
			return nil, 0, &DecodeError{Offset: 1, Tag: TagBinary, Err: ErrTooLarge}
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
		return nil, 0, &DecodeError{Offset: 1, Tag: TagCompressed, Err: ErrTooLarge}
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
	end      int // data[:end] may be read now (the end of a fun being decoded)
	sizeEnd  int // the end of the term; before len(data) when MaxSize cut it
	depth    int
	maxDepth int
	atoms    int
	maxAtoms int
	alias    bool
	refs     []Atom
	refsSeen int // ATOM_CACHE_REFs resolved so far
	cache    *AtomTable
	cmp      comparer // sorts each decoded map once, for the duplicate-key checks
}

func (s *decodeState) init(d *Decoder, data []byte, pos int, alias bool) {
	lim := d.Limits.withDefaults()
	s.data = data
	s.pos = pos
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
		return s.fail(start, tag, ErrTooLarge)
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

func (s *decodeState) enter(start int, tag byte) error {
	s.depth++
	if s.depth > s.maxDepth {
		return s.fail(start, tag, ErrTooDeep)
	}
	return nil
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
)

func (s *decodeState) term() (Term, error) {
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
	case TagSmallTuple, TagLargeTuple:
		var n uint64
		if tag == TagSmallTuple {
			if !s.has(1) {
				return nil, s.short(start, tag)
			}
			n = uint64(s.u8())
		} else {
			if !s.has(4) {
				return nil, s.short(start, tag)
			}
			n = uint64(s.u32())
		}
		if !s.has(n) { // every element takes at least one byte
			return nil, s.short(start, tag)
		}
		if err := s.enter(start, tag); err != nil {
			return nil, err
		}
		tup := make(Tuple, n)
		for i := range tup {
			e, err := s.term()
			if err != nil {
				return nil, err
			}
			tup[i] = e
		}
		s.depth--
		return tup, nil
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
	case TagList:
		return s.list(start)
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
	case TagMap:
		return s.mapTerm(start)
	case TagNewPid, TagPid:
		return s.pid(start, tag)
	case TagNewerReference, TagNewReference, TagReference:
		return s.ref(start, tag)
	case TagNewPort, TagV4Port, TagPort:
		return s.port(start, tag)
	case TagExport:
		return s.export(start)
	case TagNewFun:
		return s.fun(start)
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
		s.refsSeen++
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
	if s.atoms > s.maxAtoms {
		return s.fail(start, tag, ErrAtomBudget)
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

// list decodes LIST_EXT. A tail that is itself a list (a non-canonical
// encoding) is merged into the elements, iteratively.
func (s *decodeState) list(start int) (Term, error) {
	const tag = TagList
	if err := s.enter(start, tag); err != nil {
		return nil, err
	}
	var elems List
	for {
		if !s.has(4) {
			return nil, s.short(start, tag)
		}
		n := uint64(s.u32())
		// Every element and the tail take at least one byte each.
		if !s.has(n + 1) {
			return nil, s.short(start, tag)
		}
		if elems == nil {
			elems = make(List, 0, n)
		} else {
			elems = growList(elems, n)
		}
		for i := uint64(0); i < n; i++ {
			e, err := s.term()
			if err != nil {
				return nil, err
			}
			elems = append(elems, e)
		}
		if s.pos >= s.end {
			return nil, s.short(s.pos, 0)
		}
		switch s.data[s.pos] {
		case TagNil:
			s.pos++
			s.depth--
			if len(elems) == 0 {
				return termEmptyList, nil
			}
			return elems, nil
		case TagList:
			start = s.pos
			s.pos++
			continue
		case TagString:
			tail, err := s.term()
			if err != nil {
				return nil, err
			}
			if chars, ok := tail.(CharList); ok { // else the empty list
				elems = growList(elems, uint64(len(chars)))
				for _, r := range string(chars) {
					elems = append(elems, int64(r))
				}
			}
			s.depth--
			if len(elems) == 0 {
				return termEmptyList, nil
			}
			return elems, nil
		}
		tail, err := s.term()
		if err != nil {
			return nil, err
		}
		s.depth--
		if len(elems) == 0 {
			return tail, nil // LIST_EXT of no elements is just its tail
		}
		return ImproperList{Elems: elems, Tail: tail}, nil
	}
}

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

func (s *decodeState) mapTerm(start int) (Term, error) {
	const tag = TagMap
	if !s.has(4) {
		return nil, s.short(start, tag)
	}
	n := uint64(s.u32())
	if !s.has(2 * n) {
		return nil, s.short(start, tag)
	}
	if err := s.enter(start, tag); err != nil {
		return nil, err
	}
	m := make(Map, n)
	sorted := true
	cm := &s.cmp
	for i := range m {
		k, err := s.term()
		if err != nil {
			return nil, err
		}
		v, err := s.term()
		if err != nil {
			return nil, err
		}
		m[i] = Pair{Key: k, Value: v}
		if sorted && i > 0 {
			c := cm.compare(m[i-1].Key, k, true)
			if c == 0 {
				return nil, s.failf(start, tag, "duplicate map key")
			}
			sorted = c < 0
		}
	}
	if !sorted {
		p := cm.sortedPairs(m)
		for i := 1; i < len(p); i++ {
			if cm.compare(p[i-1].Key, p[i].Key, true) == 0 {
				return nil, s.failf(start, tag, "duplicate map key")
			}
		}
		if len(m) <= textFlatMapLimit {
			m = p // hand out the pairs in key order, as the BEAM keeps them
		}
		// A larger map keeps the order of the input: term_to_binary
		// writes it in hash-trie order, which Format prints reversed, as
		// ~0p does.
	}
	s.depth--
	return m, nil
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
	arity, err := s.term()
	if err != nil {
		return nil, err
	}
	a, ok := arity.(int64)
	if !ok || a < 0 || a > 255 {
		return nil, s.failf(start, tag, "export arity is not an integer in 0..255")
	}
	return Export{Module: mod, Function: fn, Arity: uint8(a)}, nil
}

// fun decodes NEW_FUN_EXT: every field is checked and the free variables
// decoded (and dropped) so that the size is known to be right; the fun
// itself is kept as its bytes.
//
//	112, Size:32, Arity:8, Uniq:16 bytes, Index:32, NumFree:32,
//	Module(atom), OldIndex(int), OldUniq(int), Pid, FreeVars...
func (s *decodeState) fun(start int) (Term, error) {
	const tag = TagNewFun
	const fixed = 4 + 1 + 16 + 4 + 4
	if !s.has(fixed) {
		return nil, s.short(start, tag)
	}
	size := uint64(s.u32())
	if size < fixed {
		return nil, s.failf(start, tag, "fun size %d too small", size)
	}
	if !s.has(size - 4) {
		return nil, s.short(start, tag)
	}
	if err := s.enter(start, tag); err != nil {
		return nil, err
	}
	end := start + 1 + int(size)
	outerEnd := s.end
	s.end = end // nothing in the fun may reach beyond its size
	defer func() { s.end = outerEnd }()

	f := Fun{Arity: s.u8()}
	uniq := s.bytes(16)
	f.Index = s.u32()
	numFree := uint64(s.u32())
	refsBefore := s.refsSeen
	var err error
	if f.Module, err = s.atom(); err != nil {
		return nil, err
	}
	oldIndex, err := s.term()
	if err != nil {
		return nil, err
	}
	oldUniq, err := s.term()
	if err != nil {
		return nil, err
	}
	oi, ok1 := oldIndex.(int64)
	ou, ok2 := oldUniq.(int64)
	if !ok1 || !ok2 {
		return nil, s.failf(start, tag, "fun OldIndex/OldUniq are not integers")
	}
	f.Uniq = uint32(ou)
	pid, err := s.term()
	if err != nil {
		return nil, err
	}
	if _, ok := pid.(Pid); !ok {
		return nil, s.failf(start, tag, "fun creator is not a pid")
	}
	if !s.has(numFree) {
		return nil, s.short(start, tag)
	}
	var free []Term
	if s.refs != nil {
		free = make([]Term, 0, numFree)
	}
	for i := uint64(0); i < numFree; i++ {
		v, err := s.term()
		if err != nil {
			return nil, err
		}
		if s.refs != nil {
			free = append(free, v)
		}
	}
	if s.pos != end {
		return nil, s.failf(start, tag, "fun size %d but its fields end at %d", size, s.pos-start-1)
	}
	s.depth--
	if s.refsSeen != refsBefore {
		// Atom cache references mean nothing outside this frame: rebuild
		// the fun with the atoms written out.
		raw, err := rebuildFun(f, uniq, numFree, oi, ou, pid, free)
		if err != nil {
			return nil, s.failf(start, tag, "re-encoding fun: %v", err)
		}
		f.Raw = raw
		return f, nil
	}
	f.Raw = s.keep(s.data[start:end:end])
	return f, nil
}

func rebuildFun(f Fun, uniq []byte, numFree uint64, oldIndex, oldUniq int64, pid Term, free []Term) ([]byte, error) {
	b := []byte{TagNewFun, 0, 0, 0, 0, f.Arity}
	b = append(b, uniq...)
	b = appendU32(b, f.Index)
	b = appendU32(b, uint32(numFree))
	b, err := appendAtom(b, f.Module)
	if err != nil {
		return nil, err
	}
	b = appendInt(b, oldIndex)
	b = appendInt(b, oldUniq)
	if b, err = appendTerm(b, pid, 0); err != nil {
		return nil, err
	}
	for _, v := range free {
		if b, err = appendTerm(b, v, 1); err != nil {
			return nil, err
		}
	}
	binary.BigEndian.PutUint32(b[1:5], uint32(len(b)-1))
	return b, nil
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
