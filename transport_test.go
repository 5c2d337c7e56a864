package distribute

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
	"github.com/distribute-go/distribute/internal/epmd"
)

func TestLongNamesWithErlang(t *testing.T) {
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{Name: "elong@127.0.0.1"})
	g := startNode(t, erl.EpmdPort, func(c *Config) { c.Name = "golong@127.0.0.1" })
	if got := erl.Eval(t, "net_adm:ping('golong@127.0.0.1')"); got != "pong" {
		t.Fatalf("Erlang pings Go: %s", got)
	}
	if err := g.Ping(testCtx(t), "elong@127.0.0.1"); err != nil {
		t.Fatalf("Go pings Erlang: %v", err)
	}
	// A long-name node does not dial a short name (as Erlang refuses to).
	if err := g.Ping(testCtx(t), "short@localhost"); !errors.Is(err, ErrBadName) {
		t.Fatalf("long to short: %v; want ErrBadName", err)
	}
}

func TestEmbeddedEpmdServesErlang(t *testing.T) {
	port := distributetest.FreePort(t)
	// No epmd answers on port: the Go node hosts one.
	g := startNode(t, port)
	names, err := epmd.Names(testCtx(t), "127.0.0.1", port)
	if err != nil || len(names) != 1 {
		t.Fatalf("names from embedded epmd: %v, %v", names, err)
	}
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{EpmdPort: port})
	if got := erl.Eval(t, fmt.Sprintf("net_adm:ping('%s')", g.Name())); got != "pong" {
		t.Fatalf("Erlang pings Go through the embedded epmd: %s", got)
	}
	if err := g.Ping(testCtx(t), Atom(erl.Name)); err != nil {
		t.Fatalf("Go pings Erlang through the embedded epmd: %v", err)
	}
}

func TestEmbeddedEpmdFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("failover waits for re-registration (seconds)")
	}
	port := distributetest.FreePort(t)
	host := startNode(t, port)
	others := []*Node{startNode(t, port), startNode(t, port)}
	ctx := testCtx(t)
	if err := host.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// One survivor binds the port and both register again, keeping their
	// creation (pids made before stay valid).
	var names []epmd.NameEntry
	var err error
	distributetest.WaitFor(t, "survivors re-registered", func() bool {
		names, err = epmd.Names(ctx, "127.0.0.1", port)
		if err != nil || len(names) != 2 {
			t.Logf("names %v, %v", names, err)
		}
		return err == nil && len(names) == 2
	})
	if err := others[0].Ping(ctx, others[1].Name()); err != nil {
		t.Fatalf("survivors ping each other: %v", err)
	}
	late := startNode(t, port)
	if err := late.Ping(ctx, others[0].Name()); err != nil {
		t.Fatalf("a new node reaches a survivor: %v", err)
	}
}

func TestWrongCookie(t *testing.T) {
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{})
	bad := startNode(t, erl.EpmdPort, func(c *Config) { c.Cookie = "wrong" })
	good := startNode(t, erl.EpmdPort)
	ctx := testCtx(t)
	// Go dials Erlang with the wrong cookie: refused, typed error.
	if err := bad.Ping(ctx, Atom(erl.Name)); !errors.Is(err, ErrBadCookie) {
		t.Fatalf("wrong cookie Go to Erlang: %v; want ErrBadCookie", err)
	}
	// Erlang dials a Go node whose cookie differs: pang.
	if got := erl.Eval(t, fmt.Sprintf("net_adm:ping('%s')", bad.Name())); got != "pang" {
		t.Fatalf("Erlang pings wrong-cookie Go node: %s; want pang", got)
	}
	if got := erl.Eval(t, fmt.Sprintf("net_adm:ping('%s')", good.Name())); got != "pong" {
		t.Fatalf("Erlang pings the good node after refusing the bad one: %s", got)
	}
	// Erlang still serves others.
	late := startNode(t, erl.EpmdPort)
	if err := late.Ping(ctx, Atom(erl.Name)); err != nil {
		t.Fatalf("a new node dials Erlang after the refusal: %v", err)
	}
	// Go to Go with different cookies, both ways.
	if err := bad.Ping(ctx, good.Name()); !errors.Is(err, ErrBadCookie) {
		t.Fatalf("wrong cookie Go to Go: %v; want ErrBadCookie", err)
	}
	if err := good.Ping(ctx, bad.Name()); !errors.Is(err, ErrNodeDown) {
		t.Fatalf("Go to wrong-cookie Go: %v; want ErrNodeDown", err)
	}
	// Everyone still serves the others.
	if err := good.Ping(ctx, late.Name()); err != nil {
		t.Fatalf("good node to late node: %v", err)
	}
	other := startNode(t, erl.EpmdPort, func(c *Config) { c.Cookie = "wrong" })
	if err := other.Ping(ctx, bad.Name()); err != nil {
		t.Fatalf("the wrong-cookie node still serves its peers: %v", err)
	}
}

