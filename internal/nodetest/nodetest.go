// Package nodetest starts distribute nodes for the tests of the packages
// built on the root package (groups, registry, rpc, ...): one place for
// the name, the private epmd and the stop at cleanup. (The root package's
// own tests cannot import it: it imports the root package.)
package nodetest

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
