package distribute

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// TestLosingDialIsAbandoned: a's dial to b is still on its way when b's
// dial to a completes (b's name is greater, so b's connection is the one
// that stands). a disconnects b at once. The leftover dial must not
// connect the pair again.
func TestLosingDialIsAbandoned(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := startNode(t, port, func(c *Config) { c.Name = "dial_a@localhost" })
	b := startNode(t, port, func(c *Config) { c.Name = "dial_b@localhost" })
	ctx := testCtx(t)
	entered, release, ended := make(chan struct{}), make(chan struct{}), make(chan struct{})
	a.hooks.Store(&testHooks{
		hookDialStart: func(node Atom) {
			close(entered)
			<-release
		},
		hookDialEnd: func(node Atom) { close(ended) },
	})
	go a.Connect(ctx, b.Name()) // the dial, held before its epmd lookup
	<-entered
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the nodes stop
	if err := b.Connect(ctx, a.Name()); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitFor(t, "a sees b", func() bool { return a.IsConnected(b.Name()) })
	a.Disconnect(b.Name())
	distributetest.WaitFor(t, "both see the disconnect", func() bool { return !a.IsConnected(b.Name()) && !b.IsConnected(a.Name()) })
	unblock()
	select {
	case <-ended:
	case <-time.After(distributetest.Scale(20 * time.Second)):
		t.Fatal("the leftover dial never ended")
	}
	if a.IsConnected(b.Name()) || b.IsConnected(a.Name()) {
		t.Fatal("the leftover dial connected the pair again after Disconnect")
	}
}

// TestReconnectDuringNodeDown: while a still handles the loss of its
// connection to b (links and monitors to b fire), b connects again and
// links a process of its own to one of a's. The old connection's nodedown
// must not take the new link: when b's process exits, a's learns it.
func TestReconnectDuringNodeDown(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := startNode(t, port)
	b := startNode(t, port)
	ctx := testCtx(t)
	if err := a.Connect(ctx, b.Name()); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	waiting := make(chan struct{}, 1)
	var first atomic.Bool
	a.hooks.Store(&testHooks{
		hookPeerDown: func(node Atom) {
			if first.CompareAndSwap(false, true) {
				close(entered)
				<-release
			}
		},
		hookInstallWait: func(node Atom) {
			select {
			case waiting <- struct{}{}:
			default:
			}
		},
	})
	watcher, _ := a.NewProcess()
	watcher.TrapExit(true)
	events := a.WatchNodes(ctx)
	bEvents := b.WatchNodes(ctx)
	go a.Disconnect(b.Name())
	<-entered
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the nodes stop
	// b has handled the disconnect (a link made while its own nodedown
	// runs is another matter).
	for ev := range bEvents {
		if ev.Node == a.Name() && !ev.Up {
			break
		}
	}
	// b reconnects and links while a's nodedown for the old connection
	// has not run yet.
	linker, _ := b.NewProcess()
	linked := make(chan error, 1)
	go func() { linked <- linker.Link(ctx, watcher.Pid()) }()
	linkAtA := func() bool {
		watcher.mu.Lock()
		defer watcher.mu.Unlock()
		_, ok := watcher.rels().links[linker.Pid()]
		return ok
	}
	// Either a installs the new connection and takes the LINK before the
	// old connection's nodedown (the race), or the new connection waits
	// for it.
	distributetest.WaitFor(t, "the reconnect", func() bool {
		select {
		case <-waiting:
			return true
		default:
			return linkAtA()
		}
	})
	unblock()
	if err := <-linked; err != nil {
		t.Fatal(err)
	}
	// The old connection's nodedown has run once its event is out.
	for ev := range events {
		if ev.Node == b.Name() && !ev.Up {
			break
		}
	}
	distributetest.WaitFor(t, "the link made over the new connection, at a", linkAtA)
	linker.Exit(Atom("boom"))
	m, err := func() (any, error) {
		c, cancel := context.WithTimeout(ctx, distributetest.Scale(10*time.Second))
		defer cancel()
		return watcher.ReceiveMatch(c, func(m any) bool { e, ok := m.(Exit); return ok && e.From == linker.Pid() })
	}()
	if err != nil {
		t.Fatalf("a's process never learnt that the linked process on b exited: %v", err)
	}
	if e := m.(Exit); e.Reason != Atom("boom") {
		t.Fatalf("exit %+v; want reason boom", e)
	}
}

// TestQuickRedialIsAccepted: a connects to b, drops the connection and
// dials again while b has not finished installing the connection it
// accepted (its install waits for the down handling of the one before).
// b's name is greater, so an attempt of b's own in flight would make it
// answer a's send_name "nok"; but b is not dialing: the leftover of the
// accepted connection must not count as a dial of b's. a's new
// connection comes up at once and stays up once b catches up.
func TestQuickRedialIsAccepted(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := startNode(t, port, func(c *Config) { c.Name = "redial_a@localhost" })
	b := startNode(t, port, func(c *Config) { c.Name = "redial_b@localhost" })
	ctx := testCtx(t)
	if err := a.Connect(ctx, b.Name()); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitFor(t, "b sees a", func() bool { return b.IsConnected(a.Name()) })
	// b's down handling of the first connection is held: the next
	// connection b accepts waits to be installed.
	entered, release := make(chan struct{}), make(chan struct{})
	waiting := make(chan struct{}, 4)
	var first atomic.Bool
	b.hooks.Store(&testHooks{
		hookPeerDown: func(node Atom) {
			if first.CompareAndSwap(false, true) {
				close(entered)
				<-release
			}
		},
		hookInstallWait: func(node Atom) { waiting <- struct{}{} },
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the nodes stop
	a.Disconnect(b.Name())
	<-entered
	// The second connection: up at a, waiting at b.
	if err := a.Connect(ctx, b.Name()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-waiting:
	case <-time.After(distributetest.Scale(10 * time.Second)):
		t.Fatal("b never got to install the second connection")
	}
	// a drops it and dials again at once.
	a.Disconnect(b.Name())
	cctx, cancel := context.WithTimeout(ctx, distributetest.Scale(5*time.Second))
	err := a.Connect(cctx, b.Name())
	cancel()
	if err != nil {
		t.Fatalf("the quick redial: %v; b's half-installed accepted connection must not answer as a dial of b's", err)
	}
	unblock()
	// b catches up: the pair ends connected, on the newest connection.
	distributetest.WaitFor(t, "both see the third connection", func() bool { return a.IsConnected(b.Name()) && b.IsConnected(a.Name()) })
	p, _ := b.NewProcess()
	q, _ := a.NewProcess()
	if err := q.Send(ctx, p.Pid(), Atom("hello")); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(ctx, distributetest.Scale(10*time.Second))
	defer rcancel()
	if m, err := p.Receive(rctx); err != nil || m != Atom("hello") {
		t.Fatalf("over the new connection: %v, %v", m, err)
	}
	if !a.IsConnected(b.Name()) || !b.IsConnected(a.Name()) {
		t.Fatal("the connection dropped after b caught up")
	}
}
