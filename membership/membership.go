package membership

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/internal/fanout"
	"github.com/hashicorp/memberlist"
)

// State is a member's state in the status table.
type State int

// States (explicit values: they appear in logs and in the CLI's events).
const (
	// StateAlive: the member answers probes.
	StateAlive State = 1
	// StateSuspect: a probe failed; the member has the suspicion timeout
	// to refute (with a higher incarnation) before it is declared dead.
	StateSuspect State = 2
	// StateDead: the suspicion timed out. Its distribution link is closed.
	StateDead State = 3
	// StateLeft: the member left on purpose (Stop): not a failure.
	StateLeft State = 4
)

func (s State) String() string {
	switch s {
	case 0:
		return "none"
	case StateAlive:
		return "alive"
	case StateSuspect:
		return "suspect"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// stateOf maps memberlist's NodeStateType.
func stateOf(s int) State {
	switch memberlist.NodeStateType(s) {
	case memberlist.StateAlive:
		return StateAlive
	case memberlist.StateSuspect:
		return StateSuspect
	case memberlist.StateDead:
		return StateDead
	case memberlist.StateLeft:
		return StateLeft
	}
	return 0
}

// Member is one row of the status table.
type Member struct {
	// Name is the member's distribution node name.
	Name distribute.Atom
	// Gossip is the member's gossip address, from its meta.
	Gossip string
	// Election is true when the member runs the election package, and
	// Cluster is the Raft cluster identity it announced ("" while it knows
	// none), from its meta (SetElection).
	Election bool
	Cluster  string
	State    State
	// Incarnation is the member's SWIM incarnation: it rises each time the
	// member refutes a suspicion of itself.
	Incarnation uint32
	// Since is when this table first saw the member in State.
	Since time.Time
	// Self marks the local member.
	Self bool
}

func (m Member) String() string {
	return fmt.Sprintf("%s %s inc=%d gossip=%s", m.Name, m.State, m.Incarnation, m.Gossip)
}

// Event is a change in the status table: a new member, a new state, a new
// incarnation, or new addresses.
type Event struct {
	Member Member
	// Prev is the member's previous state, 0 for a member not seen before.
	Prev State
}

// Stats are the gossip transport's counters since Start: what went on the
// wire, sealed (packets are UDP, streams TCP).
type Stats struct {
	PacketsIn, PacketsOut uint64
	BytesIn, BytesOut     uint64 // packet bytes
	StreamIn, StreamOut   uint64 // stream bytes
	Streams               uint64 // streams opened or accepted
	Dropped               uint64 // packets and frames that did not authenticate
}

// Membership is a running member of a gossip cluster. Create it with
// Start, end it with Stop. Its methods are safe for concurrent use.
type Membership struct {
	cfg    Config
	name   distribute.Atom
	node   *distribute.Node
	logger *slog.Logger
	meta   atomic.Pointer[[]byte] // this member's encoded Meta
	metaMu sync.Mutex             // serializes SetElection
	gossip string

	ml *memberlist.Memberlist
	tr *secureTransport

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	nudge   chan struct{}
	refresh chan chan struct{}
	joined  atomic.Bool
	// joining is set while Config.Seeds are being retried.
	joining atomic.Bool

	mu     sync.Mutex // protects table, closed; held to publish to fan
	table  map[distribute.Atom]Member
	fan    *fanout.Fanout[Event] // Watch's subscribers
	closed bool

	dialMu  sync.Mutex // protects dialing, lastDial
	dialing map[distribute.Atom]bool
	// lastDial is when each member was last dialled.
	lastDial map[distribute.Atom]time.Time

	// reconnecting is set while a rejoin of a dead member runs;
	// lastReconnect (run goroutine only) is when the last one started.
	reconnecting  atomic.Bool
	lastReconnect time.Time

	boundMu sync.Mutex // protects bound
	// bound is, per alive member, when the distribution connection that
	// belongs to the incarnation SWIM watches came up: the one up when
	// the member turned alive (or took a new incarnation or address), else
	// the first to come up after.
	bound map[distribute.Atom]time.Time

	claimMu sync.Mutex // protects claims
	// claims are gossip addresses other processes claimed a member's name
	// from while memberlist still held it at another address (a restart
	// on a new port, a re-created pod).
	claims   map[distribute.Atom]claimRec
	claiming atomic.Bool // a join of a claimant runs

	stopOnce sync.Once
	stopErr  error
}

// Start starts a member: it binds the gossip port and starts memberlist.
// The member is alone until Join or JoinNode, or until another member
// joins it. node is the distribution node membership drives: alive
// members are connected to it (full mesh), dead ones disconnected. A nil
// node runs gossip only (then cfg.Name is required). Stop ends it.
func Start(ctx context.Context, node *distribute.Node, cfg Config) (*Membership, error) {
	cfg.node = node
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	host, portStr, err := net.SplitHostPort(cfg.GossipAddr)
	if err != nil {
		return nil, fmt.Errorf("%w: GossipAddr %q: %w", ErrConfig, cfg.GossipAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("%w: GossipAddr %q: bad port", ErrConfig, cfg.GossipAddr)
	}
	if net.ParseIP(host) == nil {
		return nil, fmt.Errorf("%w: GossipAddr %q: want an IP address", ErrConfig, cfg.GossipAddr)
	}
	key, err := DeriveKey(cfg.Cookie)
	if err != nil {
		return nil, fmt.Errorf("membership: derive key: %w", err)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("membership: cipher: %w", err)
	}
	m := &Membership{
		cfg:      cfg,
		name:     cfg.Name,
		node:     cfg.node,
		logger:   cfg.Logger.With("member", string(cfg.Name)),
		nudge:    make(chan struct{}, 1),
		refresh:  make(chan chan struct{}),
		table:    make(map[distribute.Atom]Member),
		fan:      fanout.New[Event](0),
		dialing:  make(map[distribute.Atom]bool),
		lastDial: make(map[distribute.Atom]time.Time),
		bound:    make(map[distribute.Atom]time.Time),
		claims:   make(map[distribute.Atom]claimRec),
	}
	stdlog := newStdLogger(m.logger)
	nt, err := m.listen(host, port, stdlog)
	if err != nil {
		return nil, err
	}
	m.tr = newSecureTransport(nt, aead, m.logger)
	ip, aport, err := m.tr.FinalAdvertiseAddr("", 0)
	if err != nil {
		m.tr.Shutdown()
		return nil, fmt.Errorf("membership: advertise address: %w", err)
	}
	m.gossip = net.JoinHostPort(ip.String(), strconv.Itoa(aport))
	meta, err := AppendMeta(nil, Meta{Node: string(cfg.Name), Gossip: m.gossip})
	m.meta.Store(&meta)
	if err != nil {
		m.tr.Shutdown()
		return nil, err
	}

	mc := memberlist.DefaultLANConfig()
	cfg.Profile.apply(mc)
	mc.Name = string(cfg.Name)
	mc.Transport = m.tr
	mc.BindAddr = host
	mc.BindPort = aport
	mc.AdvertiseAddr = ""
	mc.AdvertisePort = aport
	// Our transport seals everything; memberlist's own encryption stays
	// off, and so does compression, so memberlist's state reads plainly
	// through the in-memory snapshot stream.
	mc.EnableCompression = false
	mc.UDPBufferSize -= PacketOverhead
	d := &delegate{m: m}
	mc.Delegate = d
	mc.Events = d
	mc.Alive = d
	mc.Conflict = d
	mc.Logger = stdlog
	ml, err := memberlist.Create(mc)
	if err != nil {
		m.tr.Shutdown()
		return nil, fmt.Errorf("membership: start: %w", err)
	}
	m.ml = ml
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.wg.Add(1)
	go m.run()
	if err := m.Refresh(ctx); err != nil {
		m.Stop(context.Background())
		return nil, err
	}
	m.logger.Info("membership started", "gossip", m.gossip, "profile", cfg.Profile.String())
	if m.node != nil {
		m.wg.Add(1)
		go m.bindConns(m.node.WatchNodes(m.ctx))
	}
	if len(cfg.Seeds) > 0 {
		m.joining.Store(true)
		jctx, cancel := context.WithTimeout(ctx, cfg.Profile.TCPTimeout)
		_, err := m.JoinNode(jctx, cfg.Seeds...)
		cancel()
		if err == nil {
			m.joining.Store(false)
		} else {
			m.logger.Warn("no seed answered; retrying in the background", "seeds", cfg.Seeds, "err", err)
			m.wg.Add(1)
			go m.retryJoin()
		}
	}
	return m, nil
}

// listen binds the gossip port: port, or with port 0 the one kept in
// DataDir (a free one when there is none or it is taken), recorded there.
func (m *Membership) listen(host string, port int, stdlog *log.Logger) (*memberlist.NetTransport, error) {
	bind := func(port int) (*memberlist.NetTransport, error) {
		return memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{host}, BindPort: port, Logger: stdlog})
	}
	dir := m.cfg.DataDir
	if port != 0 || dir == "" {
		nt, err := bind(port)
		if err != nil {
			return nil, fmt.Errorf("membership: listen on %s: %w", m.cfg.GossipAddr, err)
		}
		return nt, nil
	}
	kept, err := readPort(dir)
	if err != nil {
		return nil, err
	}
	var nt *memberlist.NetTransport
	if kept != 0 {
		if nt, err = bind(kept); err != nil {
			m.logger.Warn("the kept gossip port is taken; listening on a new one", "port", kept, "err", err)
		}
	}
	if nt == nil {
		if nt, err = bind(0); err != nil {
			return nil, fmt.Errorf("membership: listen on %s: %w", m.cfg.GossipAddr, err)
		}
	}
	if got := nt.GetAutoBindPort(); got != kept {
		if err := writePort(dir, got); err != nil {
			nt.Shutdown()
			return nil, err
		}
	}
	return nt, nil
}

// retryJoin retries Config.Seeds with backoff until a join succeeds, or
// another member joined this one, or the member stops.
func (m *Membership) retryJoin() {
	defer m.wg.Done()
	defer m.joining.Store(false)
	p := m.cfg.Profile
	wait := p.ProbeInterval
	for {
		// ±20 % jitter, so members started together do not retry together.
		d := time.Duration(float64(wait) * (0.8 + 0.4*rand.Float64()))
		t := time.NewTimer(d)
		select {
		case <-m.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if m.joined.Load() {
			m.logger.Info("joined: another member reached this one", "seeds", m.cfg.Seeds)
			return
		}
		ctx, cancel := context.WithTimeout(m.ctx, p.TCPTimeout)
		k, err := m.JoinNode(ctx, m.cfg.Seeds...)
		cancel()
		if err == nil {
			m.logger.Info("joined through seeds", "seeds", m.cfg.Seeds, "reached", k)
			return
		}
		m.logger.Debug("seeds did not answer", "seeds", m.cfg.Seeds, "err", err, "retry", wait)
		wait = min(2*wait, 30*p.ProbeInterval)
	}
}

// Name returns the member's name.
func (m *Membership) Name() distribute.Atom { return m.name }

// GossipAddr returns the "ip:port" other members join this one on.
func (m *Membership) GossipAddr() string { return m.gossip }

// Profile returns the member's timings.
func (m *Membership) Profile() Profile { return m.cfg.Profile }

// DetectionBound is the profile's detection bound for the current number
// of known members (Profile.DetectionBound).
func (m *Membership) DetectionBound() time.Duration {
	m.mu.Lock()
	n := len(m.table)
	m.mu.Unlock()
	return m.cfg.Profile.DetectionBound(max(n, 1), m.cfg.StatusInterval)
}

// Join joins the cluster through the members at the given gossip
// addresses ("host:port"). It returns how many it reached; when none is
// reached the error wraps ErrJoin. ctx bounds the wait (a join in flight
// still ends within the profile's TCPTimeout).
func (m *Membership) Join(ctx context.Context, addrs ...string) (int, error) {
	if m.isClosed() {
		return 0, ErrClosed
	}
	if len(addrs) == 0 {
		return 0, fmt.Errorf("%w: no address", ErrJoin)
	}
	type result struct {
		n   int
		err error
	}
	ch := make(chan result, 1)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		n, err := m.ml.Join(addrs)
		ch <- result{n, err}
	}()
	select {
	case r := <-ch:
		if r.n == 0 {
			return 0, fmt.Errorf("%w: %v: %v", ErrJoin, addrs, r.err)
		}
		m.joined.Store(true)
		m.poke()
		return r.n, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: %v: %w", ErrJoin, addrs, ctx.Err())
	}
}

// JoinNode joins the cluster through members named by their distribution
// node names, resolved to gossip addresses by Config.Resolve.
func (m *Membership) JoinNode(ctx context.Context, nodes ...distribute.Atom) (int, error) {
	if m.cfg.Resolve == nil {
		return 0, ErrNoResolver
	}
	var addrs []string
	var firstErr error
	for _, n := range nodes {
		a, err := m.cfg.Resolve(ctx, n)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("resolve %s: %w", n, err)
			}
			continue
		}
		addrs = append(addrs, a)
	}
	if len(addrs) == 0 {
		return 0, fmt.Errorf("%w: %v: %w", ErrJoin, nodes, firstErr)
	}
	return m.Join(ctx, addrs...)
}

