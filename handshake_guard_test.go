package distribute

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/internal/dist"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// TestIdleConnectionsAreBounded: 10,000 connections that never start a
// handshake cost at most MaxPendingHandshakes goroutines, and a real peer
// still connects while they are open: the oldest pending handshakes make
// room for new ones.
func TestIdleConnectionsAreBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 10,000 connections")
	}
	const idle = 10_000
	port := distributetest.StartEpmd(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	a := startNode(t, port, func(c *Config) {
		c.MeterProvider = mp
		c.HandshakeTimeout = distributetest.Scale(60 * time.Second) // the idle ones never time out here
	})
	friend := startNode(t, port)
	baseG := runtime.NumGoroutine()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	peakG := 0
	for i := 0; i < idle; i++ {
		c, err := net.Dial("tcp", a.ListenAddr().String())
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		if i%500 == 0 {
			peakG = max(peakG, runtime.NumGoroutine())
		}
	}
	// The node's accept loop catches up with the backlog.
	// 10,000 accepts on a loaded machine: a deadline far above the quiet
	// machine's second or two.
	distributetest.WaitForWithin(t, 2*time.Minute, "the idle connections accepted", func() bool {
		return handshakeFailures(t, reader, "evicted") >= idle-defaultMaxPendingHandshakes-100
	})
	peakG = max(peakG, runtime.NumGoroutine())
	// A deadline of its own: the flood may have used most of ctx's.
	if err := friend.Ping(testCtx(t), a.Name()); err != nil {
		t.Fatalf("a real peer during the idle flood: %v", err)
	}
	peakG = max(peakG, runtime.NumGoroutine())
	t.Logf("%d idle connections: peak %d goroutines (base %d); %d evicted", idle, peakG, baseG, handshakeFailures(t, reader, "evicted"))
	if peakG > baseG+defaultMaxPendingHandshakes+100 {
		t.Errorf("peak of %d goroutines with %d idle connections; base %d, cap %d", peakG, idle, baseG, defaultMaxPendingHandshakes)
	}
}

// handshakeFailures reads distribute.handshake.failures for reason.
func handshakeFailures(t *testing.T, r *sdkmetric.ManualReader, reason string) int64 {
	t.Helper()
	v, _ := int64Point(collect(t, r)[metricHandshakeFailures], attribute.String("reason", reason), attribute.String("direction", "in"))
	return v
}

