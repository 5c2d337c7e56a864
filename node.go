package distribute

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
	"github.com/distribute-go/distribute/internal/epmd"
)

// Version is the module's version, reported by distribute:info/0.
const Version = "0.1.0-dev"

// flushTimeout bounds how long Stop waits for queued frames to go out.
const flushTimeout = 5 * time.Second

// Node is a running node: a name, a cookie, a listener, connections to
// peer nodes, and the processes that live here. Create one with Start; end
// it with Stop. All methods are safe for concurrent use.
type Node struct {
	cfg      Config
	name     Atom
	creation uint32
	flags    dist.Flags
	logger   *slog.Logger

	ctx    context.Context // canceled by Stop
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the node starts
	closed atomic.Bool
	stop   sync.Once

	ln     net.Listener
	keeper *epmd.Keeper

	procs *procTable

	connMu  sync.Mutex // protects conns, dialing, incoming
	conns   map[Atom]*peer
	dialing map[Atom]*dialAttempt
	// incoming counts accepted handshakes past their "ok" status, per peer.
	incoming map[Atom]int
	nodeMon  nodeMonitors

	spawn spawnHandler

	events eventHub

	refCounter   atomic.Uint64
	refSalt      uint32
	nextUnlinkID atomic.Uint64
}

// peer is an established connection to another node.
type peer struct {
	name     Atom
	creation uint32
	flags    dist.Flags
	visible  bool
	conn     *dist.Conn
	since    time.Time
	downOnce sync.Once // peerDown runs once

	// cacheSent: a frame storing our fixed atom cache entries (see
	// appendMessageFrame) is queued, so later frames may refer to them.
	cacheSent atomic.Bool
	// hdr reads the peer's frames in header mode (flags.HeaderMode());
	// nil in pass-through mode. The reader goroutine's only.
	hdr *dist.HeaderReader
	// fragSeq numbers the fragment sequences sent to the peer.
	fragSeq atomic.Uint64
}

// dialAttempt is one connection attempt that callers wait on together.
type dialAttempt struct {
	done chan struct{}
	peer *peer
	err  error
}

// Start starts a node: it validates cfg, listens, registers with epmd
// (hosting an embedded epmd when none answers) and starts the node's
// built-in services (net_kernel). It returns when the node is reachable.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:      cfg,
		name:     Atom(cfg.Name),
		logger:   cfg.Logger.With("node", cfg.Name),
		procs:    newProcTable(),
		conns:    make(map[Atom]*peer),
		dialing:  make(map[Atom]*dialAttempt),
		incoming: make(map[Atom]int),
	}
	n.flags = dist.DefaultFlags
	if cfg.visible() {
		n.flags |= dist.Published
	}
	var salt [8]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return nil, fmt.Errorf("distribute: random: %w", err)
	}
	n.refSalt = binary.BigEndian.Uint32(salt[:4])
	n.refCounter.Store(uint64(binary.BigEndian.Uint32(salt[4:])))
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.events.init()

	if cfg.ClientOnly {
		n.creation = randomCreation()
	} else if err := n.listen(ctx); err != nil {
		n.cancel()
		return nil, err
	}
	if err := n.startServices(); err != nil {
		n.Stop(context.Background())
		return nil, err
	}
	n.startTelemetry() // the node's instruments; unregistered when it stops
	n.logger.Info("node started", "creation", n.creation, "listen", n.ListenAddr(), "hidden", !cfg.visible())
	return n, nil
}

// randomCreation returns a random non-zero creation for a node that does
// not register with epmd.
func randomCreation() uint32 {
	var b [4]byte
	for {
		rand.Read(b[:])
		if c := binary.BigEndian.Uint32(b[:]); c != 0 {
			return c
		}
	}
}

