package hostile

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// Attacks after a good handshake: a peer with the cookie that sends what
// no honest node sends. Each bad frame must cost the peer its connection,
// never the node; each legal one, however large, must work.

// Term builders. They return External Term Format bytes without the
// version byte (as terms travel inside a gen_server call built by
// peer.call); prefix 131 for a message of its own.

// nestedLists is depth lists, each the only element of the one around
// it, with [] innermost: [[[...[]...]]].
func nestedLists(depth int) []byte {
	b := make([]byte, 0, 6*depth+1)
	for range depth {
		b = append(b, 108, 0, 0, 0, 1) // LIST_EXT, 1 element
	}
	b = append(b, 106) // NIL_EXT
	for range depth {
		b = append(b, 106) // each list's tail
	}
	return b
}

// nestedTuples is depth 1-tuples around the integer 0: {{{...0...}}}.
func nestedTuples(depth int) []byte {
	b := make([]byte, 0, 2*depth+2)
	for range depth {
		b = append(b, 104, 1) // SMALL_TUPLE_EXT, arity 1
	}
	return append(b, 97, 0)
}

// bigInteger is a LARGE_BIG_EXT of n bytes of digits.
func bigInteger(n int) []byte {
	b := binary.BigEndian.AppendUint32([]byte{111}, uint32(n))
	b = append(b, 0) // positive
	digits := randomBytes(n)
	digits[n-1] |= 1 // no leading zero
	return append(b, digits...)
}

// binaryTerm is a BINARY_EXT holding data.
func binaryTerm(data []byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{109}, uint32(len(data))), data...)
}

// atomList is a proper list of n atoms (SMALL_ATOM_UTF8_EXT), atom i
// written by atom into the buffer it is given.
func atomList(n int, atom func(dst []byte, i int) []byte) []byte {
	b := binary.BigEndian.AppendUint32(append(make([]byte, 0, 1<<20), 108), uint32(n))
	for i := range n {
		at := len(b)
		b = atom(append(b, 119, 0), i)
		b[at+1] = byte(len(b) - at - 2)
	}
	return append(b, 106)
}

// zeros pads paddedAtom's numbers.
var zeros = bytes.Repeat([]byte{'0'}, 255)

// paddedAtom appends prefix and i, zero-padded to width digits.
func paddedAtom(dst []byte, prefix string, i, width int) []byte {
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], int64(i), 10)
	dst = append(dst, prefix...)
	dst = append(dst, zeros[:width-len(d)]...)
	return append(dst, d...)
}

// booleans is a proper list of n atoms, true and false in turn.
func booleans(n int) []byte {
	pair := []byte{119, 4, 't', 'r', 'u', 'e', 119, 5, 'f', 'a', 'l', 's', 'e'}
	b := binary.BigEndian.AppendUint32([]byte{108}, uint32(n))
	b = append(b, bytes.Repeat(pair, n/2)...)
	if n%2 == 1 {
		b = append(b, pair[:6]...)
	}
	return append(b, 106)
}

// erlBytes parses the text of an Erlang list of bytes, [131,80,...].
func erlBytes(t *testing.T, text string) []byte {
	t.Helper()
	text = strings.TrimSuffix(strings.TrimPrefix(text, "["), "]")
	var b []byte
	for _, f := range strings.Split(text, ",") {
		v, err := strconv.ParseUint(f, 10, 8)
		if err != nil {
			t.Fatalf("not a list of bytes: %q", f)
		}
		b = append(b, byte(v))
	}
	return b
}

// compressed is a whole compressed term (131, 80, size, zlib data) whose
// inflated form is body (a term without version byte).
func compressed(body []byte) []byte {
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	zw.Write(body)
	zw.Close()
	b := binary.BigEndian.AppendUint32([]byte{131, 80}, uint32(len(body)))
	return append(b, z.Bytes()...)
}

