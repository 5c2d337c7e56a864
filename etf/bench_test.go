package etf_test

import (
	"testing"

	"github.com/distribute-go/distribute/etf"
)

func benchTerms() map[string]etf.Term {
	fields := etf.Map{}
	for i := 0; i < 10; i++ {
		fields = append(fields, etf.Pair{Key: etf.Atom("field" + string(rune('a'+i))), Value: int64(i * 1000)})
	}
	ints := make(etf.List, 1000)
	for i := range ints {
		ints[i] = int64(i * 7)
	}
	return map[string]etf.Term{
		"Binary64": etf.Binary(make([]byte, 64)),
		"Binary1K": etf.Binary(make([]byte, 1024)),
		"Map10":    fields,
		"List1000": ints,
		"GenCall":  etf.Tuple{etf.Atom("$gen_call"), etf.Tuple{etf.Pid{Node: "a@b", ID: 1}, etf.Ref{Node: "a@b", Len: 3}}, etf.Tuple{etf.OK, int64(42)}},
	}
}

var benchOrder = []string{"Binary64", "Binary1K", "Map10", "List1000", "GenCall"}

func BenchmarkEncode(b *testing.B) {
	terms := benchTerms()
	for _, name := range benchOrder {
		term := terms[name]
		b.Run(name, func(b *testing.B) {
			buf := make([]byte, 0, 16<<10)
			enc, err := etf.Encode(term)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := etf.Append(buf[:0], term); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	terms := benchTerms()
	for _, name := range benchOrder {
		data, err := etf.Encode(terms[name])
		if err != nil {
			b.Fatal(err)
		}
		for _, alias := range []bool{false, true} {
			sub := name
			if alias {
				sub += "/Alias"
			}
			b.Run(sub, func(b *testing.B) {
				d := etf.Decoder{AliasBinaries: alias}
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := d.Decode(data); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkDecodeBinary(b *testing.B) {
	data, _ := etf.Encode(etf.Binary(make([]byte, 64)))
	for _, alias := range []bool{false, true} {
		name := "Copy"
		if alias {
			name = "Alias"
		}
		b.Run(name, func(b *testing.B) {
			d := etf.Decoder{AliasBinaries: alias}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := d.DecodeBinary(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestAllocBudget enforces the allocation budgets of the hot paths.
func TestAllocBudget(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation changes allocation counts")
	}
	bin64, _ := etf.Encode(etf.Binary(make([]byte, 64)))
	var copying etf.Decoder
	aliasing := etf.Decoder{AliasBinaries: true}
	check := func(name string, budget float64, f func()) {
		t.Helper()
		if got := testing.AllocsPerRun(200, f); got > budget {
			t.Errorf("%s: %v allocations; budget %v", name, got, budget)
		}
	}
	check("Decode 64-byte binary", 2, func() {
		if _, err := etf.Decode(bin64); err != nil {
			t.Fatal(err)
		}
	})
	check("Decoder.Decode 64-byte binary", 2, func() { copying.Decode(bin64) })
	check("Decoder.Decode 64-byte binary, aliasing", 1, func() { aliasing.Decode(bin64) })
	check("DecodeBinary copying", 1, func() { copying.DecodeBinary(bin64) })
	check("DecodeBinary aliasing", 0, func() { aliasing.DecodeBinary(bin64) })
	okAtom, smallInt := []byte{131, 119, 2, 'o', 'k'}, []byte{131, 97, 42}
	check("Decode common atom", 0, func() { etf.Decode(okAtom) })
	genCall := []byte{131, 104, 3, 119, 9, '$', 'g', 'e', 'n', '_', 'c', 'a', 'l', 'l', 97, 1, 106}
	check("Decode {'$gen_call', 1, []}", 2, func() { etf.Decode(genCall) }) // the tuple and its box
	check("Decode small int", 0, func() { etf.Decode(smallInt) })

	buf := make([]byte, 0, 4096)
	for _, term := range []etf.Term{
		etf.Binary(make([]byte, 1024)),
		etf.Atom("hello"),
		etf.Atom("héllö"),
		etf.OK,
		int64(1) << 40,
		int64(-7),
		etf.Tuple{etf.OK, etf.Binary("x"), int64(5), etf.Tuple{etf.Atom("a"), int64(300)}},
		etf.Map{{Key: etf.Atom("a"), Value: int64(1)}, {Key: etf.Atom("b"), Value: etf.Binary("y")}},
		etf.List{int64(1), int64(2), int64(3000)},
		etf.CharList("hello"),
		etf.Pid{Node: "a@b", ID: 1},
		etf.Ref{Node: "a@b", Len: 3},
	} {
		check("Append "+short(term), 0, func() {
			if _, err := etf.Append(buf[:0], term); err != nil {
				t.Fatal(err)
			}
		})
	}
}
