package registry

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
)

// TestMixedChurn: 2 Go and 2 Erlang nodes; rounds of a random split (by
// either side), racing registrations of shared names on all four, and a
// heal. After each heal global:sync() returns, and all four agree on every
// name.
func TestMixedChurn(t *testing.T) {
	e1 := startErl(t, 0)
	e2 := startErl(t, e1.EpmdPort)
	g1, g2 := startNode(t, e1.EpmdPort), startNode(t, e1.EpmdPort)
	s1, s2 := startServer(t, g1), startServer(t, g2)
	gos, servers, erls := []*distribute.Node{g1, g2}, []*Server{s1, s2}, []*distributetest.ErlNode{e1, e2}
	names := []distribute.Atom{g1.Name(), g2.Name(), distribute.Atom(e1.Name), distribute.Atom(e2.Name)}
	ctx := testCtx(t)
	heal := func() {
		for _, g := range gos {
			for _, n := range names {
				if n != g.Name() {
					if err := g.Connect(ctx, n); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		fullMesh(t, gos, erls)
		erlSync(t, e1, e2)
		syncAll(t, s1, s2)
	}
	heal()
	q := newProc(t, g1)
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 4 {
		a, b := r.IntN(4), r.IntN(4)
		if a != b {
			if a < 2 {
				gos[a].Disconnect(names[b])
			} else {
				erls[a-2].Eval(t, fmt.Sprintf("erlang:disconnect_node(%s)", quoteAtom(names[b])))
			}
			distributetest.WaitFor(t, "partitions settle", func() bool { return mixedPartitioned(t, gos, servers, erls) })
		}
		var wg sync.WaitGroup
		for k := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range 2 {
					name := fmt.Sprintf("m%d_%d", round, n)
					if k < 2 {
						p := newProc(t, gos[k])
						servers[k].Register(ctx, distribute.Atom(name), p.Pid())
					} else {
						erls[k-2].EvalErr(fmt.Sprintf("gtest:reg(%s)", name), distributetest.Scale(60e9))
					}
				}
			}()
		}
		wg.Wait()
		heal()
		for n := range 2 {
			name := fmt.Sprintf("m%d_%d", round, n)
			if _, ok := agreeOn(t, servers, erls, q, name); !ok {
				t.Fatalf("%s has no owner", name)
			}
		}
		if got := e2.Eval(t, "gtest:trans()"); got != "done" {
			t.Fatalf("trans: %s", got)
		}
	}
}
