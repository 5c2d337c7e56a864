package distribute

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
)

// callBehindQueued is how many unmatched messages wait in the caller's
// mailbox in BenchmarkCallBehindQueue.
const callBehindQueued = 10_000

// BenchmarkCallBehindQueue is sequential gen_server calls from a process
// whose mailbox holds 10 k messages the call does not match, so that each
// reply lands behind them (Erlang's receive markers make such a call cost
// the same as with an empty mailbox). The server is on the same node
// (local) or on a second node in this OS process (remote).
func BenchmarkCallBehindQueue(b *testing.B) {
	b.Run("local", func(b *testing.B) {
		ctx := context.Background()
		n, err := Start(ctx, Config{Name: fmt.Sprintf("behind%d_%d@localhost", os.Getpid(), nodeSeq.Add(1)), Cookie: benchCookie, ClientOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		defer n.Stop(ctx)
		benchCallBehindQueue(b, n, n)
	})
	b.Run("remote", func(b *testing.B) {
		port := distributetest.StartEpmd(b)
		ctx := context.Background()
		var nodes [2]*Node
		for i := range nodes {
			n, err := Start(ctx, Config{
				Name:       fmt.Sprintf("behind%d_%d@localhost", os.Getpid(), nodeSeq.Add(1)),
				Cookie:     benchCookie,
				EpmdPort:   port,
				EpmdListen: fmt.Sprintf("127.0.0.1:%d", port),
			})
			if err != nil {
				b.Fatal(err)
			}
			defer n.Stop(ctx)
			nodes[i] = n
		}
		benchCallBehindQueue(b, nodes[0], nodes[1])
	})
}

// benchCallBehindQueue calls a server on sn from a process on cn whose
// mailbox holds callBehindQueued unmatched messages.
func benchCallBehindQueue(b *testing.B, cn, sn *Node) {
	ctx := context.Background()
	server, err := sn.Spawn(func(ctx context.Context, p *Process) error {
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
	if err != nil {
		b.Fatal(err)
	}
	p, err := cn.NewProcess()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Exit(ReasonNormal)
	for i := 0; i < callBehindQueued; i++ {
		p.Send(ctx, p.Pid(), int64(i))
	}
	if _, err := p.Call(ctx, server.Pid(), Atom("warm")); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.Call(ctx, server.Pid(), Atom("ping")); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got := p.MailboxLen(); got != callBehindQueued {
		b.Fatalf("mailbox holds %d messages; want %d", got, callBehindQueued)
	}
}