// SetElection marks this member, in its meta, as running the election,
// with cluster the Raft cluster identity it belongs to ("" while it knows
// none), and gossips it; it returns when the update has been sent to the
// cluster, or ctx ends (the update still spreads). The election package
// calls it.
func (m *Membership) SetElection(ctx context.Context, cluster string) error {
	if m.isClosed() {
		return ErrClosed
	}
	m.metaMu.Lock()
	defer m.metaMu.Unlock()
	meta, err := AppendMeta(nil, Meta{Node: string(m.name), Gossip: m.gossip, Election: true, Cluster: cluster})
	if err != nil {
		return err
	}
	old := m.meta.Swap(&meta)
	timeout := m.cfg.LeaveTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(d), time.Millisecond)
	}
	if err := m.ml.UpdateNode(timeout); err != nil {
		// memberlist's timeout is untyped: the meta is set and spreads.
		if strings.Contains(err.Error(), "timeout waiting for update broadcast") {
			m.poke()
			return fmt.Errorf("membership: set election meta: %w", context.DeadlineExceeded)
		}
		m.meta.Store(old)
		return fmt.Errorf("membership: set election meta: %w", err)
	}
	m.poke()
	return nil
}

// Joined reports whether this member has been part of a cluster: a Join
// succeeded, or another member was seen alive. It stays true after the
// others die or leave; the table (and the health package) tells whether
// they are still there.
func (m *Membership) Joined() bool { return m.joined.Load() }

