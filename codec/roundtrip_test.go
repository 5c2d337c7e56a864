package codec_test

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"testing/quick"

	"github.com/distribute-go/distribute/codec"
)

// roundTrip checks Decode(Encode(v)) == v and that the value also decodes
// with the sized form, leaving exactly the bytes appended after it.
func roundTrip[T any](t *testing.T, c codec.Codec[T], v T, eq func(a, b T) bool) bool {
	t.Helper()
	b, err := codec.Encode(c, v)
	if err != nil {
		t.Errorf("Encode(%#v): %v", v, err)
		return false
	}
	got, err := codec.Decode(c, b)
	if err != nil {
		t.Errorf("Decode(Encode(%#v)) = %x: %v", v, b, err)
		return false
	}
	if !eq(got, v) {
		t.Errorf("Decode(Encode(%#v)) = %#v", v, got)
		return false
	}
	// Sized: with a suffix, Decode returns it untouched.
	withTail := append(append([]byte(nil), b...), 0xfe, 0xed)
	got, rest, err := c.Decode(withTail)
	if err != nil || !eq(got, v) || !bytes.Equal(rest, []byte{0xfe, 0xed}) {
		t.Errorf("sized Decode(%x) = %#v, rest %x, %v", withTail, got, rest, err)
		return false
	}
	return true
}

func eqDeep[T any](a, b T) bool { return reflect.DeepEqual(a, b) }

func quickCheck(t *testing.T, f any) {
	t.Helper()
	if err := quick.Check(f, &quick.Config{MaxCount: 500}); err != nil {
		t.Error(err)
	}
}

func TestPropertyPrimitives(t *testing.T) {
	quickCheck(t, func(v int64) bool { return roundTrip(t, codec.Int, v, eqAny) })
	quickCheck(t, func(v float64) bool {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return true
		}
		return roundTrip(t, codec.Float, v, eqFloatBits)
	})
	quickCheck(t, func(v string) bool { return roundTrip(t, codec.String, v, eqAny) })
	quickCheck(t, func(v bool) bool { return roundTrip(t, codec.Bool, v, eqAny) })
	quickCheck(t, func(v []byte) bool { return roundTrip(t, codec.Bytes, v, bytes.Equal) })
	quickCheck(t, func(v []byte) bool { return roundTrip(t, codec.BytesView, v, bytes.Equal) })
	// Every bit pattern of a float64 either is rejected (NaN, Inf) or
	// round-trips bit for bit.
	quickCheck(t, func(bits uint64) bool {
		in := []byte{byte(bits >> 56), byte(bits >> 48), byte(bits >> 40), byte(bits >> 32), byte(bits >> 24), byte(bits >> 16), byte(bits >> 8), byte(bits)}
		f, err := codec.Decode(codec.Float, in)
		finite := !math.IsNaN(math.Float64frombits(bits)) && !math.IsInf(math.Float64frombits(bits), 0)
		if finite != (err == nil) {
			return false
		}
		return err != nil || math.Float64bits(f) == bits
	})
}

func eqNilEmpty[T any](a, b T) bool {
	// A decoded list, map or byte slice is never nil; an encoded nil one
	// is empty. Compare by re-encoding instead.
	return reflect.DeepEqual(a, b) || reflect.ValueOf(a).Len() == 0 && reflect.ValueOf(b).Len() == 0
}

