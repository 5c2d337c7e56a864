package dist

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// Interop tests against real erl (OTP 25). They use tiny epmd helpers
// (PORT_PLEASE2 and ALIVE2, section 1) so that they depend on nothing but
// this package and distributetest.

func epmdLookup(t testing.TB, epmdPort int, alive string) int {
	t.Helper()
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(epmdPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := binary.BigEndian.AppendUint16(nil, uint16(1+len(alive)))
	req = append(append(req, 122), alive...)
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	var resp [4]byte
	if _, err := io.ReadFull(c, resp[:2]); err != nil || resp[0] != 119 || resp[1] != 0 {
		t.Fatalf("PORT_PLEASE2 %s: %x %v", alive, resp[:2], err)
	}
	if _, err := io.ReadFull(c, resp[2:]); err != nil {
		t.Fatal(err)
	}
	return int(binary.BigEndian.Uint16(resp[2:]))
}

// epmdRegister registers alive on listenPort and keeps the registration
// until the test ends. It returns the creation.
func epmdRegister(t testing.TB, epmdPort int, alive string, listenPort int) uint32 {
	t.Helper()
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(epmdPort))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	body := []byte{120}
	body = binary.BigEndian.AppendUint16(body, uint16(listenPort))
	body = append(body, 77, 0, 0, 6, 0, 5)
	body = binary.BigEndian.AppendUint16(body, uint16(len(alive)))
	body = append(body, alive...)
	body = append(body, 0, 0)
	if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(body))), body...)); err != nil {
		t.Fatal(err)
	}
	var resp [6]byte
	if _, err := io.ReadFull(c, resp[:]); err != nil || resp[0] != 118 || resp[1] != 0 {
		t.Fatalf("ALIVE2 %s: %x %v", alive, resp, err)
	}
	return binary.BigEndian.Uint32(resp[2:])
}

// waitEval polls expr on n until it prints want.
func waitEval(t testing.TB, n *distributetest.ErlNode, expr, want string) {
	t.Helper()
	deadline := time.Now().Add(distributetest.Scale(10 * time.Second))
	for {
		got := n.Eval(t, expr)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %s; want %s\noutput:\n%s", expr, got, want, n.Output())
		}
		time.Sleep(50 * time.Millisecond) // polling interval of a condition wait
	}
}

// waitOutput waits until the node has printed text (outside Eval results).
func waitOutput(t testing.TB, n *distributetest.ErlNode, text string) {
	t.Helper()
	deadline := time.Now().Add(distributetest.Scale(10 * time.Second))
	for !strings.Contains(n.Output(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("erl did not print %q; output:\n%s", text, n.Output())
		}
		time.Sleep(20 * time.Millisecond) // polling interval of a condition wait
	}
}

func dialErl(t testing.TB, n *distributetest.ErlNode, goName, cookie string) (*Peer, []byte, net.Conn, error) {
	t.Helper()
	port := epmdLookup(t, n.EpmdPort, n.Name[:strings.IndexByte(n.Name, '@')])
	nc, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(20*time.Second))
	defer cancel()
	p, left, err := Dial(ctx, nc, HandshakeConfig{Name: goName, Creation: 4242, Cookie: cookie}, n.Name)
	return p, left, nc, err
}

