package dist

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// connPair runs a Go↔Go handshake over loopback TCP and wraps both ends.
func connPair(t testing.TB, dcc, acc ConnConfig) (d, a *Conn) {
	t.Helper()
	c, s := tcpPair(t)
	ctx := context.Background()
	type res struct {
		p   *Peer
		l   []byte
		err error
	}
	ch := make(chan res, 1)
	go func() {
		p, l, err := Accept(ctx, s, HandshakeConfig{Name: "b@h", Cookie: "c"})
		ch <- res{p, l, err}
	}()
	dp, dl, err := Dial(ctx, c, HandshakeConfig{Name: "a@h", Cookie: "c"}, "b@h")
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	d, err = NewConn(c, dp, dl, dcc)
	if err != nil {
		t.Fatal(err)
	}
	a, err = NewConn(s, r.p, r.l, acc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(); a.Close() })
	return d, a
}

// collector gathers received frames.
type collector struct {
	mu     sync.Mutex
	frames [][]byte
	n      chan struct{}
}

func newCollector() *collector { return &collector{n: make(chan struct{}, 1<<16)} }

func (c *collector) handle(f []byte) error {
	c.mu.Lock()
	c.frames = append(c.frames, append([]byte(nil), f...))
	c.mu.Unlock()
	c.n <- struct{}{}
	return nil
}

func (c *collector) wait(t testing.TB, n int) [][]byte {
	t.Helper()
	timeout := time.After(distributetest.Scale(10 * time.Second))
	for i := 0; i < n; i++ {
		select {
		case <-c.n:
		case <-timeout:
			t.Fatalf("received %d of %d frames", i, n)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frames
}

func TestConnSendReceive(t *testing.T) {
	col := newCollector()
	d, a := connPair(t, ConnConfig{}, ConnConfig{Handler: col.handle})
	ctx := context.Background()
	const senders, per = 4, 500
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 64)
			for i := 0; i < per; i++ {
				buf = fmt.Appendf(buf[:0], "%d:%d:", s, i)
				buf = append(buf, bytes.Repeat([]byte{'x'}, i%300)...)
				if err := d.Send(ctx, buf); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	frames := col.wait(t, senders*per)
	// Per sender, frames arrive in Send order and intact.
	next := make([]int, senders)
	for _, f := range frames {
		var s, i int
		if _, err := fmt.Sscanf(string(f), "%d:%d:", &s, &i); err != nil {
			t.Fatalf("frame %q: %v", f, err)
		}
		if i != next[s] {
			t.Fatalf("sender %d: frame %d arrived, want %d", s, i, next[s])
		}
		next[s]++
		if x := bytes.Count(f, []byte{'x'}); x != i%300 {
			t.Fatalf("frame %d:%d has %d payload bytes", s, i, x)
		}
	}
	if st := a.Stats(); st.FramesIn != senders*per {
		t.Errorf("FramesIn = %d; want %d", st.FramesIn, senders*per)
	}
	if st := d.Stats(); st.FramesOut != senders*per {
		t.Errorf("FramesOut = %d; want %d", st.FramesOut, senders*per)
	}
	if d.Peer().Name != "b@h" || a.Peer().Name != "a@h" {
		t.Errorf("peers %q %q", d.Peer().Name, a.Peer().Name)
	}
}

func TestConnCloseReasons(t *testing.T) {
	d, a := connPair(t, ConnConfig{}, ConnConfig{})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(d.Err(), ErrClosed) {
		t.Errorf("closer reason %v; want ErrClosed", d.Err())
	}
	d.Close() // idempotent
	if err := d.Send(context.Background(), []byte{1}); !errors.Is(err, net.ErrClosed) || !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v; want net.ErrClosed", err)
	}
	select {
	case <-a.Done():
	case <-time.After(distributetest.Scale(10 * time.Second)):
		t.Fatal("peer did not notice the close")
	}
	if !errors.Is(a.Err(), ErrPeerClosed) || !errors.Is(a.Err(), io.EOF) {
		t.Errorf("peer reason %v; want ErrPeerClosed", a.Err())
	}
}

func TestConnHandlerError(t *testing.T) {
	boom := errors.New("boom")
	d, a := connPair(t, ConnConfig{}, ConnConfig{Handler: func([]byte) error { return boom }})
	d.Send(context.Background(), []byte{112})
	<-a.Done()
	if !errors.Is(a.Err(), boom) {
		t.Errorf("reason %v; want boom", a.Err())
	}
}

func TestConnFrameTooLarge(t *testing.T) {
	d, a := connPair(t, ConnConfig{}, ConnConfig{MaxFrame: 100})
	d.Send(context.Background(), make([]byte, 100))
	d.Send(context.Background(), make([]byte, 101))
	<-a.Done()
	var fe *FrameTooLargeError
	if !errors.As(a.Err(), &fe) || fe.Len != 101 || fe.Max != 100 {
		t.Fatalf("reason %v; want FrameTooLargeError{101, 100}", a.Err())
	}
	if st := a.Stats(); st.FramesIn != 1 {
		t.Errorf("FramesIn %d; want 1", st.FramesIn)
	}
}

func TestConnTicksKeepAlive(t *testing.T) {
	tick := distributetest.Scale(400 * time.Millisecond)
	d, a := connPair(t, ConnConfig{TickTime: tick}, ConnConfig{TickTime: tick})
	// Idle for 3 tick times: both sides tick and nobody times out.
	timer := time.NewTimer(3 * tick)
	defer timer.Stop()
	select {
	case <-d.Done():
		t.Fatalf("dialler closed: %v", d.Err())
	case <-a.Done():
		t.Fatalf("acceptor closed: %v", a.Err())
	case <-timer.C:
	}
	if d.Stats().TicksIn == 0 || a.Stats().TicksIn == 0 || d.Stats().TicksOut == 0 {
		t.Errorf("ticks: %+v / %+v", d.Stats(), a.Stats())
	}
}

func TestConnTickTimeout(t *testing.T) {
	// The peer completes the handshake and then stays silent.
	c, s := tcpPair(t)
	ctx := context.Background()
	go func() {
		p, _, err := Accept(ctx, s, HandshakeConfig{Name: "b@h", Cookie: "c"})
		_ = p
		_ = err
	}()
	p, left, err := Dial(ctx, c, HandshakeConfig{Name: "a@h", Cookie: "c"}, "b@h")
	if err != nil {
		t.Fatal(err)
	}
	tick := distributetest.Scale(400 * time.Millisecond)
	start := time.Now()
	conn, err := NewConn(c, p, left, ConnConfig{TickTime: tick})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	select {
	case <-conn.Done():
	case <-time.After(10 * tick):
		t.Fatal("no tick timeout")
	}
	if !errors.Is(conn.Err(), ErrTickTimeout) {
		t.Fatalf("reason %v; want ErrTickTimeout", conn.Err())
	}
	if el := time.Since(start); el < tick*3/4 {
		t.Errorf("timed out after %v, before 3/4 of the tick time %v", el, tick)
	}
}

func TestConnBackpressure(t *testing.T) {
	// The peer never reads: the socket buffers fill, then our send buffer,
	// then Send waits and honours ctx.
	c, s := tcpPair(t)
	_ = s
	conn, err := NewConn(c, &Peer{Name: "b@h"}, nil, ConnConfig{SendBuffer: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	frame := make([]byte, 16<<10)
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(2*time.Second))
	defer cancel()
	var sent int
	for {
		if err := conn.Send(ctx, frame); err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Send = %v; want DeadlineExceeded", err)
			}
			break
		}
		sent++
		if sent > 100000 {
			t.Fatal("Send never blocked")
		}
	}
	// A blocked sender is released by Close.
	errc := make(chan error, 1)
	go func() { errc <- conn.Send(context.Background(), frame) }()
	conn.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("blocked Send after Close = %v; want net.ErrClosed", err)
	}
}

