package distribute

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// The throughput benchmarks measure one-way messages between two Go nodes
// in separate OS processes, the way bench/erlang measures Erlang between
// two erl nodes (BenchmarkErlangThroughput64/1K): a sender does
// {sink, Node} ! Binary N times and the clock stops when the sink has
// counted N binaries and its reply is back.
//
// The sink runs in a child process: this test binary re-executed with
// DISTRIBUTE_BENCH_SINK set (see TestMain in node_test.go).

const benchCookie = "distributetest" // the cookie startNode uses

// runBenchSink is the child process: a node with these registered
// processes:
//   - sink: answers {count, From, N} by counting N binaries, then sends
//     {done, Bytes} to From;
//   - echo: answers {From, Msg} with Msg sent to From;
//   - server: answers gen_server calls with the request;
//   - seqcheck: expects the integers 1, 2, 3, ... in order and answers
//     {done, From} with {seq, Last} (or {out_of_order, Want, Got}).
func runBenchSink(name string, epmdPort int) {
	ctx := context.Background()
	n, err := Start(ctx, Config{Name: name, Cookie: benchCookie, EpmdPort: epmdPort})
	if err != nil {
		fmt.Fprintln(os.Stderr, "sink:", err)
		os.Exit(1)
	}
	p, _ := n.NewProcess()
	n.Register("sink", p.Pid())
	echo, _ := n.Spawn(func(ctx context.Context, p *Process) error {
		for {
			m, err := p.Receive(ctx)
			if err != nil {
				return err
			}
			if t, ok := m.(etf.Tuple); ok && len(t) == 2 {
				if from, ok := t[0].(Pid); ok {
					p.Send(ctx, from, t[1])
				}
			}
		}
	})
	n.Register("echo", echo.Pid())
	server, _ := n.Spawn(func(ctx context.Context, p *Process) error {
		for {
			m, err := p.Receive(ctx)
			if err != nil {
				return err
			}
			if from, req, ok := ParseCall(m); ok {
				p.Reply(ctx, from, req)
			}
		}
	})
	n.Register("server", server.Pid())
	seq, _ := n.Spawn(func(ctx context.Context, p *Process) error {
		next := int64(1)
		for {
			m, err := p.Receive(ctx)
			if err != nil {
				return err
			}
			switch v := m.(type) {
			case int64:
				if v != next {
					next = -1 << 62
				}
				next++
			case etf.Tuple:
				if len(v) == 2 && v[0] == Atom("done") {
					p.Send(ctx, v[1].(Pid), etf.Tuple{Atom("seq"), next - 1})
					next = 1
				}
			}
		}
	})
	n.Register("seqcheck", seq.Pid())
	if path := os.Getenv("DISTRIBUTE_BENCH_SINK_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			pprof.StartCPUProfile(f)
			go func() {
				time.Sleep(1500 * time.Millisecond)
				pprof.StopCPUProfile()
				f.Close()
			}()
		}
	}
	// An execution trace of the sink's first 0.8 s (go tool trace), to
	// read beside the parent's -test.trace: both stamp events with the
	// same monotonic clock, so a round trip can be followed across them.
	if path := os.Getenv("DISTRIBUTE_BENCH_SINK_TRACE"); path != "" {
		if f, err := os.Create(path); err == nil {
			trace.Start(f)
			go func() {
				time.Sleep(800 * time.Millisecond)
				trace.Stop()
				f.Close()
			}()
		}
	}
	fmt.Println("ready")
	isCount := func(m any) bool {
		t, ok := m.(etf.Tuple)
		return ok && len(t) == 3 && t[0] == Atom("count")
	}
	for {
		m, err := p.ReceiveMatch(ctx, isCount)
		if err != nil {
			os.Exit(1)
		}
		t := m.(etf.Tuple)
		from, count := t[1].(Pid), t[2].(int64)
		bytes := int64(0)
		for i := int64(0); i < count; i++ {
			m, err := p.Receive(ctx)
			if err != nil {
				os.Exit(1)
			}
			if b, ok := m.(etf.Binary); ok {
				bytes += int64(len(b))
			}
		}
		p.Send(ctx, from, etf.Tuple{Atom("done"), bytes})
	}
}

