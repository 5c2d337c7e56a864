package distribute

import (
	"testing"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// Go to Go across OS processes: the child is this test binary re-executed
// as a node (runBenchSink), with echo, server and seqcheck processes.

func TestCrossProcessMessagesAndOrder(t *testing.T) {
	port := distributetest.StartEpmd(t)
	child := startBenchSink(t, port)
	g := startNode(t, port)
	p, _ := g.NewProcess()
	ctx := testCtx(t)
	// Both ways: to a registered name there, back to our pid.
	for _, text := range []string{`hello`, `{a,[1,2.5,<<"b">>],#{k => "v"}}`, `-18446744073709551617`, `[a|b]`} {
		want, _ := etf.ParseText(text)
		p.SendName(ctx, "echo", child, etf.Tuple{p.Pid(), want})
		if got := receiveWithin(t, p, nil); !etf.Equal(got, want) {
			t.Fatalf("echo of %s = %s", text, etf.Format(got))
		}
	}
	// 100,000 messages arrive in order.
	const n = 100000
	for i := int64(1); i <= n; i++ {
		if err := p.SendName(ctx, "seqcheck", child, i); err != nil {
			t.Fatal(err)
		}
	}
	p.SendName(ctx, "seqcheck", child, etf.Tuple{Atom("done"), p.Pid()})
	if got := receiveWithin(t, p, nil); !etf.Equal(got, etf.Tuple{Atom("seq"), int64(n)}) {
		t.Fatalf("the child saw %s; want {seq,%d}", etf.Format(got), n)
	}
	// A call.
	reply, err := p.CallName(ctx, "server", child, etf.Tuple{Atom("x"), int64(1)})
	if err != nil || !etf.Equal(reply, etf.Tuple{Atom("x"), int64(1)}) {
		t.Fatalf("call = %v, %v", reply, err)
	}
}

func TestCrossProcessMonitorAndNoConnection(t *testing.T) {
	port := distributetest.StartEpmd(t)
	child := startBenchSink(t, port)
	g := startNode(t, port)
	p, _ := g.NewProcess()
	p.TrapExit(true)
	ctx := testCtx(t)
	p.SendName(ctx, "echo", child, etf.Tuple{p.Pid(), p.Pid()})
	receiveWithin(t, p, nil)
	ref, _ := p.MonitorName(ctx, "echo", child)
	// Kill the child process: the monitor fires with noconnection.
	killChildNode(t, child)
	d := receiveWithin(t, p, func(m any) bool { _, ok := m.(Down); return ok }).(Down)
	if d.Ref != ref || d.Reason != ReasonNoConnection {
		t.Fatalf("got %+v; want Down noconnection", d)
	}
}
