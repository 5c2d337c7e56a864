package etf_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/quick"
	"unicode/utf8"

	"github.com/distribute-go/distribute/etf"
)

func TestEncodeVectors(t *testing.T) {
	tests := []struct {
		term etf.Term
		hex  string
	}{
		{42, "83612A"},
		{int8(-1), "8362FFFFFFFF"},
		{int16(256), "836200000100"},
		{int32(math.MaxInt32), "83627FFFFFFF"},
		{uint(1 << 31), "836E040000000080"},
		{uint16(65535), "836200" + "00FFFF"},
		{uint32(math.MaxUint32), "836E04" + "00FFFFFFFF"},
		{neg(pow2(64)), "836E0901000000000000000001"},
		{big.NewInt(5), "836105"},
		{1.5, "83463FF8000000000000"},
		{float32(0.5), "83463FE0000000000000"},
		{math.Copysign(0, -1), "83468000000000000000"},
		{etf.OK, "8377026F6B"},
		{true, "83770474727565"},
		{false, "837705" + "66616C7365"},
		{etf.Atom(""), "837700"},
		{etf.Atom(strings.Repeat("é", 128)), "8376" + "0100" + strings.Repeat("C3A9", 128)},
		{etf.CharList("abc"), "836B0003616263"},
		{etf.CharList(""), "836A"},
		{etf.CharList("a€"), "836C00000002616162000020AC6A"},
		{etf.List{int64(1), int64(2000)}, "836C00000002610162000007D06A"},
		{etf.List(nil), "836A"},
		{nil, "836A"},
		{etf.List{uint8(1), int(2), int64(3)}, "836B0003010203"},
		{etf.ImproperList{Elems: []etf.Term{etf.Atom("a")}, Tail: etf.Atom("b")}, "836C00000001770161770162"},
		// An improper list whose tail is a list is written flat.
		{etf.ImproperList{Elems: []etf.Term{int64(1)}, Tail: etf.List{int64(2)}}, "836B00020102"},
		{etf.ImproperList{Elems: []etf.Term{int64(1)}, Tail: etf.List{}}, "836B000101"},
		{etf.ImproperList{Elems: []etf.Term{int64(1)}, Tail: etf.CharList("b")}, "836B00020162"},
		{etf.ImproperList{Elems: []etf.Term{int64(1)}, Tail: etf.ImproperList{Elems: []etf.Term{int64(2)}, Tail: etf.Atom("c")}},
			"836C00000002610161027701" + "63"},
		{etf.ImproperList{Tail: etf.Atom("c")}, "83770163"},
		{etf.Binary{1, 2, 3}, "836D00000003010203"},
		{"", "836D00000000"},
		{[]byte(nil), "836D00000000"},
		{etf.BitBinary{Bytes: []byte{0xA0}, Bits: 3}, "834D0000000103A0"},
		// Stray low bits are not written.
		{etf.BitBinary{Bytes: []byte{0xBF}, Bits: 3}, "834D0000000103A0"},
		{etf.BitBinary{Bytes: []byte{1, 2}, Bits: 8}, "836D000000020102"},
		{etf.BitBinary{}, "836D00000000"},
		{etf.Map{{Key: etf.Atom("a"), Value: int64(1)}}, "8374000000017701616101"},
		{etf.Map{{Key: etf.Atom("b"), Value: int64(2)}, {Key: etf.Atom("a"), Value: int64(1)}}, "83740000000277016161017701626102"},
		{etf.Tuple{}, "836800"},
		{etf.Tuple{etf.Atom("a"), 1}, "8368027701616101"},
		{etf.Export{Module: "lists", Function: "seq", Arity: 2}, "837177056C6973747377037365716102"},
		{etf.Pid{Node: "tv@vm", ID: 9, Creation: 0x6B07741C}, "83587705747640766D00000009000000006B07741C"},
		{etf.Ref{Node: "tv@vm", Creation: 0x6B07741C, Len: 3, ID: [5]uint32{0x35C5D, 0xB8400001, 0xEBEFC3BC}},
			"835A00037705747640766D6B07741C00035C5DB8400001EBEFC3BC"},
		{etf.Port{Node: "a", ID: 7, Creation: 255}, "835977016100000007000000FF"},
		{etf.Port{Node: "a", ID: 1<<32 | 2, Creation: 255}, "83787701610000000100000002000000FF"},
		// Like erl, NEW_PORT_EXT only for IDs of up to 28 bits.
		{etf.Port{Node: "a", ID: 1<<28 - 1, Creation: 1}, "83597701610FFFFFFF00000001"},
		{etf.Port{Node: "a", ID: 1 << 28, Creation: 1}, "83787701610000000010000000" + "00000001"},
	}
	for _, tc := range tests {
		got, err := etf.Encode(tc.term)
		if err != nil {
			t.Errorf("Encode(%#v): %v", tc.term, err)
			continue
		}
		if want := unhex(t, tc.hex); !bytes.Equal(got, want) {
			t.Errorf("Encode(%#v)\n got %X\nwant %X", tc.term, got, want)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	cyclic := etf.List{nil}
	cyclic[0] = cyclic
	tests := []struct {
		name string
		term etf.Term
		want error
	}{
		{"NaN", math.NaN(), etf.ErrUnsupported},
		{"+Inf", math.Inf(1), etf.ErrUnsupported},
		{"-Inf float32", float32(math.Inf(-1)), etf.ErrUnsupported},
		{"bad utf8 atom", etf.Atom("\xff"), etf.ErrInvalid},
		{"256-char atom", etf.Atom(strings.Repeat("a", 256)), etf.ErrInvalid},
		{"256-char unicode atom", etf.Atom(strings.Repeat("é", 256)), etf.ErrInvalid},
		{"nil big", (*big.Int)(nil), etf.ErrInvalid},
		{"struct", struct{ A int }{1}, etf.ErrUnsupported},
		{"go map", map[string]int{"a": 1}, etf.ErrUnsupported},
		{"pointer", new(int), etf.ErrUnsupported},
		{"bits 0", etf.BitBinary{Bytes: []byte{1}, Bits: 0}, etf.ErrInvalid},
		{"bits 9", etf.BitBinary{Bytes: []byte{1}, Bits: 9}, etf.ErrInvalid},
		{"bits no bytes", etf.BitBinary{Bits: 3}, etf.ErrInvalid},
		{"ref of 6", etf.Ref{Node: "a", Len: 6}, etf.ErrInvalid},
		{"ref of 0", etf.Ref{Node: "a"}, etf.ErrInvalid},
		{"fun raw", etf.Fun{Raw: []byte{112, 0, 0, 0, 9}}, etf.ErrInvalid},
		{"fun empty", etf.Fun{}, etf.ErrInvalid},
		{"charlist utf8", etf.CharList("a\xffb"), etf.ErrInvalid},
		{"duplicate keys", etf.Map{{Key: int64(1), Value: 1}, {Key: int64(1), Value: 2}}, etf.ErrInvalid},
		{"duplicate keys unsorted", etf.Map{{Key: etf.Atom("b")}, {Key: etf.Atom("a")}, {Key: etf.Atom("b")}}, etf.ErrInvalid},
		{"duplicate keys int types", etf.Map{{Key: 1, Value: 1}, {Key: int64(1), Value: 2}}, etf.ErrInvalid},
		{"nested bad", etf.Tuple{etf.OK, etf.List{etf.Map{{Key: math.NaN(), Value: 1}}}}, etf.ErrUnsupported},
		{"pid bad node", etf.Pid{Node: "\xff"}, etf.ErrInvalid},
		{"cyclic", cyclic, etf.ErrTooDeep},
	}
	for _, tc := range tests {
		_, err := etf.Encode(tc.term)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Encode error = %v; want %v", tc.name, err, tc.want)
			continue
		}
		if !errors.Is(err, etf.ErrUnsupported) {
			t.Errorf("%s: Encode error = %v; want it to match ErrUnsupported too", tc.name, err)
		}
		var ee *etf.EncodeError
		if !errors.As(err, &ee) || ee.Type == "" {
			t.Errorf("%s: error %#v is not an *EncodeError with a type", tc.name, err)
		}
		// Append leaves dst as it was.
		dst := []byte("prefix")
		out, err := etf.Append(dst, tc.term)
		if err == nil || string(out) != "prefix" {
			t.Errorf("%s: Append on error returned %q, %v", tc.name, out, err)
		}
		out, err = etf.AppendTerm(dst, tc.term)
		if err == nil || string(out) != "prefix" {
			t.Errorf("%s: AppendTerm on error returned %q, %v", tc.name, out, err)
		}
	}
}

func TestAppend(t *testing.T) {
	out, err := etf.Append([]byte{1, 2}, etf.OK)
	if err != nil || !bytes.Equal(out, []byte{1, 2, 131, 119, 2, 'o', 'k'}) {
		t.Errorf("Append = %X, %v", out, err)
	}
	out, err = etf.AppendTerm([]byte{1, 2}, etf.OK)
	if err != nil || !bytes.Equal(out, []byte{1, 2, 119, 2, 'o', 'k'}) {
		t.Errorf("AppendTerm = %X, %v", out, err)
	}
}

// TestEncodeLargeStructures: the STRING_EXT / LIST_EXT boundary.
func TestEncodeLargeStructures(t *testing.T) {
	// 65535 small ints are a STRING_EXT, 65536 a LIST_EXT.
	for _, n := range []int{65535, 65536} {
		b, err := etf.Encode(dupList(n, int64(1)))
		if err != nil {
			t.Fatal(err)
		}
		wantTag := byte(etf.TagString)
		if n > 65535 {
			wantTag = etf.TagList
		}
		if b[1] != wantTag {
			t.Errorf("list of %d small ints: tag %d; want %d", n, b[1], wantTag)
		}
	}
	// A CharList of 65536 Latin-1 characters is a LIST_EXT too.
	b, _ := etf.Encode(etf.CharList(strings.Repeat("a", 65536)))
	if b[1] != etf.TagList {
		t.Errorf("CharList of 65536: tag %d", b[1])
	}
	got, err := etf.Decode(b)
	if err != nil || !etf.Equal(got, etf.CharList(strings.Repeat("a", 65536))) {
		t.Errorf("round trip of a long CharList: %v", err)
	}
}

// randTerm builds a random term of the shapes a decoder returns, and
// sometimes the convenience Go values an encoder also accepts.
func randTerm(r *rand.Rand, depth int) etf.Term {
	n := 18
	if depth <= 0 {
		n = 10 // scalars only
	}
	switch r.IntN(n) {
	case 0:
		return randInt(r)
	case 1:
		if r.IntN(4) == 0 {
			return randBig(r)
		}
		return randInt(r)
	case 2:
		return randFloat(r)
	case 3:
		return randAtom(r)
	case 4:
		b := make(etf.Binary, r.IntN(40))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if r.IntN(8) == 0 {
			return string(b)
		}
		return b
	case 5:
		bits := uint8(1 + r.IntN(7))
		b := make([]byte, 1+r.IntN(5))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		b[len(b)-1] &= 0xFF << (8 - bits)
		return etf.BitBinary{Bytes: b, Bits: bits}
	case 6:
		return randCharList(r)
	case 7:
		return etf.Pid{Node: randAtom(r), ID: r.Uint32(), Serial: r.Uint32(), Creation: r.Uint32()}
	case 8:
		ref := etf.Ref{Node: randAtom(r), Creation: r.Uint32(), Len: uint8(1 + r.IntN(etf.MaxRefWords))}
		for i := range int(ref.Len) {
			ref.ID[i] = r.Uint32()
		}
		return ref
	case 9:
		p := etf.Port{Node: randAtom(r), Creation: r.Uint32()}
		if r.IntN(2) == 0 {
			p.ID = uint64(r.Uint32())
		} else {
			p.ID = r.Uint64()
		}
		if r.IntN(6) == 0 {
			return etf.Export{Module: randAtom(r), Function: randAtom(r), Arity: uint8(r.Uint32())}
		}
		return p
	case 10, 11:
		l := make(etf.List, r.IntN(6))
		for i := range l {
			if r.IntN(3) == 0 {
				l[i] = int64(r.IntN(256)) // sometimes a STRING_EXT
			} else {
				l[i] = randTerm(r, depth-1)
			}
		}
		return l
	case 12:
		elems := make([]etf.Term, 1+r.IntN(4))
		for i := range elems {
			elems[i] = randTerm(r, depth-1)
		}
		var tail etf.Term
		for {
			tail = randTerm(r, depth-1)
			switch tail.(type) {
			case etf.List, etf.CharList, etf.ImproperList, nil:
				continue
			}
			break
		}
		return etf.ImproperList{Elems: elems, Tail: tail}
	case 13, 14:
		tup := make(etf.Tuple, r.IntN(6))
		if r.IntN(50) == 0 {
			tup = make(etf.Tuple, 256+r.IntN(10))
		}
		for i := range tup {
			tup[i] = randTerm(r, depth-1)
		}
		return tup
	case 15, 16:
		var m etf.Map
		for range r.IntN(6) {
			k := randTerm(r, depth-1)
			if _, dup := m.Get(k); dup {
				continue
			}
			m = append(m, etf.Pair{Key: k, Value: randTerm(r, depth-1)})
		}
		return m
	}
	switch r.IntN(4) {
	case 0:
		return r.IntN(2) == 0
	case 1:
		return int32(r.Uint32())
	case 2:
		return r.Uint64()
	}
	return float32(r.NormFloat64())
}

func randInt(r *rand.Rand) etf.Term {
	switch r.IntN(5) {
	case 0:
		return int64(r.IntN(256))
	case 1:
		return int64(int32(r.Uint32()))
	case 2:
		return int64(r.Uint64())
	case 3:
		return -int64(r.IntN(1000))
	}
	return int64(r.Uint64() >> r.IntN(64))
}

func randBig(r *rand.Rand) etf.Term {
	v := new(big.Int).Lsh(big.NewInt(int64(r.Uint64()|1)), uint(64+r.IntN(2200)))
	if r.IntN(2) == 0 {
		v.Neg(v)
	}
	return v
}

func randFloat(r *rand.Rand) etf.Term {
	switch r.IntN(4) {
	case 0:
		return math.Copysign(0, -1)
	case 1:
		return math.Float64frombits(r.Uint64() &^ (0x7FF << 52)) // subnormal
	}
	for {
		f := math.Float64frombits(r.Uint64())
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
	}
}

func randRune(r *rand.Rand) rune {
	switch r.IntN(4) {
	case 0:
		return rune('a' + r.IntN(26))
	case 1:
		return rune(r.IntN(256))
	case 2:
		return rune(0x400 + r.IntN(0x100))
	}
	for {
		c := rune(r.IntN(utf8.MaxRune + 1))
		if utf8.ValidRune(c) {
			return c
		}
	}
}

func randAtom(r *rand.Rand) etf.Atom {
	n := r.IntN(12)
	if r.IntN(20) == 0 {
		n = 255
	}
	var b strings.Builder
	for range n {
		b.WriteRune(randRune(r))
	}
	return etf.Atom(b.String())
}

func randCharList(r *rand.Rand) etf.CharList {
	var b strings.Builder
	for range r.IntN(12) {
		b.WriteRune(randRune(r))
	}
	return etf.CharList(b.String())
}

// TestRoundTripRandom: Decode(Encode(t)) equals t, and encoding is a
// fixed point: Encode(Decode(Encode(t))) == Encode(t).
func TestRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for i := 0; i < n; i++ {
		term := randTerm(r, 4)
		checkRoundTrip(t, term)
		if t.Failed() {
			return
		}
	}
}

