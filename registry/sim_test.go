package registry

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
)

// sim runs cores as a cluster without I/O: one FIFO wire per ordered pair
// of connected nodes, a mailbox of local events per node (node events,
// DOWNs, the locker's and the resolver's answers), a locker that takes
// each connect's lock at once on both sides, and a resolver that runs
// mergeNames with a given decision. A random scheduler picks the next
// delivery, so messages of different senders interleave in every order
// while each wire stays in order.
type sim struct {
	r     *rand.Rand
	nodes map[distribute.Atom]*simNode
	order []distribute.Atom
	conn  map[[2]distribute.Atom]bool
	wire  map[[2]distribute.Atom][]distribute.Term // (from, to) → messages in flight
	// upFirst counts the nodeups of from that to has not handled: as
	// OTP guarantees, nothing from a new connection comes before its
	// nodeup (nor before the nodedown of the one before).
	upFirst map[[2]distribute.Atom]int
	// failed holds the connects whose lock could not be taken, until the
	// next delivery changes something (the real locker retries later).
	failed map[[2]distribute.Atom]bool
	dead   map[distribute.Pid]bool
	decide func(his, mine entry) (distribute.Pid, bool)
	err    error                // the first broken rule
	trace  func(string, ...any) // if set, follows every delivery
}

type simNode struct {
	name  distribute.Atom
	c     *core
	tr    *monTracker
	local []any
	lk    simLocker
}

// Local events of a node's gns.
type (
	simUp      struct{ node distribute.Atom }
	simDown    struct{ node distribute.Atom }
	simMonDown struct{ id monID }
	simCall    struct {
		from distribute.Pid
		req  distribute.Term
	}
	simLockIsSt struct {
		node    distribute.Atom
		tag, id distribute.Term
	}
	simOps struct {
		node          distribute.Atom
		tag           distribute.Term
		ops, resolved etf.List
	}
)

// simLocker is a node's locker: the peers it may lock with, and the lock
// it holds for one connect. Events for other peers wait while it holds
// one, as the real locker's backlog.
type simLocker struct {
	pending map[distribute.Atom]him
	session *simSession
	backlog []any
}

type simSession struct {
	peer  distribute.Atom
	id    etf.Tuple
	nodes []distribute.Atom
}

func lockerPidOf(n distribute.Atom) distribute.Pid    { return distribute.Pid{Node: n, ID: 2} }
func registrarPidOf(n distribute.Atom) distribute.Pid { return distribute.Pid{Node: n, ID: 3} }

func newSim(seed uint64, names ...distribute.Atom) *sim {
	s := &sim{
		r:       rand.New(rand.NewPCG(seed, 23)),
		nodes:   make(map[distribute.Atom]*simNode),
		conn:    make(map[[2]distribute.Atom]bool),
		wire:    make(map[[2]distribute.Atom][]distribute.Term),
		upFirst: make(map[[2]distribute.Atom]int),
		failed:  make(map[[2]distribute.Atom]bool),
		dead:    make(map[distribute.Pid]bool),
	}
	for _, n := range names {
		sn := &simNode{name: n, tr: newMonTracker(), lk: simLocker{pending: make(map[distribute.Atom]him)}}
		sn.tr.dead = s.dead
		sn.c = newCore(n, lockerPidOf(n), true, int64(len(s.order)+1), func(m distribute.Atom) bool { return s.connected(n, m) })
		s.nodes[n] = sn
		s.order = append(s.order, n)
	}
	s.decide = func(his, mine entry) (distribute.Pid, bool) { return his.pid, true }
	return s
}

func pair(a, b distribute.Atom) [2]distribute.Atom {
	if a > b {
		a, b = b, a
	}
	return [2]distribute.Atom{a, b}
}

func (s *sim) connected(a, b distribute.Atom) bool { return a == b || s.conn[pair(a, b)] }

func (s *sim) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf(format, args...)
	}
}

