package distribute

import (
	"container/list"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distribute-go/distribute/internal/dist"
	"github.com/distribute-go/distribute/internal/epmd"
)

// Connection set-up. The rules, in the order a connection meets them:
//
//   - An incoming connection takes one of Config.MaxPendingHandshakes
//     slots until it proves the cookie; when none is free the oldest
//     pending handshake is closed to make room (handshakeSlots).
//   - The send_name's status is decided from what the node has: a
//     connection ("alive"), its own dial ("ok_simultaneous" when the
//     peer's name is greater, else "nok"), or nothing ("ok"). An
//     unauthenticated send_name reserves nothing: a client without the
//     cookie cannot hold a peer's name.
//   - Once the digest checks (claim), the incoming connection takes over
//     the callers waiting for that peer, and our own dial to it is
//     abandoned, unless our name is greater: then our dial wins, as in
//     the protocol's simultaneous connect, and the incoming connection
//     waits for it and yields if it succeeds.
//   - A dial abandoned that way, or whose attempt another connection
//     completed, never installs its connection (a late dial would
//     otherwise connect the pair again after a Disconnect).
//   - A new connection to a peer is installed only after the down
//     handling of the previous one is over (peerDownOnce), so the old
//     connection's nodedown never takes links or monitors made over the
//     new one.

func (n *Node) handshakeConfig() dist.HandshakeConfig {
	return dist.HandshakeConfig{
		Name:     n.cfg.Name,
		Creation: n.creation,
		Cookie:   n.cfg.Cookie,
		Flags:    n.flags,
		TLS:      n.cfg.TLS != nil,
		Timeout:  n.cfg.HandshakeTimeout,
		IsAlive:  n.peerState,
	}
}

// peerState tells our dial's handshake what we have towards a peer (for
// its answer to "alive").
func (n *Node) peerState(name string) dist.PeerState {
	n.connMu.Lock()
	defer n.connMu.Unlock()
	switch {
	case n.conns[Atom(name)] != nil, n.incoming[Atom(name)] > 0:
		// An incoming connection whose digest checked will stand.
		return dist.PeerConnected
	case n.dialing[Atom(name)] != nil:
		return dist.PeerPending
	}
	return dist.PeerUnknown
}

// acceptState tells an incoming handshake, at its send_name, what we have
// towards the name the peer claims. It reserves nothing: the peer has not
// proved the cookie yet.
//
// An attempt an incoming connection has taken over (claim) is no dial of
// ours: that connection proved the cookie and is being installed. A peer
// that dials again meanwhile holds no connection to us any more (it
// dropped that one and redialed at once), so it is answered as a
// connection we hold: "alive", which the peer answers "true", and the new
// connection replaces the old (see addPeer). Answering it as our own dial
// would send "nok" when our name is greater, and the peer would wait for
// a connection from us that never comes.
func (n *Node) acceptState(name string) dist.PeerState {
	n.connMu.Lock()
	defer n.connMu.Unlock()
	d := n.dialing[Atom(name)]
	switch {
	case n.conns[Atom(name)] != nil, d != nil && d.taken:
		return dist.PeerConnected
	case d != nil:
		return dist.PeerPending
	}
	return dist.PeerUnknown
}

func (n *Node) acceptLoop() {
	defer n.wg.Done()
	for {
		c, err := n.ln.Accept()
		if err != nil {
			if n.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			n.logger.Warn("accept failed", "err", err)
			select {
			case <-time.After(50 * time.Millisecond):
			case <-n.ctx.Done():
				return
			}
			continue
		}
		h, ok := n.handshakes.acquire(n.ctx, c)
		if !ok {
			c.Close()
			return
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			defer n.handshakes.release(h)
			n.accept(c, h)
		}()
	}
}

