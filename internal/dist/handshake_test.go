package dist

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

type hsResult struct {
	peer *Peer
	left []byte
	err  error
}

// handshakePair runs Dial on one end and Accept on the other of a loopback
// TCP connection and returns both results.
func handshakePair(t *testing.T, dcfg, acfg HandshakeConfig, peerName string) (d, a hsResult) {
	t.Helper()
	c, s := tcpPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
	defer cancel()
	ach := make(chan hsResult, 1)
	go func() {
		p, l, err := Accept(ctx, s, acfg)
		ach <- hsResult{p, l, err}
	}()
	p, l, err := Dial(ctx, c, dcfg, peerName)
	d = hsResult{p, l, err}
	a = <-ach
	return d, a
}

func TestHandshakeGoGo(t *testing.T) {
	dcfg := HandshakeConfig{Name: "a@localhost", Creation: 11, Cookie: "secret"}
	acfg := HandshakeConfig{Name: "b@localhost", Creation: 22, Cookie: "secret", Flags: DefaultFlags | Published}
	d, a := handshakePair(t, dcfg, acfg, "b@localhost")
	if d.err != nil || a.err != nil {
		t.Fatalf("dial err %v, accept err %v", d.err, a.err)
	}
	if d.peer.Name != "b@localhost" || d.peer.Creation != 22 || d.peer.Flags != DefaultFlags || d.peer.Visible {
		t.Errorf("dial side peer %+v", d.peer)
	}
	if a.peer.Name != "a@localhost" || a.peer.Creation != 11 || a.peer.Flags != DefaultFlags || a.peer.Visible {
		t.Errorf("accept side peer %+v", a.peer)
	}
	// The hidden dialer learns that its peer published itself; the
	// visible acceptor that its peer did not.
	if !d.peer.Published || a.peer.Published {
		t.Errorf("published: dial side sees %v, accept side %v; want true, false", d.peer.Published, a.peer.Published)
	}
	// Both visible: a visible connection.
	dcfg.Flags = DefaultFlags | Published
	d, a = handshakePair(t, dcfg, acfg, "b@localhost")
	if d.err != nil || a.err != nil || !d.peer.Visible || !a.peer.Visible || !d.peer.Published || !a.peer.Published {
		t.Fatalf("visible: %+v %v / %+v %v", d.peer, d.err, a.peer, a.err)
	}
}

func TestHandshakeBadCookie(t *testing.T) {
	dcfg := HandshakeConfig{Name: "a@localhost", Creation: 1, Cookie: "one"}
	acfg := HandshakeConfig{Name: "b@localhost", Creation: 2, Cookie: "two"}
	d, a := handshakePair(t, dcfg, acfg, "b@localhost")
	if !errors.Is(d.err, ErrBadCookie) {
		t.Errorf("dial err = %v; want ErrBadCookie", d.err)
	}
	if !errors.Is(a.err, ErrBadCookie) {
		t.Errorf("accept err = %v; want ErrBadCookie", a.err)
	}
}

func TestHandshakeWrongPeer(t *testing.T) {
	dcfg := HandshakeConfig{Name: "a@localhost", Creation: 1, Cookie: "c"}
	acfg := HandshakeConfig{Name: "b@localhost", Creation: 2, Cookie: "c"}
	d, a := handshakePair(t, dcfg, acfg, "c@localhost")
	if !errors.Is(d.err, ErrWrongPeer) {
		t.Errorf("dial err = %v; want ErrWrongPeer", d.err)
	}
	if a.err == nil {
		t.Error("accept succeeded although the initiator gave up")
	}
}

func TestHandshakeNotAllowed(t *testing.T) {
	// An acceptor refuses a peer without the OTP 26 mandatory flags.
	c, s := tcpPair(t)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		_, _, err := Accept(ctx, s, HandshakeConfig{Name: "b@h", Cookie: "c"})
		done <- err
	}()
	writeMsg2(t, c, AppendSendName(nil, SendName{Flags: Mandatory25, Creation: 1, Name: "a@h"}))
	st, err := ParseStatus(readMsg2(t, c))
	if err != nil || st.Text != StatusNotAllowed {
		t.Fatalf("status %+v, %v; want not_allowed", st, err)
	}
	var mf *MissingFlagsError
	if err := <-done; !errors.As(err, &mf) || mf.Missing != V4NC|UnlinkID {
		t.Fatalf("accept err = %v; want missing V4_NC|UNLINK_ID", err)
	}
	// And the initiator reports a refusal as a StatusError.
	c, s = tcpPair(t)
	go func() {
		readMsg2(t, s)
		writeMsg2(t, s, AppendStatus(nil, Status{Text: StatusNotAllowed}))
	}()
	_, _, err = Dial(ctx, c, HandshakeConfig{Name: "a@h", Cookie: "c"}, "b@h")
	var se *StatusError
	if !errors.As(err, &se) || se.Status != StatusNotAllowed || !errors.Is(err, ErrRefused) {
		t.Fatalf("dial err = %v; want StatusError not_allowed", err)
	}
}

