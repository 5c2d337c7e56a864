package etf

import (
	"encoding/binary"
	"math"
	"math/big"
	"math/bits"
	"unicode/utf8"
)

// Encode returns the standalone encoding of t: the version byte 131
// followed by the term, exactly as term_to_binary(T, [{minor_version, 2}])
// writes it on OTP 25 (maps of more than 32 keys aside, whose key order
// Erlang takes from a hash; Encode always sorts keys).
func Encode(t Term) ([]byte, error) {
	return Append(make([]byte, 0, 64), t)
}

// Append appends the version byte 131 and the encoding of t to dst and
// returns the extended slice. On error it returns dst unchanged (its spare
// capacity may have been written to). It keeps no reference to t or dst.
func Append(dst []byte, t Term) ([]byte, error) {
	n := len(dst)
	out, err := appendTerm(append(dst, VersionByte), t)
	if err != nil {
		return dst[:n], err
	}
	return out, nil
}

// AppendTerm appends the encoding of t without the version byte, the form
// terms take behind a distribution header. On error it returns dst
// unchanged.
func AppendTerm(dst []byte, t Term) ([]byte, error) {
	n := len(dst)
	out, err := appendTerm(dst, t)
	if err != nil {
		return dst[:n], err
	}
	return out, nil
}

func appendU16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

// encFrame is a tuple, list or map whose elements are being written: the
// encoder keeps them on its own stack (encStack) instead of recursing, so
// nesting costs no goroutine stack.
type encFrame struct {
	elems  []Term // tuple or list elements still to write
	pairs  []Pair // map pairs still to write
	tail   Term   // a list's tail (nil: []), written after its elements
	list   bool
	tailed bool // the tail has been handed out
	value  bool // the value of pairs[0] comes next
}

// encStack holds the encoder's open frames: the first few inline, on the
// caller's goroutine stack, deeper ones on the heap.
type encStack struct {
	n      int
	base   int // containers open above the first frame
	inline [8]encFrame
	more   []encFrame
}

func (st *encStack) push(f encFrame) {
	if st.n < len(st.inline) {
		st.inline[st.n] = f
	} else {
		st.more = append(st.more, f)
	}
	st.n++
}

func (st *encStack) top() *encFrame {
	if st.n <= len(st.inline) {
		return &st.inline[st.n-1]
	}
	return &st.more[st.n-1-len(st.inline)]
}

func (st *encStack) pop() {
	st.n--
	if st.n >= len(st.inline) {
		st.more[len(st.more)-1] = encFrame{} // drop the references
		st.more = st.more[:len(st.more)-1]
	}
}

// appendTerm writes t. Nesting deeper than hardMaxDepth (a cyclic value, or
// one no decoder accepts) fails with ErrTooDeep.
func appendTerm(b []byte, t Term) ([]byte, error) { return appendOne(b, t, nil, 0) }

// recursionDepth is how deep the encoder recurses before it writes the
// rest of a term from an explicit stack: shallow terms, the common case,
// are written without one (it costs zeroing), and deep terms cost no more
// goroutine stack than this many levels.
const recursionDepth = 32

// elemsElsewhere is the cold path of a container's elements: with st,
// f is pushed for appendStack to write; without, the container is
// recursionDepth levels down and appendDeep writes f from a stack of its
// own. (Only the recursive path writes elements in line, which keeps the
// common case free of frames.)
func elemsElsewhere(b []byte, t Term, f encFrame, st *encStack, depth int) ([]byte, error) {
	if st == nil {
		return appendDeep(b, t, f, depth)
	}
	if st.full() {
		return b, encodeErr(t, ErrTooDeep, "")
	}
	st.push(f)
	return b, nil
}

// appendDeep writes the elements f describes of a container depth levels
// down, and all it holds, from an explicit stack. (A function of its own:
// the stack is zeroed only for deep terms.)
//
//go:noinline
func appendDeep(b []byte, t Term, f encFrame, depth int) ([]byte, error) {
	st := encStack{base: depth}
	if st.full() {
		return b, encodeErr(t, ErrTooDeep, "")
	}
	st.push(f)
	return appendStack(b, &st)
}

