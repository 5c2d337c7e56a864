package groups

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/fanout"
)

// DefaultScope is the name of OTP's default pg scope.
const DefaultScope distribute.Atom = "pg"

// Errors.
var (
	// ErrClosed is returned after the scope stopped (it wraps
	// distribute.ErrClosed).
	ErrClosed = fmt.Errorf("groups: scope stopped: %w", distribute.ErrClosed)
	// ErrNotLocal is returned by Join and Leave for a pid of another node:
	// a scope only adds its own node's processes, as pg:join/2 does.
	ErrNotLocal = errors.New("groups: pid is not on this node")
	// ErrNotJoined is returned by Leave when none of the pids was a member.
	ErrNotJoined = errors.New("groups: not joined")
	// ErrBadGroup is returned for a group that cannot be encoded as a term.
	ErrBadGroup = errors.New("groups: group is not a valid term")
)

// ChangeKind says whether a Change added or removed members.
type ChangeKind uint8

// Kinds of change.
const (
	Joined ChangeKind = 1
	Left   ChangeKind = 2
)

func (k ChangeKind) String() string {
	switch k {
	case Joined:
		return "join"
	case Left:
		return "leave"
	}
	return fmt.Sprintf("ChangeKind(%d)", uint8(k))
}

// Change is one membership change of a group, as pg:monitor/2 reports it
// ({Ref, join|leave, Group, Pids}). A pid that joined twice leaves twice.
type Change struct {
	Kind  ChangeKind
	Group distribute.Term
	Pids  []distribute.Pid
}

// Config configures a scope. The zero Config runs the default scope pg
// and logs nothing.
type Config struct {
	// Scope is the scope to run: Erlang's pg:start_link(Scope); peers
	// only see each other within the same scope name. Default: pg
	// (DefaultScope).
	Scope distribute.Atom
	// Logger receives protocol oddities (ignored junk). Default: none.
	Logger *slog.Logger
}

// Rediscovery after a peer scope died while its visible node stayed
// connected (the scope is being restarted): a hidden Go node gets no nodeup
// on the peer's side, and OTP's new scope only discovers visible nodes, so
// we send discover again with backoff until a scope on that node answers.
const (
	rediscoverFirst    = 5 * time.Millisecond
	rediscoverMax      = time.Second
	rediscoverAttempts = 14
)

// Scope is a running pg scope: a process registered under the scope name
// that speaks OTP's pg protocol with the scopes of the same name on every
// connected node, Go or BEAM.
//
// All methods are safe for concurrent use.
type Scope struct {
	node   *distribute.Node
	name   distribute.Atom
	proc   *distribute.Process
	logger *slog.Logger

	// ioMu serializes every change with the I/O it causes, so the messages
	// of one change reach each peer before those of the next. It protects
	// localRefs, peerRefs and retries.
	ioMu      sync.Mutex
	localRefs map[distribute.Pid]distribute.Ref
	peerRefs  map[distribute.Pid]distribute.Ref
	retries   map[distribute.Atom]*retry

	mu      sync.RWMutex // protects c and stopped; held for writing to publish to fan
	c       *core
	fan     *fanout.Fanout[Change] // Watch's subscribers
	stopped bool

	ctx      context.Context // canceled by Stop or when the scope process ends
	cancel   context.CancelFunc
	loopDone chan struct{}
	stopOnce sync.Once
}

// retry is the rediscovery state of one node.
type retry struct {
	attempt int
	timer   *time.Timer
}

// rediscover is the timer's message to the scope process.
type rediscover struct{ node distribute.Atom }

