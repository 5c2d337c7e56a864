package etf

import (
	"bytes"
	"cmp"
	"math"
	"math/big"
	"strings"
	"unicode/utf8"
)

// Equal reports whether a and b are the same term by Erlang's exact equality
// (=:=): 1 and 1.0 differ, a CharList equals the List of its characters, a
// BitBinary with 8 bits in its last byte equals the Binary of its bytes, and
// maps are equal whatever the order of their pairs.
func Equal(a, b Term) bool { return compare(a, b, true) == 0 }

// Compare orders two terms as Erlang's term order does (number < atom <
// reference < fun < port < pid < tuple < map < nil < list < bit string),
// returning -1, 0 or +1. Numbers compare by value, so Compare(1, 1.0) == 0,
// as 1 == 1.0 in Erlang.
func Compare(a, b Term) int { return compare(a, b, false) }

// Class ranks, in Erlang term order.
const (
	classNumber = 1
	classAtom   = 2
	classRef    = 3
	classFun    = 4
	classPort   = 5
	classPid    = 6
	classTuple  = 7
	classMap    = 8
	classNil    = 9
	classList   = 10
	classBits   = 11
	classOther  = 12
)

// normalize turns the convenience Go values encoders accept into term-model
// values, so comparison handles one set of types.
func normalize(t Term) Term {
	switch v := t.(type) {
	case int:
		return int64(v)
	case int8:
		return int64(v)
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case uint:
		return uintTerm(uint64(v))
	case uint8:
		return int64(v)
	case uint16:
		return int64(v)
	case uint32:
		return int64(v)
	case uint64:
		return uintTerm(v)
	case float32:
		return float64(v)
	case bool:
		return Bool(v)
	case string:
		return Binary(v)
	case []byte:
		return Binary(v)
	case *big.Int:
		if v != nil && v.IsInt64() {
			return v.Int64()
		}
		return v
	case BitBinary:
		if v.Bits == 8 || (v.Bits == 0 && len(v.Bytes) == 0) {
			return Binary(v.Bytes)
		}
		return v
	case nil:
		return List(nil)
	case Raw:
		if d, err := v.Term(); err == nil {
			return normalize(d)
		}
	}
	return t
}

func uintTerm(u uint64) Term {
	if u <= math.MaxInt64 {
		return int64(u)
	}
	return new(big.Int).SetUint64(u)
}

func class(t Term) int {
	switch v := t.(type) {
	case int64, *big.Int, float64:
		return classNumber
	case Atom:
		return classAtom
	case Ref:
		return classRef
	case Fun, Export:
		return classFun
	case Port:
		return classPort
	case Pid:
		return classPid
	case Tuple:
		return classTuple
	case Map:
		return classMap
	case List:
		if len(v) == 0 {
			return classNil
		}
		return classList
	case CharList:
		if len(v) == 0 {
			return classNil
		}
		return classList
	case ImproperList:
		return classList
	case Binary, BitBinary:
		return classBits
	}
	return classOther
}

func sign(c int) int {
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}

// comparer carries the sorted pairs of every map sorted during one
// comparison, so that each nested map is sorted once. Without it, maps used
// as keys of maps (#{#{…} => …}) make comparison exponential in their
// nesting: every comparison of two maps sorts both, and sorting compares
// keys, which sorts their maps again.
type comparer struct {
	sorted map[*Pair][]Pair // by the first pair of the map's backing array
}

func compare(a, b Term, exact bool) int {
	var c comparer
	return c.compare(a, b, exact)
}

// cmpFrame is a pair of tuples, lists or maps being compared element by
// element: compare keeps them on its own stack (cmpStack) instead of
// recursing, so nesting costs no goroutine stack.
type cmpFrame struct {
	x, y   listIter // tuple or list elements (and list tails)
	xp, yp []Pair   // map pairs in key order
	i      int      // next map step: keys 0..n-1, then values n..2n-1
	exact  bool
}

type cmpStack struct {
	n      int
	inline [4]cmpFrame
	more   []cmpFrame
}

func (st *cmpStack) push(f cmpFrame) {
	if st.n < len(st.inline) {
		st.inline[st.n] = f
	} else {
		st.more = append(st.more, f)
	}
	st.n++
}

func (st *cmpStack) top() *cmpFrame {
	if st.n <= len(st.inline) {
		return &st.inline[st.n-1]
	}
	return &st.more[st.n-1-len(st.inline)]
}

func (st *cmpStack) pop() {
	st.n--
	if st.n >= len(st.inline) {
		st.more[len(st.more)-1] = cmpFrame{}
		st.more = st.more[:len(st.more)-1]
	}
}

func (cm *comparer) compare(a, b Term, exact bool) int {
	// Most comparisons (map keys) are of terms that hold no others: they
	// need no stack.
	a, b = normalize(a), normalize(b)
	ca, cb := class(a), class(b)
	switch {
	case ca != cb:
		return cmp.Compare(ca, cb)
	case ca == classTuple || ca == classMap || ca == classList:
		return cm.compareDeep(a, b, exact)
	}
	return compareScalars(ca, a, b, exact)
}

