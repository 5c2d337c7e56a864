package epmd

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// conformance runs the client scenario against the epmd on 127.0.0.1:port.
// The same checks pass against real epmd and against our Server.
func conformance(t *testing.T, port int) {
	ctx := testCtx(t)
	addr := hostPort(port)

	reg, err := Register(ctx, addr, "gotest", 9999, false)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	defer reg.Close()
	if reg.Creation() == 0 {
		t.Errorf("creation is 0")
	}

	info, err := Lookup(ctx, "127.0.0.1", port, "gotest")
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	want := NodeInfo{Name: "gotest", Port: 9999, Type: NodeTypeNormal, Protocol: ProtocolTCP, High: 6, Low: 5}
	if info.Name != want.Name || info.Port != want.Port || info.Type != want.Type ||
		info.Protocol != want.Protocol || info.High != want.High || info.Low != want.Low || len(info.Extra) != 0 {
		t.Errorf("Lookup: got %v; want %v", info, want)
	}

	names, err := Names(ctx, "127.0.0.1", port)
	if err != nil {
		t.Fatalf("Names: %v", err)
	}
	if !slices.Contains(names, NameEntry{"gotest", 9999}) {
		t.Errorf("Names: got %v; want it to contain gotest 9999", names)
	}

	if r2, err := Register(ctx, addr, "gotest", 9998, false); !errors.Is(err, ErrDuplicateName) {
		if r2 != nil {
			r2.Close()
		}
		t.Errorf("duplicate Register: got %v; want ErrDuplicateName", err)
	}

	// A hidden registration carries type 72.
	hid, err := Register(ctx, addr, "gohidden", 9997, true)
	if err != nil {
		t.Fatalf("Register hidden: %v", err)
	}
	if hid.Creation() == 0 {
		t.Errorf("hidden creation is 0")
	}
	if info, err := Lookup(ctx, "127.0.0.1", port, "gohidden"); err != nil || info.Type != NodeTypeHidden {
		t.Errorf("Lookup hidden: %v %v", info, err)
	}
	hid.Close()

	select {
	case <-reg.Done():
		t.Fatalf("registration done while open")
	default:
	}
	if err := reg.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	<-reg.Done()
	distributetest.WaitForWithin(t, 10*time.Second, "gotest unregistered", func() bool {
		_, err := Lookup(ctx, "127.0.0.1", port, "gotest")
		return errors.Is(err, ErrNotFound)
	})
	// Registering the same name again yields a different creation (real
	// epmd: the current time in seconds, bumped past the name's previous one;
	// ours: a global counter).
	again, err := Register(ctx, addr, "gotest", 9999, false)
	if err != nil {
		t.Fatalf("Register again: %v", err)
	}
	if again.Creation() == 0 || again.Creation() == reg.Creation() {
		t.Errorf("creations %d then %d: want non-zero and different", reg.Creation(), again.Creation())
	}
	again.Close()
	if _, err := Lookup(ctx, "127.0.0.1", port, "nosuchnode"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown Lookup: got %v; want ErrNotFound", err)
	}
	distributetest.WaitForWithin(t, 10*time.Second, "names empty", func() bool {
		names, err := Names(ctx, "127.0.0.1", port)
		return err == nil && len(names) == 0
	})
}

func TestClientRealEpmd(t *testing.T) {
	port := distributetest.StartEpmd(t)
	conformance(t, port)
	// Real epmd answers KILL with "NO" while a name is registered.
	ctx := testCtx(t)
	reg, err := Register(ctx, hostPort(port), "killguard", 1234, false)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	var c Client
	if ans, err := c.Kill(ctx, "127.0.0.1", port); err != nil || ans != KillRefused {
		t.Errorf("Kill with a live name: %q %v; want %q", ans, err, KillRefused)
	}
	if dump, err := c.Dump(ctx, "127.0.0.1", port); err != nil || !strings.Contains(dump, "<killguard> at port 1234") {
		t.Errorf("Dump: %q %v", dump, err)
	}
}

func TestClientEmbeddedServer(t *testing.T) {
	s := startServer(t, ServerConfig{})
	conformance(t, s.Port())
}

func TestClientUnavailable(t *testing.T) {
	port := distributetest.FreePort(t)
	ctx := testCtx(t)
	if _, err := Register(ctx, hostPort(port), "x", 1, false); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Register: got %v; want ErrUnavailable", err)
	}
	if _, err := Lookup(ctx, "127.0.0.1", port, "x"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Lookup: got %v; want ErrUnavailable", err)
	}
}

// A peer that accepts but never answers: the context ends every call.
func TestClientContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	defer func() {
		ln.Close()
		for c := range accepted {
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := Lookup(ctx, "127.0.0.1", port, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lookup: got %v; want DeadlineExceeded", err)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := Register(ctx2, hostPort(port), "x", 1, false)
		errc <- err
	}()
	cancel2()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Register: got %v; want Canceled", err)
	}

	c := Client{Timeout: 100 * time.Millisecond}
	if _, err := c.Names(context.Background(), "127.0.0.1", port); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Names with client timeout: got %v; want DeadlineExceeded", err)
	}
}

// Replies over the client's limit are ErrTooLarge, junk is ErrMalformed.
func TestClientBadReplies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply []byte
		call  func(ctx context.Context, port int) error
		want  error
	}{
		{"names too large", make([]byte, 200), func(ctx context.Context, port int) error {
			c := Client{MaxResponseSize: 100}
			_, err := c.Names(ctx, "127.0.0.1", port)
			return err
		}, ErrTooLarge},
		{"port2 junk code", []byte{1, 2, 3}, func(ctx context.Context, port int) error {
			_, err := Lookup(ctx, "127.0.0.1", port, "x")
			return err
		}, ErrMalformed},
		{"port2 truncated", []byte{RespPort2, 0, 1}, func(ctx context.Context, port int) error {
			_, err := Lookup(ctx, "127.0.0.1", port, "x")
			return err
		}, errors.New("any")},
		{"port2 zero name", []byte{RespPort2, 0, 0, 1, 77, 0, 0, 6, 0, 5, 0, 0}, func(ctx context.Context, port int) error {
			_, err := Lookup(ctx, "127.0.0.1", port, "x")
			return err
		}, ErrMalformed},
		{"alive junk", []byte{1, 2, 3, 4, 5, 6}, func(ctx context.Context, port int) error {
			_, err := Register(ctx, hostPort(port), "x", 1, false)
			return err
		}, ErrMalformed},
		{"alive refused 2", []byte{RespAlive2X, 2, 0, 0, 0, 0}, func(ctx context.Context, port int) error {
			_, err := Register(ctx, hostPort(port), "x", 1, false)
			return err
		}, ErrRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				c, err := ln.Accept()
				if err != nil {
					return
				}
				ReadRequest(c, 1024)
				c.Write(tc.reply)
				c.Close()
			}()
			err = tc.call(testCtx(t), ln.Addr().(*net.TCPAddr).Port)
			ln.Close()
			<-done
			if err == nil {
				t.Fatalf("got nil error")
			}
			if tc.want.Error() != "any" && !errors.Is(err, tc.want) {
				t.Fatalf("got %v; want %v", err, tc.want)
			}
		})
	}
}