func TestPropertyComposites(t *testing.T) {
	quickCheck(t, func(v []int64) bool { return roundTrip(t, codec.List(codec.Int), v, eqNilEmpty) })
	quickCheck(t, func(v []string) bool { return roundTrip(t, codec.List(codec.String), v, eqNilEmpty) })
	quickCheck(t, func(v [][]bool) bool {
		b1, err := codec.Encode(codec.List(codec.List(codec.Bool)), v)
		if err != nil {
			return false
		}
		got, err := codec.Decode(codec.List(codec.List(codec.Bool)), b1)
		if err != nil || len(got) != len(v) {
			return false
		}
		for i := range v {
			if !eqSlice(got[i], v[i]) {
				return false
			}
		}
		return true
	})
	quickCheck(t, func(v *int64) bool { return roundTrip(t, codec.Option(codec.Int), v, eqPtr) })
	quickCheck(t, func(v *string) bool { return roundTrip(t, codec.Option(codec.String), v, eqPtr) })
	quickCheck(t, func(ok int64, e string, isErr bool) bool {
		o := codec.Outcome[int64, string]{IsErr: isErr}
		if isErr {
			o.Err = e
		} else {
			o.Ok = ok
		}
		return roundTrip(t, codec.Result(codec.Int, codec.String), o, eqAny)
	})
	quickCheck(t, func(a string, b int64) bool {
		return roundTrip(t, codec.Tuple2(codec.String, codec.Int), codec.Pair[string, int64]{First: a, Second: b}, eqAny)
	})
	quickCheck(t, func(a []byte, b string, c bool) bool {
		v := codec.Triple[[]byte, string, bool]{First: a, Second: b, Third: c}
		return roundTrip(t, codec.Tuple3(codec.Bytes, codec.String, codec.Bool), v, func(x, y codec.Triple[[]byte, string, bool]) bool {
			return bytes.Equal(x.First, y.First) && x.Second == y.Second && x.Third == y.Third
		})
	})
	quickCheck(t, func(m map[string]int64) bool {
		return roundTrip(t, codec.Map(codec.String, codec.Int), m, eqNilEmpty)
	})
	// Map encoding does not depend on Go's random map order.
	quickCheck(t, func(m map[int64]string) bool {
		c := codec.Map(codec.Int, codec.String)
		first, err := codec.Encode(c, m)
		if err != nil {
			return false
		}
		for range 5 {
			again, err := codec.Encode(c, m)
			if err != nil || !bytes.Equal(first, again) {
				return false
			}
		}
		return true
	})
	quickCheck(t, func(id int64, name string, admin bool) bool {
		return roundTrip(t, userCodec, User{ID: id, Name: name, Admin: admin}, eqAny)
	})
	quickCheck(t, func(kind uint8, x, y float64) bool {
		var s Shape
		switch kind % 3 {
		case 0:
			s = Circle{R: x}
		case 1:
			s = Rect{W: x, H: y}
		default:
			s = Empty{}
		}
		return roundTrip(t, shapeCodec, s, eqAny)
	})
	quickCheck(t, func(tag string, version uint32, v []string) bool {
		return roundTrip(t, codec.Tagged(tag, version, codec.List(codec.String)), v, eqNilEmpty)
	})
}

// randValue builds a random Ten, exercising every field codec.
func randTen(r *rand.Rand) Ten {
	str := func() string {
		rs := make([]rune, r.IntN(8))
		for i := range rs {
			rs[i] = rune(r.IntN(0x3000))
		}
		return string(rs)
	}
	v := Ten{
		A: r.Int64(), B: -r.Int64(), C: int64(r.Uint64()),
		D: str(), E: str(),
		F: r.IntN(2) == 1, G: r.IntN(2) == 1,
		H: r.NormFloat64() * 1e10,
		I: make([]byte, r.IntN(10)),
		J: make([]int64, r.IntN(10)),
	}
	for i := range v.I {
		v.I[i] = byte(r.Uint32())
	}
	for i := range v.J {
		v.J[i] = r.Int64()
	}
	return v
}

func TestPropertyStructGenerator(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		roundTrip(t, tenCodec, randTen(r), eqDeep)
	}
	roundTrip(t, tenCodec, tenValue, eqDeep)
}

// Every strict prefix of a valid encoding is rejected as truncated, and
// never panics.
func TestTruncatedPrefixes(t *testing.T) {
	cases := []struct {
		name string
		run  func(b []byte) error
		full []byte
	}{}
	add := func(name string, full []byte, run func(b []byte) error) {
		cases = append(cases, struct {
			name string
			run  func(b []byte) error
			full []byte
		}{name, run, full})
	}
	tenBytes, _ := codec.Encode(tenCodec, tenValue)
	add("ten", tenBytes, func(b []byte) error { _, err := codec.Decode(tenCodec, b); return err })
	tc := codec.Tagged("ten", 3, tenCodec)
	tagged, _ := codec.Encode(tc, tenValue)
	add("tagged", tagged, func(b []byte) error { _, err := codec.Decode(tc, b); return err })
	mc := codec.Map(codec.String, codec.Tuple3(codec.Int, codec.Option(codec.Bool), codec.Result(codec.Nil, codec.Float)))
	mv := map[string]codec.Triple[int64, *bool, codec.Outcome[struct{}, float64]]{
		"x": {First: 1, Second: ptr(true), Third: codec.Outcome[struct{}, float64]{IsErr: true, Err: 2}},
		"y": {First: 2},
	}
	mb, err := codec.Encode(mc, mv)
	if err != nil {
		t.Fatal(err)
	}
	add("map", mb, func(b []byte) error { _, err := codec.Decode(mc, b); return err })
	for _, c := range cases {
		if err := c.run(c.full); err != nil {
			t.Fatalf("%s: full input: %v", c.name, err)
		}
		for i := range len(c.full) {
			err := c.run(c.full[:i])
			if !errors.Is(err, codec.ErrTruncated) {
				t.Errorf("%s: prefix of %d/%d bytes: error %v; want ErrTruncated", c.name, i, len(c.full), err)
			}
		}
	}
}
