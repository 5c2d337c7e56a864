package chaos_test

import (
	"testing"

	"github.com/distribute-go/distribute/distributetest/chaos"
)

// A failover test as it appears in a _test.go file (compiled, not run
// here: it needs root for the network namespaces): three voters agree on a
// leader, the leader is killed, the other two agree on a new leader in a
// higher term, and no two nodes ever claimed one term.
func ExampleNew() {
	var t *testing.T // the test's own

	c := chaos.New(t, chaos.Options{Nodes: 3, Election: true})
	c.StartAll()
	leader, term, err := c.WaitLeader([]int{0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	c.Kill(leader)
	var rest []int
	for i := range c.Len() {
		if i != leader {
			rest = append(rest, i)
		}
	}
	_, newTerm, err := c.WaitLeader(rest)
	if err != nil || newTerm <= term {
		t.Fatalf("after the kill: term %d (was %d), %v", newTerm, term, err)
	}
	c.CheckSafety(t)
}