func TestTicksKeepIdleConnectionAndDetectStoppedPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("waits several tick times")
	}
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{Args: []string{"-kernel", "net_ticktime", "2"}})
	g := startNode(t, erl.EpmdPort, func(c *Config) { c.TickTime = 2 * time.Second })
	ctx := testCtx(t)
	events := g.WatchNodes(ctx)
	if err := g.Ping(ctx, Atom(erl.Name)); err != nil {
		t.Fatal(err)
	}
	if ev := <-events; !ev.Up {
		t.Fatalf("first event %+v; want up", ev)
	}
	// Idle for 3× the tick time: still connected on both sides.
	idle := time.After(6 * time.Second)
	select {
	case ev := <-events:
		t.Fatalf("idle connection dropped: %+v", ev)
	case <-idle:
	}
	if got := erl.Eval(t, "nodes(hidden)"); !strings.Contains(got, string(g.Name())) {
		t.Fatalf("Erlang dropped the idle connection: nodes(hidden) = %s", got)
	}
	// A stopped Erlang node is declared down after about the tick time.
	if err := erl.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer erl.Signal(syscall.SIGCONT)
	stopped := time.Now()
	select {
	case ev := <-events:
		if ev.Up || ev.Reason != "net_tick_timeout" {
			t.Fatalf("got %+v; want down net_tick_timeout", ev)
		}
		t.Logf("stopped peer declared down after %v (tick time 2s)", time.Since(stopped).Round(time.Millisecond))
	case <-time.After(distributetest.Scale(15 * time.Second)):
		t.Fatal("stopped peer never declared down")
	}
}

func TestTenNodesConnectPairwise(t *testing.T) {
	port := distributetest.StartEpmd(t)
	const n = 10
	nodes := make([]*Node, n)
	for i := range nodes {
		nodes[i] = startNode(t, port)
	}
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, n*n)
	for i := range nodes {
		for j := range nodes {
			if i == j {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := nodes[i].Ping(ctx, nodes[j].Name()); err != nil {
					errs <- fmt.Errorf("%s pings %s: %w", nodes[i].Name(), nodes[j].Name(), err)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Exactly one connection per pair, seen from both sides.
	for _, a := range nodes {
		if got := len(a.Nodes()); got != n-1 {
			t.Errorf("%s has %d connections; want %d", a.Name(), got, n-1)
		}
	}
}

func TestRestartedNodeIsReachableAgain(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := startNode(t, port)
	b := startNode(t, port, func(c *Config) { c.Name = "restarted@localhost" })
	ctx := testCtx(t)
	if err := a.Ping(ctx, b.Name()); err != nil {
		t.Fatal(err)
	}
	oldCreation := b.Creation()
	if err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitFor(t, "a sees b down", func() bool { return !a.IsConnected("restarted@localhost") })
	b2 := startNode(t, port, func(c *Config) { c.Name = "restarted@localhost" })
	if b2.Creation() == oldCreation {
		t.Fatalf("restarted node kept creation %d; want a new one", oldCreation)
	}
	if err := a.Ping(ctx, b2.Name()); err != nil {
		t.Fatalf("restarted node: %v", err)
	}
}

// handshakeAs dials node's listener and completes a handshake as a fake
// peer named name, returning the raw connection for hand-made frames. The
// connection is in header mode (dist.DefaultFlags has DistHdrAtomCache).
func handshakeAs(t *testing.T, target *Node, name string) net.Conn {
	t.Helper()
	return handshakeWith(t, target, name, dist.DefaultFlags)
}

// handshakeWith is handshakeAs advertising flags.
func handshakeWith(t *testing.T, target *Node, name string, flags dist.Flags) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", target.ListenAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_, _, err = dist.Dial(testCtx(t), c, dist.HandshakeConfig{
		Name: name, Creation: 1, Cookie: target.cfg.Cookie, Flags: flags,
	}, string(target.Name()))
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return c
}

