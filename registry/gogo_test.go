package registry

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// goCluster starts n visible Go nodes with servers on one epmd.
func goCluster(t *testing.T, n int, cfg ...Config) ([]*distribute.Node, []*Server) {
	t.Helper()
	port := distributetest.StartEpmd(t)
	var nodes []*distribute.Node
	var servers []*Server
	for range n {
		g := startNode(t, port)
		nodes = append(nodes, g)
		servers = append(servers, startServer(t, g, cfg...))
	}
	return nodes, servers
}

func meshed(t *testing.T, nodes []*distribute.Node, servers []*Server) {
	t.Helper()
	fullMesh(t, nodes, nil)
	syncAll(t, servers...)
	for _, s := range servers {
		distributetest.WaitFor(t, "known", func() bool { return len(s.Known()) == len(nodes)-1 })
	}
}

func agreeGo(t *testing.T, servers []*Server, name string) (distribute.Pid, bool) {
	t.Helper()
	return agreeTerm(t, servers, nil, nil, checkNameMust(name))
}

// TestGoCluster: five Go nodes connected as a chain become a full mesh;
// names, exits and concurrent registrations behave as in Erlang.
func TestGoCluster(t *testing.T) {
	nodes, servers := goCluster(t, 5)
	ctx := testCtx(t)
	for i := 1; i < len(nodes); i++ {
		if err := nodes[i].Connect(ctx, nodes[i-1].Name()); err != nil {
			t.Fatal(err)
		}
	}
	meshed(t, nodes, servers)
	var procs []*distribute.Process
	for i, s := range servers {
		p := newProc(t, nodes[i])
		procs = append(procs, p)
		if err := s.Register(ctx, distribute.Atom(fmt.Sprintf("n%d", i)), p.Pid()); err != nil {
			t.Fatal(err)
		}
	}
	for i := range servers {
		if w, ok := agreeGo(t, servers, fmt.Sprintf("n%d", i)); !ok || w != procs[i].Pid() {
			t.Fatalf("n%d = %v", i, w)
		}
	}
	// Binary names.
	if err := servers[2].Register(ctx, "bin-name", procs[0].Pid()); err == nil {
		t.Fatal("a pid with a name got a second one")
	}
	pb := newProc(t, nodes[3])
	if err := servers[2].Register(ctx, "bin-name", pb.Pid()); err != nil {
		t.Fatal(err)
	}
	if w, _ := agreeGo(t, servers, "bin-name"); w != pb.Pid() {
		t.Fatal("bin-name")
	}
	// Exit removes everywhere.
	procs[4].Exit(distribute.ReasonNormal)
	for _, s := range servers {
		distributetest.WaitFor(t, "n4 gone", func() bool { _, ok := s.Whereis(distribute.Atom("n4")); return !ok })
	}
	// All five register one name at once: one owner.
	for round := range 3 {
		name := distribute.Atom(fmt.Sprintf("race%d", round))
		var wg sync.WaitGroup
		var wins atomic.Int32
		ps := make([]*distribute.Process, len(servers))
		for i, s := range servers {
			ps[i] = newProc(t, nodes[i])
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Register(ctx, name, ps[i].Pid()); err == nil {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%s: %d winners", name, wins.Load())
		}
		if _, ok := agreeGo(t, servers, string(name)); !ok {
			t.Fatal("no owner")
		}
	}
	// Locks: Trans excludes; set_lock by two owners conflicts.
	a, b := newProc(t, nodes[0]), newProc(t, nodes[3])
	id := LockID{Resource: distribute.Atom("res"), Requester: a.Pid()}
	if ok, err := servers[0].SetLock(ctx, a, id, nil, 0); !ok || err != nil {
		t.Fatalf("SetLock: %v %v", ok, err)
	}
	if ok, _ := servers[3].SetLock(ctx, b, LockID{Resource: distribute.Atom("res"), Requester: b.Pid()}, nil, 1); ok {
		t.Fatal("second owner got the lock")
	}
	servers[0].DelLock(ctx, a, id, nil)
	if err := servers[3].Trans(ctx, b, LockID{Resource: distribute.Atom("res"), Requester: b.Pid()}, func() error { return nil }, nil, 2); err != nil {
		t.Fatalf("Trans after release: %v", err)
	}
	// Send to a global name.
	if err := servers[1].Send(ctx, a, distribute.Atom("n0"), distribute.Atom("hi")); err != nil {
		t.Fatal(err)
	}
	if m, err := procs[0].Receive(ctx); err != nil || m != distribute.Atom("hi") {
		t.Fatalf("got %v %v", m, err)
	}
}

// TestSplitMerge: two partitions register the same name; after the merge
// every node agrees on one owner and the resolver ran exactly once.
func TestSplitMerge(t *testing.T) {
	var calls atomic.Int32
	res := func(ctx context.Context, p *distribute.Process, name distribute.Term, theirs, mine distribute.Pid) distribute.Pid {
		calls.Add(1)
		return RandomExitName(ctx, p, name, theirs, mine)
	}
	nodes, servers := goCluster(t, 4, Config{Resolver: res})
	ctx := testCtx(t)
	// Sort by name so partition membership is known: A = {0,1}, B = {2,3}.
	idx := []int{0, 1, 2, 3}
	slices.SortFunc(idx, func(i, j int) int {
		if nodes[i].Name() < nodes[j].Name() {
			return -1
		}
		return 1
	})
	n := func(i int) *distribute.Node { return nodes[idx[i]] }
	s := func(i int) *Server { return servers[idx[i]] }
	if err := n(0).Connect(ctx, n(1).Name()); err != nil {
		t.Fatal(err)
	}
	if err := n(2).Connect(ctx, n(3).Name()); err != nil {
		t.Fatal(err)
	}
	syncAll(t, servers...)
	// The name lives on node 1 in A (on node 1: the one that will resolve,
	// being the lower of the connecting pair 1–2) and on node 3 in B.
	pa, pb := newProc(t, n(1)), newProc(t, n(3))
	if err := s(0).Register(ctx, distribute.Atom("same"), pa.Pid()); err != nil {
		t.Fatal(err)
	}
	if err := s(2).Register(ctx, distribute.Atom("same"), pb.Pid()); err != nil {
		t.Fatal(err)
	}
	if err := n(1).Connect(ctx, n(2).Name()); err != nil {
		t.Fatal(err)
	}
	meshed(t, nodes, servers)
	w, ok := agreeGo(t, servers, "same")
	if !ok || w != pa.Pid() {
		t.Fatalf("same = %v %v, want %v (lower node)", w, ok, pa.Pid())
	}
	distributetest.WaitFor(t, "loser killed", func() bool { return !pb.Alive() })
	if got := calls.Load(); got != 1 {
		t.Fatalf("resolver ran %d times", got)
	}

	// Split: 0 loses 3. prevent_overlapping_partitions (as OTP 25) then
	// cuts connections until the partitions do not overlap: every node's
	// peers are connected to each other, and each server knows exactly its
	// connected peers.
	n(0).Disconnect(n(3).Name())
	distributetest.WaitFor(t, "non-overlapping partitions", func() bool { return partitioned(nodes, servers) })
	if n(0).IsConnected(n(3).Name()) {
		t.Fatal("0 and 3 reconnected")
	}
	// Two partitions register "again"; the merge keeps node 0's pid.
	p0, p3 := newProc(t, n(0)), newProc(t, n(3))
	if err := s(0).Register(ctx, distribute.Atom("again"), p0.Pid()); err != nil {
		t.Fatal(err)
	}
	if err := s(3).Register(ctx, distribute.Atom("again"), p3.Pid()); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 4; i++ {
		if err := n(0).Connect(ctx, n(i).Name()); err != nil {
			t.Fatal(err)
		}
	}
	meshed(t, nodes, servers)
	w, ok = agreeGo(t, servers, "again")
	if !ok || w != p0.Pid() {
		t.Fatalf("again = %v %v, want node 0's %v", w, ok, p0.Pid())
	}
	distributetest.WaitFor(t, "loser killed", func() bool { return !p3.Alive() })
	agreeGo(t, servers, "same")
}

// partitioned reports whether the connections form disjoint full meshes
// that every server knows exactly.
func partitioned(nodes []*distribute.Node, servers []*Server) bool {
	for i, g := range nodes {
		peers := g.VisibleNodes()
		slices.Sort(peers)
		if !slices.Equal(peers, servers[i].Known()) {
			return false
		}
		for _, p := range peers {
			for _, q := range peers {
				if p != q && !slices.ContainsFunc(nodes, func(x *distribute.Node) bool {
					return x.Name() == p && x.IsConnected(q)
				}) {
					return false
				}
			}
		}
	}
	return true
}

func checkNameMust(name string) distribute.Term {
	if len(name) > 0 && name[0] >= 'a' && name[0] <= 'z' && !strings.Contains(name, "-") {
		return distribute.Atom(name)
	}
	return etf.Binary(name)
}
