package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
	"go.opentelemetry.io/otel/metric"
)

// Pid, Atom, Ref and Term are the root package's types.
type (
	Pid  = distribute.Pid
	Atom = distribute.Atom
	Ref  = distribute.Ref
	Term = distribute.Term
)

// Protocol constants (global.erl, OTP 25–27).
const (
	// ProtocolVersion is the global protocol version this package speaks.
	ProtocolVersion = 8
	// ServerName is the registered name of the global name server.
	ServerName Atom = "global_name_server"
	// globalResource is the resource id of the cluster lock (?GLOBAL_RID).
	globalResource Atom = "global"
)

// Atoms of the protocol.
const (
	aInitConnect    Atom = "init_connect"
	aInitConnectAck Atom = "init_connect_ack"
	aCancelConnect  Atom = "cancel_connect"
	aLocker         Atom = "locker"
	aNoLongerAPid   Atom = "no_longer_a_pid"
	aLockSet        Atom = "lock_set"
	aExchange       Atom = "exchange"
	aResolved       Atom = "resolved"
	aNewNodes       Atom = "new_nodes"
	aInSync         Atom = "in_sync"
	aLostConnection Atom = "lost_connection"
	aRemoveConn     Atom = "remove_connection"
	aSetLock        Atom = "set_lock"
	aDelLock        Atom = "del_lock"
	aRegister       Atom = "register"
	aUnregister     Atom = "unregister"
	aInsert         Atom = "insert"
	aDelete         Atom = "delete"
	aUnused         Atom = "unused"
	aVsn            Atom = "vsn"
	aLock           Atom = "lock"
	aYes            Atom = "yes"
	aNo             Atom = "no"
	aGetKnown       Atom = "get_known"
	aGetSynced      Atom = "get_synced"
	aGetProtoVsn    Atom = "get_protocol_version"
	aGenCast        Atom = "$gen_cast"
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

// Option configures Start.
type Option func(*options)

type options struct {
	logger   *slog.Logger
	resolver Resolver
	pop      bool
	noSleep  bool
}

// WithLogger sets the logger for protocol oddities; nil discards.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithResolver sets the conflict resolver used for names whose method is
// Erlang's default (random_exit_name, as a local fun of module global or
// the export fun global:random_exit_name/3) when the conflict must be
// decided on this node. Nil keeps RandomExitName.
func WithResolver(r Resolver) Option { return func(o *options) { o.resolver = r } }

// WithPreventOverlappingPartitions switches Erlang's
// prevent_overlapping_partitions (default on, as in OTP 25) on or off.
func WithPreventOverlappingPartitions(on bool) Option {
	return func(o *options) { o.pop = on }
}

// entry is one registered name.
type entry struct {
	name   Term
	pid    Pid
	method Term
	ref    Ref // this server's monitor of pid
}

// lock is one held lock resource.
type lock struct {
	resource Term
	reqID    Term
	holders  []holder
}

type holder struct {
	pid Pid
	ref Ref
}

// monUse says what a monitor of the server is for.
type monUse struct {
	name     string // name key, when it watches a name's pid
	resource string // lock key, when it watches a lock holder
	isName   bool
}

// attempt is the state of one connect with a peer (the gns's per-node
// process-dictionary keys in global.erl).
type attempt struct {
	myTag      Term
	hisTag     Term
	hisVsn     int
	hisLocker  Pid
	pending    bool // his init_connect was handled
	lockSet    bool
	lockID     Term
	hisNames   []entry
	gotExch    bool
	resolving  bool
	ops        etf.List
	opsReady   bool
	hisResolv  etf.List
	hisKnown   []Atom
	gotResolve bool
	cancel     context.CancelFunc // stops the resolver
}

// lostRec is a lost_connection record for duplicate suppression.
type lostRec struct {
	xcre Term
	opID Term
}

// Server is a running global name server: the process registered as
// global_name_server on its node, speaking Erlang's global protocol with
// every visible node. Start one per node; all methods are safe for
// concurrent use.
type Server struct {
	node      *distribute.Node
	me        Atom
	gns       *distribute.Process
	lockerP   *distribute.Process
	registrar *distribute.Process
	plain     *distribute.Process // sends the noconnect messages (AutoConnect off)
	regMu     sync.Mutex          // serializes the registrar's transactions
	logger    *slog.Logger
	resolver  Resolver
	pop       bool
	locker    *locker

	mu        sync.Mutex // protects the fields below
	names     map[string]*entry
	locks     map[string]*lock
	mons      map[Ref]monUse
	known     map[Atom]int
	synced    map[Atom]bool
	attempts  map[Atom]*attempt
	pre       map[Atom]etf.Tuple
	removing  map[Atom]bool
	lost      map[[2]Atom]lostRec
	lockDown  bool
	changed   chan struct{}
	stopped   bool
	resolvers int // conflicts decided by a resolver here

	tagSeq int64
	xcre   int64
	opID   int64

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
		node        Atom
		tag, lockID Term
	}
	exchangeOps struct {
		node          Atom
		tag           Term
		ops, resolved etf.List
	}
)

