package distribute

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

func clientNode(t *testing.T) *Node {
	t.Helper()
	return startNode(t, 4369, func(c *Config) { c.ClientOnly = true })
}

func TestSpawnHandlerOrderAndConcurrency(t *testing.T) {
	n := clientNode(t)
	out, _ := n.NewProcess()
	const senders, per = 8, 2000
	last := make(map[int64]int64)
	h, _ := n.SpawnHandler(func(ctx context.Context, p *Process, m any) error {
		v := m.(etf.Tuple)
		s, i := v[0].(int64), v[1].(int64)
		if i != last[s]+1 {
			return &ExitError{Reason: etf.Tuple{Atom("out_of_order"), s, i}}
		}
		last[s] = i
		if i == per {
			p.Send(ctx, out.Pid(), s)
		}
		return nil
	})
	var wg sync.WaitGroup
	for s := int64(1); s <= senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sp, _ := n.NewProcess()
			for i := int64(1); i <= per; i++ {
				sp.Send(context.Background(), h.Pid(), etf.Tuple{s, i})
			}
		}()
	}
	wg.Wait()
	for i := 0; i < senders; i++ {
		receiveWithin(t, out, nil)
	}
	if !h.Alive() {
		t.Fatalf("handler exited: %v", h.Reason())
	}
}

func TestSpawnHandlerExitPanicAndCall(t *testing.T) {
	n := clientNode(t)
	ctx := testCtx(t)
	echo, _ := n.SpawnHandler(func(ctx context.Context, p *Process, m any) error {
		if from, req, ok := ParseCall(m); ok {
			return p.Reply(ctx, from, req)
		}
		return nil
	})
	// A handler that calls another process inside its handler.
	caller, _ := n.SpawnHandler(func(ctx context.Context, p *Process, m any) error {
		switch m {
		case Atom("call"):
			r, err := p.Call(ctx, echo.Pid(), Atom("hi"))
			if err != nil || r != Atom("hi") {
				return &ExitError{Reason: Atom("call_failed")}
			}
			return &ExitError{Reason: Atom("called")}
		case Atom("boom"):
			panic("boom")
		}
		return nil
	})
	w, _ := n.NewProcess()
	ref, _ := w.Monitor(ctx, caller.Pid())
	w.Send(ctx, caller.Pid(), Atom("call"))
	d := receiveWithin(t, w, nil).(Down)
	if d.Ref != ref || d.Reason != Atom("called") {
		t.Fatalf("got %+v; want Down called", d)
	}
	panicker, _ := n.SpawnHandler(func(ctx context.Context, p *Process, m any) error { panic("boom") })
	ref, _ = w.Monitor(ctx, panicker.Pid())
	w.Send(ctx, panicker.Pid(), Atom("x"))
	d = receiveWithin(t, w, nil).(Down)
	if tup, ok := d.Reason.(etf.Tuple); !ok || tup[0] != Atom("panic") {
		t.Fatalf("got %+v; want a panic reason", d)
	}
	select {
	case <-panicker.Done():
	case <-time.After(distributetest.Scale(5 * time.Second)):
		t.Fatal("panicked handler process did not exit")
	}
}

// TestGoexitEndsTheProcess: a process function, a handler or a spawned
// function that calls runtime.Goexit (t.FailNow does) exits its process
// with {error, <<"runtime.Goexit">>}: monitors fire and the pid is gone,
// instead of a process left in the table with no goroutine.
func TestGoexitEndsTheProcess(t *testing.T) {
	n := startNode(t, distributetest.StartEpmd(t))
	ctx := testCtx(t)
	w, _ := n.NewProcess()
	spawned, _ := n.Spawn(func(ctx context.Context, p *Process) error {
		p.Receive(ctx)
		runtime.Goexit()
		return nil
	})
	handler, _ := n.SpawnHandler(func(ctx context.Context, p *Process, m any) error {
		runtime.Goexit()
		return nil
	})
	for _, p := range []*Process{spawned, handler} {
		ref, err := w.Monitor(ctx, p.Pid())
		if err != nil {
			t.Fatal(err)
		}
		w.Send(ctx, p.Pid(), Atom("go"))
		d, ok := receiveWithin(t, w, nil).(Down)
		if !ok || d.Ref != ref || !etf.Equal(d.Reason, reasonGoexit) {
			t.Fatalf("got %+v; want Down with %s", d, etf.Format(reasonGoexit))
		}
		if n.lookup(p.Pid()) != nil || p.Alive() {
			t.Fatalf("%v still in the process table after Goexit", p.Pid())
		}
	}
}
