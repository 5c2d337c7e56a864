package etf

import (
	"encoding/hex"
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
)

func TestSnakeCase(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Name", "name"},
		{"name", "name"},
		{"UserID", "user_id"},
		{"ID", "id"},
		{"HTTPServer", "http_server"},
		{"Field2", "field2"},
		{"X2Y", "x2_y"},
		{"CreatedAt", "created_at"},
		{"A", "a"},
		{"ÉtéÉté", "été_été"},
	} {
		if got := snakeCase(tc.in); got != tc.want {
			t.Errorf("snakeCase(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// Types used by the mapping tests.
type (
	plain struct {
		Name     string
		Age      int
		UserID   uint16
		private  int    // ignored: unexported
		Skipped  string `etf:"-"`
		Renamed  bool   `etf:"ok?"`
		Note     string `etf:",omitempty"`
		State    string `etf:"state,atom"`
		Text     string `etf:"text,charlist"`
		DashName int    `etf:"-,"`
	}
	Loc struct {
		City string
		Zip  *int
	}
	Base struct {
		ID   int
		Kind Atom
	}
	withEmbedded struct {
		Base
		*Loc
		Extra string
	}
	person struct {
		_    struct{} `etf:"record,person"`
		Name string
		Age  int
	}
	defaultRecord struct {
		_ struct{} `etf:"record"`
		X int
	}
	Person struct {
		_    struct{} `etf:"elixir,Elixir.Person"`
		Name string
		Age  int
		Tags []string `etf:",omitempty"`
	}
	// mixedKeys has keys on both sides of '__struct__' in atom order.
	mixedKeys struct {
		_     struct{} `etf:"elixir,Elixir.Mixed"`
		Lower int
		Upper int    `etf:"Upper"`
		Mid   string `etf:"_mid"`
		Zed   int    `etf:"zz,omitempty"`
	}
	DefaultElixir struct {
		_ struct{} `etf:"elixir"`
		A int
	}
	point struct{ X, Y int }
	// tempC marshals itself as {celsius, N} with a value receiver.
	tempC float64
	// version marshals itself with a pointer receiver and unmarshals too.
	version struct{ Major, Minor int }
	// failing always fails to marshal and unmarshal.
	failing struct{}
)

func (c tempC) MarshalETF() (Term, error) { return Tuple{Atom("celsius"), float64(c)}, nil }

func (v *version) MarshalETF() (Term, error) {
	return Binary(strings.Repeat("v", v.Major) + "." + strings.Repeat("m", v.Minor)), nil
}

func (v *version) UnmarshalETF(t Term) error {
	b, ok := t.(Binary)
	if !ok {
		return errors.New("version: not a binary")
	}
	maj, minor, ok := strings.Cut(string(b), ".")
	if !ok {
		return errors.New("version: no dot")
	}
	v.Major, v.Minor = len(maj), len(minor)
	return nil
}

var errFailing = errors.New("failing on purpose")

func (failing) MarshalETF() (Term, error) { return nil, errFailing }
func (*failing) UnmarshalETF(Term) error  { return errFailing }

func bigInt(s string) *big.Int {
	b, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return b
}

func intPtr(i int) *int { return &i }

func strPtr(s string) *string { return &s }

type atomLists struct {
	Roles  []string   `etf:",atom"`
	Pair   [2]string  `etf:",atom"`
	Opt    *string    `etf:",atom"`
	Nested [][]string `etf:",atom"`
	Chars  []string   `etf:",charlist"`
	None   *string    `etf:",atom"`
}

// pureTerm reports whether t holds term-model types only, as ToTerm promises.
func pureTerm(t Term) bool {
	switch x := t.(type) {
	case Atom, int64, float64, Binary, BitBinary, CharList, Pid, Ref, Port, Export, Fun:
		return true
	case *big.Int:
		return x != nil && !x.IsInt64()
	case List:
		for _, e := range x {
			if !pureTerm(e) {
				return false
			}
		}
		return true
	case Tuple:
		for _, e := range x {
			if !pureTerm(e) {
				return false
			}
		}
		return true
	case ImproperList:
		for _, e := range x.Elems {
			if !pureTerm(e) {
				return false
			}
		}
		return pureTerm(x.Tail)
	case Map:
		for _, p := range x {
			if !pureTerm(p.Key) || !pureTerm(p.Value) {
				return false
			}
		}
		return true
	}
	return false
}

func TestToTerm(t *testing.T) {
	var nilIntPtr *int
	var nilAny any
	var nilBig *big.Int
	var nilMap map[string]int
	var nilSlice []int
	pid := Pid{Node: "a@b", ID: 1, Serial: 2, Creation: 3}
	ref := Ref{Node: "a@b", Creation: 1, Len: 3, ID: [5]uint32{1, 2, 3}}
	port := Port{Node: "a@b", ID: 7, Creation: 1}
	export := Export{Module: "lists", Function: "map", Arity: 2}
	fun := Fun{Raw: []byte{112, 0, 0, 0, 5}, Module: "m"}
	tests := []struct {
		name string
		in   any
		want Term
	}{
		{"nil", nil, Undefined},
		{"true", true, True},
		{"false", false, False},
		{"int", -5, int64(-5)},
		{"int8", int8(-128), int64(-128)},
		{"int16", int16(-32768), int64(-32768)},
		{"int32", int32(math.MinInt32), int64(math.MinInt32)},
		{"int64", int64(math.MinInt64), int64(math.MinInt64)},
		{"uint", uint(7), int64(7)},
		{"uint8", uint8(255), int64(255)},
		{"uint16", uint16(65535), int64(65535)},
		{"uint32", uint32(math.MaxUint32), int64(math.MaxUint32)},
		{"uint64 small", uint64(1 << 40), int64(1 << 40)},
		{"uint64 max", uint64(math.MaxUint64), bigInt("18446744073709551615")},
		{"uintptr", uintptr(9), int64(9)},
		{"float64", 1.5, 1.5},
		{"float32", float32(0.25), 0.25},
		{"string", "héllo", Binary("héllo")},
		{"empty string", "", Binary{}},
		{"bytes", []byte{1, 2, 3}, Binary{1, 2, 3}},
		{"nil bytes", []byte(nil), Binary{}},
		{"named bytes", Binary{9}, Binary{9}},
		{"ints", []int{1, 2, 3}, List{int64(1), int64(2), int64(3)}},
		{"nil slice", nilSlice, List{}},
		{"strings", []string{"a", "b"}, List{Binary("a"), Binary("b")}},
		{"array", [3]int{1, 2, 3}, List{int64(1), int64(2), int64(3)}},
		{"byte array", [2]byte{1, 2}, List{int64(1), int64(2)}},
		{"map", map[string]int{"a": 1, "b": 2}, Map{{Binary("a"), int64(1)}, {Binary("b"), int64(2)}}},
		{"atom map", map[Atom]bool{"x": true}, Map{{Atom("x"), True}}},
		{"int key map", map[int]string{3: "c"}, Map{{int64(3), Binary("c")}}},
		{"nil map", nilMap, Map{}},
		{"struct key map", map[point]int{{1, 2}: 3}, Map{{Map{{Atom("x"), int64(1)}, {Atom("y"), int64(2)}}, int64(3)}}},
		{"nil pointer", nilIntPtr, Undefined},
		{"pointer", intPtr(4), int64(4)},
		{"pointer to pointer", func() **int { p := intPtr(5); return &p }(), int64(5)},
		{"nil interface slice", []any{nilAny, 1}, List{Undefined, int64(1)}},
		{"big", bigInt("123456789012345678901234567890"), bigInt("123456789012345678901234567890")},
		{"small big", big.NewInt(12), int64(12)},
		{"nil big", nilBig, Undefined},
		{"big value", *bigInt("-123456789012345678901234567890"), bigInt("-123456789012345678901234567890")},
		{"atom", Atom("hello"), Atom("hello")},
		{"bitbinary", BitBinary{Bytes: []byte{0xF0}, Bits: 4}, BitBinary{Bytes: []byte{0xF0}, Bits: 4}},
		{"charlist", CharList("abc"), CharList("abc")},
		{"list", List{Atom("a"), int64(1)}, List{Atom("a"), int64(1)}},
		{"list of go values", List{1, "s", true, []int{2}}, List{int64(1), Binary("s"), True, List{int64(2)}}},
		{"improper", ImproperList{Elems: []Term{Atom("a")}, Tail: Atom("b")}, ImproperList{Elems: []Term{Atom("a")}, Tail: Atom("b")}},
		{"improper go", ImproperList{Elems: []Term{1}, Tail: "t"}, ImproperList{Elems: []Term{int64(1)}, Tail: Binary("t")}},
		{"tuple", Tuple{OK, 1}, Tuple{OK, int64(1)}},
		{"term map", Map{{Atom("k"), "v"}}, Map{{Atom("k"), Binary("v")}}},
		{"pid", pid, pid},
		{"pid pointer", &pid, pid},
		{"ref", ref, ref},
		{"port", port, port},
		{"export", export, export},
		{"fun", fun, fun},
		{"plain struct", plain{Name: "ann", Age: 42, UserID: 7, private: 1, Skipped: "x", Renamed: true, State: "running", Text: "hi", DashName: 3},
			Map{
				{Atom("name"), Binary("ann")},
				{Atom("age"), int64(42)},
				{Atom("user_id"), int64(7)},
				{Atom("ok?"), True},
				{Atom("state"), Atom("running")},
				{Atom("text"), CharList("hi")},
				{Atom("-"), int64(3)},
			}},
		{"omitempty set", plain{Note: "n"},
			Map{
				{Atom("name"), Binary("")},
				{Atom("age"), int64(0)},
				{Atom("user_id"), int64(0)},
				{Atom("ok?"), False},
				{Atom("note"), Binary("n")},
				{Atom("state"), Atom("")},
				{Atom("text"), CharList("")},
				{Atom("-"), int64(0)},
			}},
		{"embedded", withEmbedded{Base: Base{ID: 1, Kind: "k"}, Loc: &Loc{City: "Paris"}, Extra: "e"},
			Map{
				{Atom("id"), int64(1)},
				{Atom("kind"), Atom("k")},
				{Atom("city"), Binary("Paris")},
				{Atom("zip"), Undefined},
				{Atom("extra"), Binary("e")},
			}},
		{"embedded nil pointer", withEmbedded{Extra: "e"},
			Map{
				{Atom("id"), int64(0)},
				{Atom("kind"), Atom("")},
				{Atom("extra"), Binary("e")},
			}},
		{"record", person{Name: "ann", Age: 42}, Tuple{Atom("person"), Binary("ann"), int64(42)}},
		{"record pointer", &person{Name: "bob"}, Tuple{Atom("person"), Binary("bob"), int64(0)}},
		{"default record name", defaultRecord{X: 1}, Tuple{Atom("default_record"), int64(1)}},
		{"elixir", Person{Name: "ann", Age: 42},
			Map{{Atom("__struct__"), Atom("Elixir.Person")}, {Atom("name"), Binary("ann")}, {Atom("age"), int64(42)}}},
		{"elixir tags", Person{Tags: []string{"x"}},
			Map{{Atom("__struct__"), Atom("Elixir.Person")}, {Atom("name"), Binary("")}, {Atom("age"), int64(0)}, {Atom("tags"), List{Binary("x")}}}},
		{"elixir key order", mixedKeys{Lower: 1, Upper: 2, Mid: "m"},
			Map{{Atom("Upper"), int64(2)}, {Atom("__struct__"), Atom("Elixir.Mixed")}, {Atom("_mid"), Binary("m")}, {Atom("lower"), int64(1)}}},
		{"elixir key order omitted last", mixedKeys{Zed: 3},
			Map{{Atom("Upper"), int64(0)}, {Atom("__struct__"), Atom("Elixir.Mixed")}, {Atom("_mid"), Binary("")}, {Atom("lower"), int64(0)}, {Atom("zz"), int64(3)}}},
		{"default elixir name", DefaultElixir{A: 1}, Map{{Atom("__struct__"), Atom("Elixir.DefaultElixir")}, {Atom("a"), int64(1)}}},
		{"atom and charlist options on nested strings", atomLists{Roles: []string{"admin", "dev"}, Pair: [2]string{"a", "b"}, Opt: strPtr("x"), Nested: [][]string{{"y"}}, Chars: []string{"hi"}},
			Map{{Atom("roles"), List{Atom("admin"), Atom("dev")}}, {Atom("pair"), List{Atom("a"), Atom("b")}}, {Atom("opt"), Atom("x")},
				{Atom("nested"), List{List{Atom("y")}}}, {Atom("chars"), List{CharList("hi")}}, {Atom("none"), Undefined}}},
		{"value marshaler", tempC(21.5), Tuple{Atom("celsius"), 21.5}},
		{"value marshaler via pointer", func() *tempC { c := tempC(1); return &c }(), Tuple{Atom("celsius"), 1.0}},
		{"pointer marshaler", &version{Major: 2, Minor: 1}, Binary("vv.m")},
		{"addressable pointer marshaler", &struct{ V version }{version{1, 3}}, Map{{Atom("v"), Binary("v.mmm")}}},
		{"any field", struct{ T Term }{Tuple{Atom("x")}}, Map{{Atom("t"), Tuple{Atom("x")}}}},
		{"nil any field", struct{ T any }{}, Map{{Atom("t"), Undefined}}},
		{"anonymous struct", struct {
			A int
			B []point
		}{1, []point{{1, 2}}}, Map{{Atom("a"), int64(1)}, {Atom("b"), List{Map{{Atom("x"), int64(1)}, {Atom("y"), int64(2)}}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ToTerm(tc.in)
			if err != nil {
				t.Fatalf("ToTerm: %v", err)
			}
			if !Equal(got, tc.want) {
				t.Fatalf("got %#v; want %#v", got, tc.want)
			}
			if !pureTerm(got) {
				t.Fatalf("got %#v: not made of term-model types only", got)
			}
			if _, isFun := tc.want.(Fun); isFun {
				return // the sample Fun has no real encoding
			}
			// Marshal must encode the same term.
			b, err := Marshal(tc.in)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			want, err := Encode(tc.want)
			if err != nil {
				t.Fatalf("Encode(want): %v", err)
			}
			if !reflect.DeepEqual(b, want) {
				t.Fatalf("Marshal = %x; want %x", b, want)
			}
		})
	}
}

func TestToTermNilAtom(t *testing.T) {
	type opt struct {
		P *int
		S *string
		A any
		M *struct{}
	}
	o := MarshalOptions{NilAtom: Nil}
	got, err := o.ToTerm(opt{S: new(string)})
	if err != nil {
		t.Fatal(err)
	}
	want := Map{{Atom("p"), Nil}, {Atom("s"), Binary("")}, {Atom("a"), Nil}, {Atom("m"), Nil}}
	if !Equal(got, want) {
		t.Fatalf("got %#v; want %#v", got, want)
	}
	b, err := o.Marshal((*int)(nil))
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{131, 119, 3, 'n', 'i', 'l'}; !reflect.DeepEqual(b, want) {
		t.Fatalf("Marshal(nil pointer) = %v; want %v", b, want)
	}
}

func TestToTermKeepsTerms(t *testing.T) {
	// A container of term-model values is returned as it is, not copied.
	l := List{Atom("a"), Binary("b"), Tuple{int64(1)}, Map{{Atom("k"), CharList("v")}}}
	got, err := ToTerm(l)
	if err != nil {
		t.Fatal(err)
	}
	if gl := got.(List); &gl[0] != &l[0] {
		t.Fatal("ToTerm copied a List of term-model values")
	}
	// One Go value inside forces a copy, and the original is left alone.
	l2 := List{Atom("a"), 5}
	got, err = ToTerm(l2)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l2[1].(int); !ok {
		t.Fatal("ToTerm changed its argument")
	}
	if gl := got.(List); gl[1] != Term(int64(5)) || &gl[0] == &l2[0] {
		t.Fatalf("got %#v", got)
	}
	// Binaries are not copied.
	raw := []byte("shared")
	got, err = ToTerm(struct{ B []byte }{raw})
	if err != nil {
		t.Fatal(err)
	}
	if b := got.(Map)[0].Value.(Binary); &b[0] != &raw[0] {
		t.Fatal("ToTerm copied a []byte")
	}
}

func TestToTermErrors(t *testing.T) {
	type cyclic struct {
		Next *cyclic
	}
	loop := &cyclic{}
	loop.Next = loop
	type badOpt struct {
		N []byte `etf:"n,atom"`
	}
	type unknownOpt struct {
		N int `etf:"n,sideways"`
	}
	type dup struct {
		A int `etf:"x"`
		B int `etf:"x"`
	}
	type recOmit struct {
		_ struct{} `etf:"record,r"`
		A int      `etf:",omitempty"`
	}
	type badMode struct {
		_ struct{} `etf:"tuple"`
	}
	type reserved struct {
		_ struct{} `etf:"elixir,Elixir.X"`
		S int      `etf:"__struct__"`
	}
	type longKey struct {
		A int `etf:"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"`
	}
	tests := []struct {
		name  string
		in    any
		check func(error) bool
	}{
		{"chan", make(chan int), isType[*UnsupportedTypeError]},
		{"func", func() {}, isType[*UnsupportedTypeError]},
		{"complex", complex(1, 2), isType[*UnsupportedTypeError]},
		{"chan in struct", struct{ C chan int }{}, isType[*UnsupportedTypeError]},
		{"NaN", math.NaN(), isType[*UnsupportedValueError]},
		{"+Inf", math.Inf(1), isType[*UnsupportedValueError]},
		{"-Inf float32", float32(math.Inf(-1)), isType[*UnsupportedValueError]},
		{"NaN in list", List{math.NaN()}, isType[*UnsupportedValueError]},
		{"cycle", loop, isType[*UnsupportedValueError]},
		{"atom option on int", badOpt{}, isType[*StructTagError]},
		{"unknown option", unknownOpt{}, isType[*StructTagError]},
		{"duplicate key", dup{}, isType[*StructTagError]},
		{"omitempty in record", recOmit{}, isType[*StructTagError]},
		{"unknown mode", badMode{}, isType[*StructTagError]},
		{"reserved __struct__", reserved{}, isType[*StructTagError]},
		{"key too long", longKey{}, isType[*StructTagError]},
		{"marshaler error", failing{}, func(err error) bool {
			var me *MarshalerError
			return errors.As(err, &me) && errors.Is(err, errFailing) && me.Method == "MarshalETF"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ToTerm(tc.in)
			if err == nil || !tc.check(err) {
				t.Fatalf("ToTerm error = %v (%T); not the expected kind", err, err)
			}
			if _, err := Marshal(tc.in); err == nil || !tc.check(err) {
				t.Fatalf("Marshal error = %v (%T); not the expected kind", err, err)
			}
			if err.Error() == "" || !strings.HasPrefix(err.Error(), "etf: ") {
				t.Fatalf("error text %q", err.Error())
			}
		})
	}
}

func isType[E error](err error) bool {
	var e E
	return errors.As(err, &e)
}

func TestMarshalAppend(t *testing.T) {
	dst := []byte("prefix")
	out, err := MarshalOptions{}.Append(dst, point{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Marshal(point{1, 2})
	if string(out[:6]) != "prefix" || string(out[6:]) != string(want) {
		t.Fatalf("Append = %x", out)
	}
	out, err = MarshalOptions{}.Append(dst, make(chan int))
	if err == nil || string(out) != "prefix" {
		t.Fatalf("Append on error = %q, %v; want prefix unchanged and an error", out, err)
	}
}

// goldens hold term_to_binary(T, [{minor_version, 2}]) as printed by OTP 25
// for the Erlang expression beside each; TestMarshalGoldenErl checks them
// against the installed erl.
var goldens = []struct {
	name string
	in   any
	erl  string
	hex  string
	opts MarshalOptions
}{
	{
		"map",
		struct {
			Name string
			Age  int
		}{"ann", 42},
		`#{name => <<"ann">>, age => 42}`,
		"8374000000027703616765612a77046e616d656d00000003616e6e",
		MarshalOptions{},
	},
	{
		"record",
		person{Name: "ann", Age: 42},
		`{person, <<"ann">>, 42}`,
		"8368037706706572736f6e6d00000003616e6e612a",
		MarshalOptions{},
	},
	{
		"elixir struct",
		Person{Name: "ann", Age: 42},
		`#{'__struct__' => 'Elixir.Person', name => <<"ann">>, age => 42}`,
		"837400000003770a5f5f7374727563745f5f770d456c697869722e506572736f6e7703616765612a77046e616d656d00000003616e6e",
		MarshalOptions{},
	},
	{
		"nested with nil pointer and atoms",
		struct {
			ID    uint64
			Owner *person
			Tags  []string
			State string `etf:",atom"`
			Score float64
			Big   *big.Int
			Raw   []byte
		}{ID: math.MaxUint64, Tags: []string{"a", "b"}, State: "ok", Score: -2.5, Big: bigInt("-99999999999999999999"), Raw: []byte{0, 255}},
		`#{id => 18446744073709551615, owner => undefined, tags => [<<"a">>, <<"b">>], state => ok, score => -2.5, big => -99999999999999999999, raw => <<0, 255>>}`,
		"83740000000777036269676e0901ffff0f632d5ec76b05770269646e0800ffffffffffffffff77056f776e65727709756e646566696e656477037261776d0000000200ff770573636f726546c0040000000000007705737461746577026f6b7704746167736c000000026d00000001616d00000001626a",
		MarshalOptions{},
	},
	{
		"elixir nil, char lists, atom lists, small-int lists, records in lists",
		struct {
			Manager *Person
			Text    string   `etf:"text,charlist"`
			Uni     string   `etf:"uni,charlist"`
			Roles   []string `etf:"roles,atom"`
			Bytes   [3]uint8
			Ints    []int
			People  []person
			Ptrs    []*int
			Floats  []float32
			Nested  map[Atom]map[string][]bool
		}{Text: "hello", Uni: "日本", Roles: []string{"admin", "ops"}, Bytes: [3]uint8{1, 2, 3}, Ints: []int{1, 1000, -1},
			People: []person{{Name: "a", Age: 1}}, Ptrs: []*int{nil, intPtr(7)}, Floats: []float32{0.5},
			Nested: map[Atom]map[string][]bool{"k": {"x": {true, false}}}},
		`#{manager => nil, text => "hello", uni => [26085, 26412], roles => [admin, ops], bytes => [1, 2, 3], ints => [1, 1000, -1], people => [{person, <<"a">>, 1}], ptrs => [nil, 7], floats => [0.5], nested => #{k => #{<<"x">> => [true, false]}}}`,
		"83740000000a770562797465736b00030102037706666c6f6174736c00000001463fe00000000000006a7704696e74736c00000003610162000003e862ffffffff6a77076d616e6167657277036e696c77066e6573746564740000000177016b74000000016d00000001786c00000002770474727565770566616c73656a770670656f706c656c0000000168037706706572736f6e6d000000016161016a7704707472736c0000000277036e696c61076a7705726f6c65736c00000002770561646d696e77036f70736a7704746578746b000568656c6c6f7703756e696c0000000262000065e5620000672c6a",
		MarshalOptions{NilAtom: Nil},
	},
}

func TestMarshalGolden(t *testing.T) {
	for _, g := range goldens {
		got, err := g.opts.Marshal(g.in)
		if err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		if h := hex.EncodeToString(got); h != g.hex {
			t.Errorf("%s: Marshal = %s; want %s", g.name, h, g.hex)
		}
		// Erlang's bytes unmarshal back to the Go value.
		erlBytes, err := hex.DecodeString(g.hex)
		if err != nil {
			t.Fatal(err)
		}
		back := reflect.New(reflect.TypeOf(g.in))
		if err := (UnmarshalOptions{NilAtom: g.opts.NilAtom}).Unmarshal(erlBytes, back.Interface()); err != nil {
			t.Fatalf("%s: Unmarshal: %v", g.name, err)
		}
		if !reflect.DeepEqual(back.Elem().Interface(), g.in) {
			t.Errorf("%s: Unmarshal = %+v; want %+v", g.name, back.Elem().Interface(), g.in)
		}
	}
}

func TestMarshalGoldenErl(t *testing.T) {
	var exprs []string
	for _, g := range goldens {
		exprs = append(exprs, `io:format("~s~n", [binary:encode_hex(term_to_binary(`+g.erl+`, [{minor_version, 2}]))])`)
	}
	out := distributetest.EvalErl(t, strings.Join(exprs, ", "))
	lines := strings.Fields(out)
	if len(lines) != len(goldens) {
		t.Fatalf("erl printed %q", out)
	}
	for i, g := range goldens {
		want := strings.ToLower(lines[i])
		if g.hex != "" && g.hex != want {
			t.Errorf("%s: recorded golden %s differs from erl's %s", g.name, g.hex, want)
		}
		got, err := g.opts.Marshal(g.in)
		if err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		if h := hex.EncodeToString(got); h != want {
			t.Errorf("%s: Marshal = %s; erl says %s", g.name, h, want)
		}
	}
}

// tenFields is the struct of the benchmarks.
type tenFields struct {
	ID      int64
	Name    string
	Email   string
	Age     int
	Active  bool
	Score   float64
	Role    Atom
	Tags    []string
	Parent  *int
	Payload []byte
}

var benchValue = tenFields{
	ID: 123456789, Name: "ann", Email: "ann@example.com", Age: 42, Active: true,
	Score: 99.5, Role: "admin", Tags: []string{"a", "b"}, Payload: []byte("payload bytes"),
}

func BenchmarkMarshal(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(&benchValue); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkToTerm(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ToTerm(&benchValue); err != nil {
			b.Fatal(err)
		}
	}
}

func TestToTermStructPairsInKeyOrder(t *testing.T) {
	type upperOnly struct {
		_ struct{} `etf:"elixir,Elixir.U"`
		B int      `etf:"B"`
		A int      `etf:"A"`
	}
	for _, v := range []any{plain{Note: "x"}, mixedKeys{Zed: 1}, upperOnly{A: 1, B: 2}, Person{}, benchValue} {
		got, err := ToTerm(v)
		if err != nil {
			t.Fatal(err)
		}
		m := got.(Map)
		for i := 1; i < len(m); i++ {
			if Compare(m[i-1].Key, m[i].Key) >= 0 {
				t.Fatalf("%T: pairs not in key order: %v", v, m)
			}
		}
		b, err := Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := Encode(got)
		if !reflect.DeepEqual(b, want) {
			t.Fatalf("%T: Marshal = %x; Encode(ToTerm) = %x", v, b, want)
		}
	}
}

func TestMarshalAllocs(t *testing.T) {
	buf := make([]byte, 0, 1024)
	var err error
	allocs := testing.AllocsPerRun(100, func() {
		buf, err = MarshalOptions{}.Append(buf[:0], &benchValue)
		if err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Append of a 10-field struct into a large enough buffer: %v allocations; want 0", allocs)
	}
	want, _ := Encode(mustToTerm(t, &benchValue))
	if !reflect.DeepEqual(buf, want) {
		t.Fatalf("Append = %x; want %x", buf, want)
	}
	allocs = testing.AllocsPerRun(100, func() {
		if _, err := Marshal(&benchValue); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 3 {
		t.Errorf("Marshal of a 10-field struct: %v allocations; want at most 3 (the growing output)", allocs)
	}
}

func mustToTerm(t *testing.T, v any) Term {
	t.Helper()
	tm, err := ToTerm(v)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestConcurrentFirstUse(t *testing.T) {
	// Many goroutines meeting a type for the first time share one cache entry.
	type fresh struct {
		A int
		B []Loc
		C map[string]person
	}
	v := fresh{A: 1, B: []Loc{{City: "x"}}, C: map[string]person{"p": {Name: "n"}}}
	want, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	typeCache.Delete(reflect.TypeFor[fresh]())
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			got, err := Marshal(v)
			if err == nil && !reflect.DeepEqual(got, want) {
				err = errors.New("different bytes")
			}
			if err == nil {
				var back fresh
				err = Unmarshal(got, &back)
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
