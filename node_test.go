package distribute

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

func TestMain(m *testing.M) {
	if name := os.Getenv("DISTRIBUTE_BENCH_SINK"); name != "" {
		port, _ := strconv.Atoi(os.Getenv("DISTRIBUTE_BENCH_EPMD"))
		runBenchSink(name, port)
		return
	}
	if mode := os.Getenv("DISTRIBUTE_BENCH_TCPECHO"); mode != "" {
		runTCPEcho(mode)
		return
	}
	distributetest.VerifyTestMain(m)
}

var nodeSeq atomic.Int64

// startNode starts a node on a private epmd port; it stops at cleanup.
func startNode(t *testing.T, epmdPort int, mutate ...func(*Config)) *Node {
	t.Helper()
	cfg := Config{
		Name:     fmt.Sprintf("go%d@localhost", nodeSeq.Add(1)),
		Cookie:   "distributetest",
		EpmdPort: epmdPort,
		// An embedded epmd, when a test needs one, stays on loopback.
		EpmdListen: fmt.Sprintf("127.0.0.1:%d", epmdPort),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
	defer cancel()
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start %s: %v", cfg.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return n
}

func testCtx(t *testing.T) context.Context {
	return distributetest.Context(t, 20*time.Second)
}

func TestTwoGoNodesPing(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := startNode(t, port)
	b := startNode(t, port)
	ctx := testCtx(t)
	if err := a.Ping(ctx, b.Name()); err != nil {
		t.Fatalf("a pings b: %v", err)
	}
	if err := b.Ping(ctx, a.Name()); err != nil {
		t.Fatalf("b pings a: %v", err)
	}
	if got := a.Nodes(); len(got) != 1 || got[0] != b.Name() {
		t.Fatalf("a.Nodes() = %v; want [%s]", got, b.Name())
	}
}

func TestPingUnknownNode(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := startNode(t, port)
	err := a.Ping(testCtx(t), "nosuch@localhost")
	if !errors.Is(err, ErrNodeDown) {
		t.Fatalf("ping unknown node: %v; want ErrNodeDown", err)
	}
}

func TestErlangPingsGo(t *testing.T) {
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{})
	g := startNode(t, erl.EpmdPort)
	if got := erl.Eval(t, fmt.Sprintf("net_adm:ping('%s')", g.Name())); got != "pong" {
		t.Fatalf("net_adm:ping = %s; want pong", got)
	}
	if err := g.Ping(testCtx(t), Atom(erl.Name)); err != nil {
		t.Fatalf("Go pings Erlang: %v", err)
	}
	if got := erl.Eval(t, "nodes(hidden)"); !strings.Contains(got, string(g.Name())) {
		t.Fatalf("nodes(hidden) = %s; want it to contain %s", got, g.Name())
	}
}

func TestMonitorNode(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := startNode(t, port)
	b := startNode(t, port)
	ctx := testCtx(t)
	p, _ := a.NewProcess()
	all, _ := a.NewProcess()
	all.MonitorNodes(true)
	p.MonitorNode(ctx, b.Name())
	if got := receiveWithin(t, all, nil); got != (NodeUp{Node: b.Name()}) {
		t.Fatalf("MonitorNodes got %#v; want NodeUp", got)
	}
	if err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	d, ok := receiveWithin(t, p, nil).(NodeDown)
	if !ok || d.Node != b.Name() {
		t.Fatalf("MonitorNode got %#v; want NodeDown of %s", d, b.Name())
	}
	if d, ok := receiveWithin(t, all, nil).(NodeDown); !ok || d.Node != b.Name() {
		t.Fatalf("MonitorNodes got %#v; want NodeDown", d)
	}
	// Monitoring an unreachable node fires at once.
	p.MonitorNode(ctx, "nosuch@localhost")
	if d, ok := receiveWithin(t, p, nil).(NodeDown); !ok || d.Node != "nosuch@localhost" {
		t.Fatalf("got %#v; want NodeDown of nosuch@localhost", d)
	}
}

// TestMonitorNodeByExitedProcess: a process that has exited (or exits
// while it asks) leaves no node monitor behind: nothing would ever remove
// it, and each call would grow the node's tables.
func TestMonitorNodeByExitedProcess(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := startNode(t, port)
	b := startNode(t, port)
	ctx := testCtx(t)
	for i := 0; i < 100; i++ {
		p, _ := a.NewProcess()
		if i%2 == 0 {
			p.Exit(ReasonNormal)
		} else {
			go p.Exit(ReasonNormal) // exits while it asks
		}
		p.MonitorNode(ctx, b.Name())
		p.MonitorNodes(true)
		<-p.Done()
	}
	a.connMu.Lock()
	byNode, all := len(a.nodeMon.byNode), len(a.nodeMon.all)
	a.connMu.Unlock()
	if byNode != 0 || all != 0 {
		t.Fatalf("exited processes left %d MonitorNode and %d MonitorNodes entries", byNode, all)
	}
}

