package hostile

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// Attacks before authentication: anyone who reaches the distribution
// port can make them.

// handshakeTimeout is the node's limit on each handshake step (Erlang's
// net_setuptime, 7 s): an unauthenticated connection that stops sending
// is closed after it.
const handshakeTimeout = 7 * time.Second

// closeBound is how long a case waits for the node to close a connection
// it must close: a handshake step's timeout, twice, and slack.
var closeBound = distributetest.Scale(2*handshakeTimeout + 10*time.Second)

// forEach runs f(i) for i in [0, n) on at most workers goroutines.
func forEach(n, workers int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

// errorList collects the failures of concurrent probes, keeping a few.
type errorList struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (e *errorList) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.first) < 5 {
		e.first = append(e.first, fmt.Sprintf(format, args...))
	}
}

func (e *errorList) check(t *testing.T, of int, what string) {
	t.Helper()
	if e.n > 0 {
		t.Errorf("%s: %d of %d failed; first: %s", what, e.n, of, strings.Join(e.first, "; "))
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestHostileGarbageAtDistPort: HTTP, TLS, epmd requests and random bytes
// at the distribution port. Bound: each such connection is closed by the
// node, at the latest after a handshake step's timeout.
func TestHostileGarbageAtDistPort(t *testing.T) {
	tg := startTarget(t, options{})
	payloads := [][]byte{
		[]byte("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
		[]byte("POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("a", 4000)),
		[]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
		// A TLS ClientHello's record header and the start of its body.
		{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03},
		// epmd's NAMES_REQ and PORT_PLEASE2_REQ.
		{0, 1, 'n'},
		append([]byte{0, 4, 'z'}, "box"...),
		// An empty handshake message, a send_name too short, a bad name,
		// an old 'n' send_name with a wrong version, a challenge_reply
		// first.
		{0, 0},
		{0, 3, 'N', 0, 0},
		append([]byte{0, 0}, sendName(flagsPassThrough, 1, "no at sign")...),
		{0, 9, 'n', 0, 9, 0, 0, 0, 0, 'a', 'b'},
		append([]byte{0, 21, 'r'}, make([]byte, 20)...),
	}
	// Fix the length of the bad-name send_name.
	payloads[8] = append(binary.BigEndian.AppendUint16(nil, uint16(len(payloads[8])-2)), payloads[8][2:]...)
	for range 1000 {
		payloads = append(payloads, randomBytes(1+int(random32()%4096)))
	}
	w := tg.begin()
	var errs errorList
	var slowest atomic.Int64
	forEach(len(payloads), 64, func(i int) {
		c, err := dial(tg.distAddr())
		if err != nil {
			errs.add("payload %d: dial: %v", i, err)
			return
		}
		defer c.Close()
		start := time.Now()
		c.SetWriteDeadline(time.Now().Add(distributetest.Scale(10 * time.Second)))
		c.Write(payloads[i]) // the node may close before it has read all
		if err := awaitClosed(c, closeBound); err != nil {
			errs.add("payload %d (%q...): %v", i, payloads[i][:min(len(payloads[i]), 16)], err)
		}
		d := time.Since(start)
		for {
			old := slowest.Load()
			if int64(d) <= old || slowest.CompareAndSwap(old, int64(d)) {
				break
			}
		}
	})
	errs.check(t, len(payloads), "garbage connections closed by the node")
	t.Logf("%d garbage connections, the slowest closed by the node after %v", len(payloads), time.Duration(slowest.Load()).Round(time.Millisecond))
	tg.finish(w, settled)
}

// TestHostileTruncatedHandshakes: 200 handshakes that stop at every step
// (inside the length, inside send_name, after send_name, after the
// challenge, inside the challenge reply). Bounds: a new node connects
// while they are pending; each is closed by the node after a step's
// timeout.
func TestHostileTruncatedHandshakes(t *testing.T) {
	tg := startTarget(t, options{})
	const perKind = 40
	kinds := []string{"length", "send_name", "after send_name", "after challenge", "challenge_reply"}
	w := tg.begin()
	conns := make([]net.Conn, len(kinds)*perKind)
	var errs errorList
	forEach(len(conns), 32, func(i int) {
		kind := kinds[i%len(kinds)]
		c, err := dial(tg.distAddr())
		if err != nil {
			errs.add("%s: dial: %v", kind, err)
			return
		}
		conns[i] = c
		name := newPeerName("trunc")
		switch kind {
		case "length":
			_, err = c.Write([]byte{0})
		case "send_name":
			msg := sendName(flagsPassThrough, 1, name)
			_, err = c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg[:len(msg)/2]...))
		case "after send_name":
			err = writeHS(c, sendName(flagsPassThrough, 1, name))
		case "after challenge":
			_, err = handshakeUpTo(c, bufio.NewReader(c), "challenge", name, cookie, flagsPassThrough)
		case "challenge_reply":
			if _, err = handshakeUpTo(c, bufio.NewReader(c), "challenge", name, cookie, flagsPassThrough); err == nil {
				_, err = c.Write([]byte{0, 21, 'r', 1, 2, 3, 4})
			}
		}
		if err != nil {
			errs.add("%s: %v", kind, err)
		}
	})
	errs.check(t, len(conns), "truncated handshakes set up")
	// While they are pending, a real node connects.
	if out, err := tg.runCLI("ping", tg.name); err != nil || out != "pong\n" {
		t.Errorf("distribute ping with %d handshakes pending: %q %v; want pong", len(conns), out, err)
	}
	var closed errorList
	start := time.Now()
	forEach(len(conns), 64, func(i int) {
		if conns[i] == nil {
			return
		}
		defer conns[i].Close()
		if err := awaitClosed(conns[i], closeBound); err != nil {
			closed.add("%s: %v", kinds[i%len(kinds)], err)
		}
	})
	closed.check(t, len(conns), "truncated handshakes closed by the node")
	t.Logf("the node closed %d truncated handshakes within %v", len(conns), time.Since(start).Round(time.Millisecond))
	tg.finish(w, settled)
}

// TestHostileHugeLengthPrefixes: lengths far above the limits, before
// and after the handshake, and frames announced at 100 MiB of which only
// 1 MiB arrives. Bounds: a length above the limit closes the connection;
// a frame's buffer grows only with the bytes that arrive.
func TestHostileHugeLengthPrefixes(t *testing.T) {
	tg := startTarget(t, options{})
	w := tg.begin()

	// Before the handshake: 2-byte lengths above the 2048-byte limit.
	for _, l := range []uint16{0xffff, 2049, 0x8000} {
		c, err := dial(tg.distAddr())
		if err != nil {
			t.Fatal(err)
		}
		c.Write(append(binary.BigEndian.AppendUint16(nil, l), randomBytes(200)...))
		if err := awaitClosed(c, closeBound); err != nil {
			t.Errorf("handshake message of %d bytes announced: %v", l, err)
		}
		c.Close()
	}

	// After the handshake: 4-byte lengths above the frame limit.
	for _, l := range []uint32{0xffffffff, 0x80000000, 128<<20 + 1} {
		p := tg.connect(false)
		p.write(append(binary.BigEndian.AppendUint32(nil, l), 112, 131))
		if err := p.awaitClosed(closeBound); err != nil {
			t.Errorf("frame of %d bytes announced: %v", l, err)
		}
	}

	// Frames within the limit that never finish: the node holds what
	// arrived, not what was announced.
	const conns, announced, sent = 8, 100 << 20, 1 << 20
	var held []*peer
	for range conns {
		p := tg.connect(false)
		if err := p.write(append(binary.BigEndian.AppendUint32(nil, announced), randomBytes(sent)...)); err != nil {
			t.Fatalf("send a partial frame: %v", err)
		}
		held = append(held, p)
	}
	// Once the node has read it all, look at its heap.
	var nc []net.Conn
	for _, p := range held {
		nc = append(nc, p.c)
	}
	if !tg.waitRead(nc, distributetest.Scale(30*time.Second)) {
		t.Errorf("the node did not read the partial frames within 30 s")
	}
	peak := w.peakNow()
	if limit := tg.base.heap + settled.heap; peak.heap > limit {
		t.Errorf("%d frames announced at %d MiB with %d MiB sent each: heap peaked at %.1f MiB (baseline %.1f MiB); the buffers must grow with the bytes that arrive",
			conns, announced>>20, sent>>20, mib(peak.heap), mib(tg.base.heap))
	}
	for _, p := range held {
		if !tg.hasConnFrom(p.c.LocalAddr()) {
			t.Errorf("the node closed a connection in the middle of a frame within the limit")
		}
		p.c.Close()
	}
	tg.finish(w, settled)
}

// TestHostileIdleConnections: 5,000 connections to the distribution port
// that never send a byte. Bound: pending unauthenticated handshakes are
// capped globally (about 256): the node's goroutines and fds stay within
// 1,024 of the baseline while they are open.
func TestHostileIdleConnections(t *testing.T) {
	tg := startTarget(t, options{})
	const n = 5000
	w := tg.begin()
	conns := make([]net.Conn, n)
	var dialErrs atomic.Int64
	forEach(n, 64, func(i int) {
		c, err := net.DialTimeout("tcp", tg.distAddr(), distributetest.Scale(10*time.Second))
		if err != nil {
			dialErrs.Add(1)
			return
		}
		conns[i] = c
	})
	opened := time.Now()
	t.Logf("%d idle connections open (%d dials failed)", n-int(dialErrs.Load()), dialErrs.Load())
	// Hold them a while: the healthy peer keeps calling.
	for time.Since(opened) < 2*time.Second {
		w.peakNow()
		time.Sleep(100 * time.Millisecond)
	}
	peak := w.peakNow()
	const bound = 1024
	if peak.goroutines > tg.base.goroutines+bound {
		t.Errorf("%d idle connections: the node's goroutines peaked at %d (baseline %d); want at most %d more: cap pending handshakes",
			n, peak.goroutines, tg.base.goroutines, bound)
	}
	if peak.fds > tg.base.fds+bound {
		t.Errorf("%d idle connections: the node's fds peaked at %d (baseline %d); want at most %d more",
			n, peak.fds, tg.base.fds, bound)
	}
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	tg.finish(w, settled)
}

// TestHostileWrongCookieStorm: 2,000 handshakes with a wrong cookie.
// Bounds: every one is refused; the failures are counted in a metric and
// logged at warning level (the node's default), rate-limited.
func TestHostileWrongCookieStorm(t *testing.T) {
	tg := startTarget(t, options{})
	const n = 2000
	_, logsBefore := tg.stderr.snapshot()
	w := tg.begin()
	var errs errorList
	var refused atomic.Int64
	forEach(n, 16, func(i int) {
		c, err := dial(tg.distAddr())
		if err != nil {
			errs.add("dial: %v", err)
			return
		}
		defer c.Close()
		_, err = handshakeUpTo(c, bufio.NewReader(c), "ack", newPeerName("storm"), "not-the-cookie", flagsPassThrough)
		switch {
		case errors.Is(err, errNoAck):
			refused.Add(1)
		case err == nil:
			errs.add("a handshake with the wrong cookie was accepted")
		default:
			errs.add("%v", err)
		}
	})
	errs.check(t, n, "wrong-cookie handshakes refused by closing after the challenge reply")
	lines, logsAfter := tg.stderr.snapshot()
	logged := logsAfter - logsBefore
	t.Logf("%d wrong-cookie handshakes refused; the node logged %d lines", refused.Load(), logged)
	visible := 0
	for _, l := range lines[max(0, len(lines)-logged):] {
		low := strings.ToLower(l)
		if strings.Contains(low, "handshake") || strings.Contains(low, "cookie") {
			visible++
		}
	}
	if visible == 0 {
		t.Errorf("%d failed handshakes left no warning in the node's log (default level)", n)
	}
	if logged > 100 {
		t.Errorf("%d failed handshakes made %d log lines; want them rate-limited (at most 100)", n, logged)
	}
	// A counter of failed handshakes.
	counted := handshakeFailures(tg.metrics())
	if counted < float64(refused.Load()) {
		t.Errorf("/metrics counts %.0f failed handshakes; want at least the %d refused (a counter named *handshake* with fail/refuse/reject/bad/error in its name or labels)", counted, refused.Load())
	}
	tg.finish(w, settled)
}

// failureMetric matches a Prometheus sample of failed handshakes.
var failureMetric = regexp.MustCompile(`(?i)^(\w*handshake\w*)(\{[^}]*\})?\s+(\S+)$`)

// handshakeFailures sums the samples of handshake counters whose name or
// labels say failure.
func handshakeFailures(metrics string) float64 {
	var sum float64
	for _, line := range strings.Split(metrics, "\n") {
		m := failureMetric.FindStringSubmatch(line)
		if m == nil || strings.HasSuffix(m[1], "_bucket") || strings.HasSuffix(m[1], "_sum") || strings.HasSuffix(m[1], "_count") {
			continue
		}
		what := strings.ToLower(m[1] + m[2])
		if !strings.Contains(what, "fail") && !strings.Contains(what, "refus") && !strings.Contains(what, "reject") &&
			!strings.Contains(what, "bad") && !strings.Contains(what, "error") {
			continue
		}
		if v, err := strconv.ParseFloat(m[3], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// TestHostileNameSquat: a client without the cookie sends send_name with
// the name of a node about to connect, and stops. Bound: a name is
// reserved only once the digest checks, so the real node connects while
// the squatter is still pending (whether its name sorts before the
// target's, which the simultaneous-connect rule would answer nok, or
// after), and the squatter's late wrong reply does not disturb it.
func TestHostileNameSquat(t *testing.T) {
	tg := startTarget(t, options{})
	w := tg.begin()
	for i, victim := range []string{newPeerName("aaa_victim"), newPeerName("zzz_victim")} {
		squat, err := dial(tg.distAddr())
		if err != nil {
			t.Fatal(err)
		}
		sr := bufio.NewReader(squat)
		if _, err := handshakeUpTo(squat, sr, "challenge", victim, "not-the-cookie", flagsPassThrough); err != nil {
			t.Fatalf("squatter's handshake up to the challenge: %v", err)
		}
		p, err := tg.tryConnect(victim, false)
		if err != nil {
			t.Errorf("the real %s could not connect while a squatter without the cookie held its name: %v", victim, err)
			squat.Close()
			continue
		}
		// The squatter is still pending: the real node did not wait for
		// it to time out.
		squat.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := sr.ReadByte(); err == nil {
			t.Errorf("the node sent the squatter more than the challenge")
		} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Errorf("the squatter's connection had ended (%v) by the time the real %s connected: the real connect waited for it", err, victim)
		}
		// The squatter's wrong reply is refused.
		reply := append([]byte{'r'}, binary.BigEndian.AppendUint32(nil, 1)...)
		writeHS(squat, append(reply, make([]byte, 16)...))
		if err := awaitClosed(squat, closeBound); err != nil {
			t.Errorf("squatter with a wrong digest: %v", err)
		}
		squat.Close()
		// The real connection still works.
		req := binaryTerm([]byte("hello"))
		if err := p.write(frame(p.call("box", i, req))); err != nil {
			t.Fatal(err)
		}
		if err := p.awaitEcho(req, distributetest.Scale(10*time.Second)); err != nil {
			t.Errorf("the real %s's call after the squatter: %v", victim, err)
		}
		p.c.Close()
	}
	tg.finish(w, settled)
}