// listen opens the listener and registers with epmd.
func (n *Node) listen(ctx context.Context) error {
	addr := n.cfg.ListenAddr
	if addr == "" {
		_, host, _, _ := ParseNodeName(n.cfg.Name)
		ip, err := resolveHost(ctx, host)
		if err != nil {
			return fmt.Errorf("distribute: listen address for %s: %w", n.cfg.Name, err)
		}
		addr = net.JoinHostPort(ip, "0")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("distribute: listen: %w", err)
	}
	n.ln = ln
	port := ln.Addr().(*net.TCPAddr).Port
	alive, _, _, _ := ParseNodeName(n.cfg.Name)
	keeper, err := epmd.NewKeeper(epmd.KeeperConfig{
		Host:       "127.0.0.1",
		Port:       n.cfg.EpmdPort,
		ServeAddr:  n.cfg.EpmdListen,
		Name:       alive,
		ListenPort: port,
		Hidden:     !n.cfg.visible(),
		Logger:     n.logger,
	})
	if err == nil {
		err = keeper.Start(ctx)
	}
	if err != nil {
		ln.Close()
		return fmt.Errorf("distribute: epmd: %w", err)
	}
	n.keeper = keeper
	n.creation = keeper.Creation()
	n.wg.Add(1)
	go n.acceptLoop()
	return nil
}

// resolveHost returns the IP address a node name's host part resolves to,
// preferring IPv4 (Erlang's inet_tcp_dist is IPv4).
func resolveHost(ctx context.Context, host string) (string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return ip.String(), nil
	}
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
	if err != nil {
		return "", err
	}
	for _, ip := range ips {
		if ip4 := ip.To4(); ip4 != nil {
			return ip4.String(), nil
		}
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("no address for %s", host)
	}
	return ips[0].String(), nil
}

// Name returns the node's name.
func (n *Node) Name() Atom { return n.name }

// Creation returns the node's creation: the incarnation number stamped in
// its pids and references.
func (n *Node) Creation() uint32 { return n.creation }

// Hidden reports whether the node is hidden.
func (n *Node) Hidden() bool { return !n.cfg.visible() }

// ListenAddr returns the address the node accepts connections on, or nil
// for a client-only node.
func (n *Node) ListenAddr() net.Addr {
	if n.ln == nil {
		return nil
	}
	return n.ln.Addr()
}

// Stop stops the node: every process exits with reason shutdown (so links
// and monitors on other nodes see it), what is queued on each connection is
// written (up to 5 s, or until ctx ends), connections close, the epmd
// registration ends, and every goroutine the node started is waited for,
// or ctx ends the wait. Stop is idempotent.
func (n *Node) Stop(ctx context.Context) error {
	n.stop.Do(func() {
		n.closed.Store(true)
		for _, p := range n.Processes() {
			p.Exit(ReasonShutdown)
		}
		if n.ln != nil {
			n.ln.Close()
		}
		n.connMu.Lock()
		peers := make([]*peer, 0, len(n.conns))
		for _, p := range n.conns {
			peers = append(peers, p)
		}
		n.connMu.Unlock()
		// What the processes' exits queued (exit signals, Downs) and any
		// message sent just before Stop go out before the connections close.
		flushCtx, cancel := context.WithTimeout(ctx, flushTimeout)
		var wg sync.WaitGroup
		for _, p := range peers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := p.conn.Flush(flushCtx); err != nil {
					n.logger.Debug("flush on stop", "peer", p.name, "err", err)
				}
				p.conn.Close()
			}()
		}
		wg.Wait()
		cancel()
		n.cancel()
		if n.keeper != nil {
			n.keeper.Stop(ctx)
		}
	})
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
		n.events.close()
		return nil
	case <-ctx.Done():
		return fmt.Errorf("distribute: stop %s: %w", n.name, ctx.Err())
	}
}

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

// peerState tells the handshake what we have towards a peer.
func (n *Node) peerState(name string) dist.PeerState {
	n.connMu.Lock()
	defer n.connMu.Unlock()
	switch {
	case n.conns[Atom(name)] != nil, n.incoming[Atom(name)] > 0:
		// An incoming handshake we accepted will stand: our dial yields.
		return dist.PeerConnected
	case n.dialing[Atom(name)] != nil:
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
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.accept(c)
		}()
	}
}

