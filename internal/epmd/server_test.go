package epmd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// rawRequest sends raw bytes to the server and returns everything it answers
// until it closes the connection.
func rawRequest(t *testing.T, port int, raw []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", hostPort(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(distributetest.Scale(10 * time.Second)))
	if _, err := c.Write(raw); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil && !isReset(err) {
		t.Fatalf("read: %v (the server did not close the connection?)", err)
	}
	return b
}

func alive2Raw(t *testing.T, name string, high uint16) []byte {
	b, err := AppendAlive2Request(nil, Alive2Request{Port: 5555, NodeType: NodeTypeNormal, High: high, Low: 5, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestServerCreations(t *testing.T) {
	s := startServer(t, ServerConfig{})
	ctx := testCtx(t)
	var prev uint32
	for i := 0; i < 3; i++ {
		r, err := Register(ctx, hostPort(s.Port()), "n", 1, false)
		if err != nil {
			t.Fatal(err)
		}
		c := r.Creation()
		if c == 0 {
			t.Fatalf("creation 0")
		}
		if i > 0 && c != prev+1 && !(prev == ^uint32(0) && c == 1) {
			t.Errorf("creation %d after %d: want +1", c, prev)
		}
		prev = c
		r.Close()
		distributetest.WaitForWithin(t, 5*time.Second, "unregistered", func() bool { return len(s.Names()) == 0 })
	}
}

// Highest < 6 gets the old ALIVE2_RESP with a 2-bit creation (1..3).
func TestServerOldVersion(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c, err := net.Dial("tcp", hostPort(s.Port()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(alive2Raw(t, "old", 5))
	var b [4]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		t.Fatal(err)
	}
	r, err := ParseAlive2Response(b[:])
	if err != nil || r.Code != RespAlive2 || r.Result != 0 || r.Creation < 1 || r.Creation > 3 {
		t.Fatalf("got %v %v; want ALIVE2_RESP ok with creation 1..3", r, err)
	}
}

func TestServerDuplicateRaw(t *testing.T) {
	s := startServer(t, ServerConfig{})
	r, err := Register(testCtx(t), hostPort(s.Port()), "dup", 1, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := rawRequest(t, s.Port(), alive2Raw(t, "dup", 6)); !bytes.Equal(got, []byte{118, 1, 0, 0, 0, 0}) {
		t.Errorf("duplicate: got %x; want 760100000000", got)
	}
	// A name that would corrupt the NAMES text is refused too.
	for _, bad := range []string{"a b", "a\nb", "\xff\xfe", strings.Repeat("é", 256)} {
		if got := rawRequest(t, s.Port(), alive2Raw(t, bad, 6)); len(got) != 6 || got[1] == 0 {
			t.Errorf("bad name %q: got %x; want a refusal", bad, got)
		}
	}
	long, err := Register(testCtx(t), hostPort(s.Port()), strings.Repeat("é", 255), 1, false)
	if err != nil {
		t.Fatalf("255-character name: %v", err)
	}
	long.Close()
}

func TestServerKillStopDump(t *testing.T) {
	s := startServer(t, ServerConfig{})
	ctx := testCtx(t)
	r, err := Register(ctx, hostPort(s.Port()), "live", 4321, false)
	if err != nil {
		t.Fatal(err)
	}
	var c Client
	if ans, err := c.Kill(ctx, "127.0.0.1", s.Port()); err != nil || ans != KillRefused {
		t.Errorf("Kill with a live name: %q %v; want %q", ans, err, KillRefused)
	}
	if dump, err := c.Dump(ctx, "127.0.0.1", s.Port()); err != nil || !strings.Contains(dump, "active name     <live> at port 4321, fd = ") {
		t.Errorf("Dump: %q %v", dump, err)
	}
	// STOP without -relaxed_command_check: closed without an answer, name kept.
	if got := rawRequest(t, s.Port(), must(AppendStopRequest(nil, "live"))); len(got) != 0 {
		t.Errorf("STOP answered %q", got)
	}
	if _, err := Lookup(ctx, "127.0.0.1", s.Port(), "live"); err != nil {
		t.Errorf("after STOP: %v", err)
	}
	r.Close()
	distributetest.WaitForWithin(t, 5*time.Second, "unregistered", func() bool { return len(s.Names()) == 0 })
	if ans, err := c.Kill(ctx, "127.0.0.1", s.Port()); err != nil || ans != KillOK {
		t.Errorf("Kill: %q %v; want %q", ans, err, KillOK)
	}
	select {
	case <-s.Done():
	case <-time.After(distributetest.Scale(5 * time.Second)):
		t.Fatal("server still running after KILL")
	}
}

func TestServerBadInput(t *testing.T) {
	s := startServer(t, ServerConfig{ReadTimeout: 300 * time.Millisecond})
	ctx := testCtx(t)
	reg, err := Register(ctx, hostPort(s.Port()), "survivor", 7777, false)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	stillServes := func() {
		t.Helper()
		if info, err := Lookup(ctx, "127.0.0.1", s.Port(), "survivor"); err != nil || info.Port != 7777 {
			t.Fatalf("server no longer serves: %v %v", info, err)
		}
	}
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"unknown code", []byte{0, 1, 'Q'}},
		{"zero length", []byte{0, 0, 0, 0}},
		{"oversized length", append([]byte{0xff, 0xff}, bytes.Repeat([]byte{'x'}, 100)...)},
		{"truncated alive", alive2Raw(t, "trunc", 6)[:8]},
		{"bad alive name length", []byte{0, 11, 120, 0, 1, 77, 0, 0, 6, 0, 5, 0xff, 0xff}},
		{"empty port please", []byte{0, 1, ReqPortPlease2}},
		{"names with trailing", []byte{0, 2, ReqNames, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", hostPort(s.Port()))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write(tc.raw)
			if tcp, ok := c.(*net.TCPConn); ok {
				tcp.CloseWrite() // truncated input ends here
			}
			c.SetReadDeadline(time.Now().Add(distributetest.Scale(10 * time.Second)))
			got, err := io.ReadAll(c)
			if err != nil && !isReset(err) {
				t.Fatalf("connection not closed: %v", err)
			}
			if len(got) != 0 {
				t.Errorf("answered %x", got)
			}
			stillServes()
		})
	}
	t.Run("slow loris", func(t *testing.T) {
		c, err := net.Dial("tcp", hostPort(s.Port()))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		c.Write([]byte{0, 5, ReqPortPlease2}) // and then nothing
		c.SetReadDeadline(time.Now().Add(distributetest.Scale(10 * time.Second)))
		if _, err := io.ReadAll(c); err != nil && !isReset(err) {
			t.Fatalf("slow client not dropped: %v", err)
		}
		if el := time.Since(start); el < 250*time.Millisecond {
			t.Errorf("dropped after %v, before the read timeout", el)
		}
		stillServes()
	})
	t.Run("oversized but under 64k with small limit", func(t *testing.T) {
		s2 := startServer(t, ServerConfig{MaxRequestSize: 16})
		got := rawRequest(t, s2.Port(), alive2Raw(t, "a-name-longer-than-the-limit", 6))
		if len(got) != 0 {
			t.Errorf("answered %x", got)
		}
		if _, err := Lookup(ctx, "127.0.0.1", s2.Port(), "x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("server no longer serves: %v", err)
		}
	})
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

func TestServerMaxConns(t *testing.T) {
	s := startServer(t, ServerConfig{MaxConns: 2})
	ctx := testCtx(t)
	r1, err := Register(ctx, hostPort(s.Port()), "one", 1, false)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Register(ctx, hostPort(s.Port()), "two", 2, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	// The third connection is closed without an answer.
	if _, err := Lookup(ctx, "127.0.0.1", s.Port(), "one"); err == nil {
		t.Errorf("Lookup over MaxConns succeeded")
	}
	r1.Close()
	distributetest.WaitForWithin(t, 5*time.Second, "a free connection slot", func() bool {
		_, err := Lookup(ctx, "127.0.0.1", s.Port(), "two")
		return err == nil
	})
}

func TestServerCloseEndsRegistrations(t *testing.T) {
	s, err := Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	r, err := Register(testCtx(t), hostPort(s.Port()), "n", 1, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cancel() // ending Serve's context closes the server
	if err := <-served; !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Serve: got %v; want ErrClosed", err)
	}
	select {
	case <-r.Done():
	case <-time.After(distributetest.Scale(5 * time.Second)):
		t.Fatal("registration not dropped when the server closed")
	}
	s.Close()
	s.Close() // idempotent
	if err := s.Serve(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Serve after Close: %v", err)
	}
}

func TestListenAddrInUse(t *testing.T) {
	s := startServer(t, ServerConfig{})
	if _, err := Listen(context.Background(), hostPort(s.Port())); !errors.Is(err, ErrAddrInUse) {
		t.Fatalf("got %v; want ErrAddrInUse", err)
	}
	port := distributetest.StartEpmd(t)
	if _, err := Listen(context.Background(), hostPort(port)); !errors.Is(err, ErrAddrInUse) {
		t.Fatalf("real epmd's port: got %v; want ErrAddrInUse", err)
	}
}

// The NAMES reply starts with the server's own port (erl_epmd checks it).
func TestServerNamesPort(t *testing.T) {
	s := startServer(t, ServerConfig{})
	got := rawRequest(t, s.Port(), AppendNamesRequest(nil))
	if len(got) != 4 || binary.BigEndian.Uint32(got) != uint32(s.Port()) {
		t.Fatalf("got %x; want port %d", got, s.Port())
	}
}

func TestLocalPeer(t *testing.T) {
	tcp := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 4369} }
	for _, c := range []struct {
		local, remote net.Addr
		want          bool
	}{
		{tcp("127.0.0.1"), tcp("127.0.0.1"), true},
		{tcp("10.0.0.5"), tcp("127.0.0.2"), true},
		{tcp("::1"), tcp("::1"), true},
		{tcp("10.0.0.5"), tcp("10.0.0.5"), true},  // this host, through its own address
		{tcp("10.0.0.5"), tcp("10.0.0.6"), false}, // another host
		{tcp("0.0.0.0"), tcp("192.168.1.9"), false},
		{tcp("10.0.0.5"), &net.UnixAddr{Name: "x"}, false},
	} {
		if got := localPeer(c.local, c.remote); got != c.want {
			t.Errorf("localPeer(%v, %v) = %v; want %v", c.local, c.remote, got, c.want)
		}
	}
}