func TestErlGoDials(t *testing.T) {
	for _, tc := range []struct{ erl, goName string }{
		{"e1@localhost", "go@localhost"},
		{"e1@127.0.0.1", "go@127.0.0.1"},
	} {
		t.Run(tc.erl, func(t *testing.T) {
			n := distributetest.StartErlNode(t, distributetest.ErlOptions{Name: tc.erl})
			// Wrong cookie first: typed error here, erl keeps serving.
			_, _, _, err := dialErl(t, n, tc.goName, "wrong")
			if !errors.Is(err, ErrBadCookie) {
				t.Fatalf("wrong cookie: err = %v; want ErrBadCookie", err)
			}
			// erl logs the refusal asynchronously. Wait for the log before the
			// next Eval: distributetest's EvalErr holds the lock its output
			// reader needs, so a log line printed during an Eval stalls that
			// Eval until its timeout.
			waitOutput(t, n, "Invalid challenge reply")
			p, left, nc, err := dialErl(t, n, tc.goName, n.Cookie)
			if err != nil {
				t.Fatalf("dial: %v\noutput:\n%s", err, n.Output())
			}
			if p.Name != tc.erl || p.Creation == 0 || p.Visible || !p.Published || p.Flags != DefaultFlags {
				t.Errorf("peer %+v (flags %v)", p, p.Flags)
			}
			conn, err := NewConn(nc, p, left, ConnConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			waitEval(t, n, fmt.Sprintf("lists:member('%s', nodes(hidden))", tc.goName), "true")
			if got := n.Eval(t, "nodes()"); got != "[]" {
				t.Errorf("nodes() = %s; want [] (we are hidden)", got)
			}
			conn.Close()
			waitEval(t, n, fmt.Sprintf("lists:member('%s', nodes(hidden))", tc.goName), "false")
		})
	}
}

// goAcceptor listens on loopback, registers alive in epmd and accepts
// connections until the test ends, passing each handshake result on.
type acceptResult struct {
	peer *Peer
	conn *Conn
	err  error
}

func goAcceptor(t *testing.T, epmdPort int, alive, cookie string, handler func([]byte) error) <-chan acceptResult {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	creation := epmdRegister(t, epmdPort, alive, ln.Addr().(*net.TCPAddr).Port)
	out := make(chan acceptResult, 8)
	done := make(chan struct{})
	var conns []*Conn
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(20*time.Second))
			p, left, err := Accept(ctx, nc, HandshakeConfig{Name: alive + "@localhost", Creation: creation, Cookie: cookie})
			cancel()
			r := acceptResult{peer: p, err: err}
			if err == nil {
				r.conn, r.err = NewConn(nc, p, left, ConnConfig{Handler: handler})
				conns = append(conns, r.conn)
			}
			out <- r
		}
	}()
	return out
}