// TestInlineSendPartial: a Send that writes inline (an idle connection)
// writes what the socket takes and returns without waiting for the peer;
// the writer goroutine writes the rest, and what follows comes after it.
func TestInlineSendPartial(t *testing.T) {
	c, s := tcpPair(t)
	// Buffers larger than loopback's segment size (64 KiB): smaller ones
	// leave the peer's window under a segment, and TCP then sends only on
	// its zero-window probes.
	c.(*net.TCPConn).SetWriteBuffer(256 << 10)
	s.(*net.TCPConn).SetReadBuffer(256 << 10)
	conn := mustConn(t, c)
	defer conn.Close()
	big := make([]byte, 8<<20) // far more than the two socket buffers hold
	for i := range big {
		big[i] = byte(i * 7)
	}
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
	defer cancel()
	// The peer reads nothing yet: the Send returns with most of the frame
	// still queued.
	if err := conn.Send(ctx, big); err != nil {
		t.Fatal(err)
	}
	if !conn.inlineWrote.Load() {
		t.Fatal("the first Send on an idle connection did not write inline")
	}
	conn.mu.Lock()
	left := len(conn.pending) > 0 || conn.writing
	conn.mu.Unlock()
	if !left {
		t.Fatal("8 MiB went into the socket with nobody reading; the test's premise fails")
	}
	if err := conn.Send(ctx, []byte("after")); err != nil {
		t.Fatal(err)
	}
	s.SetReadDeadline(time.Now().Add(distributetest.Scale(10 * time.Second)))
	fr := NewFrameReader(s, nil, len(big))
	for _, want := range [][]byte{big, []byte("after")} {
		got, err := readDataFrame(fr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frame of %d bytes differs from the %d sent", len(got), len(want))
		}
	}
}