// accept runs the acceptor side of the handshake on an incoming connection.
func (n *Node) accept(c net.Conn) {
	if n.cfg.TLS != nil {
		c = tls.Server(c, n.cfg.TLS)
	}
	ctx, cancel := context.WithTimeout(n.ctx, 4*n.cfg.HandshakeTimeout)
	defer cancel()
	// When the handshake answers "ok", the peer is reserved as connecting,
	// so that our own callers wait for this connection instead of dialling
	// a second one (which would race it).
	var reserved, counted Atom
	var attempt *dialAttempt
	hc := n.handshakeConfig()
	hc.IsAlive = func(name string) dist.PeerState {
		n.connMu.Lock()
		defer n.connMu.Unlock()
		state := dist.PeerUnknown
		switch {
		case n.conns[Atom(name)] != nil:
			return dist.PeerConnected
		case n.dialing[Atom(name)] != nil:
			state = dist.PeerPending
		}
		if counted != "" {
			return state
		}
		if state == dist.PeerUnknown && !n.closed.Load() {
			reserved, attempt = Atom(name), &dialAttempt{done: make(chan struct{})}
			n.dialing[reserved] = attempt
		}
		if state == dist.PeerUnknown || name > n.cfg.Name {
			// We answer ok or ok_simultaneous: this connection is the one
			// that will stand, and our own dial must yield to it.
			counted = Atom(name)
			n.incoming[counted]++
		}
		return state
	}
	pr, leftover, err := dist.Accept(ctx, c, hc)
	if counted != "" {
		defer func() {
			n.connMu.Lock()
			if n.incoming[counted]--; n.incoming[counted] <= 0 {
				delete(n.incoming, counted)
			}
			n.connMu.Unlock()
		}()
	}
	if attempt != nil && (err != nil || Atom(pr.Name) != reserved) {
		n.failDial(reserved, attempt, fmt.Errorf("distribute: connection from %s: %w: %w", reserved, ErrNodeDown, err))
	}
	if err != nil {
		c.Close()
		n.logger.Info("incoming connection refused", "remote", c.RemoteAddr().String(), "err", err)
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
	n.addPeer(c, pr, leftover)
}

// addPeer installs an established connection and starts its I/O.
func (n *Node) addPeer(c net.Conn, pr *dist.Peer, leftover []byte) *peer {
	p := &peer{
		name:     Atom(pr.Name),
		creation: pr.Creation,
		flags:    pr.Flags,
		visible:  pr.Visible,
		since:    time.Now(),
	}
	if pr.Flags.HeaderMode() {
		p.hdr = &dist.HeaderReader{Fragments: pr.Flags&dist.Fragments != 0}
		p.hdr.Reassembler.Max = n.cfg.MaxFrameSize
	}
	// One decoder per connection, used by its reader only: it keeps the
	// atoms it has seen (node names, tags) so that they cost no allocation.
	dec := &etf.Decoder{Limits: n.cfg.Limits, Atoms: etf.NewAtomTable(1024)}
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
			return n.handleFrame(p, dec, frame)
		},
	})
	if err != nil {
		c.Close()
		n.logger.Error("connection setup", "peer", p.name, "err", err)
		return nil
	}
	p.conn = conn
	n.connMu.Lock()
	if old := n.conns[p.name]; old != nil && !n.closed.Load() {
		// Both directions completed at once; keep the first.
		n.connMu.Unlock()
		n.logger.Debug("duplicate connection dropped", "peer", p.name)
		close(ready) // let a waiting handler run into the closed connection
		p.conn.Close()
		return old
	}
	n.conns[p.name] = p
	if d := n.dialing[p.name]; d != nil {
		delete(n.dialing, p.name)
		d.peer = p
		close(d.done)
	}
	n.connMu.Unlock()
	// Only now may frames be handled: replies to them find the peer.
	close(ready)
	if n.closed.Load() {
		p.conn.Close()
	}
	n.logger.Info("node up", "peer", p.name, "visible", p.visible)
	n.events.publish(NodeEvent{Node: p.name, Up: true, Visible: p.visible})
	n.fireNodeUp(p.name)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		<-p.conn.Done()
		n.peerDown(p, p.conn.Err())
	}()
	return p
}