func TestHandshakeNameMe(t *testing.T) {
	dcfg := HandshakeConfig{Name: "localhost", Cookie: "c", Flags: DefaultFlags | NameMe}
	acfg := HandshakeConfig{Name: "b@localhost", Creation: 5, Cookie: "c", Flags: DefaultFlags | Published}
	d, a := handshakePair(t, dcfg, acfg, "b@localhost")
	if d.err != nil || a.err != nil {
		t.Fatalf("dial err %v, accept err %v", d.err, a.err)
	}
	if a.peer.Name != d.peer.AssignedName || a.peer.Creation != d.peer.AssignedCreation || d.peer.AssignedCreation == 0 {
		t.Fatalf("assigned %q/%d, acceptor sees %q/%d", d.peer.AssignedName, d.peer.AssignedCreation, a.peer.Name, a.peer.Creation)
	}
	alive, host, _ := cut(a.peer.Name, '@')
	if host != "localhost" || len(alive) != 12 {
		t.Fatalf("assigned name %q", a.peer.Name)
	}
	for _, r := range alive {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			t.Fatalf("assigned name %q has %q", a.peer.Name, r)
		}
	}
	if a.peer.Visible || d.peer.Visible {
		t.Error("a NAME_ME connection must be hidden")
	}
}

func cut(s string, sep byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func TestHandshakeAlive(t *testing.T) {
	connected := func(string) PeerState { return PeerConnected }
	// Acceptor has a connection to a@; the initiator does not: it answers
	// true and the acceptor reports Replaced.
	dcfg := HandshakeConfig{Name: "a@h", Cookie: "c"}
	acfg := HandshakeConfig{Name: "b@h", Cookie: "c", IsAlive: connected}
	d, a := handshakePair(t, dcfg, acfg, "b@h")
	if d.err != nil || a.err != nil || !a.peer.Replaced {
		t.Fatalf("alive/true: %v %v %+v", d.err, a.err, a.peer)
	}
	// Initiator also holds a connection: it answers false, both give up.
	dcfg.IsAlive = connected
	d, a = handshakePair(t, dcfg, acfg, "b@h")
	if !errors.Is(d.err, ErrRefused) || !errors.Is(a.err, ErrRefused) {
		t.Fatalf("alive/false: dial %v, accept %v; want ErrRefused", d.err, a.err)
	}
}

// TestSimultaneousConnect has two Go nodes dial each other at the same time.
// Exactly one connection survives: the one initiated by the greater name.
func TestSimultaneousConnect(t *testing.T) {
	for _, pair := range [][2]string{{"a@h", "b@h"}, {"zeta@h", "alpha@h"}} {
		n1, n2 := pair[0], pair[1]
		pending := func(string) PeerState { return PeerPending }
		cfg1 := HandshakeConfig{Name: n1, Cookie: "c", IsAlive: pending}
		cfg2 := HandshakeConfig{Name: n2, Cookie: "c", IsAlive: pending}
		// Connection X: n1 dials n2. Connection Y: n2 dials n1.
		x1, x2 := tcpPair(t)
		y2, y1 := tcpPair(t)
		ctx := context.Background()
		var dialX, accX, dialY, accY hsResult
		chX, chY, chAX, chAY := make(chan hsResult, 1), make(chan hsResult, 1), make(chan hsResult, 1), make(chan hsResult, 1)
		go func() { p, l, err := Dial(ctx, x1, cfg1, n2); chX <- hsResult{p, l, err} }()
		go func() { p, l, err := Accept(ctx, x2, cfg2); chAX <- hsResult{p, l, err} }()
		go func() { p, l, err := Dial(ctx, y2, cfg2, n1); chY <- hsResult{p, l, err} }()
		go func() { p, l, err := Accept(ctx, y1, cfg1); chAY <- hsResult{p, l, err} }()
		dialX, accX, dialY, accY = <-chX, <-chAX, <-chY, <-chAY
		winnerDial, winnerAcc, loserDial, loserAcc := dialX, accX, dialY, accY
		if n2 > n1 {
			winnerDial, winnerAcc, loserDial, loserAcc = dialY, accY, dialX, accX
		}
		if winnerDial.err != nil || winnerAcc.err != nil {
			t.Fatalf("%v: winning attempt failed: %v / %v", pair, winnerDial.err, winnerAcc.err)
		}
		if !winnerAcc.peer.Simultaneous {
			t.Errorf("%v: acceptor of the winning attempt did not report Simultaneous", pair)
		}
		if !errors.Is(loserDial.err, ErrSimultaneous) || !errors.Is(loserAcc.err, ErrSimultaneous) {
			t.Errorf("%v: losing attempt: dial %v, accept %v; want ErrSimultaneous", pair, loserDial.err, loserAcc.err)
		}
	}
}

func TestHandshakeLeftover(t *testing.T) {
	// The acceptor (a fake) sends a frame right behind 'a'; Dial returns it.
	c, s := tcpPair(t)
	cookie := "c"
	go func() {
		readMsg2(t, s)
		writeMsg2(t, s, AppendStatus(nil, Status{Text: StatusOK}))
		writeMsg2(t, s, AppendChallenge(nil, Challenge{Flags: DefaultFlags, Challenge: 99, Creation: 3, Name: "b@h"}))
		r, err := ParseChallengeReply(readMsg2(t, s))
		if err != nil {
			return
		}
		ack := AppendChallengeAck(nil, ChallengeAck{Digest: Digest(r.Challenge, cookie)})
		out := binary.BigEndian.AppendUint16(nil, uint16(len(ack)))
		out = append(out, ack...)
		out = AppendFrame(out, []byte{112, 131, 104, 0})
		out = AppendFrame(out, nil)
		s.Write(out)
	}()
	p, left, err := Dial(context.Background(), c, HandshakeConfig{Name: "a@h", Cookie: cookie}, "b@h")
	if err != nil {
		t.Fatal(err)
	}
	if p.Creation != 3 {
		t.Errorf("creation %d", p.Creation)
	}
	fr := NewFrameReader(c, left, 0)
	f, err := fr.ReadFrame()
	if err != nil || string(f) != "\x70\x83\x68\x00" {
		t.Fatalf("first frame %x, %v", f, err)
	}
	f, err = fr.ReadFrame()
	if err != nil || len(f) != 0 {
		t.Fatalf("tick %x, %v", f, err)
	}
}

func TestHandshakeV5SendName(t *testing.T) {
	// An OTP 23/24-style initiator: 'n' then 'c' after the challenge.
	c, s := tcpPair(t)
	cookie := "c"
	type res struct {
		p   *Peer
		err error
	}
	ch := make(chan res, 1)
	go func() {
		p, _, err := Accept(context.Background(), s, HandshakeConfig{Name: "b@h", Cookie: cookie})
		ch <- res{p, err}
	}()
	f := DefaultFlags | Published
	v5 := []byte{'n', 0, 5}
	v5 = binary.BigEndian.AppendUint32(v5, uint32(f))
	v5 = append(v5, "old@h"...)
	writeMsg2(t, c, v5)
	if st, _ := ParseStatus(readMsg2(t, c)); st.Text != StatusOK {
		t.Fatalf("status %q", st.Text)
	}
	chal, err := ParseChallenge(readMsg2(t, c))
	if err != nil {
		t.Fatal(err)
	}
	writeMsg2(t, c, AppendComplement(nil, Complement{FlagsHigh: uint32(f >> 32), Creation: 77}))
	writeMsg2(t, c, AppendChallengeReply(nil, ChallengeReply{Challenge: 5, Digest: Digest(chal.Challenge, cookie)}))
	ack, err := ParseChallengeAck(readMsg2(t, c))
	if err != nil || ack.Digest != Digest(5, cookie) {
		t.Fatalf("ack %v %v", ack, err)
	}
	r := <-ch
	if r.err != nil || r.p.Name != "old@h" || r.p.Creation != 77 || r.p.Flags != DefaultFlags {
		t.Fatalf("accept: %+v %v", r.p, r.err)
	}
}

// Bad input: each case ends only that handshake, with a typed error.
func TestHandshakeBadInput(t *testing.T) {
	cfg := HandshakeConfig{Name: "b@h", Cookie: "c", Timeout: distributetest.Scale(300 * time.Millisecond)}
	cases := []struct {
		name  string
		input []byte
		hold  bool // keep the connection open after writing
		want  error
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\n\r\n"), false, ErrMessageTooLarge},
		{"garbage tag", []byte{0, 3, 'x', 'y', 'z'}, false, ErrMalformed},
		{"empty message", []byte{0, 0}, false, ErrMalformed},
		{"truncated", []byte{0, 20, 'N', 0, 0}, false, io.ErrUnexpectedEOF},
		{"truncated length", []byte{0}, false, io.ErrUnexpectedEOF},
		{"bad name", frame2(AppendSendName(nil, SendName{Flags: DefaultFlags, Name: "nohost"})), false, ErrBadName},
		{"slow loris", []byte{0, 20, 'N'}, true, ErrHandshakeTimeout},
		{"silent", nil, true, ErrHandshakeTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, s := tcpPair(t)
			done := make(chan error, 1)
			go func() { _, _, err := Accept(context.Background(), s, cfg); done <- err }()
			c.Write(tc.input)
			if !tc.hold {
				c.(*net.TCPConn).CloseWrite()
			}
			select {
			case err := <-done:
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v; want %v", err, tc.want)
				}
			case <-time.After(distributetest.Scale(10 * time.Second)):
				t.Fatal("Accept did not return")
			}
		})
	}
	// 4-byte framing: a huge announced length is refused before allocating.
	c, s := tcpPair(t)
	done := make(chan error, 1)
	go func() {
		_, _, err := Accept(context.Background(), s, HandshakeConfig{Name: "b@h", Cookie: "c", TLS: true})
		done <- err
	}()
	c.Write([]byte{0xff, 0xff, 0xff, 0xff, 'N'})
	if err := <-done; !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("err = %v; want ErrMessageTooLarge", err)
	}
}

