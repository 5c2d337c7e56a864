package etf

import (
	"bytes"
	"errors"
	"math/big"
	"testing"
)

// fuzzTarget has a field of most kinds Unmarshal fills.
type fuzzTarget struct {
	B     bool
	I8    int8
	U16   uint16
	I     int
	U64   uint64
	F32   float32
	F     float64
	S     string
	SA    string `etf:"sa,atom"`
	Bytes []byte
	Arr   [2]int
	BArr  [3]byte
	Ints  []int
	M     map[string]int
	AM    map[Atom]any
	P     *int
	PP    **string
	Rec   *person
	Ex    *Person
	Locs  []Loc
	Big   *big.Int
	BigV  big.Int
	Any   any
	A     Atom
	CL    CharList
	L     List
	T     Tuple
	Pid   Pid
	Ver   *version
	Base
}

// FuzzUnmarshal decodes arbitrary bytes into a struct with many field
// kinds. It must never panic; every failure must be a typed error; and a
// value it fills must marshal and unmarshal again to the same terms.
func FuzzUnmarshal(f *testing.F) {
	seed := fuzzTarget{
		B: true, I8: -3, U16: 60000, I: -1 << 40, U64: 1 << 63, F32: 2.5, F: -1e100,
		S: "s☺", SA: "atom", Bytes: []byte{1, 2}, Arr: [2]int{1, 2}, BArr: [3]byte{1, 2, 3},
		Ints: []int{5, 6}, M: map[string]int{"k": 1}, AM: map[Atom]any{"x": Tuple{OK}},
		P: intPtr(3), Rec: &person{Name: "n", Age: 1}, Ex: &Person{Name: "e", Tags: []string{"t"}},
		Locs: []Loc{{City: "c", Zip: intPtr(9)}}, Big: bigInt("123456789012345678901234567890"),
		Any: List{Binary("b"), 1.5}, A: "a", CL: "cl", L: List{int64(1000)}, T: Tuple{Error},
		Pid: Pid{Node: "n@h", ID: 1}, Ver: &version{1, 2}, Base: Base{ID: 5, Kind: "k"},
	}
	for _, v := range []any{seed, fuzzTarget{}, person{Name: "x"}, []int{1}, "s", Map{{Atom("i8"), int64(300)}}} {
		data, err := Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, g := range goldens {
		if data, err := Marshal(g.in); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte{131, 109, 0, 0, 0, 1, 'x'})
	f.Add([]byte{131, 116, 0, 0, 0, 1, 119, 1, 'p', 119, 9, 'u', 'n', 'd', 'e', 'f', 'i', 'n', 'e', 'd'})

	f.Fuzz(func(t *testing.T, data []byte) {
		var v fuzzTarget
		if err := Unmarshal(data, &v); err != nil {
			if !isType[*DecodeError](err) && !isType[*UnmarshalTypeError](err) && !isType[*MarshalerError](err) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		again, err := Marshal(&v)
		if err != nil {
			// An atom field may hold a binary that is no valid atom.
			var ee *EncodeError
			if errors.As(err, &ee) && (errors.Is(err, ErrInvalid) || errors.Is(err, ErrTooLarge)) {
				return
			}
			t.Fatalf("Marshal of an unmarshalled value: %v", err)
		}
		// The direct encoder agrees with encoding the term.
		t0, err := ToTerm(&v)
		if err != nil {
			t.Fatalf("ToTerm: %v", err)
		}
		viaTerm, err := Encode(t0)
		if err != nil || !bytes.Equal(viaTerm, again) {
			t.Fatalf("Marshal = %x\nEncode(ToTerm) = %x (%v)", again, viaTerm, err)
		}
		var v2 fuzzTarget
		if err := Unmarshal(again, &v2); err != nil {
			t.Fatalf("Unmarshal of a re-marshalled value: %v", err)
		}
		t1, err1 := ToTerm(&v)
		t2, err2 := ToTerm(&v2)
		if err1 != nil || err2 != nil || !Equal(t1, t2) {
			t.Fatalf("round trip changed the value:\n%v\n%v\n(%v, %v)", t1, t2, err1, err2)
		}
	})
}

// FuzzFromTerm feeds arbitrary decoded terms to FromTerm directly, with
// binaries aliasing the input.
func FuzzFromTerm(f *testing.F) {
	data, err := Marshal(fuzzTarget{S: "x"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		d := Decoder{AliasBinaries: true}
		term, _, err := d.Decode(data)
		if err != nil {
			return
		}
		var v fuzzTarget
		var s []fuzzTarget
		var m map[Atom]fuzzTarget
		for _, target := range []any{&v, &s, &m} {
			if err := (UnmarshalOptions{NilAtom: Nil}).FromTerm(term, target); err != nil &&
				!isType[*UnmarshalTypeError](err) && !isType[*MarshalerError](err) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
		}
	})
}

// fuzzNested is a nested struct whose fields hold maps with interface keys,
// the shape that once panicked on Elixir's string keys.
type fuzzNested struct {
	Name  string
	Attrs map[any]any
	Kids  []fuzzNested
	Next  *fuzzNested
	Pairs map[string][]any
	Keyed map[struct{ K any }]int
}

// FuzzUnmarshalAny decodes arbitrary bytes into the generic Go shapes —
// map[any]any, []any, any, map[Term]Term — and into nested structs. It
// must never panic; every failure must be a typed error; what any receives
// is the decoded term itself.
func FuzzUnmarshalAny(f *testing.F) {
	for _, t := range []Term{
		Map{{Binary("name"), Binary("x")}, {Binary("n"), int64(1)}},
		Map{{Tuple{OK, int64(1)}, OK}, {List{OK}, Error}, {Map{}, Undefined}},
		Map{{Atom("attrs"), Map{{Binary("k"), List{Binary("v")}}}}, {Atom("kids"), List{Map{{Atom("name"), Binary("k")}}}}},
		Map{{Atom("keyed"), Map{{Map{{Atom("k"), Binary("b")}}, int64(1)}}}},
		List{Binary("a"), Tuple{}, Map{{BitBinary{Bytes: []byte{1}, Bits: 1}, int64(2)}}},
		Map{{Atom("next"), Map{{Atom("next"), Map{{Atom("attrs"), Map{{Tuple{}, int64(1)}}}}}}}},
	} {
		b, err := Encode(t)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			m  map[any]any
			mt map[Term]Term
			s  []any
			a  any
			n  fuzzNested
			ns []fuzzNested
		)
		for _, target := range []any{&m, &mt, &s, &a, &n, &ns} {
			err := Unmarshal(data, target)
			if err == nil {
				continue
			}
			if !isType[*DecodeError](err) && !isType[*UnmarshalTypeError](err) {
				t.Fatalf("into %T: untyped error %T: %v", target, err, err)
			}
		}
		if want, err := Decode(data); err == nil && !Equal(a, want) {
			t.Fatalf("into any: %v; want %v", a, want)
		}
	})
}
