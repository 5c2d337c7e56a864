package groups

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// gtestErl is compiled on the Erlang nodes: members that forward what they
// receive to a collector, and helpers to make and join them.
const gtestErl = `-module(gtest).
-export([fwd/1, start_members/4, idle/0, start_idle/3]).

fwd(To) ->
    receive
        stop -> ok;
        M -> To ! {got, self(), M}, fwd(To)
    end.

idle() -> receive stop -> ok end.

%% N forwarding members joined to Group in Scope at once (list form).
start_members(Scope, Group, N, To) ->
    Pids = [spawn(fun() -> fwd(To) end) || _ <- lists:seq(1, N)],
    ok = pg:join(Scope, Group, Pids),
    length(Pids).

%% One idle member registered as Name, joined to Group (pid form).
start_idle(Scope, Group, Name) ->
    P = spawn(fun idle/0),
    true = register(Name, P),
    ok = pg:join(Scope, Group, P),
    P.
`

const pgArgs = "start_pg"

// erlWithPg starts an erl node running the default pg scope, with gtest
// loaded, on epmdPort (0: a private epmd).
func erlWithPg(t *testing.T, epmdPort int) *distributetest.ErlNode {
	t.Helper()
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{
		EpmdPort: epmdPort,
		Args:     []string{"-kernel", "start_pg", "true"},
	})
	erl.LoadModule(t, gtestErl)
	return erl
}

// checkNoScopeCrash fails if erl logged a crash of a gen_server (a pg
// scope crashes on any message outside its protocol).
func checkNoScopeCrash(t *testing.T, erl *distributetest.ErlNode) {
	t.Helper()
	if out := erl.Output(); strings.Contains(out, "CRASH") || strings.Contains(out, "terminating") {
		t.Fatalf("erl logged a crash:\n%s", out)
	}
}

// connectScope connects node to erl and waits until s and erl's pg know
// each other.
func connectScope(t *testing.T, node *distribute.Node, s *Scope, erl *distributetest.ErlNode) {
	t.Helper()
	if err := node.Connect(testCtx(t), distribute.Atom(erl.Name)); err != nil {
		t.Fatalf("connect %s: %v", erl.Name, err)
	}
	distributetest.WaitFor(t, "peer scope on "+erl.Name, func() bool { return hasPeerOn(s, distribute.Atom(erl.Name)) })
}

