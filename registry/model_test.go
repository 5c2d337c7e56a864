package registry

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/distribute-go/distribute/etf"
)

// The conflict resolution of a merge checked against a dumb model: for
// random name tables on a lower node A and a higher node B, running
// mergeNames on both sides and applying Ops ++ the peer's Resolved leaves
// both tables equal to what the model says, name by name.

type outcome int

const (
	keepHis  outcome = 1
	keepMine outcome = 2
	keepNone outcome = 3
	rpcFails outcome = 4
)

// decision is a fixed pseudo-random choice per name, so the model and the
// run see the same one.
func decision(seed uint64, name Term) outcome {
	h := seed
	for _, c := range keyOf(name) {
		h = h*31 + uint64(c)
	}
	return outcome(1 + h%4)
}

func randomTable(r *rand.Rand, node Atom, pids []Pid) map[string]entry {
	t := map[string]entry{}
	for i := range 8 {
		if r.IntN(2) == 0 {
			continue
		}
		name := Term(Atom(fmt.Sprintf("n%d", i)))
		if i%3 == 0 {
			name = etf.Binary(fmt.Sprintf("b%d", i))
		}
		t[keyOf(name)] = entry{name: name, pid: pids[r.IntN(len(pids))], method: DefaultMethod}
	}
	return t
}

func list(t map[string]entry) []entry {
	out := make([]entry, 0, len(t))
	for _, e := range t {
		out = append(out, e)
	}
	return out
}

func apply(t map[string]entry, ops etf.List) map[string]Pid {
	out := map[string]Pid{}
	for k, e := range t {
		out[k] = e.pid
	}
	for _, o := range ops {
		op := o.(etf.Tuple)
		switch op[0] {
		case aInsert:
			e := op[1].(etf.Tuple)
			out[keyOf(e[0])] = e[1].(Pid)
		case aDelete:
			delete(out, keyOf(op[1]))
		}
	}
	return out
}

func TestMergeNamesModel(t *testing.T) {
	a, b := Atom("a@h"), Atom("b@h")
	pids := []Pid{
		{Node: a, ID: 1}, {Node: a, ID: 2}, {Node: b, ID: 1}, {Node: b, ID: 2}, {Node: "c@h", ID: 1},
	}
	for seed := range uint64(3000) {
		r := rand.New(rand.NewPCG(seed, 7))
		ta, tb := randomTable(r, a, pids), randomTable(r, b, pids)
		decide := func(his, mine entry) (Pid, bool) {
			switch decision(seed, his.name) {
			case keepHis:
				return his.pid, true
			case keepMine:
				return mine.pid, true
			case keepNone:
				return Pid{}, true
			}
			return Pid{}, false
		}
		opsA, resA := mergeNames(a, b, list(tb), ta, decide)
		opsB, resB := mergeNames(b, a, list(ta), tb, func(his, mine entry) (Pid, bool) {
			t.Fatalf("seed %d: the higher node resolved a conflict", seed)
			return Pid{}, false
		})
		finalA := apply(ta, append(opsA, resB...))
		finalB := apply(tb, append(opsB, resA...))

		// The model.
		want := map[string]Pid{}
		for k, e := range ta {
			want[k] = e.pid
		}
		for k, e := range tb {
			m, ok := ta[k]
			switch {
			case !ok, m.pid == e.pid:
				want[k] = e.pid
			default:
				switch decision(seed, e.name) {
				case keepHis, rpcFails:
					want[k] = e.pid
				case keepMine:
					want[k] = m.pid
				case keepNone:
					delete(want, k)
				}
			}
		}
		if fmt.Sprint(finalA) != fmt.Sprint(want) || fmt.Sprint(finalB) != fmt.Sprint(want) {
			t.Fatalf("seed %d:\nA    %v\nB    %v\nwant %v", seed, finalA, finalB, want)
		}
	}
}
