package dist

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// DefaultHandshakeTimeout is Erlang's net_setuptime default: each handshake
// step must complete within it.
const DefaultHandshakeTimeout = 7 * time.Second

// PeerState is what the local node knows about a peer when a handshake
// with it runs; HandshakeConfig.IsAlive reports it.
type PeerState int

const (
	// PeerUnknown: no connection and no connection attempt to the peer.
	PeerUnknown PeerState = 0
	// PeerPending: we are dialling the peer ourselves right now.
	PeerPending PeerState = 1
	// PeerConnected: we hold an established connection to the peer.
	PeerConnected PeerState = 2
)

// HandshakeConfig configures Dial and Accept.
type HandshakeConfig struct {
	// Name is our full node name ("alive@host"). With NameMe in Flags
	// (Dial only) it is the host part alone.
	Name string
	// Creation is our incarnation number (from epmd). Ignored (sent as 0)
	// when Flags has NameMe.
	Creation uint32
	// Cookie is the shared secret; may be empty only if the peer's is too.
	Cookie string
	// Flags we advertise. Zero means DefaultFlags (hidden). Add Published
	// for a visible node. The set must include Mandatory26 (or the peer will
	// refuse us). Without DistHdrAtomCache and Fragments every connection
	// uses pass-through framing.
	Flags Flags
	// TLS selects 4-byte handshake framing (inet_tls_dist). It is implied
	// when the conn is a *tls.Conn.
	TLS bool
	// Timeout bounds each handshake step (one read or write). Zero means
	// DefaultHandshakeTimeout (7 s, Erlang's net_setuptime).
	Timeout time.Duration
	// IsAlive reports our state towards a peer node name; it drives the
	// "alive" and simultaneous-connect decisions. Nil means PeerUnknown
	// for everyone.
	IsAlive func(peer string) PeerState
	// Rand is the source for challenges and assigned names. Nil means crypto/rand.
	Rand io.Reader
	// Authenticated (Accept only) is called once the peer's challenge
	// reply proved it holds the cookie, before the challenge_ack goes out:
	// the first point where the peer's name can be trusted (IsAlive is
	// asked at send_name, before). A non-nil error ends the handshake
	// (the connection closes without an ack) and Accept returns it. Nil:
	// nothing to do.
	Authenticated func(peer *Peer) error
	// Failed (Accept only), when set, is called with Accept's error just
	// before the connection closes, so that what it records (a count, a
	// log line) is there by the time the peer sees the close. Nil: nothing
	// to do.
	Failed func(err error)
}

func (c *HandshakeConfig) validate(dial bool) error {
	f := c.flags()
	if err := ValidName(c.Name, dial && f&NameMe != 0); err != nil {
		return fmt.Errorf("%w: Name: %w", ErrConfig, err)
	}
	if !dial && f&NameMe != 0 {
		return fmt.Errorf("%w: NameMe is only for the initiator", ErrConfig)
	}
	if missing := Mandatory26 &^ f.Expand(); missing != 0 {
		return fmt.Errorf("%w: %w", ErrConfig, &MissingFlagsError{Missing: missing})
	}
	if c.Timeout < 0 {
		return fmt.Errorf("%w: negative Timeout", ErrConfig)
	}
	return nil
}

func (c *HandshakeConfig) flags() Flags {
	if c.Flags == 0 {
		return DefaultFlags
	}
	return c.Flags
}

func (c *HandshakeConfig) peerState(name string) PeerState {
	if c.IsAlive == nil {
		return PeerUnknown
	}
	return c.IsAlive(name)
}

func (c *HandshakeConfig) random(b []byte) error {
	r := c.Rand
	if r == nil {
		r = rand.Reader
	}
	_, err := io.ReadFull(r, b)
	return err
}

func (c *HandshakeConfig) random32() (uint32, error) {
	var b [4]byte
	if err := c.random(b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b[:]), nil
}

