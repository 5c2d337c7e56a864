package registry

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
)

// fullMesh waits until every Go node sees all others and every Erlang node
// lists all others in nodes().
func fullMesh(t *testing.T, gos []*distribute.Node, erls []*distributetest.ErlNode) {
	t.Helper()
	total := len(gos) + len(erls)
	for _, g := range gos {
		distributetest.WaitFor(t, string(g.Name())+" meshed", func() bool { return len(g.VisibleNodes()) == total-1 })
	}
	for _, e := range erls {
		distributetest.WaitFor(t, e.Name+" meshed", func() bool { return e.Eval(t, "length(nodes())") == fmt.Sprint(total-1) })
	}
}

// agreeOn checks that name resolves to the same pid on every node, and
// returns it (ok false: unregistered everywhere).
func agreeOn(t *testing.T, servers []*Server, erls []*distributetest.ErlNode, q *distribute.Process, name string) (distribute.Pid, bool) {
	t.Helper()
	return agreeTerm(t, servers, erls, q, distribute.Atom(name))
}

func agreeTerm(t *testing.T, servers []*Server, erls []*distributetest.ErlNode, q *distribute.Process, name distribute.Term) (distribute.Pid, bool) {
	t.Helper()
	// Name operations of a merge reach the nodes of the old partitions in
	// new_nodes, which may land just after global:sync() returned (sync
	// waits for the handshakes, not for every op): wait for agreement.
	var want distribute.Pid
	var ok bool
	var why string
	defer func() {
		if t.Failed() {
			t.Logf("the last check: %s", why)
		}
	}()
	distributetest.WaitFor(t, fmt.Sprintf("agreement on %v", name), func() bool {
		want, ok = servers[0].Whereis(name)
		for _, s := range servers[1:] {
			if got, ok2 := s.Whereis(name); got != want || ok2 != ok {
				why = fmt.Sprintf("%s has %v %v, %s has %v %v", servers[0].me, want, ok, s.me, got, ok2)
				return false
			}
		}
		for _, e := range erls {
			if got, ok2 := erlWhere(t, e, q, string(name.(distribute.Atom))); got != want || ok2 != ok {
				why = fmt.Sprintf("%s has %v %v, %s has %v %v", servers[0].me, want, ok, e.Name, got, ok2)
				return false
			}
		}
		return true
	})
	return want, ok
}