// Start starts the scope cfg.Scope (pg by default) on node, registers it
// under its name and discovers the scopes on every node connected now or
// later. Stop ends it.
func Start(ctx context.Context, node *distribute.Node, cfg Config) (*Scope, error) {
	o := cfg
	if o.Scope == "" {
		o.Scope = DefaultScope
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	proc, err := node.NewProcess()
	if err != nil {
		return nil, fmt.Errorf("groups: start scope %s: %w", o.Scope, err)
	}
	// pg sends with noconnect: a scope never dials a peer that is gone,
	// not even when a message races with the connection's loss.
	proc.AutoConnect(false)
	if err := node.Register(o.Scope, proc.Pid()); err != nil {
		proc.Exit(distribute.ReasonNormal)
		return nil, fmt.Errorf("groups: start scope %s: %w", o.Scope, err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &Scope{
		node:      node,
		name:      o.Scope,
		proc:      proc,
		logger:    o.Logger,
		localRefs: make(map[distribute.Pid]distribute.Ref),
		peerRefs:  make(map[distribute.Pid]distribute.Ref),
		retries:   make(map[distribute.Atom]*retry),
		c:         newCore(o.Scope, proc.Pid()),
		fan:       fanout.New[Change](0),
		ctx:       sctx,
		cancel:    cancel,
		loopDone:  make(chan struct{}),
	}
	s.c.notify = s.notifyLocked
	proc.MonitorNodes(true)
	s.change(sctx, func(c *core) {
		// Only visible peers, as OTP's pg: never a hidden node or a C
		// node (erl_call would take our discover for its rpc's answer).
		for _, n := range node.PublishedNodes() {
			c.discoverNode(n)
		}
	})
	go s.loop()
	return s, nil
}

// Name returns the scope name.
func (s *Scope) Name() distribute.Atom { return s.name }

// Pid returns the scope process's pid.
func (s *Scope) Pid() distribute.Pid { return s.proc.Pid() }

// change runs f on the core under the locks, then performs the effects it
// queued, in order, before another change can start.
func (s *Scope) change(ctx context.Context, f func(c *core)) {
	s.ioMu.Lock()
	defer s.ioMu.Unlock()
	s.mu.Lock()
	f(s.c)
	effs := s.c.takeEffects()
	s.mu.Unlock()
	s.perform(ctx, effs)
}

// perform does the I/O of effects; ioMu is held.
func (s *Scope) perform(ctx context.Context, effs []effect) {
	for _, e := range effs {
		switch e.op {
		case effSend:
			// To a peer that is gone this fails: AutoConnect is off.
			if err := s.proc.Send(ctx, e.to, e.msg); err != nil {
				s.logger.Debug("groups: send to peer scope", "scope", s.name, "peer", e.to, "err", err)
			}
		case effSendName:
			if err := s.proc.SendName(ctx, s.name, e.node, e.msg); err != nil {
				s.logger.Debug("groups: discover", "scope", s.name, "node", e.node, "err", err)
			}
		case effMonitor:
			if e.to.Node != s.node.Name() && !s.node.IsConnected(e.to.Node) {
				// A peer scope on a node we are not connected to (junk, or a
				// node that just went away): never dial for it; it is gone.
				s.mu.Lock()
				s.c.peerDown(e.to)
				s.mu.Unlock()
				continue
			}
			ref, err := s.proc.Monitor(ctx, e.to)
			if err != nil {
				s.logger.Debug("groups: monitor", "scope", s.name, "pid", e.to, "err", err)
				continue
			}
			if e.to.Node == s.node.Name() {
				s.localRefs[e.to] = ref
			} else {
				s.peerRefs[e.to] = ref
			}
		case effDemonitor:
			if ref, ok := s.localRefs[e.to]; ok {
				delete(s.localRefs, e.to)
				s.proc.Demonitor(ctx, ref)
			}
		}
	}
}

// loop is the scope process: it handles the messages of peers, monitor
// and node notifications until the process ends.
func (s *Scope) loop() {
	defer close(s.loopDone)
	defer s.fan.Close()
	defer s.shutdown()
	for {
		m, err := s.proc.Receive(s.ctx)
		if err != nil {
			return
		}
		switch v := m.(type) {
		case distribute.Down:
			s.handleDown(v)
		case distribute.NodeUp:
			if v.Published {
				s.change(s.ctx, func(c *core) { c.discoverNode(v.Node) })
			}
		case distribute.NodeDown:
			// The peer scope's Down (noconnection) does the cleanup.
			s.ioMu.Lock()
			if r := s.retries[v.Node]; r != nil {
				r.timer.Stop()
				delete(s.retries, v.Node)
			}
			s.ioMu.Unlock()
		case rediscover:
			s.handleRediscover(v.node)
		default:
			ok := true
			s.change(s.ctx, func(c *core) { ok = c.handle(m) })
			if !ok {
				s.logger.Debug("groups: ignored message", "scope", s.name, "msg", etf.LogValue(m))
			}
		}
	}
}

func (s *Scope) handleDown(d distribute.Down) {
	node := d.Pid.Node
	peerGone, again := false, false
	s.change(s.ctx, func(c *core) {
		// ioMu is held: the refs can be read here.
		if ref, ok := s.localRefs[d.Pid]; ok && ref == d.Ref {
			delete(s.localRefs, d.Pid)
			c.localDown(d.Pid)
			return
		}
		if ref, ok := s.peerRefs[d.Pid]; ok && ref == d.Ref {
			delete(s.peerRefs, d.Pid)
			c.peerDown(d.Pid)
			peerGone, again = true, !c.hasPeerOn(node)
		}
	})
	// A scope that died while its node stays up is being restarted. A
	// hidden node's scope is not rediscovered: it discovers us itself.
	if peerGone && again && d.Reason != distribute.ReasonNoConnection && slices.Contains(s.node.PublishedNodes(), node) {
		s.ioMu.Lock()
		if r := s.retries[node]; r != nil {
			r.timer.Stop()
		}
		r := &retry{}
		s.retries[node] = r
		s.scheduleLocked(node, r)
		s.ioMu.Unlock()
	}
}

// scheduleLocked arms r's next attempt; ioMu is held.
func (s *Scope) scheduleLocked(node distribute.Atom, r *retry) {
	d := rediscoverFirst << r.attempt
	if d > rediscoverMax || d <= 0 {
		d = rediscoverMax
	}
	r.timer = time.AfterFunc(d, func() {
		s.proc.Send(s.ctx, s.proc.Pid(), rediscover{node: node})
	})
}

func (s *Scope) handleRediscover(node distribute.Atom) {
	s.ioMu.Lock()
	r := s.retries[node]
	s.ioMu.Unlock()
	if r == nil {
		return
	}
	known := false
	s.change(s.ctx, func(c *core) {
		if known = c.hasPeerOn(node); !known {
			c.discoverNode(node)
		}
	})
	s.ioMu.Lock()
	defer s.ioMu.Unlock()
	if s.retries[node] != r {
		return
	}
	r.attempt++
	if known || r.attempt >= rediscoverAttempts || !s.node.IsConnected(node) {
		delete(s.retries, node)
		return
	}
	s.scheduleLocked(node, r)
}

// shutdown runs when the loop ends: it marks the scope stopped, stops the
// timers and ends the subscriptions.
func (s *Scope) shutdown() {
	s.cancel()
	s.ioMu.Lock()
	for n, r := range s.retries {
		r.timer.Stop()
		delete(s.retries, n)
	}
	s.ioMu.Unlock()
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.proc.MonitorNodes(false)
	s.proc.Exit(distribute.ReasonShutdown)
}

// Stop leaves every group cleanly (peers are told, then the scope process
// exits, so they also get its DOWN), ends the scope's goroutines and
// subscriptions and waits for them. It is idempotent.
func (s *Scope) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		left := make(chan struct{})
		go func() {
			defer close(left)
			s.change(ctx, s.leaveAllLocked)
		}()
		select {
		case <-left:
		case <-ctx.Done():
			// The scope may be blocked sending to a peer whose buffer is
			// full: end its sends, then give up on leaving politely.
			s.cancel()
			<-left
		}
		s.proc.Exit(distribute.ReasonShutdown)
		s.cancel()
	})
	select {
	case <-s.loopDone:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// leaveAllLocked marks the scope stopped and removes every local member,
// telling the peers; it runs under the scope's locks.
func (s *Scope) leaveAllLocked(c *core) {
	s.stopped = true
	keys := make([]string, 0, len(c.groups))
	for k, g := range c.groups {
		if len(g.local) > 0 {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		c.leave(k, append([]distribute.Pid(nil), c.groups[k].local...))
	}
}

// Done is closed when the scope has stopped (by Stop, or because its node
// stopped).
func (s *Scope) Done() <-chan struct{} { return s.loopDone }

func (s *Scope) closedErr() error {
	if s.stopped {
		return ErrClosed
	}
	return nil
}

// localPids checks that every pid is on this node.
func (s *Scope) localPids(pids []distribute.Pid) error {
	for _, p := range pids {
		if p.Node != s.node.Name() || p.Creation != s.node.Creation() {
			return fmt.Errorf("groups: %v: %w", p, ErrNotLocal)
		}
	}
	return nil
}

// groupTerm converts a Go group value to its term and key.
func groupTerm(group any) (distribute.Term, string, error) {
	t, err := etf.ToTerm(group)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrBadGroup, err)
	}
	key, err := groupKey(t)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrBadGroup, err)
	}
	return t, key, nil
}

