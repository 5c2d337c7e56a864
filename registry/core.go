package registry

import (
	"github.com/distribute-go/distribute"

	"cmp"
	"fmt"
	"slices"

	"github.com/distribute-go/distribute/etf"
)

// This file is the deterministic core of the global name server: the name
// and lock tables, the monitors they need, and the state of every connect
// with a peer. It does no I/O. Each event (a message of the gns mailbox,
// a node event, a monitor's DOWN) changes the state and appends the I/O
// it needs to out, as effects the server performs in order.

// monID names one monitor the core asked for. The server monitors the pid
// and maps the monitor's Ref to it; the core never sees a Ref.
type monID uint64

// An effect is one piece of I/O the core asks for. Its String is for test
// failures.
type effect interface{ String() string }

type (
	// sendEff sends msg plainly, without dialing, to the gns of node.
	sendEff struct {
		node distribute.Atom
		msg  distribute.Term
	}
	// monitorEff monitors pid for the monitor id. inCluster says the
	// pid's node is known or connecting when the monitor was asked for:
	// a monitor may then connect to it (as erlang:monitor/2 does);
	// otherwise only to this node and connected nodes, and the monitor of
	// a pid elsewhere fails at once with noconnection.
	monitorEff struct {
		id        monID
		pid       distribute.Pid
		inCluster bool
	}
	// demonitorEff ends the monitor id.
	demonitorEff struct{ id monID }
	// lockerEff posts ev (lkHis, lkCancel, lkForget or lkLockSet) to the
	// locker.
	lockerEff struct{ ev any }
	// syncEff is sync_others: connect to each node and cast in_sync to it.
	syncEff struct{ nodes []distribute.Atom }
	// resolveEff runs exchange_names for the connect with node (his names
	// against a snapshot of mine) and answers with exchangeOps{node, tag}.
	resolveEff struct {
		node distribute.Atom
		tag  distribute.Term
		his  []entry
		mine map[string]entry
	}
	// stopResolveEff ends the resolver of the connect with node.
	stopResolveEff struct{ node distribute.Atom }
	// disconnectEff closes the connection to node; cut says it is a
	// peer's remove_connection (prevent_overlapping_partitions), which is
	// logged and counted.
	disconnectEff struct {
		node distribute.Atom
		cut  bool
	}
	// warnEff logs msg at warning level with node.
	warnEff struct {
		msg  string
		node distribute.Atom
	}
)

func (e sendEff) String() string      { return fmt.Sprintf("send %s %s", e.node, etf.Format(e.msg)) }
func (e monitorEff) String() string   { return fmt.Sprintf("monitor %d %s", e.id, etf.Format(e.pid)) }
func (e demonitorEff) String() string { return fmt.Sprintf("demonitor %d", e.id) }
func (e lockerEff) String() string    { return fmt.Sprintf("locker %+v", e.ev) }
func (e syncEff) String() string      { return fmt.Sprintf("sync %v", e.nodes) }
func (e resolveEff) String() string {
	return fmt.Sprintf("resolve %s %s (%d against %d names)", e.node, etf.Format(e.tag), len(e.his), len(e.mine))
}
func (e stopResolveEff) String() string { return fmt.Sprintf("stop resolve %s", e.node) }
func (e disconnectEff) String() string  { return fmt.Sprintf("disconnect %s (cut %v)", e.node, e.cut) }
func (e warnEff) String() string        { return fmt.Sprintf("warn %s %s", e.msg, e.node) }

// entry is one registered name.
type entry struct {
	name   distribute.Term
	pid    distribute.Pid
	method distribute.Term
	mon    monID // the core's monitor of pid
}

// lock is one held lock resource.
type lock struct {
	resource distribute.Term
	reqID    distribute.Term
	holders  []holder
}

type holder struct {
	pid distribute.Pid
	mon monID
}

// monUse says what a monitor is for.
type monUse struct {
	name     string // name key, when it watches a name's pid
	resource string // lock key, when it watches a lock holder
	isName   bool
}

// attempt is the state of one connect with a peer (the gns's per-node
// process-dictionary keys in global.erl).
type attempt struct {
	myTag      distribute.Term
	hisTag     distribute.Term
	hisVsn     int
	hisLocker  distribute.Pid
	pending    bool // his init_connect was handled
	lockSet    bool
	lockID     distribute.Term
	hisNames   []entry
	gotExch    bool
	resolving  bool // a resolver runs or ran for it
	ops        etf.List
	opsReady   bool
	hisResolv  etf.List
	hisKnown   []distribute.Atom
	gotResolve bool
}

