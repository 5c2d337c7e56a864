package membership

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distribute-go/distribute"
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

	mu     sync.Mutex // protects table, subs, closed
	table  map[distribute.Atom]Member
	subs   map[*sub]struct{}
	closed bool

	dialMu  sync.Mutex // protects dialing, lastDial
	dialing map[distribute.Atom]bool
	// lastDial is when each member was last dialled.
	lastDial map[distribute.Atom]time.Time

	// reconnecting is set while a rejoin of a dead member runs;
	// lastReconnect (run goroutine only) is when the last one started.
	reconnecting  atomic.Bool
	lastReconnect time.Time

	stopOnce sync.Once
	stopErr  error
}

// Start starts a member: it binds the gossip port and starts memberlist.
// The member is alone until Join or JoinNode, or until another member
// joins it.
func Start(ctx context.Context, cfg Config) (*Membership, error) {
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
		node:     cfg.Node,
		logger:   cfg.Logger.With("member", string(cfg.Name)),
		nudge:    make(chan struct{}, 1),
		refresh:  make(chan chan struct{}),
		table:    make(map[distribute.Atom]Member),
		subs:     make(map[*sub]struct{}),
		dialing:  make(map[distribute.Atom]bool),
		lastDial: make(map[distribute.Atom]time.Time),
	}
	stdlog := newStdLogger(m.logger)
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{host},
		BindPort:  port,
		Logger:    stdlog,
	})
	if err != nil {
		return nil, fmt.Errorf("membership: listen on %s: %w", cfg.GossipAddr, err)
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
	return m, nil
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

// Members returns the status table, self included, sorted by name. Dead
// and left members stay in it until they come back.
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
	})
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("membership: stop %s: %w", m.name, ctx.Err())
	}
	m.mu.Lock()
	for s := range m.subs {
		delete(m.subs, s)
	}
	m.mu.Unlock()
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
		m.reconnect(time.Now())
	}
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
		for s := range m.subs {
			s.push(ev)
		}
	}
	var alive, dead []distribute.Atom
	for _, mb := range m.table {
		if mb.Self {
			continue
		}
		switch mb.State {
		case StateAlive:
			alive = append(alive, mb.Name)
			m.joined.Store(true)
		case StateDead:
			dead = append(dead, mb.Name)
		}
	}
	m.mu.Unlock()
	for _, ev := range events {
		m.logger.Info("member", "name", ev.Member.Name, "state", ev.Member.State.String(), "prev", ev.Prev.String(), "incarnation", ev.Member.Incarnation)
	}
	m.countChanges(events)
	if m.node == nil {
		return
	}
	for _, name := range dead {
		if m.node.Disconnect(name) {
			m.logger.Info("disconnected dead member", "name", name)
		}
	}
	for _, name := range alive {
		m.connect(name, now)
	}
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
// or the member stops; then the channel is closed. Events queue without
// bound while the reader is slow; none is dropped.
func (m *Membership) Watch(ctx context.Context) <-chan Event {
	out := make(chan Event)
	s := &sub{wake: make(chan struct{}, 1)}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		close(out)
		return out
	}
	for _, mb := range m.sortedLocked(func(Member) bool { return true }) {
		s.queue = append(s.queue, Event{Member: mb})
	}
	m.subs[s] = struct{}{}
	m.mu.Unlock()
	// A push may have filled wake already (it runs once s is in subs):
	// a blocking send here would wait for a reader not started yet.
	select {
	case s.wake <- struct{}{}:
	default:
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(out)
		defer func() {
			m.mu.Lock()
			delete(m.subs, s)
			m.mu.Unlock()
		}()
		for {
			select {
			case <-s.wake:
			case <-ctx.Done():
				return
			case <-m.ctx.Done():
				return
			}
			for _, ev := range s.take() {
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				case <-m.ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// sub is one Watch subscriber's unbounded queue.
type sub struct {
	mu    sync.Mutex // protects queue
	queue []Event
	wake  chan struct{}
}

func (s *sub) push(ev Event) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *sub) take() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	return q
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

func (d *delegate) NotifyConflict(existing, other *memberlist.Node) {
	d.m.logger.Warn("name conflict", "name", existing.Name, "existing", existing.Address(), "other", other.Address())
}
