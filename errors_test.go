package distribute

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestContextErrorContract: an operation whose deadline passes fails with
// an error wrapping ErrTimeout and context.DeadlineExceeded; one whose ctx
// is canceled, with context.Canceled and not ErrTimeout (nothing timed
// out). Receive and Call agree.
func TestContextErrorContract(t *testing.T) {
	n := startLocalNode(t)
	p, err := n.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Exit(ReasonNormal)
	silent, err := n.NewProcess() // never answers a call
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Exit(ReasonNormal)

	ops := map[string]func(ctx context.Context) error{
		"Receive": func(ctx context.Context) error { _, err := p.Receive(ctx); return err },
		"Call":    func(ctx context.Context) error { _, err := p.Call(ctx, silent.Pid(), Atom("hi")); return err },
		"CallName": func(ctx context.Context) error {
			n.Register("silent", silent.Pid())
			defer n.Unregister("silent")
			_, err := p.CallName(ctx, "silent", "", Atom("hi"))
			return err
		},
	}
	for name, op := range ops {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := op(ctx)
		cancel()
		if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s past its deadline: %v; want ErrTimeout and context.DeadlineExceeded", name, err)
		}
		if strings.Count(err.Error(), "distribute:") != 1 {
			t.Errorf("%s past its deadline: %q says distribute: more than once", name, err)
		}
		ctx, cancel = context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		err = op(ctx)
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s canceled: %v; want context.Canceled, not ErrTimeout", name, err)
		}
	}
	// Only ctx's end is a timeout: a receive on an exited process is not.
	q, _ := n.NewProcess()
	q.Exit(ReasonNormal)
	if _, err := q.Receive(context.Background()); !errors.Is(err, ErrClosed) || errors.Is(err, ErrTimeout) {
		t.Errorf("Receive after exit: %v; want ErrClosed", err)
	}
}

// TestSendAfterStop: once the node is stopped, sends fail with ErrClosed
// instead of pretending to succeed.
func TestSendAfterStop(t *testing.T) {
	n := startLocalNode(t)
	p, err := n.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	q, err := n.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	if err := p.Send(ctx, q.Pid(), Atom("before")); err != nil {
		t.Fatalf("Send before Stop: %v", err)
	}
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{
		"Send":           p.Send(ctx, q.Pid(), Atom("after")),
		"SendName":       p.SendName(ctx, "anyone", "", Atom("after")),
		"Send (remote)":  p.Send(ctx, Pid{Node: "elsewhere@localhost", ID: 1}, Atom("after")),
		"Reply":          p.Reply(ctx, From{Pid: q.Pid(), Tag: n.MakeRef()}, Atom("after")),
		"SendName (far)": p.SendName(ctx, "anyone", "elsewhere@localhost", Atom("after")),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Stop: %v; want ErrClosed", what, err)
		}
	}
}