func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	port := distributetest.StartEpmd(t)
	var logs distributetest.LogBuffer
	target := startNode(t, port, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.HandshakeTimeout = 500 * time.Millisecond
		c.MaxFrameSize = 1 << 20
	})
	friend := startNode(t, port)
	ctx := testCtx(t)
	frame := func(payload []byte) []byte {
		return binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
	}
	ctrlFrame := func(ctrl etf.Tuple) []byte {
		b, err := appendFrame(nil, &peer{flags: dist.DistHdrAtomCache}, ctrl, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		return append(frame(b), b...)
	}
	cases := []struct {
		name string
		send func(c net.Conn)
	}{
		{"garbage before handshake", func(c net.Conn) { c.Write([]byte("GET / HTTP/1.1\r\n\r\n")) }},
		{"truncated handshake", func(c net.Conn) { c.Write([]byte{0, 20, 'N', 0, 0}) }},
		{"slow-loris handshake", func(c net.Conn) { c.Write([]byte{0}) }},
		{"oversized frame", func(c net.Conn) {
			c = handshakeAs(t, target, "evil1@localhost")
			c.Write([]byte{0xff, 0xff, 0xff, 0xf0})
			io.Copy(io.Discard, c)
		}},
		{"unknown control op", func(c net.Conn) {
			c = handshakeAs(t, target, "evil2@localhost")
			c.Write(ctrlFrame(etf.Tuple{int64(99), Atom("x")}))
			io.Copy(io.Discard, c)
		}},
		{"malformed term", func(c net.Conn) {
			c = handshakeAs(t, target, "evil3@localhost")
			c.Write(append(frame([]byte{131, 68, 0, 104, 3, 97}), 131, 68, 0, 104, 3, 97))
			io.Copy(io.Discard, c)
		}},
		{"header frame on a pass-through connection", func(c net.Conn) {
			c = handshakeWith(t, target, "evil4@localhost", dist.DefaultFlags&^(dist.DistHdrAtomCache|dist.Fragments))
			c.Write(append(frame([]byte{131, 68, 0}), 131, 68, 0))
			io.Copy(io.Discard, c)
		}},
		{"pass-through frame in header mode", func(c net.Conn) {
			c = handshakeAs(t, target, "evil5@localhost")
			b, _ := appendFrame(nil, &peer{}, etf.Tuple{int64(dist.OpSend), Atom(""), Pid{Node: target.Name(), ID: 1}}, Atom("x"), true)
			c.Write(append(frame(b), b...))
			io.Copy(io.Discard, c)
		}},
		{"atom cache ref to an empty slot", func(c net.Conn) {
			c = handshakeAs(t, target, "evil6@localhost")
			b := []byte{131, 68, 1, 0, 5, 104, 1, 97, 2}
			c.Write(append(frame(b), b...))
			io.Copy(io.Discard, c)
		}},
		{"fragment id 0", func(c net.Conn) {
			c = handshakeAs(t, target, "evil7@localhost")
			b := make([]byte, 19)
			b[0], b[1] = 131, 69
			c.Write(append(frame(b), b...))
			io.Copy(io.Discard, c)
		}},
		{"fragment of an unknown sequence", func(c net.Conn) {
			c = handshakeAs(t, target, "evil8@localhost")
			b := make([]byte, 19)
			b[0], b[1], b[17] = 131, 70, 1
			c.Write(append(frame(b), b...))
			io.Copy(io.Discard, c)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", target.ListenAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				tc.send(c)
				c.SetReadDeadline(time.Now().Add(distributetest.Scale(10 * time.Second)))
				io.Copy(io.Discard, c)
			}()
			select {
			case <-done:
			case <-time.After(distributetest.Scale(15 * time.Second)):
				t.Fatal("the node did not close the bad connection")
			}
			// The node still serves others.
			if err := friend.Ping(ctx, target.Name()); err != nil {
				t.Fatalf("after %s: %v", tc.name, err)
			}
		})
	}
	for _, want := range []string{"unknown control operation 99", "protocol violation", "incoming handshake failed", "exceeds the limit", "distribution header frame",
		"pass-through frame (112) on a connection in header mode", "holds no atom", "fragment id 0", "continuation of unknown sequence"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs do not mention %q:\n%s", want, logs.String())
		}
	}
}