func TestErlangMembershipBothWays(t *testing.T) {
	erl := erlWithPg(t, 0)
	g := startNode(t, erl.EpmdPort)
	s := startScope(t, g)
	connectScope(t, g, s, erl)
	ctx := testCtx(t)
	gq := quoteAtom(g.Name())
	erlNode := distribute.Atom(erl.Name)
	pgPid := erl.Eval(t, `whereis(pg)`)

	// Go joins: Erlang's pg lists the Go pid.
	p := newProc(t, g)
	if err := s.Join(ctx, distribute.Atom("g1"), p.Pid()); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitFor(t, "erl sees the go member", func() bool {
		return erlMemberNodes(t, erl, "pg", "g1") == "["+gq+"]"
	})
	// Erlang joins: Go lists the Erlang pid.
	if got := erl.Eval(t, `is_pid(gtest:start_idle(pg, g1, m1))`); got != "true" {
		t.Fatalf("start_idle: %s", got)
	}
	distributetest.WaitFor(t, "go sees the erl member", func() bool { return countOn(s.Members(distribute.Atom("g1")), erlNode) == 1 })
	if got := s.LocalMembers(distribute.Atom("g1")); len(got) != 1 || got[0] != p.Pid() {
		t.Fatalf("LocalMembers = %v, want [%v]", got, p.Pid())
	}
	if got := erl.Eval(t, `[node(P) || P <- pg:get_local_members(g1)]`); got != "["+erl.Name+"]" {
		t.Fatalf("erl local members: %s", got)
	}

	// Go leaves: gone on Erlang, the Erlang member stays.
	if err := s.Leave(ctx, distribute.Atom("g1"), p.Pid()); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitFor(t, "erl drops the go member", func() bool {
		return erlMemberNodes(t, erl, "pg", "g1") == "["+erl.Name+"]"
	})
	if err := s.Leave(ctx, distribute.Atom("g1"), p.Pid()); err == nil {
		t.Fatal("second Leave: want ErrNotJoined")
	}
	// Erlang leaves: gone on Go.
	if got := erl.Eval(t, `pg:leave(g1, whereis(m1))`); got != "ok" {
		t.Fatalf("pg:leave: %s", got)
	}
	distributetest.WaitFor(t, "go drops the erl member", func() bool { return len(s.Members(distribute.Atom("g1"))) == 0 })
	if len(s.WhichGroups()) != 0 {
		t.Fatalf("WhichGroups = %v, want none", s.WhichGroups())
	}

	// Member exit, both ways: a Go process that exits, an Erlang process killed.
	q := newProc(t, g)
	if err := s.Join(ctx, distribute.Atom("g2"), q.Pid()); err != nil {
		t.Fatal(err)
	}
	erl.Eval(t, `gtest:start_idle(pg, g2, m2)`)
	distributetest.WaitFor(t, "both members on go", func() bool { return len(s.Members(distribute.Atom("g2"))) == 2 })
	distributetest.WaitFor(t, "both members on erl", func() bool {
		return len(erlMemberNodes(t, erl, "pg", "g2")) > 2 && strings.Count(erlMemberNodes(t, erl, "pg", "g2"), ",") == 1
	})
	q.Exit(distribute.ReasonNormal)
	distributetest.WaitFor(t, "erl drops the exited go member", func() bool {
		return erlMemberNodes(t, erl, "pg", "g2") == "["+erl.Name+"]"
	})
	erl.Eval(t, `exit(whereis(m2), kill)`)
	distributetest.WaitFor(t, "go drops the killed erl member", func() bool { return len(s.Members(distribute.Atom("g2"))) == 0 })

	// A Go node lost: Erlang drops its members (scope DOWN, noconnection).
	g2 := startNode(t, erl.EpmdPort)
	s2 := startScope(t, g2)
	connectScope(t, g2, s2, erl)
	r := newProc(t, g2)
	if err := s2.Join(ctx, distribute.Atom("g3"), r.Pid()); err != nil {
		t.Fatal(err)
	}
	g2q := quoteAtom(g2.Name())
	distributetest.WaitFor(t, "erl sees g2's member", func() bool { return erlMemberNodes(t, erl, "pg", "g3") == "["+g2q+"]" })
	g2.Disconnect(erlNode)
	distributetest.WaitFor(t, "erl drops the lost node's member", func() bool { return erlMemberNodes(t, erl, "pg", "g3") == "[]" })
	distributetest.WaitFor(t, "g2 drops erl's scope", func() bool { return !hasPeerOn(s2, erlNode) })

	// A Go scope that stops: Erlang drops its members.
	g3 := startNode(t, erl.EpmdPort)
	s3 := startScope(t, g3)
	connectScope(t, g3, s3, erl)
	r3 := newProc(t, g3)
	if err := s3.Join(ctx, distribute.Atom("g5"), r3.Pid()); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitFor(t, "erl sees g3's member", func() bool { return erlMemberNodes(t, erl, "pg", "g5") == "["+quoteAtom(g3.Name())+"]" })
	if err := s3.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitFor(t, "erl drops the stopped scope's member", func() bool { return erlMemberNodes(t, erl, "pg", "g5") == "[]" })

	// Erlang's scope never crashed on anything we sent.
	if got := erl.Eval(t, `whereis(pg)`); got != pgPid {
		t.Fatalf("erl's pg restarted: %s, was %s\n%s", got, pgPid, erl.Output())
	}
	checkNoScopeCrash(t, erl)

	// The Erlang node lost: Go drops its members.
	erl.Eval(t, `gtest:start_idle(pg, g4, m4)`)
	distributetest.WaitFor(t, "go sees g4", func() bool { return countOn(s.Members(distribute.Atom("g4")), erlNode) == 1 })
	changes := s.Watch(ctx, distribute.Atom("g4"))
	if c := <-changes; c.Kind != Joined || len(c.Pids) != 1 {
		t.Fatalf("first change = %+v, want g4's erl member", c)
	}
	if err := erl.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitFor(t, "go drops the killed node's members", func() bool { return len(s.Members(distribute.Atom("g4"))) == 0 })
	select {
	case c := <-changes:
		if c.Kind != Left || len(c.Pids) != 1 || c.Pids[0].Node != erlNode || c.Group != distribute.Atom("g4") {
			t.Fatalf("change = %+v, want the leave of the erl member", c)
		}
	case <-ctx.Done():
		t.Fatal("no change after node loss")
	}
	if hasPeerOn(s, erlNode) {
		t.Fatal("the dead node's scope is still a peer")
	}
}