// peerDown runs once a connection has closed; later calls do nothing.
func (n *Node) peerDown(p *peer, err error) {
	p.downOnce.Do(func() { n.peerDownOnce(p, err) })
}

func (n *Node) peerDownOnce(p *peer, err error) {
	n.connMu.Lock()
	if n.conns[p.name] == p {
		delete(n.conns, p.name)
	}
	n.connMu.Unlock()
	reason := downReason(err)
	if limit := limitExceeded(err); limit != "" {
		n.logger.Warn("node down: the peer went over a limit", "peer", p.name, "limit", limit, "reason", reason)
	} else {
		n.logger.Info("node down", "peer", p.name, "reason", reason)
	}
	n.nodeDown(p.name)
	n.fireNodeDown(p.name, reason)
	n.events.publish(NodeEvent{Node: p.name, Up: false, Visible: p.visible, Reason: reason})
}

// downReason names why a connection ended, in Erlang's words.
func downReason(err error) string {
	switch {
	case err == nil, errors.Is(err, dist.ErrClosed), errors.Is(err, dist.ErrPeerClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		// Erlang says connection_closed for a peer that closed or died.
		return "connection_closed"
	case errors.Is(err, dist.ErrTickTimeout):
		return "net_tick_timeout"
	}
	return err.Error()
}

// Connect connects to node (a no-op when connected), as
// net_kernel:connect_node/1.
func (n *Node) Connect(ctx context.Context, node Atom) error {
	_, err := n.getPeer(ctx, node)
	return err
}

// Disconnect closes the connection to node, as erlang:disconnect_node/1.
// It reports whether there was one.
func (n *Node) Disconnect(node Atom) bool {
	n.connMu.Lock()
	p := n.conns[node]
	n.connMu.Unlock()
	if p == nil {
		return false
	}
	p.conn.Close()
	n.peerDown(p, p.conn.Err())
	return true
}

// IsConnected reports whether a connection to node is up.
func (n *Node) IsConnected(node Atom) bool { return n.peerIfConnected(node) != nil }

// VisibleNodes returns the connected nodes whose connection is visible
// (both sides published), as Erlang's nodes().
func (n *Node) VisibleNodes() []Atom {
	n.connMu.Lock()
	defer n.connMu.Unlock()
	var out []Atom
	for name, p := range n.conns {
		if p.visible {
			out = append(out, name)
		}
	}
	return out
}

// Nodes returns the nodes this node is connected to, visible and hidden.
func (n *Node) Nodes() []Atom {
	n.connMu.Lock()
	defer n.connMu.Unlock()
	out := make([]Atom, 0, len(n.conns))
	for name := range n.conns {
		out = append(out, name)
	}
	return out
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
		d = &dialAttempt{done: make(chan struct{})}
		n.dialing[node] = d
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.dial(node, d)
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
		return nil, fmt.Errorf("distribute: connect %s: %w", node, ctx.Err())
	}
}

// peerIfConnected returns the connection to node, or nil.
func (n *Node) peerIfConnected(node Atom) *peer {
	n.connMu.Lock()
	defer n.connMu.Unlock()
	return n.conns[node]
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

// dial makes an outgoing connection: epmd lookup, TCP (and TLS), handshake.
func (n *Node) dial(node Atom, d *dialAttempt) {
	ctx, cancel := context.WithTimeout(n.ctx, 4*n.cfg.HandshakeTimeout)
	defer cancel()
	err := n.dialOnce(ctx, node, d)
	if err == nil {
		return
	}
	var st *dist.StatusError
	if errors.As(err, &st) && (st.Status == dist.StatusNok || st.Status == dist.StatusAliveFalse) {
		// Simultaneous connect: a connection the peer dialled wins; it
		// completes d when it comes up.
		select {
		case <-d.done:
			return
		case <-ctx.Done():
		}
	}
	n.failDial(node, d, fmt.Errorf("distribute: connect %s: %w: %w", node, ErrNodeDown, err))
}

func (n *Node) dialOnce(ctx context.Context, node Atom, d *dialAttempt) error {
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
		return err
	}
	n.addPeer(c, pr, leftover)
	return nil
}