func TestErlConnectsToGo(t *testing.T) {
	epmdPort := distributetest.StartEpmd(t)
	frames := make(chan []byte, 16)
	results := goAcceptor(t, epmdPort, "go", "distributetest", func(f []byte) error {
		frames <- append([]byte(nil), f...)
		return nil
	})
	n := distributetest.StartErlNode(t, distributetest.ErlOptions{Name: "e2@localhost", EpmdPort: epmdPort})

	// Wrong cookie towards us: false there, ErrBadCookie here.
	if got := n.Eval(t, "erlang:set_cookie('go@localhost', wrong), net_kernel:connect_node('go@localhost')"); got != "false" {
		t.Fatalf("connect_node with wrong cookie = %s; want false", got)
	}
	if r := <-results; !errors.Is(r.err, ErrBadCookie) {
		t.Fatalf("accept err = %v; want ErrBadCookie", r.err)
	}
	// Then the right one.
	if got := n.Eval(t, "erlang:set_cookie('go@localhost', distributetest), net_kernel:connect_node('go@localhost')"); got != "true" {
		t.Fatalf("connect_node = %s; want true\noutput:\n%s", got, n.Output())
	}
	r := <-results
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.peer.Name != "e2@localhost" || r.peer.Visible || r.peer.Creation == 0 {
		t.Errorf("peer %+v", r.peer)
	}
	if got := n.Eval(t, "nodes(hidden)"); got != "[go@localhost]" {
		t.Errorf("nodes(hidden) = %s", got)
	}
	// A message sent by erl arrives as a header-mode REG_SEND frame whose
	// atoms are atom cache references.
	if got := n.Eval(t, "{any, 'go@localhost'} ! {hello, <<1,2,3>>, self()}"); !strings.HasPrefix(got, "{hello,<<1,2,3>>,<") {
		t.Fatalf("send = %s", got)
	}
	var frame []byte
	select {
	case frame = <-frames:
	case <-time.After(distributetest.Scale(10 * time.Second)):
		t.Fatal("no frame from erl")
	}
	var d etf.Decoder
	var cache HeaderCache
	if _, _, _, err := ParseFrame(&d, frame); !errors.Is(err, ErrHeaderMode) {
		t.Fatalf("ParseFrame of a header-mode frame: %v; want ErrHeaderMode", err)
	}
	if refs, _, err := cache.ReadHeader(frame, nil); err != nil || len(refs) == 0 {
		t.Fatalf("ReadHeader(%x) = %v, %v; want erl's atom cache refs", frame, refs, err)
	}
	ctrl, msg, has, err := ParseHeaderFrame(&d, &cache, frame)
	if err != nil || !has {
		t.Fatalf("ParseHeaderFrame(%x): %v, has %v", frame, err, has)
	}
	c, err := ParseControl(ctrl)
	if err != nil {
		t.Fatal(err)
	}
	if c.Op != OpRegSend || c.To != etf.Atom("any") {
		t.Fatalf("control %v", c)
	}
	from, ok := c.From.(etf.Pid)
	if !ok || from.Node != "e2@localhost" {
		t.Fatalf("from %v", c.From)
	}
	if m, ok := msg.(etf.Tuple); !ok || len(m) != 3 || m[0] != etf.Atom("hello") || string(m[1].(etf.Binary)) != "\x01\x02\x03" || m[2] != from {
		t.Fatalf("msg %#v", msg)
	}

	// And a frame from Go reaches an erl process: REG_SEND to a registered
	// name, then SEND to the pid we just learned.
	self := etf.Pid{Node: "go@localhost", ID: 1, Creation: 1}
	n.Eval(t, "register(sink, self())")
	out, err := AppendHeaderFrame(nil, Control{Op: OpRegSend, From: self, To: etf.Atom("sink")}.Tuple(), etf.Tuple{etf.Atom("from_go"), int64(42)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.conn.Send(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	if got := n.Eval(t, "receive M -> M after 10000 -> timeout end"); got != "{from_go,42}" {
		t.Fatalf("erl received %s", got)
	}
	// The payload atom as an atom cache reference: stored in slot 0x105
	// (a long-atom header, as the 300-byte atom beside it needs), then
	// referred to by a later frame.
	long := etf.Atom(strings.Repeat("é", 150))
	for _, refs := range [][]HeaderRef{
		{{Slot: 0x105, New: true, Atom: "by_pid"}, {Slot: 7, New: true, Atom: long}},
		{{Slot: 0x105, Atom: "by_pid"}, {Slot: 7, Atom: long}},
	} {
		out, err = AppendHeader(out[:0], refs...)
		if err != nil {
			t.Fatal(err)
		}
		out, _ = etf.AppendTerm(out, Control{Op: OpSend, To: from}.Tuple())
		out = append(out, etf.TagSmallTuple, 2, etf.TagAtomCacheRef, 0, etf.TagAtomCacheRef, 1)
		if err := r.conn.Send(context.Background(), out); err != nil {
			t.Fatal(err)
		}
		got := n.Eval(t, "receive {by_pid, L} -> {by_pid, length(atom_to_list(L))}; M -> M after 10000 -> timeout end")
		if got != "{by_pid,150}" {
			t.Fatalf("erl received %s", got)
		}
	}
	if r.conn.Err() != nil {
		t.Fatalf("connection failed: %v", r.conn.Err())
	}
}

func TestErlTicks(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 12 s")
	}
	n := distributetest.StartErlNode(t, distributetest.ErlOptions{Name: "e3@localhost", Args: []string{"-kernel", "net_ticktime", "4"}})
	p, left, nc, err := dialErl(t, n, "go@localhost", n.Cookie)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := NewConn(nc, p, left, ConnConfig{TickTime: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// An idle connection survives three tick times in both directions.
	timer := time.NewTimer(12 * time.Second)
	select {
	case <-conn.Done():
		t.Fatalf("connection closed: %v\noutput:\n%s", conn.Err(), n.Output())
	case <-timer.C:
	}
	if got := n.Eval(t, "nodes(hidden)"); got != "[go@localhost]" {
		t.Fatalf("nodes(hidden) = %s\noutput:\n%s", got, n.Output())
	}
	if st := conn.Stats(); st.TicksIn < 6 || st.TicksOut < 6 {
		t.Errorf("ticks in %d out %d; want >= 6 each over 12 s at 1 s intervals", st.TicksIn, st.TicksOut)
	}

	// Now freeze erl: our side must drop it with net_tick_timeout.
	stopped := time.Now()
	if err := n.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Signal(syscall.SIGCONT) })
	select {
	case <-conn.Done():
	case <-time.After(distributetest.Scale(30 * time.Second)):
		t.Fatal("no tick timeout after SIGSTOP")
	}
	if !errors.Is(conn.Err(), ErrTickTimeout) {
		t.Fatalf("reason %v; want ErrTickTimeout", conn.Err())
	}
	if el := time.Since(stopped); el < 3*time.Second {
		t.Errorf("dropped after %v, before 3/4 of the tick time", el)
	}
	n.Signal(syscall.SIGCONT)
}

// NAME_ME: erl assigns us a name and creation (status "named:").
func TestErlNameMe(t *testing.T) {
	n := distributetest.StartErlNode(t, distributetest.ErlOptions{Name: "e4@localhost"})
	port := epmdLookup(t, n.EpmdPort, "e4")
	nc, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(20*time.Second))
	defer cancel()
	p, left, err := Dial(ctx, nc, HandshakeConfig{Name: "localhost", Cookie: n.Cookie, Flags: DefaultFlags | Published | NameMe}, n.Name)
	if err != nil {
		t.Fatalf("dial: %v\noutput:\n%s", err, n.Output())
	}
	// OTP makes the alive part of random upper-case letters and digits
	// (12 in the spec's capture, 13 seen here).
	alive, host, _ := cut(p.AssignedName, '@')
	if host != "localhost" || alive == "" || strings.Trim(alive, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" || p.AssignedCreation == 0 || p.Visible {
		t.Fatalf("peer %+v", p)
	}
	conn, err := NewConn(nc, p, left, ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitEval(t, n, "nodes(hidden)", "['"+p.AssignedName+"']")
}

// A second connection under the same name gets status "alive"; our "true"
// makes erl drop the old connection and keep the new one.
func TestErlAlive(t *testing.T) {
	n := distributetest.StartErlNode(t, distributetest.ErlOptions{Name: "e5@localhost"})
	p1, left1, nc1, err := dialErl(t, n, "go@localhost", n.Cookie)
	if err != nil {
		t.Fatal(err)
	}
	c1, err := NewConn(nc1, p1, left1, ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	waitEval(t, n, "nodes(hidden)", "[go@localhost]")
	p2, left2, nc2, err := dialErl(t, n, "go@localhost", n.Cookie)
	if err != nil {
		t.Fatalf("second dial: %v\noutput:\n%s", err, n.Output())
	}
	c2, err := NewConn(nc2, p2, left2, ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	select {
	case <-c1.Done():
	case <-time.After(distributetest.Scale(10 * time.Second)):
		t.Fatal("erl did not drop the old connection")
	}
	if !errors.Is(c1.Err(), ErrPeerClosed) && !isConnReset(c1.Err()) {
		t.Errorf("old connection ended with %v", c1.Err())
	}
	waitEval(t, n, "nodes(hidden)", "[go@localhost]")
	if c2.Err() != nil {
		t.Fatalf("new connection failed: %v", c2.Err())
	}
}
