package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
	"go.opentelemetry.io/otel/metric"
)

// Protocol constants (global.erl, OTP 25–27).
const (
	// ProtocolVersion is the global protocol version this package speaks.
	ProtocolVersion = 8
	// ServerName is the registered name of the global name server.
	ServerName distribute.Atom = "global_name_server"
	// globalResource is the resource id of the cluster lock (?GLOBAL_RID).
	globalResource distribute.Atom = "global"
)

// Atoms of the protocol.
const (
	aInitConnect    distribute.Atom = "init_connect"
	aInitConnectAck distribute.Atom = "init_connect_ack"
	aCancelConnect  distribute.Atom = "cancel_connect"
	aLocker         distribute.Atom = "locker"
	aNoLongerAPid   distribute.Atom = "no_longer_a_pid"
	aLockSet        distribute.Atom = "lock_set"
	aExchange       distribute.Atom = "exchange"
	aResolved       distribute.Atom = "resolved"
	aNewNodes       distribute.Atom = "new_nodes"
	aInSync         distribute.Atom = "in_sync"
	aLostConnection distribute.Atom = "lost_connection"
	aRemoveConn     distribute.Atom = "remove_connection"
	aSetLock        distribute.Atom = "set_lock"
	aDelLock        distribute.Atom = "del_lock"
	aRegister       distribute.Atom = "register"
	aUnregister     distribute.Atom = "unregister"
	aInsert         distribute.Atom = "insert"
	aDelete         distribute.Atom = "delete"
	aUnused         distribute.Atom = "unused"
	aVsn            distribute.Atom = "vsn"
	aLock           distribute.Atom = "lock"
	aYes            distribute.Atom = "yes"
	aNo             distribute.Atom = "no"
	aGetKnown       distribute.Atom = "get_known"
	aGetSynced      distribute.Atom = "get_synced"
	aGetProtoVsn    distribute.Atom = "get_protocol_version"
	aGenCast        distribute.Atom = "$gen_cast"
)

// Errors.
var (
	// ErrClosed is returned after the server stopped.
	ErrClosed = fmt.Errorf("registry: server stopped: %w", distribute.ErrClosed)
	// ErrBadName is returned for a name that is neither an atom nor a binary.
	ErrBadName = errors.New("registry: name must be an atom or a binary")
	// ErrTaken is returned by Register when the name is already registered
	// or the pid already has a name (global:register_name/2 returning no).
	ErrTaken = errors.New("registry: name taken")
	// ErrNotRegistered is returned when a name is not registered.
	ErrNotRegistered = errors.New("registry: name not registered")
	// ErrLockNotSet is returned by Trans when the lock could not be taken
	// within the retries (global:trans/4 returning aborted).
	ErrLockNotSet = errors.New("registry: lock not set")
	// ErrBadMessage classifies global messages that do not have the
	// expected shape; they are logged and dropped.
	ErrBadMessage = errors.New("registry: malformed global message")
)

// Config configures a global name server. The zero Config is OTP 25's
// global: prevent_overlapping_partitions on, conflicts resolved with
// RandomExitName, and no logging.
type Config struct {
	// Logger receives protocol oddities. Default: none.
	Logger *slog.Logger
	// Resolver resolves the conflicts of names whose method is Erlang's
	// default (random_exit_name, as a local fun of module global or the
	// export fun global:random_exit_name/3) when the conflict must be
	// decided on this node. Default: RandomExitName.
	Resolver Resolver
	// NoPreventOverlappingPartitions switches Erlang's
	// prevent_overlapping_partitions off (it is on by default, as in
	// OTP 25).
	NoPreventOverlappingPartitions bool
}

// Server is a running global name server: the process registered as
// global_name_server on its node, speaking Erlang's global protocol with
// every visible node. Start one per node; all methods are safe for
// concurrent use.
type Server struct {
	node      *distribute.Node
	me        distribute.Atom
	gns       *distribute.Process
	lockerP   *distribute.Process
	registrar *distribute.Process
	plain     *distribute.Process // sends the noconnect messages (AutoConnect off)
	regMu     sync.Mutex          // serializes the registrar's transactions
	logger    *slog.Logger
	resolver  Resolver
	locker    *locker

	mu sync.Mutex // protects the fields below
	// c is the protocol's state, a core without I/O: the gns loop feeds
	// it each message and performs the effects it returns. Only the gns
	// goroutine changes it.
	c         *core
	refs      map[monID]distribute.Ref
	ids       map[distribute.Ref]monID // the core's monitors, both ways
	changed   chan struct{}
	stopped   bool
	resolvers int // conflicts decided by a resolver here

	// resolving holds the cancel of each running resolver, by node; only
	// the gns goroutine uses it.
	resolving map[distribute.Atom]context.CancelFunc
	// effs is step's buffer of effects; only the gns goroutine uses it.
	effs []effect

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	loopDone chan struct{}
	stopOnce sync.Once
}

