package election

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/fanout"
	"github.com/distribute-go/distribute/membership"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// State is a node's Raft state.
type State uint8

// States (explicit values: they appear in logs, JSON and the CLI).
const (
	Follower  State = 1
	Candidate State = 2
	Leader    State = 3
	Shutdown  State = 4
)

func (s State) String() string {
	switch s {
	case Follower:
		return "follower"
	case Candidate:
		return "candidate"
	case Leader:
		return "leader"
	case Shutdown:
		return "shutdown"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText makes a State print as its name in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func stateOf(s raft.RaftState) State {
	switch s {
	case raft.Follower:
		return Follower
	case raft.Candidate:
		return Candidate
	case raft.Leader:
		return Leader
	}
	return Shutdown
}

// Status is one stable reading of a node's Raft state: the term is read
// before and after the state and leader; Stable is false when it moved in
// between (then State and Leader may belong to either term: read again).
type Status struct {
	Node   distribute.Atom `json:"node"`
	State  State           `json:"state"`
	Term   uint64          `json:"term"`
	Leader distribute.Atom `json:"leader"` // "" when no leader is known
	Stable bool            `json:"stable"`
}

// Change is a new (leader, term) as this node sees it. Leader "" means no
// leader is known (an election is going on, or this node is cut off).
type Change struct {
	Leader distribute.Atom
	Term   uint64
}

// StatusName is the name under which each election registers a process
// answering the gen_server call raft_status with {raft_status, HasState,
// Term, Cluster, LogCluster, LastIndex} (Cluster: the identity it
// applied; LogCluster: the one its log holds, applied or not):
// bootstrapping nodes ask their peers with it, so that a node never
// bootstraps when a reachable peer has Raft state, and the leader asks a
// newcomer without a cluster identity before it adds it (it adds one with
// no state, this cluster's identity in its log, or only a term).
const StatusName distribute.Atom = "distribute_election"

var atomRaftStatus = etf.Atom("raft_status")

// Election is a running Raft member. Create it with Start, end it with
// Stop. Its methods are safe for concurrent use.
type Election struct {
	cfg    Config
	node   *distribute.Node
	name   distribute.Atom
	logger *slog.Logger

	raft     *raft.Raft
	trans    *transport
	store    *raftboltdb.BoltStore
	fsm      *fsm
	observer *raft.Observer
	status   *distribute.Process
	hadState bool
	wake     chan struct{} // wakes the manager: the identity was set, or the leader changed

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex // protects cur, closed, foreign, conflicted; held to publish to fan
	cur        Change
	fan        *fanout.Fanout[Change] // Watch's subscribers
	closed     bool
	foreign    map[distribute.Atom]foreignMember // members seen in another Raft cluster
	conflicted bool                              // the conflict in foreign was logged

	goneSince   map[distribute.Atom]time.Time // manager goroutine only
	proposedAt  time.Time                     // manager only: when this node last proposed an identity
	published   string                        // manager only: the identity last put in the meta
	publishedOK bool                          // manager only: published is in the meta

	// leaderChanges counts the (leader, term) changes this node saw
	// (distribute.election.leader_changes), by whether it is the leader.
	leaderChanges metric.Int64Counter

	stopOnce sync.Once
	stopErr  error
}

// Start starts Raft on node: it opens (or creates) the durable state in
// cfg.DataDir, registers the Raft process (RaftName) and the status
// process (StatusName), marks this member as running the election in the
// membership meta, and from then on bootstraps (see the package doc for
// the rules) and, when leader, keeps the voter set in line with
// membership. It opens no port: Raft travels over the distribution. It
// returns without waiting for a leader: use Watch or Leader.
func Start(ctx context.Context, node *distribute.Node, cfg Config) (*Election, error) {
	if node == nil {
		return nil, fmt.Errorf("%w: node is nil", ErrConfig)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Election{
		cfg:       cfg,
		node:      node,
		name:      node.Name(),
		logger:    cfg.Logger.With("component", "election"),
		fan:       fanout.New[Change](0),
		foreign:   make(map[distribute.Atom]foreignMember),
		goneSince: make(map[distribute.Atom]time.Time),
		wake:      make(chan struct{}, 1),
	}
	e.leaderChanges, _ = node.Meter(meterName).Int64Counter("distribute.election.leader_changes",
		metric.WithUnit("{change}"),
		metric.WithDescription("Leader changes this node saw (a new leader or a new term), by whether the new leader is this node."))
	if err := e.open(ctx); err != nil {
		e.closeAll()
		return nil, err
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.wg.Add(1)
	go e.run()
	return e, nil
}

// meterName is the election's OpenTelemetry meter.
const meterName = "github.com/distribute-go/distribute/election"

// open sets up the stores, the transport, Raft and the status process. A
// data dir from a version whose Raft had a TCP port holds the file
// raft-port: it is left alone, and the rest is read as before.
func (e *Election) open(ctx context.Context) error {
	cfg := e.cfg
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("election: data dir: %w", err)
	}
	hl := newHCLog(cfg.Logger)
	var err error
	e.store, err = raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(cfg.DataDir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: time.Second},
	})
	if err != nil {
		return fmt.Errorf("election: open %s: %w", filepath.Join(cfg.DataDir, "raft.db"), err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, hl.Named("snapshots"))
	if err != nil {
		return fmt.Errorf("election: snapshots: %w", err)
	}
	if e.hadState, err = raft.HasExistingState(e.store, e.store, snaps); err != nil {
		return fmt.Errorf("election: read state: %w", err)
	}
	if e.fsm, err = newFSM(cfg.DataDir, e.hadState, e.identitySet); err != nil {
		return err
	}
	hooks := transportHooks{cluster: e.fsm.identity, foreign: e.foreignSeen}
	e.trans, err = newTransport(e.node, e.logger, cfg.Timing.IOTimeout, hooks, e.node.Meter(meterName))
	if err != nil {
		return err
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(e.name)
	rc.HeartbeatTimeout = cfg.Timing.HeartbeatTimeout
	rc.ElectionTimeout = cfg.Timing.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.Timing.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.Timing.CommitTimeout
	rc.Logger = hl
	// A removed server stays up, so the leader can add it back.
	rc.ShutdownOnRemove = false
	if e.raft, err = raft.NewRaft(rc, e.fsm, e.store, e.store, snaps, e.trans); err != nil {
		return fmt.Errorf("election: %w", err)
	}
	r := e.raft
	e.trans.setRaft(r.CurrentTerm, func() distribute.Atom { _, id := r.LeaderWithID(); return distribute.Atom(id) })
	e.observer = raft.NewObserver(make(chan raft.Observation), false, e.observe)
	e.raft.RegisterObserver(e.observer)
	if e.status, err = e.node.SpawnHandler(e.handleStatus); err != nil {
		return fmt.Errorf("election: %w", err)
	}
	if err := e.node.Register(StatusName, e.status.Pid()); err != nil {
		return fmt.Errorf("election: register %s: %w", StatusName, err)
	}
	e.publishIdentity(ctx)
	e.logger.Info("raft started", "existing_state", e.hadState, "cluster", e.fsm.identity(), "expect", cfg.Expect, "timing", cfg.Timing.String())
	return nil
}

// identitySet runs in Raft's FSM goroutine when the cluster identity is
// set: the manager publishes it in the membership meta.
func (e *Election) identitySet(string) { e.poke() }

// poke wakes the manager.
func (e *Election) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// publishIdentity puts this node's cluster identity in its membership
// meta (with the election flag) when it changed. It waits for the
// broadcast for at most Timing.Check (memberlist's wait cannot be
// cancelled, and the manager must stay responsive, Stop included); the
// update spreads anyway.
func (e *Election) publishIdentity(ctx context.Context) {
	id := e.fsm.identity()
	if e.publishedOK && id == e.published {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, e.cfg.Timing.Check)
	defer cancel()
	err := e.cfg.Membership.SetElection(sctx, id)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		e.logger.Warn("cannot set the election in the membership meta", "error", err)
		return
	}
	e.published, e.publishedOK = id, true
}

// foreignSeen is the transport's report of a Raft message from a member of
// another Raft cluster.
func (e *Election) foreignSeen(node distribute.Atom, cluster string) {
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.foreign[node] = foreignMember{cluster: cluster, seen: now.UnixNano()}
	e.reportConflictLocked(e.fsm.identity(), now)
}

// Conflict returns a *ConflictError (wrapping ErrConflict) while members
// of another Raft cluster are in sight: election nodes that bootstrapped
// a cluster of their own before they could reach this one (membership
// meta carries each member's cluster identity; Raft messages carry the
// sender's). Meanwhile IsLeader fails on both sides, neither side's
// leader takes the other's members in, and each refuses the other's Raft
// messages. It returns nil otherwise. Readiness checks should fail while
// it is not nil (the CLI's /readyz does).
func (e *Election) Conflict() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := conflictOf(e.fsm.identity(), e.foreign, time.Now(), e.conflictHold()); c != nil {
		return c
	}
	return nil
}

// observe runs in Raft's goroutine on every observation, before Raft
// moves on: a leader change is published with the term it belongs to.
func (e *Election) observe(o *raft.Observation) bool {
	if lo, ok := o.Data.(raft.LeaderObservation); ok {
		e.mu.Lock()
		e.publishLocked(Change{Leader: distribute.Atom(lo.LeaderID), Term: o.Raft.CurrentTerm()})
		e.mu.Unlock()
		e.poke() // a new leader chooses the cluster identity at once
	}
	return false
}

// poll reads Raft's (leader, term) and publishes it when it moved.
func (e *Election) poll() Change {
	e.mu.Lock()
	defer e.mu.Unlock()
	for range 3 {
		t1 := e.raft.CurrentTerm()
		_, id := e.raft.LeaderWithID()
		// Raft clears the leader before it raises the term (setState, in
		// its main loop: the heartbeat fast path, which did not, is never
		// used), so a leader read between two equal terms is that term's,
		// and (self, t1) is a real leadership; checking the state as well
		// costs nothing and does not lean on that order.
		selfNotLeader := raft.ServerID(e.name) == id && e.raft.State() != raft.Leader
		if e.raft.CurrentTerm() == t1 && !selfNotLeader {
			e.publishLocked(Change{Leader: distribute.Atom(id), Term: t1})
			break
		}
	}
	return e.cur
}

// publishLocked records c and queues it for every subscriber, unless it
// is the current value or an older term.
func (e *Election) publishLocked(c Change) {
	if c == e.cur || c.Term < e.cur.Term {
		return
	}
	e.cur = c
	if c.Leader != "" && e.leaderChanges != nil {
		e.leaderChanges.Add(context.Background(), 1, metric.WithAttributes(attribute.Bool("self", c.Leader == e.name)))
	}
	e.fan.Publish(c)
}

// Node returns this node's name (its Raft server ID).
func (e *Election) Node() distribute.Atom { return e.name }

// Cluster returns the identity of the Raft cluster this node belongs
// to: 32 hex digits chosen by the cluster's first leader and replicated
// in its log, "" until this node knows it.
func (e *Election) Cluster() string { return e.fsm.identity() }

// Leader returns the leader this node knows and its term. ok is false
// when no leader is known. The term is the fencing token: a leader's
// writes to a shared resource carry it, and the resource rejects a token
// lower than one it has seen (see IsLeader and the package example).
func (e *Election) Leader() (leader distribute.Atom, term uint64, ok bool) {
	c := e.poll()
	return c.Leader, c.Term, c.Leader != ""
}

// Status reads this node's state with a stable read (term, state and
// leader, term again; Stable false when the term moved).
func (e *Election) Status() Status {
	t1 := e.raft.CurrentTerm()
	st := e.raft.State()
	_, id := e.raft.LeaderWithID()
	t2 := e.raft.CurrentTerm()
	return Status{Node: e.name, State: stateOf(st), Term: t2, Leader: distribute.Atom(id), Stable: t1 == t2}
}

// Watch returns a channel of (leader, term) changes as this node sees
// them: the current value first, then every change, in order. A node
// that becomes leader sees a Change naming itself with its term. The
// channel is closed when ctx ends or the election stops. Watch never
// blocks the election: changes queue for a slow reader, and a reader
// 4096 changes behind is cut off (it receives what is queued, then its
// channel is closed; Watch again to go on).
func (e *Election) Watch(ctx context.Context) <-chan Change {
	e.poll()
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fan.Subscribe(ctx, []Change{e.cur}, nil)
}

// IsLeader reports whether this node is the leader, confirmed with a
// quorum (Raft's VerifyLeader), and returns its term: the fencing token to
// attach to the writes it makes as leader. It returns an error wrapping
// ErrNotLeader when this node is not the leader, lost leadership, or its
// term moved during the check, and also ErrConflict while another Raft
// cluster is in sight (see Conflict); ctx's error when ctx ends first;
// ErrClosed after Stop.
func (e *Election) IsLeader(ctx context.Context) (term uint64, err error) {
	if e.isClosed() {
		return 0, ErrClosed
	}
	if err := e.Conflict(); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNotLeader, err)
	}
	t1 := e.raft.CurrentTerm()
	if e.raft.State() != raft.Leader {
		return 0, ErrNotLeader
	}
	if err := e.wait(ctx, e.raft.VerifyLeader()); err != nil {
		if errors.Is(err, ErrClosed) || ctx.Err() != nil {
			return 0, err
		}
		return 0, fmt.Errorf("%w: %w", ErrNotLeader, err)
	}
	if e.raft.CurrentTerm() != t1 || e.raft.State() != raft.Leader {
		return 0, ErrNotLeader
	}
	if err := e.Conflict(); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNotLeader, err)
	}
	return t1, nil
}