func checkRoundTrip(t *testing.T, term etf.Term) {
	t.Helper()
	b, err := etf.Encode(term)
	if err != nil {
		t.Fatalf("Encode(%s): %v", short(term), err)
	}
	got, err := etf.Decode(b)
	if err != nil {
		t.Fatalf("Decode(Encode(%s)) = %v\nbytes %X", short(term), err, prefix(b))
	}
	if !etf.Equal(got, term) {
		t.Fatalf("Decode(Encode(t)) = %s; want %s", short(got), short(term))
	}
	if f, ok := term.(float64); ok && math.Signbit(f) != math.Signbit(got.(float64)) {
		t.Fatalf("sign of %v lost", f)
	}
	b2, err := etf.Encode(got)
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("Encode(Decode(b)) = %X, %v; want %X", prefix(b2), err, prefix(b))
	}
	// The same through the aliasing decoder and DecodeTerm.
	d := etf.Decoder{AliasBinaries: true}
	got2, n, err := d.DecodeTerm(b[1:])
	if err != nil || n != len(b)-1 || !etf.Equal(got2, term) {
		t.Fatalf("DecodeTerm = %s, %d, %v", short(got2), n, err)
	}
}

// TestRoundTripQuick uses testing/quick for the scalar types.
func TestRoundTripQuick(t *testing.T) {
	f := func(i int64, u uint64, f float64, s string, b []byte, bits uint8) bool {
		tup := etf.Tuple{i, u, b, s, etf.List{i, f}}
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			tup = append(tup, f)
		}
		if utf8.ValidString(s) {
			tup = append(tup, etf.CharList(s))
			if utf8.RuneCountInString(s) <= 255 {
				tup = append(tup, etf.Atom(s))
			}
		}
		if len(b) > 0 {
			bits = 1 + bits%8
			bb := etf.BitBinary{Bytes: append([]byte(nil), b...), Bits: bits}
			bb.Bytes[len(bb.Bytes)-1] &= 0xFF << (8 - bits)
			tup = append(tup, bb)
		}
		enc, err := etf.Encode(tup)
		if err != nil {
			t.Logf("Encode: %v", err)
			return false
		}
		got, err := etf.Decode(enc)
		return err == nil && etf.Equal(got, tup)
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 2000}); err != nil {
		t.Error(err)
	}
}