// appendStack writes the elements of the containers open on st, keeping
// the containers inside them on st too.
func appendStack(b []byte, st *encStack) ([]byte, error) {
	var err error
	for {
		// The next term to write: the next element of the innermost open
		// container, closing those that are done.
		var t Term
		for {
			if st.n == 0 {
				return b, nil
			}
			f := st.top()
			if len(f.elems) > 0 {
				t = f.elems[0]
				f.elems = f.elems[1:]
				break
			}
			if len(f.pairs) > 0 {
				if !f.value {
					t, f.value = f.pairs[0].Key, true
				} else {
					t, f.value = f.pairs[0].Value, false
					f.pairs = f.pairs[1:]
				}
				break
			}
			if f.list && !f.tailed {
				f.tailed = true
				if f.tail != nil {
					t = f.tail
					break
				}
				b = append(b, TagNil)
			}
			st.pop()
		}
		if b, err = appendOne(b, t, st, 0); err != nil {
			return b, err
		}
	}
}

// full reports whether another container would nest too deeply.
func (st *encStack) full() bool { return st.base+st.n >= hardMaxDepth }

// appendOne writes t, depth containers down: a scalar, or a container's
// header and then, through appendElems, its elements.
func appendOne(b []byte, t Term, st *encStack, depth int) ([]byte, error) {
	switch v := t.(type) {
	case Atom:
		return appendAtom(b, v)
	case int64:
		return appendInt(b, v), nil
	case int:
		return appendInt(b, int64(v)), nil
	case int8:
		return appendInt(b, int64(v)), nil
	case int16:
		return appendInt(b, int64(v)), nil
	case int32:
		return appendInt(b, int64(v)), nil
	case uint:
		return appendUint(b, uint64(v)), nil
	case uint8:
		return appendInt(b, int64(v)), nil
	case uint16:
		return appendInt(b, int64(v)), nil
	case uint32:
		return appendInt(b, int64(v)), nil
	case uint64:
		return appendUint(b, v), nil
	case *big.Int:
		if v == nil {
			return b, encodeErr(t, ErrInvalid, "nil *big.Int")
		}
		if v.BitLen() > 8*MaxBigBytes {
			return b, encodeErr(t, ErrTooLarge, "integer beyond the BEAM's largest")
		}
		return appendBig(b, v), nil
	case float64:
		return appendFloat(b, v)
	case float32:
		return appendFloat(b, float64(v))
	case bool:
		return appendAtom(b, Bool(v))
	case Binary:
		return appendBinary(b, v)
	case []byte:
		return appendBinary(b, v)
	case string:
		if uint64(len(v)) > math.MaxUint32 {
			return b, encodeErr(t, ErrTooLarge, "")
		}
		b = append(b, TagBinary)
		b = appendU32(b, uint32(len(v)))
		return append(b, v...), nil
	case BitBinary:
		return appendBitBinary(b, v)
	case CharList:
		return appendCharList(b, v)
	case Tuple:
		return appendTuple(b, v, st, depth)
	case List:
		return appendList(b, v, nil, st, depth)
	case Map:
		return appendMap(b, v, st, depth)
	case ImproperList:
		return appendImproper(b, v, st, depth)
	case nil:
		return append(b, TagNil), nil
	case Pid:
		b = append(b, TagNewPid)
		b, err := appendAtom(b, v.Node)
		if err != nil {
			return b, err
		}
		b = appendU32(b, v.ID)
		b = appendU32(b, v.Serial)
		return appendU32(b, v.Creation), nil
	case Ref:
		return appendRef(b, v)
	case Port:
		// Like term_to_binary, NEW_PORT_EXT only for IDs of up to 28 bits.
		v4 := v.ID > maxV3PortID
		if v4 {
			b = append(b, TagV4Port)
		} else {
			b = append(b, TagNewPort)
		}
		b, err := appendAtom(b, v.Node)
		if err != nil {
			return b, err
		}
		if v4 {
			b = binary.BigEndian.AppendUint64(b, v.ID)
		} else {
			b = appendU32(b, uint32(v.ID))
		}
		return appendU32(b, v.Creation), nil
	case Export:
		b = append(b, TagExport)
		b, err := appendAtom(b, v.Module)
		if err != nil {
			return b, err
		}
		if b, err = appendAtom(b, v.Function); err != nil {
			return b, err
		}
		return append(b, TagSmallInteger, v.Arity), nil
	case Raw:
		if len(v.b) == 0 {
			return b, encodeErr(t, ErrInvalid, "an empty etf.Raw (use EncodeRaw)")
		}
		return append(b, v.b...), nil
	case Fun:
		if !validFunRaw(v.Raw) {
			return b, encodeErr(t, ErrInvalid, "Fun.Raw is not a NEW_FUN_EXT encoding")
		}
		return append(b, v.Raw...), nil
	}
	return b, encodeErr(t, ErrUnsupported, "no Erlang term for this Go type")
}