// lostRec is a lost_connection record for duplicate suppression.
type lostRec struct {
	xcre distribute.Term
	opID distribute.Term
}

// maxLost bounds the lost_connection records kept for duplicate
// suppression.
const maxLost = 4096

// core is the deterministic state machine of a global name server. One
// goroutine at a time drives it (the server holds its lock); it never
// panics on any input, and the same events give the same effects.
type core struct {
	me        distribute.Atom
	lockerPid distribute.Pid             // the locker process, named in init_connect
	pop       bool                       // prevent_overlapping_partitions
	connected func(distribute.Atom) bool // whether the node is connected now (an input, never I/O)

	names    map[string]*entry
	locks    map[string]*lock
	mons     map[monID]monUse
	monSeq   monID
	known    map[distribute.Atom]int // known node → its protocol version
	synced   map[distribute.Atom]bool
	attempts map[distribute.Atom]*attempt
	pre      map[distribute.Atom]etf.Tuple // init_connect that came before our nodeup
	removing map[distribute.Atom]bool      // nodes we disconnect on purpose
	lost     map[[2]distribute.Atom]lostRec
	lockDown bool // the last {global, _} holder died (or its node went down)

	tagSeq int64 // the last session tag
	xcre   int64 // this incarnation's id in lost_connection
	opID   int64 // the last lost_connection operation id

	out     []effect
	changed bool // a state Sync waits on may have changed
}

// initialSeq is where tags and operation ids start, as
// erlang:unique_integer([monotonic]) does.
const initialSeq = -576460752303423488

func newCore(me distribute.Atom, lockerPid distribute.Pid, pop bool, xcre int64, connected func(distribute.Atom) bool) *core {
	return &core{
		me:        me,
		lockerPid: lockerPid,
		pop:       pop,
		connected: connected,
		names:     make(map[string]*entry),
		locks:     make(map[string]*lock),
		mons:      make(map[monID]monUse),
		known:     make(map[distribute.Atom]int),
		synced:    make(map[distribute.Atom]bool),
		attempts:  make(map[distribute.Atom]*attempt),
		pre:       make(map[distribute.Atom]etf.Tuple),
		removing:  make(map[distribute.Atom]bool),
		lost:      make(map[[2]distribute.Atom]lostRec),
		tagSeq:    initialSeq,
		xcre:      xcre,
		opID:      initialSeq,
	}
}

// takeEffects returns the pending effects and clears them.
func (c *core) takeEffects() []effect { return c.appendEffects(nil) }

// appendEffects appends the pending effects to dst and clears them; the
// core keeps its buffer for the next step.
func (c *core) appendEffects(dst []effect) []effect {
	dst = append(dst, c.out...)
	clear(c.out)
	c.out = c.out[:0]
	return dst
}

// takeChanged reports whether anything Sync waits on may have changed
// since the last call.
func (c *core) takeChanged() bool {
	ch := c.changed
	c.changed = false
	return ch
}

func (c *core) emit(e effect) { c.out = append(c.out, e) }

func (c *core) send(node distribute.Atom, msg distribute.Term) { c.emit(sendEff{node: node, msg: msg}) }

func (c *core) cast(node distribute.Atom, msg distribute.Term) {
	c.send(node, etf.Tuple{aGenCast, msg})
}

func bad(what string) error { return fmt.Errorf("%w: %s", ErrBadMessage, what) }

// nextTag returns a fresh session tag (a rising integer, like
// erlang:unique_integer([monotonic])).
func (c *core) nextTag() int64 {
	c.tagSeq++
	return c.tagSeq
}

// ---- the tables ----

// keyOf is the table key of a term: a tag byte, then the atom's text, the
// binary's bytes or the term's external encoding.
func keyOf(t distribute.Term) string { return string(appendKey(nil, t)) }

