package groups

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// BenchmarkJoinVisibility measures, Go↔Go, the time from Join on A until
// B's Members shows the member (and the same for Leave): one op is one
// join made visible. Erlang's pg, measured the same way between two erl
// nodes: bench/erlang's BenchmarkErlangJoinVisibility.
func BenchmarkJoinVisibility(b *testing.B) {
	a, _, sa, sb := goPair(b)
	ctx := testCtx(b)
	p := newProc(b, a)
	g := distribute.Atom("bench")
	// B's subscription is told under the same lock that updates its
	// table: when the change arrives, B's Members shows it. (Polling
	// Members in a loop would starve the network poller instead.)
	changes := sb.Watch(ctx, g)
	wait := func(kind ChangeKind) {
		select {
		case c := <-changes:
			if c.Kind != kind {
				b.Fatalf("change %v, want %v", c.Kind, kind)
			}
		case <-ctx.Done():
			b.Fatal("no change")
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	var joinTime time.Duration
	for range b.N {
		start := time.Now()
		if err := sa.Join(ctx, g, p.Pid()); err != nil {
			b.Fatal(err)
		}
		wait(Joined)
		joinTime += time.Since(start)
		if err := sa.Leave(ctx, g, p.Pid()); err != nil {
			b.Fatal(err)
		}
		wait(Left)
	}
	b.ReportMetric(float64(joinTime.Nanoseconds())/1e3/float64(b.N), "µs/join-visible")
}

// BenchmarkBroadcast100 broadcasts a 64-byte binary from A to 100 members,
// 34 on A and 66 on B, each counting what it gets; it reports deliveries/s
// once every delivery arrived. Erlang's pg on this machine: about 1.2 M
// deliveries/s (12.2k broadcasts/s).
func BenchmarkBroadcast100(b *testing.B) {
	a, bn, sa, sb := goPair(b)
	ctx := testCtx(b)
	var delivered, target atomic.Int64
	target.Store(-1)
	allIn := make(chan struct{})
	spawnCounters := func(n *distribute.Node, s *Scope, count int) {
		pids := make([]distribute.Pid, count)
		for i := range pids {
			p, err := n.Spawn(func(ctx context.Context, p *distribute.Process) error {
				for {
					if _, err := p.Receive(ctx); err != nil {
						return nil
					}
					if delivered.Add(1) == target.Load() {
						close(allIn)
					}
				}
			})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { p.Exit(distribute.ReasonNormal) })
			pids[i] = p.Pid()
		}
		if err := s.Join(ctx, distribute.Atom("bcast"), pids...); err != nil {
			b.Fatal(err)
		}
	}
	spawnCounters(a, sa, 34)
	spawnCounters(bn, sb, 66)
	distributetest.WaitFor(b, "100 members", func() bool { return len(sa.Members(distribute.Atom("bcast"))) == 100 })
	msg := etf.Binary(make([]byte, 64))
	want := int64(100 * b.N)
	target.Store(want)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if res, err := sa.Broadcast(ctx, distribute.Atom("bcast"), msg); err != nil || res.Sent != 100 {
			b.Fatalf("Broadcast: %+v %v", res, err)
		}
	}
	// Wait blocked (not spinning, which would starve the network poller).
	select {
	case <-allIn:
	case <-time.After(distributetest.Scale(60 * time.Second)):
		b.Fatalf("%d of %d delivered", delivered.Load(), want)
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(want)/el.Seconds(), "deliveries/s")
	if got := delivered.Load(); got != want {
		b.Fatalf("%d deliveries, want %d", got, want)
	}
}

// BenchmarkMembers is the read path (pg:get_members/2): a lookup and a copy
// of the 100 members, the copy being its only allocation.
func BenchmarkMembers(b *testing.B) {
	n := startNode(b, distributetest.FreePort(b))
	s := startScope(b, n)
	ctx := testCtx(b)
	pids := make([]distribute.Pid, 100)
	for i := range pids {
		pids[i] = newProc(b, n).Pid()
	}
	if err := s.Join(ctx, distribute.Atom("g"), pids...); err != nil {
		b.Fatal(err)
	}
	var g any = distribute.Atom("g")
	b.ReportAllocs()
	for b.Loop() {
		if len(s.Members(g)) != 100 {
			b.Fatal("members")
		}
	}
}