// A node learns whether each peer published itself (a visible node), even
// when it is hidden itself and so no connection of its is visible.
func TestPublishedPeers(t *testing.T) {
	port := distributetest.StartEpmd(t)
	hidden := startNode(t, port)
	visible := startNode(t, port, func(c *Config) { c.Visibility = Visible })
	other := startNode(t, port)
	ctx := testCtx(t)
	all, _ := hidden.NewProcess()
	all.MonitorNodes(true)
	events := hidden.WatchNodes(ctx)
	for _, peer := range []*Node{visible, other} {
		if err := hidden.Connect(ctx, peer.Name()); err != nil {
			t.Fatal(err)
		}
		want := peer == visible
		if got := receiveWithin(t, all, nil); got != (NodeUp{Node: peer.Name(), Published: want}) {
			t.Fatalf("MonitorNodes got %#v; want NodeUp of %s published %v", got, peer.Name(), want)
		}
		if ev := <-events; ev.Node != peer.Name() || !ev.Up || ev.Visible || ev.Published != want {
			t.Fatalf("WatchNodes got %+v; want up, hidden, published %v", ev, want)
		}
	}
	if got := hidden.PublishedNodes(); len(got) != 1 || got[0] != visible.Name() {
		t.Fatalf("PublishedNodes = %v; want [%s]", got, visible.Name())
	}
	if got := hidden.VisibleNodes(); len(got) != 0 {
		t.Fatalf("VisibleNodes of a hidden node = %v; want none", got)
	}
	// The visible node sees a hidden peer: not published.
	if got := visible.PublishedNodes(); len(got) != 0 {
		t.Fatalf("PublishedNodes of the visible node = %v; want none", got)
	}
}

// TestConfigBounds: Start refuses settings out of range with ErrConfig,
// before it opens anything.
func TestConfigBounds(t *testing.T) {
	for _, c := range []Config{
		{ReadCoalesce: 11 * time.Millisecond},
		{TickTime: -time.Second},
		{SendBuffer: -1},
	} {
		c.Name, c.Cookie, c.ClientOnly = "bounds@localhost", "c", true
		if n, err := Start(context.Background(), c); !errors.Is(err, ErrConfig) {
			if n != nil {
				n.Stop(context.Background())
			}
			t.Errorf("Start(%+v): %v; want ErrConfig", c, err)
		}
	}
}

// TestAutoConnectOff: a process with AutoConnect off never sets up a
// connection: to a node it is not connected to, a send fails with
// ErrNodeDown, a monitor and a node monitor fire noconnection at once, a
// link and a call fail, and the nodes stay apart; once connected, it sends as any other,
// and with AutoConnect back on it connects again.
func TestAutoConnectOff(t *testing.T) {
	ctx := testCtx(t)
	port := distributetest.StartEpmd(t)
	a, b := startNode(t, port), startNode(t, port)
	target, _ := b.NewProcess()
	if err := b.Register("target", target.Pid()); err != nil {
		t.Fatal(err)
	}
	p, _ := a.NewProcess()
	if was := p.AutoConnect(false); !was {
		t.Fatal("AutoConnect was off by default")
	}
	if err := p.Send(ctx, target.Pid(), Atom("x")); !errors.Is(err, ErrNodeDown) {
		t.Fatalf("Send: %v; want ErrNodeDown", err)
	}
	if err := p.SendName(ctx, "target", b.Name(), Atom("x")); !errors.Is(err, ErrNodeDown) {
		t.Fatalf("SendName: %v; want ErrNodeDown", err)
	}
	if err := p.Link(ctx, target.Pid()); !errors.Is(err, ErrNodeDown) {
		t.Fatalf("Link: %v; want ErrNodeDown", err)
	}
	if _, err := p.Call(ctx, target.Pid(), Atom("x")); !errors.Is(err, ErrNodeDown) {
		t.Fatalf("Call: %v; want ErrNodeDown", err)
	}
	ref, err := p.Monitor(ctx, target.Pid())
	if err != nil {
		t.Fatal(err)
	}
	if d, err := p.Receive(ctx); err != nil || d != (Down{Ref: ref, Pid: target.Pid(), Reason: ReasonNoConnection}) {
		t.Fatalf("monitor: %v, %v; want Down noconnection", d, err)
	}
	p.MonitorNode(ctx, b.Name())
	if m, err := p.Receive(ctx); err != nil {
		t.Fatalf("node monitor: %v", err)
	} else if d, ok := m.(NodeDown); !ok || d.Node != b.Name() || d.Reason != "noconnection" || !errors.Is(d.Err, ErrNodeDown) {
		t.Fatalf("node monitor: %#v; want NodeDown noconnection matching ErrNodeDown", m)
	}
	if a.IsConnected(b.Name()) || b.IsConnected(a.Name()) {
		t.Fatal("a process with AutoConnect off connected the nodes")
	}
	// Connected by someone else: it sends as any process does.
	if err := a.Connect(ctx, b.Name()); err != nil {
		t.Fatal(err)
	}
	if err := p.Send(ctx, target.Pid(), Atom("over")); err != nil {
		t.Fatal(err)
	}
	if m, err := target.Receive(ctx); err != nil || m != Atom("over") {
		t.Fatalf("target got %v, %v", m, err)
	}
	// Disconnected again, and with AutoConnect back on, it connects.
	a.Disconnect(b.Name())
	distributetest.WaitFor(t, "disconnect", func() bool { return !b.IsConnected(a.Name()) })
	if was := p.AutoConnect(true); was {
		t.Fatal("AutoConnect(true) reported it was on")
	}
	if err := p.Send(ctx, target.Pid(), Atom("again")); err != nil {
		t.Fatal(err)
	}
	if m, err := target.Receive(ctx); err != nil || m != Atom("again") {
		t.Fatalf("target got %v, %v", m, err)
	}
}