// expectCloses sends each frame payload on a connection of its own and
// expects the node to close that connection.
func expectCloses(t *testing.T, tg *target, cases []struct {
	name    string
	payload func(p *peer) []byte
}) {
	t.Helper()
	for _, c := range cases {
		p := tg.connect(false)
		start := time.Now()
		if err := p.write(frame(c.payload(p))); err != nil && !isClosedErr(err) {
			t.Errorf("%s: write: %v", c.name, err)
		}
		if err := p.awaitClosed(closeBound); err != nil {
			t.Errorf("%s: the node kept the connection: %v", c.name, err)
		} else {
			t.Logf("%s: connection closed by the node after %v", c.name, time.Since(start).Round(time.Millisecond))
		}
		p.c.Close()
		tg.checkAlive()
	}
}

// isClosedErr reports a write that failed because the node had already
// closed the connection.
func isClosedErr(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

type frameCase = struct {
	name    string
	payload func(p *peer) []byte
}

// TestHostileOversizedTerms: terms whose lengths lie (a 4 GiB binary, a
// list of 4 G elements, in frames of a few bytes), an integer above
// OTP's size, and a legal 8 MiB binary. Bounds: lying lengths and the
// oversized integer close the connection without allocating what they
// announce; the 8 MiB binary is echoed.
func TestHostileOversizedTerms(t *testing.T) {
	tg := startTarget(t, options{})
	w := tg.begin()
	lie := func(tag byte, n uint32, rest ...byte) func(p *peer) []byte {
		return func(p *peer) []byte {
			msg := append(binary.BigEndian.AppendUint32([]byte{131, tag}, n), rest...)
			return passThrough(p.regSend("box"), msg)
		}
	}
	expectCloses(t, tg, []frameCase{
		{"binary announcing 4 GiB", lie(109, 0xffffffff, 'a', 'b', 'c')},
		{"list announcing 4 G elements", lie(108, 0xffffffff, 97, 1, 97, 2)},
		{"tuple announcing 4 G elements", lie(105, 0xffffffff, 97, 1)},
		{"map announcing 4 G pairs", lie(116, 0xffffffff, 97, 1, 97, 2)},
		{"integer announcing 4 GiB of digits", lie(111, 0xffffffff, 0, 1, 2, 3)},
		{"string announcing 64 KiB", func(p *peer) []byte {
			return passThrough(p.regSend("box"), []byte{131, 107, 0xff, 0xff, 'a'})
		}},
		{"atom announcing 64 KiB", func(p *peer) []byte {
			return passThrough(p.regSend("box"), []byte{131, 118, 0xff, 0xff, 'a'})
		}},
		// OTP 25 closes the connection for integers above about 4 MiB.
		{"a 5 MiB integer in a call", func(p *peer) []byte { return p.call("box", 1, bigInteger(5<<20)) }},
	})
	// A large legal message works.
	p := tg.connect(false)
	req := binaryTerm(append(bytes.Repeat([]byte("a legal large binary "), 400_000), randomBytes(64)...))
	if err := p.write(frame(p.call("box", 2, req))); err != nil {
		t.Fatal(err)
	}
	if err := p.awaitEcho(req, distributetest.Scale(60*time.Second)); err != nil {
		t.Errorf("a call with an 8 MiB binary: %v", err)
	}
	p.c.Close()
	tg.finish(w, settled)
}

// TestHostileDeepTerms: a legal term 50,000 levels deep, and terms over
// the depth cap (100,000) up to 2,000,000 levels. Bounds: the legal one
// is decoded, printed by the inbox and echoed (no goroutine stack
// overflow, which would kill the node); the others close the connection.
func TestHostileDeepTerms(t *testing.T) {
	tg := startTarget(t, options{})
	w := tg.begin()
	p := tg.connect(false)
	req := nestedLists(50_000)
	if err := p.write(frame(p.call("box", 1, req))); err != nil {
		t.Fatal(err)
	}
	if err := p.awaitEcho(req, distributetest.Scale(60*time.Second)); err != nil {
		t.Errorf("a call with a list 50,000 levels deep (legal: the cap is 100,000): %v", err)
	}
	p.c.Close()
	expectCloses(t, tg, []frameCase{
		{"tuples 100,001 levels deep", func(p *peer) []byte {
			return passThrough(p.regSend("box"), append([]byte{131}, nestedTuples(100_001)...))
		}},
		{"lists 1,000,000 levels deep", func(p *peer) []byte {
			return passThrough(p.regSend("box"), append([]byte{131}, nestedLists(1_000_000)...))
		}},
		{"tuples 2,000,000 levels deep in a call", func(p *peer) []byte { return p.call("box", 2, nestedTuples(2_000_000)) }},
		{"control tuple 1,000,000 levels deep", func(p *peer) []byte {
			return append([]byte{112, 131, 104, 2, 97, opRegSend}, nestedTuples(1_000_000)...)
		}},
	})
	tg.finish(w, settled)
}

// TestHostileCompressedBomb: compressed terms inside distribution
// messages (OTP never sends them there, and closes the connection):
// 32 MiB of zeros in 32 KiB of zlib, as a message and as a control
// tuple. Bound: the connection closes; the node's heap stays within
// 64 MiB of the baseline.
func TestHostileCompressedBomb(t *testing.T) {
	tg := startTarget(t, options{})
	// As OTP compresses it (and in a fraction of the time zlib takes
	// under the race detector).
	bomb := erlBytes(t, tg.erl.Eval(t, "binary_to_list(term_to_binary(<<0:(32*1024*1024*8)>>, [{compressed, 9}]))"))
	if len(bomb) < 6 || bomb[0] != 131 || bomb[1] != 80 {
		t.Fatalf("term_to_binary(..., [compressed]) = %x...", bomb[:min(len(bomb), 8)])
	}
	t.Logf("bomb: %d bytes inflating to %d", len(bomb), 32<<20+5)
	w := tg.begin()
	expectCloses(t, tg, []frameCase{
		{"compressed message to box", func(p *peer) []byte { return passThrough(p.regSend("box"), bomb) }},
		{"compressed message to box, again", func(p *peer) []byte { return passThrough(p.regSend("box"), bomb) }},
		{"compressed control tuple", func(p *peer) []byte {
			ctrl, _ := etf.AppendTerm(nil, p.regSend("box"))
			return append(append([]byte{112}, compressed(ctrl)...), 131, 97, 1)
		}},
	})
	if peak := w.peakNow(); peak.heap > tg.base.heap+64<<20 {
		t.Errorf("compressed bombs of %d bytes: the node's heap peaked at %.1f MiB (baseline %.1f MiB)", len(bomb), mib(peak.heap), mib(tg.base.heap))
	}
	tg.finish(w, settled)
}

// TestHostileAtomFlood: a list of 1.1 million booleans (over the old
// per-term atom count, legal in OTP) and 60,000 distinct 200-character
// atoms. Bound: both are decoded and echoed; distinct atoms cost nothing
// once the message is gone (a Go atom is a collected string; the
// decoder's atom table per connection is bounded).
func TestHostileAtomFlood(t *testing.T) {
	tg := startTarget(t, options{})
	w := tg.begin()
	p := tg.connect(false)
	bools := booleans(1_100_000)
	if err := p.write(frame(p.call("box", 1, bools))); err != nil {
		t.Fatal(err)
	}
	if err := p.awaitEcho(bools, distributetest.Scale(60*time.Second)); err != nil {
		t.Errorf("a call with a list of 1.1 million booleans: %v", err)
	}
	p.c.Close()
	p = tg.connect(false)
	distinct := atomList(20_000, func(dst []byte, i int) []byte { return paddedAtom(dst, "atom_", i, 195) })
	if err := p.write(frame(p.call("box", 2, distinct))); err != nil {
		t.Fatal(err)
	}
	if err := p.awaitEcho(distinct, distributetest.Scale(60*time.Second)); err != nil {
		t.Errorf("a call with 20,000 distinct atoms: %v", err)
	}
	// More distinct atoms, to a name nobody holds: decoded and dropped.
	for i := range 2 {
		distinct := atomList(20_000, func(dst []byte, j int) []byte { return paddedAtom(dst, fmt.Sprintf("flood%d_", i), j, 190) })
		if err := p.write(frame(passThrough(p.regSend("nobody_here"), append([]byte{131}, distinct...)))); err != nil {
			t.Fatal(err)
		}
	}
	// A call behind them proves they were read.
	req := binaryTerm([]byte("after the flood"))
	if err := p.write(frame(p.call("box", 3, req))); err != nil {
		t.Fatal(err)
	}
	if err := p.awaitEcho(req, distributetest.Scale(60*time.Second)); err != nil {
		t.Errorf("a call after 60,000 distinct atoms: %v", err)
	}
	p.c.Close()
	tg.finish(w, settled)
}

// TestHostileUnknownControlOps: control messages no node sends: unknown
// operations, wrong arities and types, a payload where none belongs,
// trailing bytes. Bound: each closes its connection.
func TestHostileUnknownControlOps(t *testing.T) {
	tg := startTarget(t, options{})
	w := tg.begin()
	msg := []byte{131, 97, 1}
	ctrl := func(terms ...etf.Term) func(p *peer) []byte {
		return func(p *peer) []byte { return passThrough(etf.Tuple(terms), nil) }
	}
	expectCloses(t, tg, []frameCase{
		{"op 99", ctrl(int64(99))},
		{"op -1", ctrl(int64(-1), etf.Atom("x"))},
		{"op 2^40", ctrl(int64(1) << 40)},
		{"op as an atom", ctrl(etf.Atom("send"), etf.Atom(""), etf.Atom("box"))},
		{"empty control tuple", ctrl()},
		{"control is not a tuple", func(p *peer) []byte { return []byte{112, 131, 100, 0, 2, 'h', 'i'} }},
		{"SEND without receiver", ctrl(int64(opSend), etf.Atom(""))},
		{"SEND to a binary", func(p *peer) []byte {
			return passThrough(etf.Tuple{int64(opSend), etf.Atom(""), etf.Binary("box")}, msg)
		}},
		{"REG_SEND without its message", func(p *peer) []byte { return passThrough(p.regSend("box"), nil) }},
		{"LINK with a message", func(p *peer) []byte {
			return passThrough(etf.Tuple{int64(opLink), p.self, p.deadPid(1)}, msg)
		}},
		{"MONITOR_P of a tuple", func(p *peer) []byte {
			return passThrough(etf.Tuple{int64(opMonitorP), p.self, etf.Tuple{etf.Atom("a")}, p.ref(1)}, nil)
		}},
		{"trailing bytes after the message", func(p *peer) []byte {
			return append(passThrough(p.regSend("box"), msg), 1, 2, 3)
		}},
		{"no control term", func(p *peer) []byte { return []byte{112} }},
		{"frame of unknown kind", func(p *peer) []byte { return []byte{99, 1, 2, 3} }},
		{"header-mode frame on a pass-through connection", func(p *peer) []byte { return []byte{131, 68, 0, 104, 1, 97, 2} }},
	})
	tg.finish(w, settled)
}

// tickTime is the target's --tick-time in the cases about peers that do
// not read: a queue that stays full that long disconnects the peer.
const tickTime = 15 * time.Second

// slowReaderOptions start a target with a short tick time, and the
// Erlang peer with the same net_ticktime.
var slowReaderOptions = options{
	args:    []string{"--tick-time", tickTime.String()},
	erlArgs: []string{"-kernel", "net_ticktime", fmt.Sprint(int(tickTime.Seconds()))},
}

// linkFrames appends n LINK frames from p to dead pids first..first+n-1:
// the node answers each with an exit signal noproc.
func (p *peer) linkFrames(dst []byte, first, n int) []byte {
	for i := first; i < first+n; i++ {
		dst = append(dst, frame(passThrough(etf.Tuple{int64(opLink), p.self, p.deadPid(i)}, nil))...)
	}
	return dst
}

// TestHostileSlowReader: a peer sends 100,000 LINKs to dead pids and
// reads nothing for a while, then reads. Bound: the node's replies queue
// in bounded memory without a goroutine each (goroutines within 1,024
// and heap within 64 MiB of the baseline), and none is lost or reordered:
// all 100,000 exit signals arrive, in order.
func TestHostileSlowReader(t *testing.T) {
	tg := startTarget(t, slowReaderOptions)
	const n = 100_000
	w := tg.begin()
	p := tg.connect(false)
	writeErr := make(chan error, 1)
	go func() {
		const batch = 1000
		var err error
		for i := 0; i < n && err == nil; i += batch {
			p.c.SetWriteDeadline(time.Now().Add(distributetest.Scale(60 * time.Second)))
			_, err = p.c.Write(p.linkFrames(nil, i, batch))
		}
		writeErr <- err
	}()
	// Not reading, for less than a tick time.
	for start := time.Now(); time.Since(start) < tickTime/4; {
		w.peakNow()
		time.Sleep(100 * time.Millisecond)
	}
	peak := w.peakNow()
	if peak.goroutines > tg.base.goroutines+1024 {
		t.Errorf("replies to a peer that does not read: the node's goroutines peaked at %d (baseline %d); want replies queued without a goroutine each", peak.goroutines, tg.base.goroutines)
	}
	if peak.heap > tg.base.heap+64<<20 {
		t.Errorf("replies to a peer that does not read: the node's heap peaked at %.1f MiB (baseline %.1f MiB)", mib(peak.heap), mib(tg.base.heap))
	}
	// Now read: every exit signal, in order.
	dec := etf.Decoder{}
	deadline := time.Now().Add(distributetest.Scale(90 * time.Second))
	next := 0
	for next < n {
		f, err := p.readFrame(deadline)
		if err != nil {
			t.Fatalf("after %d of %d exit signals: %v", next, n, err)
		}
		if len(f) == 0 || f[0] != 112 {
			t.Fatalf("frame %x...: not pass-through", f[:min(len(f), 8)])
		}
		ctrl, _, err := dec.Decode(f[1:])
		if err != nil {
			t.Fatalf("decode a frame from the node: %v", err)
		}
		c, ok := ctrl.(etf.Tuple)
		if !ok || len(c) < 3 {
			t.Fatalf("control %v", ctrl)
		}
		if op, _ := c[0].(int64); op != opPayExit && op != 3 {
			continue // not an exit signal (none expected, but harmless)
		}
		from, _ := c[1].(etf.Pid)
		if want := p.deadPid(next); from != want {
			t.Fatalf("exit signal %d is from %v; want %v (lost or reordered)", next, from, want)
		}
		next++
	}
	if err := <-writeErr; err != nil {
		t.Errorf("sending the LINKs: %v", err)
	}
	p.c.Close()
	tg.finish(w, settled)
}

// TestHostileNeverReader: a peer floods LINKs to dead pids and calls to
// box, never reads, and keeps sending ticks. Bounds: the node's
// goroutines stay within 1,024 and its heap within 64 MiB of the
// baseline; box keeps answering the healthy peer (its replies do not
// wait on the peer that does not read); the peer is disconnected about a
// tick time after its queue filled.
func TestHostileNeverReader(t *testing.T) {
	tg := startTarget(t, slowReaderOptions)
	w := tg.begin()
	p := tg.connect(false)
	req := binaryTerm(bytes.Repeat([]byte("unread reply "), 20))
	var sent, calls int
	for i := 0; i < 200_000; i += 500 {
		b := p.linkFrames(nil, i, 500)
		b = append(b, frame(p.call("box", i, req))...)
		p.c.SetWriteDeadline(time.Now().Add(distributetest.Scale(2 * time.Second)))
		if _, err := p.c.Write(b); err != nil {
			break // the node stopped reading us (or closed)
		}
		sent, calls = i+500, calls+1
	}
	t.Logf("sent %d LINKs and %d calls before the node stopped reading", sent, calls)
	full := time.Now()
	peak := w.peakNow()
	// Keep ticking, never read: only the full queue can disconnect us.
	var closed bool
	var mu sync.Mutex
	stopTicks := make(chan struct{})
	ticksDone := make(chan struct{})
	go func() {
		defer close(ticksDone)
		for {
			select {
			case <-stopTicks:
				return
			case <-time.After(500 * time.Millisecond):
			}
			p.c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
			if _, err := p.c.Write([]byte{0, 0, 0, 0}); err != nil {
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					mu.Lock()
					closed = true
					mu.Unlock()
					return
				}
			}
		}
	}()
	deadline := time.Now().Add(distributetest.Scale(3*tickTime + 20*time.Second))
	for {
		mu.Lock()
		c := closed
		mu.Unlock()
		if c || !tg.hasConnFrom(p.c.LocalAddr()) {
			t.Logf("the node disconnected the peer that does not read %v after its queue filled", time.Since(full).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the node still holds the connection of a peer that has not read for %v (tick time %v)", time.Since(full).Round(time.Second), tickTime)
			break
		}
		peak = maxUsage(peak, w.peakNow())
		time.Sleep(200 * time.Millisecond)
	}
	close(stopTicks)
	<-ticksDone
	p.c.Close()
	if peak.goroutines > tg.base.goroutines+1024 {
		t.Errorf("replies to a peer that never reads: the node's goroutines peaked at %d (baseline %d); want them queued without a goroutine each", peak.goroutines, tg.base.goroutines)
	}
	if peak.heap > tg.base.heap+64<<20 {
		t.Errorf("replies to a peer that never reads: the node's heap peaked at %.1f MiB (baseline %.1f MiB)", mib(peak.heap), mib(tg.base.heap))
	}
	tg.finish(w, settled)
}

// fragment is one fragment frame's payload: 131, 69 (first) or 70, the
// sequence and fragment ids, then body.
func fragment(first bool, seq, id uint64, body []byte) []byte {
	tag := byte(70)
	if first {
		tag = 69
	}
	b := binary.BigEndian.AppendUint64([]byte{131, tag}, seq)
	b = binary.BigEndian.AppendUint64(b, id)
	return append(b, body...)
}

// TestHostileFragmentBomb: in header mode, first fragments that announce
// 2^62 fragments, on 4 connections, then a legal fragmented call.
// Bound: reassembly grows with the fragments that arrive (the node's
// heap stays within 64 MiB of the baseline, not 4 × 128 MiB); the legal
// call is echoed.
func TestHostileFragmentBomb(t *testing.T) {
	tg := startTarget(t, options{})
	w := tg.begin()
	var bombs []*peer
	for i := range 4 {
		p := tg.connect(true)
		ctrl, _ := etf.AppendTerm([]byte{0}, p.regSend("box")) // no atom cache refs
		body := append(ctrl, 109, 0x40, 0, 0, 0)               // a 1 GiB binary begins
		body = append(body, randomBytes(60<<10)...)
		if err := p.write(frame(fragment(true, uint64(i+1), 1<<62, body))); err != nil {
			t.Fatal(err)
		}
		bombs = append(bombs, p)
	}
	var nc []net.Conn
	for _, p := range bombs {
		nc = append(nc, p.c)
	}
	if !tg.waitRead(nc, distributetest.Scale(30*time.Second)) {
		t.Errorf("the node did not read the first fragments within 30 s")
	}
	if peak := w.peakNow(); peak.heap > tg.base.heap+64<<20 {
		t.Errorf("4 first fragments announcing 2^62 fragments: the node's heap peaked at %.1f MiB (baseline %.1f MiB); reassembly must grow with what arrives",
			mib(peak.heap), mib(tg.base.heap))
	}
	for _, p := range bombs {
		if !tg.hasConnFrom(p.c.LocalAddr()) {
			t.Logf("the node closed a connection after a first fragment announcing 2^62 fragments")
		}
		p.c.Close()
	}
	// A legal fragmented call: 60 KiB in 16 KiB fragments.
	p := tg.connect(true)
	req := binaryTerm(randomBytes(60 << 10))
	call := p.call("box", 1, req)[1:] // without the pass-through byte: 131, ctrl, 131, msg
	ctrl, n, err := (&etf.Decoder{}).Decode(call)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := etf.AppendTerm([]byte{0}, ctrl)
	body = append(body, call[n+1:]...) // the message without its version byte
	const chunk = 16 << 10
	count := uint64((len(body) + chunk - 1) / chunk)
	var frames []byte
	for i := uint64(0); i < count; i++ {
		part := body[i*chunk : min(uint64(len(body)), (i+1)*chunk)]
		frames = append(frames, frame(fragment(i == 0, 99, count-i, part))...)
	}
	if err := p.write(frames); err != nil {
		t.Fatal(err)
	}
	if err := p.awaitEcho(req, distributetest.Scale(30*time.Second)); err != nil {
		t.Errorf("a call in %d fragments: %v", count, err)
	}
	p.c.Close()
	tg.finish(w, settled)
}
