package registry

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
)

// erlNodes returns lists:sort(nodes()) of e.
func erlNodes(t *testing.T, e *distributetest.ErlNode) []distribute.Atom {
	t.Helper()
	out := strings.Trim(e.Eval(t, "lists:sort(nodes())"), "[]")
	var l []distribute.Atom
	for _, f := range strings.Split(out, ",") {
		if f = strings.Trim(f, "' "); f != "" {
			l = append(l, distribute.Atom(f))
		}
	}
	return l
}

// mixedPartitioned reports whether the connections of all nodes form
// disjoint full meshes, and each Go server knows exactly its peers.
func mixedPartitioned(t *testing.T, gos []*distribute.Node, servers []*Server, erls []*distributetest.ErlNode) bool {
	adj := map[distribute.Atom][]distribute.Atom{}
	for i, g := range gos {
		peers := g.VisibleNodes()
		slices.Sort(peers)
		if !slices.Equal(peers, servers[i].Known()) {
			return false
		}
		adj[g.Name()] = peers
	}
	for _, e := range erls {
		adj[distribute.Atom(e.Name)] = erlNodes(t, e)
	}
	for a, peers := range adj {
		for _, p := range peers {
			if !slices.Contains(adj[p], a) {
				return false
			}
			for _, q := range peers {
				if p != q && !slices.Contains(adj[p], q) {
					return false
				}
			}
		}
	}
	return true
}

// TestMixedPreventOverlappingPartitions: an Erlang node drops a Go node;
// OTP 25's prevent_overlapping_partitions and ours leave non-overlapping
// partitions, global:sync() returns everywhere, and reconnecting heals.
func TestMixedPreventOverlappingPartitions(t *testing.T) {
	e1 := startErl(t, 0)
	e2 := startErl(t, e1.EpmdPort)
	g1 := startNode(t, e1.EpmdPort)
	g2 := startNode(t, e1.EpmdPort)
	s1, s2 := startServer(t, g1), startServer(t, g2)
	gos, servers, erls := []*distribute.Node{g1, g2}, []*Server{s1, s2}, []*distributetest.ErlNode{e1, e2}
	ctx := testCtx(t)
	for _, e := range erls {
		for _, g := range gos {
			if err := g.Connect(ctx, distribute.Atom(e.Name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	fullMesh(t, gos, erls)
	erlSync(t, e1, e2)
	syncAll(t, s1, s2)
	p := newProc(t, g1)
	if err := s1.Register(ctx, distribute.Atom("keep"), p.Pid()); err != nil {
		t.Fatal(err)
	}
	if got := e1.Eval(t, fmt.Sprintf("erlang:disconnect_node(%s)", quoteAtom(g1.Name()))); got != "true" {
		t.Fatalf("disconnect_node: %s", got)
	}
	distributetest.WaitFor(t, "non-overlapping partitions", func() bool { return mixedPartitioned(t, gos, servers, erls) })
	if slices.Contains(erlNodes(t, e1), g1.Name()) {
		t.Fatal("e1 and g1 reconnected")
	}
	erlSync(t, e1, e2)
	syncAll(t, s1, s2)
	// Heal: g1 connects to everyone again.
	for _, e := range erls {
		if err := g1.Connect(ctx, distribute.Atom(e.Name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := g1.Connect(ctx, g2.Name()); err != nil {
		t.Fatal(err)
	}
	fullMesh(t, gos, erls)
	erlSync(t, e1, e2)
	syncAll(t, s1, s2)
	q := newProc(t, g2)
	if w, ok := agreeOn(t, servers, erls, q, "keep"); !ok || w != p.Pid() {
		t.Fatalf("keep = %v %v", w, ok)
	}
	if got := e2.Eval(t, "gtest:trans()"); got != "done" {
		t.Fatalf("trans: %s", got)
	}
}

// TestMixedWithoutPOP: with prevent_overlapping_partitions off on every
// node (Erlang's kernel parameter, our option), a lost connection cuts
// nothing else, and reconnecting resyncs.
func TestMixedWithoutPOP(t *testing.T) {
	args := []string{"-kernel", "prevent_overlapping_partitions", "false"}
	e1 := startErl(t, 0, args...)
	e2 := startErl(t, e1.EpmdPort, args...)
	g1 := startNode(t, e1.EpmdPort)
	s1 := startServer(t, g1, Config{NoPreventOverlappingPartitions: true})
	ctx := testCtx(t)
	for _, e := range []*distributetest.ErlNode{e1, e2} {
		if err := g1.Connect(ctx, distribute.Atom(e.Name)); err != nil {
			t.Fatal(err)
		}
	}
	fullMesh(t, []*distribute.Node{g1}, []*distributetest.ErlNode{e1, e2})
	erlSync(t, e1, e2)
	syncAll(t, s1)
	if got := e1.Eval(t, fmt.Sprintf("erlang:disconnect_node(%s)", quoteAtom(g1.Name()))); got != "true" {
		t.Fatal(got)
	}
	distributetest.WaitFor(t, "g1 sees e1 gone", func() bool { return !g1.IsConnected(distribute.Atom(e1.Name)) && len(s1.Known()) == 1 })
	if !g1.IsConnected(distribute.Atom(e2.Name)) {
		t.Fatal("g1–e2 was cut without POP")
	}
	erlSync(t, e2)
	syncAll(t, s1)
	if err := g1.Connect(ctx, distribute.Atom(e1.Name)); err != nil {
		t.Fatal(err)
	}
	fullMesh(t, []*distribute.Node{g1}, []*distributetest.ErlNode{e1, e2})
	erlSync(t, e1, e2)
	syncAll(t, s1)
	p := newProc(t, g1)
	if err := s1.Register(ctx, distribute.Atom("healed"), p.Pid()); err != nil {
		t.Fatal(err)
	}
	q := newProc(t, g1)
	if w, ok := agreeOn(t, []*Server{s1}, []*distributetest.ErlNode{e1, e2}, q, "healed"); !ok || w != p.Pid() {
		t.Fatalf("healed = %v %v", w, ok)
	}
}