func TestHandshakeContextCancel(t *testing.T) {
	_, s := tcpPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, _, err := Accept(ctx, s, HandshakeConfig{Name: "b@h", Cookie: "c"}); done <- err }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v; want context.Canceled", err)
	}
}

func TestHandshakeConfigValidate(t *testing.T) {
	c, _ := tcpPair(t)
	for _, cfg := range []HandshakeConfig{
		{Name: "bad", Cookie: "c"},
		{Name: "a@h", Flags: Mandatory25},
		{Name: "a@h", Timeout: -1},
	} {
		if _, _, err := Dial(context.Background(), c, cfg, "b@h"); !errors.Is(err, ErrConfig) {
			t.Errorf("Dial(%+v) = %v; want ErrConfig", cfg, err)
		}
	}
}

func writeMsg2(t testing.TB, c net.Conn, msg []byte) {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(msg)))
	if _, err := c.Write(append(b, msg...)); err != nil {
		t.Error(err)
	}
}

func readMsg2(t testing.TB, c net.Conn) []byte {
	var h [2]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		t.Error(err)
		return nil
	}
	b := make([]byte, binary.BigEndian.Uint16(h[:]))
	if _, err := io.ReadFull(c, b); err != nil {
		t.Error(err)
		return nil
	}
	return b
}