// Joining reports whether the member is still trying to join
// Config.Seeds: none has answered yet and no other member has joined it.
func (m *Membership) Joining() bool { return m.joining.Load() && !m.joined.Load() }

// Members returns the status table, self included, sorted by name. Dead
// and left members stay in it until they come back or are reaped
// (Profile.ReapTime).
func (m *Membership) Members() []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sortedLocked(func(Member) bool { return true })
}

// Alive returns the alive members, self included, sorted by name.
func (m *Membership) Alive() []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sortedLocked(func(mb Member) bool { return mb.State == StateAlive })
}

// Member returns one row of the table.
func (m *Membership) Member(name distribute.Atom) (Member, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mb, ok := m.table[name]
	return mb, ok
}

func (m *Membership) sortedLocked(keep func(Member) bool) []Member {
	out := make([]Member, 0, len(m.table))
	for _, mb := range m.table {
		if keep(mb) {
			out = append(out, mb)
		}
	}
	slices.SortFunc(out, func(a, b Member) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// Leader returns the alive member with the lexicographically largest
// name. It is this member's view, not a consensus: two members with
// different tables (during a join, a partition, or before a death has
// spread) can name different leaders at the same time. Use the election
// package when one leader matters.
func (m *Membership) Leader() (distribute.Atom, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var best distribute.Atom
	for _, mb := range m.table {
		if mb.State == StateAlive && mb.Name > best {
			best = mb.Name
		}
	}
	return best, best != ""
}

// HealthScore is Lifeguard's local health: 0 is healthy; higher means
// this member has been missing acks and stretches its probe timeouts.
func (m *Membership) HealthScore() int { return m.ml.GetHealthScore() }

// Stats returns the gossip transport's counters.
func (m *Membership) Stats() Stats {
	c := &m.tr.ctr
	return Stats{
		PacketsIn: c.packetsIn.Load(), PacketsOut: c.packetsOut.Load(),
		BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load(),
		StreamIn: c.streamIn.Load(), StreamOut: c.streamOut.Load(),
		Streams: c.streams.Load(), Dropped: c.dropped.Load(),
	}
}

// Refresh reads memberlist's state into the table now (it is otherwise
// read every StatusInterval and on every join or leave memberlist
// reports) and returns when the table and the events are updated.
func (m *Membership) Refresh(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case m.refresh <- done:
	case <-m.ctx.Done():
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-m.ctx.Done():
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop leaves the cluster (the others mark this member left, not dead,
// so a planned restart is not a failure), shuts gossip down, and ends
// every goroutine the member started, or returns when ctx ends. The
// distribution node is not stopped. Stop is idempotent.
func (m *Membership) Stop(ctx context.Context) error { return m.stop(ctx, true) }

// stop shuts the member down, leaving first when leave is set (tests
// halt members without leaving to play a crash).
func (m *Membership) stop(ctx context.Context, leave bool) error {
	m.stopOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		if leave {
			timeout := m.cfg.LeaveTimeout
			if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
				timeout = max(time.Until(d), time.Millisecond)
			}
			if err := m.ml.Leave(timeout); err != nil {
				m.logger.Warn("leave", "err", err)
			}
		}
		if err := m.ml.Shutdown(); err != nil {
			m.stopErr = fmt.Errorf("membership: shutdown: %w", err)
		}
		m.cancel()
		m.fan.Close()
	})
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("membership: stop %s: %w", m.name, ctx.Err())
	}
	m.fan.Close()
	return m.stopErr
}