func (cm *comparer) compareDeep(a, b Term, exact bool) int {
	var st cmpStack
	for {
		a, b = normalize(a), normalize(b)
		ca, cb := class(a), class(b)
		if ca != cb {
			return cmp.Compare(ca, cb)
		}
		switch ca {
		case classTuple:
			x, y := a.(Tuple), b.(Tuple)
			if c := cmp.Compare(len(x), len(y)); c != 0 {
				return c
			}
			st.push(cmpFrame{x: listIter{elems: x}, y: listIter{elems: y}, exact: exact})
		case classMap:
			x, y := a.(Map), b.(Map)
			if c := cmp.Compare(len(x), len(y)); c != 0 {
				return c
			}
			st.push(cmpFrame{xp: cm.sortedPairs(x), yp: cm.sortedPairs(y), exact: exact})
		case classList:
			st.push(cmpFrame{x: newListIter(a), y: newListIter(b), exact: exact})
		default:
			if c := compareScalars(ca, a, b, exact); c != 0 {
				return c
			}
		}
		// The next pair to compare, from the innermost open frame.
	next:
		for {
			if st.n == 0 {
				return 0
			}
			f := st.top()
			if f.xp != nil {
				n := len(f.xp)
				switch {
				case f.i < n:
					a, b, exact = f.xp[f.i].Key, f.yp[f.i].Key, true
				case f.i < 2*n:
					a, b, exact = f.xp[f.i-n].Value, f.yp[f.i-n].Value, f.exact
				default:
					st.pop()
					continue
				}
				f.i++
				break next
			}
			xe, xok := f.x.next()
			ye, yok := f.y.next()
			exact = f.exact
			switch {
			case xok && yok:
				a, b = xe, ye
			case !xok && !yok:
				// Both ran out of elements: their tails decide ([] for a
				// proper list; a tuple has none).
				a, b = emptyIfNil(f.x.tail), emptyIfNil(f.y.tail)
				st.pop()
			case !xok:
				// x ended, y goes on: x's tail (not a list, or []) against
				// the rest of y, a non-empty list.
				return cmp.Compare(class(normalize(emptyIfNil(f.x.tail))), classList)
			default:
				return cmp.Compare(classList, class(normalize(emptyIfNil(f.y.tail))))
			}
			break next
		}
	}
}

func emptyIfNil(t Term) Term {
	if t == nil {
		return List(nil)
	}
	return t
}

// compareScalars compares two terms of class c that hold no other terms.
func compareScalars(c int, a, b Term, exact bool) int {
	switch c {
	case classNumber:
		return compareNumbers(a, b, exact)
	case classAtom:
		return strings.Compare(string(a.(Atom)), string(b.(Atom)))
	case classRef:
		return compareRefs(a.(Ref), b.(Ref))
	case classFun:
		return compareFuns(a, b)
	case classPort:
		x, y := a.(Port), b.(Port)
		if c := strings.Compare(string(x.Node), string(y.Node)); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Creation, y.Creation); c != 0 {
			return c
		}
		return cmp.Compare(x.ID, y.ID)
	case classPid:
		// As ERTS: serial, number, then node name and creation (checked
		// against OTP 25's map key order).
		x, y := a.(Pid), b.(Pid)
		if c := cmp.Compare(x.Serial, y.Serial); c != 0 {
			return c
		}
		if c := cmp.Compare(x.ID, y.ID); c != 0 {
			return c
		}
		if c := strings.Compare(string(x.Node), string(y.Node)); c != 0 {
			return c
		}
		return cmp.Compare(x.Creation, y.Creation)
	case classBits:
		return compareBits(a, b)
	}
	return 0 // classNil, classOther
}

func compareNumbers(a, b Term, exact bool) int {
	af, aIsFloat := a.(float64)
	bf, bIsFloat := b.(float64)
	switch {
	case aIsFloat && bIsFloat:
		return cmp.Compare(af, bf)
	case aIsFloat != bIsFloat:
		if exact {
			// Map key order, which exact comparison also sorts by: every
			// integer comes before every float (so #{1.0 => x, 2 => y}
			// holds 2 first, as term_to_binary writes it).
			if aIsFloat {
				return 1
			}
			return -1
		}
		var c int
		if aIsFloat {
			c = -compareIntFloat(b, af)
		} else {
			c = compareIntFloat(a, bf)
		}
		return c
	}
	ai, aSmall := a.(int64)
	bi, bSmall := b.(int64)
	if aSmall && bSmall {
		return cmp.Compare(ai, bi)
	}
	return toBig(a).Cmp(toBig(b))
}

func toBig(t Term) *big.Int {
	switch v := t.(type) {
	case int64:
		return big.NewInt(v)
	case *big.Int:
		return v
	}
	return new(big.Int)
}

