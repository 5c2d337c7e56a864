// Package gonode starts Go distribute nodes for tests: in the test's own
// process (Start, StartN), or as separate OS processes (StartChild: the
// test binary run again in a role the test picks). It is the part of the
// test kit that imports package distribute; package distributetest itself
// does not, so the root package's own tests can use that one.
//
// Every node gets a unique name (PREFIX<pid>_<n>@localhost), the cookie
// Cookie, and the private epmd the test passes (distributetest.StartEpmd,
// or an ErlNode's EpmdPort); when no epmd answers on that port, the node
// hosts an embedded one on 127.0.0.1. Nodes are stopped when the test
// ends, and a failed stop fails the test. Wait for what nodes do with
// distributetest.WaitFor, never with a sleep.
//
//	func TestTwoNodes(t *testing.T) {
//		nodes := gonode.StartN(t, 2, distributetest.StartEpmd(t), "two")
//		distributetest.WaitFor(t, "a connection", func() bool {
//			return nodes[0].Connect(context.Background(), nodes[1].Name()) == nil
//		})
//	}
package gonode

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
)

// Cookie is the cookie of the nodes Start makes.
const Cookie = "distributetest"

var seq atomic.Int64

// Start starts a node named PREFIX<pid>_<n>@localhost on the epmd at
// epmdPort (hosting an embedded one on 127.0.0.1 when none runs there),
// with mutate applied to its Config, and stops it when the test ends
// (failing the test if the stop fails).
func Start(t testing.TB, epmdPort int, prefix string, mutate ...func(*distribute.Config)) *distribute.Node {
	t.Helper()
	cfg := distribute.Config{
		Name:       fmt.Sprintf("%s%d_%d@localhost", prefix, os.Getpid(), seq.Add(1)),
		Cookie:     Cookie,
		EpmdPort:   epmdPort,
		EpmdListen: fmt.Sprintf("127.0.0.1:%d", epmdPort),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
	defer cancel()
	n, err := distribute.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start %s: %v", cfg.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Errorf("Stop %s: %v", cfg.Name, err)
		}
	})
	return n
}

// StartN starts count nodes as Start does, all on the epmd at epmdPort,
// and returns them in start order. They are not connected: the first
// message, call or Connect between two of them connects them.
func StartN(t testing.TB, count int, epmdPort int, prefix string, mutate ...func(*distribute.Config)) []*distribute.Node {
	t.Helper()
	nodes := make([]*distribute.Node, count)
	for i := range nodes {
		nodes[i] = Start(t, epmdPort, prefix, mutate...)
	}
	return nodes
}
