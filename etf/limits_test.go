package etf_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// erlTerms has erl write term_to_binary of each expression to a file and
// returns the bytes, in order.
func erlTerms(t *testing.T, exprs ...string) [][]byte {
	t.Helper()
	dir := t.TempDir()
	var script strings.Builder
	for i, e := range exprs {
		if i > 0 {
			script.WriteString(", ")
		}
		f := filepath.Join(dir, strings.Repeat("t", i+1))
		script.WriteString(`ok = file:write_file("` + f + `", term_to_binary(` + e + `))`)
	}
	distributetest.EvalErl(t, script.String())
	out := make([][]byte, len(exprs))
	for i := range exprs {
		b, err := os.ReadFile(filepath.Join(dir, strings.Repeat("t", i+1)))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// iolist is the [Acc, Chunk] iolist of n chunks that erl builds with
// lists:foldl(fun(I, Acc) -> [Acc, "ab"] end, [], lists:seq(1, n)): 11
// bytes and one level of nesting per chunk.
func iolist(n int) etf.Term {
	var acc etf.Term = etf.List{}
	for range n {
		acc = etf.List{acc, etf.CharList("ab")}
	}
	return acc
}

func repeatList(n int, e etf.Term) etf.List {
	l := make(etf.List, n)
	for i := range l {
		l[i] = e
	}
	return l
}

// nest wraps leaf in n levels made by wrap.
func nest(n int, leaf etf.Term, wrap func(etf.Term) etf.Term) etf.Term {
	t := leaf
	for range n {
		t = wrap(t)
	}
	return t
}

// TestDefaultsDecodeErlOutput: what term_to_binary produces every day
// decodes with the default limits: a 2000-chunk iolist built as
// [Acc, Chunk] (nested 2000 deep), a list of 1.1 million booleans (more
// atoms than Erlang's atom table holds, all the same one) and a term
// nested exactly DefaultMaxDepth deep; one level more is ErrTooDeep.
func TestDefaultsDecodeErlOutput(t *testing.T) {
	want := []etf.Term{
		iolist(2000),
		repeatList(1_100_000, etf.True),
		nest(etf.DefaultMaxDepth, etf.OK, func(t etf.Term) etf.Term { return etf.Tuple{t} }),
		nest(etf.DefaultMaxDepth, etf.OK, func(t etf.Term) etf.Term { return etf.List{t} }),
	}
	var bins [][]byte
	if erlInstalled() {
		bins = erlTerms(t,
			`lists:foldl(fun(_, Acc) -> [Acc, "ab"] end, [], lists:seq(1, 2000))`,
			`[true || _ <- lists:seq(1, 1100000)]`,
			`lists:foldl(fun(_, A) -> {A} end, ok, lists:seq(1, 100000))`,
			`lists:foldl(fun(_, A) -> [A] end, ok, lists:seq(1, 100000))`)
		if n := len(bins[0]); n > 32<<10 {
			t.Errorf("the iolist takes %d bytes", n)
		}
	} else {
		for _, w := range want {
			b, err := etf.Encode(w)
			if err != nil {
				t.Fatal(err)
			}
			bins = append(bins, b)
		}
	}
	for i, b := range bins {
		got, err := etf.Decode(b)
		if err != nil {
			t.Fatalf("term %d (%d bytes): %v", i, len(b), err)
		}
		var d etf.Decoder // what a distribution connection uses
		got2, _, err := d.Decode(b)
		if err != nil || !etf.Equal(got, want[i]) || !etf.Equal(got2, want[i]) {
			t.Fatalf("term %d decodes to something else (%v)", i, err)
		}
	}
	deeper := append([]byte{131, etf.TagSmallTuple, 1}, bins[2][1:]...)
	if _, err := etf.Decode(deeper); !errors.Is(err, etf.ErrTooDeep) {
		t.Errorf("one level beyond DefaultMaxDepth: %v; want ErrTooDeep", err)
	}
}

// deepShapes are terms nested DefaultMaxDepth deep in every way a term
// nests.
func deepShapes() map[string]etf.Term {
	const d = etf.DefaultMaxDepth
	return map[string]etf.Term{
		"lists":          nest(d, etf.OK, func(t etf.Term) etf.Term { return etf.List{t} }),
		"tuples":         nest(d, etf.OK, func(t etf.Term) etf.Term { return etf.Tuple{t} }),
		"map values":     nest(d, etf.OK, func(t etf.Term) etf.Term { return etf.Map{{Key: etf.OK, Value: t}} }),
		"map keys":       nest(d, etf.OK, func(t etf.Term) etf.Term { return etf.Map{{Key: t, Value: etf.OK}} }),
		"improper heads": nest(d, etf.OK, func(t etf.Term) etf.Term { return etf.ImproperList{Elems: []etf.Term{t}, Tail: etf.OK} }),
		"improper tails": nest(d/2, etf.OK, func(t etf.Term) etf.Term { return etf.ImproperList{Elems: []etf.Term{etf.OK}, Tail: etf.Tuple{t}} }),
		"lists of two":   nest(d, etf.List{}, func(t etf.Term) etf.Term { return etf.List{t, etf.Binary("x")} }),
		"mixed":          nest(d/4, etf.OK, func(t etf.Term) etf.Term { return etf.Tuple{etf.List{etf.Map{{Key: int64(1), Value: etf.List{t}}}}} }),
		"tuples of two":  nest(d, etf.OK, func(t etf.Term) etf.Term { return etf.Tuple{int64(1), t} }),
	}
}

// TestDeepTermsEveryWalker: every walker of terms handles terms nested
// DefaultMaxDepth deep, of every shape, without running the goroutine stack
// out (none of them recurses per level): Encode, Decode, Equal, Compare,
// Format, FormatLimit, ParseText, and Unmarshal into any.
func TestDeepTermsEveryWalker(t *testing.T) {
	for name, term := range deepShapes() {
		b, err := etf.Encode(term)
		if err != nil {
			t.Fatalf("%s: Encode: %v", name, err)
		}
		got, err := etf.Decode(b)
		if err != nil {
			t.Fatalf("%s: Decode: %v", name, err)
		}
		if !etf.Equal(got, term) || etf.Compare(got, term) != 0 {
			t.Fatalf("%s: the decoded term differs", name)
		}
		again, err := etf.Encode(got)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%s: re-encoding differs (%v)", name, err)
		}
		text := etf.Format(got)
		if s := etf.FormatLimit(got, 100); len(s) > 100 || !strings.HasPrefix(text, strings.TrimSuffix(s, "...")) {
			t.Fatalf("%s: FormatLimit = %q", name, s)
		}
		if name != "improper heads" && name != "improper tails" { // erl's text of [x|y] nests too
			back, err := etf.ParseText(text)
			if err != nil || !etf.Equal(back, term) {
				t.Fatalf("%s: ParseText(Format(t)): %v", name, err)
			}
		}
		var v any
		if err := etf.Unmarshal(b, &v); err != nil || !etf.Equal(v, term) {
			t.Fatalf("%s: Unmarshal into any: %v", name, err)
		}
		// Reflection into Go types stops at 10 000 levels with an error.
		if _, err := etf.ToTerm(term); err == nil {
			t.Fatalf("%s: ToTerm of 100 000 levels: no error", name)
		}
		if _, err := etf.Marshal(term); err == nil {
			t.Fatalf("%s: Marshal of 100 000 levels: no error", name)
		}
		if name == "map values" {
			type deepStruct struct {
				Next *deepStruct `etf:"ok"`
			}
			var ds deepStruct
			if err := etf.FromTerm(term, &ds); err == nil {
				t.Fatalf("%s: FromTerm into a struct 100 000 deep: no error", name)
			}
		}
		deeper := append([]byte{131, etf.TagSmallTuple, 1}, b[1:]...)
		if _, err := etf.Decode(deeper); !errors.Is(err, etf.ErrTooDeep) {
			t.Fatalf("%s: one level beyond DefaultMaxDepth: %v; want ErrTooDeep", name, err)
		}
	}
	// The encoder refuses what no decoder accepts, and a cyclic value.
	tooDeep := nest(100_001, etf.OK, func(t etf.Term) etf.Term { return etf.Tuple{t} })
	if _, err := etf.Encode(tooDeep); !errors.Is(err, etf.ErrTooDeep) {
		t.Errorf("Encode of 100 001 levels: %v; want ErrTooDeep", err)
	}
	cyclic := etf.List{nil}
	cyclic[0] = cyclic
	if _, err := etf.Encode(cyclic); !errors.Is(err, etf.ErrTooDeep) {
		t.Errorf("Encode of a cyclic list: %v; want ErrTooDeep", err)
	}
	if s := etf.FormatLimit(cyclic, 64); len(s) > 64 {
		t.Errorf("FormatLimit of a cyclic list = %q", s)
	}
}