// TestWrongCookieStorm: failed handshakes are counted by reason and
// logged at warning, one line per second at most with the count of the
// lines left out.
func TestWrongCookieStorm(t *testing.T) {
	const attempts = 300
	port := distributetest.StartEpmd(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	var logs distributetest.LogBuffer
	a := startNode(t, port, func(c *Config) {
		c.MeterProvider = mp
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	ctx := testCtx(t)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < attempts; i += 4 {
				c, err := net.Dial("tcp", a.ListenAddr().String())
				if err != nil {
					t.Error(err)
					return
				}
				_, _, err = dist.Dial(ctx, c, dist.HandshakeConfig{Name: "mallory@localhost", Creation: 1, Cookie: "guess"}, string(a.Name()))
				if !errors.Is(err, dist.ErrBadCookie) {
					t.Errorf("wrong cookie: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	// Counted (and logged) before the node closes the connection: by the
	// time the dialler sees the close, the count is there.
	if n := handshakeFailures(t, reader, "bad_cookie"); n != attempts {
		t.Fatalf("%d bad_cookie failures counted once the %d attempts were refused", n, attempts)
	}
	elapsed := time.Since(start)
	lines := logs.Count("incoming handshake failed")
	t.Logf("%d wrong-cookie attempts in %v: %d warning lines", attempts, elapsed.Round(time.Millisecond), lines)
	if lines == 0 || !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "bad cookie") || !strings.Contains(logs.String(), "mallory@localhost") {
		t.Fatalf("no warning about the wrong cookie:\n%s", logs.String())
	}
	if max := int(elapsed/time.Second) + 2; lines > max {
		t.Fatalf("%d warning lines in %v; want at most one a second", lines, elapsed)
	}
	// This node's own failed dials count too, as direction out.
	other := startNode(t, port, func(c *Config) { c.Cookie = "other" })
	if err := a.Ping(ctx, other.Name()); !errors.Is(err, ErrBadCookie) {
		t.Fatalf("dialling a node with another cookie: %v; want ErrBadCookie", err)
	}
	if v, _ := int64Point(collect(t, reader)[metricHandshakeFailures], attribute.String("reason", "bad_cookie"), attribute.String("direction", "out")); v != 1 {
		t.Fatalf("%d outgoing bad_cookie failures counted; want 1", v)
	}
	// The next line reports the ones left out.
	time.Sleep(handshakeLogInterval)
	c, _ := net.Dial("tcp", a.ListenAddr().String())
	dist.Dial(ctx, c, dist.HandshakeConfig{Name: "mallory@localhost", Creation: 1, Cookie: "guess"}, string(a.Name()))
	distributetest.WaitFor(t, "the summary line", func() bool { return strings.Contains(logs.String(), "suppressed=") })
}

// fakeSendName connects to target and sends a send_name as name, with a
// client's flags, reads the status, and then stalls: the client has no
// cookie to answer the challenge with. It returns the status and the
// connection, open.
func fakeSendName(t *testing.T, target *Node, name string) (string, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", target.ListenAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	msg := dist.AppendSendName(nil, dist.SendName{Flags: dist.DefaultFlags | dist.Published, Creation: 7, Name: name})
	if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	var hdr [2]byte
	c.SetReadDeadline(time.Now().Add(distributetest.Scale(10 * time.Second)))
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		t.Fatalf("status: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	st, err := dist.ParseStatus(body)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Time{})
	return st.Text, c
}

// stillPending reports whether the node keeps c open (the fake handshake
// has not timed out): a read finds no EOF.
func stillPending(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	defer c.SetReadDeadline(time.Time{})
	_, err := c.Read(make([]byte, 256)) // the challenge, if "ok", then nothing
	if err == nil {
		_, err = c.Read(make([]byte, 256))
	}
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// TestFakeSendNameDoesNotHoldTheName: a client without the cookie sends
// send_name under a real peer's name and stalls. Connections between the
// node and that peer, in either direction, go on at once: a name is
// reserved only once the digest checks.
func TestFakeSendNameDoesNotHoldTheName(t *testing.T) {
	port := distributetest.StartEpmd(t)
	// Simultaneous-connect decisions compare names: a peer below and one
	// above the node's.
	hs := func(c *Config) { c.HandshakeTimeout = distributetest.Scale(60 * time.Second) }
	a := startNode(t, port, hs, func(c *Config) { c.Name = "mid@localhost" })
	low := startNode(t, port, hs, func(c *Config) { c.Name = "aaa@localhost" })
	high := startNode(t, port, hs, func(c *Config) { c.Name = "zzz@localhost" })
	for _, real := range []*Node{low, high} {
		for _, dir := range []string{"peer dials", "node dials"} {
			t.Run(string(real.Name())+" "+dir, func(t *testing.T) {
				a.Disconnect(real.Name())
				distributetest.WaitFor(t, "disconnected", func() bool { return !a.IsConnected(real.Name()) && !real.IsConnected(a.Name()) })
				status, fake := fakeSendName(t, a, string(real.Name()))
				if status != dist.StatusOK {
					t.Fatalf("fake send_name: status %q; want ok", status)
				}
				ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(20*time.Second))
				defer cancel()
				var err error
				if dir == "peer dials" {
					err = real.Ping(ctx, a.Name())
				} else {
					err = a.Ping(ctx, real.Name())
				}
				if err != nil {
					t.Fatalf("ping while a fake handshake holds %s: %v", real.Name(), err)
				}
				if !stillPending(fake) {
					t.Fatal("the fake handshake ended first: the ping may have waited for it")
				}
			})
		}
	}
}

// TestHundredPeersAtOnce: 100 peers on one address handshake with a node
// at the same moment (a host, or a NAT, full of nodes starting together):
// the pending-handshake cap throttles none of them.
func TestHundredPeersAtOnce(t *testing.T) {
	const peers = 100
	port := distributetest.StartEpmd(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	a := startNode(t, port, func(c *Config) { c.MeterProvider = mp })
	ctx := testCtx(t)
	start := make(chan struct{})
	errs := make(chan error, peers)
	var wg sync.WaitGroup
	for i := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", a.ListenAddr().String())
			if err != nil {
				errs <- err
				return
			}
			t.Cleanup(func() { c.Close() }) // connected until the end
			<-start
			_, _, err = dist.Dial(ctx, c, dist.HandshakeConfig{Name: fmt.Sprintf("crowd%d@localhost", i), Creation: 1, Cookie: a.cfg.Cookie}, string(a.Name()))
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	distributetest.WaitFor(t, "all connected", func() bool { return len(a.Nodes()) == peers || t.Failed() })
	for _, reason := range handshakeReasons {
		if n := handshakeFailures(t, reader, reason); n != 0 {
			t.Errorf("%d handshakes failed with reason %s", n, reason)
		}
	}
}
