package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// join joins m to the member at addr, retrying until a join succeeds: on
// a loaded machine one push/pull can miss the profile's TCPTimeout, and
// the test is about what follows, not about one attempt.
func join(t testing.TB, m *Membership, addr string) {
	t.Helper()
	var last error
	distributetest.WaitForWithin(t, 30*time.Second, "a join to "+addr, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
		defer cancel()
		_, last = m.Join(ctx, addr)
		if last != nil {
			t.Logf("join %s: %v (retrying)", addr, last)
		}
		return last == nil
	})
}

// serveGossipAddr registers on m's node a process "gossip_addr" that
// answers a call with m's gossip address: what distribute:info() tells the
// cluster package's resolver.
func serveGossipAddr(t testing.TB, m *Membership) {
	t.Helper()
	p, err := m.node.SpawnHandler(func(ctx context.Context, p *distribute.Process, msg any) error {
		if from, _, ok := distribute.ParseCall(msg); ok {
			p.Reply(ctx, from, etf.Binary(m.GossipAddr()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.node.Register("gossip_addr", p.Pid()); err != nil {
		t.Fatal(err)
	}
}

// resolverOn asks, from node n, the node connected under a name for its
// gossip address (serveGossipAddr), as the cluster package's resolver does
// over RPC.
func resolverOn(n **distribute.Node) func(ctx context.Context, node distribute.Atom) (string, error) {
	return func(ctx context.Context, node distribute.Atom) (string, error) {
		p, err := (*n).NewProcess()
		if err != nil {
			return "", err
		}
		defer p.Exit(distribute.ReasonNormal)
		r, err := p.CallName(ctx, "gossip_addr", node, "addr")
		if errors.Is(err, distribute.ErrNoProc) {
			return "", fmt.Errorf("%s serves no gossip address: %w", node, ErrNoGossip)
		}
		if err != nil {
			return "", err
		}
		b, ok := r.(etf.Binary)
		if !ok {
			return "", fmt.Errorf("gossip_addr answered %v", r)
		}
		return string(b), nil
	}
}

// nodeEvents records a node's connection events.
type nodeEvents struct {
	mu  sync.Mutex
	evs []distribute.NodeEvent
}

func watchNodes(t testing.TB, n *distribute.Node) *nodeEvents {
	ctx, cancel := context.WithCancel(context.Background())
	ne := &nodeEvents{}
	ch := n.WatchNodes(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range ch {
			ne.mu.Lock()
			ne.evs = append(ne.evs, ev)
			ne.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ne
}

// count returns how many up and down events name had.
func (ne *nodeEvents) count(name distribute.Atom) (up, down int) { return ne.countFrom(name, 0) }

// countFrom is count over the events from the from-th on (see mark).
func (ne *nodeEvents) countFrom(name distribute.Atom, from int) (up, down int) {
	ne.mu.Lock()
	defer ne.mu.Unlock()
	for _, ev := range ne.evs[min(from, len(ne.evs)):] {
		if ev.Node != name {
			continue
		}
		if ev.Up {
			up++
		} else {
			down++
		}
	}
	return up, down
}

// lastDown reports whether the last event received for name is a down,
// and how many events have been received in all (a mark for countFrom).
func (ne *nodeEvents) lastDown(name distribute.Atom) (down bool, mark int) {
	ne.mu.Lock()
	defer ne.mu.Unlock()
	for i := len(ne.evs) - 1; i >= 0; i-- {
		if ne.evs[i].Node == name {
			return !ne.evs[i].Up, len(ne.evs)
		}
	}
	return false, len(ne.evs)
}

// refreshN makes m read memberlist's table n times: n runs of the code
// that drives the links, so something it would do has been done.
func refreshN(t testing.TB, m *Membership, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
		err := m.Refresh(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestLaterConnectionToDeadMemberKept: a member declared dead is
// disconnected once, when it dies; a connection made afterwards (here the
// node, whose gossip died, dials again) is not cut on every read of the
// table, as it was.
func TestLaterConnectionToDeadMemberKept(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a, b := startMember(t, port, testCookie), startMember(t, port, testCookie)
	join(t, b, a.GossipAddr())
	distributetest.WaitForWithin(t, 20*time.Second, "connected", func() bool { return a.node.IsConnected(b.Name()) })
	ev := watchNodes(t, a.node)
	halt(b)
	// The cut is over when a has published its nodedown, which comes
	// after IsConnected turns false and reaches the watcher later still:
	// wait for it, and count only what follows. And b dials again only
	// once it has seen the cut itself, as a node does: until its reader
	// meets the closed socket the connection is up to b, and Connect
	// returns it without dialing (as net_kernel:connect_node/1 does).
	var mark int
	distributetest.WaitForWithin(t, 20*time.Second, "b dead and cut at a, a's nodedown received, the cut seen at b", func() bool {
		var down bool
		down, mark = ev.lastDown(b.Name())
		return states(a)[b.Name()] == StateDead && !a.node.IsConnected(b.Name()) && down && !b.node.IsConnected(a.Name())
	})
	if err := b.node.Connect(context.Background(), a.Name()); err != nil {
		t.Fatal(err)
	}
	// The nodeup is published after IsConnected turns true: wait for it.
	distributetest.WaitForWithin(t, 10*time.Second, "a sees b's new connection", func() bool {
		up, _ := ev.countFrom(b.Name(), mark)
		return up > 0 && a.node.IsConnected(b.Name())
	})
	refreshN(t, a, 10)
	// A cut here drops the connection before Disconnect returns, so
	// IsConnected sees it even if its nodedown is still on the way.
	if up, down := ev.countFrom(b.Name(), mark); up != 1 || down != 0 || !a.node.IsConnected(b.Name()) {
		t.Fatalf("b's later connection: %d up, %d down, connected %v; want it kept", up, down, a.node.IsConnected(b.Name()))
	}
}

// TestReapForgetsDeadAndLeft: under churn the table holds only the
// members that are there (and the recently gone), not every name that
// ever joined; a reaped member that returns is new (Prev 0).
func TestReapForgetsDeadAndLeft(t *testing.T) {
	port := distributetest.StartEpmd(t)
	prof := Local()
	prof.GossipToTheDeadTime = 500 * time.Millisecond
	prof.ReapTime = 300 * time.Millisecond
	prof.ReconnectInterval = 0
	withProf := func(c *Config) { c.Profile = prof }
	a := startMemberWith(t, port, testCookie, nil, withProf)
	evs := a.Watch(t.Context())
	var gone []*Membership
	for i := 0; i < 4; i++ {
		b := startMemberWith(t, port, testCookie, nil, withProf)
		join(t, b, a.GossipAddr())
		distributetest.WaitForWithin(t, 20*time.Second, "b alive at a", func() bool { return states(a)[b.Name()] == StateAlive })
		if i%2 == 0 {
			halt(b) // a crash: dead
		} else if err := b.Stop(context.Background()); err != nil { // left
			t.Fatal(err)
		}
		gone = append(gone, b)
	}
	distributetest.WaitForWithin(t, 30*time.Second, "every gone member forgotten", func() bool {
		return len(a.Members()) == 1
	})
	// One comes back under its name: a new member to the table.
	name := gone[0].Name()
	if err := gone[0].node.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := startMemberWith(t, port, testCookie, func(c *distribute.Config) { c.Name = string(name) }, withProf)
	join(t, b, a.GossipAddr())
	deadline := time.After(distributetest.Scale(20 * time.Second))
	var seen []Event
	for {
		var ev Event
		select {
		case ev = <-evs:
		case <-deadline:
			t.Fatalf("no alive event for the returning %s; events %v", name, seen)
		}
		if ev.Member.Name != name {
			continue
		}
		seen = append(seen, ev)
		if ev.Member.State == StateAlive && len(seen) > 1 {
			// The first life: alive (Prev 0), maybe suspect, dead. The
			// second: alive with Prev 0 again, the name forgotten between.
			if ev.Prev != 0 {
				t.Fatalf("the returning %s: %+v; want Prev 0 (a new member). Events: %v", name, ev, seen)
			}
			return
		}
	}
}

// TestRestartSameAddressKeepsLinks: a node killed and restarted under
// its name (a new creation) on its old gossip address, before and after
// the old incarnation is declared dead, is alive again; the surviving
// members never cut the new node's connection, and see it come up once.
func TestRestartSameAddressKeepsLinks(t *testing.T) {
	for _, afterDead := range []bool{false, true} {
		t.Run(fmt.Sprintf("afterDead=%v", afterDead), func(t *testing.T) {
			port := distributetest.StartEpmd(t)
			a, c := startMember(t, port, testCookie), startMember(t, port, testCookie)
			name := fmt.Sprintf("re%d_%d@localhost", os.Getpid(), seq.Add(1))
			ctx := context.Background()
			n1, err := distribute.Start(ctx, distribute.Config{Name: name, Cookie: testCookie, EpmdPort: port, ListenAddr: "127.0.0.1:0"})
			if err != nil {
				t.Fatal(err)
			}
			b, err := Start(ctx, n1, Config{Cookie: testCookie, GossipAddr: restartableAddr(t), Profile: Local(), Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			join(t, c, a.GossipAddr())
			join(t, b, a.GossipAddr())
			for _, m := range []*Membership{a, c} {
				distributetest.WaitForWithin(t, 20*time.Second, "full mesh", func() bool { return len(m.Alive()) == 3 && m.node.IsConnected(b.Name()) })
			}
			evA, evC := watchNodes(t, a.node), watchNodes(t, c.node)
			gossip := b.GossipAddr()
			// The crash: gossip stops, the node's connections close.
			halt(b)
			if err := n1.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			// Until a and c have seen the old connection close, it still
			// counts as connected, and would pass for the new one below.
			for _, ev := range []*nodeEvents{evA, evC} {
				distributetest.WaitForWithin(t, 20*time.Second, "the crash's nodedown", func() bool {
					_, down := ev.count(b.Name())
					return down > 0
				})
			}
			if afterDead {
				for _, m := range []*Membership{a, c} {
					distributetest.WaitForWithin(t, 20*time.Second, "the old incarnation dead", func() bool { return states(m)[b.Name()] == StateDead })
				}
			}
			restarted := time.Now()
			n2, err := distribute.Start(ctx, distribute.Config{Name: name, Cookie: testCookie, EpmdPort: port, ListenAddr: "127.0.0.1:0"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { n2.Stop(ctx) })
			b2, err := Start(ctx, n2, Config{Cookie: testCookie, GossipAddr: gossip, Profile: Local(), Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b2.Stop(ctx) })
			join(t, b2, a.GossipAddr())
			// The nodeup is published after IsConnected turns true: wait
			// for it too.
			for _, x := range []struct {
				m  *Membership
				ev *nodeEvents
			}{{a, evA}, {c, evC}} {
				distributetest.WaitForWithin(t, 20*time.Second, "the restarted node alive, connected, its nodeup seen", func() bool {
					up, _ := x.ev.count(b2.Name())
					return states(x.m)[b2.Name()] == StateAlive && x.m.node.IsConnected(b2.Name()) && up > 0
				})
			}
			t.Logf("alive and connected everywhere %v after the restart", time.Since(restarted).Round(time.Millisecond))
			// Long enough for any cut to happen: more status reads than a
			// suspicion would need to end.
			refreshN(t, a, 10)
			refreshN(t, c, 10)
			for _, x := range []struct {
				who string
				ev  *nodeEvents
			}{{"a", evA}, {"c", evC}} {
				up, down := x.ev.count(b2.Name())
				if up != 1 || down != 1 {
					t.Errorf("%s saw the restarted node up %d times, down %d; want the crash's one down and one up", x.who, up, down)
				}
			}
			if _, down := evA.count(c.Name()); down != 0 {
				t.Errorf("a lost c %d times", down)
			}
		})
	}
}

// TestRestartNewAddressBeforeDeadKeepsLinks: the node restarts on a new
// gossip port (a re-created pod) while the old incarnation is still alive
// or suspect to the others. Memberlist refuses the new address until the
// old one is dead; meanwhile the new node is connected (it joined through
// the distribution), and the death of the old incarnation must not cut
// it. Once the name may move, the members join the new address
// themselves (PushPullInterval is an hour here, so nothing else would
// bring it in).
func TestRestartNewAddressBeforeDeadKeepsLinks(t *testing.T) {
	port := distributetest.StartEpmd(t)
	prof := Local()
	prof.PushPullInterval = time.Hour
	var na, nc *distribute.Node
	a := startMemberWith(t, port, testCookie, nil, func(c *Config) { c.Profile = prof; c.Resolve = resolverOn(&na) })
	c := startMemberWith(t, port, testCookie, nil, func(c *Config) { c.Profile = prof; c.Resolve = resolverOn(&nc) })
	na, nc = a.node, c.node
	name := fmt.Sprintf("rn%d_%d@localhost", os.Getpid(), seq.Add(1))
	ctx := context.Background()
	n1, err := distribute.Start(ctx, distribute.Config{Name: name, Cookie: testCookie, EpmdPort: port, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Start(ctx, n1, Config{Cookie: testCookie, Profile: prof, Resolve: resolverOn(&n1), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Membership{a, b, c} {
		serveGossipAddr(t, m)
	}
	join(t, c, a.GossipAddr())
	join(t, b, a.GossipAddr())
	for _, m := range []*Membership{a, c} {
		distributetest.WaitForWithin(t, 20*time.Second, "full mesh", func() bool { return len(m.Alive()) == 3 && m.node.IsConnected(b.Name()) })
	}
	evA, evC := watchNodes(t, a.node), watchNodes(t, c.node)
	halt(b)
	if err := n1.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	n2, err := distribute.Start(ctx, distribute.Config{Name: name, Cookie: testCookie, EpmdPort: port, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n2.Stop(ctx) })
	b2, err := Start(ctx, n2, Config{Cookie: testCookie, Profile: prof, Resolve: resolverOn(&n2), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b2.Stop(ctx) })
	// The new node connects at once (as `distribute node --join` does to
	// resolve its seed), and joins once.
	for _, m := range []*Membership{a, c} {
		if err := n2.Connect(ctx, m.Name()); err != nil {
			t.Fatal(err)
		}
	}
	join(t, b2, a.GossipAddr())
	// Until the old incarnation is dead everywhere, the new node answers
	// the resolver without a gossip address, as a node still starting
	// does (the cluster package: no distribute:info() yet).
	for _, m := range []*Membership{a, c} {
		distributetest.WaitForWithin(t, 30*time.Second, "the old incarnation dead", func() bool {
			mb, ok := m.Member(b2.Name())
			return ok && (mb.State == StateDead || mb.Gossip == b2.GossipAddr())
		})
	}
	serveGossipAddr(t, b2)
	for _, m := range []*Membership{a, c} {
		distributetest.WaitForWithin(t, 30*time.Second, "the restarted node alive at its new address", func() bool {
			mb, ok := m.Member(b2.Name())
			return ok && mb.State == StateAlive && mb.Gossip == b2.GossipAddr()
		})
	}
	t.Logf("alive at the new address everywhere %v after the restart", time.Since(restarted).Round(time.Millisecond))
	refreshN(t, a, 10)
	refreshN(t, c, 10)
	for _, x := range []struct {
		who string
		m   *Membership
		ev  *nodeEvents
	}{{"a", a, evA}, {"c", c, evC}} {
		up, down := x.ev.count(b2.Name())
		if up != 1 || down != 1 || !x.m.node.IsConnected(b2.Name()) {
			t.Errorf("%s saw the restarted node up %d times, down %d (connected %v); want the crash's one down and one up", x.who, up, down, x.m.node.IsConnected(b2.Name()))
		}
	}
}

// TestSeedsRetriedInBackground: a member whose seeds do not answer starts
// anyway and keeps trying; it joins once a seed comes up.
func TestSeedsRetriedInBackground(t *testing.T) {
	port := distributetest.StartEpmd(t)
	seedName := distribute.Atom(fmt.Sprintf("seed%d_%d@localhost", os.Getpid(), seq.Add(1)))
	var seed sync.Map
	resolve := func(ctx context.Context, node distribute.Atom) (string, error) {
		if m, ok := seed.Load(node); ok {
			return m.(*Membership).GossipAddr(), nil
		}
		return "", fmt.Errorf("%s is not up", node)
	}
	a := startMemberWith(t, port, testCookie, nil, func(c *Config) {
		c.Resolve = resolve
		c.Seeds = []distribute.Atom{seedName}
	})
	if !a.Joining() || a.Joined() {
		t.Fatalf("Joining %v, Joined %v with no seed up; want joining", a.Joining(), a.Joined())
	}
	s := startMemberWith(t, port, testCookie, func(c *distribute.Config) { c.Name = string(seedName) }, nil)
	seed.Store(seedName, s)
	distributetest.WaitForWithin(t, 30*time.Second, "the member joined through its seed", func() bool {
		return states(a)[seedName] == StateAlive && states(s)[a.Name()] == StateAlive
	})
	distributetest.WaitForWithin(t, 10*time.Second, "Joining over", func() bool { return !a.Joining() && a.Joined() })
}

// TestSeedsSelfIgnored: a member listed among its own seeds does not
// wait for itself; alone with only itself as seed it is not joining.
func TestSeedsSelfIgnored(t *testing.T) {
	ctx := context.Background()
	m, err := Start(ctx, nil, Config{Name: "selfseed@localhost", Cookie: testCookie, Profile: Local(), Seeds: []distribute.Atom{"selfseed@localhost"},
		Resolve: func(context.Context, distribute.Atom) (string, error) { return "", fmt.Errorf("unused") }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop(ctx)
	if m.Joining() {
		t.Error("joining with only itself as seed")
	}
	if _, err := Start(ctx, nil, Config{Name: "noresolve@localhost", Cookie: testCookie, Seeds: []distribute.Atom{"x@localhost"}}); err == nil {
		t.Error("Seeds without Resolve accepted")
	}
}

// TestDataDirKeepsGossipPort: with DataDir, a restarted member binds its
// old gossip port; when that is taken, a new one, recorded.
func TestDataDirKeepsGossipPort(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	start := func() *Membership {
		t.Helper()
		m, err := Start(ctx, nil, Config{Name: "dd@localhost", Cookie: testCookie, Profile: Local(), DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := start()
	first := m.GossipAddr()
	halt(m)
	m = start()
	if m.GossipAddr() != first {
		t.Errorf("restarted on %s; want the kept %s", m.GossipAddr(), first)
	}
	// The port is taken (m still holds it): a new port, recorded.
	m2, err := Start(ctx, nil, Config{Name: "dd2@localhost", Cookie: testCookie, Profile: Local(), DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if m2.GossipAddr() == first {
		t.Fatal("bound a taken port")
	}
	b, _ := os.ReadFile(filepath.Join(dir, portFile))
	if _, p, _ := strings.Cut(m2.GossipAddr(), ":"); strings.TrimSpace(string(b)) != p {
		t.Errorf("kept %q; want %s", b, p)
	}
	m.Stop(ctx)
	m2.Stop(ctx)
	os.WriteFile(filepath.Join(dir, portFile), []byte("junk"), 0o644)
	if m3, err := Start(ctx, nil, Config{Name: "dd3@localhost", Cookie: testCookie, Profile: Local(), DataDir: dir}); err == nil {
		m3.Stop(ctx)
		t.Error("a junk port file accepted")
	}
}

// TestTwoProcessesOneNameWarned: a name claimed from a second address
// while the first stays alive (two live processes with one name, a
// misconfiguration) is logged at warning level once it outlasts the
// detection bound.
func TestTwoProcessesOneNameWarned(t *testing.T) {
	ctx := context.Background()
	var logs distributetest.LogBuffer
	a, err := Start(ctx, nil, Config{Name: "dupa@localhost", Cookie: testCookie, Profile: Local(),
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop(ctx)
	var dups []*Membership
	for range 2 {
		d, err := Start(ctx, nil, Config{Name: "dup@localhost", Cookie: testCookie, Profile: Local()})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Stop(ctx)
		dups = append(dups, d)
		join(t, d, a.GossipAddr())
	}
	distributetest.WaitForWithin(t, 30*time.Second, "the warning", func() bool {
		return strings.Contains(logs.String(), "two processes claim one member name")
	})
}

// TestRefutedDeathKeepsConnection: a member SWIM declares dead that is
// alive after all (a loaded machine, lost packets) refutes with a new
// incarnation; its distribution connection must survive. The cut used to
// come as soon as the member was dead, before it could refute, and at
// scale each such cut set off `global`'s overlapping-partition
// disconnects across the cluster. Here gossip between a and b is cut just
// long enough for a to declare b dead, then healed.
func TestRefutedDeathKeepsConnection(t *testing.T) {
	port := distributetest.StartEpmd(t)
	prof := Local()
	prof.DisconnectGrace = distributetest.Scale(5 * time.Second)
	withProf := func(c *Config) { c.Profile = prof }
	aLog := &msgLog{}
	a := startMemberWith(t, port, testCookie, nil, func(c *Config) { c.Profile, c.Logger = prof, slog.New(aLog) })
	b := startMemberWith(t, port, testCookie, nil, withProf)
	join(t, b, a.GossipAddr())
	distributetest.WaitForWithin(t, 20*time.Second, "a alive and connected to b", func() bool {
		return states(a)[b.Name()] == StateAlive && a.node.IsConnected(b.Name())
	})
	ev := watchNodes(t, a.node)
	_, mark := ev.lastDown(b.Name())
	before, _ := a.Member(b.Name())
	partition(a, b, true)
	distributetest.WaitForWithin(t, 20*time.Second, "a declares b dead", func() bool { return states(a)[b.Name()] == StateDead })
	partition(a, b, false)
	distributetest.WaitForWithin(t, 20*time.Second, "b refutes: alive on a in a new incarnation", func() bool {
		mb, _ := a.Member(b.Name())
		return mb.State == StateAlive && mb.Incarnation > before.Incarnation
	})
	// At the end of the grace a decides, and logs it: kept or cut.
	distributetest.WaitForWithin(t, prof.DisconnectGrace+20*time.Second, "a's decision at the end of the grace", func() bool {
		return aLog.has("a member declared dead refuted it; connection kept") || aLog.has("disconnected dead member")
	})
	if up, down := ev.countFrom(b.Name(), mark); down != 0 || up != 0 || !a.node.IsConnected(b.Name()) {
		t.Fatalf("after b refuted: %d node down, %d up, connected %v; want the connection kept", down, up, a.node.IsConnected(b.Name()))
	}
}

// msgLog is a slog.Handler that keeps the message of every record, for a
// test to wait on a decision the code logs.
type msgLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *msgLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *msgLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *msgLog) WithGroup(string) slog.Handler            { return l }

func (l *msgLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}

// has reports whether a record with message msg was logged.
func (l *msgLog) has(msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		if m == msg {
			return true
		}
	}
	return false
}
