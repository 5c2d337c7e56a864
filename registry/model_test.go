package registry

import (
	"github.com/distribute-go/distribute"

	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/distribute-go/distribute/etf"
)

// The conflict resolution of a merge checked against a dumb model: for
// random name tables on a lower node A and a higher node B, running
// mergeNames on both sides and applying Ops ++ the peer's Resolved leaves
// both tables equal to what the model says, name by name.

type outcome int

const (
	keepHis  outcome = 1
	keepMine outcome = 2
	keepNone outcome = 3
	rpcFails outcome = 4
)

// decision is a fixed pseudo-random choice per name, so the model and the
// run see the same one.
func decision(seed uint64, name distribute.Term) outcome {
	h := seed
	for _, c := range keyOf(name) {
		h = h*31 + uint64(c)
	}
	return outcome(1 + h%4)
}

func randomTable(r *rand.Rand, node distribute.Atom, pids []distribute.Pid) map[string]entry {
	t := map[string]entry{}
	for i := range 8 {
		if r.IntN(2) == 0 {
			continue
		}
		name := distribute.Term(distribute.Atom(fmt.Sprintf("n%d", i)))
		if i%3 == 0 {
			name = etf.Binary(fmt.Sprintf("b%d", i))
		}
		t[keyOf(name)] = entry{name: name, pid: pids[r.IntN(len(pids))], method: DefaultMethod}
	}
	return t
}

// mergeModel is the names two partitions agree on after they merge, as
// the model says: mine's names, then his, a name on both with different
// pids settled by decision (the lower node's resolver).
func mergeModel(seed uint64, mine, his map[string]entry) map[string]distribute.Pid {
	want := map[string]distribute.Pid{}
	for k, e := range mine {
		want[k] = e.pid
	}
	for k, e := range his {
		m, ok := mine[k]
		switch {
		case !ok, m.pid == e.pid:
			want[k] = e.pid
		default:
			switch decision(seed, e.name) {
			case keepHis, rpcFails:
				want[k] = e.pid
			case keepMine:
				want[k] = m.pid
			case keepNone:
				delete(want, k)
			}
		}
	}
	return want
}

func list(t map[string]entry) []entry {
	out := make([]entry, 0, len(t))
	for _, e := range t {
		out = append(out, e)
	}
	return out
}

func apply(t map[string]entry, ops etf.List) map[string]distribute.Pid {
	out := map[string]distribute.Pid{}
	for k, e := range t {
		out[k] = e.pid
	}
	for _, o := range ops {
		op := o.(etf.Tuple)
		switch op[0] {
		case aInsert:
			e := op[1].(etf.Tuple)
			out[keyOf(e[0])] = e[1].(distribute.Pid)
		case aDelete:
			delete(out, keyOf(op[1]))
		}
	}
	return out
}

func TestMergeNamesModel(t *testing.T) {
	a, b := distribute.Atom("a@h"), distribute.Atom("b@h")
	pids := []distribute.Pid{
		{Node: a, ID: 1}, {Node: a, ID: 2}, {Node: b, ID: 1}, {Node: b, ID: 2}, {Node: "c@h", ID: 1},
	}
	for seed := range uint64(3000) {
		r := rand.New(rand.NewPCG(seed, 7))
		ta, tb := randomTable(r, a, pids), randomTable(r, b, pids)
		decide := func(his, mine entry) (distribute.Pid, bool) {
			switch decision(seed, his.name) {
			case keepHis:
				return his.pid, true
			case keepMine:
				return mine.pid, true
			case keepNone:
				return distribute.Pid{}, true
			}
			return distribute.Pid{}, false
		}
		opsA, resA := mergeNames(a, b, list(tb), ta, decide)
		opsB, resB := mergeNames(b, a, list(ta), tb, func(his, mine entry) (distribute.Pid, bool) {
			t.Fatalf("seed %d: the higher node resolved a conflict", seed)
			return distribute.Pid{}, false
		})
		finalA := apply(ta, append(opsA, resB...))
		finalB := apply(tb, append(opsB, resA...))

		// The model.
		want := mergeModel(seed, ta, tb)
		if fmt.Sprint(finalA) != fmt.Sprint(want) || fmt.Sprint(finalB) != fmt.Sprint(want) {
			t.Fatalf("seed %d:\nA    %v\nB    %v\nwant %v", seed, finalA, finalB, want)
		}
	}
}