// accept runs the acceptor side of the handshake on an incoming connection.
func (n *Node) accept(c net.Conn, h *pendingHandshake) {
	raw := c
	if n.cfg.TLS != nil {
		c = tls.Server(c, n.cfg.TLS)
	}
	ctx, cancel := context.WithTimeout(n.ctx, 4*n.cfg.HandshakeTimeout)
	defer cancel()
	var claimed Atom         // the peer's name, once its digest checked
	var attempt *dialAttempt // what this connection completes, once claimed
	hc := n.handshakeConfig()
	hc.IsAlive = n.acceptState
	hc.Failed = func(err error) { n.incomingFailed(raw, h, err) }
	hc.Authenticated = func(pr *dist.Peer) error {
		n.handshakes.authenticated(h)
		d, err := n.claim(ctx, Atom(pr.Name))
		if err != nil {
			return err
		}
		claimed, attempt = Atom(pr.Name), d
		return nil
	}
	pr, leftover, err := dist.Accept(ctx, c, hc)
	if claimed != "" {
		defer func() {
			n.connMu.Lock()
			if n.incoming[claimed]--; n.incoming[claimed] <= 0 {
				delete(n.incoming, claimed)
			}
			n.connMu.Unlock()
		}()
	}
	if err != nil {
		c.Close()
		if attempt != nil {
			n.failDial(claimed, attempt, fmt.Errorf("distribute: connection from %s: %w: %w", claimed, ErrNodeDown, err))
		}
		return
	}
	if pr.Replaced {
		n.connMu.Lock()
		old := n.conns[Atom(pr.Name)]
		n.connMu.Unlock()
		if old != nil {
			old.conn.Close()
			n.peerDown(old, old.conn.Err())
		}
	}
	if n.addPeer(c, pr, leftover, attempt, false) == nil && attempt != nil {
		n.failDial(claimed, attempt, fmt.Errorf("distribute: connection from %s: %w", claimed, ErrNodeDown))
	}
}

// claim runs when an incoming connection from name has proved the
// cookie. The connection then stands, takes over the callers waiting for
// name, and our own dial to name is abandoned; unless we dial name
// ourselves and our name is greater: as in the protocol's simultaneous
// connect the attempt of the greater name wins, so the incoming
// connection waits for our dial and yields (ErrSimultaneous) if it
// succeeds. It returns the attempt the connection completes.
func (n *Node) claim(ctx context.Context, name Atom) (*dialAttempt, error) {
	n.connMu.Lock()
	defer n.connMu.Unlock()
	for {
		if n.closed.Load() {
			return nil, ErrClosed
		}
		d := n.dialing[name]
		if d != nil && !d.taken && n.name > name {
			n.connMu.Unlock()
			select {
			case <-d.done:
			case <-ctx.Done():
			}
			n.connMu.Lock()
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if d.err == nil {
				return nil, fmt.Errorf("%w: our connection to %s stands", dist.ErrSimultaneous, name)
			}
			continue // our dial failed: this connection may stand
		}
		n.incoming[name]++
		if d == nil {
			d = &dialAttempt{done: make(chan struct{})}
			n.dialing[name] = d
		}
		d.taken = true
		if d.cancel != nil {
			d.cancel() // our dial yields to this connection
		}
		return d, nil
	}
}

