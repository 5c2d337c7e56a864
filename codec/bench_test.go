package codec_test

import (
	"testing"

	"github.com/distribute-go/distribute/codec"
)

func benchEncode[T any](b *testing.B, c codec.Codec[T], v T) {
	b.Helper()
	buf, err := c.Append(nil, v)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = c.Append(buf[:0], v); err != nil {
			b.Fatal(err)
		}
	}
}

func benchDecode[T any](b *testing.B, c codec.Codec[T], v T) {
	b.Helper()
	buf, err := codec.Encode(c, v)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := codec.Decode(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}

var (
	benchString = "the quick brown fox jumps over the lazy dog"
	benchInts   = func() []int64 {
		v := make([]int64, 1000)
		for i := range v {
			v[i] = int64(i) * 7919
		}
		return v
	}()
	benchEnvelope = codec.Tagged("bench.user", 3, userCodec)
	benchUser     = User{ID: 42, Name: "ann", Admin: true}
	intList       = codec.List(codec.Int)
)

func BenchmarkIntEncode(b *testing.B)      { benchEncode(b, codec.Int, 1<<40) }
func BenchmarkIntDecode(b *testing.B)      { benchDecode(b, codec.Int, 1<<40) }
func BenchmarkStringEncode(b *testing.B)   { benchEncode(b, codec.String, benchString) }
func BenchmarkStringDecode(b *testing.B)   { benchDecode(b, codec.String, benchString) }
func BenchmarkStruct10Encode(b *testing.B) { benchEncode(b, tenCodec, tenValue) }
func BenchmarkStruct10Decode(b *testing.B) { benchDecode(b, tenCodec, tenValue) }
func BenchmarkList1000IntEncode(b *testing.B) {
	benchEncode(b, intList, benchInts)
}
func BenchmarkList1000IntDecode(b *testing.B) {
	benchDecode(b, intList, benchInts)
}
func BenchmarkEnvelopeEncode(b *testing.B) { benchEncode(b, benchEnvelope, benchUser) }
func BenchmarkEnvelopeDecode(b *testing.B) { benchDecode(b, benchEnvelope, benchUser) }
func BenchmarkMapEncode(b *testing.B) {
	m := map[string]int64{}
	for i := range 100 {
		m[string(rune('a'+i%26))+string(rune('A'+i/26))] = int64(i)
	}
	benchEncode(b, codec.Map(codec.String, codec.Int), m)
}

// Allocation budgets: decoding fixed-size primitives allocates nothing, and
// neither does appending them into a buffer with room.
func TestAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	intBytes, _ := codec.Encode(codec.Int, -5)
	floatBytes, _ := codec.Encode(codec.Float, 2.5)
	boolBytes, _ := codec.Encode(codec.Bool, true)
	buf := make([]byte, 0, 64)
	cases := []struct {
		name   string
		budget float64
		f      func()
	}{
		{"Decode Int", 0, func() { _, _ = codec.Decode(codec.Int, intBytes) }},
		{"Decode Float", 0, func() { _, _ = codec.Decode(codec.Float, floatBytes) }},
		{"Decode Bool", 0, func() { _, _ = codec.Decode(codec.Bool, boolBytes) }},
		{"Int.Decode", 0, func() { _, _, _ = codec.Int.Decode(intBytes) }},
		{"Append Int", 0, func() { _, _ = codec.Int.Append(buf[:0], 7) }},
		{"Append Float", 0, func() { _, _ = codec.Float.Append(buf[:0], 7.5) }},
		{"Append Bool", 0, func() { _, _ = codec.Bool.Append(buf[:0], true) }},
		{"Append String", 0, func() { _, _ = codec.String.Append(buf[:0], "hello") }},
		{"Append tagged user", 1, func() { _, _ = benchEnvelope.Append(buf[:0], benchUser) }},
		{"Decode String", 1, func() { _, _ = codec.Decode(codec.String, append(buf[:0], 0, 0, 0, 2, 'h', 'i')) }},
	}
	for _, c := range cases {
		if got := testing.AllocsPerRun(200, c.f); got > c.budget {
			t.Errorf("%s: %v allocs per run; budget %v", c.name, got, c.budget)
		}
	}
	// The 1,000-int list decodes with one allocation: the slice.
	listBytes, _ := codec.Encode(intList, benchInts)
	if got := testing.AllocsPerRun(50, func() { _, _ = codec.Decode(intList, listBytes) }); got > 1 {
		t.Errorf("Decode List(Int) of 1000: %v allocs per run; budget 1", got)
	}
}
