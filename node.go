package distribute

import (
	"context"
	"crypto/rand"
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

	"github.com/distribute-go/distribute/internal/dist"
	"github.com/distribute-go/distribute/internal/epmd"
)

// Version is the module's version, reported by distribute:info/0.
const Version = "0.1.0-dev"

// flushTimeout bounds how long Stop waits for queued frames to go out and
// for the peers to close their side (dist.Conn.Shutdown).
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
	// remotes indexes the processes with links or monitors to each other
	// node, for nodeDown (relations.go).
	remotes remoteIndex

	connMu  sync.Mutex // protects conns, dialing, incoming, downs
	conns   map[Atom]*peer
	dialing map[Atom]*dialAttempt
	// incoming counts accepted handshakes whose digest checked, per peer,
	// until they end.
	incoming map[Atom]int
	// downs holds, per peer, a channel closed when the down handling of
	// its last connection (peerDownOnce) is over: a new connection to it
	// is installed only then, so that the old one's nodedown cannot take
	// links and monitors made over the new one.
	downs   map[Atom]chan struct{}
	nodeMon nodeMonitors

	// handshakes caps the incoming handshakes not yet authenticated.
	handshakes handshakeSlots
	// hsLog rate-limits the warnings about failed incoming handshakes,
	// limitLog those about peers dropped for going over a limit.
	hsLog, limitLog rateLog

	hooks atomic.Pointer[testHooks] // nil but in tests

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
	// published: the peer set PUBLISHED (a visible node), whether or not
	// this node did.
	published bool
	conn      *dist.Conn
	since     time.Time
	downOnce  sync.Once // peerDown runs once

	// w encodes and queues what the node sends the peer: every byte of
	// it (framing, atom cache, fragments) is the writer's.
	w *dist.Writer
	// r reads the peer's frames into control messages; the connection's
	// reader role's only (see dist.Conn.Lead).
	r *dist.Reader
	// handedBack is the signal a leader parsed and left to the reader
	// goroutine (see handleFrame); the reader role's only.
	handedBack dist.In
}

// dialAttempt is one connection attempt that callers wait on together:
// a dial, or an incoming connection whose digest checked. connMu protects
// its fields until done is closed.
type dialAttempt struct {
	done chan struct{}
	peer *peer
	err  error
	// cancel ends the dial goroutine's attempt (nil when there is none).
	cancel context.CancelFunc
	// taken: an authenticated incoming connection completes the attempt;
	// the dial, if any, is abandoned (it neither installs its connection
	// nor fails the attempt).
	taken bool
}

// testHooks stop the node at chosen points in tests (nil in production),
// indexed by the hook constants.
type testHooks [numHooks]func(node Atom)

const (
	hookDialStart   = 0 // the dial goroutine, before its epmd lookup
	hookDialEnd     = 1 // the dial goroutine, as it returns
	hookPeerDown    = 2 // peerDownOnce, before nodeDown
	hookInstallWait = 3 // addPeer waits for a peer down to end
	numHooks        = 4
)

// hook runs test hook i, if set.
func (n *Node) hook(i int, node Atom) {
	if h := n.hooks.Load(); h != nil && h[i] != nil {
		h[i](node)
	}
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
		downs:    make(map[Atom]chan struct{}),
	}
	n.handshakes.init(cfg.MaxPendingHandshakes)
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
		if errors.Is(err, epmd.ErrDuplicateName) {
			return fmt.Errorf("distribute: epmd: %w: %w", ErrNameTaken, err)
		}
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
		// message sent just before Stop reach the peers: each connection
		// shuts down in order (see dist.Conn.Shutdown), as a plain close
		// can make a peer's kernel drop what it had not read yet.
		flushCtx, cancel := context.WithTimeout(ctx, flushTimeout)
		var wg sync.WaitGroup
		for _, p := range peers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := p.conn.Shutdown(flushCtx); err != nil {
					n.logger.Debug("shutdown on stop", "peer", p.name, "err", err)
				}
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

// PublishedNodes returns the connected nodes that published themselves in
// the handshake (Erlang's DFLAG_PUBLISHED): visible nodes, as opposed to
// hidden nodes and C nodes (erl_call, ei). On a visible node these are
// VisibleNodes; a hidden node has no visible connection, yet its peers
// may be published. Services that speak to every visible node (pg, global)
// never talk to the others.
func (n *Node) PublishedNodes() []Atom {
	n.connMu.Lock()
	defer n.connMu.Unlock()
	var out []Atom
	for name, p := range n.conns {
		if p.published {
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

// peerIfConnected returns the connection to node, or nil.
func (n *Node) peerIfConnected(node Atom) *peer {
	n.connMu.Lock()
	defer n.connMu.Unlock()
	return n.conns[node]
}

// EpmdPort asks epmd which port it maps this node's name to: the epmd
// the node registered with (127.0.0.1 and Config.EpmdPort) when addr is
// "", else the one at addr ("host:port"). It reports ok false, with a
// nil error, when epmd answers but does not know the name; readiness
// checks compare the port with ListenAddr's.
func (n *Node) EpmdPort(ctx context.Context, addr string) (port int, ok bool, err error) {
	host, p := "127.0.0.1", n.cfg.EpmdPort
	if addr != "" {
		h, ps, err := net.SplitHostPort(addr)
		if err != nil {
			return 0, false, fmt.Errorf("distribute: epmd address %q: %w", addr, err)
		}
		pn, err := strconv.Atoi(ps)
		if err != nil || pn <= 0 || pn > 65535 {
			return 0, false, fmt.Errorf("distribute: epmd address %q: bad port", addr)
		}
		host, p = h, pn
	}
	alive, _, _, _ := ParseNodeName(n.cfg.Name)
	info, err := epmd.Lookup(ctx, host, p, alive)
	if errors.Is(err, epmd.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("distribute: epmd at %s: %w", net.JoinHostPort(host, strconv.Itoa(p)), err)
	}
	return info.Port, true, nil
}