// addPeer installs an established connection and starts its I/O. d is
// the attempt the connection completes (nil for none); dialled says it
// came from d's dial, which is abandoned (nil is returned, the
// connection closed) when an incoming connection took d over or another
// completed it. When a connection to the peer is already up, that one
// stays and is returned.
func (n *Node) addPeer(c net.Conn, pr *dist.Peer, leftover []byte, d *dialAttempt, dialled bool) *peer {
	p := &peer{
		name:      Atom(pr.Name),
		creation:  pr.Creation,
		flags:     pr.Flags,
		visible:   pr.Visible,
		published: pr.Published,
		since:     time.Now(),
	}
	p.r = dist.NewReader(dist.ReaderConfig{Flags: pr.Flags, Local: n.name, Limits: n.cfg.Limits, MaxFrame: n.cfg.MaxFrameSize})
	// The reader may deliver a frame before NewConn returns: the handler
	// waits until p.conn is set (once; then it only reads a local bool).
	ready := make(chan struct{})
	isReady := false
	conn, err := dist.NewConn(c, pr, leftover, dist.ConnConfig{
		TickTime:     n.cfg.TickTime,
		MaxFrame:     n.cfg.MaxFrameSize,
		SendBuffer:   n.cfg.SendBuffer,
		ReadSpin:     n.cfg.ReadSpin,
		ReadCoalesce: n.cfg.ReadCoalesce,
		Handler: func(frame []byte) error {
			if !isReady {
				<-ready
				isReady = true
			}
			return n.handleFrame(p, frame)
		},
		Resume: func() error { return n.resumeFrame(p) },
	})
	if err != nil {
		c.Close()
		n.logger.Error("connection setup", "peer", p.name, "err", err)
		return nil
	}
	p.conn = conn
	p.w = dist.NewWriter(conn, pr.Flags, n.name, p.name)
	drop := func() {
		close(ready) // let a waiting handler run into the closed connection
		p.conn.Close()
	}
	n.connMu.Lock()
	for {
		if dialled && (d.taken || n.dialing[p.name] != d) {
			n.connMu.Unlock()
			n.logger.Debug("abandoned dial's connection dropped", "peer", p.name)
			drop()
			return nil
		}
		if g := n.downs[p.name]; g != nil {
			// The previous connection's down handling is not over.
			n.connMu.Unlock()
			n.hook(hookInstallWait, p.name)
			<-g
			n.connMu.Lock()
			continue
		}
		old := n.conns[p.name]
		if old == nil || n.closed.Load() {
			break
		}
		select {
		case <-old.conn.Done():
			// Closed, its down handling not started yet: run it first.
			n.connMu.Unlock()
			n.peerDown(old, old.conn.Err())
			n.connMu.Lock()
			continue
		default:
		}
		if pr.Replaced && !dialled {
			// The peer answered "alive" with "true": it holds no
			// connection to us, so the one we hold (installed while this
			// one's handshake ran) is stale.
			n.connMu.Unlock()
			old.conn.Close()
			n.peerDown(old, old.conn.Err())
			n.connMu.Lock()
			continue
		}
		// Both directions completed at once; keep the first.
		n.completeDialLocked(p.name, old)
		n.connMu.Unlock()
		n.logger.Debug("duplicate connection dropped", "peer", p.name)
		drop()
		return old
	}
	n.conns[p.name] = p
	n.completeDialLocked(p.name, p)
	n.connMu.Unlock()
	// Only now may frames be handled: replies to them find the peer.
	close(ready)
	if n.closed.Load() {
		p.conn.Close()
	}
	n.logger.Info("node up", "peer", p.name, "visible", p.visible)
	n.events.publish(NodeEvent{Node: p.name, Up: true, Visible: p.visible, Published: p.published})
	n.fireNodeUp(p.name, p.published)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		<-p.conn.Done()
		n.peerDown(p, p.conn.Err())
	}()
	return p
}

// completeDialLocked hands p to the callers waiting for name, and ends
// the dial of their attempt if it still runs. connMu is held.
func (n *Node) completeDialLocked(name Atom, p *peer) {
	d := n.dialing[name]
	if d == nil {
		return
	}
	delete(n.dialing, name)
	d.peer = p
	close(d.done)
	if d.cancel != nil {
		d.cancel()
	}
}

// peerDown runs once a connection has closed; later calls do nothing.
func (n *Node) peerDown(p *peer, err error) {
	p.downOnce.Do(func() { n.peerDownOnce(p, err) })
}

