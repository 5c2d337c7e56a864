package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
)

const testCookie = "membership-test-cookie"

var seq atomic.Int64

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("MEMBERSHIP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// startMember starts a distribution node and a member on it.
func startMember(t testing.TB, epmdPort int, cookie string) *Membership {
	t.Helper()
	return startMemberWith(t, epmdPort, cookie, nil, nil)
}

// startMemberWith is startMember with the node's and the member's
// configurations adjusted by nodeCfg and cfg (either may be nil).
func startMemberWith(t testing.TB, epmdPort int, cookie string, nodeCfg func(*distribute.Config), cfg func(*Config)) *Membership {
	t.Helper()
	ctx := context.Background()
	nc := distribute.Config{Name: fmt.Sprintf("m%d_%d@localhost", os.Getpid(), seq.Add(1)), Cookie: cookie, EpmdPort: epmdPort, ListenAddr: "127.0.0.1:0"}
	if nodeCfg != nil {
		nodeCfg(&nc)
	}
	n, err := distribute.Start(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	mc := Config{Cookie: cookie, Profile: Local(), Logger: testLogger(t)}
	if cfg != nil {
		cfg(&mc)
	}
	m, err := Start(ctx, n, mc)
	if err != nil {
		n.Stop(ctx)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Stop(ctx)
		n.Stop(ctx)
	})
	return m
}

// restartableAddr returns a loopback gossip address for a member that a
// test restarts on the same address: its port is free for TCP and UDP
// and lies below the kernel's ephemeral range. A port got with :0 comes
// from that range, and once its member dies the kernel may hand it to
// any connect or bind(0) on the machine before the restart binds it
// again (a loaded run failed so: "bind: address already in use").
func restartableAddr(t testing.TB) string {
	t.Helper()
	low := 32768 // Linux's default start of the ephemeral range
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 2048 {
				low = n
			}
		}
	}
	for range 200 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(low/2+rand.IntN(low/2)))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return addr
	}
	t.Fatalf("no free port below %d", low)
	return ""
}

func states(m *Membership) map[distribute.Atom]State {
	out := make(map[distribute.Atom]State)
	for _, mb := range m.Members() {
		out[mb.Name] = mb.State
	}
	return out
}

func TestInProcessJoinAndLeave(t *testing.T) {
	port := distributetest.StartEpmd(t)
	ms := []*Membership{startMember(t, port, testCookie), startMember(t, port, testCookie), startMember(t, port, testCookie)}
	ctx := context.Background()
	for _, m := range ms[1:] {
		join(t, m, ms[0].GossipAddr())
	}
	for _, m := range ms {
		distributetest.WaitForWithin(t, 10*time.Second, "3 alive at "+string(m.Name()), func() bool { return len(m.Alive()) == 3 })
	}
	// full mesh
	for _, m := range ms {
		for _, o := range ms {
			if o != m {
				distributetest.WaitForWithin(t, 10*time.Second, "connected", func() bool { return m.node.IsConnected(o.Name()) })
			}
		}
	}
	// Leader is this member's view: a member suspected for a moment (a
	// loaded machine) is not alive, so wait for the view to settle.
	distributetest.WaitForWithin(t, 10*time.Second, "leader "+string(ms[2].Name()), func() bool { l, _ := ms[0].Leader(); return l == ms[2].Name() })
	ms[2].Stop(ctx)
	for _, m := range ms[:2] {
		distributetest.WaitForWithin(t, 10*time.Second, "left", func() bool { return states(m)[ms[2].Name()] == StateLeft })
	}
}

// halt stops a member without leaving: a crash, as the others see it.
func halt(m *Membership) { m.stop(context.Background(), false) }