func (m *Membership) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// poke asks the run loop to read the state soon.
func (m *Membership) poke() {
	select {
	case m.nudge <- struct{}{}:
	default:
	}
}

// run owns the reading of memberlist's state.
func (m *Membership) run() {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.StatusInterval)
	defer t.Stop()
	for {
		var done chan struct{}
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		case <-m.nudge:
		case done = <-m.refresh:
		}
		m.update()
		if done != nil {
			close(done)
		}
		now := time.Now()
		m.reconnect(now)
		m.claim(now)
	}
}

// claim joins a process that claimed a member's name from another
// address (NotifyConflict) once memberlist lets the name move: the old
// address has left, or has been dead for DeadNodeReclaimTime, or is
// forgotten. The join's push/pull carries the claimant's alive message,
// which memberlist then accepts; without it the claimant would wait for
// its own next push/pull (PushPullInterval, 30 s with LAN).
func (m *Membership) claim(now time.Time) {
	reclaim := m.cfg.Profile.DeadNodeReclaimTime
	m.claimMu.Lock()
	if reclaim <= 0 {
		clear(m.claims)
	}
	if len(m.claims) == 0 || m.claiming.Load() {
		m.claimMu.Unlock()
		return
	}
	claims := maps.Clone(m.claims)
	m.claimMu.Unlock()
	var name distribute.Atom
	var addr string
	for n, c := range claims {
		mb, ok := m.Member(n)
		switch {
		case ok && mb.Gossip == c.addr && mb.State != StateDead && mb.State != StateLeft:
			m.dropClaim(n, c.addr) // moved
			continue
		case !ok, mb.State == StateLeft, mb.State == StateDead && now.Sub(mb.Since) > reclaim:
			name, addr = n, c.addr
		default:
			// The old address is alive, suspect, or not dead long
			// enough. Still alive well past the detection bound: two
			// live processes use one name.
			if mb.State == StateAlive && !c.warned && now.Sub(c.since) > m.DetectionBound() {
				m.logger.Warn("two processes claim one member name", "name", n, "gossip", mb.Gossip, "other", c.addr, "since", c.since)
				m.claimMu.Lock()
				if r, ok := m.claims[n]; ok && r.addr == c.addr {
					r.warned = true
					m.claims[n] = r
				}
				m.claimMu.Unlock()
			}
			continue
		}
		break
	}
	if addr == "" {
		return
	}
	m.dropClaim(name, addr)
	m.claiming.Store(true)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer m.claiming.Store(false)
		if _, err := m.ml.Join([]string{addr}); err != nil {
			m.logger.Debug("join of a member's new address failed", "name", name, "gossip", addr, "err", err)
			return
		}
		m.logger.Info("joined a member's new address", "name", name, "gossip", addr)
		m.poke()
	}()
}

