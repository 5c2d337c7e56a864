package etf

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
)

type fromTest struct {
	name string
	run  func(t *testing.T)
}

// fromOK checks that FromTerm(term, &got) stores want.
func fromOK[T any](name string, term Term, want T) fromTest {
	return fromTest{name, func(t *testing.T) {
		var got T
		if err := FromTerm(term, &got); err != nil {
			t.Fatalf("FromTerm(%#v) into %T: %v", term, got, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %#v; want %#v", got, want)
		}
		// Unmarshal of the encoded term must agree (Funs aside: the
		// sample has no real encoding).
		if containsFun(term) {
			return
		}
		data, err := Encode(term)
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		var got2 T
		if err := Unmarshal(data, &got2); err != nil {
			t.Fatalf("Unmarshal: %v", err)
		}
		if !reflect.DeepEqual(got2, want) {
			t.Fatalf("Unmarshal: got %#v; want %#v", got2, want)
		}
	}}
}

func containsFun(t Term) bool {
	switch x := t.(type) {
	case Fun:
		return true
	case Tuple:
		for _, e := range x {
			if containsFun(e) {
				return true
			}
		}
	case Map:
		for _, p := range x {
			if containsFun(p.Key) || containsFun(p.Value) {
				return true
			}
		}
	}
	return false
}

// fromErr checks that FromTerm(term, &T) fails with an *UnmarshalTypeError
// whose Kind, Field and wrapped error are as given (Err nil: not checked).
func fromErr[T any](name string, term Term, kind, field string, wrapped error) fromTest {
	return fromTest{name, func(t *testing.T) {
		var got T
		err := FromTerm(term, &got)
		var te *UnmarshalTypeError
		if !errors.As(err, &te) {
			t.Fatalf("FromTerm error = %v (%T); want *UnmarshalTypeError", err, err)
		}
		if te.Kind != kind || te.Field != field {
			t.Fatalf("error %q: Kind %q Field %q; want Kind %q Field %q", err, te.Kind, te.Field, kind, field)
		}
		if wrapped != nil && !errors.Is(err, wrapped) {
			t.Fatalf("error %q does not wrap %v", err, wrapped)
		}
		if te.Type == nil || !strings.HasPrefix(err.Error(), "etf: cannot unmarshal "+kind) {
			t.Fatalf("error text %q", err)
		}
	}}
}

type stringer interface{ String() string }

func TestFromTerm(t *testing.T) {
	pid := Pid{Node: "a@b", ID: 1, Serial: 2, Creation: 3}
	ref := Ref{Node: "a@b", Creation: 1, Len: 3, ID: [5]uint32{1, 2, 3}}
	port := Port{Node: "a@b", ID: 7, Creation: 1}
	export := Export{Module: "lists", Function: "map", Arity: 2}
	fun := Fun{Raw: []byte{112, 0, 0, 0, 5}, Module: "m"}
	huge := bigInt("123456789012345678901234567890")
	five := 5
	pfive := &five
	tests := []fromTest{
		fromOK("true", True, true),
		fromOK("false", False, false),
		fromOK("int", int64(-7), -7),
		fromOK("int8 min", int64(-128), int8(-128)),
		fromOK("int16 max", int64(32767), int16(32767)),
		fromOK("int32", int64(math.MinInt32), int32(math.MinInt32)),
		fromOK("int64 min", int64(math.MinInt64), int64(math.MinInt64)),
		fromOK("uint8 max", int64(255), uint8(255)),
		fromOK("uint16", int64(65535), uint16(65535)),
		fromOK("uint32", int64(math.MaxUint32), uint32(math.MaxUint32)),
		fromOK("uint64 max", bigInt("18446744073709551615"), uint64(math.MaxUint64)),
		fromOK("uint", int64(3), uint(3)),
		fromOK("uintptr", int64(3), uintptr(3)),
		fromOK("float64", 2.5, 2.5),
		fromOK("float from int", int64(3), 3.0),
		fromOK("float from big", huge, 1.2345678901234568e29),
		fromOK("float32", 0.5, float32(0.5)),
		fromOK("string from binary", Binary("héllo"), "héllo"),
		fromOK("string from charlist", CharList("été"), "été"),
		fromOK("string from code points", List{int64('a'), int64(0x1F600)}, "a😀"),
		fromOK("string from []", List{}, ""),
		fromOK("atom", Atom("ok"), OK),
		fromOK("bytes", Binary{1, 2}, []byte{1, 2}),
		fromOK("empty bytes", Binary{}, []byte{}),
		fromOK("bytes from list", List{int64(1), int64(255)}, []byte{1, 255}),
		fromOK("bytes from charlist", CharList("ab"), []byte("ab")),
		fromOK("ints", List{int64(1), int64(2)}, []int{1, 2}),
		fromOK("ints from charlist", CharList("ab"), []int{97, 98}),
		fromOK("empty ints", List{}, []int{}),
		fromOK("strings", List{Binary("a"), CharList("b")}, []string{"a", "b"}),
		fromOK("array", List{int64(1), int64(2)}, [2]int{1, 2}),
		fromOK("byte array from binary", Binary{7, 8}, [2]byte{7, 8}),
		fromOK("byte array from list", List{int64(7), int64(8)}, [2]byte{7, 8}),
		fromOK("map", Map{{Binary("a"), int64(1)}, {Binary("b"), int64(2)}}, map[string]int{"a": 1, "b": 2}),
		fromOK("atom map", Map{{Atom("k"), Tuple{OK}}}, map[Atom]any{"k": Tuple{OK}}),
		fromOK("int key map", Map{{int64(1), True}}, map[int64]bool{1: true}),
		fromOK("nil pointer", Undefined, (*int)(nil)),
		fromOK("pointer", int64(5), &five),
		fromOK("pointer to pointer", int64(5), &pfive),
		fromOK("any", Tuple{OK, int64(1)}, any(Tuple{OK, int64(1)})),
		fromOK("Term", Map{{Atom("a"), Binary("b")}}, Term(Map{{Atom("a"), Binary("b")}})),
		fromOK("any undefined", Undefined, any(Undefined)),
		fromOK("stringer", pid, stringer(pid)),
		fromOK("big", huge, *huge),
		fromOK("big small", int64(-3), *big.NewInt(-3)),
		fromOK("big pointer", huge, huge),
		fromOK("binary", Binary("x"), Binary("x")),
		fromOK("bitbinary", BitBinary{Bytes: []byte{0xF0}, Bits: 4}, BitBinary{Bytes: []byte{0xF0}, Bits: 4}),
		fromOK("bitbinary from binary", Binary{1}, BitBinary{Bytes: []byte{1}, Bits: 8}),
		fromOK("charlist", CharList("abc"), CharList("abc")),
		fromOK("charlist from list", List{int64(0x263A)}, CharList("☺")),
		fromOK("list", List{OK, int64(1000)}, List{OK, int64(1000)}),
		fromOK("list from charlist", CharList("ab"), List{int64('a'), int64('b')}),
		fromOK("empty list", List{}, List{}),
		fromOK("improper", ImproperList{Elems: []Term{OK}, Tail: Error}, ImproperList{Elems: []Term{OK}, Tail: Error}),
		fromOK("tuple", Tuple{OK}, Tuple{OK}),
		fromOK("term map", Map{{OK, Error}}, Map{{OK, Error}}),
		fromOK("pid", pid, pid),
		fromOK("ref", ref, ref),
		fromOK("port", port, port),
		fromOK("export", export, export),
		fromOK("fun", fun, fun),
		fromOK("plain struct",
			Map{
				{Atom("name"), Binary("ann")},
				{Atom("age"), int64(42)},
				{Atom("user_id"), int64(7)},
				{Atom("ok?"), True},
				{Atom("state"), Atom("running")},
				{Atom("text"), CharList("hi")},
				{Atom("skipped"), Binary("never")},
				{Atom("private"), int64(1)},
				{Atom("unknown"), Tuple{}},
				{int64(5), Atom("non-name key")},
			},
			plain{Name: "ann", Age: 42, UserID: 7, Renamed: true, State: "running", Text: "hi"}),
		fromOK("binary keys", Map{{Binary("name"), Binary("bob")}}, plain{Name: "bob"}),
		fromOK("atom option takes binaries too", Map{{Atom("state"), Binary("up")}}, plain{State: "up"}),
		fromOK("embedded",
			Map{{Atom("id"), int64(1)}, {Atom("city"), Binary("Oslo")}, {Atom("zip"), int64(150)}, {Atom("extra"), Binary("e")}},
			withEmbedded{Base: Base{ID: 1}, Loc: &Loc{City: "Oslo", Zip: intPtr(150)}, Extra: "e"}),
		fromOK("atom options on nested strings",
			Map{{Atom("roles"), List{Atom("admin"), Binary("dev")}}, {Atom("pair"), List{Atom("a"), Atom("b")}}, {Atom("opt"), Atom("x")},
				{Atom("nested"), List{List{Atom("y")}}}, {Atom("chars"), List{CharList("hi")}}, {Atom("none"), Undefined}},
			atomLists{Roles: []string{"admin", "dev"}, Pair: [2]string{"a", "b"}, Opt: strPtr("x"), Nested: [][]string{{"y"}}, Chars: []string{"hi"}}),
		fromErr[atomLists]("charlist option takes no atoms", Map{{Atom("chars"), List{Atom("x")}}}, "atom x", "chars[0]", nil),
		fromOK("record", Tuple{Atom("person"), Binary("ann"), int64(42)}, person{Name: "ann", Age: 42}),
		fromOK("elixir", Map{{Atom("__struct__"), Atom("Elixir.Person")}, {Atom("name"), Binary("ann")}, {Atom("age"), int64(3)}},
			Person{Name: "ann", Age: 3}),
		fromOK("elixir without __struct__", Map{{Atom("age"), int64(3)}}, Person{Age: 3}),
		fromOK("plain struct ignores __struct__", Map{{Atom("__struct__"), Atom("Elixir.X")}, {Atom("x"), int64(1)}}, point{X: 1}),
		fromOK("unmarshaler", Binary("vv.mmm"), version{2, 3}),
		fromOK("unmarshaler field", Map{{Atom("v"), Binary("v.m")}}, struct{ V version }{version{1, 1}}),
		fromOK("unmarshaler pointer field", Map{{Atom("v"), Binary("v.m")}}, struct{ V *version }{&version{1, 1}}),
		fromOK("nested", Map{{Atom("points"), List{Map{{Atom("x"), int64(1)}}, Map{{Atom("y"), int64(2)}}}}},
			struct{ Points []point }{[]point{{X: 1}, {Y: 2}}}),

		fromErr[int8]("int8 overflow", int64(128), "integer", "", ErrRange),
		fromErr[int8]("int8 underflow", int64(-129), "integer", "", ErrRange),
		fromErr[uint8]("uint8 overflow", int64(256), "integer", "", ErrRange),
		fromErr[uint]("uint negative", int64(-1), "integer", "", ErrRange),
		fromErr[uint32]("uint32 overflow", int64(1<<32), "integer", "", ErrRange),
		fromErr[int16]("int16 overflow", int64(40000), "integer", "", ErrRange),
		fromErr[int32]("int32 overflow", int64(1<<31), "integer", "", ErrRange),
		fromErr[int64]("int64 overflow", huge, "integer", "", ErrRange),
		fromErr[uint64]("uint64 negative big", bigInt("-18446744073709551616"), "integer", "", ErrRange),
		fromErr[uint64]("uint64 overflow", bigInt("18446744073709551616"), "integer", "", ErrRange),
		fromErr[float32]("float32 overflow", 1e300, "float", "", ErrRange),
		fromErr[int]("int from float", 1.0, "float", "", nil),
		fromErr[int]("int from atom", OK, "atom ok", "", nil),
		fromErr[bool]("bool from other atom", Atom("yes"), "atom yes", "", nil),
		fromErr[bool]("bool from int", int64(1), "integer", "", nil),
		fromErr[string]("string from atom", OK, "atom ok", "", nil),
		fromErr[string]("string from bad code point", List{int64(0xD800)}, "list", "", nil),
		fromErr[string]("string from bitbinary", BitBinary{Bytes: []byte{1}, Bits: 1}, "bitstring", "", nil),
		fromErr[[]byte]("bytes from big list", List{int64(256)}, "list", "", nil),
		fromErr[[]byte]("bytes from atom", OK, "atom ok", "", nil),
		fromErr[Atom]("atom from binary", Binary("ok"), "binary", "", nil),
		fromErr[[]int]("slice from tuple", Tuple{}, "tuple", "", nil),
		fromErr[[]int]("slice from improper", ImproperList{Elems: []Term{int64(1)}, Tail: int64(2)}, "improper list", "", nil),
		fromErr[[]int]("slice element", List{int64(1), OK}, "atom ok", "[1]", nil),
		fromErr[[2]int]("array length", List{int64(1)}, "list", "", nil),
		fromErr[[2]byte]("byte array length", Binary{1, 2, 3}, "binary", "", nil),
		fromErr[map[string]int]("map value", Map{{Binary("a"), OK}}, "atom ok", `["a"]`, nil),
		fromErr[map[string]int]("map key", Map{{OK, int64(1)}}, "atom ok", `[key ok]`, nil),
		fromErr[map[string]int]("map from list", List{}, "empty list", "", nil),
		fromErr[point]("struct from list", List{int64(1)}, "list", "", nil),
		fromErr[plain]("struct field", Map{{Atom("age"), Binary("x")}}, "binary", "age", nil),
		fromErr[withEmbedded]("nested pointer field", Map{{Atom("zip"), True}}, "atom true", "zip", nil),
		fromErr[struct{ Outer struct{ In []point } }]("deep path",
			Map{{Atom("outer"), Map{{Atom("in"), List{Map{}, Map{{Atom("y"), 2.5}}}}}}}, "float", "outer.in[1].y", nil),
		fromErr[person]("record wrong name", Tuple{Atom("dog"), Binary("rex"), int64(3)}, "tuple {dog, ...} of size 3", "", nil),
		fromErr[person]("record wrong size", Tuple{Atom("person"), Binary("ann")}, "tuple {person, ...} of size 2", "", nil),
		fromErr[person]("record from map", Map{}, "map", "", nil),
		fromErr[person]("record field", Tuple{Atom("person"), Binary("ann"), OK}, "atom ok", "age", nil),
		fromErr[Person]("elixir wrong module", Map{{Atom("__struct__"), Atom("Elixir.Dog")}}, "map", "", nil),
		fromErr[*int]("pointer to mismatch", Nil, "atom nil", "", nil),
		fromErr[stringer]("interface not implemented", int64(1), "integer", "", nil),
		fromErr[Pid]("pid from ref", ref, "reference", "", nil),
		fromErr[Tuple]("tuple from list", List{}, "empty list", "", nil),
		fromErr[List]("list from tuple", Tuple{}, "tuple", "", nil),
		fromErr[big.Int]("big from float", 1.0, "float", "", nil),
		fromErr[chan int]("chan", int64(1), "integer", "", nil),
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func TestFromTermPlainGoValues(t *testing.T) {
	// Callers may build terms with the convenience values encoders accept.
	var got struct {
		A int
		B string
		C bool
		D []byte
		E uint64
	}
	in := Map{{Atom("a"), 5}, {Atom("b"), "text"}, {Atom("c"), true}, {Atom("d"), []byte{1}}, {Atom("e"), uint64(math.MaxUint64)}}
	if err := FromTerm(in, &got); err != nil {
		t.Fatal(err)
	}
	if got.A != 5 || got.B != "text" || !got.C || len(got.D) != 1 || got.E != math.MaxUint64 {
		t.Fatalf("got %+v", got)
	}
}

func TestFromTermKeepsUnsetFields(t *testing.T) {
	got := plain{Name: "keep", Age: 1}
	if err := FromTerm(Map{{Atom("age"), int64(2)}}, &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "keep" || got.Age != 2 {
		t.Fatalf("got %+v", got)
	}
	m := map[string]int{"old": 1}
	if err := FromTerm(Map{{Binary("new"), int64(2)}}, &m); err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["old"] != 1 || m["new"] != 2 {
		t.Fatalf("map = %v; want old and new keys", m)
	}
}

func TestFromTermNilAtom(t *testing.T) {
	var got struct {
		P *int
		Q *string
	}
	got.P = intPtr(1)
	o := UnmarshalOptions{NilAtom: Nil}
	if err := o.FromTerm(Map{{Atom("p"), Nil}, {Atom("q"), Binary("x")}}, &got); err != nil {
		t.Fatal(err)
	}
	if got.P != nil || got.Q == nil || *got.Q != "x" {
		t.Fatalf("got %+v", got)
	}
	// With NilAtom nil, undefined is an ordinary atom.
	var a *Atom
	if err := o.FromTerm(Undefined, &a); err != nil || a == nil || *a != Undefined {
		t.Fatalf("got %v, %v; want a pointer to undefined", a, err)
	}
}

func TestFromTermErrors(t *testing.T) {
	var n int
	for _, tc := range []struct {
		name string
		v    any
	}{
		{"nil", nil},
		{"non-pointer", n},
		{"nil pointer", (*int)(nil)},
	} {
		err := FromTerm(int64(1), tc.v)
		var ie *InvalidUnmarshalError
		if !errors.As(err, &ie) || !strings.HasPrefix(err.Error(), "etf: Unmarshal(") {
			t.Errorf("%s: FromTerm error = %v; want *InvalidUnmarshalError", tc.name, err)
		}
		if err := Unmarshal([]byte{131, 97, 1}, tc.v); !errors.As(err, &ie) {
			t.Errorf("%s: Unmarshal error = %v; want *InvalidUnmarshalError", tc.name, err)
		}
	}

	var f failing
	err := FromTerm(OK, &f)
	var me *MarshalerError
	if !errors.As(err, &me) || !errors.Is(err, errFailing) || me.Method != "UnmarshalETF" {
		t.Errorf("UnmarshalETF error = %v; want a *MarshalerError wrapping errFailing", err)
	}

	type badTag struct {
		N int `etf:"n,atom"`
	}
	var bt badTag
	if err := FromTerm(Map{}, &bt); !isType[*StructTagError](err) {
		t.Errorf("bad tag: error = %v; want *StructTagError", err)
	}

	// A term that refers to itself is an error, not a stack overflow.
	l := List{nil}
	l[0] = l
	type nested []nested
	var deep any
	var deepSlice nested
	if err := FromTerm(l, &deep); err != nil {
		t.Errorf("into any: %v", err) // stored as is, never walked
	}
	if err := FromTerm(l, &deepSlice); !isType[*UnmarshalTypeError](err) {
		t.Errorf("cyclic: error = %v; want *UnmarshalTypeError", err)
	}
}

func TestUnmarshalErrors(t *testing.T) {
	var v struct{ A int }
	var de *DecodeError
	for _, tc := range []struct {
		name string
		data []byte
		is   error
	}{
		{"empty", nil, ErrTruncated},
		{"no version", []byte{97, 1}, ErrBadVersion},
		{"truncated", []byte{131, 116, 0, 0, 0, 1}, ErrTruncated},
		{"trailing", []byte{131, 97, 1, 0}, ErrTrailingData},
		{"binary trailing", []byte{131, 109, 0, 0, 0, 1, 'x', 0}, ErrTrailingData},
		{"binary truncated", []byte{131, 109, 0, 0, 0, 5, 'x'}, ErrTruncated},
	} {
		var b []byte
		for _, target := range []any{&v, &b} {
			err := Unmarshal(tc.data, target)
			if !errors.As(err, &de) || !errors.Is(err, tc.is) {
				t.Errorf("%s into %T: error = %v; want *DecodeError wrapping %v", tc.name, target, err, tc.is)
			}
		}
	}
	// A binary into a struct is a type error, not a decode error.
	if err := Unmarshal([]byte{131, 109, 0, 0, 0, 0}, &v); !isType[*UnmarshalTypeError](err) {
		t.Errorf("binary into struct: %v", err)
	}
	// A list of bytes into []byte goes the slow way and works.
	var b []byte
	if err := Unmarshal([]byte{131, 107, 0, 2, 1, 2}, &b); err != nil || string(b) != "\x01\x02" {
		t.Errorf("string ext into []byte: %q, %v", b, err)
	}
	// Limits reach the decoder.
	data, err := Marshal([]int{1000, 2000, 3000})
	if err != nil {
		t.Fatal(err)
	}
	var s []int
	if err := (UnmarshalOptions{Limits: Limits{MaxSize: 4}}).Unmarshal(data, &s); !errors.Is(err, ErrTooLarge) {
		t.Errorf("MaxSize 4: error = %v; want ErrTooLarge", err)
	}
	var big []byte
	bin, _ := Encode(Binary(make([]byte, 100)))
	if err := (UnmarshalOptions{Limits: Limits{MaxSize: 10}}).Unmarshal(bin, &big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("binary with MaxSize 10: error = %v; want ErrTooLarge", err)
	}
}

// everything has a field of every kind Marshal and Unmarshal support.
type everything struct {
	B     bool
	I     int
	I8    int8
	I16   int16
	I32   int32
	I64   int64
	U     uint
	U8    uint8
	U16   uint16
	U32   uint32
	U64   uint64
	F32   float32
	F64   float64
	S     string
	SA    string `etf:"sa,atom"`
	SC    string `etf:"sc,charlist"`
	Omit  string `etf:",omitempty"`
	Bytes []byte
	Ints  []int
	Strs  []string
	Arr   [3]int16
	BArr  [2]byte
	M     map[string]int
	AM    map[Atom][]float64
	P     *int
	PNil  *int
	PP    **string
	Rec   person
	PRec  *person
	Ex    Person
	Locs  []Loc
	Big   *big.Int
	BigV  big.Int
	Any   any
	T     Term
	NilT  any
	A     Atom
	Bin   Binary
	BB    BitBinary
	CL    CharList
	L     List
	IL    ImproperList
	Tup   Tuple
	Map   Map
	Pid   Pid
	Ref   Ref
	Port  Port
	Exp   Export
	Ver   version
	Temp  *tempC
	Base
}

func sampleEverything() everything {
	s := "deep"
	ps := &s
	e := everything{
		B: true, I: -1, I8: -8, I16: -16, I32: -32, I64: math.MinInt64,
		U: 1, U8: 8, U16: 16, U32: 32, U64: math.MaxUint64,
		F32: 1.5, F64: -0.1, S: "str", SA: "an_atom", SC: "chars ☺",
		Bytes: []byte{0, 1, 2}, Ints: []int{1, -2, 300}, Strs: []string{"x", ""},
		Arr: [3]int16{1, 2, 3}, BArr: [2]byte{9, 8},
		M: map[string]int{"a": 1}, AM: map[Atom][]float64{"k": {1, 2}},
		P: intPtr(7), PP: &ps,
		Rec: person{Name: "r", Age: 1}, PRec: &person{Name: "p", Age: 2},
		Ex:   Person{Name: "e", Age: 3, Tags: []string{"t"}},
		Locs: []Loc{{City: "A", Zip: intPtr(1)}, {City: "B"}},
		Big:  bigInt("-340282366920938463463374607431768211456"),
		Any:  Tuple{Atom("x"), int64(1000), Binary("y")}, T: Map{{Atom("k"), List{OK, Error}}},
		A: "atom", Bin: Binary("bin"), BB: BitBinary{Bytes: []byte{0xA0}, Bits: 3},
		CL: "charlist", L: List{int64(1000), OK}, IL: ImproperList{Elems: []Term{OK}, Tail: Error},
		Tup: Tuple{int64(1), 2.5}, Map: Map{{int64(1), OK}, {Atom("b"), Error}},
		Pid:  Pid{Node: "n@h", ID: 1, Serial: 2, Creation: 3},
		Ref:  Ref{Node: "n@h", Creation: 3, Len: 3, ID: [5]uint32{4, 5, 6}},
		Port: Port{Node: "n@h", ID: 1 << 40, Creation: 3},
		Exp:  Export{Module: "m", Function: "f", Arity: 1},
		Ver:  version{Major: 1, Minor: 2},
		Base: Base{ID: 99, Kind: "base"},
	}
	e.BigV.SetUint64(math.MaxUint64)
	e.BigV.Mul(&e.BigV, &e.BigV)
	return e
}

func TestRoundTrip(t *testing.T) {
	for _, nilAtom := range []Atom{"", Nil} {
		t.Run("nil atom "+string(nilAtom), func(t *testing.T) {
			in := sampleEverything()
			data, err := MarshalOptions{NilAtom: nilAtom}.Marshal(&in)
			if err != nil {
				t.Fatal(err)
			}
			var out everything
			if err := (UnmarshalOptions{NilAtom: nilAtom}).Unmarshal(data, &out); err != nil {
				t.Fatal(err)
			}
			// A nil interface marshals as the nil atom, and an interface
			// field receives the term as it is: the atom.
			if out.NilT != (MarshalOptions{NilAtom: nilAtom}).nilAtom() {
				t.Fatalf("NilT = %#v; want the nil atom", out.NilT)
			}
			out.NilT = nil
			if !reflect.DeepEqual(in, out) {
				t.Fatalf("round trip differs:\n in  %+v\n out %+v", in, out)
			}
			// The other nil atom is not nil for the decoder.
			other := Nil
			if nilAtom == Nil {
				other = Undefined
			}
			var mismatch everything
			err = UnmarshalOptions{NilAtom: other}.Unmarshal(data, &mismatch)
			var te *UnmarshalTypeError
			if !errors.As(err, &te) || te.Kind != "atom "+string(MarshalOptions{NilAtom: nilAtom}.nilAtom()) {
				t.Fatalf("decoding with the other nil atom: %v; want a type error on the nil atom", err)
			}
		})
	}
}

func TestRoundTripRecordsAndStructs(t *testing.T) {
	type team struct {
		_       struct{} `etf:"record,team"`
		Name    string
		Lead    *person
		Members []person
		Mascot  *Person
	}
	in := team{Name: "t", Lead: &person{Name: "l", Age: 40}, Members: []person{{Name: "m", Age: 1}}, Mascot: &Person{Name: "cat", Age: 9}}
	data, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out team
	if err := Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("got %+v; want %+v", out, in)
	}
	// The term is what an Erlang or Elixir peer would pattern-match.
	term, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	want := Tuple{Atom("team"), Binary("t"),
		Tuple{Atom("person"), Binary("l"), int64(40)},
		List{Tuple{Atom("person"), Binary("m"), int64(1)}},
		Map{{Atom("__struct__"), Atom("Elixir.Person")}, {Atom("name"), Binary("cat")}, {Atom("age"), int64(9)}},
	}
	if !Equal(term, want) {
		t.Fatalf("term %v; want %v", term, want)
	}
	// Nil pointers come back nil.
	in = team{Name: "empty"}
	if data, err = Marshal(in); err != nil {
		t.Fatal(err)
	}
	out = team{Lead: &person{}}
	if err := Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if out.Lead != nil || out.Mascot != nil || out.Members == nil || len(out.Members) != 0 {
		t.Fatalf("got %+v", out)
	}
}

func TestUnmarshalBinaryAllocs(t *testing.T) {
	payload := make([]byte, 1<<20)
	for i := range payload {
		payload[i] = byte(i)
	}
	data, err := Encode(Binary(payload))
	if err != nil {
		t.Fatal(err)
	}
	if data[0] != 131 || data[1] != 109 {
		t.Fatalf("data starts %v; want 131 109", data[:2])
	}
	var b []byte
	allocs := testing.AllocsPerRun(20, func() {
		if err := Unmarshal(data, &b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("Unmarshal into *[]byte: %v allocations; want at most 1", allocs)
	}
	if string(b) != string(payload) || &b[0] == &data[6] {
		t.Fatal("Unmarshal into *[]byte: wrong bytes or not a copy")
	}

	alias := UnmarshalOptions{AliasBinaries: true}
	var bin Binary
	allocs = testing.AllocsPerRun(20, func() {
		if err := alias.Unmarshal(data, &b); err != nil {
			t.Fatal(err)
		}
		if err := alias.Unmarshal(data, &bin); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("aliasing Unmarshal: %v allocations; want 0", allocs)
	}
	if &b[0] != &data[6] || &bin[0] != &data[6] || len(b) != len(payload) || cap(b) != len(payload) {
		t.Fatal("aliasing Unmarshal: result does not alias the input exactly")
	}
}

func TestUnmarshalAliasInStruct(t *testing.T) {
	data, err := Marshal(struct{ B []byte }{[]byte("abc")})
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ B []byte }
	if err := Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] = 'X'
	if string(v.B) != "abc" {
		t.Fatalf("default Unmarshal aliases its input: %q", v.B)
	}
	if err := (UnmarshalOptions{AliasBinaries: true}).Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] = 'Y'
	if string(v.B) != "abY" {
		t.Fatalf("AliasBinaries: got %q; want it to share the input", v.B)
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	data, err := Marshal(&benchValue)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var v tenFields
		if err := Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFromTerm(b *testing.B) {
	t, err := ToTerm(&benchValue)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var v tenFields
		if err := FromTerm(t, &v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalBinary(b *testing.B) {
	data, err := Encode(Binary(make([]byte, 64<<10)))
	if err != nil {
		b.Fatal(err)
	}
	for _, alias := range []bool{false, true} {
		b.Run(fmt.Sprintf("alias=%v", alias), func(b *testing.B) {
			o := UnmarshalOptions{AliasBinaries: alias}
			var out []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := o.Unmarshal(data, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestUnmarshalUnhashableKeys: a map key Go cannot hash (a binary, as every
// Elixir map with string keys has, a tuple, a list, a map) into a map whose
// key type is an interface never panics. A binary key becomes a string;
// the others are an *UnmarshalTypeError naming the key.
func TestUnmarshalUnhashableKeys(t *testing.T) {
	// %{"name" => "x", "n" => 1}, as Elixir sends it.
	elixir := Map{{Binary("n"), int64(1)}, {Binary("name"), Binary("x")}}
	var m map[any]any
	if err := FromTerm(elixir, &m); err != nil {
		t.Fatalf("string-key map into map[any]any: %v", err)
	}
	if want := (map[any]any{"n": int64(1), "name": Binary("x")}); !reflect.DeepEqual(m, want) {
		t.Fatalf("got %#v; want %#v", m, want)
	}
	data, err := Encode(elixir)
	if err != nil {
		t.Fatal(err)
	}
	var mt map[Term]Term
	if err := Unmarshal(data, &mt); err != nil || !reflect.DeepEqual(mt, map[Term]Term{"n": int64(1), "name": Binary("x")}) {
		t.Fatalf("Unmarshal into map[Term]Term: %#v, %v", mt, err)
	}
	// Round trip: a map[any]any with string keys marshals to binary keys
	// and comes back the same.
	back, err := Marshal(map[any]any{"k": int64(2)})
	if err != nil {
		t.Fatal(err)
	}
	var rt map[any]any
	if err := Unmarshal(back, &rt); err != nil || !reflect.DeepEqual(rt, map[any]any{"k": int64(2)}) {
		t.Fatalf("round trip: %#v, %v", rt, err)
	}

	type keyed struct{ K any }
	for _, key := range []Term{
		Tuple{OK, int64(1)}, List{int64(1), Tuple{}}, Map{{OK, OK}},
		ImproperList{Elems: []Term{OK}, Tail: OK}, BitBinary{Bytes: []byte{1}, Bits: 3},
	} {
		term := Map{{key, int64(1)}}
		var into map[any]any
		err := FromTerm(term, &into)
		var te *UnmarshalTypeError
		if !errors.As(err, &te) || !strings.HasPrefix(te.Field, "[key ") {
			t.Errorf("key %s into map[any]any: error %v; want *UnmarshalTypeError at the key", Format(key), err)
		}
		var sk map[keyed]int
		if err := FromTerm(Map{{Map{{Atom("k"), key}}, int64(1)}}, &sk); !errors.As(err, &te) {
			t.Errorf("key holding %s into map[struct{K any}]int: error %v; want *UnmarshalTypeError", Format(key), err)
		}
		var st fmt.Stringer
		var ms map[fmt.Stringer]int
		_ = st
		if err := FromTerm(term, &ms); !errors.As(err, &te) {
			t.Errorf("key %s into map[fmt.Stringer]int: error %v; want *UnmarshalTypeError", Format(key), err)
		}
	}
}