// Join adds local processes to group, as pg:join(Scope, Group, Pids): once
// per call, so a pid that joins twice must leave twice. Members on every
// node see them once the join message arrived. ctx bounds the sends to
// peers. A process that exits leaves all its groups.
func (s *Scope) Join(ctx context.Context, group any, pids ...distribute.Pid) error {
	if err := s.localPids(pids); err != nil {
		return err
	}
	t, key, err := groupTerm(group)
	if err != nil {
		return err
	}
	if len(pids) == 0 {
		return nil
	}
	s.ioMu.Lock()
	defer s.ioMu.Unlock()
	s.mu.Lock()
	if err := s.closedErr(); err != nil {
		s.mu.Unlock()
		return err
	}
	s.c.join(key, t, append([]distribute.Pid(nil), pids...))
	effs := s.c.takeEffects()
	s.mu.Unlock()
	s.perform(ctx, effs)
	return nil
}

// Leave removes one membership of each pid in group, as pg:leave. It
// returns ErrNotJoined when none of them was a member.
func (s *Scope) Leave(ctx context.Context, group any, pids ...distribute.Pid) error {
	if err := s.localPids(pids); err != nil {
		return err
	}
	_, key, err := groupTerm(group)
	if err != nil {
		return err
	}
	s.ioMu.Lock()
	defer s.ioMu.Unlock()
	s.mu.Lock()
	if err := s.closedErr(); err != nil {
		s.mu.Unlock()
		return err
	}
	removed := s.c.leave(key, pids)
	effs := s.c.takeEffects()
	s.mu.Unlock()
	s.perform(ctx, effs)
	if len(removed) == 0 {
		return ErrNotJoined
	}
	return nil
}