// The core's tables checked against a dumb model: random calls (register,
// unregister, set_lock, del_lock, get_known), deaths of pids, lost
// connections, new_nodes casts and prevent_overlapping_partitions
// messages go to one core and to the model, and after every step the
// names, locks, known nodes and the effects that matter must agree. The
// model is lists scanned with etf.Equal; it knows nothing of keys or
// monitor ids.

type mName struct {
	name distribute.Term
	pid  distribute.Pid
}

type mLock struct {
	res, req distribute.Term
	holders  []distribute.Pid
}

type mLost struct {
	a, b     distribute.Atom
	xcre, op distribute.Term
}

type tableModel struct {
	me       distribute.Atom
	names    []mName
	locks    []*mLock
	lockDown bool
	known    []distribute.Atom
	removing []distribute.Atom
	lost     []mLost
	dead     map[distribute.Pid]bool
}

func (m *tableModel) lock(res distribute.Term) (int, *mLock) {
	for i, l := range m.locks {
		if etf.Equal(l.res, res) {
			return i, l
		}
	}
	return -1, nil
}

func (m *tableModel) name(name distribute.Term) int {
	return slices.IndexFunc(m.names, func(n mName) bool { return etf.Equal(n.name, name) })
}

// release drops p from the holders of every lock it holds (matching
// pred), as a DOWN, a node loss or a del_lock does; an emptied lock goes,
// and an emptied {global, _} sets lockDown to down.
func (m *tableModel) release(pred func(l *mLock, p distribute.Pid) bool, down bool) {
	for i := 0; i < len(m.locks); i++ {
		l := m.locks[i]
		l.holders = slices.DeleteFunc(l.holders, func(p distribute.Pid) bool { return pred(l, p) })
		if len(l.holders) == 0 {
			m.locks = slices.Delete(m.locks, i, i+1)
			i--
			if etf.Equal(l.res, globalResource) {
				m.lockDown = down
			}
		}
	}
}

func (m *tableModel) setLock(res, req distribute.Term, p distribute.Pid) bool {
	_, l := m.lock(res)
	switch {
	case l == nil:
		m.locks = append(m.locks, &mLock{res: res, req: req, holders: []distribute.Pid{p}})
	case !etf.Equal(l.req, req):
		return false
	case !slices.Contains(l.holders, p):
		l.holders = append(l.holders, p)
	}
	return true
}

func (m *tableModel) delLock(res, req distribute.Term, p distribute.Pid) {
	if _, l := m.lock(res); l != nil && etf.Equal(l.req, req) {
		m.release(func(x *mLock, q distribute.Pid) bool { return x == l && q == p }, false)
	}
}

// insert is a register or an insert op: the old name goes; the new one
// stays if the caller's global lock still holds.
func (m *tableModel) insert(name distribute.Term, pid distribute.Pid, from distribute.Term, extra etf.List) {
	if i := m.name(name); i >= 0 {
		m.names = slices.Delete(m.names, i, i+1)
	}
	_, g := m.lock(globalResource)
	ok := false
	switch f := from.(type) {
	case distribute.Pid:
		ok = g == nil && !m.lockDown || g != nil && slices.Contains(g.holders, f)
	case distribute.Atom:
		if g == nil {
			ok = !m.lockDown
			break
		}
		for _, x := range extra {
			if t := x.(etf.Tuple); t[0] == aLock {
				id, isTuple := t[1].(etf.Tuple)
				ok = isTuple && len(id) == 2 && id[0] == globalResource && etf.Equal(id[1], g.req)
				break
			}
		}
	}
	if ok {
		m.names = append(m.names, mName{name, pid})
	}
}

func (m *tableModel) remove(name distribute.Term) {
	if i := m.name(name); i >= 0 {
		m.names = slices.Delete(m.names, i, i+1)
	}
}

// die is the death of p (or, with node set, of every pid of the node as
// the node goes down).
func (m *tableModel) die(match func(distribute.Pid) bool, down bool) {
	m.names = slices.DeleteFunc(m.names, func(n mName) bool { return match(n.pid) })
	m.release(func(_ *mLock, p distribute.Pid) bool { return match(p) }, down)
}

