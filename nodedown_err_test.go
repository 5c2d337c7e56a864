package distribute

import (
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// downOf waits for the NodeDown a monitor of node delivers to p and for
// the down NodeEvent of node on events.
func downOf(t *testing.T, p *Process, events <-chan NodeEvent, node Atom) (NodeDown, NodeEvent) {
	t.Helper()
	m := receiveWithin(t, p, func(m any) bool { d, ok := m.(NodeDown); return ok && d.Node == node })
	timeout := time.After(distributetest.Scale(30 * time.Second))
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the event channel closed")
			}
			if ev.Node == node && !ev.Up {
				return m.(NodeDown), ev
			}
		case <-timeout:
			t.Fatalf("no down event for %s", node)
		}
	}
}

// A peer that goes silent is dropped after the tick time, and the why
// reaches users as an error they match: NodeDown.Err and NodeEvent.Err
// wrap ErrTickTimeout and ErrNodeDown.
func TestNodeDownErrTickTimeout(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := startNode(t, port, func(c *Config) { c.TickTime = time.Second })
	ctx := testCtx(t)
	events := a.WatchNodes(ctx)
	c := handshakeAs(t, a, "frozen@localhost")
	defer c.Close()
	// The frozen peer reads what a sends (so a's writes never block) and
	// sends nothing back, not even a tick.
	go io.Copy(io.Discard, c)
	p, _ := a.NewProcess()
	defer p.Exit(ReasonNormal)
	p.MonitorNode(ctx, "frozen@localhost")

	down, ev := downOf(t, p, events, "frozen@localhost")
	for what, err := range map[string]error{"NodeDown.Err": down.Err, "NodeEvent.Err": ev.Err} {
		if !errors.Is(err, ErrTickTimeout) || !errors.Is(err, ErrNodeDown) {
			t.Errorf("%s = %v; want it to match ErrTickTimeout and ErrNodeDown", what, err)
		}
		if errors.Is(err, ErrFrameTooLarge) {
			t.Errorf("%s = %v matches ErrFrameTooLarge", what, err)
		}
	}
	if down.Reason != "net_tick_timeout" || ev.Reason != "net_tick_timeout" {
		t.Errorf("reasons %q, %q; want net_tick_timeout", down.Reason, ev.Reason)
	}
}

// A peer that announces a frame over MaxFrameSize loses its connection,
// and the error says so: it matches ErrFrameTooLarge.
func TestNodeDownErrFrameTooLarge(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := startNode(t, port, func(c *Config) { c.MaxFrameSize = 1 << 20 })
	ctx := testCtx(t)
	events := a.WatchNodes(ctx)
	c := handshakeAs(t, a, "huge@localhost")
	defer c.Close()
	p, _ := a.NewProcess()
	defer p.Exit(ReasonNormal)
	p.MonitorNode(ctx, "huge@localhost")
	go func() {
		c.Write(binary.BigEndian.AppendUint32(nil, 2<<20))
		io.Copy(io.Discard, c)
	}()

	down, ev := downOf(t, p, events, "huge@localhost")
	for what, err := range map[string]error{"NodeDown.Err": down.Err, "NodeEvent.Err": ev.Err} {
		if !errors.Is(err, ErrFrameTooLarge) || !errors.Is(err, ErrNodeDown) {
			t.Errorf("%s = %v; want it to match ErrFrameTooLarge and ErrNodeDown", what, err)
		}
		if errors.Is(err, ErrTickTimeout) {
			t.Errorf("%s = %v matches ErrTickTimeout", what, err)
		}
	}
}

// A peer that closes its connection: Err matches ErrNodeDown alone; and a
// node MonitorNode cannot reach: ErrNodeDown too.
func TestNodeDownErrClosed(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := startNode(t, port)
	ctx := testCtx(t)
	events := a.WatchNodes(ctx)
	c := handshakeAs(t, a, "leaver@localhost")
	p, _ := a.NewProcess()
	defer p.Exit(ReasonNormal)
	p.MonitorNode(ctx, "leaver@localhost")
	c.Close()
	down, ev := downOf(t, p, events, "leaver@localhost")
	for what, err := range map[string]error{"NodeDown.Err": down.Err, "NodeEvent.Err": ev.Err} {
		if !errors.Is(err, ErrNodeDown) || errors.Is(err, ErrTickTimeout) || errors.Is(err, ErrFrameTooLarge) {
			t.Errorf("%s = %v; want ErrNodeDown alone", what, err)
		}
	}
	if down.Reason != "connection_closed" {
		t.Errorf("reason %q; want connection_closed", down.Reason)
	}

	p.MonitorNode(ctx, "nosuch@localhost")
	m := receiveWithin(t, p, func(m any) bool { d, ok := m.(NodeDown); return ok && d.Node == "nosuch@localhost" })
	if d := m.(NodeDown); !errors.Is(d.Err, ErrNodeDown) || d.Reason != "noconnection" {
		t.Errorf("NodeDown of an unreachable node: %+v; want noconnection matching ErrNodeDown", d)
	}
}
