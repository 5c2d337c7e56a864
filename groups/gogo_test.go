package groups

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// goPair starts two Go nodes with a scope each and connects them.
func goPair(t testing.TB, cfg ...Config) (a, b *distribute.Node, sa, sb *Scope) {
	t.Helper()
	port := distributetest.FreePort(t)
	// Visible: scopes discover only visible peers, as OTP's pg.
	a = startNode(t, port, visible)
	b = startNode(t, port, visible)
	sa = startScope(t, a, cfg...)
	sb = startScope(t, b, cfg...)
	if err := a.Connect(testCtx(t), b.Name()); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitFor(t, "scopes discover each other", func() bool {
		return hasPeerOn(sa, b.Name()) && hasPeerOn(sb, a.Name())
	})
	return a, b, sa, sb
}

func nextChange(t *testing.T, ch <-chan Change) Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed")
		}
		return c
	case <-time.After(distributetest.Scale(10 * time.Second)):
		t.Fatal("no change")
	}
	return Change{}
}

func TestGoToGo(t *testing.T) {
	a, b, sa, sb := goPair(t)
	ctx := testCtx(t)
	const g = distribute.Atom("workers")

	changes := sb.Watch(ctx, g) // no members yet: no first change
	p1, p2 := newProc(t, a), newProc(t, a)
	if err := sa.Join(ctx, g, p1.Pid(), p2.Pid()); err != nil {
		t.Fatal(err)
	}
	if c := nextChange(t, changes); c.Kind != Joined || c.Group != g || !sameMultiset(c.Pids, []distribute.Pid{p1.Pid(), p2.Pid()}) {
		t.Fatalf("change = %+v", c)
	}
	if got := sb.Members(g); !sameMultiset(got, []distribute.Pid{p1.Pid(), p2.Pid()}) {
		t.Fatalf("b: Members = %v", got)
	}
	if got := sb.LocalMembers(g); len(got) != 0 {
		t.Fatalf("b: LocalMembers = %v", got)
	}
	q := newProc(t, b)
	if err := sb.Join(ctx, g, q.Pid()); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitFor(t, "a sees b's member", func() bool { return hasPid(sa.Members(g), q.Pid()) })
	if c := nextChange(t, changes); c.Kind != Joined || len(c.Pids) != 1 || c.Pids[0] != q.Pid() {
		t.Fatalf("change = %+v", c)
	}

	// Leave, and exit.
	if err := sa.Leave(ctx, g, p1.Pid()); err != nil {
		t.Fatal(err)
	}
	if c := nextChange(t, changes); c.Kind != Left || len(c.Pids) != 1 || c.Pids[0] != p1.Pid() {
		t.Fatalf("change = %+v", c)
	}
	p2.Exit(distribute.ReasonNormal)
	if c := nextChange(t, changes); c.Kind != Left || len(c.Pids) != 1 || c.Pids[0] != p2.Pid() {
		t.Fatalf("change = %+v", c)
	}
	distributetest.WaitFor(t, "a drops its exited member", func() bool { return len(sa.LocalMembers(g)) == 0 })

	// Errors of the API.
	if err := sa.Join(ctx, g, q.Pid()); !errors.Is(err, ErrNotLocal) {
		t.Fatalf("Join of a remote pid: %v, want ErrNotLocal", err)
	}
	if err := sa.Leave(ctx, g, p1.Pid()); !errors.Is(err, ErrNotJoined) {
		t.Fatalf("Leave of a non-member: %v, want ErrNotJoined", err)
	}
	if _, err := Start(ctx, a, Config{}); !errors.Is(err, distribute.ErrNameTaken) {
		t.Fatalf("second default scope: %v, want ErrNameTaken", err)
	}

	// Joining twice means leaving twice, as in pg.
	r := newProc(t, a)
	sa.Join(ctx, "twice", r.Pid())
	sa.Join(ctx, "twice", r.Pid())
	distributetest.WaitFor(t, "b sees both joins", func() bool { return len(sb.Members("twice")) == 2 })
	sa.Leave(ctx, "twice", r.Pid())
	distributetest.WaitFor(t, "b sees one leave", func() bool { return len(sb.Members("twice")) == 1 })
	if got := sb.WhichGroups(); len(got) != 2 {
		t.Fatalf("WhichGroups = %v", got)
	}

	// Scope Stop leaves cleanly.
	if err := sa.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sa.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := sa.Join(ctx, g, r.Pid()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Join after Stop: %v", err)
	}
	distributetest.WaitFor(t, "b drops a's members", func() bool { return len(sb.Members("twice")) == 0 && !hasPeerOn(sb, a.Name()) })

	// A new scope on a resyncs with b.
	sa2 := startScope(t, a)
	distributetest.WaitFor(t, "new scope on a is synced", func() bool {
		return hasPid(sa2.Members(g), q.Pid()) && hasPeerOn(sb, a.Name())
	})
	sa2.Join(ctx, g, r.Pid())
	distributetest.WaitFor(t, "b sees the new scope's member", func() bool { return hasPid(sb.Members(g), r.Pid()) })

	// Node loss.
	ctxStop, cancel := context.WithTimeout(ctx, distributetest.Scale(10*time.Second))
	defer cancel()
	if err := b.Stop(ctxStop); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitFor(t, "a drops the lost node's members", func() bool { return len(sa2.Members(g)) == 1 && !hasPeerOn(sa2, b.Name()) })
	select {
	case <-sb.Done():
	case <-ctx.Done():
		t.Fatal("scope did not end with its node")
	}
	for range changes {
		// The subscription is closed when its scope ends.
	}
}