// reap removes what dead pids got in this step: their monitors fire at
// once.
func (m *tableModel) reap() {
	m.names = slices.DeleteFunc(m.names, func(n mName) bool { return m.dead[n.pid] })
	m.release(func(_ *mLock, p distribute.Pid) bool { return m.dead[p] }, true)
}

func (m *tableModel) knownExcept(skip distribute.Atom) []distribute.Atom {
	out := slices.DeleteFunc(slices.Clone(m.known), func(a distribute.Atom) bool { return a == skip })
	slices.Sort(out)
	return out
}

func (m *tableModel) forget(n distribute.Atom) {
	m.known = slices.DeleteFunc(m.known, func(a distribute.Atom) bool { return a == n })
}

// compare reports the first difference between the core and the model.
func (m *tableModel) compare(c *core) error {
	if len(c.names) != len(m.names) {
		return fmt.Errorf("%d names, model %v", len(c.names), m.names)
	}
	for _, n := range m.names {
		if e, ok := c.lookup(n.name); !ok || e.pid != n.pid {
			return fmt.Errorf("name %s is %v (%v), model %v", etf.Format(n.name), e.pid, ok, n.pid)
		}
	}
	if len(c.locks) != len(m.locks) {
		return fmt.Errorf("%d locks, model %d", len(c.locks), len(m.locks))
	}
	for _, ml := range m.locks {
		l := c.locks[keyOf(ml.res)]
		if l == nil || !etf.Equal(l.reqID, ml.req) {
			return fmt.Errorf("lock %s missing or with another requester", etf.Format(ml.res))
		}
		var hs []distribute.Pid
		for _, h := range l.holders {
			hs = append(hs, h.pid)
		}
		if !slices.Equal(hs, ml.holders) {
			return fmt.Errorf("lock %s held by %v, model %v", etf.Format(ml.res), hs, ml.holders)
		}
	}
	if c.lockDown != m.lockDown {
		return fmt.Errorf("lockDown %v, model %v", c.lockDown, m.lockDown)
	}
	if got, want := c.knownAtoms(), m.knownExcept(""); !slices.Equal(got, want) {
		return fmt.Errorf("known %v, model %v", got, want)
	}
	return nil
}

// sendsOf returns the sends among effs as "node msg" strings.
func sendsOf(effs []effect) []string {
	var out []string
	for _, e := range effs {
		if s, ok := e.(sendEff); ok {
			out = append(out, s.String())
		}
	}
	return out
}

func TestCoreTablesAgainstModel(t *testing.T) {
	for seed := range uint64(200) {
		runTableModel(t, seed, seed%4 != 3)
	}
}