// claimRec is a claim on a member's name from another address.
type claimRec struct {
	addr   string
	since  time.Time // first seen from addr
	warned bool      // the two-processes warning was logged
}

// dropClaim forgets a claim unless it has changed meanwhile.
func (m *Membership) dropClaim(name distribute.Atom, addr string) {
	m.claimMu.Lock()
	if m.claims[name].addr == addr {
		delete(m.claims, name)
	}
	m.claimMu.Unlock()
}

// reconnect tries, every ReconnectInterval, to rejoin one dead member
// (chosen at random among those dead for less than ReconnectTimeout) at
// its last gossip address: after a partition long enough for both sides
// to declare each other dead, this is what merges them again. A member
// that left is never rejoined.
func (m *Membership) reconnect(now time.Time) {
	p := m.cfg.Profile
	if p.ReconnectInterval <= 0 || now.Sub(m.lastReconnect) < p.ReconnectInterval || m.reconnecting.Load() {
		return
	}
	var cands []Member
	m.mu.Lock()
	for _, mb := range m.table {
		if !mb.Self && mb.State == StateDead && mb.Gossip != "" && now.Sub(mb.Since) < p.ReconnectTimeout {
			cands = append(cands, mb)
		}
	}
	m.mu.Unlock()
	if len(cands) == 0 {
		return
	}
	mb := cands[rand.IntN(len(cands))]
	m.lastReconnect = now
	m.reconnecting.Store(true)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer m.reconnecting.Store(false)
		if _, err := m.ml.Join([]string{mb.Gossip}); err != nil {
			m.logger.Debug("reconnect to a dead member failed", "name", mb.Name, "gossip", mb.Gossip, "err", err)
			return
		}
		m.logger.Info("reconnected to a dead member", "name", mb.Name, "gossip", mb.Gossip)
		m.poke()
	}()
}