func (n *Node) peerDownOnce(p *peer, err error) {
	gate := make(chan struct{})
	n.connMu.Lock()
	for n.downs[p.name] != nil {
		prev := n.downs[p.name]
		n.connMu.Unlock()
		<-prev
		n.connMu.Lock()
	}
	n.downs[p.name] = gate
	if n.conns[p.name] == p {
		delete(n.conns, p.name)
	}
	n.connMu.Unlock()
	n.hook(hookPeerDown, p.name)
	reason := downReason(err)
	if limit := limitExceeded(err); limit != "" {
		// Rate-limited: an authenticated peer that reconnects and sends
		// the same bad term again must not flood the log.
		if ok, suppressed := n.limitLog.allow(time.Now()); ok {
			n.logger.Warn("node down: the peer went over a limit", "peer", p.name, "limit", limit, "reason", reason, "suppressed", suppressed)
		} else {
			n.logger.Info("node down", "peer", p.name, "reason", reason)
		}
	} else {
		n.logger.Info("node down", "peer", p.name, "reason", reason)
	}
	n.nodeDown(p.name)
	derr := downErr(p.name, err)
	n.fireNodeDown(p.name, reason, derr)
	n.events.publish(NodeEvent{Node: p.name, Up: false, Visible: p.visible, Published: p.published, Reason: reason, Err: derr})
	n.connMu.Lock()
	delete(n.downs, p.name)
	n.connMu.Unlock()
	close(gate)
}

// getPeer returns the connection to node, connecting if needed. Concurrent
// callers share one attempt; ctx bounds only this caller's wait.
func (n *Node) getPeer(ctx context.Context, node Atom) (*peer, error) {
	if node == n.name {
		return nil, fmt.Errorf("distribute: connect to self %s: %w", node, ErrBadName)
	}
	n.connMu.Lock()
	if p := n.conns[node]; p != nil {
		select {
		case <-p.conn.Done():
			// Closed, and its down handling has not run yet: run it now,
			// then connect anew.
			n.connMu.Unlock()
			n.peerDown(p, p.conn.Err())
			return n.getPeer(ctx, node)
		default:
		}
		n.connMu.Unlock()
		return p, nil
	}
	if n.closed.Load() {
		n.connMu.Unlock()
		return nil, ErrClosed
	}
	d := n.dialing[node]
	if d == nil {
		if _, _, _, err := ParseNodeName(string(node)); err != nil {
			n.connMu.Unlock()
			return nil, err
		}
		dctx, cancel := context.WithTimeout(n.ctx, 4*n.cfg.HandshakeTimeout)
		d = &dialAttempt{done: make(chan struct{}), cancel: cancel}
		n.dialing[node] = d
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			defer cancel()
			n.dial(dctx, node, d)
		}()
	}
	n.connMu.Unlock()
	select {
	case <-d.done:
		if d.err != nil {
			return nil, d.err
		}
		return d.peer, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("distribute: connect %s: %w", node, ctxError(ctx))
	}
}

// failDial ends an attempt with err, unless a connection already completed it.
func (n *Node) failDial(node Atom, d *dialAttempt, err error) {
	n.connMu.Lock()
	defer n.connMu.Unlock()
	if n.dialing[node] != d {
		return
	}
	delete(n.dialing, node)
	d.err = err
	close(d.done)
}

// errAbandoned: a dial whose attempt an incoming connection took over, or
// another connection completed.
var errAbandoned = errors.New("distribute: dial abandoned for another connection")

// dial makes an outgoing connection: epmd lookup, TCP (and TLS), handshake.
// ctx ends when the attempt is abandoned (see claim, completeDialLocked).
func (n *Node) dial(ctx context.Context, node Atom, d *dialAttempt) {
	defer n.hook(hookDialEnd, node)
	err := n.dialOnce(ctx, node, d)
	if err == nil || n.dialOver(node, d) {
		return // done, or another connection took the attempt over
	}
	if isSimultaneous(err) {
		// Simultaneous connect: a connection the peer dialled wins; it
		// completes d when it comes up.
		select {
		case <-d.done:
			return
		case <-ctx.Done():
		}
		if n.dialOver(node, d) {
			return
		}
	}
	n.failDial(node, d, fmt.Errorf("distribute: connect %s: %w: %w", node, ErrNodeDown, err))
}

