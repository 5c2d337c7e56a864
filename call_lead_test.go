package distribute

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// leadServer registers name on n: a process that hands each call's From
// and request to handle.
func leadServer(t *testing.T, n *Node, name Atom, handle func(ctx context.Context, p *Process, from From, req Term)) *Process {
	t.Helper()
	p, err := n.Spawn(func(ctx context.Context, p *Process) error {
		for {
			m, err := p.Receive(ctx)
			if err != nil {
				return nil
			}
			if from, req, ok := ParseCall(m); ok {
				handle(ctx, p, from, req)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Register(name, p.Pid()); err != nil {
		t.Fatal(err)
	}
	return p
}

// echoReply answers every call with its request.
func echoReply(ctx context.Context, p *Process, from From, req Term) { p.Reply(ctx, from, req) }

// ledFrames is the frames a's leaders read on its connection to b.
func ledFrames(t *testing.T, a, b *Node) uint64 {
	t.Helper()
	pr := a.peerIfConnected(b.Name())
	if pr == nil {
		t.Fatalf("%s not connected to %s", a.Name(), b.Name())
	}
	return pr.conn.Stats().FramesLed
}

// TestCallLeadsTheConnection: a process calling another node reads the
// reply itself (the connection counts frames read by a leader).
func TestCallLeadsTheConnection(t *testing.T) {
	a, b := twoNodes(t)
	leadServer(t, b, "echo", echoReply)
	ctx := testCtx(t)
	p, _ := a.NewProcess()
	defer p.Exit(ReasonNormal)
	for i := range 50 {
		got, err := p.CallName(ctx, "echo", b.Name(), int64(i))
		if err != nil || got != int64(i) {
			t.Fatalf("call %d: %v, %v", i, got, err)
		}
	}
	if ledFrames(t, a, b) == 0 {
		t.Fatal("no reply was read by the calling process")
	}
}

// TestCallReplyRelayedWhileLeading: a reply that does not come on the
// connection the caller leads (the callee delegates it to a third node,
// or to a process on the caller's own node) wakes the caller at once.
func TestCallReplyRelayedWhileLeading(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a, b, c := startNode(t, port), startNode(t, port), startNode(t, port)
	ctx := testCtx(t)
	// Replies from c, and from a process on a: relay answers
	// {CallerPid, CallerTag, Value} with Value to that caller.
	relay := func(n *Node) {
		r, err := n.Spawn(func(ctx context.Context, p *Process) error {
			for {
				m, err := p.Receive(ctx)
				if err != nil {
					return nil
				}
				t := m.(etf.Tuple)
				p.Reply(ctx, From{Pid: t[0].(Pid), Tag: t[1]}, t[2])
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		n.Register("relay", r.Pid())
	}
	relay(c)
	relay(a)
	leadServer(t, b, "delegate", func(ctx context.Context, p *Process, from From, req Term) {
		via := req.(etf.Tuple)
		p.SendName(ctx, "relay", via[0].(Atom), etf.Tuple{from.Pid, from.Tag, via[1]})
	})
	p, _ := a.NewProcess()
	defer p.Exit(ReasonNormal)
	for i := range 20 {
		for _, via := range []Atom{c.Name(), a.Name()} {
			// The deadline is long: only the push's wake ends the lead in time.
			cctx, cancel := context.WithTimeout(ctx, distributetest.Scale(10*time.Second))
			start := time.Now()
			got, err := p.CallName(cctx, "delegate", b.Name(), etf.Tuple{via, int64(i)})
			cancel()
			if err != nil || got != int64(i) {
				t.Fatalf("call %d via %s: %v, %v after %v", i, via, got, err, time.Since(start))
			}
		}
	}
	if ledFrames(t, a, b) == 0 {
		t.Fatal("no frame was read by the calling process")
	}
}

// silent answers nothing.
func silent(context.Context, *Process, From, Term) {}

// silentAndEcho starts two nodes, "silent" and "echo" servers on b, and
// a process p on a that has called b once (it exits at the test's end).
func silentAndEcho(t *testing.T) (a, b *Node, p *Process, ctx context.Context) {
	t.Helper()
	a, b = twoNodes(t)
	leadServer(t, b, "silent", silent)
	leadServer(t, b, "echo", echoReply)
	ctx = testCtx(t)
	p, _ = a.NewProcess()
	t.Cleanup(func() { p.Exit(ReasonNormal) })
	if _, err := p.CallName(ctx, "echo", b.Name(), Atom("up")); err != nil {
		t.Fatal(err)
	}
	return a, b, p, ctx
}

// TestCallLeaderContextEnds: a deadline or a cancel ends a call whose
// caller leads the connection; the connection stays up and the next
// call gets its reply.
func TestCallLeaderContextEnds(t *testing.T) {
	a, b, p, ctx := silentAndEcho(t)
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err := p.CallName(dctx, "silent", b.Name(), Atom("x"))
	cancel()
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call past its deadline: %v", err)
	}
	// A cancel (no deadline behind it: only the cancel can end the
	// lead, which would otherwise read until the next tick, 15 s away).
	cctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	if _, err := p.CallName(cctx, "silent", b.Name(), Atom("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled call: %v", err)
	}
	if d := time.Since(start); d > distributetest.Scale(5*time.Second) {
		t.Fatalf("canceled call returned after %v", d)
	}
	if got, err := p.CallName(ctx, "echo", b.Name(), Atom("again")); err != nil || got != Atom("again") {
		t.Fatalf("call after: %v, %v", got, err)
	}
	if ledFrames(t, a, b) == 0 {
		t.Fatal("no reply was read by the calling process")
	}
}

// TestCallLeaderExits: a caller killed while it leads its call's
// connection returns at once.
func TestCallLeaderExits(t *testing.T) {
	a, b, p, ctx := silentAndEcho(t)
	time.AfterFunc(20*time.Millisecond, func() { p.Exit(ReasonKill) })
	start := time.Now()
	if _, err := p.CallName(ctx, "silent", b.Name(), Atom("x")); err == nil {
		t.Fatal("call of a killed process succeeded")
	}
	if ctx.Err() != nil {
		t.Fatalf("call returned only at its deadline, after %v", time.Since(start))
	}
	q, _ := a.NewProcess()
	defer q.Exit(ReasonNormal)
	if got, err := q.CallName(ctx, "echo", b.Name(), Atom("again")); err != nil || got != Atom("again") {
		t.Fatalf("call after: %v, %v", got, err)
	}
}

// TestCallLeaderNodeDown: the connection failing under a leading caller
// is a node down as usual: the call fails with ErrNodeDown, node-down
// handling runs, and the node reconnects.
func TestCallLeaderNodeDown(t *testing.T) {
	a, b, p, ctx := silentAndEcho(t)
	pr := a.peerIfConnected(b.Name())
	// The peer's side drops the connection (a reset, not a stop).
	time.AfterFunc(20*time.Millisecond, func() {
		if bp := b.peerIfConnected(a.Name()); bp != nil {
			bp.conn.Abort(errors.New("test: dropped"))
		}
	})
	_, err := p.CallName(ctx, "silent", b.Name(), Atom("x"))
	if !errors.Is(err, ErrNodeDown) {
		t.Fatalf("call over a dropped connection: %v", err)
	}
	select {
	case <-pr.conn.Done():
	default:
		t.Fatal("connection not done after node down")
	}
	if got, err := p.CallName(ctx, "echo", b.Name(), Atom("again")); err != nil || got != Atom("again") {
		t.Fatalf("call after reconnect: %v, %v", got, err)
	}
}

// TestCallManyCallersOneConnection: processes calling over one
// connection at once all get their replies (one of them leads at a
// time), while a stream from the other node to a process here keeps its
// order.
func TestCallManyCallersOneConnection(t *testing.T) {
	a, b := twoNodes(t)
	leadServer(t, b, "echo", echoReply)
	ctx := testCtx(t)
	const callers, calls, stream = 8, 200, 2000
	sink, _ := a.NewProcess()
	defer sink.Exit(ReasonNormal)
	streamer, _ := b.NewProcess()
	defer streamer.Exit(ReasonNormal)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range stream {
			if err := streamer.Send(ctx, sink.Pid(), int64(i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, _ := a.NewProcess()
			defer p.Exit(ReasonNormal)
			for i := range calls {
				req := int64(c*calls + i)
				got, err := p.CallName(ctx, "echo", b.Name(), req)
				if err != nil || got != req {
					t.Errorf("call %d: %v, %v", req, got, err)
					return
				}
			}
		}()
	}
	for i := range stream {
		m, err := sink.Receive(ctx)
		if err != nil || m != int64(i) {
			t.Fatalf("stream message %d: %v, %v", i, m, err)
		}
	}
	wg.Wait()
	if ledFrames(t, a, b) == 0 {
		t.Fatal("no frame was read by a calling process")
	}
}

// TestReceiveLeadsAfterSend: a process that receives right after sending
// to another node (a ping-pong) reads the answer itself; a lead that
// gets no answer ends (the deadline, a message from elsewhere) as a
// Receive does.
func TestReceiveLeadsAfterSend(t *testing.T) {
	a, b := twoNodes(t)
	echo, err := b.Spawn(func(ctx context.Context, p *Process) error {
		for {
			m, err := p.Receive(ctx)
			if err != nil {
				return nil
			}
			if t, ok := m.(etf.Tuple); ok && len(t) == 2 {
				if to, ok := t[0].(Pid); ok && t[1] != Atom("quiet") {
					p.Send(ctx, to, t[1])
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	p, _ := a.NewProcess()
	defer p.Exit(ReasonNormal)
	for i := range 50 {
		if err := p.Send(ctx, echo.Pid(), etf.Tuple{p.Pid(), int64(i)}); err != nil {
			t.Fatal(err)
		}
		if m, err := p.Receive(ctx); err != nil || m != int64(i) {
			t.Fatalf("ping %d: %v, %v", i, m, err)
		}
	}
	if ledFrames(t, a, b) == 0 {
		t.Fatal("no answer was read by the receiving process")
	}
	// No answer: the deadline ends the receive.
	p.Send(ctx, echo.Pid(), etf.Tuple{p.Pid(), Atom("quiet")})
	dctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	if _, err := p.Receive(dctx); !errors.Is(err, ErrTimeout) {
		t.Fatalf("receive with no answer: %v", err)
	}
	cancel()
	// No answer; a local message comes instead.
	p.Send(ctx, echo.Pid(), etf.Tuple{p.Pid(), Atom("quiet")})
	q, _ := a.NewProcess()
	defer q.Exit(ReasonNormal)
	time.AfterFunc(time.Millisecond, func() { q.Send(ctx, p.Pid(), Atom("local")) })
	if m, err := p.Receive(ctx); err != nil || m != Atom("local") {
		t.Fatalf("receive: %v, %v", m, err)
	}
}

// TestLeaderHandsBackSignals: a signal whose handling may wait (here a
// LINK to a dead pid, answered with an EXIT) is not handled by a process
// that reads the connection while it waits for a reply: it goes to the
// connection's reader goroutine, in order, and the caller still gets its
// reply.
func TestLeaderHandsBackSignals(t *testing.T) {
	a, b := twoNodes(t)
	ctx := testCtx(t)
	gone, _ := a.NewProcess()
	dead := gone.Pid()
	gone.Exit(ReasonNormal)
	// On each call, linker links to the dead pid on a (a LINK on the
	// connection just before the reply), then replies; it counts the
	// noproc EXITs that come back.
	var exits atomic.Int64
	linker, err := b.Spawn(func(ctx context.Context, p *Process) error {
		p.TrapExit(true)
		for {
			m, err := p.Receive(ctx)
			if err != nil {
				return nil
			}
			if x, ok := m.(Exit); ok && x.From == dead && x.Reason == ReasonNoProc {
				exits.Add(1)
			}
			if from, req, ok := ParseCall(m); ok {
				if err := p.Link(ctx, dead); err != nil {
					t.Errorf("link: %v", err)
				}
				p.Reply(ctx, from, req)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := a.NewProcess()
	defer p.Exit(ReasonNormal)
	var pr *peer
	calls := 0
	for pr == nil || pr.conn.Stats().HandedBack == 0 {
		if ctx.Err() != nil {
			t.Fatalf("after %d calls no LINK was read by the calling process (stats %+v)", calls, pr.conn.Stats())
		}
		got, err := p.Call(ctx, linker.Pid(), int64(calls))
		if err != nil || got != int64(calls) {
			t.Fatalf("call %d: %v, %v", calls, got, err)
		}
		calls++
		pr = a.peerIfConnected(b.Name())
	}
	t.Logf("%d calls until a LINK read by the caller was handed back; stats %+v", calls, pr.conn.Stats())
	distributetest.WaitFor(t, "a noproc EXIT for every LINK", func() bool { return exits.Load() == int64(calls) })
}
