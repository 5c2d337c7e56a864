package distribute

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// The typed benchmarks compare a typed send and a typed call with the
// untyped ones they wrap, to the child node of bench_test.go in another OS
// process. The payload is 64 bytes of codec.Bytes, 68 bytes on the wire (a
// u32 length, then the bytes); the untyped benchmarks send those same 68
// bytes as a ready-made etf.Binary, so the difference is the typed layer:
// encoding, the Subject facade, decoding the reply.

const typedPayload = 64

func typedBenchSetup(b *testing.B) (context.Context, *Process, Atom) {
	port := distributetest.StartEpmd(b)
	sink := startBenchSink(b, port)
	ctx := context.Background()
	n, err := Start(ctx, Config{Name: fmt.Sprintf("typedbench%d_%d@localhost", os.Getpid(), nodeSeq.Add(1)), Cookie: benchCookie, EpmdPort: port})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Stop(context.Background()) })
	p, _ := n.NewProcess()
	if err := n.Connect(ctx, sink); err != nil {
		b.Fatal(err)
	}
	return ctx, p, sink
}

// benchSendN sends b.N messages with send, then waits for the sink's count.
func benchSendN(b *testing.B, ctx context.Context, p *Process, sink Atom, send func() error) {
	b.SetBytes(typedPayload)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	if err := p.SendName(ctx, "sink", sink, etf.Tuple{Atom("count"), p.Pid(), int64(b.N)}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if err := send(); err != nil {
			b.Fatal(err)
		}
	}
	reply, err := p.Receive(ctx)
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if want := (etf.Tuple{Atom("done"), int64(b.N * (typedPayload + 4))}); !etf.Equal(reply, want) {
		b.Fatalf("sink replied %s; want %s", etf.Format(reply), etf.Format(want))
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	// The sender's CPU time (user + system, all its goroutines, the
	// connection writer included): steadier than wall time on a loaded
	// machine, and what the typed layer adds to.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// processCPU returns the CPU time this process has used.
func processCPU() time.Duration {
	cpu, _ := selfUsage()
	return cpu
}

// selfUsage returns the CPU time (user and system, every thread) this
// process has used and the minor page faults it has taken.
func selfUsage() (time.Duration, int64) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), int64(ru.Minflt)
}

// BenchmarkSendUntyped64 is the baseline: the 68 wire bytes as an
// etf.Binary, sent with SendName.
func BenchmarkSendUntyped64(b *testing.B) {
	ctx, p, sink := typedBenchSetup(b)
	wire, _ := codec.Encode(codec.Bytes, make([]byte, typedPayload))
	var msg Term = etf.Binary(wire)
	benchSendN(b, ctx, p, sink, func() error { return p.SendName(ctx, "sink", sink, msg) })
}

// BenchmarkSendTyped64 sends a []byte through a Subject[[]byte] with
// codec.Bytes: encoded at each send, straight into the frame.
func BenchmarkSendTyped64(b *testing.B) {
	ctx, p, sink := typedBenchSetup(b)
	s := NamedSubject("sink", sink, codec.Bytes)
	payload := make([]byte, typedPayload)
	benchSendN(b, ctx, p, sink, func() error { return s.Send(ctx, p, payload) })
}

// BenchmarkCallUntyped64 is the baseline call: the 68 wire bytes as an
// etf.Binary request to the child's echo server, the reply left a term.
func BenchmarkCallUntyped64(b *testing.B) {
	ctx, p, sink := typedBenchSetup(b)
	wire, _ := codec.Encode(codec.Bytes, make([]byte, typedPayload))
	var req Term = etf.Binary(wire)
	b.SetBytes(typedPayload)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		reply, err := p.CallName(ctx, "server", sink, req)
		if err != nil {
			b.Fatal(err)
		}
		if r, ok := reply.(etf.Binary); !ok || len(r) != typedPayload+4 {
			b.Fatalf("reply %v", reply)
		}
	}
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkCallTyped64 is Call[[]byte, []byte]: the request encoded, the
// reply decoded (codec.BytesView: no copy of the reply bytes).
func BenchmarkCallTyped64(b *testing.B) {
	ctx, p, sink := typedBenchSetup(b)
	s := NamedSubject("server", sink, codec.Bytes)
	payload := make([]byte, typedPayload)
	b.SetBytes(typedPayload)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		r, err := Call(ctx, p, s, payload, codec.BytesView)
		if err != nil {
			b.Fatal(err)
		}
		if len(r) != typedPayload {
			b.Fatalf("reply of %d bytes", len(r))
		}
	}
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkTypedEncodeLocal is a typed send to a local process: the one
// allocation of the encoded bytes, plus boxing the binary into the mailbox.
func BenchmarkTypedEncodeLocal(b *testing.B) {
	port := distributetest.StartEpmd(b)
	ctx := context.Background()
	n, err := Start(ctx, Config{Name: fmt.Sprintf("typedlocal%d_%d@localhost", os.Getpid(), nodeSeq.Add(1)), Cookie: benchCookie, EpmdPort: port})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Stop(ctx)
	from, _ := n.NewProcess()
	to, _ := n.NewProcess()
	s := NewSubject(to.Pid(), codec.Bytes)
	payload := make([]byte, typedPayload)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Send(ctx, from, payload); err != nil {
			b.Fatal(err)
		}
		if _, err := to.Receive(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTypedSendAllocs: a typed send to another node allocates no more than
// the untyped send of the same bytes (the codec writes into the frame), and
// a local typed send allocates the encoded bytes once plus the message box.
// The receiving node is the child process of bench_test.go, so that only
// the sender's allocations are counted. (Under the race detector sync.Pool
// drops a quarter of what it is given, which adds a fraction of an
// allocation to both paths: hence the margin.)
func TestTypedSendAllocs(t *testing.T) {
	port := distributetest.StartEpmd(t)
	child := startBenchSink(t, port)
	a := startNode(t, port, func(c *Config) { c.Cookie = benchCookie })
	ctx := testCtx(t)
	from, _ := a.NewProcess()
	defer from.Exit(ReasonNormal)
	if err := a.Connect(ctx, child); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, typedPayload)
	wire, _ := codec.Encode(codec.Bytes, payload)
	var msg Term = etf.Binary(wire)
	// Sent to a name nobody has on the child: it decodes and drops them.
	s := NamedSubject("nobody", child, codec.Bytes)
	untyped := testing.AllocsPerRun(2000, func() { from.SendName(ctx, "nobody", child, msg) })
	typed := testing.AllocsPerRun(2000, func() { s.Send(ctx, from, payload) })
	if typed > untyped+0.5 {
		t.Errorf("remote send: typed %.2f allocs, untyped %.2f", typed, untyped)
	}
	to, _ := a.NewProcess()
	defer to.Exit(ReasonNormal)
	local := NewSubject(to.Pid(), codec.Bytes)
	allocs := testing.AllocsPerRun(2000, func() {
		local.Send(ctx, from, payload)
		to.Receive(ctx)
	})
	if allocs > 2.5 {
		t.Errorf("local typed send: %.2f allocs; want the bytes and the box", allocs)
	}
	t.Logf("allocs per send: remote untyped %.2f, typed %.2f; local typed %.2f", untyped, typed, allocs)
}
