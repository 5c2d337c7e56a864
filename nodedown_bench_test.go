package distribute

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// BenchmarkNodeDown measures the handling of a lost connection on a node
// holding many processes, of which only a few have links or monitors to
// the lost node: the cost should follow the affected processes, not the
// node's size. Each iteration connects to a peer node, links and monitors
// 10 processes to processes there, then disconnects (timed): the 10 get
// their exit signals and Downs (noconnection). Run with a fixed count,
// e.g. -benchtime=50x: each iteration sets the connection up again.
func BenchmarkNodeDown(b *testing.B) {
	for _, procs := range []int{100_000, 300_000} {
		b.Run(fmt.Sprintf("procs=%d/affected=10", procs), func(b *testing.B) { benchNodeDown(b, procs, 10) })
	}
}

func benchNodeDown(b *testing.B, procs, affected int) {
	ctx := context.Background()
	port := distributetest.StartEpmd(b)
	a, peer := startBenchNode(b, port, "down_a"), startBenchNode(b, port, "down_b")
	// The bystanders: processes with no remote relation.
	for range procs - affected {
		if _, err := a.NewProcess(); err != nil {
			b.Fatal(err)
		}
	}
	local := make([]*Process, affected)
	remote := make([]*Process, affected)
	for i := range local {
		local[i], _ = a.NewProcess()
		local[i].TrapExit(true)
		remote[i], _ = peer.NewProcess()
		remote[i].TrapExit(true)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if err := a.Connect(ctx, peer.Name()); err != nil {
			b.Fatal(err)
		}
		// The peer has installed the connection too: one it is still
		// setting up when the next round dials would answer "nok".
		distributetest.WaitFor(b, "the peer to see the connection", func() bool { return peer.IsConnected(a.Name()) })
		for i, p := range local {
			if err := p.Link(ctx, remote[i].Pid()); err != nil {
				b.Fatal(err)
			}
			if _, err := p.Monitor(ctx, remote[i].Pid()); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if !a.Disconnect(peer.Name()) {
			b.Fatal("not connected")
		}
		b.StopTimer()
		// Every affected process got its exit signal and its Down.
		for _, p := range local {
			for range 2 {
				wctx, cancel := context.WithTimeout(ctx, distributetest.Scale(10*time.Second))
				m, err := p.Receive(wctx)
				cancel()
				if err != nil {
					b.Fatalf("%v: no exit signal or Down after the disconnect: %v", p.Pid(), err)
				}
				switch m := m.(type) {
				case Exit:
					if m.Reason != ReasonNoConnection {
						b.Fatalf("exit %+v; want noconnection", m)
					}
				case Down:
					if m.Reason != ReasonNoConnection {
						b.Fatalf("down %+v; want noconnection", m)
					}
				default:
					b.Fatalf("unexpected %#v", m)
				}
			}
		}
		for _, p := range remote {
			for p.MailboxLen() > 0 {
				p.Receive(ctx)
			}
		}
		// The peer has handled the disconnect too before the next round.
		distributetest.WaitFor(b, "the peer to see the disconnect", func() bool { return !peer.IsConnected(a.Name()) })
		b.StartTimer()
	}
}
