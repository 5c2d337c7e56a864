package registry

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
)

// TestChurn: rounds of a random split, registrations racing on every node
// (some on shared names), process exits, and a heal. After each heal all
// nodes agree on every name, and every registered pid is alive.
func TestChurn(t *testing.T) {
	nodes, servers := goCluster(t, 4)
	ctx := testCtx(t)
	heal := func() {
		for _, g := range nodes[1:] {
			if err := g.Connect(ctx, nodes[0].Name()); err != nil {
				t.Fatal(err)
			}
		}
		meshed(t, nodes, servers)
	}
	heal()
	r := rand.New(rand.NewPCG(1, 2))
	var mu sync.Mutex
	alive := map[distribute.Pid]*distribute.Process{}
	for round := range 5 {
		i, j := r.IntN(4), r.IntN(4)
		if i != j {
			nodes[i].Disconnect(nodes[j].Name())
			distributetest.WaitFor(t, "partitions settle", func() bool { return partitioned(nodes, servers) })
		}
		var wg sync.WaitGroup
		for k, s := range servers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range 4 {
					p := newProc(t, nodes[k])
					mu.Lock()
					alive[p.Pid()] = p
					mu.Unlock()
					name := distribute.Atom(fmt.Sprintf("r%d_%d_%d", round, k, n))
					if n%2 == 0 {
						name = distribute.Atom(fmt.Sprintf("shared%d", n)) // contested across nodes and rounds
					}
					s.Register(ctx, name, p.Pid())
					if n == 3 {
						p.Exit(distribute.ReasonNormal)
					}
				}
			}()
		}
		wg.Wait()
		heal()
		union := map[string]distribute.Term{}
		for _, s := range servers {
			for _, n := range s.RegisteredNames() {
				union[keyOf(n)] = n
			}
		}
		for _, n := range union {
			// Exits and a conflict loser's kill may still be in flight: wait
			// until all agree, then the owner must be alive.
			var pid distribute.Pid
			var ok bool
			distributetest.WaitFor(t, fmt.Sprintf("agreement on %v", n), func() bool {
				pid, ok = servers[0].Whereis(n)
				for _, s := range servers[1:] {
					if p2, ok2 := s.Whereis(n); p2 != pid || ok2 != ok {
						return false
					}
				}
				if !ok {
					return true
				}
				mu.Lock()
				p := alive[pid]
				mu.Unlock()
				return p != nil && p.Alive()
			})
		}
	}
}