// Members returns every member of group on every node of the scope, in
// no particular order; a pid that joined twice is listed twice, as in
// pg:get_members/2. An unknown or invalid group has no members.
func (s *Scope) Members(group any) []distribute.Pid {
	var buf [64]byte
	key, ok := lookupKey(&buf, group)
	if !ok {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if g := s.c.groups[string(key)]; g != nil {
		return append([]distribute.Pid(nil), g.all...)
	}
	return nil
}

// LocalMembers returns the members of group on this node, as
// pg:get_local_members/2.
func (s *Scope) LocalMembers(group any) []distribute.Pid {
	var buf [64]byte
	key, ok := lookupKey(&buf, group)
	if !ok {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if g := s.c.groups[string(key)]; g != nil && len(g.local) > 0 {
		return append([]distribute.Pid(nil), g.local...)
	}
	return nil
}

// lookupKey returns the key of a Go group value in buf (which must not be
// kept): the common atom case is encoded in place without allocating.
func lookupKey(buf *[64]byte, group any) ([]byte, bool) {
	if a, ok := group.(distribute.Atom); ok && len(a) < 60 {
		b, err := etf.AppendAtom(append(buf[:0], etf.VersionByte), a)
		return b, err == nil
	}
	_, key, err := groupTerm(group)
	return []byte(key), err == nil
}

// WhichGroups returns every group with at least one member on any node,
// as pg:which_groups/1.
func (s *Scope) WhichGroups() []distribute.Term {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]distribute.Term, 0, len(s.c.groups))
	for _, g := range s.c.groups {
		out = append(out, g.name)
	}
	return out
}

// Peers returns the pids of the peer scopes this scope knows.
func (s *Scope) Peers() []distribute.Pid {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]distribute.Pid, 0, len(s.c.peers))
	for p := range s.c.peers {
		out = append(out, p)
	}
	return out
}