// Peer describes the other side of a completed handshake.
type Peer struct {
	// Name is the peer's node name. For a NAME_ME peer it is the name we assigned.
	Name string
	// Flags is the negotiated set: ours & expand(theirs).
	Flags Flags
	// Creation is the peer's incarnation number.
	Creation uint32
	// Visible is true when both sides set Published.
	Visible bool
	// Published is true when the peer set Published: it is a visible node,
	// not a hidden node or a C node (erl_call, ei), whether or not we are.
	Published bool
	// AssignedName and AssignedCreation (Dial with NameMe only) are the name
	// and creation the acceptor gave us; use them from now on.
	AssignedName     string
	AssignedCreation uint32
	// Replaced (Accept only): we had a connection to this peer, sent
	// "alive", and the peer answered "true": the caller must tear down the
	// old connection before using this one.
	Replaced bool
	// Simultaneous (Accept only): we were dialling this peer too and its
	// name is greater, so we answered "ok_simultaneous": the caller should
	// abandon its own dial (the peer will answer it with "nok").
	Simultaneous bool
}

// AcceptDecision is the acceptor's status choice for a send_name; it is the
// deterministic core of Accept.
//
//   - missing mandatory flags: "not_allowed" (for a version-5 send_name
//     only the low 32 bits can be checked here; Accept checks the rest
//     after the complement)
//   - NAME_ME: "named"
//   - state PeerPending: "ok_simultaneous" if the peer's name is greater
//     than ours (its attempt wins), else "nok"
//   - state PeerConnected: "alive"
//   - otherwise "ok"
func AcceptDecision(ourName string, sn SendName, state PeerState) string {
	mandatory := Mandatory26
	if sn.Version == 5 {
		mandatory &= 0xffffffff // the high word arrives later, in the complement
	}
	if mandatory&^sn.Flags.Expand() != 0 {
		return StatusNotAllowed
	}
	if sn.Flags&NameMe != 0 {
		return StatusNamed
	}
	switch state {
	case PeerPending:
		if sn.Name > ourName {
			return StatusOKSimultaneous
		}
		return StatusNok
	case PeerConnected:
		return StatusAlive
	}
	return StatusOK
}

// AliveReply is the initiator's answer to "alive": "false" if we hold an
// established connection to the peer (the old one is good), else "true"
// (the peer's entry is stale: it should drop it and take this one).
func AliveReply(state PeerState) string {
	if state == PeerConnected {
		return StatusFalse
	}
	return StatusTrue
}

const nameAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// assignName invents a name for a NAME_ME peer: 12 random upper-case
// letters/digits, '@', the host the peer sent.
func (c *HandshakeConfig) assignName(host string) (string, uint32, error) {
	var b [12 + 4]byte
	if err := c.random(b[:]); err != nil {
		return "", 0, err
	}
	name := make([]byte, 0, 13+len(host))
	for _, x := range b[:12] {
		name = append(name, nameAlphabet[int(x)%len(nameAlphabet)])
	}
	name = append(name, '@')
	name = append(name, host...)
	cr := binary.BigEndian.Uint32(b[12:])
	if cr == 0 {
		cr = 1
	}
	return string(name), cr, nil
}

// hsConn is the thin I/O under a handshake: length-prefixed messages
// (2-byte, or 4-byte over TLS), a deadline per step, ctx cancellation.
type hsConn struct {
	ctx     context.Context
	stop    func() bool // stops the ctx watch; false if it already fired
	conn    net.Conn
	r       *bufio.Reader
	w       []byte
	four    bool
	timeout time.Duration
}

func newHSConn(ctx context.Context, conn net.Conn, cfg *HandshakeConfig) *hsConn {
	_, isTLS := conn.(*tls.Conn)
	t := cfg.Timeout
	if t == 0 {
		t = DefaultHandshakeTimeout
	}
	return &hsConn{ctx: ctx, conn: conn, r: bufio.NewReaderSize(conn, 1024), four: cfg.TLS || isTLS, timeout: t,
		stop: context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })}
}

func (h *hsConn) err(step string, err error) error {
	if cerr := h.ctx.Err(); cerr != nil {
		return fmt.Errorf("dist: handshake %s: %w", step, cerr)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: %s", ErrHandshakeTimeout, step)
	}
	return fmt.Errorf("dist: handshake %s: %w", step, err)
}