func TestErlangScopeRestartResyncs(t *testing.T) {
	erl := erlWithPg(t, 0)
	g := startNode(t, erl.EpmdPort)
	s := startScope(t, g)
	connectScope(t, g, s, erl)
	ctx := testCtx(t)
	erlNode := distribute.Atom(erl.Name)
	gq := quoteAtom(g.Name())

	p := newProc(t, g)
	if err := s.Join(ctx, distribute.Atom("rg"), p.Pid()); err != nil {
		t.Fatal(err)
	}
	erl.Eval(t, `gtest:start_idle(pg, rg, m1)`)
	distributetest.WaitFor(t, "go sees erl's member", func() bool { return countOn(s.Members(distribute.Atom("rg")), erlNode) == 1 })
	distributetest.WaitFor(t, "erl sees go's member", func() bool { return strings.Contains(erlMemberNodes(t, erl, "pg", "rg"), gq) })
	oldPeer := s.Peers()

	old := erl.Eval(t, `P = whereis(pg), exit(P, kill), P`)
	// The restarted scope knows nothing; ours must discover it again.
	distributetest.WaitFor(t, "a new erl scope is a peer", func() bool {
		ps := s.Peers()
		return len(ps) == 1 && ps[0] != oldPeer[0]
	})
	if countOn(s.Members(distribute.Atom("rg")), erlNode) != 0 {
		t.Fatalf("members of the killed scope remain: %v", s.Members(distribute.Atom("rg")))
	}
	distributetest.WaitFor(t, "the new erl scope lists go's member", func() bool {
		return erlMemberNodes(t, erl, "pg", "rg") == "["+gq+"]"
	})
	if got := erl.Eval(t, `whereis(pg) =/= list_to_pid("`+old+`")`); got != "true" {
		t.Fatalf("pg was not restarted: %s", got)
	}
	erl.Eval(t, `gtest:start_idle(pg, rg2, m2)`)
	distributetest.WaitFor(t, "go sees a join on the new scope", func() bool { return countOn(s.Members(distribute.Atom("rg2")), erlNode) == 1 })
}

func TestErlangNamedScope(t *testing.T) {
	erl := erlWithPg(t, 0)
	if got := erl.Eval(t, `element(1, pg:start(myscope))`); got != "ok" {
		t.Fatalf("pg:start(myscope): %s", got)
	}
	g := startNode(t, erl.EpmdPort)
	s := startScope(t, g, Config{Scope: "myscope"})
	def := startScope(t, g)
	connectScope(t, g, s, erl)
	distributetest.WaitFor(t, "default scope peer", func() bool { return hasPeerOn(def, distribute.Atom(erl.Name)) })
	ctx := testCtx(t)
	p := newProc(t, g)
	if err := s.Join(ctx, etf.Binary("bin group"), p.Pid()); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitFor(t, "erl sees the member in myscope", func() bool {
		return erlMemberNodes(t, erl, "myscope", `<<"bin group">>`) == "["+quoteAtom(g.Name())+"]"
	})
	if got := erl.Eval(t, `pg:get_members(<<"bin group">>)`); got != "[]" {
		t.Fatalf("default scope has the named scope's member: %s", got)
	}
	erl.Eval(t, `gtest:start_idle(myscope, {tuple, "group", 1}, m1)`)
	group, _ := etf.ParseText(`{tuple, "group", 1}`)
	distributetest.WaitFor(t, "go sees the tuple group", func() bool { return len(s.Members(group)) == 1 })
	if len(def.Members(group)) != 0 {
		t.Fatal("default scope has the named scope's member")
	}
	checkNoScopeCrash(t, erl)
}