func runTableModel(t *testing.T, seed uint64, pop bool) {
	r := rand.New(rand.NewPCG(seed, 19))
	me := distribute.Atom("a@h")
	peers := []distribute.Atom{"b@h", "c@h", "d@h"}
	c := newCore(me, distribute.Pid{Node: me, ID: 2}, pop, 7, func(distribute.Atom) bool { return true })
	m := &tableModel{me: me, dead: map[distribute.Pid]bool{}}
	for _, p := range peers {
		c.known[p] = ProtocolVersion
		m.known = append(m.known, p)
	}
	tr := newMonTracker()
	tr.dead = m.dead

	// A pool of live pids on every node; a dead one is replaced now and
	// then by a fresh pid of its node.
	var pool []distribute.Pid
	nextID := uint32(100)
	for _, n := range append([]distribute.Atom{me}, peers...) {
		for range 2 {
			nextID++
			pool = append(pool, distribute.Pid{Node: n, ID: nextID})
		}
	}
	pick := func() distribute.Pid { return pool[r.IntN(len(pool))] }
	names := []distribute.Term{distribute.Atom("n0"), distribute.Atom("n1"), distribute.Atom("n2"), etf.Binary("b0"), etf.Tuple{distribute.Atom("t"), int64(1)}}
	resources := []distribute.Term{globalResource, distribute.Atom("r1")}
	reqs := []distribute.Term{distribute.Atom("q1"), distribute.Atom("q2"), etf.List{distribute.Pid{Node: me, ID: 2}, distribute.Pid{Node: "b@h", ID: 2}}}
	pickOf := func(l []distribute.Term) distribute.Term { return l[r.IntN(len(l))] }
	pickNode := func(withMe bool) distribute.Atom {
		if withMe && r.IntN(4) == 0 {
			return me
		}
		return peers[r.IntN(len(peers))]
	}

	// deliver hands the core's effects to the tracker, then the DOWNs
	// they cause, until none is left.
	deliver := func(effs []effect) []effect {
		all := effs
		for {
			downs, err := tr.apply(effs)
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			if len(downs) == 0 {
				return all
			}
			for _, id := range downs {
				delete(tr.active, id)
				c.down(id)
			}
			effs = c.takeEffects()
			all = append(all, effs...)
		}
	}
	call := func(from distribute.Pid, req distribute.Term) distribute.Term {
		reply, ok := c.call(from, req)
		if !ok {
			t.Fatalf("seed %d: call %s not answered", seed, etf.Format(req))
		}
		return reply
	}

	for step := range 400 {
		var op string
		var wantSends []string // nil: not checked
		switch r.IntN(13) {
		case 0, 1:
			op = "register"
			from, name, pid := pick(), pickOf(names), pick()
			if got := call(from, etf.Tuple{aRegister, name, pid, DefaultMethod}); got != aYes {
				t.Fatalf("seed %d: register replied %v", seed, got)
			}
			m.insert(name, pid, from, nil)
		case 2:
			op = "unregister"
			name := pickOf(names)
			if got := call(pick(), etf.Tuple{aUnregister, name}); got != etf.OK {
				t.Fatalf("seed %d: unregister replied %v", seed, got)
			}
			m.remove(name)
		case 3, 4:
			op = "set_lock"
			from, res, req := pick(), pickOf(resources), pickOf(reqs)
			got := call(from, etf.Tuple{aSetLock, etf.Tuple{res, req}})
			if want := etf.Bool(m.setLock(res, req, from)); got != want {
				t.Fatalf("seed %d step %d: set_lock replied %v, model %v", seed, step, got, want)
			}
		case 5:
			op = "del_lock"
			from, res, req := pick(), pickOf(resources), pickOf(reqs)
			if got := call(from, etf.Tuple{aDelLock, etf.Tuple{res, req}}); got != etf.True {
				t.Fatalf("seed %d: del_lock replied %v", seed, got)
			}
			m.delLock(res, req, from)
		case 6:
			op = "exit"
			i := r.IntN(len(pool))
			p := pool[i]
			m.dead[p] = true
			// Every monitor of p fires, in any order.
			var ids []monID
			for id, q := range tr.active {
				if q == p {
					ids = append(ids, id)
				}
			}
			slices.Sort(ids)
			r.Shuffle(len(ids), func(a, b int) { ids[a], ids[b] = ids[b], ids[a] })
			for _, id := range ids {
				delete(tr.active, id)
				c.down(id)
			}
			m.die(func(q distribute.Pid) bool { return q == p }, true)
			if r.IntN(2) == 0 {
				nextID++
				pool[i] = distribute.Pid{Node: p.Node, ID: nextID}
			}
		case 7:
			op = "nodedown"
			n := pickNode(false)
			if pop && !slices.Contains(m.removing, n) {
				msg := etf.Tuple{aLostConnection, me, int64(7), c.opID + 1, n}
				for _, k := range m.knownExcept(n) {
					wantSends = append(wantSends, sendEff{node: k, msg: msg}.String())
				}
			} else {
				wantSends = []string{}
			}
			c.nodeDown(n)
			m.removing = slices.DeleteFunc(m.removing, func(a distribute.Atom) bool { return a == n })
			m.die(func(q distribute.Pid) bool { return q.Node == n }, true)
			m.forget(n)
		case 8:
			op = "new_nodes"
			from := pickNode(false)
			var ops etf.List
			for range r.IntN(4) {
				if r.IntN(3) == 0 {
					ops = append(ops, etf.Tuple{aDelete, pickOf(names)})
				} else {
					ops = append(ops, insertOp(pickOf(names), pick(), DefaultMethod))
				}
			}
			if ops == nil {
				ops = etf.List{}
			}
			nodes := etf.List{}
			for _, n := range append([]distribute.Atom{me}, peers...) {
				if r.IntN(3) == 0 {
					nodes = append(nodes, etf.Tuple{n, int64(ProtocolVersion)})
				}
			}
			extra := etf.List{etf.Tuple{aVsn, int64(ProtocolVersion)}}
			switch r.IntN(3) {
			case 0:
				if _, g := m.lock(globalResource); g != nil {
					extra = append(extra, etf.Tuple{aLock, etf.Tuple{globalResource, g.req}})
				}
			case 1:
				extra = append(extra, etf.Tuple{aLock, etf.Tuple{globalResource, pickOf(reqs)}})
			}
			err := c.handleCast(etf.Tuple{aNewNodes, from, ops, etf.List{}, nodes, extra})
			if !slices.Contains(m.known, from) {
				if err == nil {
					t.Fatalf("seed %d: new_nodes from unknown %s accepted", seed, from)
				}
				wantSends = []string{}
				break
			}
			if err != nil {
				t.Fatalf("seed %d: new_nodes: %v", seed, err)
			}
			var added []distribute.Atom
			for _, x := range nodes {
				n := x.(etf.Tuple)[0].(distribute.Atom)
				if n != me && !slices.Contains(m.known, n) {
					added = append(added, n)
					m.known = append(m.known, n)
				}
			}
			for _, o := range ops {
				t := o.(etf.Tuple)
				if t[0] == aInsert {
					e := t[1].(etf.Tuple)
					m.insert(e[0], e[1].(distribute.Pid), from, extra)
				} else {
					m.remove(t[1])
				}
			}
			// Its sync effect names exactly the nodes it added.
			var synced []distribute.Atom
			for _, e := range c.out {
				if s, ok := e.(syncEff); ok {
					synced = append(synced, s.nodes...)
				}
			}
			if !slices.Equal(synced, added) {
				t.Fatalf("seed %d step %d: new_nodes syncs %v, want %v", seed, step, synced, added)
			}
			wantSends = []string{}
		case 9:
			op = "remove_connection"
			n := pickNode(false)
			c.handleInfo(etf.Tuple{aRemoveConn, n})
			cut := false
			for _, e := range c.out {
				if d, ok := e.(disconnectEff); ok && d.node == n && d.cut {
					cut = true
				}
			}
			if want := pop && slices.Contains(m.known, n); cut != want {
				t.Fatalf("seed %d step %d: remove_connection of %s cut %v, want %v", seed, step, n, cut, want)
			}
			if cut {
				m.forget(n)
				m.removing = append(m.removing, n)
			}
			wantSends = []string{}
		case 10:
			op = "lost_connection"
			a, b := pickNode(true), pickNode(true)
			xcre, opID := int64(1+r.IntN(2)), int64(1+r.IntN(3))
			msg := etf.Tuple{aLostConnection, a, xcre, opID, b}
			c.handleInfo(msg)
			wantSends = []string{}
			if !pop {
				break
			}
			i := slices.IndexFunc(m.lost, func(l mLost) bool { return l.a == a && l.b == b })
			if i >= 0 && etf.Equal(m.lost[i].xcre, xcre) && etf.Compare(m.lost[i].op, opID) >= 0 {
				break // seen
			}
			if i >= 0 {
				m.lost[i] = mLost{a, b, xcre, opID}
			} else {
				m.lost = append(m.lost, mLost{a, b, xcre, opID})
			}
			for _, k := range m.knownExcept(a) {
				wantSends = append(wantSends, sendEff{node: k, msg: msg}.String())
			}
			rm := b
			if b == me {
				rm = a
			}
			if rm != me && slices.Contains(m.known, rm) {
				wantSends = append(wantSends, sendEff{node: rm, msg: etf.Tuple{aRemoveConn, me}}.String())
				m.forget(rm)
				m.removing = append(m.removing, rm)
			}
		case 11:
			op = "get_known"
			if got, want := call(pick(), aGetKnown), atomList(m.knownExcept("")); !etf.Equal(got, want) {
				t.Fatalf("seed %d: get_known %v, model %v", seed, got, want)
			}
		case 12:
			op = "junk"
			if err := c.handleCast(etf.Tuple{aNewNodes, pickNode(false), etf.List{distribute.Atom("x")}, etf.List{}, etf.List{}, etf.List{}}); err == nil {
				t.Fatalf("seed %d: bad ops accepted", seed)
			}
			wantSends = []string{}
		}
		effs := deliver(c.takeEffects())
		m.reap()
		if wantSends != nil {
			if got := sendsOf(effs); !slices.Equal(got, wantSends) && !(len(got) == 0 && len(wantSends) == 0) {
				t.Fatalf("seed %d step %d (%s): sends\n%v\nwant\n%v", seed, step, op, got, wantSends)
			}
		}
		if err := checkCore(c); err != nil {
			t.Fatalf("seed %d step %d (%s): %v", seed, step, op, err)
		}
		if err := tr.agrees(c); err != nil {
			t.Fatalf("seed %d step %d (%s): %v", seed, step, op, err)
		}
		if err := m.compare(c); err != nil {
			t.Fatalf("seed %d step %d (%s): %v", seed, step, op, err)
		}
	}
}

