package distribute

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/epmd"
)

// TestStartNameTaken: starting a node under a name epmd already holds
// fails with an error wrapping ErrNameTaken, whether the epmd is a real
// one or the embedded one another node hosts.
func TestStartNameTaken(t *testing.T) {
	ctx := testCtx(t)
	real := distributetest.StartEpmd(t)
	embedded := distributetest.FreePort(t)
	for name, port := range map[string]int{"epmd": real, "embedded epmd": embedded} {
		t.Run(name, func(t *testing.T) {
			first := startNode(t, port)
			_, err := Start(ctx, Config{Name: string(first.Name()), Cookie: "distributetest", EpmdPort: port, EpmdListen: fmt.Sprintf("127.0.0.1:%d", port)})
			if !errors.Is(err, ErrNameTaken) {
				t.Fatalf("second Start under %s: %v; want ErrNameTaken", first.Name(), err)
			}
		})
	}
}

// silentNode registers name with the epmd on port for a listener that
// accepts connections and never answers them: a node that is stopped
// (SIGSTOP) or overloaded, as a dialler sees it.
func silentNode(t *testing.T, port int, name string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	reg, err := epmd.Register(testCtx(t), fmt.Sprintf("127.0.0.1:%d", port), name, ln.Addr().(*net.TCPAddr).Port, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		reg.Close()
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
}

// TestSendBoundedByCtxWhileConnecting: Send, Link and Call to a node that
// accepts the connection and never answers the handshake return when ctx
// ends, with an error wrapping ErrTimeout and ctx's error, not after the
// handshake timeout.
func TestSendBoundedByCtxWhileConnecting(t *testing.T) {
	port := distributetest.StartEpmd(t)
	silentNode(t, port, "silent")
	a := startNode(t, port, func(c *Config) { c.HandshakeTimeout = distributetest.Scale(20 * time.Second) })
	p, _ := a.NewProcess()
	to := Pid{Node: "silent@localhost", ID: 1, Creation: 1}
	ops := map[string]func(ctx context.Context) error{
		"Send":     func(ctx context.Context) error { return p.Send(ctx, to, Atom("hi")) },
		"SendName": func(ctx context.Context) error { return p.SendName(ctx, "x", to.Node, Atom("hi")) },
		"Link":     func(ctx context.Context) error { return p.Link(ctx, to) },
		"Call": func(ctx context.Context) error {
			_, err := p.Call(ctx, to, Atom("hi"))
			return err
		},
	}
	for name, op := range ops {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		start := time.Now()
		err := op(ctx)
		took := time.Since(start)
		cancel()
		if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s to a silent node: %v; want ErrTimeout and context.DeadlineExceeded", name, err)
		}
		// The handshake would time out after 20 s: returning well before
		// shows the wait ended with ctx.
		if took > distributetest.Scale(10*time.Second) {
			t.Errorf("%s returned after %v; ctx ended after 200ms", name, took)
		}
	}
}

// TestSendTimeoutOnFullBufferIsNotNodeDown: a Send that waits on a full
// send buffer (a peer that does not read) until ctx ends fails with
// ErrTimeout and ctx's error, not ErrNodeDown: the connection is up.
func TestSendTimeoutOnFullBufferIsNotNodeDown(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := startNode(t, port, func(c *Config) { c.SendBuffer = 64 << 10 })
	c := handshakeAs(t, a, "sluggard@localhost") // never reads
	_ = c
	distributetest.WaitFor(t, "connected", func() bool { return a.IsConnected("sluggard@localhost") })
	p, _ := a.NewProcess()
	to := Pid{Node: "sluggard@localhost", ID: 1, Creation: 1}
	msg := etf.Binary(make([]byte, 32<<10)) // below dist.FragmentSize: ctx bounds it
	var err error
	deadline := time.Now().Add(distributetest.Scale(60 * time.Second))
	for err == nil && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err = p.Send(ctx, to, msg)
		cancel()
	}
	if err == nil {
		t.Fatal("the send buffer never filled")
	}
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrNodeDown) {
		t.Fatalf("Send on a full buffer: %v; want ErrTimeout and DeadlineExceeded, not ErrNodeDown", err)
	}
	if !a.IsConnected("sluggard@localhost") {
		t.Fatal("the connection went down")
	}
}

// TestHandshakeTimeoutIsErrHandshake: a peer that accepts and never
// answers the handshake makes Connect fail after HandshakeTimeout with an
// error wrapping ErrHandshake (as documented) and ErrNodeDown, not
// ErrTimeout: the caller's ctx did not end.
func TestHandshakeTimeoutIsErrHandshake(t *testing.T) {
	port := distributetest.StartEpmd(t)
	silentNode(t, port, "mute")
	a := startNode(t, port, func(c *Config) { c.HandshakeTimeout = 200 * time.Millisecond })
	err := a.Connect(testCtx(t), "mute@localhost")
	if !errors.Is(err, ErrHandshake) || !errors.Is(err, ErrNodeDown) || errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect to a node that never answers the handshake: %v; want ErrHandshake and ErrNodeDown, not a ctx timeout", err)
	}
}
