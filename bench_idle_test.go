package distribute

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// BenchmarkIdleBlockedCalls is the CPU a node spends while 1,000 of its
// processes wait in calls to a process on another node that never
// answers (both nodes in this OS process, on real TCP): what waiting
// costs when nothing arrives. Each op is 10 ms of that idleness; it
// reports the CPU used over the wall time, in percent of one core, for
// both nodes together. A design that shortens the reply path by
// spinning readers or waiting callers shows its cost here.
func BenchmarkIdleBlockedCalls(b *testing.B) {
	const callers = 1000
	port := distributetest.StartEpmd(b)
	a, hole := startBenchNode(b, port, "idlea"), startBenchNode(b, port, "idleb")
	var got atomic.Int64
	sink, err := hole.Spawn(func(ctx context.Context, p *Process) error {
		for {
			if _, err := p.Receive(ctx); err != nil {
				return err
			}
			got.Add(1)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	errs := make(chan error, callers)
	for range callers {
		if _, err := a.Spawn(func(ctx context.Context, p *Process) error {
			_, err := p.Call(ctx, sink.Pid(), Atom("wait"))
			errs <- err
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	for got.Load() < callers {
		select {
		case err := <-errs:
			b.Fatalf("a call ended before the measure: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	b.ResetTimer()
	wall, cpu := time.Now(), processCPU()
	// One sleep, not b.N: the benchmark's own wake-ups would be measured.
	time.Sleep(time.Duration(b.N) * 10 * time.Millisecond)
	b.ReportMetric(100*float64(processCPU()-cpu)/float64(time.Since(wall)), "cpu-%")
	select {
	case err := <-errs:
		b.Fatalf("a call ended during the measure: %v", err)
	default:
	}
}
