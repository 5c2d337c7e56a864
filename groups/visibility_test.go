package groups

import (
	"fmt"
	"strings"
	"testing"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

func visible(c *distribute.Config) { c.Visibility = distribute.Visible }

// isSyncFrom matches the sync a scope sends in answer to a discover.
func isSyncFrom(scope distribute.Pid) func(any) bool {
	return func(m any) bool {
		cast, ok := m.(etf.Tuple)
		if !ok || len(cast) != 2 || cast[0] != distribute.Atom("$gen_cast") {
			return false
		}
		sync, ok := cast[1].(etf.Tuple)
		return ok && len(sync) == 3 && sync[0] == distribute.Atom("sync") && sync[1] == scope
	}
}

// A scope never discovers a hidden node, as OTP's pg never does: a process
// registered as pg on a hidden node that connects receives nothing (a C
// node such as erl_call took the discover for its rpc's answer). It still
// answers a discover the hidden node sends itself, as OTP's pg does.
func TestNoDiscoverOfHiddenNode(t *testing.T) {
	port := distributetest.StartEpmd(t)
	vis := startNode(t, port, visible)
	s := startScope(t, vis)
	hidden := startNode(t, port)
	watcher := newProc(t, hidden)
	if err := hidden.Register("pg", watcher.Pid()); err != nil {
		t.Fatal(err)
	}
	up := newProc(t, vis)
	up.MonitorNodes(true)
	ctx := testCtx(t)
	if err := hidden.Connect(ctx, vis.Name()); err != nil {
		t.Fatal(err)
	}
	m, err := up.ReceiveMatch(ctx, func(m any) bool { u, ok := m.(distribute.NodeUp); return ok && u.Node == hidden.Name() })
	if err != nil {
		t.Fatalf("no NodeUp for the hidden node: %v", err)
	}
	if m.(distribute.NodeUp).Published {
		t.Fatal("the hidden node is reported published")
	}
	// The scope handled the NodeUp before this discover (its mailbox is in
	// order): its sync to the probe travels behind any discover it sent to
	// the hidden node's pg, on the same connection.
	probe := newProc(t, hidden)
	if err := probe.SendName(ctx, "pg", vis.Name(), etf.Tuple{distribute.Atom("discover"), probe.Pid()}); err != nil {
		t.Fatal(err)
	}
	if _, err := probe.ReceiveMatch(ctx, isSyncFrom(s.Pid())); err != nil {
		t.Fatalf("no sync answering the probe's discover: %v", err)
	}
	if n := watcher.MailboxLen(); n != 0 {
		m, _ := watcher.Receive(ctx)
		t.Fatalf("the hidden node's pg got %d messages, the first %s; want none", n, etf.Format(m))
	}
}

// Two hidden Go nodes' scopes never meet; a hidden node's scope discovers
// a visible peer's (DESIGN: a hidden Go node may still use pg with visible
// nodes), and both see each other's members.
func TestHiddenScopeDiscoversVisiblePeer(t *testing.T) {
	port := distributetest.StartEpmd(t)
	vis := startNode(t, port, visible)
	sv := startScope(t, vis)
	h1 := startNode(t, port)
	s1 := startScope(t, h1)
	h2 := startNode(t, port)
	s2 := startScope(t, h2)
	ctx := testCtx(t)
	for _, c := range [][2]*distribute.Node{{h1, vis}, {h2, vis}, {h1, h2}} {
		if err := c[0].Connect(ctx, c[1].Name()); err != nil {
			t.Fatal(err)
		}
	}
	p1, p2 := newProc(t, h1), newProc(t, h2)
	if err := s1.Join(ctx, distribute.Atom("g"), p1.Pid()); err != nil {
		t.Fatal(err)
	}
	if err := s2.Join(ctx, distribute.Atom("g"), p2.Pid()); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitFor(t, "the visible scope to see both hidden members", func() bool { return len(sv.Members(distribute.Atom("g"))) == 2 })
	distributetest.WaitFor(t, "each hidden scope to know the visible one", func() bool {
		return fmt.Sprint(s1.Peers()) == fmt.Sprint([]distribute.Pid{sv.Pid()}) && fmt.Sprint(s2.Peers()) == fmt.Sprint([]distribute.Pid{sv.Pid()})
	})
	// The hidden scopes never discovered each other: each sees its own
	// member only (the visible scope relays nothing, as pg does not).
	if got := s1.Members(distribute.Atom("g")); len(got) != 1 || got[0] != p1.Pid() {
		t.Fatalf("h1's scope members %v; want only %v", got, p1.Pid())
	}
	if got := s2.Members(distribute.Atom("g")); len(got) != 1 || got[0] != p2.Pid() {
		t.Fatalf("h2's scope members %v; want only %v", got, p2.Pid())
	}
}

// From a real hidden Erlang node: a process registered as pg there
// receives nothing from a visible Go node's scope when it connects.
func TestNoDiscoverOfHiddenErlang(t *testing.T) {
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{Hidden: true})
	g := startNode(t, erl.EpmdPort, visible)
	s := startScope(t, g)
	events := g.WatchNodes(testCtx(t))
	if got := erl.Eval(t, `register(pg, spawn(fun() -> receive stop -> ok end end))`); got != "true" {
		t.Fatalf("register pg: %s", got)
	}
	if got := erl.Eval(t, fmt.Sprintf("net_kernel:connect_node(%s)", quoteAtom(g.Name()))); got != "true" {
		t.Fatalf("connect: %s", got)
	}
	for ev := range events {
		if ev.Node == distribute.Atom(erl.Name) && ev.Up {
			break
		}
	}
	// A discover of the erl shell's own, answered by a sync: it follows
	// whatever the scope sent on the NodeUp, on the same connection.
	got := erl.Eval(t, fmt.Sprintf(`begin {pg, %s} ! {discover, self()}, receive {'$gen_cast', {sync, _, _}} -> synced after 10000 -> no_sync end end`, quoteAtom(g.Name())))
	if got != "synced" {
		t.Fatalf("discover from erl: %s", got)
	}
	if got := erl.Eval(t, `element(2, process_info(whereis(pg), message_queue_len))`); got != "0" {
		t.Fatalf("the hidden node's pg got %s messages; want 0 (scope %v)", got, s.Pid())
	}
	if strings.Contains(erl.Output(), "discover") {
		t.Fatalf("erl output mentions discover:\n%s", erl.Output())
	}
}