func appendKey(dst []byte, t distribute.Term) []byte {
	switch v := t.(type) {
	case distribute.Atom:
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

// inCluster reports whether node is one a monitor may connect to besides
// this node and connected ones: a known node or one we are connecting.
func (c *core) inCluster(node distribute.Atom) bool {
	return c.known[node] != 0 || c.attempts[node] != nil
}

// monitor asks for a monitor of pid for use.
func (c *core) monitor(pid distribute.Pid, use monUse) monID {
	c.monSeq++
	id := c.monSeq
	c.mons[id] = use
	c.emit(monitorEff{id: id, pid: pid, inCluster: c.inCluster(pid.Node)})
	return id
}

func (c *core) demonitor(id monID) {
	delete(c.mons, id)
	c.emit(demonitorEff{id: id})
}

// insertName is ins_name + insert_global_name: from is the registering
// pid (register) or the connecting node (ops of exchange/new_nodes), with
// extra the ExtraInfo list. The old entry of the name goes in any case;
// the new one is kept only while the caller's global lock is still held.
func (c *core) insertName(name distribute.Term, pid distribute.Pid, method distribute.Term, from distribute.Term, extra distribute.Term) {
	k := keyOf(name)
	if old := c.names[k]; old != nil {
		c.demonitor(old.mon)
		delete(c.names, k)
	}
	c.changed = true
	if !c.lockStillSet(from, extra) {
		return
	}
	mon := c.monitor(pid, monUse{name: k, isName: true})
	c.names[k] = &entry{name: name, pid: pid, method: method, mon: mon}
}

// lockStillSet is lock_still_set: an insert from pid from is kept while
// from holds {global, _}; one from node from while the lock its ExtraInfo
// names is the one held; with no lock held, unless its last holder died.
func (c *core) lockStillSet(from distribute.Term, extra distribute.Term) bool {
	l := c.locks[keyOf(globalResource)]
	if l == nil {
		return !c.lockDown
	}
	switch f := from.(type) {
	case distribute.Pid:
		for _, h := range l.holders {
			if h.pid == f {
				return true
			}
		}
		return false
	case distribute.Atom:
		id := extraInfo(aLock, extra)
		t, ok := id.(etf.Tuple)
		return ok && len(t) == 2 && t[0] == globalResource && etf.Equal(t[1], l.reqID)
	}
	return false
}

func extraInfo(tag distribute.Atom, extra distribute.Term) distribute.Term {
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

func (c *core) deleteName(name distribute.Term) {
	k := keyOf(name)
	if e := c.names[k]; e != nil {
		c.demonitor(e.mon)
		delete(c.names, k)
		c.changed = true
	}
}

// lookup returns the entry of a name.
func (c *core) lookup(name distribute.Term) (entry, bool) {
	e := c.names[keyOf(name)]
	if e == nil {
		return entry{}, false
	}
	return *e, true
}

// hasName reports whether pid is registered under some name.
func (c *core) hasName(pid distribute.Pid) bool {
	for _, e := range c.names {
		if e.pid == pid {
			return true
		}
	}
	return false
}

// setLock is handle_set_lock for {ResourceId, LockReqId} and owner pid:
// granted when the resource is free or held with the same requester id.
func (c *core) setLock(id etf.Tuple, pid distribute.Pid) bool {
	k := keyOf(id[0])
	l := c.locks[k]
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
	c.locks[k] = l
	l.holders = append(l.holders, holder{pid: pid, mon: c.monitor(pid, monUse{resource: k})})
	c.changed = true
	return true
}

// canSetLock is can_set_lock, a local check only.
func (c *core) canSetLock(id etf.Tuple) bool {
	l := c.locks[keyOf(id[0])]
	return l == nil || etf.Equal(l.reqID, id[1])
}

// globalLockSet reports whether any {global, _} lock is held here.
func (c *core) globalLockSet() bool {
	return c.locks[keyOf(globalResource)] != nil
}

// delLock is handle_del_lock: pid stops holding id (if it did).
func (c *core) delLock(id etf.Tuple, pid distribute.Pid) {
	k := keyOf(id[0])
	l := c.locks[k]
	if l == nil || !etf.Equal(l.reqID, id[1]) {
		return
	}
	c.removeHolder(k, l, pid, false)
}

// removeHolder ends pid's hold of the lock k; down says its node went
// down (so a now free {global, _} refuses the inserts of the merge it
// guarded).
func (c *core) removeHolder(k string, l *lock, pid distribute.Pid, down bool) {
	for i, h := range l.holders {
		if h.pid == pid {
			c.demonitor(h.mon)
			l.holders = slices.Delete(l.holders, i, i+1)
			break
		}
	}
	if len(l.holders) == 0 {
		delete(c.locks, k)
		if k == keyOf(globalResource) {
			c.lockDown = down
		}
	}
	c.changed = true
}

// down handles the DOWN of monitor id: a name's pid or a lock holder is
// gone.
func (c *core) down(id monID) {
	use, ok := c.mons[id]
	if !ok {
		return
	}
	delete(c.mons, id)
	if use.isName {
		if e := c.names[use.name]; e != nil && e.mon == id {
			delete(c.names, use.name)
			c.changed = true
		}
		return
	}
	l := c.locks[use.resource]
	if l == nil {
		return
	}
	for i, h := range l.holders {
		if h.mon == id {
			l.holders = slices.Delete(l.holders, i, i+1)
			if len(l.holders) == 0 {
				delete(c.locks, use.resource)
				if use.resource == keyOf(globalResource) {
					c.lockDown = true
				}
			}
			c.changed = true
			return
		}
	}
}

// dropNode removes the names and lock holders of pids on node (what the
// noconnection DOWNs of the node do), in monitor order.
func (c *core) dropNode(node distribute.Atom) {
	var gone []*entry
	for _, e := range c.names {
		if e.pid.Node == node {
			gone = append(gone, e)
		}
	}
	slices.SortFunc(gone, func(a, b *entry) int { return cmp.Compare(a.mon, b.mon) })
	for _, e := range gone {
		c.demonitor(e.mon)
		delete(c.names, keyOf(e.name))
	}
	keys := make([]string, 0, len(c.locks))
	for k := range c.locks {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		l := c.locks[k]
		for _, h := range slices.Clone(l.holders) {
			if h.pid.Node == node {
				c.removeHolder(k, l, h.pid, true)
			}
		}
	}
	c.changed = true
}

// sortedNames returns the entries, ordered by key.
func (c *core) sortedNames() []*entry {
	keys := make([]string, 0, len(c.names))
	for k := range c.names {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]*entry, len(keys))
	for i, k := range keys {
		out[i] = c.names[k]
	}
	return out
}

// namesList returns all names as [{Name, Pid, Method}], ordered by key.
func (c *core) namesList() etf.List {
	out := make(etf.List, 0, len(c.names))
	for _, e := range c.sortedNames() {
		out = append(out, etf.Tuple{e.name, e.pid, e.method})
	}
	return out
}

// knownAtoms returns the known nodes, sorted.
func (c *core) knownAtoms() []distribute.Atom {
	l := make([]distribute.Atom, 0, len(c.known))
	for n := range c.known {
		l = append(l, n)
	}
	slices.Sort(l)
	return l
}

// syncedAtoms returns the nodes in sync with this one, sorted.
func (c *core) syncedAtoms() []distribute.Atom {
	l := make([]distribute.Atom, 0, len(c.synced))
	for n := range c.synced {
		l = append(l, n)
	}
	slices.Sort(l)
	return l
}

// ---- calls ----

// call handles the gen_server call req from pid from and returns the
// reply; answered is false for an unknown call, which Erlang's gns logs
// and never answers.
func (c *core) call(from distribute.Pid, req distribute.Term) (reply distribute.Term, answered bool) {
	switch r := req.(type) {
	case distribute.Atom:
		switch r {
		case aGetKnown:
			return atomList(c.knownAtoms()), true
		case aGetSynced:
			return atomList(c.syncedAtoms()), true
		case aGetProtoVsn:
			return int64(ProtocolVersion), true
		}
	case etf.Tuple:
		if len(r) == 0 {
			break
		}
		switch r[0] {
		case aSetLock:
			if id, ok := lockID(r); ok {
				return etf.Bool(c.setLock(id, from)), true
			}
		case aDelLock:
			if id, ok := lockID(r); ok {
				c.delLock(id, from)
				return etf.True, true
			}
		case aRegister:
			if len(r) == 4 {
				if pid, ok := r[2].(distribute.Pid); ok {
					c.insertName(r[1], pid, r[3], from, nil)
					return aYes, true
				}
			}
		case aUnregister:
			if len(r) == 2 {
				c.deleteName(r[1])
				return etf.OK, true
			}
		}
	}
	return nil, false
}

func lockID(r etf.Tuple) (etf.Tuple, bool) {
	if len(r) != 2 {
		return nil, false
	}
	id, ok := r[1].(etf.Tuple)
	return id, ok && len(id) == 2
}

func atomList(l []distribute.Atom) etf.List {
	out := make(etf.List, len(l))
	for i, a := range l {
		out[i] = a
	}
	return out
}