// TestInlineSendAfterWriteDeadline: the writer goroutine's write
// deadline stays on the socket after its write, and once it has passed
// the runtime refuses a write on the raw socket too. An inline Send then
// leaves its frame to the writer (which sets a deadline of its own); it
// must not fail the connection.
func TestInlineSendAfterWriteDeadline(t *testing.T) {
	c, s := tcpPair(t)
	conn := mustConn(t, c)
	defer conn.Close()
	c.SetWriteDeadline(time.Unix(1, 0)) // as a writer's write long ago left it
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
	defer cancel()
	if err := conn.Send(ctx, []byte("late")); err != nil {
		t.Fatal(err)
	}
	s.SetReadDeadline(time.Now().Add(distributetest.Scale(10 * time.Second)))
	fr := NewFrameReader(s, nil, 0)
	got, err := readDataFrame(fr)
	if err != nil || string(got) != "late" {
		t.Fatalf("read %q, %v; want the frame sent after the deadline passed (connection: %v)", got, err, conn.Err())
	}
}

func TestConnLeftoverFirst(t *testing.T) {
	c, s := tcpPair(t)
	col := newCollector()
	left := AppendFrame(AppendFrame(nil, []byte("one")), nil)
	left = append(left, 0, 0, 0) // a partial length header; the rest follows on the socket
	conn, err := NewConn(c, &Peer{Name: "b@h"}, left, ConnConfig{Handler: col.handle})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s.Write([]byte{3, 't', 'w', 'o'})
	f := col.wait(t, 2)
	if string(f[0]) != "one" || string(f[1]) != "two" {
		t.Fatalf("frames %q", f)
	}
}

// Go↔Go over crypto/tls with 4-byte handshake frames.
// tlsConnPair is connPair over mutual TLS; it returns the client's
// tls.Conn too.
func tlsConnPair(t testing.TB, dcc, acc ConnConfig) (d, a *Conn, tc *tls.Conn) {
	t.Helper()
	cert := selfSigned(t, "h")
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	server := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	client := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}

	c, s := tcpPair(t)
	ctx := context.Background()
	type res struct {
		p   *Peer
		l   []byte
		err error
	}
	ch := make(chan res, 1)
	ts := TLSServer(s, server)
	go func() {
		p, l, err := Accept(ctx, ts, HandshakeConfig{Name: "b@h", Cookie: "c"})
		ch <- res{p, l, err}
	}()
	tc = TLSClient(c, client, "b@h")
	dp, dl, err := Dial(ctx, tc, HandshakeConfig{Name: "a@h", Cookie: "c"}, "b@h")
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	if d, err = NewConn(tc, dp, dl, dcc); err != nil {
		t.Fatal(err)
	}
	if a, err = NewConn(ts, r.p, r.l, acc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(); a.Close() })
	return d, a, tc
}

func TestTLSHandshake(t *testing.T) {
	ctx := context.Background()
	col := newCollector()
	d, _, tc := tlsConnPair(t, ConnConfig{}, ConnConfig{Handler: col.handle})
	if st := tc.ConnectionState(); st.ServerName != "h" || !st.HandshakeComplete {
		t.Errorf("tls state %+v", st)
	}
	d.Send(ctx, []byte("over tls"))
	if f := col.wait(t, 1); string(f[0]) != "over tls" {
		t.Fatalf("got %q", f[0])
	}

	// A 2-byte-framed (plain) initiator is refused by a TLS-framed acceptor
	// that is not even behind TLS: framing mismatch is a typed error.
	c2, s2 := tcpPair(t)
	errc := make(chan error, 1)
	go func() {
		_, _, err := Accept(ctx, s2, HandshakeConfig{Name: "b@h", Cookie: "c", TLS: true, Timeout: distributetest.Scale(time.Second)})
		errc <- err
	}()
	go Dial(ctx, c2, HandshakeConfig{Name: "a@h", Cookie: "c", Timeout: distributetest.Scale(time.Second)}, "b@h")
	if err := <-errc; err == nil {
		t.Fatal("mismatched framing accepted")
	}
}

func TestTLSUntrusted(t *testing.T) {
	cert := selfSigned(t, "h")
	c, s := tcpPair(t)
	ctx := context.Background()
	errc := make(chan error, 1)
	go func() {
		_, _, err := Accept(ctx, TLSServer(s, &tls.Config{Certificates: []tls.Certificate{cert}}), HandshakeConfig{Name: "b@h", Cookie: "c"})
		errc <- err
	}()
	_, _, err := Dial(ctx, TLSClient(c, &tls.Config{}, "b@h"), HandshakeConfig{Name: "a@h", Cookie: "c"}, "b@h")
	var uerr x509.UnknownAuthorityError
	if !errors.As(err, &uerr) {
		t.Fatalf("Dial = %v; want x509.UnknownAuthorityError", err)
	}
	if err := <-errc; err == nil {
		t.Fatal("Accept succeeded")
	}
}