// update reads memberlist's table, records the changes, tells the
// subscribers, and drives the distribution links.
func (m *Membership) update() {
	recs, err := m.tr.snapshot(m.ctx)
	if err != nil {
		if m.ctx.Err() == nil && !m.isClosed() { // not the transport closing under a Stop
			m.logger.Warn("state snapshot", "err", err)
		}
		return
	}
	now := time.Now()
	var events []Event
	inRecs := make(map[distribute.Atom]bool, len(recs))
	m.mu.Lock()
	for _, r := range recs {
		meta, err := ParseMeta(r.Meta)
		if err != nil || meta.Node != r.Name {
			m.logger.Debug("member with bad meta ignored", "name", r.Name, "err", err)
			continue
		}
		st := stateOf(r.State)
		if st == 0 {
			continue
		}
		name := distribute.Atom(r.Name)
		inRecs[name] = true
		old, seen := m.table[name]
		nm := Member{Name: name, Gossip: meta.Gossip, Election: meta.Election, Cluster: meta.Cluster, State: st, Incarnation: r.Incarnation, Since: old.Since, Self: name == m.name}
		if !seen || old.State != st {
			nm.Since = now
		}
		if !seen || old.State != st || old.Incarnation != nm.Incarnation || old.Gossip != nm.Gossip || old.Election != nm.Election || old.Cluster != nm.Cluster {
			events = append(events, Event{Member: nm, Prev: old.State})
			m.table[name] = nm
		}
	}
	for _, ev := range events {
		m.fan.Publish(ev)
	}
	var reaped []distribute.Atom
	if reap := m.cfg.Profile.ReapTime; reap > 0 {
		for name, mb := range m.table {
			if !mb.Self && !inRecs[name] && (mb.State == StateDead || mb.State == StateLeft) && now.Sub(mb.Since) >= reap {
				delete(m.table, name)
				reaped = append(reaped, name)
			}
		}
	}
	var alive []distribute.Atom
	for _, mb := range m.table {
		if !mb.Self && mb.State == StateAlive {
			alive = append(alive, mb.Name)
			m.joined.Store(true)
		}
	}
	m.mu.Unlock()
	for _, ev := range events {
		m.logger.Info("member", "name", ev.Member.Name, "state", ev.Member.State.String(), "prev", ev.Prev.String(), "incarnation", ev.Member.Incarnation)
	}
	for _, name := range reaped {
		m.logger.Info("member forgotten", "name", name, "after", m.cfg.Profile.ReapTime)
		m.forget(name)
	}
	m.countChanges(events)
	if m.node == nil {
		return
	}
	m.driveLinks(events, alive, now)
}

// forget drops what the member keeps about a reaped name.
func (m *Membership) forget(name distribute.Atom) {
	m.boundMu.Lock()
	delete(m.bound, name)
	m.boundMu.Unlock()
	m.dialMu.Lock()
	delete(m.lastDial, name)
	m.dialMu.Unlock()
	m.dropClaim(name, m.claimOf(name))
}

func (m *Membership) claimOf(name distribute.Atom) string {
	m.claimMu.Lock()
	defer m.claimMu.Unlock()
	return m.claims[name].addr
}