func TestJunkFromPeersIsIgnored(t *testing.T) {
	a, b, sa, sb := goPair(t)
	ctx := testCtx(t)
	p := newProc(t, b)
	if err := sb.Join(ctx, distribute.Atom("g"), p.Pid()); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitFor(t, "a sees the member", func() bool { return len(sa.Members(distribute.Atom("g"))) == 1 })
	sender := newProc(t, b)
	for _, seed := range fuzzSeeds(t) {
		term, err := etf.Decode(seed)
		if err != nil {
			continue
		}
		sender.SendName(ctx, DefaultScope, a.Name(), term)
	}
	for _, junk := range []distribute.Term{distribute.Atom("x"), etf.Tuple{distribute.Atom("join")}, etf.Tuple{distribute.Atom("$gen_call"), distribute.Atom("x"), distribute.Atom("y")}, int64(5), etf.List{}} {
		sender.SendName(ctx, DefaultScope, a.Name(), junk)
	}
	// The scope is still alive and serving: a join after the junk arrives.
	q := newProc(t, b)
	sb.Join(ctx, distribute.Atom("after"), q.Pid())
	distributetest.WaitFor(t, "a sees a join after the junk", func() bool { return hasPid(sa.Members(distribute.Atom("after")), q.Pid()) })
	if !hasPid(sa.Members(distribute.Atom("g")), p.Pid()) {
		t.Fatal("junk removed a member")
	}
}

func TestNamedScopesAreSeparate(t *testing.T) {
	port := distributetest.FreePort(t)
	a, b := startNode(t, port, visible), startNode(t, port, visible)
	x1, x2 := startScope(t, a, Config{Scope: "x"}), startScope(t, b, Config{Scope: "x"})
	y1 := startScope(t, a, Config{Scope: "y"})
	if err := a.Connect(testCtx(t), b.Name()); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	p := newProc(t, b)
	x2.Join(ctx, distribute.Atom("g"), p.Pid())
	distributetest.WaitFor(t, "scope x on a sees it", func() bool { return len(x1.Members(distribute.Atom("g"))) == 1 })
	if len(y1.Members(distribute.Atom("g"))) != 0 {
		t.Fatal("scope y sees scope x's member")
	}
}

func TestWatchAll(t *testing.T) {
	a, _, sa, sb := goPair(t)
	ctx := testCtx(t)
	p := newProc(t, a)
	sa.Join(ctx, distribute.Atom("g1"), p.Pid())
	distributetest.WaitFor(t, "b sees g1", func() bool { return len(sb.Members(distribute.Atom("g1"))) == 1 })
	sctx, cancel := context.WithCancel(ctx)
	ch := sb.Watch(sctx)
	if c := nextChange(t, ch); c.Kind != Joined || c.Group != distribute.Atom("g1") || len(c.Pids) != 1 || c.Pids[0] != p.Pid() {
		t.Fatalf("first change = %+v, want g1's member now", c)
	}
	// Many changes queue while nobody reads; none is lost (fewer than
	// the cut-off bound).
	for i := range 500 {
		sa.Join(ctx, int64(i), p.Pid())
	}
	for i := range 500 {
		c := nextChange(t, ch)
		if c.Kind != Joined || c.Group != int64(i) {
			t.Fatalf("change %d = %+v", i, c)
		}
	}
	cancel()
	for range ch {
	}
}

// TestBroadcastReportsFailures makes one member unreachable: the others
// still get the message and the failure is reported.
func TestBroadcastReportsFailures(t *testing.T) {
	a := startNode(t, distributetest.FreePort(t))
	s := startScope(t, a)
	ctx := testCtx(t)
	ok1, ok2 := newProc(t, a), newProc(t, a)
	s.Join(ctx, distribute.Atom("b"), ok1.Pid(), ok2.Pid())
	// A peer scope on a node that does not exist announces a member.
	ghost := distribute.Pid{Node: "ghost@localhost", ID: 1}
	lost := distribute.Pid{Node: "ghost@localhost", ID: 2}
	s.mu.Lock()
	s.c.handle(etf.Tuple{distribute.Atom("$gen_cast"), etf.Tuple{distribute.Atom("sync"), ghost, etf.List{etf.Tuple{distribute.Atom("b"), etf.List{lost}}}}})
	s.c.takeEffects()
	s.mu.Unlock()
	if n := len(s.Members(distribute.Atom("b"))); n != 3 {
		t.Fatalf("%d members, want 3", n)
	}
	dctx, cancel := context.WithTimeout(ctx, distributetest.Scale(5*time.Second))
	defer cancel()
	res, err := s.Broadcast(dctx, distribute.Atom("b"), struct {
		Hello string `etf:"hello"`
	}{"world"})
	if err == nil || res.Sent != 2 || len(res.Failed) != 1 || res.Failed[0].Pid != lost {
		t.Fatalf("Broadcast = %+v, %v", res, err)
	}
	var me *MemberError
	if !errors.As(err, &me) || me.Pid != lost {
		t.Fatalf("error %v is not a *MemberError for %v", err, lost)
	}
	for _, p := range []*distribute.Process{ok1, ok2} {
		m, err := p.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := (etf.Map{{Key: distribute.Atom("hello"), Value: etf.Binary("world")}}); !etf.Equal(m, want) {
			t.Fatalf("member got %v, want %v", etf.Format(m), etf.Format(want))
		}
	}
}