// maxV3PortID is the largest port ID ERTS writes as NEW_PORT_EXT; larger
// IDs go out as V4_PORT_EXT (checked against OTP 25's term_to_binary).
const maxV3PortID = 1<<28 - 1

// validFunRaw checks the envelope of a NEW_FUN_EXT: its tag and its size.
func validFunRaw(raw []byte) bool {
	return len(raw) >= 5 && raw[0] == TagNewFun &&
		uint64(binary.BigEndian.Uint32(raw[1:5])) == uint64(len(raw)-1)
}

func appendInt(b []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= 255:
		return append(b, TagSmallInteger, byte(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		b = append(b, TagInteger)
		return appendU32(b, uint32(int32(v)))
	case v < 0:
		return appendMagnitude(b, uint64(-v), 1) // -MinInt64 wraps to 1<<63, its magnitude
	}
	return appendMagnitude(b, uint64(v), 0)
}

func appendUint(b []byte, v uint64) []byte {
	if v <= math.MaxInt64 {
		return appendInt(b, int64(v))
	}
	return appendMagnitude(b, v, 0)
}

// appendMagnitude writes SMALL_BIG_EXT for a magnitude of up to 64 bits.
func appendMagnitude(b []byte, mag uint64, sign byte) []byte {
	n := (bits.Len64(mag) + 7) / 8
	b = append(b, TagSmallBig, byte(n), sign)
	for i := 0; i < n; i++ {
		b = append(b, byte(mag>>(8*i)))
	}
	return b
}

func appendBig(b []byte, v *big.Int) []byte {
	if v.IsInt64() {
		return appendInt(b, v.Int64())
	}
	var sign byte
	if v.Sign() < 0 {
		sign = 1
	}
	n := (v.BitLen() + 7) / 8
	if n <= 255 {
		b = append(b, TagSmallBig, byte(n), sign)
	} else {
		b = append(b, TagLargeBig)
		b = appendU32(b, uint32(n))
		b = append(b, sign)
	}
	// Little-endian magnitude straight from the words, without copying v.
	left := n
	for _, w := range v.Bits() {
		for i := 0; i < bits.UintSize/8 && left > 0; i++ {
			b = append(b, byte(uint(w)>>(8*i)))
			left--
		}
	}
	return b
}

func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, encodeErr(f, ErrUnsupported, "Erlang floats are finite")
	}
	b = append(b, TagNewFloat)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(f)), nil
}

// appendAtom writes SMALL_ATOM_UTF8_EXT, or ATOM_UTF8_EXT when the text is
// longer than 255 bytes.
func appendAtom(b []byte, a Atom) ([]byte, error) {
	if err := checkAtom(a); err != nil {
		return b, err
	}
	if len(a) <= 255 {
		b = append(b, TagSmallAtomUTF8, byte(len(a)))
	} else {
		b = append(b, TagAtomUTF8)
		b = appendU16(b, uint16(len(a)))
	}
	return append(b, a...), nil
}

func checkAtom(a Atom) error {
	if len(a) <= MaxAtomChars {
		// Short ASCII atoms, the common case, need only the UTF-8 check.
		for i := 0; i < len(a); i++ {
			if a[i] >= utf8.RuneSelf {
				goto slow
			}
		}
		return nil
	}
slow:
	if !utf8.ValidString(string(a)) {
		return encodeErr(a, ErrInvalid, "atom is not valid UTF-8")
	}
	if utf8.RuneCountInString(string(a)) > MaxAtomChars {
		return encodeErr(a, ErrInvalid, "atom longer than 255 characters")
	}
	return nil
}

