package distribute

import (
	"context"
	"errors"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
)

// TestCallBehindQueuedMessages makes calls from a process whose mailbox
// holds messages the calls do not match, to a server on the same node and
// on another: each call gets its reply (or its DOWN, for a dead target),
// and the queued messages stay, in their order, with nothing left behind.
func TestCallBehindQueuedMessages(t *testing.T) {
	ctx := testCtx(t)
	port := distributetest.StartEpmd(t)
	a, b := startNode(t, port), startNode(t, port)
	echo := func(ctx context.Context, p *Process) error {
		for {
			m, err := p.Receive(ctx)
			if err != nil {
				return err
			}
			if from, req, ok := ParseCall(m); ok {
				p.Reply(ctx, from, req)
			}
		}
	}
	p, err := a.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Exit(ReasonNormal)
	const queued = 100
	for i := 0; i < queued; i++ {
		p.Send(ctx, p.Pid(), int64(i))
	}
	for _, n := range []*Node{a, b} {
		server, err := n.Spawn(echo)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			reply, err := p.Call(ctx, server.Pid(), int64(1000+i))
			if err != nil || reply != int64(1000+i) {
				t.Fatalf("call to %s: %v, %v; want %d", n.Name(), reply, err, 1000+i)
			}
		}
		dead, err := n.Spawn(func(ctx context.Context, p *Process) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		<-dead.Done()
		if _, err := p.Call(ctx, dead.Pid(), Atom("x")); !errors.Is(err, ErrNoProc) {
			t.Fatalf("call to a dead process on %s: %v; want ErrNoProc", n.Name(), err)
		}
	}
	if got := p.MailboxLen(); got != queued {
		t.Fatalf("mailbox holds %d messages; want %d", got, queued)
	}
	for i := 0; i < queued; i++ {
		m, err := p.Receive(ctx)
		if err != nil || m != int64(i) {
			t.Fatalf("message %d: %v, %v", i, m, err)
		}
	}
}
