package distribute

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
)

// startLocalNode starts a client-only node (no epmd, no listener).
func startLocalNode(t *testing.T) *Node {
	t.Helper()
	ctx := context.Background()
	n, err := Start(ctx, Config{Name: fmt.Sprintf("mem%d_%d@localhost", os.Getpid(), nodeSeq.Add(1)), Cookie: "distributetest", ClientOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop(context.Background()) })
	return n
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// The Done channel is made on first use; it must behave the same whether it
// was asked for before the exit, after it, or through the context.
func TestProcessDoneLazy(t *testing.T) {
	n := startLocalNode(t)

	before, _ := n.NewProcess()
	d := before.Done()
	if d == nil || isClosed(d) {
		t.Fatal("Done of a live process is nil or closed")
	}
	if before.Done() != d || before.Context().Done() != d {
		t.Fatal("Done returns different channels")
	}
	if err := before.Context().Err(); err != nil {
		t.Fatalf("Context().Err() of a live process = %v", err)
	}
	before.Exit(ReasonNormal)
	if !isClosed(d) || !isClosed(before.Done()) {
		t.Fatal("Done not closed after Exit")
	}
	if err := before.Context().Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Context().Err() after Exit = %v; want context.Canceled", err)
	}

	after, _ := n.NewProcess()
	if err := after.Context().Err(); err != nil {
		t.Fatalf("Context().Err() of a live process = %v", err)
	}
	after.Exit(ReasonNormal)
	if err := after.Context().Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Context().Err() after Exit, Done never asked = %v; want context.Canceled", err)
	}
	if !isClosed(after.Done()) || !isClosed(after.Context().Done()) {
		t.Fatal("Done asked after Exit is not closed")
	}
}

// A receive on the process's own context (or one sharing its Done channel)
// waits on the mailbox alone; the exit must still end it with ErrClosed.
func TestReceiveOwnContextExit(t *testing.T) {
	n := startLocalNode(t)
	for _, tc := range []struct {
		name string
		ctx  func(p *Process) context.Context
	}{
		{"own", func(p *Process) context.Context { return p.Context() }},
		{"value", func(p *Process) context.Context {
			return context.WithValue(p.Context(), struct{}{}, 1)
		}},
		{"background", func(p *Process) context.Context { return context.Background() }},
		{"other", func(p *Process) context.Context {
			o, _ := n.NewProcess()
			t.Cleanup(func() { o.Exit(ReasonNormal) })
			return o.Context()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := n.NewProcess()
			ctx := tc.ctx(p)
			errc := make(chan error, 1)
			go func() {
				_, err := p.Receive(ctx)
				errc <- err
			}()
			p.deliver("m")
			if err := <-errc; err != nil {
				t.Fatalf("first receive: %v", err)
			}
			go func() {
				_, err := p.Receive(ctx)
				errc <- err
			}()
			p.Exit(ReasonKill)
			if err := <-errc; !errors.Is(err, ErrClosed) {
				t.Fatalf("receive after exit: %v; want ErrClosed", err)
			}
		})
	}
}

// A context other than the process's own still ends a receive.
func TestReceiveOtherContextCancel(t *testing.T) {
	n := startLocalNode(t)
	p, _ := n.NewProcess()
	defer p.Exit(ReasonNormal)
	o, _ := n.NewProcess()
	errc := make(chan error, 1)
	go func() {
		_, err := p.Receive(o.Context())
		errc <- err
	}()
	o.Exit(ReasonNormal)
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("receive on another process's context after its exit: %v; want context.Canceled", err)
	}
	ctx, cancel := context.WithCancel(p.Context())
	go func() {
		_, err := p.Receive(ctx)
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("receive on a canceled child context: %v; want context.Canceled", err)
	}
	if !p.Alive() {
		t.Fatal("canceling a child context killed the process")
	}
}