func appendBinary(b []byte, v []byte) ([]byte, error) {
	if uint64(len(v)) > math.MaxUint32 {
		return b, encodeErr(v, ErrTooLarge, "")
	}
	b = append(b, TagBinary)
	b = appendU32(b, uint32(len(v)))
	return append(b, v...), nil
}

func appendBitBinary(b []byte, v BitBinary) ([]byte, error) {
	switch {
	case v.Bits == 8 || (v.Bits == 0 && len(v.Bytes) == 0):
		return appendBinary(b, v.Bytes)
	case v.Bits == 0 || v.Bits > 8 || len(v.Bytes) == 0:
		return b, encodeErr(v, ErrInvalid, "BitBinary.Bits must be 1..8 with at least one byte")
	case uint64(len(v.Bytes)) > math.MaxUint32:
		return b, encodeErr(v, ErrTooLarge, "")
	}
	b = append(b, TagBitBinary)
	b = appendU32(b, uint32(len(v.Bytes)))
	b = append(b, v.Bits)
	last := len(v.Bytes) - 1
	b = append(b, v.Bytes[:last]...)
	// The unused low bits of the last byte are written as zero.
	return append(b, v.Bytes[last]&(0xFF<<(8-v.Bits))), nil
}

func appendCharList(b []byte, s CharList) ([]byte, error) {
	if len(s) == 0 {
		return append(b, TagNil), nil
	}
	n, latin1 := 0, true
	for _, r := range string(s) {
		if r == utf8.RuneError && !utf8.ValidString(string(s)) {
			return b, encodeErr(s, ErrInvalid, "CharList is not valid UTF-8")
		}
		if r > 255 {
			latin1 = false
		}
		n++
	}
	if latin1 && n <= MaxStringLen {
		b = append(b, TagString)
		b = appendU16(b, uint16(n))
		for _, r := range string(s) {
			b = append(b, byte(r))
		}
		return b, nil
	}
	b = append(b, TagList)
	b = appendU32(b, uint32(n))
	for _, r := range string(s) {
		b = appendInt(b, int64(r))
	}
	return append(b, TagNil), nil
}

// smallByte reports whether t is an integer in 0..255.
func smallByte(t Term) (byte, bool) {
	var v int64
	switch x := t.(type) {
	case int64:
		v = x
	case int:
		v = int64(x)
	case int8:
		v = int64(x)
	case int16:
		v = int64(x)
	case int32:
		v = int64(x)
	case uint8:
		return x, true
	case uint16:
		v = int64(x)
	case uint32:
		v = int64(x)
	case uint:
		if x > 255 {
			return 0, false
		}
		v = int64(x)
	case uint64:
		if x > 255 {
			return 0, false
		}
		v = int64(x)
	case *big.Int:
		if x == nil || !x.IsInt64() {
			return 0, false
		}
		v = x.Int64()
	default:
		return 0, false
	}
	if v < 0 || v > 255 {
		return 0, false
	}
	return byte(v), true
}

// appendList writes a list of elems ending in tail (nil for []), the
// list depth containers down (see appendOne). Proper lists of at most
// 65535 integers in 0..255 become STRING_EXT.
func appendList(b []byte, elems []Term, tail Term, st *encStack, depth int) ([]byte, error) {
	if len(elems) == 0 {
		if tail == nil {
			return append(b, TagNil), nil
		}
		// LIST_EXT of no elements is just its tail.
		return appendOne(b, tail, st, depth)
	}
	if tail == nil && len(elems) <= MaxStringLen {
		str := true
		for _, e := range elems {
			if _, ok := smallByte(e); !ok {
				str = false
				break
			}
		}
		if str {
			b = append(b, TagString)
			b = appendU16(b, uint16(len(elems)))
			for _, e := range elems {
				c, _ := smallByte(e)
				b = append(b, c)
			}
			return b, nil
		}
	}
	if uint64(len(elems)) > math.MaxUint32 {
		return b, encodeErr(List(elems), ErrTooLarge, "")
	}
	b = append(b, TagList)
	b = appendU32(b, uint32(len(elems)))
	if st != nil || depth >= recursionDepth {
		return elemsElsewhere(b, List(elems), encFrame{elems: elems, tail: tail, list: true}, st, depth)
	}
	var err error
	for _, e := range elems {
		if b, err = appendOne(b, e, nil, depth+1); err != nil {
			return b, err
		}
	}
	if tail == nil {
		return append(b, TagNil), nil
	}
	return appendOne(b, tail, nil, depth+1)
}