func TestMixedCluster(t *testing.T) {
	e1 := startErl(t, 0)
	e2 := startErl(t, e1.EpmdPort)
	g1 := startNode(t, e1.EpmdPort)
	g2 := startNode(t, e1.EpmdPort)
	s1 := startServer(t, g1)
	s2 := startServer(t, g2)
	ctx := testCtx(t)
	servers := []*Server{s1, s2}
	erls := []*distributetest.ErlNode{e1, e2}

	// Two partitions {g1, e1} and {g2, e2}, each with a name of its own
	// and the same name "shared", then merged.
	if err := g1.Connect(ctx, distribute.Atom(e1.Name)); err != nil {
		t.Fatal(err)
	}
	if got := e2.Eval(t, fmt.Sprintf("net_kernel:connect_node(%s)", quoteAtom(g2.Name()))); got != "true" {
		t.Fatalf("e2 connect: %s", got)
	}
	erlSync(t, e1, e2)
	syncAll(t, s1, s2)
	pa := newProc(t, g1)
	if err := s1.Register(ctx, distribute.Atom("shared"), pa.Pid()); err != nil {
		t.Fatal(err)
	}
	if got := e2.Eval(t, "gtest:reg(shared)"); got != "yes" {
		t.Fatalf("e2 reg shared: %s", got)
	}
	if got := e1.Eval(t, "gtest:reg(only_e1)"); got != "yes" {
		t.Fatalf("e1 reg: %s", got)
	}
	pb := newProc(t, g2)
	if err := s2.Register(ctx, distribute.Atom("only_g2"), pb.Pid()); err != nil {
		t.Fatal(err)
	}
	sharedE2, _ := s2.Whereis(distribute.Atom("shared"))

	if err := g1.Connect(ctx, g2.Name()); err != nil {
		t.Fatal(err)
	}
	fullMesh(t, []*distribute.Node{g1, g2}, erls)
	erlSync(t, e1, e2)
	syncAll(t, s1, s2)
	q := newProc(t, g1)
	for _, n := range []string{"only_e1", "only_g2"} {
		if _, ok := agreeOn(t, servers, erls, q, n); !ok {
			t.Fatalf("%s lost in the merge", n)
		}
	}
	// The conflict: Erlang's random_exit_name keeps the pid on the lower
	// node name and kills the other.
	winner, ok := agreeOn(t, servers, erls, q, "shared")
	if !ok {
		t.Fatal("shared unregistered after the merge")
	}
	wantWin, lose := pa.Pid(), sharedE2
	if sharedE2.Node < pa.Pid().Node {
		wantWin, lose = sharedE2, pa.Pid()
	}
	if winner != wantWin {
		t.Fatalf("shared won by %v, want %v", winner, wantWin)
	}
	if lose == pa.Pid() {
		distributetest.WaitFor(t, "loser killed", func() bool { return !pa.Alive() })
		if pa.Reason() != distribute.ReasonKilled {
			t.Fatalf("loser reason %v", pa.Reason())
		}
	} else if got := e2.Eval(t, fmt.Sprintf("is_process_alive(list_to_pid(%q))", erlPidText(e2, lose))); got != "false" {
		t.Fatalf("erlang loser alive: %s", got)
	}

	// Registered on either side: the same pid everywhere.
	p3 := newProc(t, g2)
	if err := s2.Register(ctx, distribute.Atom("from_go"), p3.Pid()); err != nil {
		t.Fatal(err)
	}
	e1.Eval(t, "gtest:reg(from_erl)")
	for _, n := range []string{"from_go", "from_erl"} {
		if _, ok := agreeOn(t, servers, erls, q, n); !ok {
			t.Fatalf("%s not registered", n)
		}
	}
	// trans with the default node list, on both Erlang nodes.
	for _, e := range erls {
		if got := e.Eval(t, "gtest:trans()"); got != "done" {
			t.Fatalf("trans on %s: %s", e.Name, got)
		}
	}
	// A Go process exits: the name is gone everywhere.
	p3.Exit(distribute.ReasonNormal)
	for _, s := range servers {
		distributetest.WaitFor(t, "from_go gone", func() bool { _, ok := s.Whereis(distribute.Atom("from_go")); return !ok })
	}
	for _, e := range erls {
		distributetest.WaitFor(t, "from_go gone on erl", func() bool { return e.Eval(t, "gtest:where_node(from_go)") == "undefined" })
	}

	// Concurrent registration of one name from Go and Erlang: one owner.
	for round := range 3 {
		name := fmt.Sprintf("race%d", round)
		gp := newProc(t, g1)
		var wg sync.WaitGroup
		var goErr error
		var erlRes string
		wg.Add(2)
		go func() { defer wg.Done(); goErr = s1.Register(ctx, distribute.Atom(name), gp.Pid()) }()
		go func() {
			defer wg.Done()
			erlRes, _ = e2.EvalErr(fmt.Sprintf("gtest:reg(%s)", name), distributetest.Scale(60e9))
		}()
		wg.Wait()
		if (goErr == nil) == (erlRes == "yes") {
			t.Fatalf("%s: go err %v, erl %q: want exactly one winner", name, goErr, erlRes)
		}
		owner, ok := agreeOn(t, servers, erls, q, name)
		if !ok {
			t.Fatalf("%s: no owner", name)
		}
		if (owner == gp.Pid()) != (goErr == nil) {
			t.Fatalf("%s: owner %v, go err %v", name, owner, goErr)
		}
	}
	erlSync(t, e1, e2)
	syncAll(t, s1, s2)
	names := s1.RegisteredNames()
	slices.SortFunc(names, func(a, b distribute.Term) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	if got := e1.Eval(t, "length(global:registered_names())"); got != fmt.Sprint(len(names)) {
		t.Fatalf("erl has %s names, go %d (%v)", got, len(names), names)
	}
}

// erlPidText renders pid as Erlang's pid_to_list text on the node that
// owns it (<0.ID.Serial>).
func erlPidText(e *distributetest.ErlNode, p distribute.Pid) string {
	return fmt.Sprintf("<0.%d.%d>", p.ID, p.Serial)
}