// connect sets up the connection a–b: both sides get a nodeup.
func (s *sim) connect(a, b distribute.Atom) {
	if a == b || s.connected(a, b) || s.nodes[a] == nil || s.nodes[b] == nil {
		return
	}
	if s.trace != nil {
		s.trace("   connection %s-%s up", a, b)
	}
	s.conn[pair(a, b)] = true
	s.upFirst[[2]distribute.Atom{a, b}]++
	s.upFirst[[2]distribute.Atom{b, a}]++
	s.nodes[a].local = append(s.nodes[a].local, simUp{b})
	s.nodes[b].local = append(s.nodes[b].local, simUp{a})
}

// disconnect loses the connection a–b: what is in flight is lost, both
// sides get a nodedown and the DOWNs of their monitors of the other's
// pids.
func (s *sim) disconnect(a, b distribute.Atom) {
	if !s.conn[pair(a, b)] {
		return
	}
	delete(s.conn, pair(a, b))
	delete(s.wire, [2]distribute.Atom{a, b})
	delete(s.wire, [2]distribute.Atom{b, a})
	for _, x := range [][2]distribute.Atom{{a, b}, {b, a}} {
		sn := s.nodes[x[0]]
		var ids []monID
		for id, p := range sn.tr.active {
			if p.Node == x[1] {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		// The nodedown comes before or after the DOWNs (never before an
		// earlier event).
		before := s.r.IntN(2) == 0
		if before {
			sn.local = append(sn.local, simDown{x[1]})
		}
		for _, id := range ids {
			sn.local = append(sn.local, simMonDown{id})
		}
		if !before {
			sn.local = append(sn.local, simDown{x[1]})
		}
	}
}

// kill ends pid: every monitor of it fires.
func (s *sim) kill(p distribute.Pid) {
	s.dead[p] = true
	for _, n := range s.order {
		sn := s.nodes[n]
		var ids []monID
		for id, q := range sn.tr.active {
			if q == p {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		for _, id := range ids {
			sn.local = append(sn.local, simMonDown{id})
		}
	}
}

// call makes a gen_server call to the core of node from pid from.
func (s *sim) call(node distribute.Atom, from distribute.Pid, req distribute.Term) distribute.Term {
	sn := s.nodes[node]
	reply, ok := sn.c.call(from, req)
	if !ok {
		s.fail("%s: call %s not answered", node, etf.Format(req))
	}
	s.perform(sn, sn.c.takeEffects())
	return reply
}

// perform does a core's effects the way the server does.
func (s *sim) perform(sn *simNode, effs []effect) {
	for _, e := range effs {
		switch e := e.(type) {
		case sendEff:
			s.send(sn.name, e.node, e.msg)
		case monitorEff:
			if _, dup := sn.tr.active[e.id]; dup {
				s.fail("%s: monitor id %d reused", sn.name, e.id)
			}
			sn.tr.active[e.id] = e.pid
			switch n := e.pid.Node; {
			case s.dead[e.pid]:
				sn.local = append(sn.local, simMonDown{e.id})
			case s.connected(sn.name, n):
			case e.inCluster && s.nodes[n] != nil:
				s.connect(sn.name, n) // a monitor connects, as erlang:monitor/2
			default:
				sn.local = append(sn.local, simMonDown{e.id})
			}
		case demonitorEff:
			if _, ok := sn.tr.active[e.id]; !ok {
				s.fail("%s: demonitor of unknown monitor %d", sn.name, e.id)
			}
			delete(sn.tr.active, e.id)
		case lockerEff:
			s.lockerEvent(sn, e.ev)
		case syncEff:
			for _, n := range e.nodes {
				if n == sn.name {
					continue
				}
				if s.nodes[n] == nil {
					sn.local = append(sn.local, simDown{n})
					continue
				}
				s.connect(sn.name, n)
				s.send(sn.name, n, etf.Tuple{aGenCast, etf.Tuple{aInSync, sn.name, etf.True}})
			}
		case resolveEff:
			ops, resolved := mergeNames(sn.name, e.node, e.his, e.mine, s.decide)
			sn.local = append(sn.local, simOps{node: e.node, tag: e.tag, ops: ops, resolved: resolved})
		case stopResolveEff:
			// A stale answer stays queued: the core drops it by its tag.
		case disconnectEff:
			s.disconnect(sn.name, e.node)
		case warnEff:
		default:
			s.fail("%s: unknown effect %v", sn.name, e)
		}
	}
}

func (s *sim) send(from, to distribute.Atom, msg distribute.Term) {
	if from == to {
		s.nodes[from].local = append(s.nodes[from].local, msg)
		return
	}
	if !s.connected(from, to) {
		return // noconnect
	}
	k := [2]distribute.Atom{from, to}
	s.wire[k] = append(s.wire[k], msg)
}

// lockerEvent is the locker's handling of a gns event.
func (s *sim) lockerEvent(sn *simNode, ev any) {
	lk := &sn.lk
	if ss := lk.session; ss != nil {
		switch e := ev.(type) {
		case lkCancel:
			if e.node == ss.peer {
				delete(lk.pending, e.node)
				s.sendAll(sn, e.then)
				s.endSession(sn)
				return
			}
		case lkForget:
			if e.node == ss.peer {
				delete(lk.pending, e.node)
				s.endSession(sn)
				return
			}
		case lkLockSet:
			return // the sim's lockers agree without lock_set
		}
		lk.backlog = append(lk.backlog, ev)
		return
	}
	switch e := ev.(type) {
	case lkHis:
		lk.pending[e.h.node] = e.h
	case lkCancel:
		if h, ok := lk.pending[e.node]; ok && (e.tag == nil || etf.Equal(h.myTag, e.tag)) {
			delete(lk.pending, e.node)
		}
		s.sendAll(sn, e.then)
	case lkForget:
		delete(lk.pending, e.node)
	}
}

func (s *sim) sendAll(sn *simNode, msgs []sendEff) {
	for _, m := range msgs {
		s.send(sn.name, m.node, m.msg)
	}
}

// endSession releases the session's lock (the boss last) and replays the
// backlog.
func (s *sim) endSession(sn *simNode) {
	ss := sn.lk.session
	sn.lk.session = nil
	// Over the wire: after what the locker sent before (new_nodes).
	for _, n := range ss.nodes {
		s.send(sn.name, n, simCall{from: lockerPidOf(sn.name), req: etf.Tuple{aDelLock, ss.id}})
	}
	backlog := sn.lk.backlog
	sn.lk.backlog = nil
	for _, ev := range backlog {
		s.lockerEvent(sn, ev)
	}
}

// lockNodes takes id for owner (a process of node) on nodes (those
// connected to node), all or none.
func (s *sim) lockNodes(node distribute.Atom, owner distribute.Pid, id etf.Tuple, nodes []distribute.Atom) ([]distribute.Atom, bool) {
	var got []distribute.Atom
	for _, n := range nodes {
		if !s.connected(node, n) {
			continue
		}
		if s.call(n, owner, etf.Tuple{aSetLock, id}) != etf.True {
			for _, g := range got {
				s.call(g, owner, etf.Tuple{aDelLock, id})
			}
			return nil, false
		}
		got = append(got, n)
	}
	return got, true
}

// lockPairs lists the connects whose lock can be tried: both lockers idle
// and each waiting for the other.
func (s *sim) lockPairs() [][2]distribute.Atom {
	var out [][2]distribute.Atom
	for _, a := range s.order {
		x := s.nodes[a]
		if x.lk.session != nil || x.c.globalLockSet() {
			continue
		}
		for b := range x.lk.pending {
			y := s.nodes[b]
			if a > b || y == nil || y.lk.session != nil || !s.connected(a, b) {
				continue
			}
			if _, ok := y.lk.pending[a]; ok && x.c.known[b] == 0 && !s.failed[[2]distribute.Atom{a, b}] {
				out = append(out, [2]distribute.Atom{a, b})
			}
		}
	}
	slices.SortFunc(out, func(p, q [2]distribute.Atom) int { return cmp.Or(cmp.Compare(p[0], q[0]), cmp.Compare(p[1], q[1])) })
	return out
}

// tryLock takes the lock of the connect a–b on both sides, as the two
// lockers do: the chooser on boss, itself, the peer and its known nodes;
// the other on boss, itself and its known nodes.
func (s *sim) tryLock(a, b distribute.Atom) {
	x, y := s.nodes[a], s.nodes[b]
	ha, hb := x.lk.pending[b], y.lk.pending[a]
	la, lb := lockerPidOf(a), lockerPidOf(b)
	if etf.Compare(la, lb) > 0 {
		la, lb = lb, la
	}
	id := etf.Tuple{globalResource, etf.List{la, lb}}
	nodesA, ok := s.lockNodes(a, lockerPidOf(a), id, append([]distribute.Atom{a, b}, x.c.knownAtoms()...))
	if !ok {
		s.failed[[2]distribute.Atom{a, b}] = true
		return
	}
	nodesB, ok := s.lockNodes(b, lockerPidOf(b), id, append([]distribute.Atom{b}, y.c.knownAtoms()...))
	if !ok {
		for _, n := range nodesA {
			s.call(n, lockerPidOf(a), etf.Tuple{aDelLock, id})
		}
		s.failed[[2]distribute.Atom{a, b}] = true
		return
	}
	x.lk.session = &simSession{peer: b, id: id, nodes: nodesA}
	y.lk.session = &simSession{peer: a, id: id, nodes: nodesB}
	x.local = append(x.local, simLockIsSt{node: b, tag: ha.myTag, id: id})
	y.local = append(y.local, simLockIsSt{node: a, tag: hb.myTag, id: id})
}

// deliver hands one local event or message to node's core.
func (s *sim) deliver(sn *simNode, ev any) {
	clear(s.failed)
	if s.trace != nil {
		s.trace("%s <- %s", sn.name, fmtEv(ev))
	}
	c := sn.c
	switch v := ev.(type) {
	case simUp:
		s.upFirst[[2]distribute.Atom{sn.name, v.node}]--
		c.nodeUp(v.node)
	case simCall:
		c.call(v.from, v.req)
	case simDown:
		c.nodeDown(v.node)
	case simMonDown:
		if _, ok := sn.tr.active[v.id]; ok {
			delete(sn.tr.active, v.id)
			c.down(v.id)
		}
	case simLockIsSt:
		c.lockIsSet(v.node, v.tag, v.id)
	case simOps:
		c.exchangeOps(v.node, v.tag, v.ops, v.resolved)
	default:
		if req, ok := distribute.ParseCast(v); ok {
			c.handleCast(req)
		} else {
			c.handleInfo(v)
		}
	}
	s.perform(sn, c.takeEffects())
	if err := checkCore(c); err != nil {
		s.fail("%s after %v: %v", sn.name, ev, err)
	}
	if err := sn.tr.agrees(c); err != nil {
		s.fail("%s after %v: %v", sn.name, ev, err)
	}
}

// step does one random runnable thing; it reports false when nothing is
// left to do.
func (s *sim) step() bool {
	type action struct {
		kind int // 0 wire, 1 local, 2 lock
		k    [2]distribute.Atom
	}
	var acts []action
	for _, n := range s.order {
		for _, m := range s.order {
			if len(s.wire[[2]distribute.Atom{n, m}]) > 0 && s.upFirst[[2]distribute.Atom{m, n}] == 0 {
				acts = append(acts, action{0, [2]distribute.Atom{n, m}})
			}
		}
		if len(s.nodes[n].local) > 0 {
			acts = append(acts, action{1, [2]distribute.Atom{n}})
		}
	}
	for _, p := range s.lockPairs() {
		acts = append(acts, action{2, p})
	}
	if len(acts) == 0 {
		return false
	}
	a := acts[s.r.IntN(len(acts))]
	switch a.kind {
	case 0:
		q := s.wire[a.k]
		m := q[0]
		s.wire[a.k] = q[1:]
		s.deliver(s.nodes[a.k[1]], m)
	case 1:
		sn := s.nodes[a.k[0]]
		ev := sn.local[0]
		sn.local = sn.local[1:]
		s.deliver(sn, ev)
	case 2:
		s.tryLock(a.k[0], a.k[1])
	}
	return true
}

// run steps until nothing is left, or fails after max steps.
func (s *sim) run(max int) error {
	for i := 0; s.err == nil; i++ {
		if i == max {
			return fmt.Errorf("no quiescence after %d steps", max)
		}
		if !s.step() {
			break
		}
	}
	return s.err
}

// settled checks that every node of group knows and is in sync with every
// other, with no connect in progress and no lock held, and that all agree
// on every name; it returns the common table.
func (s *sim) settled(group []distribute.Atom) (map[string]distribute.Pid, error) {
	var table map[string]distribute.Pid
	for _, n := range group {
		sn := s.nodes[n]
		c := sn.c
		others := slices.DeleteFunc(slices.Clone(group), func(a distribute.Atom) bool { return a == n })
		slices.Sort(others)
		if got := c.knownAtoms(); !slices.Equal(got, others) {
			return nil, fmt.Errorf("%s knows %v, want %v", n, got, others)
		}
		for _, o := range others {
			if !c.synced[o] {
				return nil, fmt.Errorf("%s not in sync with %s", n, o)
			}
		}
		if len(c.attempts) != 0 {
			return nil, fmt.Errorf("%s still connecting: %v", n, c.attempts)
		}
		if len(c.locks) != 0 || sn.lk.session != nil || len(sn.lk.pending) != 0 {
			return nil, fmt.Errorf("%s: locks %d, session %v, pending %v", n, len(c.locks), sn.lk.session, sn.lk.pending)
		}
		t := make(map[string]distribute.Pid, len(c.names))
		for k, e := range c.names {
			t[k] = e.pid
		}
		if table == nil {
			table = t
		} else if fmt.Sprint(t) != fmt.Sprint(table) {
			return nil, fmt.Errorf("%s has %v, %s has %v", n, t, group[0], table)
		}
	}
	return table, nil
}

// register is the registrar's transaction at node x, done at once: take
// {global, Registrar} on x and its known nodes, register name (unless it
// or pid is taken) on each, release. A busy lock gives up.
func (s *sim) register(x distribute.Atom, name distribute.Term, pid distribute.Pid, unregister bool) {
	reg := registrarPidOf(x)
	id := etf.Tuple{globalResource, reg}
	got, ok := s.lockNodes(x, reg, id, append([]distribute.Atom{x}, s.nodes[x].c.knownAtoms()...))
	if !ok {
		return
	}
	c := s.nodes[x].c
	_, taken := c.lookup(name)
	taken = taken || !unregister && c.hasName(pid)
	for _, n := range got {
		switch {
		case unregister && taken:
			s.call(n, reg, etf.Tuple{aUnregister, name})
		case !unregister && !taken:
			s.call(n, reg, etf.Tuple{aRegister, name, pid, DefaultMethod})
		}
	}
	for _, n := range got {
		s.call(n, reg, etf.Tuple{aDelLock, id})
	}
}

// heal connects every pair and runs until nothing is left, again while
// prevent_overlapping_partitions cut some connection.
func (s *sim) heal(maxSteps int) error {
	for range 20 {
		for _, a := range s.order {
			for _, b := range s.order {
				s.connect(a, b)
			}
		}
		if err := s.run(maxSteps); err != nil {
			return err
		}
		all := true
		for _, a := range s.order {
			for _, b := range s.order {
				all = all && s.connected(a, b)
			}
		}
		if all {
			return nil
		}
	}
	return fmt.Errorf("connections keep being cut")
}

func fmtEv(ev any) string {
	switch v := ev.(type) {
	case etf.Tuple, etf.List, distribute.Atom:
		return etf.Format(v)
	}
	return fmt.Sprintf("%T%+v", ev, ev)
}