// dialOver reports whether d's dial no longer decides d: an incoming
// connection took it over, or another connection completed it.
func (n *Node) dialOver(node Atom, d *dialAttempt) bool {
	n.connMu.Lock()
	defer n.connMu.Unlock()
	return d.taken || n.dialing[node] != d
}

// isSimultaneous reports whether a handshake ended because another
// connection between the two nodes stands or will: "nok", an "alive"
// answered "false", or an incoming connection that yields to our dial.
func isSimultaneous(err error) bool {
	var st *dist.StatusError
	return errors.Is(err, dist.ErrSimultaneous) || errors.As(err, &st) && st.Status == dist.StatusAliveFalse
}

func (n *Node) dialOnce(ctx context.Context, node Atom, d *dialAttempt) error {
	n.hook(hookDialStart, node)
	alive, host, long, _ := ParseNodeName(string(node))
	_, _, ourLong, _ := ParseNodeName(n.cfg.Name)
	if long != ourLong {
		return fmt.Errorf("%w: %s uses %s names and we use the other style", ErrBadName, node, map[bool]string{true: "long", false: "short"}[long])
	}
	info, err := epmd.Lookup(ctx, host, n.cfg.EpmdPort, alive)
	if err != nil {
		return err
	}
	var dialer net.Dialer
	c, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(int(info.Port))))
	if err != nil {
		return err
	}
	if n.cfg.TLS != nil {
		tc := n.cfg.TLS.Clone()
		if tc.ServerName == "" {
			tc.ServerName = host
		}
		c = tls.Client(c, tc)
	}
	pr, leftover, err := dist.Dial(ctx, c, n.handshakeConfig(), string(node))
	if err != nil {
		c.Close()
		if !isSimultaneous(err) && !n.closed.Load() && !n.dialOver(node, d) {
			n.countHandshakeFailure(handshakeReason(err), directionOut)
		}
		return err
	}
	if n.addPeer(c, pr, leftover, d, true) == nil {
		return errAbandoned
	}
	return nil
}

// handshakeSlots caps the incoming handshakes whose peer has not proved
// the cookie yet (Config.MaxPendingHandshakes). When every slot is taken
// the oldest pending handshake is closed to make room: connections that
// never finish a handshake (idle, or sending a byte at a time) cannot lock
// real peers out, whose handshakes take a round trip or two.
type handshakeSlots struct {
	slots chan struct{} // a token per running accept goroutine

	mu      sync.Mutex // protects pending
	pending list.List  // *pendingHandshake not yet authenticated, oldest first
}

// pendingHandshake is an incoming connection in its handshake.
type pendingHandshake struct {
	conn    net.Conn
	elem    *list.Element // in handshakeSlots.pending until authenticated
	evicted atomic.Bool
}

func (s *handshakeSlots) init(max int) { s.slots = make(chan struct{}, max) }

// acquire takes a slot for conn, closing the oldest pending handshake
// when none is free and waiting for its slot; false when ctx ends first.
func (s *handshakeSlots) acquire(ctx context.Context, conn net.Conn) (*pendingHandshake, bool) {
	select {
	case s.slots <- struct{}{}:
	default:
		s.evictOldest()
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, false
		}
	}
	h := &pendingHandshake{conn: conn}
	s.mu.Lock()
	h.elem = s.pending.PushBack(h)
	s.mu.Unlock()
	return h, true
}

// evictOldest closes the oldest pending handshake's connection: its
// accept goroutine then fails and frees its slot.
func (s *handshakeSlots) evictOldest() {
	s.mu.Lock()
	e := s.pending.Front()
	var h *pendingHandshake
	if e != nil {
		h = s.pending.Remove(e).(*pendingHandshake)
		h.elem = nil
	}
	s.mu.Unlock()
	if h != nil {
		h.evicted.Store(true)
		h.conn.Close()
	}
}

// authenticated takes h off the eviction list: its peer proved the cookie.
func (s *handshakeSlots) authenticated(h *pendingHandshake) {
	s.mu.Lock()
	if h.elem != nil {
		s.pending.Remove(h.elem)
		h.elem = nil
	}
	s.mu.Unlock()
}

