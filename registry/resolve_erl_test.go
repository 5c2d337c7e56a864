package registry

import (
	"fmt"
	"testing"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// TestGoResolvesConflicts merges a partition {ea, g} into {eb} with the Go
// node the lower of the connecting pair, so Go decides every conflict:
// locally for its own pids (the default resolver and notify methods), and
// through rex on ea for a name ea registered.
func TestGoResolvesConflicts(t *testing.T) {
	suffix := fmt.Sprint(nodeSeq.Add(1))
	ea := distributetest.StartErlNode(t, distributetest.ErlOptions{Name: "aerl" + suffix + "@localhost"})
	ea.LoadModule(t, gtestErl)
	eb := distributetest.StartErlNode(t, distributetest.ErlOptions{Name: "zerl" + suffix + "@localhost", EpmdPort: ea.EpmdPort})
	eb.LoadModule(t, gtestErl)
	g := startNode(t, ea.EpmdPort)
	s := startServer(t, g)
	ctx := testCtx(t)
	if err := g.Connect(ctx, distribute.Atom(ea.Name)); err != nil {
		t.Fatal(err)
	}
	erlSync(t, ea)
	syncAll(t, s)

	// Partition A: c1 (Go, default), c2 (Go, notify), c3 (ea's pid), c4
	// (Go, notify_all). Partition B: eb has all four.
	p1, p2, p4 := newProc(t, g), newProc(t, g), newProc(t, g)
	if err := s.Register(ctx, distribute.Atom("c1"), p1.Pid()); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterMethod(ctx, distribute.Atom("c2"), p2.Pid(), NotifyMethod); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterMethod(ctx, distribute.Atom("c4"), p4.Pid(), NotifyAllMethod); err != nil {
		t.Fatal(err)
	}
	if got := ea.Eval(t, "gtest:reg(c3)"); got != "yes" {
		t.Fatal(got)
	}
	for _, n := range []string{"c1", "c2", "c3", "c4"} {
		if got := eb.Eval(t, fmt.Sprintf("gtest:reg(%s)", n)); got != "yes" {
			t.Fatal(got)
		}
	}
	q := newProc(t, g)
	ebPids := map[string]distribute.Pid{}
	ebReg := fmt.Sprintf("ebq%d", nodeSeq.Add(1))
	g.Register(distribute.Atom(ebReg), q.Pid())
	for _, n := range []string{"c1", "c2", "c3", "c4"} {
		eb.Eval(t, fmt.Sprintf("gtest:where(%s, %s, %s)", n, ebReg, quoteAtom(g.Name())))
		m, err := q.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ebPids[n] = m.(etf.Tuple)[3].(distribute.Pid)
	}
	g.Unregister(distribute.Atom(ebReg))
	c3a, _ := s.Whereis(distribute.Atom("c3"))

	if err := g.Connect(ctx, distribute.Atom(eb.Name)); err != nil {
		t.Fatal(err)
	}
	fullMesh(t, []*distribute.Node{g}, []*distributetest.ErlNode{ea, eb})
	erlSync(t, ea, eb)
	syncAll(t, s)
	servers := []*Server{s}
	erls := []*distributetest.ErlNode{ea, eb}
	// c1: Go's pid (node rg… < zerl…) kept, eb's killed.
	if w, _ := agreeOn(t, servers, erls, q, "c1"); w != p1.Pid() {
		t.Fatalf("c1 = %v, want %v", w, p1.Pid())
	}
	distributetest.WaitFor(t, "eb's c1 killed", func() bool {
		return eb.Eval(t, fmt.Sprintf("is_process_alive(list_to_pid(%q))", erlPidText(eb, ebPids["c1"]))) == "false"
	})
	// c2: Go's kept, eb's notified (and alive).
	if w, _ := agreeOn(t, servers, erls, q, "c2"); w != p2.Pid() {
		t.Fatalf("c2 = %v, want %v", w, p2.Pid())
	}
	if got := eb.Eval(t, fmt.Sprintf("is_process_alive(list_to_pid(%q))", erlPidText(eb, ebPids["c2"]))); got != "true" {
		t.Fatalf("eb's c2 alive: %s", got)
	}
	// c3: resolved by rex on ea: ea's pid (lowest node) kept.
	if w, _ := agreeOn(t, servers, erls, q, "c3"); w != c3a {
		t.Fatalf("c3 = %v, want %v", w, c3a)
	}
	// c4: notify_all: nobody keeps it; both told.
	if _, ok := agreeOn(t, servers, erls, q, "c4"); ok {
		t.Fatal("c4 still registered")
	}
	m, err := p4.ReceiveMatch(ctx, func(m any) bool {
		tu, ok := m.(etf.Tuple)
		return ok && len(tu) == 3 && tu[0] == distribute.Atom("global_name_conflict")
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.(etf.Tuple)[2] != ebPids["c4"] {
		t.Fatalf("c4 notice %v", m)
	}
	if !p1.Alive() || !p2.Alive() {
		t.Fatal("a kept Go pid died")
	}
}

// TestErlangResolvesGoPid: the lower Erlang node decides a conflict whose
// entry on its side is a Go pid. Its rpc to the Go node (erpc spawn
// request) is refused with notsup, so Erlang gives the name to the other
// pid, as documented: the connect completes, every node agrees, and the Go
// process lives on without the name.
func TestErlangResolvesGoPid(t *testing.T) {
	suffix := fmt.Sprint(nodeSeq.Add(1))
	ea := distributetest.StartErlNode(t, distributetest.ErlOptions{Name: "aerl" + suffix + "@localhost"})
	ea.LoadModule(t, gtestErl)
	eb := distributetest.StartErlNode(t, distributetest.ErlOptions{Name: "zerl" + suffix + "@localhost", EpmdPort: ea.EpmdPort})
	eb.LoadModule(t, gtestErl)
	g := startNode(t, ea.EpmdPort)
	s := startServer(t, g)
	ctx := testCtx(t)
	if err := g.Connect(ctx, distribute.Atom(ea.Name)); err != nil {
		t.Fatal(err)
	}
	erlSync(t, ea)
	syncAll(t, s)
	p := newProc(t, g)
	if err := s.Register(ctx, distribute.Atom("n"), p.Pid()); err != nil {
		t.Fatal(err)
	}
	if got := eb.Eval(t, "gtest:reg(n)"); got != "yes" {
		t.Fatal(got)
	}
	if got := ea.Eval(t, fmt.Sprintf("net_kernel:connect_node(%s)", quoteAtom(distribute.Atom(eb.Name)))); got != "true" {
		t.Fatal(got)
	}
	fullMesh(t, []*distribute.Node{g}, []*distributetest.ErlNode{ea, eb})
	erlSync(t, ea, eb)
	syncAll(t, s)
	q := newProc(t, g)
	w, ok := agreeOn(t, []*Server{s}, []*distributetest.ErlNode{ea, eb}, q, "n")
	if !ok || string(w.Node) != eb.Name {
		t.Fatalf("n = %v %v, want eb's pid", w, ok)
	}
	if !p.Alive() {
		t.Fatal("the Go pid was killed")
	}
}