// childProcs maps child node names to their OS processes.
var childProcs sync.Map

// killChildNode SIGKILLs a child node started by startBenchSink.
func killChildNode(t testing.TB, name Atom) {
	t.Helper()
	p, ok := childProcs.Load(name)
	if !ok {
		t.Fatalf("no child node %s", name)
	}
	p.(*os.Process).Kill()
}

// startBenchSink starts the child node process and returns its name.
func startBenchSink(b testing.TB, epmdPort int) Atom {
	b.Helper()
	name := fmt.Sprintf("child%d_%d@localhost", os.Getpid(), nodeSeq.Add(1))
	proc, line := startTestChild(b, "DISTRIBUTE_BENCH_SINK="+name, "DISTRIBUTE_BENCH_EPMD="+strconv.Itoa(epmdPort))
	childProcs.Store(Atom(name), proc)
	if line != "ready" {
		b.Fatalf("sink did not start: %q", line)
	}
	return Atom(name)
}

// startTestChild runs this test binary again with env added (TestMain
// gives the child its role), kills it at cleanup, and returns it and the
// first line it prints, trimmed.
func startTestChild(b testing.TB, env ...string) (*os.Process, string) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("child %v did not start: %q %v", env, line, err)
	}
	return cmd.Process, strings.TrimSpace(line)
}

func benchThroughput(b *testing.B, size int) {
	port := distributetest.StartEpmd(b)
	sink := startBenchSink(b, port)
	ctx := context.Background()
	n, err := Start(ctx, Config{Name: fmt.Sprintf("sender%d@localhost", os.Getpid()), Cookie: benchCookie, EpmdPort: port})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Stop(ctx)
	p, _ := n.NewProcess()
	if err := n.Connect(ctx, sink); err != nil {
		b.Fatal(err)
	}
	msg := etf.Binary(make([]byte, size))
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if err := p.SendName(ctx, "sink", sink, etf.Tuple{Atom("count"), p.Pid(), int64(b.N)}); err != nil {
		b.Fatal(err)
	}
	var m Term = msg
	for i := 0; i < b.N; i++ {
		if err := p.SendName(ctx, "sink", sink, m); err != nil {
			b.Fatal(err)
		}
	}
	reply, err := p.Receive(ctx)
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if want := (etf.Tuple{Atom("done"), int64(b.N * size)}); !etf.Equal(reply, want) {
		b.Fatalf("sink replied %s; want %s", etf.Format(reply), etf.Format(want))
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// BenchmarkThroughput64 is one-way 64-byte binaries between two Go nodes
// in separate processes (Erlang's baseline: about 0.9 M msgs/s).
func BenchmarkThroughput64(b *testing.B) { benchThroughput(b, 64) }

// BenchmarkThroughput1K is the same with 1 KiB binaries (Erlang: about
// 0.35 M msgs/s).
func BenchmarkThroughput1K(b *testing.B) { benchThroughput(b, 1024) }

// BenchmarkThroughput256K is the same with 256 KiB binaries: each goes
// out in fragments (dist.FragmentSize) and is reassembled by the sink.
func BenchmarkThroughput256K(b *testing.B) { benchThroughput(b, 256<<10) }

// BenchmarkReconnect is connection setup to a running node: epmd lookup,
// TCP connect, handshake and one net_kernel is_auth call, as Erlang's
// net_adm:ping after disconnect_node (Erlang's baseline: about 3.3 ms).
func BenchmarkReconnect(b *testing.B) {
	port := distributetest.StartEpmd(b)
	sink := startBenchSink(b, port)
	ctx := context.Background()
	n, err := Start(ctx, Config{Name: fmt.Sprintf("dialer%d@localhost", os.Getpid()), Cookie: benchCookie, EpmdPort: port})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Stop(ctx)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := n.Ping(ctx, sink); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		n.Disconnect(sink)
		b.StartTimer()
	}
}
