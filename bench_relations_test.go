package distribute

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// The relation benchmarks: the cost of making and ending links and
// monitors, locally and to a process on another node over TCP.

// benchRelNodes starts one node, or two when remote, and returns the
// node the benchmark's process lives on and the target's node.
func benchRelNodes(b *testing.B, remote bool) (*Node, *Node) {
	port := distributetest.StartEpmd(b)
	a := startBenchNode(b, port, "rel_a")
	if !remote {
		return a, a
	}
	return a, startBenchNode(b, port, "rel_b")
}

// startBenchNode starts node name (with this process's pid appended) on
// the epmd at port, and stops it at cleanup.
func startBenchNode(b *testing.B, port int, name string) *Node {
	b.Helper()
	n, err := Start(context.Background(), Config{Name: fmt.Sprintf("%s%d@localhost", name, os.Getpid()), Cookie: benchCookie, EpmdPort: port})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n.Stop(ctx)
	})
	return n
}

// BenchmarkLinkUnlink: Link then Unlink, to a local process and to one
// on another node.
func BenchmarkLinkUnlink(b *testing.B) {
	for _, remote := range []bool{false, true} {
		b.Run(map[bool]string{false: "local", true: "remote"}[remote], func(b *testing.B) {
			a, tn := benchRelNodes(b, remote)
			ctx := context.Background()
			p, _ := a.NewProcess()
			target, _ := tn.NewProcess()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := p.Link(ctx, target.Pid()); err != nil {
					b.Fatal(err)
				}
				if err := p.Unlink(ctx, target.Pid()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMonitorDemonitor: Monitor then Demonitor, local and remote.
func BenchmarkMonitorDemonitor(b *testing.B) {
	for _, remote := range []bool{false, true} {
		b.Run(map[bool]string{false: "local", true: "remote"}[remote], func(b *testing.B) {
			a, tn := benchRelNodes(b, remote)
			ctx := context.Background()
			p, _ := a.NewProcess()
			target, _ := tn.NewProcess()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				ref, err := p.Monitor(ctx, target.Pid())
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Demonitor(ctx, ref); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLinkMonitorExit: a process links to and monitors a new local
// process, which exits; the watcher receives the Exit and the Down.
func BenchmarkLinkMonitorExit(b *testing.B) {
	a, _ := benchRelNodes(b, false)
	ctx := context.Background()
	p, _ := a.NewProcess()
	p.TrapExit(true)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		q, err := a.NewProcess()
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Link(ctx, q.Pid()); err != nil {
			b.Fatal(err)
		}
		if _, err := p.Monitor(ctx, q.Pid()); err != nil {
			b.Fatal(err)
		}
		q.Exit(Atom("done"))
		for range 2 {
			if _, err := p.Receive(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
}