// Resign hands leadership to another voter (Raft's leadership transfer:
// an alive voter, caught up first) and returns when the transfer is done.
// ErrNotLeader when this node is not the leader.
func (e *Election) Resign(ctx context.Context) error {
	if e.isClosed() {
		return ErrClosed
	}
	if e.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	if err := e.wait(ctx, e.transfer()); err != nil {
		return fmt.Errorf("election: resign: %w", err)
	}
	return nil
}

// transfer starts a leadership transfer to an alive voter (by membership;
// raft's own choice, the most up-to-date voter, may be one that is down),
// or to raft's choice when membership knows no other alive voter.
func (e *Election) transfer() raft.Future {
	if f := e.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			n := distribute.Atom(s.ID)
			if s.Suffrage != raft.Voter || n == e.name || !e.node.IsConnected(n) {
				continue
			}
			if m, ok := e.cfg.Membership.Member(n); ok && m.State == membership.StateAlive {
				return e.raft.LeadershipTransferToServer(s.ID, s.Address)
			}
		}
	}
	return e.raft.LeadershipTransfer()
}

func (e *Election) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// wait waits for f or ctx; the goroutine reading f is the election's (Raft
// answers every future, at the latest when it shuts down).
func (e *Election) wait(ctx context.Context, f raft.Future) error {
	errc := make(chan error, 1)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		errc <- f.Error()
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop stops the election gracefully: a leader first hands leadership to
// another voter (bounded by ctx), then Raft shuts down, the transport and
// the stores close, and every goroutine the election started has ended.
// The node keeps its voter seat (it is expected back); only the leader
// removes voters, after RemoveGrace. Stop is idempotent.
func (e *Election) Stop(ctx context.Context) error { return e.stop(ctx, true) }

func (e *Election) stop(ctx context.Context, transfer bool) error {
	e.stopOnce.Do(func() {
		if transfer && e.raft.State() == raft.Leader {
			if err := e.wait(ctx, e.transfer()); err != nil {
				e.logger.Warn("leadership transfer at stop failed", "error", err)
			} else {
				e.logger.Info("leadership transferred at stop")
			}
		}
		e.mu.Lock()
		e.closed = true
		e.mu.Unlock()
		e.cancel()
		e.fan.Close()
		// The manager and every wait end while Raft still runs: a running
		// Raft answers every future (within its timeouts, or when it loses
		// leadership), while an entry committed but not yet applied when
		// Raft shuts down is never answered.
		e.wg.Wait()
		e.stopErr = e.closeAll()
		if e.store != nil {
			if err := e.store.Close(); err != nil && e.stopErr == nil {
				e.stopErr = err
			}
		}
	})
	return e.stopErr
}

// closeAll shuts Raft down and closes what open set up, except the store
// (closed after every goroutine ended). Used by Stop and by a failed
// Start (which closes the store too).
func (e *Election) closeAll() error {
	var errs []error
	if e.status != nil {
		e.node.Unregister(StatusName)
		e.status.Exit(etf.Atom("shutdown"))
	}
	if e.trans != nil {
		// First: the RPCs under way fail at once, so Raft's goroutines
		// end without waiting for their timeouts (Raft's Shutdown closes
		// the transport again, a no-op).
		errs = append(errs, e.trans.Close())
	}
	if e.raft != nil {
		if e.observer != nil {
			e.raft.DeregisterObserver(e.observer)
		}
		errs = append(errs, e.raft.Shutdown().Error())
	}
	if e.ctx == nil && e.store != nil { // failed Start
		errs = append(errs, e.store.Close())
	}
	return errors.Join(errs...)
}

// hasState reports whether this node has Raft state: it had some at
// start, or got some since (bootstrap, entries from a leader, a vote).
func (e *Election) hasState() bool {
	return e.hadState || e.raft.LastIndex() > 0 || e.raft.CurrentTerm() > 0
}

// handleStatus answers the raft_status call of bootstrapping peers and of
// a leader about to add this node.
func (e *Election) handleStatus(ctx context.Context, p *distribute.Process, msg any) error {
	from, req, ok := distribute.ParseCall(msg)
	if !ok || req != atomRaftStatus {
		return nil
	}
	id := e.fsm.identity()
	logID := id
	if logID == "" {
		logID = e.logIdentity()
	}
	reply := etf.Tuple{atomRaftStatus, etf.Bool(e.hasState()), int64(e.raft.CurrentTerm()), etf.Binary(id),
		etf.Binary(logID), int64(e.raft.LastIndex())}
	p.Reply(ctx, from, reply)
	return nil
}

// maxIdentityScan bounds how many log entries logIdentity reads: the
// identity is among a cluster's first entries.
const maxIdentityScan = 4096

// logIdentity returns the cluster identity an entry of this node's log
// holds, applied or not ("" if none among the first maxIdentityScan): a
// node that received a leader's log but was never added to its
// configuration has applied nothing, and its log says whose it is.
func (e *Election) logIdentity() string {
	first, err := e.store.FirstIndex()
	if err != nil {
		return ""
	}
	last, err := e.store.LastIndex()
	if err != nil || first == 0 {
		return ""
	}
	var l raft.Log
	for i := first; i <= last && i < first+maxIdentityScan; i++ {
		if e.store.GetLog(i, &l) != nil {
			return ""
		}
		if id, ok := identityOf(&l); ok {
			return id
		}
	}
	return ""
}

// peerStatus is a peer's answer to raft_status.
type peerStatus struct {
	// has: the peer has Raft state (a log, a snapshot or a term).
	has bool
	// term is its current term; lastIndex its last log index
	// (math.MaxUint64 from a peer that does not say).
	term, lastIndex uint64
	// logCluster is the cluster identity its log holds, applied or not
	// ("" from a peer that does not say). The identity it applied, also
	// in the answer, is in its membership meta already (Member.Cluster).
	logCluster string
}

// askStatus asks node's election about its Raft state. Like the
// transport, it never sets up a connection.
func (e *Election) askStatus(ctx context.Context, node distribute.Atom) (peerStatus, error) {
	p, err := e.node.NewProcess()
	if err != nil {
		return peerStatus{}, err
	}
	defer p.Exit(etf.Atom("normal"))
	p.AutoConnect(false)
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timing.ConnectTimeout)
	defer cancel()
	r, err := p.CallName(ctx, StatusName, node, atomRaftStatus)
	if err != nil {
		return peerStatus{}, err
	}
	t, ok := r.(etf.Tuple)
	if !ok || len(t) < 3 || len(t) > 6 || t[0] != atomRaftStatus {
		return peerStatus{}, fmt.Errorf("election: %s answered raft_status with %s", node, etf.FormatLimit(r, etf.LogTextMax))
	}
	st := peerStatus{has: t[1] == etf.True, lastIndex: math.MaxUint64}
	if term, ok := t[2].(int64); ok && term >= 0 {
		st.term = uint64(term)
	}
	if len(t) > 5 {
		st.logCluster = binaryText(t[4])
		if last, ok := t[5].(int64); ok && last >= 0 {
			st.lastIndex = uint64(last)
		}
	}
	return st, nil
}

// binaryText is the text of a binary term, "" for anything else.
func binaryText(t etf.Term) string {
	b, _ := t.(etf.Binary)
	return string(b)
}