// TestCoreMergeAgainstModel merges two partitions through the whole
// connect protocol of the cores (init_connect to resolved, new_nodes to
// the old partition, in_sync), scheduled in random orders by the sim: at
// the end every node knows every other, no lock is held, and every node's
// table is what the merge model says.
func TestCoreMergeAgainstModel(t *testing.T) {
	all := []distribute.Atom{"a@h", "b@h", "c@h", "d@h"}
	for seed := range uint64(400) {
		r := rand.New(rand.NewPCG(seed, 5))
		// Split the first 2–4 nodes in two non-empty partitions.
		nodes := all[:2+r.IntN(3)]
		var p1, p2 []distribute.Atom
		for i, n := range nodes {
			if i == 0 || i != 1 && r.IntN(2) == 0 {
				p1 = append(p1, n)
			} else {
				p2 = append(p2, n)
			}
		}
		s := newSim(seed, nodes...)
		s.decide = func(his, mine entry) (distribute.Pid, bool) {
			switch decision(seed, his.name) {
			case keepHis:
				return his.pid, true
			case keepMine:
				return mine.pid, true
			case keepNone:
				return distribute.Pid{}, true
			}
			return distribute.Pid{}, false
		}
		tables := make([]map[string]entry, 2)
		for i, part := range [][]distribute.Atom{p1, p2} {
			for _, a := range part {
				for _, b := range part {
					s.connect(a, b)
				}
			}
			if err := s.run(100000); err != nil {
				t.Fatalf("seed %d: forming %v: %v", seed, part, err)
			}
			var pids []distribute.Pid
			for _, n := range part {
				pids = append(pids, distribute.Pid{Node: n, ID: 10}, distribute.Pid{Node: n, ID: 11})
			}
			tables[i] = randomTable(r, part[0], pids)
			// Registered as the registrar does: on every node of the
			// partition.
			for _, e := range tables[i] {
				for _, n := range part {
					s.call(n, registrarPidOf(part[0]), etf.Tuple{aRegister, e.name, e.pid, e.method})
				}
			}
			if err := s.run(100000); err != nil {
				t.Fatalf("seed %d: registering in %v: %v", seed, part, err)
			}
		}
		x, y := p1[r.IntN(len(p1))], p2[r.IntN(len(p2))]
		s.connect(x, y)
		if err := s.run(100000); err != nil {
			t.Fatalf("seed %d: %v+%v through %s-%s: %v", seed, p1, p2, x, y, err)
		}
		got, err := s.settled(nodes)
		if err != nil {
			t.Fatalf("seed %d: %v+%v through %s-%s: %v", seed, p1, p2, x, y, err)
		}

		// The model: the partition of the lower node of the pair decides.
		mine, his := tables[0], tables[1]
		if y < x {
			mine, his = his, mine
		}
		want := mergeModel(seed, mine, his)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("seed %d: %v+%v through %s-%s:\ngot  %v\nwant %v", seed, p1, p2, x, y, got, want)
		}
	}
}