// driveLinks connects alive members and disconnects a member at the
// moment it is declared dead: only the connection that belongs to the
// incarnation SWIM declared dead. A connection made later (a node
// restarted under the name, a reconnect while the member stays dead) is
// left alone, and nothing is cut again on later reads of the table.
func (m *Membership) driveLinks(events []Event, alive []distribute.Atom, now time.Time) {
	var died []Member
	m.boundMu.Lock()
	for _, ev := range events {
		mb := ev.Member
		if mb.Self {
			continue
		}
		switch mb.State {
		case StateDead:
			if ev.Prev != StateDead {
				died = append(died, mb)
			}
		case StateAlive:
			// A new alive epoch (joined, refuted with a new incarnation,
			// a new address): the connection up now belongs to it, or
			// else the next to come up (bindConns).
			delete(m.bound, mb.Name)
			if since, ok := m.connSince(mb.Name); ok {
				m.bound[mb.Name] = since
			}
		}
	}
	type cut struct {
		mb    Member
		since time.Time
		now   bool
	}
	var cuts []cut
	for _, mb := range died {
		since, ok := m.connSince(mb.Name)
		if !ok {
			continue
		}
		b, isBound := m.bound[mb.Name]
		cuts = append(cuts, cut{mb, since, (isBound && b.Equal(since)) || m.cfg.Resolve == nil})
	}
	for _, ev := range events {
		if ev.Member.State == StateDead || ev.Member.State == StateLeft {
			delete(m.bound, ev.Member.Name)
		}
	}
	m.boundMu.Unlock()
	for _, c := range cuts {
		if c.now && m.cfg.Profile.DisconnectGrace == 0 {
			m.disconnectSince(c.mb, c.since, nil)
			continue
		}
		m.wg.Add(1)
		go m.cutAfterGrace(c.mb, c.since, c.now)
	}
	for _, name := range alive {
		m.connect(name, now)
	}
}

// cutAfterGrace waits Profile.DisconnectGrace after mb was declared
// dead, then cuts its connection unless mb has refuted its death
// meanwhile (see refuted). The connection goes if it is still the one
// that came up at since: at once when now (it belongs to the incarnation
// declared dead), else after asking the node on it who it is
// (disconnectIfSame).
func (m *Membership) cutAfterGrace(mb Member, since time.Time, now bool) {
	defer m.wg.Done()
	if grace := m.cfg.Profile.DisconnectGrace; grace > 0 {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		if m.refuted(mb) {
			return
		}
	}
	if now {
		m.disconnectSince(mb, since, nil)
		return
	}
	m.disconnectIfSame(mb, since)
}

// refuted reports whether mb, declared dead, has refuted its death: the
// same process (gossip address) is alive or suspect in a later
// incarnation. It logs it: the connection stays.
func (m *Membership) refuted(mb Member) bool {
	cur, ok := m.Member(mb.Name)
	if !ok || cur.Gossip != mb.Gossip || cur.Incarnation <= mb.Incarnation || (cur.State != StateAlive && cur.State != StateSuspect) {
		return false
	}
	m.logger.Info("a member declared dead refuted it; connection kept", "name", mb.Name, "incarnation", mb.Incarnation, "now", cur.String())
	return true
}

// disconnectSince closes the connection to mb if it is the one that came
// up at since.
func (m *Membership) disconnectSince(mb Member, since time.Time, resolveErr error) {
	for _, c := range m.node.Connections() {
		if c.Node == mb.Name && c.Since.Equal(since) {
			if m.node.Disconnect(mb.Name) {
				m.logger.Info("disconnected dead member", "name", mb.Name, "incarnation", mb.Incarnation, "resolve_err", resolveErr)
			}
			return
		}
	}
}

// connSince returns when the connection to name came up.
func (m *Membership) connSince(name distribute.Atom) (time.Time, bool) {
	if !m.node.IsConnected(name) {
		return time.Time{}, false
	}
	for _, c := range m.node.Connections() {
		if c.Node == name {
			return c.Since, true
		}
	}
	return time.Time{}, false
}

// bindConns binds the first connection to come up to an alive member
// that has none bound (see bound).
func (m *Membership) bindConns(events <-chan distribute.NodeEvent) {
	defer m.wg.Done()
	for ev := range events {
		if !ev.Up {
			continue
		}
		if mb, ok := m.Member(ev.Node); !ok || mb.State != StateAlive {
			continue
		}
		m.boundMu.Lock()
		if _, ok := m.bound[ev.Node]; !ok {
			if since, ok := m.connSince(ev.Node); ok {
				m.bound[ev.Node] = since
			}
		}
		m.boundMu.Unlock()
	}
}