// TestDeadMemberDisconnected: SWIM, not the distribution tick, decides.
// A member whose gossip dies while its distribution node runs on is
// declared dead, disconnected, and monitors of its processes fire with
// noconnection.
func TestDeadMemberDisconnected(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a, b := startMember(t, port, testCookie), startMember(t, port, testCookie)
	ctx := context.Background()
	join(t, b, a.GossipAddr())
	distributetest.WaitForWithin(t, 10*time.Second, "connected", func() bool { return a.node.IsConnected(b.Name()) })
	target, err := b.node.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	watcher, err := a.node.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watcher.Monitor(ctx, target.Pid()); err != nil {
		t.Fatal(err)
	}
	halt(b)
	rctx, cancel := context.WithTimeout(ctx, distributetest.Scale(20*time.Second))
	defer cancel()
	msg, err := watcher.Receive(rctx)
	if err != nil {
		t.Fatalf("no Down: %v", err)
	}
	down, ok := msg.(distribute.Down)
	if !ok || down.Reason != distribute.Atom("noconnection") {
		t.Fatalf("got %#v; want a Down with reason noconnection", msg)
	}
	if mb, _ := a.Member(b.Name()); mb.State != StateDead {
		t.Errorf("%s is %v; want dead", b.Name(), mb.State)
	}
	if a.node.IsConnected(b.Name()) {
		t.Error("still connected to a dead member")
	}
}

