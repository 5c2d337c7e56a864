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

func (cm *comparer) compare(a, b Term, exact bool) int {
	a, b = normalize(a), normalize(b)
	ca, cb := class(a), class(b)
	if ca != cb {
		return cmp.Compare(ca, cb)
	}
	switch ca {
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
	case classTuple:
		x, y := a.(Tuple), b.(Tuple)
		if c := cmp.Compare(len(x), len(y)); c != 0 {
			return c
		}
		for i := range x {
			if c := cm.compare(x[i], y[i], exact); c != 0 {
				return c
			}
		}
		return 0
	case classMap:
		return cm.compareMaps(a.(Map), b.(Map), exact)
	case classNil:
		return 0
	case classList:
		return cm.compareLists(a, b, exact)
	case classBits:
		return compareBits(a, b)
	}
	return 0
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

func (cm *comparer) compareMaps(x, y Map, exact bool) int {
	if c := cmp.Compare(len(x), len(y)); c != 0 {
		return c
	}
	xs, ys := cm.sortedPairs(x), cm.sortedPairs(y)
	for i := range xs {
		if c := cm.compare(xs[i].Key, ys[i].Key, true); c != 0 {
			return c
		}
	}
	for i := range xs {
		if c := cm.compare(xs[i].Value, ys[i].Value, exact); c != 0 {
			return c
		}
	}
	return 0
}

// listIter walks the elements of any list term, then its tail.
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
	return nil, false
}

func (cm *comparer) compareLists(a, b Term, exact bool) int {
	x, y := newListIter(a), newListIter(b)
	for {
		xe, xok := x.next()
		ye, yok := y.next()
		switch {
		case !xok && !yok:
			return cm.compareTails(x.tail, y.tail, exact)
		case !xok:
			// x ended: its tail against the rest of y.
			return cm.compareTails(x.tail, restList(ye, &y), exact)
		case !yok:
			return cm.compareTails(restList(xe, &x), y.tail, exact)
		}
		if c := cm.compare(xe, ye, exact); c != 0 {
			return c
		}
	}
}

// restList rebuilds the remainder of a list whose next element is first.
func restList(first Term, it *listIter) Term {
	elems := []Term{first}
	for {
		e, ok := it.next()
		if !ok {
			break
		}
		elems = append(elems, e)
	}
	if it.tail == nil {
		return List(elems)
	}
	return ImproperList{Elems: elems, Tail: it.tail}
}

func (cm *comparer) compareTails(x, y Term, exact bool) int {
	if x == nil {
		x = List(nil)
	}
	if y == nil {
		y = List(nil)
	}
	return cm.compare(x, y, exact)
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