// compareIntFloat compares an integer term with a float by exact value.
func compareIntFloat(i Term, f float64) int {
	if v, ok := i.(int64); ok && v > -(1<<53) && v < 1<<53 {
		return cmp.Compare(float64(v), f)
	}
	bf := new(big.Float).SetInt(toBig(i))
	return bf.Cmp(big.NewFloat(f))
}

func compareRefs(x, y Ref) int {
	if c := strings.Compare(string(x.Node), string(y.Node)); c != 0 {
		return c
	}
	if c := cmp.Compare(x.Creation, y.Creation); c != 0 {
		return c
	}
	// As ERTS: the extra high words of the longer reference count only
	// when they are not zero; then the words compare from the highest.
	xl, yl := int(min(x.Len, MaxRefWords)), int(min(y.Len, MaxRefWords))
	for ; xl > yl; xl-- {
		if x.ID[xl-1] != 0 {
			return 1
		}
	}
	for ; yl > xl; yl-- {
		if y.ID[yl-1] != 0 {
			return -1
		}
	}
	for i := xl - 1; i >= 0; i-- {
		if c := cmp.Compare(x.ID[i], y.ID[i]); c != 0 {
			return c
		}
	}
	return 0
}

func compareFuns(a, b Term) int {
	xe, xIsExport := a.(Export)
	ye, yIsExport := b.(Export)
	switch {
	case xIsExport && yIsExport:
		if c := strings.Compare(string(xe.Module), string(ye.Module)); c != 0 {
			return c
		}
		if c := strings.Compare(string(xe.Function), string(ye.Function)); c != 0 {
			return c
		}
		return cmp.Compare(xe.Arity, ye.Arity)
	case xIsExport:
		return 1
	case yIsExport:
		return -1
	}
	return bytes.Compare(a.(Fun).Raw, b.(Fun).Raw)
}

// sortedPairs returns the pairs of m in key order, sorting each map once
// per comparer. The result may be m itself or shared: read only.
func (cm *comparer) sortedPairs(m Map) []Pair {
	if len(m) < 2 {
		return m
	}
	if s, ok := cm.sorted[&m[0]]; ok && len(s) == len(m) {
		return s
	}
	s := make([]Pair, len(m))
	copy(s, m)
	cm.sortPairs(s)
	if cm.sorted == nil {
		cm.sorted = make(map[*Pair][]Pair)
	}
	cm.sorted[&m[0]] = s
	return s
}

func sortPairs(s []Pair) {
	var c comparer
	c.sortPairs(s)
}

func (cm *comparer) sortPairs(s []Pair) {
	// Insertion sort for small maps; large maps use the library sort.
	if len(s) <= 12 {
		for i := 1; i < len(s); i++ {
			for j := i; j > 0 && cm.compare(s[j-1].Key, s[j].Key, true) > 0; j-- {
				s[j-1], s[j] = s[j], s[j-1]
			}
		}
		return
	}
	slicesSortPairs(s, func(a, b Pair) int { return cm.compare(a.Key, b.Key, true) })
}

// listIter walks the elements of a tuple or of any list term, following
// tails that are themselves lists, then leaves the final tail (nil for
// []) in tail.
type listIter struct {
	elems []Term
	chars string
	tail  Term
}

func newListIter(t Term) listIter {
	switch v := t.(type) {
	case List:
		return listIter{elems: v}
	case CharList:
		return listIter{chars: string(v)}
	case ImproperList:
		return listIter{elems: v.Elems, tail: v.Tail}
	}
	return listIter{}
}

// next returns the next element; ok is false at the end of the elements.
func (it *listIter) next() (Term, bool) {
	for {
		if len(it.elems) > 0 {
			e := it.elems[0]
			it.elems = it.elems[1:]
			return e, true
		}
		if len(it.chars) > 0 {
			r, n := utf8.DecodeRuneInString(it.chars)
			it.chars = it.chars[n:]
			return int64(r), true
		}
		switch v := it.tail.(type) {
		case List:
			it.elems, it.tail = v, nil
		case CharList:
			it.chars, it.tail = string(v), nil
		case ImproperList:
			it.elems, it.tail = v.Elems, v.Tail
		default:
			return nil, false
		}
	}
}

func compareBits(a, b Term) int {
	xb, xbits := bitsOf(a)
	yb, ybits := bitsOf(b)
	n := min(len(xb), len(yb))
	// Compare the whole bytes both have, but the last byte of a bit string
	// only up to its significant bits.
	for i := 0; i < n; i++ {
		xv, yv := xb[i], yb[i]
		if c := cmp.Compare(xv, yv); c != 0 {
			return c
		}
	}
	xl := len(xb)*8 - (8 - int(xbits))
	yl := len(yb)*8 - (8 - int(ybits))
	if len(xb) == 0 {
		xl = 0
	}
	if len(yb) == 0 {
		yl = 0
	}
	return cmp.Compare(xl, yl)
}

func bitsOf(t Term) ([]byte, uint8) {
	switch v := t.(type) {
	case Binary:
		return v, 8
	case BitBinary:
		return v.Bytes, v.Bits
	}
	return nil, 8
}