// TestErlangBroadcast100 broadcasts to 100 members: 34 Go processes and 33
// on each of two Erlang nodes, which forward what they get to a Go
// collector. Each member must get each broadcast exactly once.
func TestErlangBroadcast100(t *testing.T) {
	erl1 := erlWithPg(t, 0)
	erl2 := erlWithPg(t, erl1.EpmdPort)
	g := startNode(t, erl1.EpmdPort)
	s := startScope(t, g)
	connectScope(t, g, s, erl1)
	connectScope(t, g, s, erl2)
	ctx := testCtx(t)

	collector := newProc(t, g)
	if err := g.Register("collector", collector.Pid()); err != nil {
		t.Fatal(err)
	}
	const group = distribute.Atom("bcast")
	goMembers := make([]distribute.Pid, 34)
	for i := range goMembers {
		m, err := g.Spawn(func(ctx context.Context, p *distribute.Process) error {
			for {
				msg, err := p.Receive(ctx)
				if err != nil {
					return nil
				}
				collector.Send(ctx, collector.Pid(), etf.Tuple{distribute.Atom("got"), p.Pid(), msg})
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Exit(distribute.ReasonNormal) })
		goMembers[i] = m.Pid()
	}
	if err := s.Join(ctx, group, goMembers...); err != nil {
		t.Fatal(err)
	}
	to := fmt.Sprintf("{collector, %s}", quoteAtom(g.Name()))
	for _, erl := range []*distributetest.ErlNode{erl1, erl2} {
		if got := erl.Eval(t, fmt.Sprintf(`gtest:start_members(pg, bcast, 33, %s)`, to)); got != "33" {
			t.Fatalf("start_members on %s: %s", erl.Name, got)
		}
	}
	distributetest.WaitFor(t, "100 members", func() bool { return len(s.Members(group)) == 100 })
	members := s.Members(group)

	counts := make([]map[distribute.Pid]int, 2)
	for round := range 2 {
		res, err := s.Broadcast(ctx, group, etf.Tuple{distribute.Atom("round"), int64(round)})
		if err != nil || res.Sent != 100 {
			t.Fatalf("Broadcast round %d: sent %d, err %v", round, res.Sent, err)
		}
		counts[round] = make(map[distribute.Pid]int)
	}
	got := 0
	for got < 200 {
		rctx, cancel := context.WithTimeout(ctx, distributetest.Scale(20*time.Second))
		m, err := collector.Receive(rctx)
		cancel()
		if err != nil {
			t.Fatalf("after %d deliveries: %v", got, err)
		}
		tup, ok := m.(etf.Tuple)
		if !ok || len(tup) != 3 || tup[0] != distribute.Atom("got") {
			t.Fatalf("collector got %v", m)
		}
		from := tup[1].(distribute.Pid)
		r, ok := tup[2].(etf.Tuple)
		if !ok || len(r) != 2 || r[0] != distribute.Atom("round") {
			t.Fatalf("member %v got %v", from, tup[2])
		}
		counts[r[1].(int64)][from]++
		got++
	}
	// Per member the second round's message arrives after the first's, so
	// once every member delivered round 1, a duplicate of round 0 would
	// already be counted.
	for round, c := range counts {
		if len(c) != 100 {
			t.Errorf("round %d reached %d distinct members, want 100", round, len(c))
		}
		for _, m := range members {
			if c[m] != 1 {
				t.Errorf("round %d: member %v got %d copies", round, m, c[m])
			}
		}
	}
	if n := collector.MailboxLen(); n != 0 {
		t.Errorf("%d extra deliveries", n)
	}
	checkNoScopeCrash(t, erl1)
	checkNoScopeCrash(t, erl2)
}

// TestErlangVisibleGoNode: with a visible connection Erlang's pg discovers
// the Go scope by itself (nodeup) while ours discovers it too; the double
// discovery must converge to one peer each way.
func TestErlangVisibleGoNode(t *testing.T) {
	erl := erlWithPg(t, 0)
	g := startNode(t, erl.EpmdPort, func(c *distribute.Config) { c.Visibility = distribute.Visible })
	s := startScope(t, g)
	connectScope(t, g, s, erl)
	ctx := testCtx(t)
	if got := erl.Eval(t, `nodes()`); got != "["+quoteAtom(g.Name())+"]" {
		t.Fatalf("erl nodes() = %s, want the visible Go node", got)
	}
	p := newProc(t, g)
	if err := s.Join(ctx, distribute.Atom("vis"), p.Pid()); err != nil {
		t.Fatal(err)
	}
	erl.Eval(t, `gtest:start_idle(pg, vis, m1)`)
	distributetest.WaitFor(t, "both sides see both members", func() bool {
		return len(s.Members(distribute.Atom("vis"))) == 2 && strings.Count(erlMemberNodes(t, erl, "pg", "vis"), ",") == 1
	})
	if n := len(s.Peers()); n != 1 {
		t.Fatalf("%d peer scopes, want 1", n)
	}
	// Erlang's scope state knows exactly one remote scope: ours.
	if got := erl.Eval(t, `[node(P) || P <- maps:keys(element(4, sys:get_state(pg)))]`); got != "["+quoteAtom(g.Name())+"]" {
		t.Fatalf("erl's remote scopes: %s", got)
	}
	checkNoScopeCrash(t, erl)
}
