package etf_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// mutate returns a copy of t with one leaf changed, so that comparing t
// with it walks deep before the terms differ.
func mutate(r interface{ IntN(int) int }, t etf.Term) etf.Term {
	switch v := t.(type) {
	case etf.Tuple:
		if len(v) > 0 {
			c := append(etf.Tuple(nil), v...)
			i := r.IntN(len(c))
			c[i] = mutate(r, c[i])
			return c
		}
	case etf.List:
		if len(v) > 0 {
			c := append(etf.List(nil), v...)
			i := r.IntN(len(c))
			c[i] = mutate(r, c[i])
			return c
		}
	case etf.ImproperList:
		c := etf.ImproperList{Elems: append([]etf.Term(nil), v.Elems...), Tail: v.Tail}
		if r.IntN(3) == 0 {
			c.Tail = mutate(r, c.Tail)
		} else {
			i := r.IntN(len(c.Elems))
			c.Elems[i] = mutate(r, c.Elems[i])
		}
		return c
	case etf.Map:
		if len(v) > 0 {
			c := append(etf.Map(nil), v...)
			i := r.IntN(len(c))
			c[i].Value = mutate(r, c[i].Value)
			return c
		}
	case int64:
		return v + int64(r.IntN(3)) - 1
	case float64:
		return float64(int64(v))
	}
	return etf.Atom("x")
}

// TestCompareErl checks Compare and Equal against erl's < and =:= on
// random pairs of terms, many of them alike down to one leaf.
func TestCompareErl(t *testing.T) {
	if !erlInstalled() {
		t.Skip("erl not installed")
	}
	r := newRand(21)
	var pairs etf.List
	for i := range 600 {
		a := randTerm(r, 4)
		var b etf.Term
		switch i % 3 {
		case 0:
			b = randTerm(r, 4)
		case 1:
			b = mutate(r, a)
		default:
			b = a
		}
		pairs = append(pairs, etf.Tuple{a, b})
	}
	// Lists that differ only past a tail that is itself a list, and
	// lists of different lengths with improper tails.
	pairs = append(pairs,
		etf.Tuple{etf.List{int64(1), int64(2)}, etf.ImproperList{Elems: []etf.Term{int64(1)}, Tail: etf.Atom("a")}},
		etf.Tuple{etf.ImproperList{Elems: []etf.Term{int64(1)}, Tail: etf.Atom("a")}, etf.List{int64(1)}},
		etf.Tuple{etf.ImproperList{Elems: []etf.Term{int64(1)}, Tail: etf.Binary("b")}, etf.List{int64(1), int64(2)}},
		etf.Tuple{etf.CharList("ab"), etf.ImproperList{Elems: []etf.Term{int64('a')}, Tail: etf.Tuple{}}},
	)
	b, err := etf.Encode(pairs)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "pairs.bin")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out := distributetest.EvalErl(t, `{ok, B} = file:read_file("`+file+`"),
		[io:format("~w ~w~n", [if A < C -> -1; A > C -> 1; true -> 0 end, A =:= C]) || {A, C} <- binary_to_term(B)]`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(pairs) {
		t.Fatalf("erl printed %d lines for %d pairs", len(lines), len(pairs))
	}
	for i, line := range lines {
		f := strings.Fields(line)
		want, _ := strconv.Atoi(f[0])
		p := pairs[i].(etf.Tuple)
		if got := etf.Compare(p[0], p[1]); got != want {
			t.Errorf("Compare(%s, %s) = %d; erl says %d", etf.Format(p[0]), etf.Format(p[1]), got, want)
		}
		if got := etf.Equal(p[0], p[1]); strconv.FormatBool(got) != f[1] {
			t.Errorf("Equal(%s, %s) = %v; erl's =:= says %s", etf.Format(p[0]), etf.Format(p[1]), got, f[1])
		}
	}
}

func erlInstalled() bool {
	_, err := exec.LookPath("erl")
	return err == nil
}