// isEmptyList reports whether t is the empty list in any of its forms.
func isEmptyList(t Term) bool {
	switch v := t.(type) {
	case nil:
		return true
	case List:
		return len(v) == 0
	case CharList:
		return len(v) == 0
	}
	return false
}

func appendImproper(b []byte, v ImproperList, st *encStack, depth int) ([]byte, error) {
	switch tail := v.Tail.(type) {
	case List, CharList, ImproperList, nil:
		if isEmptyList(tail) {
			return appendList(b, v.Elems, nil, st, depth)
		}
		// A list tail continues the list: write the canonical flat form.
		elems := append([]Term(nil), v.Elems...)
		var rest Term
		for rest = tail; ; {
			switch r := rest.(type) {
			case List:
				elems = append(elems, r...)
				rest = nil
			case CharList:
				if !utf8.ValidString(string(r)) {
					return b, encodeErr(r, ErrInvalid, "CharList is not valid UTF-8")
				}
				for _, c := range string(r) {
					elems = append(elems, int64(c))
				}
				rest = nil
			case ImproperList:
				elems = append(elems, r.Elems...)
				rest = r.Tail
				if !isEmptyList(rest) {
					switch rest.(type) {
					case List, CharList, ImproperList:
						continue
					}
				} else {
					rest = nil
				}
			}
			break
		}
		return appendList(b, elems, rest, st, depth)
	}
	return appendList(b, v.Elems, v.Tail, st, depth)
}

func appendTuple(b []byte, v Tuple, st *encStack, depth int) ([]byte, error) {
	if len(v) <= 255 {
		b = append(b, TagSmallTuple, byte(len(v)))
	} else {
		if uint64(len(v)) > math.MaxUint32 {
			return b, encodeErr(v, ErrTooLarge, "")
		}
		b = append(b, TagLargeTuple)
		b = appendU32(b, uint32(len(v)))
	}
	if len(v) == 0 {
		return b, nil
	}
	if st != nil || depth >= recursionDepth {
		return elemsElsewhere(b, v, encFrame{elems: v}, st, depth)
	}
	var err error
	for _, e := range v {
		if b, err = appendOne(b, e, nil, depth+1); err != nil {
			return b, err
		}
	}
	return b, nil
}

// appendMap writes the pairs in Erlang term order of the keys; a map whose
// pairs are already in order is written without copying.
func appendMap(b []byte, m Map, st *encStack, depth int) ([]byte, error) {
	if uint64(len(m)) > math.MaxUint32 {
		return b, encodeErr(m, ErrTooLarge, "")
	}
	pairs := []Pair(m)
	var cm comparer
	for i := 1; i < len(pairs); i++ {
		c := cm.compare(pairs[i-1].Key, pairs[i].Key, true)
		if c == 0 {
			return b, encodeErr(m, ErrInvalid, "duplicate map key")
		}
		if c > 0 {
			pairs = cm.sortedPairs(m)
			for j := 1; j < len(pairs); j++ {
				if cm.compare(pairs[j-1].Key, pairs[j].Key, true) == 0 {
					return b, encodeErr(m, ErrInvalid, "duplicate map key")
				}
			}
			break
		}
	}
	b = append(b, TagMap)
	b = appendU32(b, uint32(len(pairs)))
	if len(pairs) == 0 {
		return b, nil
	}
	if st != nil || depth >= recursionDepth {
		return elemsElsewhere(b, m, encFrame{pairs: pairs}, st, depth)
	}
	var err error
	for _, p := range pairs {
		if b, err = appendOne(b, p.Key, nil, depth+1); err != nil {
			return b, err
		}
		if b, err = appendOne(b, p.Value, nil, depth+1); err != nil {
			return b, err
		}
	}
	return b, nil
}
