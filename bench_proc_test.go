package distribute

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// Warm-ups before a measurement (see warmUp), the rounds bench/erlang
// uses on its side: round trips per round before a ping-pong, calls per
// round before sequential calls; at most warmRounds rounds, and the
// warm-up ends after warmQuiet quiet ones in a row.
const (
	warmRoundTrips = 5000
	warmCalls      = 2000
	warmRounds     = 40
	warmQuiet      = 3
)

// BenchmarkPingPong is a round trip of a 64-byte binary between processes
// on two Go nodes in separate OS processes (Erlang's baseline:
// bench/erlang's BenchmarkErlangPingPong). It reports p50, p99 and p99.9
// in µs and the share of round trips over 2× p50.
func BenchmarkPingPong(b *testing.B) {
	port := distributetest.StartEpmd(b)
	child := startBenchSink(b, port)
	ctx := context.Background()
	n, err := Start(ctx, Config{Name: fmt.Sprintf("pinger%d@localhost", os.Getpid()), Cookie: benchCookie, EpmdPort: port})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Stop(ctx)
	p, _ := n.NewProcess()
	msg := etf.Tuple{p.Pid(), etf.Binary(make([]byte, 64))}
	pid, _ := childProcs.Load(child)
	peer := pid.(*os.Process).Pid
	warm := warmUp(b, peer, warmRoundTrips, func() error { // connects first
		if err := p.SendName(ctx, "echo", child, msg); err != nil {
			return err
		}
		_, err := p.Receive(ctx)
		return err
	})
	runtime.GC() // bench/erlang collects the measuring process's garbage too
	lat := latencies(b.N)
	used := startUsage(b, peer)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := p.SendName(ctx, "echo", child, msg); err != nil {
			b.Fatal(err)
		}
		if _, err := p.Receive(ctx); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportLatency(b, lat, used(), warm)
}

// BenchmarkCallSequential is gen_server calls one after another to a
// process on a Go node in another OS process (Erlang: about 11-12 k/s).
// It reports the calls' latency as BenchmarkPingPong does.
func BenchmarkCallSequential(b *testing.B) {
	port := distributetest.StartEpmd(b)
	child := startBenchSink(b, port)
	ctx := context.Background()
	n, err := Start(ctx, Config{Name: fmt.Sprintf("caller%d@localhost", os.Getpid()), Cookie: benchCookie, EpmdPort: port})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Stop(ctx)
	p, _ := n.NewProcess()
	pid, _ := childProcs.Load(child)
	peer := pid.(*os.Process).Pid
	warm := warmUp(b, peer, warmCalls, func() error {
		_, err := p.CallName(ctx, "server", child, Atom("warm"))
		return err
	})
	runtime.GC()
	lat := latencies(b.N)
	used := startUsage(b, peer)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := p.CallName(ctx, "server", child, Atom("ping")); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
	b.StopTimer()
	reportLatency(b, lat, used(), warm)
}

// erlBench starts an Erlang node with testdata/dtest.erl and a Go node.
func erlBench(b *testing.B) (*distributetest.ErlNode, *Node) {
	erl := distributetest.StartErlNode(b, distributetest.ErlOptions{Cookie: benchCookie})
	src, err := os.ReadFile("testdata/dtest.erl")
	if err != nil {
		b.Fatal(err)
	}
	erl.LoadModule(b, string(src))
	ctx := context.Background()
	n, err := Start(ctx, Config{Name: fmt.Sprintf("gobench%d@localhost", os.Getpid()), Cookie: benchCookie, EpmdPort: erl.EpmdPort})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Stop(context.Background()) })
	return erl, n
}

