package registry

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/distributetest/gonode"
)

func TestMain(m *testing.M) { distributetest.VerifyTestMain(m) }

var nodeSeq atomic.Int64

// startNode starts a visible Go node on the epmd at epmdPort (hosting an
// embedded one when none runs there), stopped when the test ends.
func startNode(t testing.TB, epmdPort int) *distribute.Node {
	t.Helper()
	return gonode.Start(t, epmdPort, "rg", func(c *distribute.Config) { c.Visibility = distribute.Visible })
}

// startServer starts a global name server on node, stopped at the end.
func startServer(t testing.TB, node *distribute.Node, cfg ...Config) *Server {
	t.Helper()
	var c Config
	if len(cfg) > 0 {
		c = cfg[0]
	}
	s, err := Start(testCtx(t), node, c)
	if err != nil {
		t.Fatalf("registry.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("server Stop: %v", err)
		}
	})
	return s
}

func testCtx(t testing.TB) context.Context {
	return distributetest.Context(t, 90*time.Second)
}

// newProc makes a process that ends with the test.
func newProc(t testing.TB, n *distribute.Node) *distribute.Process {
	t.Helper()
	p, err := n.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Exit(distribute.ReasonNormal) })
	return p
}

func syncAll(t testing.TB, servers ...*Server) {
	t.Helper()
	for _, s := range servers {
		if err := s.Sync(testCtx(t)); err != nil {
			t.Fatalf("Sync on %s: %v", s.me, err)
		}
	}
}

func quoteAtom(a distribute.Atom) string {
	return "'" + strings.ReplaceAll(string(a), "'", "\\'") + "'"
}