// send frames msg (built by app into h.w) and writes it.
func (h *hsConn) send(step string, app func([]byte) []byte) error {
	hdr := 2
	if h.four {
		hdr = 4
	}
	b := app(append(h.w[:0], make([]byte, hdr)...))
	n := len(b) - hdr
	if h.four {
		binary.BigEndian.PutUint32(b, uint32(n))
	} else {
		binary.BigEndian.PutUint16(b, uint16(n))
	}
	h.w = b
	if err := h.conn.SetWriteDeadline(time.Now().Add(h.timeout)); err != nil {
		return h.err(step, err)
	}
	if _, err := h.conn.Write(b); err != nil {
		return h.err(step, err)
	}
	return nil
}

// recv reads one message. The returned slice is valid until the next recv.
func (h *hsConn) recv(step string) ([]byte, error) {
	if err := h.conn.SetReadDeadline(time.Now().Add(h.timeout)); err != nil {
		return nil, h.err(step, err)
	}
	hdr := 2
	if h.four {
		hdr = 4
	}
	p, err := h.r.Peek(hdr)
	if err != nil {
		if errors.Is(err, io.EOF) && len(p) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, h.err(step, err)
	}
	if !h.four && looksLikeTLS(p) {
		if step == "send_name" {
			// A TLS client's ClientHello: answer in plain words, which its
			// TLS stack reports as a peer that does not speak TLS, after
			// reading what it sent (closing on unread bytes resets the
			// connection, and the answer may be lost).
			h.r.Discard(h.r.Buffered())
			h.send("status", func(b []byte) []byte { return AppendStatus(b, Status{Text: StatusNotAllowed}) })
		}
		return nil, fmt.Errorf("%w: %s starts with a TLS record", ErrPeerTLS, step)
	}
	var n uint64
	if h.four {
		n = uint64(binary.BigEndian.Uint32(p))
	} else {
		n = uint64(binary.BigEndian.Uint16(p))
	}
	if n > MaxHandshakeMessage {
		return nil, fmt.Errorf("%w: %s of %d bytes", ErrMessageTooLarge, step, n)
	}
	if n == 0 {
		return nil, malformed(step, "empty message")
	}
	h.r.Discard(hdr)
	buf := make([]byte, n)
	if _, err := io.ReadFull(h.r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, h.err(step, err)
	}
	return buf, nil
}

// finish stops the ctx watch, clears deadlines and returns the bytes read
// past the handshake.
func (h *hsConn) finish() ([]byte, error) {
	if !h.stop() {
		return nil, h.err("finish", h.ctx.Err())
	}
	if err := h.conn.SetDeadline(time.Time{}); err != nil {
		return nil, h.err("finish", err)
	}
	n := h.r.Buffered()
	if n == 0 {
		return nil, nil
	}
	p, _ := h.r.Peek(n)
	return append([]byte(nil), p...), nil
}

// Accept runs the acceptor side of the handshake on conn (the connection
// the peer dialled). On success it returns the peer and any bytes the peer
// already sent after the handshake (the first frames), which belong to the
// frame reader. On failure conn is closed and the error wraps one of the
// package sentinels (ErrBadCookie, ErrMissingFlags, ErrMalformed,
// ErrBadName, ErrSimultaneous, ErrRefused, ErrHandshakeTimeout,
// ErrMessageTooLarge) or ctx's error.
func Accept(ctx context.Context, conn net.Conn, cfg HandshakeConfig) (*Peer, []byte, error) {
	p, left, err := accept(ctx, conn, &cfg)
	if err != nil {
		if cfg.Failed != nil {
			cfg.Failed(err)
		}
		conn.Close()
		return nil, nil, err
	}
	return p, left, nil
}