// internal messages to the gns process.
type (
	nodeEv    distribute.NodeEvent
	lockIsSet struct {
		node        distribute.Atom
		tag, lockID distribute.Term
	}
	exchangeOps struct {
		node          distribute.Atom
		tag           distribute.Term
		ops, resolved etf.List
	}
)

// Start starts the global name server on node, registered as
// global_name_server. The node should be Visible: global only sees visible
// nodes. Stop ends it.
func Start(ctx context.Context, node *distribute.Node, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Resolver == nil {
		cfg.Resolver = RandomExitName
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var procs []*distribute.Process
	fail := func(err error) (*Server, error) {
		for _, p := range procs {
			p.Exit(distribute.ReasonNormal)
		}
		return nil, fmt.Errorf("registry: start: %w", err)
	}
	for range 4 {
		p, err := node.NewProcess()
		if err != nil {
			return fail(err)
		}
		procs = append(procs, p)
	}
	// The plain (noconnect) messages of global go out from a process that
	// never sets up a connection: one racing with a lost connection
	// (prevent_overlapping_partitions cuts some on purpose) must not undo
	// the cut (casts go out this way too). Calls and monitors set one up,
	// as global's do.
	procs[3].AutoConnect(false)
	if err := node.Register(ServerName, procs[0].Pid()); err != nil {
		return fail(err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	xcre := int64(rand.Uint64()>>1)&^0xffffffff + int64(node.Creation())
	s := &Server{
		node:      node,
		me:        node.Name(),
		gns:       procs[0],
		lockerP:   procs[1],
		registrar: procs[2],
		plain:     procs[3],
		logger:    cfg.Logger,
		resolver:  cfg.Resolver,
		c:         newCore(node.Name(), procs[1].Pid(), !cfg.NoPreventOverlappingPartitions, xcre, node.IsConnected),
		refs:      make(map[monID]distribute.Ref),
		ids:       make(map[distribute.Ref]monID),
		changed:   make(chan struct{}),
		resolving: make(map[distribute.Atom]context.CancelFunc),
		ctx:       sctx,
		cancel:    cancel,
		loopDone:  make(chan struct{}),
	}
	s.locker = newLocker(s)
	events := node.WatchNodes(sctx)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		for ev := range events {
			s.gns.Send(sctx, s.gns.Pid(), nodeEv(ev))
		}
	}()
	go func() {
		defer s.wg.Done()
		s.locker.run(sctx)
	}()
	// Nodes connected before Start.
	for _, n := range node.VisibleNodes() {
		s.gns.Send(sctx, s.gns.Pid(), nodeEv{Node: n, Up: true, Visible: true})
	}
	go s.loop()
	return s, nil
}

// Node returns the server's node.
func (s *Server) Node() *distribute.Node { return s.node }

// Pid returns the pid of the global_name_server process.
func (s *Server) Pid() distribute.Pid { return s.gns.Pid() }

// Stop ends the server and its goroutines. It is idempotent.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.cancel()
		s.gns.Exit(distribute.ReasonShutdown)
	})
	select {
	case <-s.loopDone:
	case <-ctx.Done():
		return ctx.Err()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed when the server has stopped.
func (s *Server) Done() <-chan struct{} { return s.loopDone }

// shutdown runs when the loop ends; the canceled s.ctx ends the
// resolvers.
func (s *Server) shutdown() {
	s.cancel()
	s.mu.Lock()
	s.stopped = true
	s.notifyLocked()
	s.mu.Unlock()
	s.gns.Exit(distribute.ReasonShutdown)
	s.lockerP.Exit(distribute.ReasonShutdown)
	s.registrar.Exit(distribute.ReasonShutdown) // ends a transaction's pending call
	s.plain.Exit(distribute.ReasonShutdown)
	s.node.Unregister(ServerName)
}

// notifyLocked wakes everyone waiting for a state change; mu is held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) loop() {
	defer close(s.loopDone)
	defer s.shutdown()
	for {
		m, err := s.gns.Receive(s.ctx)
		if err != nil {
			return
		}
		s.handle(m)
	}
}

