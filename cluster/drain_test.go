package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/membership"
	"github.com/distribute-go/distribute/rpc"
)

// slowExport exports test:slow/0 on c: it signals started, then blocks
// until release is closed (or its process ends) and returns done.
func slowExport(t *testing.T, c *Cluster) (started chan struct{}, release chan struct{}) {
	t.Helper()
	started, release = make(chan struct{}, 16), make(chan struct{})
	err := c.RPC().Register("test", "slow", 0, func(ctx context.Context, _ []etf.Term) (etf.Term, error) {
		started <- struct{}{}
		select {
		case <-release:
			return etf.Atom("done"), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return started, release
}

func memberState(c *Cluster, name distribute.Atom) membership.State {
	m, ok := c.Membership().Member(name)
	if !ok {
		return 0
	}
	return m.State
}

// TestDrainLetsCallsInFlightFinish: Drain leaves membership (the others
// see the node left, not dead), unregisters its global names while it
// stays connected, and returns once the RPC call in flight has finished,
// which its caller gets.
func TestDrainLetsCallsInFlightFinish(t *testing.T) {
	port := distributetest.StartEpmd(t)
	pid := os.Getpid()
	a := startWith(t, Config{Node: distribute.Config{Name: fmt.Sprintf("dra%d@localhost", pid), EpmdPort: port}, Profile: membership.Local()})
	b := startWith(t, Config{Node: distribute.Config{Name: fmt.Sprintf("drb%d@localhost", pid), EpmdPort: port}, Profile: membership.Local(),
		Join: []distribute.Atom{a.Node().Name()}})
	aName := a.Node().Name()
	distributetest.WaitFor(t, "a and b alive to each other", func() bool { return alive(a, b.Node().Name()) && alive(b, aName) })

	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(60*time.Second))
	defer cancel()
	p, err := a.Node().NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Exit(distribute.ReasonNormal)
	if err := a.Registry().Register(ctx, etf.Atom("drained"), p.Pid()); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitFor(t, "b to see the global name", func() bool { _, ok := b.Registry().Whereis(etf.Atom("drained")); return ok })

	started, release := slowExport(t, a)
	type result struct {
		v   etf.Term
		err error
	}
	res := make(chan result, 1)
	go func() {
		v, err := rpc.NewClient(b.Node()).Call(ctx, aName, "test", "slow")
		res <- result{v, err}
	}()
	<-started

	drained := make(chan error, 1)
	go func() { drained <- a.Drain(ctx) }()
	distributetest.WaitFor(t, "b to see a left and its global name gone", func() bool {
		_, named := b.Registry().Whereis(etf.Atom("drained"))
		return memberState(b, aName) == membership.StateLeft && !named
	})
	if !b.Node().IsConnected(aName) {
		t.Fatal("a draining is no longer connected to b: its call in flight is lost")
	}
	select {
	case err := <-drained:
		t.Fatalf("Drain returned (%v) while a call was in flight", err)
	case r := <-res:
		t.Fatalf("the call in flight ended (%v, %v) before it was released", r.v, r.err)
	default:
	}
	close(release)
	if r := <-res; r.err != nil || r.v != etf.Atom("done") {
		t.Fatalf("the call in flight = %v, %v; want done", r.v, r.err)
	}
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if st := memberState(b, aName); st != membership.StateLeft {
		t.Fatalf("b sees a %v after the drain; want left", st)
	}
}

// TestDrainDeadline: a call that does not finish holds Drain until its
// ctx ends; Drain then says so, and Stop ends the call.
func TestDrainDeadline(t *testing.T) {
	port := distributetest.StartEpmd(t)
	pid := os.Getpid()
	a := startWith(t, Config{Node: distribute.Config{Name: fmt.Sprintf("dda%d@localhost", pid), EpmdPort: port}, Profile: membership.Local()})
	b := startWith(t, Config{Node: distribute.Config{Name: fmt.Sprintf("ddb%d@localhost", pid), EpmdPort: port}, Profile: membership.Local(), NoMembership: true})
	started, _ := slowExport(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(30*time.Second))
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := rpc.NewClient(b.Node()).Call(ctx, a.Node().Name(), "test", "slow")
		errc <- err
	}()
	<-started
	dctx, dcancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer dcancel()
	if err := a.Drain(dctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain with a call that never ends = %v; want DeadlineExceeded", err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("Stop after Drain: %v", err)
	}
	if err := <-errc; err == nil {
		t.Fatal("the call held past Stop returned no error")
	}
}