// release frees h's slot when its accept goroutine ends.
func (s *handshakeSlots) release(h *pendingHandshake) {
	s.authenticated(h)
	<-s.slots
}

// handshakeLogInterval: failed incoming handshakes, and peers dropped for
// going over a limit, are logged at warning at most once per interval
// each; the next line says how many were left out.
const handshakeLogInterval = time.Second

// rateLog lets one log line through per interval (every, or
// handshakeLogInterval when zero) and counts the others.
type rateLog struct {
	every      time.Duration
	mu         sync.Mutex // protects the fields below
	last       time.Time
	suppressed int
}

// allow reports whether a line may be logged at now, and how many were
// left out since the last one.
func (r *rateLog) allow(now time.Time) (ok bool, suppressed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	every := r.every
	if every == 0 {
		every = handshakeLogInterval
	}
	if !r.last.IsZero() && now.Sub(r.last) < every {
		r.suppressed++
		return false, 0
	}
	suppressed, r.suppressed, r.last = r.suppressed, 0, now
	return true, suppressed
}

// incomingFailed counts and logs (at warning, rate-limited) an incoming
// handshake that failed. The simultaneous-connect outcomes ("nok", an
// "alive" answered "false", a connection that yields to ours) and a node
// that stops are not failures.
func (n *Node) incomingFailed(c net.Conn, h *pendingHandshake, err error) {
	if n.closed.Load() || isSimultaneous(err) {
		n.logger.Debug("incoming connection closed", "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	reason := handshakeReason(err)
	if h.evicted.Load() {
		reason = reasonEvicted
	}
	n.countHandshakeFailure(reason, directionIn)
	if ok, suppressed := n.hsLog.allow(time.Now()); ok {
		n.logger.Warn("incoming handshake failed", "remote", c.RemoteAddr().String(), "reason", reason, "err", err, "suppressed", suppressed)
	}
}

// Reasons of failed handshakes: the reason attribute of
// distribute.handshake.failures.
const (
	reasonBadCookie = "bad_cookie" // the digest did not match
	reasonTimeout   = "timeout"    // a step took longer than HandshakeTimeout
	reasonMalformed = "malformed"  // a message that does not parse, a bad name, a message too large
	reasonRefused   = "refused"    // missing capabilities, a refused status, the wrong node answered
	reasonTLS       = "tls"        // the TLS handshake failed, or only one side speaks TLS
	reasonEvicted   = "evicted"    // closed to make room for newer handshakes (MaxPendingHandshakes)
	reasonClosed    = "closed"     // the connection broke or was closed mid-handshake
)

// Directions of failed handshakes: the direction attribute.
const (
	directionIn  = "in"  // a peer dialled this node
	directionOut = "out" // this node dialled a peer
)

var handshakeReasons = []string{reasonBadCookie, reasonTimeout, reasonMalformed, reasonRefused, reasonTLS, reasonEvicted, reasonClosed}

// handshakeReason classifies a handshake error.
func handshakeReason(err error) string {
	var st *dist.StatusError
	switch {
	case errors.Is(err, dist.ErrBadCookie):
		return reasonBadCookie
	case errors.Is(err, dist.ErrTLSMismatch), errors.Is(err, dist.ErrTLSHandshake):
		return reasonTLS
	case errors.Is(err, dist.ErrHandshakeTimeout), errors.Is(err, context.DeadlineExceeded):
		return reasonTimeout
	case errors.Is(err, dist.ErrMalformed), errors.Is(err, dist.ErrBadName), errors.Is(err, dist.ErrMessageTooLarge), errors.Is(err, ErrBadName):
		return reasonMalformed
	case errors.Is(err, dist.ErrMissingFlags), errors.Is(err, dist.ErrWrongPeer), errors.As(err, &st):
		return reasonRefused
	}
	return reasonClosed
}