// step runs f on the core under mu, then performs the effects it queued,
// in order, and wakes Sync if the state changed. Only the gns goroutine
// calls it, so the effects of one message are done before the next
// message is handled.
func (s *Server) step(f func(c *core)) {
	s.mu.Lock()
	f(s.c)
	s.effs = s.c.appendEffects(s.effs[:0])
	changed := s.c.takeChanged()
	s.mu.Unlock()
	s.perform(s.effs)
	clear(s.effs)
	if changed {
		s.mu.Lock()
		s.notifyLocked()
		s.mu.Unlock()
	}
}

// handle dispatches one message of the gns mailbox. Junk is logged and
// dropped: it never stops the server.
func (s *Server) handle(m any) {
	switch v := m.(type) {
	case nodeEv:
		switch {
		case v.Up && v.Visible:
			s.step(func(c *core) { c.nodeUp(v.Node) })
		case !v.Up:
			s.step(func(c *core) { c.nodeDown(v.Node) })
		}
		return
	case distribute.Down:
		s.step(func(c *core) {
			// mu is held: the monitor maps can be read here.
			if id, ok := s.ids[v.Ref]; ok {
				delete(s.ids, v.Ref)
				delete(s.refs, id)
				c.down(id)
			}
		})
		return
	case lockIsSet:
		s.step(func(c *core) { c.lockIsSet(v.node, v.tag, v.lockID) })
		return
	case exchangeOps:
		s.step(func(c *core) { c.exchangeOps(v.node, v.tag, v.ops, v.resolved) })
		return
	}
	if from, req, ok := distribute.ParseCall(m); ok {
		s.handleCall(from, req)
		return
	}
	var err error
	if req, ok := distribute.ParseCast(m); ok {
		if s.step(func(c *core) { err = c.handleCast(req) }); err != nil {
			s.logger.Debug("registry: dropped cast", "msg", etf.LogValue(req), "err", err)
		}
		return
	}
	if s.step(func(c *core) { err = c.handleInfo(m) }); err != nil {
		s.logger.Debug("registry: dropped message", "msg", etf.LogValue(m), "err", err)
	}
}

// handleCall answers a gen_server call once the effects of the core's
// change are done (the monitor of a registered pid is set when register
// returns yes).
func (s *Server) handleCall(from distribute.From, req distribute.Term) {
	if r, ok := req.(etf.Tuple); ok && len(r) > 0 && r[0] == aGoResolveIt && s.goResolveIt(from, r) {
		return
	}
	var reply distribute.Term
	var answered bool
	s.step(func(c *core) { reply, answered = c.call(from.Pid, req) })
	if !answered {
		// Erlang's gns logs unknown calls and never answers them.
		s.logger.Debug("registry: unknown call", "from", from.Pid, "req", etf.LogValue(req))
		return
	}
	if err := s.gns.Reply(s.ctx, from, reply); err != nil {
		s.logger.Debug("registry: reply", "to", from.Pid, "err", err)
	}
}

// ---- effects ----

// perform does the I/O of effects, on the gns goroutine.
func (s *Server) perform(effs []effect) {
	for _, e := range effs {
		switch e := e.(type) {
		case sendEff:
			s.sendPlain(e.node, e.msg)
		case monitorEff:
			s.monitor(e)
		case demonitorEff:
			s.mu.Lock()
			ref, ok := s.refs[e.id]
			delete(s.refs, e.id)
			delete(s.ids, ref)
			s.mu.Unlock()
			if ok {
				s.gns.Demonitor(s.ctx, ref)
			}
		case lockerEff:
			s.locker.post(e.ev)
		case syncEff:
			s.syncOthers(e.nodes)
		case resolveEff:
			s.startResolver(e)
		case stopResolveEff:
			if cancel := s.resolving[e.node]; cancel != nil {
				cancel()
				delete(s.resolving, e.node)
			}
		case disconnectEff:
			if s.node.Disconnect(e.node) && e.cut {
				s.logger.Warn("registry: disconnecting to prevent overlapping partitions", "node", e.node)
				s.countPartitionCut()
			}
		case warnEff:
			s.logger.Warn(e.msg, "node", e.node)
		}
	}
}

