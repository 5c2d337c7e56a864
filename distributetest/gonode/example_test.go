package gonode_test

import (
	"context"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/distributetest/gonode"
)

// Three nodes in the test's process, on a private epmd: the first pings
// the others, and the test waits until they see its connection.
// Compiled, not run: an Example has no *testing.T (TestStartN runs it).
func ExampleStartN() {
	testMesh := func(t *testing.T) {
		nodes := gonode.StartN(t, 3, distributetest.StartEpmd(t), "mesh")
		for _, n := range nodes[1:] {
			if err := nodes[0].Ping(context.Background(), n.Name()); err != nil {
				t.Fatal(err)
			}
		}
		distributetest.WaitFor(t, "the others to see the first", func() bool {
			for _, n := range nodes[1:] {
				if !n.IsConnected(nodes[0].Name()) {
					return false
				}
			}
			return true
		})
	}
	_ = testMesh
}