// BenchmarkGoToErlang64 is one-way 64-byte binaries from a Go node to an
// Erlang sink (Erlang to Erlang: about 0.9 M msgs/s).
func BenchmarkGoToErlang64(b *testing.B) {
	erl, n := erlBench(b)
	erl.Eval(b, `register(sink, spawn(dtest, sink, []))`)
	ctx := context.Background()
	p, _ := n.NewProcess()
	// Boxed once, as BenchmarkSendUntyped64 does: converting the slice
	// to a Term at each send allocated its header (the benchmark's one
	// alloc/op, not the send's).
	var msg Term = etf.Binary(make([]byte, 64))
	b.SetBytes(64)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	p.SendName(ctx, "sink", Atom(erl.Name), etf.Tuple{Atom("count"), p.Pid(), int64(b.N)})
	for i := 0; i < b.N; i++ {
		if err := p.SendName(ctx, "sink", Atom(erl.Name), msg); err != nil {
			b.Fatal(err)
		}
	}
	reply, err := p.Receive(ctx)
	if err != nil || !etf.Equal(reply, etf.Tuple{Atom("done"), int64(64 * b.N)}) {
		b.Fatalf("sink replied %v, %v", reply, err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkErlangToGo64 is one-way 64-byte binaries from an Erlang process
// to a Go process (Erlang to Erlang: about 0.9 M msgs/s).
func BenchmarkErlangToGo64(b *testing.B) {
	erl, n := erlBench(b)
	ctx := context.Background()
	p, _ := n.NewProcess()
	n.Register("gosink", p.Pid())
	b.SetBytes(64)
	b.ResetTimer()
	start := time.Now()
	erl.Eval(b, fmt.Sprintf(`begin spawn(dtest, blast, [{gosink, '%s'}, 64, %d, {gosink, '%s'}]), ok end`, n.Name(), b.N, n.Name()))
	for i := 0; i < b.N; i++ {
		m, err := p.Receive(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := m.(etf.Binary); !ok {
			b.Fatalf("got %s", etf.Format(m))
		}
	}
	if m, _ := p.Receive(ctx); m != Atom("blasted") {
		b.Fatalf("got %v; want blasted", m)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkIdleProcess measures the memory of an idle spawned process (one
// blocked in Receive): Erlang's is about 2.7 KB. It spawns b.N processes
// and reports bytes per process from the heap and stack growth.
//
// Two runtime effects show in the numbers: the runtime never frees g
// structs (480 B each), so runs after the first reuse the previous run's
// and report about 480 B less; and Go starts goroutines at the average
// stack depth seen at the last GC plus a 928 B guard, so when the last GC
// saw only the benchmark's own deep goroutines the processes start with
// 4 KB stacks instead of 2 KB (GODEBUG=adaptivestackstart=0 shows the 2 KB
// figure; TestIdleProcessStack checks that idle processes keep 2 KB once
// they are most of the goroutines).
func BenchmarkIdleProcess(b *testing.B) {
	ctx := context.Background()
	n, err := Start(ctx, Config{Name: fmt.Sprintf("idle%d@localhost", os.Getpid()), Cookie: benchCookie, ClientOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Stop(ctx)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := n.Spawn(func(ctx context.Context, p *Process) error {
			_, err := p.Receive(ctx)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	reportProcessMemory(b, &before, &after)
}

// BenchmarkIdleHandlerProcess is BenchmarkIdleProcess for SpawnHandler
// processes, which hold no goroutine while idle.
func BenchmarkIdleHandlerProcess(b *testing.B) {
	ctx := context.Background()
	n, err := Start(ctx, Config{Name: fmt.Sprintf("idleh%d@localhost", os.Getpid()), Cookie: benchCookie, ClientOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Stop(ctx)
	h := func(ctx context.Context, p *Process, m any) error { return nil }
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := n.SpawnHandler(h); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	reportProcessMemory(b, &before, &after)
}

// reportProcessMemory reports the heap and stack growth between two
// MemStats per process: B/process in all, and each part.
func reportProcessMemory(b *testing.B, before, after *runtime.MemStats) {
	heap := float64(after.HeapInuse) - float64(before.HeapInuse)
	stack := float64(after.StackInuse) - float64(before.StackInuse)
	b.ReportMetric((heap+stack)/float64(b.N), "B/process")
	b.ReportMetric(heap/float64(b.N), "heap-B/process")
	b.ReportMetric(stack/float64(b.N), "stack-B/process")
}