// disconnectIfSame handles a member declared dead while connected
// through a connection made after its alive epoch began: it may be a new
// process under the same name (a restart on another gossip address,
// whose alive message memberlist refuses until the old address is dead).
// The node on that connection is asked its gossip address (Resolve): the
// dead member's address, no answer within TCPTimeout, or an error, and
// the connection is closed; another address, or an answer without one
// (ErrNoGossip: a node still starting), and it is a live process with the
// same name, left alone.
func (m *Membership) disconnectIfSame(mb Member, since time.Time) {
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.Profile.TCPTimeout)
	addr, err := m.cfg.Resolve(ctx, mb.Name)
	cancel()
	if m.ctx.Err() != nil {
		return
	}
	if (err == nil && addr != mb.Gossip) || errors.Is(err, ErrNoGossip) {
		m.logger.Info("a dead member's name is connected from a new process; not disconnected", "name", mb.Name, "dead_gossip", mb.Gossip, "new_gossip", addr, "err", err)
		return
	}
	if m.refuted(mb) {
		return
	}
	m.disconnectSince(mb, since, err)
}

// connect dials an alive member that is not connected, at most once per
// ConnectRetry.
func (m *Membership) connect(name distribute.Atom, now time.Time) {
	if m.node.IsConnected(name) {
		return
	}
	m.dialMu.Lock()
	if m.dialing[name] || now.Sub(m.lastDial[name]) < m.cfg.ConnectRetry {
		m.dialMu.Unlock()
		return
	}
	m.dialing[name] = true
	m.lastDial[name] = now
	m.dialMu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		ctx, cancel := context.WithTimeout(m.ctx, m.cfg.Profile.TCPTimeout+10*time.Second)
		err := m.node.Connect(ctx, name)
		cancel()
		m.dialMu.Lock()
		delete(m.dialing, name)
		m.dialMu.Unlock()
		if err != nil {
			m.logger.Debug("connect to member", "name", name, "err", err)
			return
		}
		m.logger.Debug("connected to member", "name", name)
	}()
}

// Watch returns a channel of table changes: first one event per member
// in the table now (Prev 0), then every change, in order, until ctx ends
// or the member stops; then the channel is closed. Watch never blocks
// the member: events queue for a slow reader, and a reader 4096 events
// behind is cut off (it receives what is queued, then its channel is
// closed; Watch again for a fresh table).
func (m *Membership) Watch(ctx context.Context) <-chan Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return closedEvents()
	}
	var initial []Event
	for _, mb := range m.sortedLocked(func(Member) bool { return true }) {
		initial = append(initial, Event{Member: mb})
	}
	return m.fan.Subscribe(ctx, initial, nil)
}

func closedEvents() <-chan Event {
	ch := make(chan Event)
	close(ch)
	return ch
}

// delegate receives memberlist's callbacks. They run on memberlist's
// goroutines, some with its table locked: they never block.
type delegate struct{ m *Membership }

func (d *delegate) NodeMeta(limit int) []byte {
	meta := *d.m.meta.Load()
	if len(meta) > limit {
		return nil
	}
	return meta
}
func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

func (d *delegate) NotifyJoin(*memberlist.Node)   { d.m.poke() }
func (d *delegate) NotifyLeave(*memberlist.Node)  { d.m.poke() }
func (d *delegate) NotifyUpdate(*memberlist.Node) { d.m.poke() }

// NotifyAlive refuses a peer whose meta does not parse or names another
// node.
func (d *delegate) NotifyAlive(peer *memberlist.Node) error {
	meta, err := ParseMeta(peer.Meta)
	if err != nil {
		return err
	}
	if meta.Node != peer.Name {
		return fmt.Errorf("%w: meta names %s, member is %s", ErrMeta, meta.Node, peer.Name)
	}
	return nil
}

// NotifyConflict records a process that claims a member's name from
// another address; claim joins it once the name may move.
func (d *delegate) NotifyConflict(existing, other *memberlist.Node) {
	d.m.logger.Info("a member's name is claimed from a new address", "name", existing.Name, "existing", existing.Address(), "other", other.Address())
	if existing.Name == string(d.m.name) {
		return // our own name, from our previous incarnation's address
	}
	name, addr := distribute.Atom(existing.Name), other.Address()
	d.m.claimMu.Lock()
	if d.m.claims[name].addr != addr {
		d.m.claims[name] = claimRec{addr: addr, since: time.Now()}
	}
	d.m.claimMu.Unlock()
	d.m.poke()
}