// sendPlain sends msg plainly to the gns of node, never dialing
// (noconnect: s.plain has AutoConnect off).
func (s *Server) sendPlain(node distribute.Atom, msg distribute.Term) {
	if err := s.plain.SendName(s.ctx, ServerName, node, msg); err != nil {
		s.logger.Debug("registry: send", "node", node, "err", err)
	}
}

// monitorTimeout bounds the connection a monitor may have to make.
const monitorTimeout = 10 * time.Second

// monitor makes the gns monitor e.pid and records the monitor's ref for
// e.id. Like erlang:monitor/2 it connects to the pid's node, but only to
// a node of the cluster (known or connecting); elsewhere (junk, or a node
// already gone) it dials nothing and the monitor fails at once. A failed
// monitor is a DOWN in the gns mailbox, handled after this message.
func (s *Server) monitor(e monitorEff) {
	var ref distribute.Ref
	var err error
	if e.pid.Node == s.me || s.node.IsConnected(e.pid.Node) || e.inCluster {
		ctx, cancel := context.WithTimeout(s.ctx, monitorTimeout)
		ref, err = s.gns.Monitor(ctx, e.pid)
		cancel()
	} else {
		ref = s.node.MakeRef()
		s.gns.Send(s.ctx, s.gns.Pid(), distribute.Down{Ref: ref, Pid: e.pid, Reason: distribute.ReasonNoConnection})
	}
	if err != nil {
		ref = s.node.MakeRef()
		s.gns.Send(s.ctx, s.gns.Pid(), distribute.Down{Ref: ref, Pid: e.pid, Reason: distribute.ReasonNoProc})
	}
	s.mu.Lock()
	s.refs[e.id] = ref
	s.ids[ref] = e.id
	s.mu.Unlock()
}

// startResolver runs exchange_names for a connect off the gns goroutine
// (a conflict may take an rpc) and posts the result as exchangeOps.
func (s *Server) startResolver(e resolveEff) {
	ctx, cancel := context.WithCancel(s.ctx)
	if old := s.resolving[e.node]; old != nil {
		old()
	}
	s.resolving[e.node] = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		ops, resolved := s.exchangeNames(ctx, e.node, e.his, e.mine)
		if ctx.Err() == nil {
			s.gns.Send(ctx, s.gns.Pid(), exchangeOps{node: e.node, tag: e.tag, ops: ops, resolved: resolved})
		}
	}()
}

// syncOthers is sync_others: connect to each node and cast in_sync to it.
func (s *Server) syncOthers(nodes []distribute.Atom) {
	for _, n := range nodes {
		if n == s.me {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
			defer cancel()
			if err := s.node.Connect(ctx, n); err != nil {
				s.logger.Warn("registry: failed to connect", "node", n, "err", err)
				s.gns.Send(s.ctx, s.gns.Pid(), nodeEv{Node: n, Up: false})
				return
			}
			s.gns.SendName(s.ctx, ServerName, n, etf.Tuple{aGenCast, etf.Tuple{aInSync, s.me, etf.True}})
		}()
	}
}

// metricPartitionCuts counts the connections this node closed because a
// peer asked it to (remove_connection) to prevent overlapping partitions.
const metricPartitionCuts = "distribute.registry.partition_disconnects"

// countPartitionCut adds one to distribute.registry.partition_disconnects
// (looked up each time: cuts are rare).
func (s *Server) countPartitionCut() {
	c, err := s.node.Meter("github.com/distribute-go/distribute/registry").Int64Counter(metricPartitionCuts,
		metric.WithUnit("{disconnect}"), metric.WithDescription("Connections closed to prevent overlapping partitions (a peer's remove_connection)."))
	if err == nil {
		c.Add(context.Background(), 1)
	}
}

// ---- reads of the core for the API and the locker ----

// knownAtoms returns the known nodes, sorted.
func (s *Server) knownAtoms() []distribute.Atom {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.knownAtoms()
}

// canSetLock is can_set_lock, a local check only.
func (s *Server) canSetLock(id etf.Tuple) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.canSetLock(id)
}

// globalLockSet reports whether any {global, _} lock is held here.
func (s *Server) globalLockSet() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.globalLockSet()
}
