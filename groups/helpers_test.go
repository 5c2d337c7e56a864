package groups

import (
	"context"
	"fmt"
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

// startNode starts a Go node on the epmd at epmdPort (hosting an embedded
// one when none runs there) and stops it when the test ends.
func startNode(t testing.TB, epmdPort int, mutate ...func(*distribute.Config)) *distribute.Node {
	t.Helper()
	return gonode.Start(t, epmdPort, "gg", mutate...)
}

// startScope starts a scope on node, stopped when the test ends.
func startScope(t testing.TB, node *distribute.Node, cfg ...Config) *Scope {
	t.Helper()
	var c Config
	if len(cfg) > 0 {
		c = cfg[0]
	}
	s, err := Start(testCtx(t), node, c)
	if err != nil {
		t.Fatalf("groups.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("scope Stop: %v", err)
		}
	})
	return s
}

func testCtx(t testing.TB) context.Context {
	return distributetest.Context(t, 60*time.Second)
}

func newProc(t testing.TB, n *distribute.Node) *distribute.Process {
	t.Helper()
	p, err := n.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Exit(distribute.ReasonNormal) })
	return p
}

func hasPid(pids []distribute.Pid, p distribute.Pid) bool {
	for _, q := range pids {
		if q == p {
			return true
		}
	}
	return false
}

func countOn(pids []distribute.Pid, node distribute.Atom) int {
	n := 0
	for _, p := range pids {
		if p.Node == node {
			n++
		}
	}
	return n
}

// hasPeerOn reports whether s knows a peer scope on node.
func hasPeerOn(s *Scope, node distribute.Atom) bool {
	for _, p := range s.Peers() {
		if p.Node == node {
			return true
		}
	}
	return false
}

// erlNodesOf evaluates, on erl, the list of nodes of the members of group
// (sorted) and returns it as text.
func erlMemberNodes(t testing.TB, erl *distributetest.ErlNode, scope, group string) string {
	t.Helper()
	return erl.Eval(t, fmt.Sprintf(`lists:sort([node(P) || P <- pg:get_members(%s, %s)])`, scope, group))
}

// quoteAtom prints a node name atom as ~0p does (quoted only when needed).
func quoteAtom(a distribute.Atom) string {
	for i, r := range string(a) {
		ok := r == '_' || r == '@' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok || (i == 0 && !(r >= 'a' && r <= 'z')) {
			return "'" + strings.ReplaceAll(string(a), "'", "\\'") + "'"
		}
	}
	return string(a)
}