// TestMapOrder: pairs are written in Erlang term order of their keys
// whatever order they are given in.
func TestMapOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 200; i++ {
		m, ok := randTerm(r, 3).(etf.Map)
		if !ok || len(m) < 2 {
			continue
		}
		want, err := etf.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		shuffled := append(etf.Map(nil), m...)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got, err := etf.Encode(shuffled)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("shuffled map encodes differently:\n got %X\nwant %X", got, want)
		}
	}
}

func Example() {
	b, err := etf.Encode(etf.Tuple{etf.OK, etf.Binary("hi"), 42})
	if err != nil {
		panic(err)
	}
	fmt.Printf("% X\n", b)
	t, err := etf.Decode(b)
	if err != nil {
		panic(err)
	}
	tup := t.(etf.Tuple)
	fmt.Println(tup[0] == etf.OK, string(tup[1].(etf.Binary)), tup[2].(int64))
	// Output:
	// 83 68 03 77 02 6F 6B 6D 00 00 00 02 68 69 61 2A
	// true hi 42
}

// TestDocExample checks the worked example of the package documentation.
func TestDocExample(t *testing.T) {
	term := etf.Tuple{etf.OK, etf.Binary("hi"), etf.List{int64(1), int64(2000)}, etf.Map{{Key: etf.Atom("a"), Value: int64(-1)}}}
	want := unhex(t, "83 6804 77026F6B 6D0000000268 69 6C00000002 6101 62000007D0 6A 7400000001 770161 62FFFFFFFF")
	got, err := etf.Encode(term)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("Encode = %X, %v; want %X", got, err, want)
	}
	for _, tc := range []struct {
		term etf.Term
		hex  string
	}{
		{etf.List{int64(1), int64(2), int64(3)}, "836B0003010203"},
		{pow2(64), "836E09000000000000000000" + "01"},
		{etf.BitBinary{Bytes: []byte{0xA0}, Bits: 3}, "834D0000000103A0"},
	} {
		got, err := etf.Encode(tc.term)
		if err != nil || !bytes.Equal(got, unhex(t, tc.hex)) {
			t.Errorf("Encode(%v) = %X, %v; want %s", tc.term, got, err, tc.hex)
		}
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed+1)) }