func selfSigned(t testing.TB, host string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: host},
		DNSNames:              []string{host},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func benchmarkSend(b *testing.B, size int) {
	c, s := tcpPair(b)
	conn := mustConn(b, c)
	defer conn.Close()
	total := int64(b.N) * int64(size+4)
	readDone := make(chan error, 1)
	go func() {
		_, err := io.CopyN(io.Discard, s, total)
		readDone <- err
	}()
	frame := make([]byte, size)
	frame[0] = 112
	ctx := context.Background()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := conn.Send(ctx, frame); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-readDone; err != nil {
		b.Fatal(err)
	}
}

func BenchmarkConnSend64(b *testing.B)  { benchmarkSend(b, 64) }
func BenchmarkConnSend1K(b *testing.B)  { benchmarkSend(b, 1024) }
func BenchmarkConnSend64K(b *testing.B) { benchmarkSend(b, 64<<10) }

func BenchmarkHandshake(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	ctx := context.Background()
	errc := make(chan error, 1)
	go func() {
		for {
			s, err := ln.Accept()
			if err != nil {
				return
			}
			_, _, err = Accept(ctx, s, HandshakeConfig{Name: "b@h", Cookie: "c"})
			s.Close()
			if err != nil {
				errc <- err
				return
			}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := Dial(ctx, c, HandshakeConfig{Name: "a@h", Cookie: "c"}, "b@h"); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	b.StopTimer()
	select {
	case err := <-errc:
		b.Fatal(err)
	default:
	}
}

func TestConnFlushBeforeClose(t *testing.T) {
	a, b := net.Pipe()
	var got atomic.Int64
	recv, err := NewConn(b, &Peer{Name: "b@h"}, nil, ConnConfig{Handler: func(f []byte) error { got.Add(1); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	send, err := NewConn(a, &Peer{Name: "a@h"}, nil, ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const n = 1000
	for i := 0; i < n; i++ {
		if err := send.Send(ctx, []byte{112, 131, 106}); err != nil {
			t.Fatal(err)
		}
	}
	if err := send.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	send.Close()
	for got.Load() != n {
		select {
		case <-ctx.Done():
			t.Fatalf("received %d of %d frames after Flush and Close", got.Load(), n)
		case <-time.After(time.Millisecond):
		}
	}
}

// TestConnShutdownKeepsWhatThePeerHasNotRead: frames written before a
// close must reach the peer even when the peer is still sending. A plain
// close with data arriving makes the kernel answer with a reset, and a
// reset makes the peer's kernel drop what it had received but not yet
// read: here the peer reads nothing until the closing side is done, and
// sends one frame in the meantime. Shutdown closes only the write side
// and reads until the peer closes, so every frame arrives.
func TestConnShutdownKeepsWhatThePeerHasNotRead(t *testing.T) {
	t.Run("tcp", func(t *testing.T) {
		testShutdownKeeps(t, func(cc, pc ConnConfig) (*Conn, *Conn) { return connPair(t, cc, pc) })
	})
	t.Run("tls", func(t *testing.T) {
		testShutdownKeeps(t, func(cc, pc ConnConfig) (*Conn, *Conn) {
			c, p, _ := tlsConnPair(t, cc, pc)
			return c, p
		})
	})
}

func testShutdownKeeps(t *testing.T, pair func(closer, peer ConnConfig) (*Conn, *Conn)) {
	const n, size = 64, 4 << 10
	release := make(chan struct{})
	var got atomic.Int64
	closer, peer := pair(ConnConfig{}, ConnConfig{Handler: func(f []byte) error {
		<-release
		got.Add(1)
		return nil
	}})
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
	defer cancel()
	frame := make([]byte, size)
	frame[0] = 112
	for i := 0; i < n; i++ {
		if err := closer.Send(ctx, frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := closer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	go func() { shut <- closer.Shutdown(ctx) }()
	// The peer's frame reaches the closing side while it shuts down, or
	// after: either way it must not cost the peer what it had received.
	if err := peer.Send(ctx, []byte{112, 131, 106}); err != nil {
		t.Fatal(err)
	}
	close(release)
	select {
	case <-peer.Done():
	case <-ctx.Done():
		t.Fatalf("the peer's side did not end after the shutdown (got %d frames)", got.Load())
	}
	if !errors.Is(peer.Err(), ErrPeerClosed) {
		t.Errorf("the peer's connection ended with %v; want ErrPeerClosed (an orderly close, not a reset)", peer.Err())
	}
	if got.Load() != n {
		t.Errorf("the peer handled %d of %d frames written before the shutdown", got.Load(), n)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
}