func TestJoinNodeWithResolver(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := startMember(t, port, testCookie)
	ctx := context.Background()
	n, err := distribute.Start(ctx, distribute.Config{Name: fmt.Sprintf("r%d@localhost", os.Getpid()), Cookie: testCookie, EpmdPort: port, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop(ctx)
	var asked []distribute.Atom
	b, err := Start(ctx, n, Config{Cookie: testCookie, Profile: Local(), Resolve: func(ctx context.Context, node distribute.Atom) (string, error) {
		asked = append(asked, node)
		if node == a.Name() {
			return a.GossipAddr(), nil
		}
		return "", fmt.Errorf("unknown node %s", node)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop(ctx)
	if _, err := b.JoinNode(ctx, "nobody@localhost"); !errors.Is(err, ErrJoin) {
		t.Errorf("JoinNode(unknown) = %v; want ErrJoin", err)
	}
	if k, err := b.JoinNode(ctx, "nobody@localhost", a.Name()); err != nil || k != 1 {
		t.Fatalf("JoinNode = %d, %v", k, err)
	}
	distributetest.WaitForWithin(t, 10*time.Second, "2 alive", func() bool { return len(a.Alive()) == 2 && len(b.Alive()) == 2 })
	if len(asked) != 3 {
		t.Errorf("resolver asked %v; want 3 lookups", asked)
	}
	if _, err := a.JoinNode(ctx, b.Name()); !errors.Is(err, ErrNoResolver) {
		t.Errorf("JoinNode without resolver = %v; want ErrNoResolver", err)
	}
}

func TestWatchAndLifecycle(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := Start(ctx, nil, Config{Name: "wa@localhost", Cookie: testCookie, Profile: Local()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop(ctx)
	evs := a.Watch(ctx)
	first := <-evs
	if first.Member.Name != "wa@localhost" || !first.Member.Self || first.Member.State != StateAlive || first.Prev != 0 {
		t.Fatalf("first event %+v; want self alive", first)
	}
	b, err := Start(ctx, nil, Config{Name: "wb@localhost", Cookie: testCookie, Profile: Local()})
	if err != nil {
		t.Fatal(err)
	}
	join(t, b, a.GossipAddr())
	next := func(want State) Event {
		t.Helper()
		for {
			select {
			case ev := <-evs:
				if ev.Member.Name == "wb@localhost" && ev.Member.State == want {
					return ev
				}
			case <-time.After(distributetest.Scale(20 * time.Second)):
				t.Fatalf("no %v event for wb", want)
			}
		}
	}
	if ev := next(StateAlive); ev.Prev != 0 || ev.Member.Gossip != b.GossipAddr() {
		t.Errorf("join event %+v", ev)
	}
	if l, ok := a.Leader(); !ok || l != "wb@localhost" {
		t.Errorf("Leader = %s, %v; want wb@localhost", l, ok)
	}
	halt(b)
	if ev := next(StateSuspect); ev.Prev != StateAlive {
		t.Errorf("suspect event %+v", ev)
	}
	if ev := next(StateDead); ev.Prev != StateSuspect {
		t.Errorf("dead event %+v", ev)
	}
	if l, _ := a.Leader(); l != "wa@localhost" {
		t.Errorf("Leader after death = %s; want wa@localhost", l)
	}
	if !a.Joined() {
		t.Error("Joined false after a member joined")
	}
	// After Stop: closed channel, ErrClosed, idempotent Stop.
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	for range evs {
	}
	if _, ok := <-a.Watch(ctx); ok {
		t.Error("Watch after Stop gave an event")
	}
	if _, err := a.Join(ctx, b.GossipAddr()); !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Join after Stop = %v; want ErrClosed", err)
	}
	if err := a.Refresh(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Refresh after Stop = %v; want ErrClosed", err)
	}
}

func TestConfigErrors(t *testing.T) {
	ctx := context.Background()
	for _, c := range []Config{
		{Cookie: "c"},
		{Name: "a@h"},
		{Name: "a@h", Cookie: "c", GossipAddr: "localhost:0"},
		{Name: "a@h", Cookie: "c", GossipAddr: "127.0.0.1"},
		{Name: "a@h", Cookie: "c", GossipAddr: "127.0.0.1:99999"},
		{Name: "a@h", Cookie: "c", Profile: Profile{Name: "zero", ProbeInterval: time.Second}},
		{Name: "a@h", Cookie: "c", ConnectRetry: -1},
	} {
		m, err := Start(ctx, nil, c)
		if err == nil {
			m.Stop(ctx)
			t.Errorf("Start(%+v) succeeded", c)
			continue
		}
		if !errors.Is(err, ErrConfig) && !errors.Is(err, ErrMeta) {
			t.Errorf("Start(%+v) = %v; want ErrConfig or ErrMeta", c, err)
		}
	}
	a, err := Start(ctx, nil, Config{Name: "c@localhost", Cookie: "c", Profile: Local()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop(ctx)
	if _, err := a.Join(ctx); !errors.Is(err, ErrJoin) {
		t.Errorf("Join() = %v; want ErrJoin", err)
	}
	// The gossip port is taken.
	if b, err := Start(ctx, nil, Config{Name: "d@localhost", Cookie: "c", GossipAddr: a.GossipAddr()}); err == nil {
		b.Stop(ctx)
		t.Error("Start on a used port succeeded")
	}
}

// TestStopUnderTraffic stops many converged members at once, each while
// the others still gossip to it. (memberlist's listeners block handing
// packets to a transport that stopped reading: Shutdown used to hang.)
func TestStopUnderTraffic(t *testing.T) {
	ctx := context.Background()
	for round := 0; round < 3; round++ {
		ms := make([]*Membership, 20)
		for i := range ms {
			m, err := Start(ctx, nil, Config{Name: distribute.Atom(fmt.Sprintf("st%d_%d@localhost", round, i)), Cookie: testCookie, Profile: Local()})
			if err != nil {
				t.Fatal(err)
			}
			ms[i] = m
		}
		for _, m := range ms[1:] {
			join(t, m, ms[0].GossipAddr())
		}
		// Converged: every member knows every other. (Not "all alive":
		// with the Local profile a loaded machine makes members suspect
		// each other for a while, which is gossip traffic all the same.)
		for _, m := range ms {
			distributetest.WaitForWithin(t, 20*time.Second, "every member known", func() bool { return len(m.Members()) == len(ms) })
		}
		done := make(chan struct{})
		go func() {
			var wg sync.WaitGroup
			for _, m := range ms {
				wg.Go(func() { halt(m) })
			}
			wg.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(distributetest.Scale(30 * time.Second)):
			t.Fatalf("round %d: members did not stop", round)
		}
	}
}

// TestRestartedOnNewPortRejoins: a member that crashed (no Leave) and
// comes back under the same name on another gossip port, as a restarted
// `distribute node` does by default, is taken back once the profile's
// DeadNodeReclaimTime has passed; memberlist's default would refuse it for
// good.
func TestRestartedOnNewPortRejoins(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a, b := startMember(t, port, testCookie), startMember(t, port, testCookie)
	ctx := context.Background()
	join(t, b, a.GossipAddr())
	distributetest.WaitForWithin(t, 10*time.Second, "b alive on a", func() bool { return states(a)[b.Name()] == StateAlive })
	oldGossip := b.GossipAddr()
	halt(b)
	distributetest.WaitForWithin(t, 20*time.Second, "b dead on a", func() bool { return states(a)[b.Name()] == StateDead })
	b2, err := Start(ctx, b.node, Config{Cookie: testCookie, Profile: Local(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b2.Stop(ctx) })
	if b2.GossipAddr() == oldGossip {
		t.Fatalf("restarted on the same gossip address %s", oldGossip)
	}
	// Joins are refused while the name is reclaimable only later: retry.
	distributetest.WaitForWithin(t, 20*time.Second, "the restarted member alive on a, at its new address", func() bool {
		if mb, ok := a.Member(b.Name()); ok && mb.State == StateAlive && mb.Gossip == b2.GossipAddr() {
			return true
		}
		b2.Join(ctx, a.GossipAddr())
		return false
	})
	distributetest.WaitForWithin(t, 10*time.Second, "a alive on the restarted member", func() bool { return states(b2)[a.Name()] == StateAlive })
}

// partition cuts gossip between a and b both ways (in process).
func partition(a, b *Membership, cut bool) {
	for _, p := range [][2]*Membership{{a, b}, {b, a}} {
		if !cut {
			p[0].tr.block.Store(nil)
			continue
		}
		other := p[1].GossipAddr()
		f := func(addr string) bool { return addr == other }
		p[0].tr.block.Store(&f)
	}
}

// TestPartitionLongerThanDeadTimeHeals: when a partition outlasts
// GossipToTheDeadTime, memberlist on each side forgets the other, and SWIM
// alone would never merge them again; the reconnect loop (a Join to a dead
// member's last address every ReconnectInterval) does, once the network
// heals.
func TestPartitionLongerThanDeadTimeHeals(t *testing.T) {
	port := distributetest.StartEpmd(t)
	prof := Local()
	prof.GossipToTheDeadTime = time.Second
	prof.ReconnectInterval = 300 * time.Millisecond
	start := func() *Membership {
		return startMemberWith(t, port, testCookie, nil, func(c *Config) { c.Profile = prof })
	}
	a, b := start(), start()
	join(t, b, a.GossipAddr())
	alive := func(x, y *Membership) bool { return states(x)[y.Name()] == StateAlive }
	distributetest.WaitForWithin(t, 10*time.Second, "a and b alive to each other", func() bool { return alive(a, b) && alive(b, a) })
	partition(a, b, true)
	dead := func(x, y *Membership) bool { return states(x)[y.Name()] == StateDead }
	distributetest.WaitForWithin(t, 20*time.Second, "a and b dead to each other", func() bool { return dead(a, b) && dead(b, a) })
	// Long enough for memberlist to forget the dead on both sides, while
	// the reconnect attempts keep failing.
	forgotten := time.Now().Add(3 * prof.GossipToTheDeadTime)
	distributetest.WaitForWithin(t, 10*time.Second, "the dead time to pass", func() bool { return time.Now().After(forgotten) })
	if !dead(a, b) || !dead(b, a) {
		t.Fatalf("merged through a partition: a sees %v, b sees %v", states(a), states(b))
	}
	partition(a, b, false)
	distributetest.WaitForWithin(t, 20*time.Second, "a and b alive to each other after the heal", func() bool { return alive(a, b) && alive(b, a) })
}