// Start starts the global name server on node, registered as
// global_name_server. The node should be Visible: global only sees visible
// nodes. Stop ends it.
func Start(ctx context.Context, node *distribute.Node, opts ...Option) (*Server, error) {
	o := options{pop: true}
	for _, f := range opts {
		f(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.resolver == nil {
		o.resolver = RandomExitName
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
	s := &Server{
		node:      node,
		me:        node.Name(),
		gns:       procs[0],
		lockerP:   procs[1],
		registrar: procs[2],
		plain:     procs[3],
		logger:    o.logger,
		resolver:  o.resolver,
		pop:       o.pop,
		names:     make(map[string]*entry),
		locks:     make(map[string]*lock),
		mons:      make(map[Ref]monUse),
		known:     make(map[Atom]int),
		synced:    make(map[Atom]bool),
		attempts:  make(map[Atom]*attempt),
		pre:       make(map[Atom]etf.Tuple),
		removing:  make(map[Atom]bool),
		lost:      make(map[[2]Atom]lostRec),
		changed:   make(chan struct{}),
		xcre:      int64(rand.Uint64()>>1)&^0xffffffff + int64(node.Creation()),
		opID:      -576460752303423488,
		tagSeq:    -576460752303423488,
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
func (s *Server) Pid() Pid { return s.gns.Pid() }

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

func (s *Server) shutdown() {
	s.cancel()
	s.mu.Lock()
	s.stopped = true
	for _, a := range s.attempts {
		if a.cancel != nil {
			a.cancel()
		}
	}
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

// handle dispatches one message of the gns mailbox. Junk is logged and
// dropped: it never stops the server.
func (s *Server) handle(m any) {
	switch v := m.(type) {
	case nodeEv:
		if v.Up {
			if v.Visible {
				s.nodeUp(v.Node)
			}
		} else {
			s.nodeDown(v.Node)
		}
		return
	case distribute.Down:
		s.down(v)
		return
	case lockIsSet:
		s.lockIsSet(v)
		return
	case exchangeOps:
		s.exchangeOps(v)
		return
	}
	if from, req, ok := distribute.ParseCall(m); ok {
		s.handleCall(from, req)
		return
	}
	if req, ok := distribute.ParseCast(m); ok {
		if err := s.handleCast(req); err != nil {
			s.logger.Debug("registry: dropped cast", "msg", etf.LogValue(req), "err", err)
		}
		return
	}
	if err := s.handleInfo(m); err != nil {
		s.logger.Debug("registry: dropped message", "msg", etf.LogValue(m), "err", err)
	}
}

func bad(what string) error { return fmt.Errorf("%w: %s", ErrBadMessage, what) }

// sendPlain sends msg plainly to the gns of node, never dialing
// (noconnect: s.plain has AutoConnect off).
func (s *Server) sendPlain(node Atom, msg Term) {
	if err := s.plain.SendName(s.ctx, ServerName, node, msg); err != nil {
		s.logger.Debug("registry: send", "node", node, "err", err)
	}
}

func (s *Server) cast(node Atom, msg Term) { s.sendPlain(node, etf.Tuple{aGenCast, msg}) }

// nextTag returns a fresh session tag (a rising integer, like
// erlang:unique_integer([monotonic])).
func (s *Server) nextTag() int64 {
	s.tagSeq++
	return s.tagSeq
}

// ---- calls ----

func (s *Server) handleCall(from distribute.From, req Term) {
	reply := func(r Term) {
		if err := s.gns.Reply(s.ctx, from, r); err != nil {
			s.logger.Debug("registry: reply", "to", from.Pid, "err", err)
		}
	}
	switch r := req.(type) {
	case Atom:
		switch r {
		case aGetKnown:
			reply(atomList(s.knownAtoms()))
			return
		case aGetSynced:
			s.mu.Lock()
			l := make([]Atom, 0, len(s.synced))
			for n := range s.synced {
				l = append(l, n)
			}
			s.mu.Unlock()
			slices.Sort(l)
			reply(atomList(l))
			return
		case aGetProtoVsn:
			reply(int64(ProtocolVersion))
			return
		}
	case etf.Tuple:
		if len(r) == 0 {
			break
		}
		switch r[0] {
		case aSetLock:
			if id, ok := lockID(r); ok {
				reply(etf.Bool(s.setLock(id, from.Pid)))
				return
			}
		case aDelLock:
			if id, ok := lockID(r); ok {
				s.delLock(id, from.Pid)
				reply(etf.True)
				return
			}
		case aRegister:
			if len(r) == 4 {
				if pid, ok := r[2].(Pid); ok {
					s.insertName(r[1], pid, r[3], from.Pid, nil)
					reply(aYes)
					return
				}
			}
		case aGoResolveIt:
			if s.goResolveIt(from, r) {
				return
			}
		case aUnregister:
			if len(r) == 2 {
				s.deleteName(r[1])
				reply(etf.OK)
				return
			}
		}
	}
	// Erlang's gns logs unknown calls and never answers them.
	s.logger.Debug("registry: unknown call", "from", from.Pid, "req", etf.LogValue(req))
}

func lockID(r etf.Tuple) (etf.Tuple, bool) {
	if len(r) != 2 {
		return nil, false
	}
	id, ok := r[1].(etf.Tuple)
	return id, ok && len(id) == 2
}

func atomList(l []Atom) etf.List {
	out := make(etf.List, len(l))
	for i, a := range l {
		out[i] = a
	}
	return out
}

// ---- names and locks (the ETS tables) ----

// keyOf is the table key of a term: a tag byte, then the atom's text, the
// binary's bytes or the term's external encoding.
func keyOf(t Term) string { return string(appendKey(nil, t)) }

func appendKey(dst []byte, t Term) []byte {
	switch v := t.(type) {
	case Atom:
		return append(append(dst, 'a'), v...)
	case etf.Binary:
		return append(append(dst, 'b'), v...)
	}
	b, err := etf.Append(append(dst, 't'), t)
	if err != nil {
		return append(append(dst, 'x'), fmt.Sprintf("%#v", t)...)
	}
	return b
}

// monitor makes the gns monitor pid (any node; like erlang:monitor/2 it
// connects to the pid's node) and records what for. It runs on the gns
// goroutine with mu not held: a Down can only be handled after it.
func (s *Server) monitor(pid Pid, use monUse) Ref {
	var ref Ref
	var err error
	if s.mayConnect(pid.Node) {
		ctx, cancel := context.WithTimeout(s.ctx, monitorTimeout)
		ref, err = s.gns.Monitor(ctx, pid)
		cancel()
	} else {
		// A node outside the cluster (junk, or a node already gone): no
		// dial from the server's goroutine; the monitor fails at once.
		ref = s.node.MakeRef()
		s.gns.Send(s.ctx, s.gns.Pid(), distribute.Down{Ref: ref, Pid: pid, Reason: distribute.ReasonNoConnection})
	}
	if err != nil {
		ref = s.node.MakeRef()
		s.gns.Send(s.ctx, s.gns.Pid(), distribute.Down{Ref: ref, Pid: pid, Reason: distribute.ReasonNoProc})
	}
	s.mu.Lock()
	s.mons[ref] = use
	s.mu.Unlock()
	return ref
}

// mayConnect reports whether a monitor may connect to node: this node,
// connected nodes and the nodes of the cluster (known or connecting).
func (s *Server) mayConnect(node Atom) bool {
	if node == s.me || s.node.IsConnected(node) {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.known[node] != 0 || s.attempts[node] != nil
}

// maxLost bounds the lost_connection records kept for duplicate
// suppression.
const maxLost = 4096

// monitorTimeout bounds the connection a monitor may have to make.
const monitorTimeout = 10 * time.Second

func (s *Server) demonitor(ref Ref) {
	delete(s.mons, ref)
	s.gns.Demonitor(s.ctx, ref)
}

// insertName is ins_name + insert_global_name: from is the registering
// pid (register) or the connecting node (ops of exchange/new_nodes), with
// extra the ExtraInfo list.
func (s *Server) insertName(name Term, pid Pid, method Term, from Term, extra Term) {
	k := keyOf(name)
	ref := s.monitor(pid, monUse{name: k, isName: true})
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.names[k]; old != nil {
		s.demonitor(old.ref)
		delete(s.names, k)
	}
	e := &entry{name: name, pid: pid, method: method, ref: ref}
	s.names[k] = e
	if !s.lockStillSetLocked(from, extra) {
		s.demonitor(e.ref)
		delete(s.names, k)
	}
	s.notifyLocked()
}

func (s *Server) lockStillSetLocked(from Term, extra Term) bool {
	l := s.locks[keyOf(globalResource)]
	if l == nil {
		return !s.lockDown
	}
	switch f := from.(type) {
	case Pid:
		for _, h := range l.holders {
			if h.pid == f {
				return true
			}
		}
		return false
	case Atom:
		id := extraInfo(aLock, extra)
		t, ok := id.(etf.Tuple)
		return ok && len(t) == 2 && t[0] == globalResource && etf.Equal(t[1], l.reqID)
	}
	return false
}

func extraInfo(tag Atom, extra Term) Term {
	l, ok := extra.(etf.List)
	if !ok {
		return nil
	}
	for _, e := range l {
		if t, ok := e.(etf.Tuple); ok && len(t) == 2 && t[0] == tag {
			return t[1]
		}
	}
	return nil
}

func (s *Server) deleteName(name Term) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleteNameLocked(keyOf(name))
}

func (s *Server) deleteNameLocked(k string) {
	if e := s.names[k]; e != nil {
		s.demonitor(e.ref)
		delete(s.names, k)
		s.notifyLocked()
	}
}

// setLock is handle_set_lock for {ResourceId, LockReqId} and owner pid.
func (s *Server) setLock(id etf.Tuple, pid Pid) bool {
	k := keyOf(id[0])
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.locks[k]
	if l == nil {
		l = &lock{resource: id[0], reqID: id[1]}
	} else if !etf.Equal(l.reqID, id[1]) {
		return false
	}
	for _, h := range l.holders {
		if h.pid == pid {
			return true
		}
	}
	s.locks[k] = l
	s.mu.Unlock()
	ref := s.monitor(pid, monUse{resource: k})
	s.mu.Lock()
	l.holders = append(l.holders, holder{pid: pid, ref: ref})
	s.notifyLocked()
	return true
}

// canSetLock is can_set_lock, a local check only.
func (s *Server) canSetLock(id etf.Tuple) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.locks[keyOf(id[0])]
	return l == nil || etf.Equal(l.reqID, id[1])
}

// globalLockSet reports whether any {global, _} lock is held here.
func (s *Server) globalLockSet() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.locks[keyOf(globalResource)] != nil
}

func (s *Server) delLock(id etf.Tuple, pid Pid) {
	k := keyOf(id[0])
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.locks[k]
	if l == nil || !etf.Equal(l.reqID, id[1]) {
		return
	}
	s.removeHolderLocked(k, l, pid, false)
}

func (s *Server) removeHolderLocked(k string, l *lock, pid Pid, down bool) {
	for i, h := range l.holders {
		if h.pid == pid {
			s.demonitor(h.ref)
			l.holders = slices.Delete(l.holders, i, i+1)
			break
		}
	}
	if len(l.holders) == 0 {
		delete(s.locks, k)
		if k == keyOf(globalResource) {
			s.lockDown = down
		}
	}
	s.notifyLocked()
}

// down handles a monitor's Down: a name's pid or a lock holder is gone.
func (s *Server) down(d distribute.Down) {
	s.mu.Lock()
	defer s.mu.Unlock()
	use, ok := s.mons[d.Ref]
	if !ok {
		return
	}
	delete(s.mons, d.Ref)
	if use.isName {
		if e := s.names[use.name]; e != nil && e.ref == d.Ref {
			delete(s.names, use.name)
			s.notifyLocked()
		}
		return
	}
	if l := s.locks[use.resource]; l != nil {
		for i, h := range l.holders {
			if h.ref == d.Ref {
				l.holders = slices.Delete(l.holders, i, i+1)
				if len(l.holders) == 0 {
					delete(s.locks, use.resource)
					if use.resource == keyOf(globalResource) {
						s.lockDown = true
					}
				}
				s.notifyLocked()
				return
			}
		}
	}
}

// dropNodeLocked removes names and locks of pids on node (what the
// noconnection Downs of the node do).
func (s *Server) dropNodeLocked(node Atom) {
	for k, e := range s.names {
		if e.pid.Node == node {
			s.demonitor(e.ref)
			delete(s.names, k)
		}
	}
	for k, l := range s.locks {
		for _, h := range slices.Clone(l.holders) {
			if h.pid.Node == node {
				s.removeHolderLocked(k, l, h.pid, true)
			}
		}
	}
	s.notifyLocked()
}

// namesList returns all names as [{Name, Pid, Method}].
func (s *Server) namesList() etf.List {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(etf.List, 0, len(s.names))
	for _, e := range s.names {
		out = append(out, etf.Tuple{e.name, e.pid, e.method})
	}
	return out
}

// knownAtoms returns the known nodes, sorted.
func (s *Server) knownAtoms() []Atom {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.knownAtomsLocked()
}

func (s *Server) knownAtomsLocked() []Atom {
	l := make([]Atom, 0, len(s.known))
	for n := range s.known {
		l = append(l, n)
	}
	slices.Sort(l)
	return l
}

// ---- the connect protocol ----

func (s *Server) nodeUp(n Atom) {
	s.mu.Lock()
	if s.known[n] != 0 || s.attempts[n] != nil || n == s.me {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.startAttempt(n)
}

// startAttempt creates my tag, casts init_connect and replays a stashed
// init_connect of the peer.
func (s *Server) startAttempt(n Atom) {
	s.mu.Lock()
	tag := s.nextTag()
	a := &attempt{myTag: tag}
	s.attempts[n] = a
	pre, hasPre := s.pre[n]
	delete(s.pre, n)
	s.mu.Unlock()
	s.cast(n, etf.Tuple{aInitConnect, etf.Tuple{int64(ProtocolVersion), tag}, s.me,
		etf.Tuple{aLocker, aNoLongerAPid, etf.Map{}, s.lockerP.Pid()}})
	if hasPre {
		s.initConnect(pre)
	}
}

// cancelAttempt is cancel_locker + reset_node_state.
func (s *Server) cancelAttempt(n Atom, sendCancel bool) {
	s.mu.Lock()
	a := s.attempts[n]
	delete(s.attempts, n)
	s.mu.Unlock()
	if a == nil {
		return
	}
	if a.cancel != nil {
		a.cancel()
	}
	s.locker.post(lkCancel{node: n, tag: a.myTag})
	if sendCancel && a.pending && a.hisVsn >= 8 {
		s.sendPlain(n, etf.Tuple{aCancelConnect, s.me, a.hisTag})
	}
}

func (s *Server) restartAttempt(n Atom) {
	s.cancelAttempt(n, false)
	if s.node.IsConnected(n) {
		s.startAttempt(n)
	}
}

// initConnect handles {init_connect, {Vsn, HisTag}, Node, InitMsg}.
func (s *Server) initConnect(t etf.Tuple) error {
	if len(t) != 4 {
		return bad("init_connect arity")
	}
	vt, ok := t[1].(etf.Tuple)
	if !ok || len(vt) < 2 {
		return bad("init_connect version")
	}
	vsn, ok := vt[0].(int64)
	if !ok || vsn < 5 {
		return bad("init_connect version")
	}
	n, ok := t[2].(Atom)
	if !ok || n == s.me || n == "" {
		return bad("init_connect node")
	}
	im, ok := t[3].(etf.Tuple)
	if !ok || len(im) != 4 || im[0] != aLocker {
		return bad("init_connect locker")
	}
	hisLocker, ok := im[3].(Pid)
	if !ok || hisLocker.Node != n {
		return bad("init_connect locker pid")
	}
	hisTag := vt[1]
	s.mu.Lock()
	a := s.attempts[n]
	if a == nil {
		if s.node.IsConnected(n) {
			s.pre[n] = t // replayed on its nodeup; junk from strangers is not kept
		}
		s.mu.Unlock()
		return nil
	}
	if a.pending {
		s.mu.Unlock()
		if vsn >= 8 {
			s.sendPlain(n, etf.Tuple{aCancelConnect, s.me, hisTag})
			s.restartAttempt(n)
		} else {
			s.node.Disconnect(n)
		}
		return nil
	}
	a.pending = true
	a.hisTag = hisTag
	a.hisVsn = int(min(vsn, ProtocolVersion))
	a.hisLocker = hisLocker
	myTag := a.myTag
	s.mu.Unlock()
	s.locker.post(lkHis{h: him{node: n, locker: hisLocker, vsn: int(min(vsn, ProtocolVersion)), myTag: myTag, hisTag: hisTag}})
	if vsn >= 8 {
		s.sendPlain(n, etf.Tuple{aInitConnectAck, s.me, hisTag, myTag})
	}
	return nil
}

func (s *Server) lockIsSet(v lockIsSet) {
	s.mu.Lock()
	a := s.attempts[v.node]
	if a == nil || !etf.Equal(a.myTag, v.tag) {
		s.mu.Unlock()
		return
	}
	a.lockSet = true
	a.lockID = v.lockID
	hisTag := a.hisTag
	s.mu.Unlock()
	s.cast(v.node, etf.Tuple{aExchange, s.me, s.namesList(), etf.List{}, hisTag})
	s.maybeResolve(v.node)
}

func (s *Server) maybeResolve(n Atom) {
	s.mu.Lock()
	a := s.attempts[n]
	if a == nil || !a.lockSet || !a.gotExch || a.resolving {
		s.mu.Unlock()
		return
	}
	a.resolving = true
	ctx, cancel := context.WithCancel(s.ctx)
	a.cancel = cancel
	his := a.hisNames
	tag := a.myTag
	mine := make(map[string]entry, len(s.names))
	for k, e := range s.names {
		mine[k] = *e
	}
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		ops, resolved := s.exchangeNames(ctx, n, his, mine)
		if ctx.Err() == nil {
			s.gns.Send(ctx, s.gns.Pid(), exchangeOps{node: n, tag: tag, ops: ops, resolved: resolved})
		}
	}()
}

func (s *Server) exchangeOps(v exchangeOps) {
	s.mu.Lock()
	a := s.attempts[v.node]
	if a == nil || !etf.Equal(a.myTag, v.tag) {
		s.mu.Unlock()
		return
	}
	a.ops = v.ops
	a.opsReady = true
	hisTag := a.hisTag
	myKnown := etf.List{}
	for _, k := range s.knownAtomsLocked() {
		if k != v.node {
			myKnown = append(myKnown, etf.Tuple{k, int64(s.known[k])})
		}
	}
	s.mu.Unlock()
	s.cast(v.node, etf.Tuple{aResolved, s.me, v.resolved, myKnown, aUnused, etf.List{}, hisTag})
	s.maybeFinish(v.node)
}

// maybeFinish is resolved/5 of global.erl, run when both my ops and the
// peer's resolved list are in.
func (s *Server) maybeFinish(n Atom) {
	s.mu.Lock()
	a := s.attempts[n]
	if a == nil || !a.opsReady || !a.gotResolve {
		s.mu.Unlock()
		return
	}
	delete(s.attempts, n)
	oldKnown := s.knownAtomsLocked()
	ops := append(slices.Clone(a.ops), a.hisResolv...)
	vsn := a.hisVsn
	newNodes := etf.List{etf.Tuple{n, int64(vsn)}}
	for _, k := range a.hisKnown {
		newNodes = append(newNodes, etf.Tuple{k, int64(ProtocolVersion)})
	}
	extra := etf.List{etf.Tuple{aVsn, int64(vsn)}, etf.Tuple{aLock, a.lockID}}
	s.mu.Unlock()

	// Known first: the inserted pids' nodes are then ones a monitor may
	// connect to.
	s.mu.Lock()
	s.known[n] = max(vsn, 1)
	for _, k := range a.hisKnown {
		if k != s.me && s.known[k] == 0 {
			s.known[k] = ProtocolVersion
		}
	}
	s.mu.Unlock()
	s.syncOthers(a.hisKnown)
	s.doOps(ops, n, extra)
	// As cancel_resolved_locker: {pending, K} is dropped first, so no
	// cancel_connect goes to the nodes we were just introduced to (OTP 27
	// restarts its connect on one, and the name ops of this merge can be
	// lost on that node).
	for _, k := range a.hisKnown {
		s.cancelAttempt(k, false)
	}
	msg := etf.Tuple{aGenCast, etf.Tuple{aNewNodes, s.me, ops, etf.List{}, newNodes, extra}}
	s.locker.post(lkCancel{node: n, tag: a.myTag, fn: func(context.Context) {
		for _, k := range oldKnown {
			s.sendPlain(k, msg)
		}
	}})
	s.mu.Lock()
	s.synced[n] = true
	s.notifyLocked()
	s.mu.Unlock()
}

// doOps applies [{insert, {Name, Pid, Method}} | {delete, Name}].
func (s *Server) doOps(ops etf.List, from Atom, extra Term) {
	for _, o := range ops {
		t, ok := o.(etf.Tuple)
		if !ok || len(t) != 2 {
			continue
		}
		switch t[0] {
		case aInsert:
			if e, ok := t[1].(etf.Tuple); ok && len(e) == 3 {
				if pid, ok := e[1].(Pid); ok {
					s.insertName(e[0], pid, e[2], from, extra)
				}
			}
		case aDelete:
			s.deleteName(t[1])
		}
	}
}

// syncOthers is sync_others: connect to each node and cast in_sync to it.
func (s *Server) syncOthers(nodes []Atom) {
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

// parseNodes reads a known list: [{Node, Vsn}] or [Node].
func parseNodes(t Term) ([]Atom, bool) {
	l, ok := t.(etf.List)
	if !ok {
		return nil, false
	}
	out := make([]Atom, 0, len(l))
	for _, e := range l {
		switch v := e.(type) {
		case Atom:
			out = append(out, v)
		case etf.Tuple:
			if len(v) != 2 {
				return nil, false
			}
			a, ok := v[0].(Atom)
			if !ok {
				return nil, false
			}
			out = append(out, a)
		default:
			return nil, false
		}
	}
	return out, true
}

func parseNames(t Term) ([]entry, bool) {
	l, ok := t.(etf.List)
	if !ok {
		return nil, false
	}
	out := make([]entry, 0, len(l))
	for _, e := range l {
		tu, ok := e.(etf.Tuple)
		if !ok || len(tu) != 3 {
			return nil, false
		}
		pid, ok := tu[1].(Pid)
		if !ok {
			return nil, false
		}
		out = append(out, entry{name: tu[0], pid: pid, method: tu[2]})
	}
	return out, true
}

func validOps(t Term) (etf.List, bool) {
	l, ok := t.(etf.List)
	if !ok {
		return nil, false
	}
	for _, o := range l {
		tu, ok := o.(etf.Tuple)
		if !ok || len(tu) != 2 {
			return nil, false
		}
		switch tu[0] {
		case aInsert:
			e, ok := tu[1].(etf.Tuple)
			if !ok || len(e) != 3 {
				return nil, false
			}
			if _, ok := e[1].(Pid); !ok {
				return nil, false
			}
		case aDelete:
		default:
			return nil, false
		}
	}
	return l, true
}

func (s *Server) handleCast(req Term) error {
	t, ok := req.(etf.Tuple)
	if !ok || len(t) == 0 {
		return bad("cast is not a tuple")
	}
	switch t[0] {
	case aInitConnect:
		return s.initConnect(t)
	case aLockSet:
		// {lock_set, LockerPid, IsSet, Known, HisTag} (vsn 8) or 4-tuple.
		if len(t) != 5 && len(t) != 4 {
			return bad("lock_set arity")
		}
		lp, ok := t[1].(Pid)
		if !ok {
			return bad("lock_set pid")
		}
		isSet, ok := t[2].(Atom)
		if !ok || (isSet != etf.True && isSet != etf.False) {
			return bad("lock_set flag")
		}
		var tag Term
		if len(t) == 5 {
			tag = t[4]
			s.mu.Lock()
			a := s.attempts[lp.Node]
			match := a != nil && etf.Equal(a.myTag, tag)
			s.mu.Unlock()
			if !match {
				return nil
			}
		}
		s.locker.post(lkLockSet{from: lp, isSet: isSet == etf.True, tag: tag})
		return nil
	case aExchange:
		if len(t) != 5 {
			return bad("exchange arity")
		}
		n, ok := t[1].(Atom)
		if !ok {
			return bad("exchange node")
		}
		names, ok := parseNames(t[2])
		if !ok {
			return bad("exchange names")
		}
		s.mu.Lock()
		a := s.attempts[n]
		if a == nil || !etf.Equal(a.myTag, t[4]) || a.gotExch {
			s.mu.Unlock()
			return nil
		}
		a.hisNames = names
		a.gotExch = true
		s.mu.Unlock()
		s.maybeResolve(n)
		return nil
	case aResolved:
		if len(t) != 7 {
			return bad("resolved arity")
		}
		n, ok := t[1].(Atom)
		if !ok {
			return bad("resolved node")
		}
		ops, ok := validOps(t[2])
		if !ok {
			return bad("resolved ops")
		}
		hisKnown, ok := parseNodes(t[3])
		if !ok {
			return bad("resolved known")
		}
		s.mu.Lock()
		a := s.attempts[n]
		if a == nil || !etf.Equal(a.myTag, t[6]) || a.gotResolve {
			s.mu.Unlock()
			return nil
		}
		a.hisResolv = ops
		a.hisKnown = hisKnown
		a.gotResolve = true
		s.mu.Unlock()
		s.maybeFinish(n)
		return nil
	case aNewNodes:
		if len(t) != 6 {
			return bad("new_nodes arity")
		}
		from, ok := t[1].(Atom)
		if !ok {
			return bad("new_nodes node")
		}
		ops, ok := validOps(t[2])
		if !ok {
			return bad("new_nodes ops")
		}
		nodes, ok := parseNodes(t[4])
		if !ok {
			return bad("new_nodes nodes")
		}
		s.mu.Lock()
		if s.known[from] == 0 && s.attempts[from] == nil {
			s.mu.Unlock()
			return bad("new_nodes from a node outside the cluster")
		}
		var added []Atom
		for _, n := range nodes {
			if n != s.me && s.known[n] == 0 && !slices.Contains(added, n) {
				added = append(added, n)
			}
		}
		for _, n := range added {
			s.known[n] = ProtocolVersion
		}
		s.notifyLocked()
		s.mu.Unlock()
		s.syncOthers(added)
		s.doOps(ops, from, t[5])
		return nil
	case aInSync:
		if len(t) != 3 {
			return bad("in_sync arity")
		}
		n, ok := t[1].(Atom)
		if !ok || n == s.me || !s.node.IsConnected(n) {
			return bad("in_sync node")
		}
		// As OTP 25+'s in_sync: {pending, N} is dropped before the
		// locker is canceled, so no cancel_connect goes to N. One would
		// make an OTP 27 node restart its connect with us, drop the names
		// of our node it just learnt through new_nodes, and send an
		// init_connect we ignore (it knows us already): the names stay
		// lost there.
		s.cancelAttempt(n, false)
		s.mu.Lock()
		s.synced[n] = true
		s.notifyLocked()
		s.mu.Unlock()
		return nil
	}
	return bad("unknown cast")
}

func (s *Server) handleInfo(m any) error {
	t, ok := m.(etf.Tuple)
	if !ok || len(t) == 0 {
		return bad("not a tuple")
	}
	switch t[0] {
	case aInitConnectAck:
		if len(t) != 4 {
			return bad("init_connect_ack arity")
		}
		n, ok := t[1].(Atom)
		if !ok {
			return bad("init_connect_ack node")
		}
		s.mu.Lock()
		a := s.attempts[n]
		if a == nil || !etf.Equal(a.myTag, t[2]) {
			s.mu.Unlock()
			return nil // an old ack
		}
		ok = a.pending && etf.Equal(a.hisTag, t[3])
		s.mu.Unlock()
		if !ok {
			s.sendPlain(n, etf.Tuple{aCancelConnect, s.me, t[3]})
			s.restartAttempt(n)
		}
		return nil
	case aCancelConnect:
		if len(t) != 3 {
			return bad("cancel_connect arity")
		}
		n, ok := t[1].(Atom)
		if !ok {
			return bad("cancel_connect node")
		}
		s.mu.Lock()
		a := s.attempts[n]
		match := a != nil && etf.Equal(a.myTag, t[2])
		s.mu.Unlock()
		if match {
			s.restartAttempt(n)
		}
		return nil
	case aLostConnection:
		return s.lostConnection(t)
	case aRemoveConn:
		if len(t) != 2 {
			return bad("remove_connection arity")
		}
		r, ok := t[1].(Atom)
		if !ok {
			return bad("remove_connection node")
		}
		s.mu.Lock()
		_, pend := s.attempts[r]
		isKnown := s.known[r] != 0 || (pend && s.attempts[r].pending)
		s.mu.Unlock()
		if !isKnown || !s.pop {
			return nil
		}
		s.nodeGone(r, true)
		if s.node.Disconnect(r) {
			s.logger.Warn("registry: disconnecting to prevent overlapping partitions", "node", r)
			s.countPartitionCut()
		}
		return nil
	}
	return bad("unknown message")
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

// nodeGone is handle_nodedown: forget the node; removing marks a
// disconnect we asked for.
func (s *Server) nodeGone(n Atom, removing bool) {
	s.cancelAttempt(n, true)
	s.locker.post(lkForget{node: n})
	s.mu.Lock()
	delete(s.known, n)
	delete(s.synced, n)
	if removing {
		s.removing[n] = true
	}
	s.notifyLocked()
	s.mu.Unlock()
}

func (s *Server) nodeDown(n Atom) {
	s.mu.Lock()
	wasRemoving := s.removing[n]
	delete(s.removing, n)
	delete(s.pre, n)
	s.dropNodeLocked(n)
	s.mu.Unlock()
	if !wasRemoving && s.pop {
		s.mu.Lock()
		s.opID++
		msg := etf.Tuple{aLostConnection, s.me, s.xcre, s.opID, n}
		targets := s.popTargetsLocked(n)
		s.mu.Unlock()
		for _, k := range targets {
			s.sendPlain(k, msg)
		}
	}
	s.nodeGone(n, false)
}

// popTargetsLocked are the known and pending nodes, except skip.
func (s *Server) popTargetsLocked(skip Atom) []Atom {
	var out []Atom
	for k, v := range s.known {
		if k != skip && v >= 7 {
			out = append(out, k)
		}
	}
	for k, a := range s.attempts {
		if k != skip && a.pending && a.hisVsn >= 7 && s.known[k] == 0 {
			out = append(out, k)
		}
	}
	return out
}

func (s *Server) lostConnection(t etf.Tuple) error {
	if len(t) != 5 {
		return bad("lost_connection arity")
	}
	a, ok1 := t[1].(Atom)
	b, ok2 := t[4].(Atom)
	if !ok1 || !ok2 {
		return bad("lost_connection nodes")
	}
	if !s.pop {
		return nil
	}
	xcre, opID := t[2], t[3]
	key := [2]Atom{a, b}
	s.mu.Lock()
	if r, ok := s.lost[key]; ok && etf.Equal(r.xcre, xcre) && etf.Compare(r.opID, opID) >= 0 {
		s.mu.Unlock()
		return nil
	}
	if len(s.lost) >= maxLost {
		clear(s.lost) // Erlang forgets them after an hour; junk must not grow it
	}
	s.lost[key] = lostRec{xcre: xcre, opID: opID}
	targets := s.popTargetsLocked(a)
	rm := b
	if b == s.me {
		rm = a
	}
	at := s.attempts[rm]
	isKnown := s.known[rm] != 0 || (at != nil && at.pending)
	s.mu.Unlock()
	for _, k := range targets {
		s.sendPlain(k, t)
	}
	if isKnown && rm != s.me {
		s.logger.Warn("registry: requested disconnect to prevent overlapping partitions", "node", rm)
		s.sendPlain(rm, etf.Tuple{aRemoveConn, s.me})
		s.nodeGone(rm, true)
	}
	return nil
}