func frame2(msg []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...)
}

func TestDialSlowPeer(t *testing.T) {
	// The acceptor reads send_name and then never answers.
	c, s := tcpPair(t)
	go readMsg2(t, s)
	start := time.Now()
	timeout := distributetest.Scale(300 * time.Millisecond)
	_, _, err := Dial(context.Background(), c, HandshakeConfig{Name: "a@h", Cookie: "c", Timeout: timeout}, "b@h")
	if !errors.Is(err, ErrHandshakeTimeout) {
		t.Fatalf("err = %v; want ErrHandshakeTimeout", err)
	}
	if el := time.Since(start); el < timeout {
		t.Errorf("gave up after %v, before the step timeout %v", el, timeout)
	}
}

// A stalled handshake does not hold up another one on the same listener.
func TestSlowLorisIsolated(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	results := make(chan error, 2)
	go func() {
		for i := 0; i < 2; i++ {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_, _, err := Accept(context.Background(), nc, HandshakeConfig{Name: "b@h", Cookie: "c", Timeout: distributetest.Scale(2 * time.Second)})
				if err == nil {
					nc.Close()
				}
				results <- err
			}()
		}
	}()
	loris, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer loris.Close()
	loris.Write([]byte{0, 30, 'N', 0})
	good, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Dial(context.Background(), good, HandshakeConfig{Name: "a@h", Cookie: "c"}, "b@h"); err != nil {
		t.Fatalf("good handshake failed next to a slow one: %v", err)
	}
	good.Close()
	var errs []error
	for i := 0; i < 2; i++ {
		errs = append(errs, <-results)
	}
	if !(errs[0] == nil && errors.Is(errs[1], ErrHandshakeTimeout)) {
		t.Fatalf("results %v; want the good one first, then the slow one timing out", errs)
	}
}