func accept(ctx context.Context, conn net.Conn, cfg *HandshakeConfig) (*Peer, []byte, error) {
	if err := cfg.validate(false); err != nil {
		return nil, nil, err
	}
	if err := tlsHandshake(ctx, conn, cfg.Timeout); err != nil {
		return nil, nil, err
	}
	h := newHSConn(ctx, conn, cfg)
	defer h.stop()
	ours := cfg.flags()

	msg, err := h.recv("send_name")
	if err != nil {
		return nil, nil, err
	}
	sn, err := ParseSendName(msg)
	if err != nil {
		return nil, nil, err
	}
	nameMe := sn.Flags&NameMe != 0
	if err := ValidName(sn.Name, nameMe); err != nil {
		return nil, nil, err
	}
	peer := &Peer{Name: sn.Name, Creation: sn.Creation}
	status := AcceptDecision(cfg.Name, sn, cfg.peerState(sn.Name))
	st := Status{Text: status}
	switch status {
	case StatusNamed:
		peer.Name, peer.Creation, err = cfg.assignName(sn.Name)
		if err != nil {
			return nil, nil, err
		}
		st.Name, st.Creation = peer.Name, peer.Creation
		ours = ours&^Published | NameMe
	case StatusOKSimultaneous:
		peer.Simultaneous = true
	}
	if err := h.send("status", func(b []byte) []byte { return AppendStatus(b, st) }); err != nil {
		return nil, nil, err
	}
	switch status {
	case StatusNotAllowed:
		_, err := Negotiate(ours, sn.Flags)
		return nil, nil, err
	case StatusNok:
		return nil, nil, fmt.Errorf("%w: %s dialled us while we dial it, and our name is greater", ErrSimultaneous, sn.Name)
	case StatusAlive:
		msg, err := h.recv("status reply")
		if err != nil {
			return nil, nil, err
		}
		r, err := ParseStatus(msg)
		if err != nil {
			return nil, nil, err
		}
		switch r.Text {
		case StatusTrue:
			peer.Replaced = true
		case StatusFalse:
			return nil, nil, &StatusError{Status: StatusAliveFalse}
		default:
			return nil, nil, malformed("status reply", "expected true or false")
		}
	}

	challenge, err := cfg.random32()
	if err != nil {
		return nil, nil, err
	}
	if err := h.send("challenge", func(b []byte) []byte {
		return AppendChallenge(b, Challenge{Flags: ours, Challenge: challenge, Creation: cfg.Creation, Name: cfg.Name})
	}); err != nil {
		return nil, nil, err
	}
	if sn.Version == 5 {
		msg, err := h.recv("complement")
		if err != nil {
			return nil, nil, err
		}
		c, err := ParseComplement(msg)
		if err != nil {
			return nil, nil, err
		}
		sn.Flags |= Flags(c.FlagsHigh) << 32
		peer.Creation = c.Creation
	}
	msg, err = h.recv("challenge_reply")
	if err != nil {
		return nil, nil, err
	}
	reply, err := ParseChallengeReply(msg)
	if err != nil {
		return nil, nil, err
	}
	want := Digest(challenge, cfg.Cookie)
	if subtle.ConstantTimeCompare(want[:], reply.Digest[:]) != 1 {
		return nil, nil, fmt.Errorf("%w: invalid challenge reply from %s", ErrBadCookie, peer.Name)
	}
	peer.Flags, err = Negotiate(ours, sn.Flags)
	if err != nil {
		return nil, nil, err
	}
	peer.Visible = peer.Flags&Published != 0
	peer.Published = sn.Flags&Published != 0
	if cfg.Authenticated != nil {
		if err := cfg.Authenticated(peer); err != nil {
			return nil, nil, err
		}
	}
	if err := h.send("challenge_ack", func(b []byte) []byte {
		return AppendChallengeAck(b, ChallengeAck{Digest: Digest(reply.Challenge, cfg.Cookie)})
	}); err != nil {
		return nil, nil, err
	}
	left, err := h.finish()
	if err != nil {
		return nil, nil, err
	}
	return peer, left, nil
}

