package codec_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/distribute-go/distribute/codec"
)

// unhex decodes hex written with spaces and | separators for readability.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.NewReplacer(" ", "", "|", "", "\n", "", "\t", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// golden checks that v encodes to exactly hexWant and that hexWant decodes to
// a value equal (per eq) to v.
func golden[T any](t *testing.T, name string, c codec.Codec[T], v T, hexWant string, eq func(a, b T) bool) {
	t.Helper()
	want := unhex(t, hexWant)
	got, err := codec.Encode(c, v)
	if err != nil {
		t.Errorf("%s: Encode: %v", name, err)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: Encode = %x; want %x", name, got, want)
	}
	back, err := codec.Decode(c, want)
	if err != nil {
		t.Errorf("%s: Decode(%x): %v", name, want, err)
		return
	}
	if !eq(back, v) {
		t.Errorf("%s: Decode(%x) = %#v; want %#v", name, want, back, v)
	}
}

func eqAny[T comparable](a, b T) bool { return a == b }

func eqSlice[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func eqFloatBits(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

func TestGoldenPrimitives(t *testing.T) {
	golden(t, "int 0", codec.Int, 0, "00000000 00000000", eqAny)
	golden(t, "int 1", codec.Int, 1, "00000000 00000001", eqAny)
	golden(t, "int 258", codec.Int, 258, "00000000 00000102", eqAny)
	golden(t, "int -1", codec.Int, -1, "ffffffff ffffffff", eqAny)
	golden(t, "int -2", codec.Int, -2, "ffffffff fffffffe", eqAny)
	golden(t, "int max", codec.Int, math.MaxInt64, "7fffffff ffffffff", eqAny)
	golden(t, "int min", codec.Int, math.MinInt64, "80000000 00000000", eqAny)

	golden(t, "float 0", codec.Float, 0, "00000000 00000000", eqFloatBits)
	golden(t, "float -0", codec.Float, math.Copysign(0, -1), "80000000 00000000", eqFloatBits)
	golden(t, "float 1", codec.Float, 1, "3ff00000 00000000", eqFloatBits)
	golden(t, "float -2.5", codec.Float, -2.5, "c0040000 00000000", eqFloatBits)
	golden(t, "float 0.1", codec.Float, 0.1, "3fb99999 9999999a", eqFloatBits)
	golden(t, "float max", codec.Float, math.MaxFloat64, "7fefffff ffffffff", eqFloatBits)
	golden(t, "float smallest denormal", codec.Float, math.SmallestNonzeroFloat64, "00000000 00000001", eqFloatBits)

	golden(t, "string empty", codec.String, "", "00000000", eqAny)
	golden(t, "string hi", codec.String, "hi", "00000002 | 6869", eqAny)
	golden(t, "string é", codec.String, "é", "00000002 | c3a9", eqAny)
	golden(t, "string emoji", codec.String, "\U0001F600", "00000004 | f09f9880", eqAny)

	golden(t, "bool false", codec.Bool, false, "00", eqAny)
	golden(t, "bool true", codec.Bool, true, "01", eqAny)

	golden(t, "bytes empty", codec.Bytes, []byte{}, "00000000", bytes.Equal)
	golden(t, "bytes nil", codec.Bytes, nil, "00000000", bytes.Equal)
	golden(t, "bytes dead", codec.Bytes, []byte{0xde, 0xad}, "00000002 | dead", bytes.Equal)
	golden(t, "bytesview dead", codec.BytesView, []byte{0xde, 0xad}, "00000002 | dead", bytes.Equal)

	golden(t, "nil", codec.Nil, struct{}{}, "", eqAny)
}

func ptr[T any](v T) *T { return &v }

func eqPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func TestGoldenComposites(t *testing.T) {
	golden(t, "list int empty", codec.List(codec.Int), []int64{}, "00000000", eqSlice)
	golden(t, "list int 1 2", codec.List(codec.Int), []int64{1, 2},
		"00000002 | 00000000 00000001 | 00000000 00000002", eqSlice)
	golden(t, "list string", codec.List(codec.String), []string{"a", "bc"},
		"00000002 | 00000001 61 | 00000002 6263", eqSlice)
	golden(t, "list nil x3", codec.List(codec.Nil), []struct{}{{}, {}, {}}, "00000003", eqSlice)
	golden(t, "list list bool", codec.List(codec.List(codec.Bool)), [][]bool{{true}, {}},
		"00000002 | 00000001 01 | 00000000", func(a, b [][]bool) bool {
			if len(a) != len(b) {
				return false
			}
			for i := range a {
				if !eqSlice(a[i], b[i]) {
					return false
				}
			}
			return true
		})

	golden(t, "option none", codec.Option(codec.Int), nil, "00", eqPtr)
	golden(t, "option some", codec.Option(codec.Int), ptr(int64(5)), "01 | 00000000 00000005", eqPtr)
	golden(t, "option some none", codec.Option(codec.Option(codec.Bool)), ptr((*bool)(nil)), "01 00", func(a, b **bool) bool {
		return a != nil && b != nil && *a == nil && *b == nil
	})
	golden(t, "list option bool", codec.List(codec.Option(codec.Bool)), []*bool{nil, ptr(true)},
		"00000002 | 00 | 01 01", func(a, b []*bool) bool {
			return len(a) == 2 && len(b) == 2 && a[0] == nil && b[0] == nil && *a[1] == *b[1]
		})

	res := codec.Result(codec.Int, codec.String)
	golden(t, "result ok", res, codec.Outcome[int64, string]{Ok: 7}, "00 | 00000000 00000007", eqAny)
	golden(t, "result error", res, codec.Outcome[int64, string]{Err: "x", IsErr: true}, "01 | 00000001 78", eqAny)

	golden(t, "tuple2 string int", codec.Tuple2(codec.String, codec.Int), codec.Pair[string, int64]{First: "a", Second: 1},
		"00000005 | 00000001 61 | 00000000 00000001", eqAny)
	golden(t, "tuple2 int bool", codec.Tuple2(codec.Int, codec.Bool), codec.Pair[int64, bool]{First: 1, Second: true},
		"00000008 | 00000000 00000001 | 01", eqAny)
	golden(t, "tuple2 nil nil", codec.Tuple2(codec.Nil, codec.Nil), codec.Pair[struct{}, struct{}]{},
		"00000000", eqAny)
	golden(t, "tuple3", codec.Tuple3(codec.Int, codec.String, codec.Bool),
		codec.Triple[int64, string, bool]{First: 1, Second: "a", Third: true},
		"00000008 | 00000000 00000001 | 00000005 | 00000001 61 | 01", eqAny)

	eqMap := func(a, b map[string]int64) bool {
		if len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if w, ok := b[k]; !ok || w != v {
				return false
			}
		}
		return true
	}
	m := codec.Map(codec.String, codec.Int)
	golden(t, "map empty", m, map[string]int64{}, "00000000", eqMap)
	// Sorted by encoded key: 00000001 61 ("a") before 00000001 62 ("b"),
	// and "b" (shorter length prefix) before "aa".
	golden(t, "map sorted", m, map[string]int64{"aa": 3, "b": 2, "a": 1},
		"00000003 | 00000005 00000001 61 00000000 00000001 | 00000005 00000001 62 00000000 00000002"+
			"| 00000006 00000002 6161 00000000 00000003", eqMap)
	// A map reads as a list of tuple2, which is what Gleam sends for
	// list(tuple2(string, int)).
	pairs, err := codec.Encode(codec.List(codec.Tuple2(codec.String, codec.Int)),
		[]codec.Pair[string, int64]{{First: "a", Second: 1}, {First: "b", Second: 2}})
	if err != nil {
		t.Fatal(err)
	}
	mm, err := codec.Decode(m, pairs)
	if err != nil || !eqMap(mm, map[string]int64{"a": 1, "b": 2}) {
		t.Errorf("map from list of tuple2 = %v, %v", mm, err)
	}
	// Any entry order is accepted on decode.
	rev := unhex(t, "00000002 | 00000005 00000001 62 00000000 00000002 | 00000005 00000001 61 00000000 00000001")
	if mm, err := codec.Decode(m, rev); err != nil || !eqMap(mm, map[string]int64{"a": 1, "b": 2}) {
		t.Errorf("map in reverse order = %v, %v", mm, err)
	}
}

func TestGoldenStructVariantTagged(t *testing.T) {
	u := User{ID: 42, Name: "ann", Admin: true}
	golden(t, "struct", userCodec, u, "00000000 0000002a | 00000003 616e6e | 01", eqAny)

	golden(t, "variant circle", shapeCodec, Shape(Circle{R: 1}), "00 | 3ff00000 00000000", eqAny)
	golden(t, "variant rect", shapeCodec, Shape(Rect{W: 2, H: 0.5}), "01 | 40000000 00000000 | 3fe00000 00000000", eqAny)
	golden(t, "variant unit", shapeCodec, Shape(Empty{}), "02", eqAny)

	golden(t, "tagged", codec.Tagged("user", 2, userCodec), u,
		"00000004 | 75736572 | 00000002 | 00000000 0000002a | 00000003 616e6e | 01", eqAny)
	golden(t, "tagged empty tag", codec.Tagged("", 0, codec.Nil), struct{}{}, "00000000 | 00000000", eqAny)
	golden(t, "tagged version max", codec.Tagged("p", math.MaxUint32, codec.Bool), true, "00000001 | 70 | ffffffff | 01", eqAny)
	golden(t, "tagged in list", codec.List(codec.Tagged("p", 1, codec.Bool)), []bool{true, false},
		"00000002 | 00000001 70 00000001 01 | 00000001 70 00000001 00", eqSlice)
}

func TestBytesOwnership(t *testing.T) {
	in := unhex(t, "00000003 010203")
	got, err := codec.Decode(codec.Bytes, in)
	if err != nil {
		t.Fatal(err)
	}
	in[4] = 0xff
	if got[0] != 1 {
		t.Errorf("Bytes decode aliases its input: got[0] = %#x after changing the input; want 0x01", got[0])
	}
	in[4] = 0x01
	view, err := codec.Decode(codec.BytesView, in)
	if err != nil {
		t.Fatal(err)
	}
	in[4] = 0xff
	if view[0] != 0xff {
		t.Errorf("BytesView decode does not alias its input: view[0] = %#x; want 0xff", view[0])
	}
	if cap(view) != len(view) {
		t.Errorf("BytesView cap = %d; want %d (clipped, so append cannot overwrite the input)", cap(view), len(view))
	}
}

// decodeErr runs Decode and checks the error's sentinel, offset and type.
func wantDecodeErr[T any](t *testing.T, name string, c codec.Codec[T], hexIn string, sentinel error, offset int) *codec.DecodeError {
	t.Helper()
	in := unhex(t, hexIn)
	v, err := codec.Decode(c, in)
	if err == nil {
		t.Errorf("%s: Decode(%x) = %#v, nil; want error %v", name, in, v, sentinel)
		return nil
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("%s: Decode(%x) error %v; want errors.Is %v", name, in, err, sentinel)
	}
	var de *codec.DecodeError
	if !errors.As(err, &de) {
		t.Errorf("%s: Decode(%x) error %T %v; want *codec.DecodeError", name, in, err, err)
		return nil
	}
	if de.Offset != offset {
		t.Errorf("%s: Decode(%x) error offset %d (%v); want %d", name, in, de.Offset, err, offset)
	}
	return de
}

func TestDecodeErrors(t *testing.T) {
	wantDecodeErr(t, "int short", codec.Int, "00000000 000000", codec.ErrTruncated, 0)
	wantDecodeErr(t, "int empty", codec.Int, "", codec.ErrTruncated, 0)
	wantDecodeErr(t, "int trailing", codec.Int, "00000000 00000001 00", codec.ErrTrailing, 8)

	wantDecodeErr(t, "float +inf", codec.Float, "7ff00000 00000000", codec.ErrInvalid, 0)
	wantDecodeErr(t, "float -inf", codec.Float, "fff00000 00000000", codec.ErrInvalid, 0)
	wantDecodeErr(t, "float nan", codec.Float, "7ff80000 00000000", codec.ErrInvalid, 0)
	wantDecodeErr(t, "float nan payload", codec.Float, "fff00000 00000001", codec.ErrInvalid, 0)
	wantDecodeErr(t, "float short", codec.Float, "3ff0", codec.ErrTruncated, 0)

	wantDecodeErr(t, "bool 2", codec.Bool, "02", codec.ErrInvalid, 0)
	wantDecodeErr(t, "bool ff", codec.Bool, "ff", codec.ErrInvalid, 0)
	wantDecodeErr(t, "bool empty", codec.Bool, "", codec.ErrTruncated, 0)

	wantDecodeErr(t, "string no prefix", codec.String, "000000", codec.ErrTruncated, 0)
	wantDecodeErr(t, "string short body", codec.String, "00000002 c3", codec.ErrTruncated, 4)
	wantDecodeErr(t, "string bad utf8", codec.String, "00000001 ff", codec.ErrInvalid, 4)
	wantDecodeErr(t, "string surrogate", codec.String, "00000003 eda080", codec.ErrInvalid, 4)
	wantDecodeErr(t, "string over 4MiB", codec.String, "00400001", codec.ErrTooLarge, 0)
	wantDecodeErr(t, "string u32 max", codec.String, "ffffffff", codec.ErrTooLarge, 0)
	wantDecodeErr(t, "bytes short", codec.Bytes, "00000003 0102", codec.ErrTruncated, 4)
	wantDecodeErr(t, "nil trailing", codec.Nil, "00", codec.ErrTrailing, 0)

	wantDecodeErr(t, "list too many", codec.List(codec.Nil), "00002711", codec.ErrTooLarge, 0)
	wantDecodeErr(t, "list u32 max", codec.List(codec.Int), "ffffffff", codec.ErrTooLarge, 0)
	wantDecodeErr(t, "list short element", codec.List(codec.Int), "00000002 00000000 00000001 00", codec.ErrTruncated, 12)
	wantDecodeErr(t, "list bad element", codec.List(codec.Bool), "00000003 01 00 07", codec.ErrInvalid, 6)
	wantDecodeErr(t, "list no count", codec.List(codec.Bool), "0000", codec.ErrTruncated, 0)
	wantDecodeErr(t, "list trailing", codec.List(codec.Bool), "00000001 01 01", codec.ErrTrailing, 5)

	wantDecodeErr(t, "option 2", codec.Option(codec.Bool), "02", codec.ErrInvalid, 0)
	wantDecodeErr(t, "option empty", codec.Option(codec.Bool), "", codec.ErrTruncated, 0)
	wantDecodeErr(t, "option bad value", codec.Option(codec.Bool), "01 05", codec.ErrInvalid, 1)
	wantDecodeErr(t, "option none trailing", codec.Option(codec.Bool), "00 00", codec.ErrTrailing, 1)

	res := codec.Result(codec.Int, codec.String)
	wantDecodeErr(t, "result 2", res, "02", codec.ErrInvalid, 0)
	wantDecodeErr(t, "result bad error", res, "01 00000001 ff", codec.ErrInvalid, 5)

	t2 := codec.Tuple2(codec.String, codec.Int)
	// The first element's slice says 6 bytes but the string inside uses 5:
	// the extra byte is smuggled data.
	wantDecodeErr(t, "tuple2 trailing in slice", t2, "00000006 | 00000001 61 ff | 00000000 00000001", codec.ErrTrailing, 9)
	wantDecodeErr(t, "tuple2 slice beyond input", t2, "00000009 | 00000001 61", codec.ErrTruncated, 4)
	wantDecodeErr(t, "tuple2 short second", t2, "00000005 | 00000001 61 | 0000", codec.ErrTruncated, 9)
	wantDecodeErr(t, "tuple2 slice too short for first", t2, "00000002 | 0000 | 00000000 00000001", codec.ErrTruncated, 4)
	t3 := codec.Tuple3(codec.Int, codec.String, codec.Bool)
	wantDecodeErr(t, "tuple3 trailing in second", t3, "00000008 00000000 00000001 | 00000006 00000001 61 00 | 01", codec.ErrTrailing, 21)
	wantDecodeErr(t, "tuple3 bad third", t3, "00000008 00000000 00000001 | 00000005 00000001 61 | 09", codec.ErrInvalid, 21)

	m := codec.Map(codec.String, codec.Int)
	wantDecodeErr(t, "map duplicate key", m,
		"00000002 | 00000005 00000001 61 00000000 00000001 | 00000005 00000001 61 00000000 00000002", codec.ErrInvalid, 21)
	wantDecodeErr(t, "map too many", m, "00002711", codec.ErrTooLarge, 0)

	de := wantDecodeErr(t, "struct bad field", userCodec, "00000000 0000002a | 00000003 616eff | 01", codec.ErrInvalid, 12)
	if de != nil && !strings.Contains(de.Codec, "name") {
		t.Errorf("struct error Codec = %q; want it to name the field", de.Codec)
	}
	wantDecodeErr(t, "struct short", userCodec, "00000000 0000002a | 00000003 616e6e", codec.ErrTruncated, 15)

	wantDecodeErr(t, "variant unknown", shapeCodec, "09", codec.ErrInvalid, 0)
	wantDecodeErr(t, "variant empty", shapeCodec, "", codec.ErrTruncated, 0)
	wantDecodeErr(t, "variant bad payload", shapeCodec, "00 | 7ff00000 00000000", codec.ErrInvalid, 1)
}

func TestTaggedMismatch(t *testing.T) {
	c := codec.Tagged("user", 2, userCodec)
	payload := "00000000 0000002a | 00000003 616e6e | 01"

	// Another tag: a different message.
	de := wantDecodeErr(t, "other tag", c, "00000005 | 6f72646572 | 00000002 |"+payload, codec.ErrTagMismatch, 4)
	var tm *codec.TagMismatchError
	if de != nil && (!errors.As(de, &tm) || tm.Want != "user" || tm.Got != "order") {
		t.Errorf("tag mismatch error %v; want *TagMismatchError{Want: user, Got: order}", de)
	}
	if errors.Is(de, codec.ErrVersionMismatch) {
		t.Errorf("tag mismatch %v also matches ErrVersionMismatch", de)
	}

	// Same tag, older version: an old sender.
	de = wantDecodeErr(t, "old version", c, "00000004 | 75736572 | 00000001 |"+payload, codec.ErrVersionMismatch, 8)
	var vm *codec.VersionMismatchError
	if de != nil && (!errors.As(de, &vm) || vm.Tag != "user" || vm.Want != 2 || vm.Got != 1) {
		t.Errorf("version mismatch error %v; want *VersionMismatchError{Tag: user, Want: 2, Got: 1}", de)
	}
	if errors.Is(de, codec.ErrTagMismatch) {
		t.Errorf("version mismatch %v also matches ErrTagMismatch", de)
	}

	wantDecodeErr(t, "tag bad utf8", c, "00000001 | ff | 00000002", codec.ErrInvalid, 4)
	wantDecodeErr(t, "tag truncated", c, "00000004 | 7573", codec.ErrTruncated, 4)
	wantDecodeErr(t, "no version", c, "00000004 | 75736572 | 0000", codec.ErrTruncated, 8)
	wantDecodeErr(t, "payload truncated", c, "00000004 | 75736572 | 00000002 | 00000000", codec.ErrTruncated, 12)
	wantDecodeErr(t, "payload trailing", c, "00000004 | 75736572 | 00000002 |"+payload+"00", codec.ErrTrailing, 28)
	wantDecodeErr(t, "tag too long", c, "00400001", codec.ErrTooLarge, 0)

	tag, version, rest, err := codec.ParseEnvelope(unhex(t, "00000004 | 75736572 | 00000001 |"+payload))
	if err != nil || tag != "user" || version != 1 || !bytes.Equal(rest, unhex(t, payload)) {
		t.Errorf("ParseEnvelope = %q, %d, %x, %v; want user, 1, %s, nil", tag, version, rest, err, payload)
	}
	hdr, err := codec.AppendEnvelope(nil, "user", 2)
	if err != nil || !bytes.Equal(hdr, unhex(t, "00000004 75736572 00000002")) {
		t.Errorf("AppendEnvelope = %x, %v", hdr, err)
	}
	if _, err := codec.AppendEnvelope(nil, "\xff", 2); !errors.Is(err, codec.ErrInvalid) {
		t.Errorf("AppendEnvelope(invalid UTF-8) error %v; want ErrInvalid", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if b, err := codec.Encode(codec.Float, f); !errors.Is(err, codec.ErrInvalid) {
			t.Errorf("Encode(Float, %v) = %x, %v; want ErrInvalid", f, b, err)
		}
	}
	if b, err := codec.Encode(codec.String, "a\xffb"); !errors.Is(err, codec.ErrInvalid) {
		t.Errorf("Encode(String, invalid UTF-8) = %x, %v; want ErrInvalid", b, err)
	}
	if b, err := codec.Encode(codec.List(codec.Nil), make([]struct{}, codec.DefaultMaxElements+1)); !errors.Is(err, codec.ErrTooLarge) {
		t.Errorf("Encode(List, %d elements) = %x, %v; want ErrTooLarge", codec.DefaultMaxElements+1, b, err)
	}
	if _, err := codec.Encode(codec.List(codec.Nil), make([]struct{}, codec.DefaultMaxElements)); err != nil {
		t.Errorf("Encode(List, %d elements) error %v; want nil", codec.DefaultMaxElements, err)
	}
	if b, err := codec.Encode(codec.Bytes, make([]byte, codec.DefaultMaxBytes+1)); !errors.Is(err, codec.ErrTooLarge) {
		t.Errorf("Encode(Bytes, 4MiB+1) = %d bytes, %v; want ErrTooLarge", len(b), err)
	}
	// 4 MiB of payload plus its prefix is over the whole-message cap.
	if b, err := codec.Encode(codec.Bytes, make([]byte, codec.DefaultMaxBytes)); !errors.Is(err, codec.ErrTooLarge) {
		t.Errorf("Encode(Bytes, 4MiB) = %d bytes, %v; want ErrTooLarge (message over 4 MiB)", len(b), err)
	}
	if b, err := codec.Encode(shapeCodec, nil); !errors.Is(err, codec.ErrInvalid) {
		t.Errorf("Encode(Variants, nil) = %x, %v; want ErrInvalid", b, err)
	}
	nested := codec.Tuple2(codec.List(codec.Float), codec.Int)
	if b, err := codec.Encode(nested, codec.Pair[[]float64, int64]{First: []float64{1, math.NaN()}}); !errors.Is(err, codec.ErrInvalid) {
		t.Errorf("Encode(nested NaN) = %x, %v; want ErrInvalid", b, err)
	}
	m := codec.Map(codec.Convert(codec.Int, func(i int64) (int, error) { return int(i), nil }, func(i int) int64 { return int64(i % 2) }), codec.Bool)
	if b, err := codec.Encode(m, map[int]bool{1: true, 3: false}); !errors.Is(err, codec.ErrInvalid) {
		t.Errorf("Encode(map with two keys encoding alike) = %x, %v; want ErrInvalid", b, err)
	}
}

func TestLimits(t *testing.T) {
	small := codec.WithLimits(codec.List(codec.Int), codec.Limits{MaxElements: 2})
	if _, err := codec.Encode(small, []int64{1, 2}); err != nil {
		t.Errorf("Encode 2 elements with MaxElements 2: %v", err)
	}
	if _, err := codec.Encode(small, []int64{1, 2, 3}); !errors.Is(err, codec.ErrTooLarge) {
		t.Errorf("Encode 3 elements with MaxElements 2: %v; want ErrTooLarge", err)
	}
	wantDecodeErr(t, "3 elements, MaxElements 2", small, "00000003", codec.ErrTooLarge, 0)

	// Limits reach lists nested in other combinators.
	nested := codec.WithLimits(codec.Option(codec.Tuple2(codec.List(codec.Bool), codec.Nil)), codec.Limits{MaxElements: 1})
	wantDecodeErr(t, "nested list", nested, "01 | 00000006 | 00000002 0101", codec.ErrTooLarge, 5)

	big := codec.WithLimits(codec.List(codec.Nil), codec.Limits{MaxElements: 20_000})
	in := unhex(t, "00004e20")
	if v, err := codec.Decode(big, in); err != nil || len(v) != 20_000 {
		t.Errorf("Decode 20000 nils with MaxElements 20000 = %d, %v", len(v), err)
	}
	// The default applies without WithLimits.
	wantDecodeErr(t, "20000 nils by default", codec.List(codec.Nil), "00004e20", codec.ErrTooLarge, 0)

	str := codec.WithLimits(codec.String, codec.Limits{MaxBytes: 3})
	wantDecodeErr(t, "string over MaxBytes", str, "00000003 616263", codec.ErrTooLarge, 0) // 7-byte message > 3
	str = codec.WithLimits(codec.String, codec.Limits{MaxBytes: 8})
	wantDecodeErr(t, "string prefix over MaxBytes", str, "00000009 616263", codec.ErrTooLarge, 0)
	if v, err := codec.Decode(str, unhex(t, "00000003 616263")); err != nil || v != "abc" {
		t.Errorf("Decode within MaxBytes = %q, %v", v, err)
	}
	if _, err := codec.Encode(str, "abcde"); !errors.Is(err, codec.ErrTooLarge) {
		t.Errorf("Encode 9-byte message with MaxBytes 8: %v; want ErrTooLarge", err)
	}
}

func TestSizedDecode(t *testing.T) {
	// Decode reads one value and returns the rest, so values concatenate.
	var buf []byte
	var err error
	if buf, err = codec.String.Append(buf, "first"); err != nil {
		t.Fatal(err)
	}
	if buf, err = codec.Int.Append(buf, 7); err != nil {
		t.Fatal(err)
	}
	if buf, err = userCodec.Append(buf, User{ID: 1, Name: "x"}); err != nil {
		t.Fatal(err)
	}
	s, rest, err := codec.String.Decode(buf)
	if err != nil || s != "first" {
		t.Fatalf("String.Decode = %q, %v", s, err)
	}
	i, rest, err := codec.Int.Decode(rest)
	if err != nil || i != 7 {
		t.Fatalf("Int.Decode = %d, %v", i, err)
	}
	u, rest, err := userCodec.Decode(rest)
	if err != nil || u != (User{ID: 1, Name: "x"}) || len(rest) != 0 {
		t.Fatalf("userCodec.Decode = %+v, %x, %v", u, rest, err)
	}
	// Append keeps what dst held.
	out, err := codec.Bool.Append([]byte{0xaa}, true)
	if err != nil || !bytes.Equal(out, []byte{0xaa, 0x01}) {
		t.Errorf("Bool.Append(aa, true) = %x, %v; want aa01", out, err)
	}
}

func TestNewAndConvert(t *testing.T) {
	// A user codec: a uint16 big-endian.
	u16 := codec.New("u16",
		func(dst []byte, v uint16) ([]byte, error) { return append(dst, byte(v>>8), byte(v)), nil },
		func(src []byte) (uint16, []byte, error) {
			if len(src) < 2 {
				return 0, nil, &codec.DecodeError{Codec: "u16", Err: codec.ErrTruncated}
			}
			return uint16(src[0])<<8 | uint16(src[1]), src[2:], nil
		})
	golden(t, "custom in list", codec.List(u16), []uint16{1, 0xabcd}, "00000002 0001 abcd", eqSlice)
	wantDecodeErr(t, "custom short in list", codec.List(u16), "00000002 0001 ab", codec.ErrTruncated, 6)

	type Celsius float64
	c := codec.Convert(codec.Float, func(f float64) (Celsius, error) {
		if f < -273.15 {
			return 0, errors.New("below absolute zero")
		}
		return Celsius(f), nil
	}, func(c Celsius) float64 { return float64(c) })
	golden(t, "convert", c, Celsius(1), "3ff00000 00000000", eqAny)
	wantDecodeErr(t, "convert rejects", c, "c0800000 00000000", codec.ErrInvalid, 0) // -512
}

func TestConstructorPanics(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	mustPanic("duplicate variant id", func() {
		codec.Variants(codec.Unit[Shape](1, "a", Empty{}), codec.Case[Shape](1, "b", codec.Convert(codec.Nil, func(struct{}) (Empty, error) { return Empty{}, nil }, func(Empty) struct{} { return struct{}{} })))
	})
	mustPanic("duplicate field", func() {
		codec.Struct(
			codec.Field("id", func(u *User) *int64 { return &u.ID }, codec.Int),
			codec.Field("id", func(u *User) *int64 { return &u.ID }, codec.Int),
		)
	})
	mustPanic("case type not implementing", func() { codec.Case[Shape](0, "int", codec.Int) })
	mustPanic("unit uncomparable", func() { codec.Unit[any](0, "slice", any([]int{1})) })
	mustPanic("nil codec", func() { codec.List[int64](nil) })
	mustPanic("tag invalid utf8", func() { codec.Tagged("\xff", 1, codec.Int) })
}