// Dial runs the initiator side of the handshake on conn, already connected
// to the node peerName. Results and errors as for Accept; in addition a
// status other than ok is a *StatusError (ErrRefused; "nok" also matches
// ErrSimultaneous), a challenge naming another node is ErrWrongPeer, and
// a peer that closes after our challenge reply (Erlang's answer to a wrong
// cookie) or answers with a wrong digest is ErrBadCookie.
func Dial(ctx context.Context, conn net.Conn, cfg HandshakeConfig, peerName string) (*Peer, []byte, error) {
	p, left, err := dial(ctx, conn, &cfg, peerName)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return p, left, nil
}

func dial(ctx context.Context, conn net.Conn, cfg *HandshakeConfig, peerName string) (*Peer, []byte, error) {
	if err := cfg.validate(true); err != nil {
		return nil, nil, err
	}
	if err := ValidName(peerName, false); err != nil {
		return nil, nil, err
	}
	if err := tlsHandshake(ctx, conn, cfg.Timeout); err != nil {
		return nil, nil, err
	}
	h := newHSConn(ctx, conn, cfg)
	defer h.stop()
	ours := cfg.flags()
	creation := cfg.Creation
	if ours&NameMe != 0 {
		creation = 0
	}
	if err := h.send("send_name", func(b []byte) []byte {
		return AppendSendName(b, SendName{Flags: ours, Creation: creation, Name: cfg.Name})
	}); err != nil {
		return nil, nil, err
	}
	msg, err := h.recv("status")
	if err != nil {
		return nil, nil, err
	}
	st, err := ParseStatus(msg)
	if err != nil {
		return nil, nil, err
	}
	peer := &Peer{Name: peerName}
	switch st.Text {
	case StatusOK, StatusOKSimultaneous:
	case StatusNamed:
		if ours&NameMe == 0 {
			return nil, nil, malformed("status", "named status without NAME_ME")
		}
		if err := ValidName(st.Name, false); err != nil {
			return nil, nil, err
		}
		peer.AssignedName, peer.AssignedCreation = st.Name, st.Creation
	case StatusAlive:
		r := AliveReply(cfg.peerState(peerName))
		if err := h.send("status reply", func(b []byte) []byte { return AppendStatus(b, Status{Text: r}) }); err != nil {
			return nil, nil, err
		}
		if r == StatusFalse {
			return nil, nil, &StatusError{Status: StatusAliveFalse}
		}
	default:
		return nil, nil, &StatusError{Status: st.Text}
	}

	msg, err = h.recv("challenge")
	if err != nil {
		return nil, nil, err
	}
	ch, err := ParseChallenge(msg)
	if err != nil {
		return nil, nil, err
	}
	if ch.Name != peerName {
		return nil, nil, fmt.Errorf("%w: dialled %q, challenge from %q", ErrWrongPeer, peerName, ch.Name)
	}
	peer.Creation = ch.Creation
	peer.Flags, err = Negotiate(ours, ch.Flags)
	if err != nil {
		return nil, nil, err
	}
	peer.Visible = peer.Flags&Published != 0
	peer.Published = ch.Flags&Published != 0
	challenge, err := cfg.random32()
	if err != nil {
		return nil, nil, err
	}
	if err := h.send("challenge_reply", func(b []byte) []byte {
		return AppendChallengeReply(b, ChallengeReply{Challenge: challenge, Digest: Digest(ch.Challenge, cfg.Cookie)})
	}); err != nil {
		return nil, nil, err
	}
	msg, err = h.recv("challenge_ack")
	if err != nil {
		if ctx.Err() == nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || isConnReset(err)) {
			return nil, nil, fmt.Errorf("%w: %s closed the connection after our challenge reply (%w)", ErrBadCookie, peerName, ErrRefused)
		}
		return nil, nil, err
	}
	ack, err := ParseChallengeAck(msg)
	if err != nil {
		return nil, nil, err
	}
	want := Digest(challenge, cfg.Cookie)
	if subtle.ConstantTimeCompare(want[:], ack.Digest[:]) != 1 {
		return nil, nil, fmt.Errorf("%w: invalid challenge ack from %s", ErrBadCookie, peerName)
	}
	left, err := h.finish()
	if err != nil {
		return nil, nil, err
	}
	return peer, left, nil
}

func isConnReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}
