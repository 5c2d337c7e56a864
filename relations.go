package distribute

import (
	"context"
	"runtime"
	"sync"
)

// This file owns the relation tables of a process (procRels: its links,
// the monitors it holds, the monitors others hold on it, its aliases and
// names) and the node's per-node index of processes with relations to
// another node (remoteIndex), which makes a lost connection cost the
// processes it affects rather than the node's size. No other file reads
// or changes a procRels (internal/deptest checks it): they call the
// methods below.
//
// Each change takes the locks it needs itself (a method documented as
// "p.mu must be held" is part of a caller's larger step under that lock)
// and returns what it owes as effects: an exited process's link exit
// signals, Downs and demonitors, the end of a monitor, the monitors and
// links a lost connection fires. The caller applies them with Node.apply
// once it holds no lock, so that no lock is ever held while a frame is
// queued on a connection or a mailbox is pushed to. (fireMonitor, which
// delivers a Down, is itself such an effect: it runs with no lock held.)
//
// The lock order of the package (Process.mu, remoteIndex.mu, the mailbox,
// the connection and node tables) is written once, in the package
// documentation's "Where things live" (doc.go).

// procRels is what links a process to others. Its maps and slice are nil
// until used.
type procRels struct {
	// links holds the pids this process is linked to. For remote links
	// the value keeps the unlink id in flight (UNLINK_ID protocol).
	links map[Pid]*link
	// monitors are the monitors this process holds on others.
	monitors map[Ref]monitorTarget
	// watchers are the monitors others hold on this process.
	watchers map[Ref]watcher
	// aliases this process answers to.
	aliases map[Ref]struct{}
	// names it is registered under.
	names []Atom
	// nodes are the other nodes this process is in the node's remotes
	// index under: every node it has had a link, a monitor or a watcher
	// with since it was last taken out (by nodeDown or its exit). A
	// superset of the nodes it has relations with now.
	nodes []Atom
}

// noRels is the rels of a process that has none. It is shared and must
// never be written: reading and deleting from its nil maps is all it is for.
var noRels procRels

// exitedLocked reports whether the process has exited; p.mu must be held.
func (p *Process) exitedLocked() bool { return p.reason != nil }

// rels returns the process's tables for reading or deleting from; p.mu
// must be held.
func (p *Process) rels() *procRels {
	if p.ext == nil {
		return &noRels
	}
	return p.ext
}

// relsForUpdate returns them for adding to, made on first use; p.mu must be
// held.
func (p *Process) relsForUpdate() *procRels {
	if p.ext == nil {
		p.ext = new(procRels)
	}
	return p.ext
}

// sigKind is what a signal owed by a change of the tables does.
type sigKind uint8

const (
	sigDemonitor sigKind = iota + 1 // from ends the monitor ref it held on mon
	sigLinkGone                     // proc gets from's exit signal (reason) for a link already removed
	sigFire                         // proc's monitor ref fires with reason (fireMonitor)
)

// signal is one thing a change of the tables owes; the fields used depend
// on kind.
type signal struct {
	kind   sigKind
	from   Pid
	ref    Ref
	reason Term
	mon    monitorTarget
	proc   *Process
}

// effects are the signals a change of the tables owes, for the caller to
// apply (Node.apply) once it holds no lock. Most changes owe none or one,
// held inline; an exiting process's tables travel whole (gone), so an exit
// allocates nothing to say what it owes.
type effects struct {
	one  signal
	more []signal
	// gone are the tables of a process that exited (goneFrom, with
	// goneReason): its links get exit signals, its watchers Downs, and
	// its monitors end.
	gone       *procRels
	goneFrom   Pid
	goneReason Term
}

func (e *effects) add(s signal) {
	if e.one.kind == 0 {
		e.one = s
		return
	}
	e.more = append(e.more, s)
}

// apply does what e owes. The caller holds no lock. ctx bounds the waits
// of remote signals (see Node.signal).
func (n *Node) apply(ctx context.Context, e *effects) {
	if e.one.kind != 0 {
		n.applySignal(ctx, &e.one)
	}
	for i := range e.more {
		n.applySignal(ctx, &e.more[i])
	}
	if r := e.gone; r != nil {
		from, reason := e.goneFrom, e.goneReason
		for pid, l := range r.links {
			if l.unlinkID != 0 {
				continue // we were unlinking: the link is gone
			}
			n.sendLinkExit(ctx, from, pid, reason)
		}
		for ref, w := range r.watchers {
			n.sendDown(ctx, from, w, ref, reason)
		}
		for ref, m := range r.monitors {
			if m.firing || m.name == "" && m.pid.ID == 0 && m.pid.Node != n.name {
				// Fired already, or a spawn request not answered yet: no
				// monitor left to end.
				continue
			}
			n.endMonitor(ctx, from, m, ref)
		}
	}
}

func (n *Node) applySignal(ctx context.Context, s *signal) {
	switch s.kind {
	case sigDemonitor:
		n.endMonitor(ctx, s.from, s.mon, s.ref)
	case sigLinkGone:
		s.proc.exitSignalNoLink(s.from, s.reason)
	case sigFire:
		s.proc.fireMonitor(s.ref, s.reason)
	}
}

// endMonitor ends the monitor ref that from held on m: the watcher entry
// of a local target goes, a remote one gets a DEMONITOR_P.
func (n *Node) endMonitor(ctx context.Context, from Pid, m monitorTarget, ref Ref) {
	if m.remoteNode(n.name) != "" {
		n.sendDemonitor(ctx, from, m, ref)
		return
	}
	if target := n.monitorTargetProcess(m); target != nil {
		target.dropWatcher(ref)
	}
}

// putLink records a link to pid (or replaces its state); p.mu must be
// held and p alive.
func (p *Process) putLink(pid Pid, l *link) {
	r := p.relsForUpdate()
	if r.links == nil {
		r.links = make(map[Pid]*link)
	}
	r.links[pid] = l
	p.noteNode(pid.Node)
}

// putMonitor records a monitor p holds on m; p.mu must be held and p
// alive.
func (p *Process) putMonitor(ref Ref, m monitorTarget) {
	r := p.relsForUpdate()
	if r.monitors == nil {
		r.monitors = make(map[Ref]monitorTarget)
	}
	r.monitors[ref] = m
	p.noteNode(m.remoteNode(p.node.name))
}

// putWatcher records a monitor w.by holds on p; p.mu must be held and p
// alive.
func (p *Process) putWatcher(ref Ref, w watcher) {
	r := p.relsForUpdate()
	if r.watchers == nil {
		r.watchers = make(map[Ref]watcher)
	}
	r.watchers[ref] = w
	p.noteNode(w.by.Node)
}

// noteNode puts p in the remotes index under node, when node is another
// node and p is not there yet; p.mu must be held.
func (p *Process) noteNode(node Atom) {
	n := p.node
	if node == "" || node == n.name || p.exitedLocked() {
		return
	}
	r := p.relsForUpdate()
	for _, have := range r.nodes {
		if have == node {
			return
		}
	}
	r.nodes = append(r.nodes, node)
	n.remotes.add(node, p)
}

// Links.

// linkOwn records p's side of a link to pid, as Link's first step;
// errDead when p has exited.
func (p *Process) linkOwn(pid Pid) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitedLocked() {
		return errDead
	}
	p.putLink(pid, &link{})
	return nil
}

// linkChild links p to child, a new process not running yet: both sides
// under p.mu (p's, then child's), so p's exit either comes first (errDead,
// no link made) or finds the link on both sides. Nobody can signal child
// before it runs.
func (p *Process) linkChild(child *Process) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitedLocked() {
		return errDead
	}
	p.putLink(child.pid, &link{})
	child.addLink(p.pid)
	return nil
}

// addLink records a link from another process, unless p already has
// one; false if p has exited.
func (p *Process) addLink(from Pid) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitedLocked() {
		return false
	}
	if _, ok := p.rels().links[from]; !ok {
		p.putLink(from, &link{})
	}
	return true
}

// dropLink forgets the link to pid, whatever its state: a Link that
// failed, the other side of a local Unlink, an UNLINK from an old peer.
func (p *Process) dropLink(pid Pid) {
	p.mu.Lock()
	delete(p.rels().links, pid)
	p.mu.Unlock()
}

// takeLink removes the link to from for the link exit signal from sent;
// false when no active link is there (the signal is stale: never linked,
// or we are unlinking).
func (p *Process) takeLink(from Pid) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, linked := p.rels().links[from]
	if !linked || l.unlinkID != 0 {
		return false
	}
	delete(p.rels().links, from)
	return true
}

// startUnlink begins Unlink of pid: a local link goes at once; a remote
// one is kept, marked with a new unlink id, until the peer acknowledges
// it (unlinkAcked). It reports whether p was linked, and the id.
func (p *Process) startUnlink(pid Pid) (linked bool, id uint64) {
	n := p.node
	p.mu.Lock()
	defer p.mu.Unlock()
	l, linked := p.rels().links[pid]
	switch {
	case !linked:
	case pid.Node != n.name:
		id = n.nextUnlinkID.Add(1)
		l.unlinkID = id
	default:
		delete(p.rels().links, pid)
	}
	return linked, id
}

// unlinkRequested applies a peer's UNLINK_ID from from: the link goes,
// unless p is unlinking it itself (then the ack for p's own id ends it).
func (p *Process) unlinkRequested(from Pid) {
	p.mu.Lock()
	if l, ok := p.rels().links[from]; ok && l.unlinkID == 0 {
		delete(p.rels().links, from)
	}
	p.mu.Unlock()
}

// unlinkAcked applies the peer's UNLINK_ID_ACK for id: the link to from
// goes if it is still the one being unlinked with id.
func (p *Process) unlinkAcked(from Pid, id uint64) {
	p.mu.Lock()
	if l, ok := p.rels().links[from]; ok && l.unlinkID != 0 && l.unlinkID == id {
		delete(p.rels().links, from)
	}
	p.mu.Unlock()
}

// Monitors and watchers.

// addMonitor records a monitor held by p and returns its ref; the caller
// tells the target. errDead when p has exited.
func (p *Process) addMonitor(m monitorTarget) (Ref, error) {
	ref := p.node.MakeRef()
	return ref, p.addMonitorRef(ref, m)
}

// addMonitorRef is addMonitor with the ref given (a spawn request's).
func (p *Process) addMonitorRef(ref Ref, m monitorTarget) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitedLocked() {
		return errDead
	}
	p.putMonitor(ref, m)
	return nil
}

// monitorChild makes p monitor child, a new process not running yet, with
// ref: both sides under p.mu, as linkChild does.
func (p *Process) monitorChild(child *Process, ref Ref) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitedLocked() {
		return errDead
	}
	p.putMonitor(ref, monitorTarget{pid: child.pid})
	child.addWatcher(ref, watcher{by: p.pid})
	return nil
}

// addWatcher records a monitor w.by holds on p; false if p has exited.
func (p *Process) addWatcher(ref Ref, w watcher) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitedLocked() {
		return false
	}
	p.putWatcher(ref, w)
	return true
}

// dropWatcher forgets the monitor ref another process held on p.
func (p *Process) dropWatcher(ref Ref) {
	p.mu.Lock()
	delete(p.rels().watchers, ref)
	p.mu.Unlock()
}

// fireMonitor ends the monitor ref p holds, which fired with reason, and
// delivers its Down (nothing when the monitor is gone, or another fire
// of it is delivering). It is an effect itself, called with no lock
// held: the Down goes into the mailbox while the monitor is still in the
// table, marked firing, and the monitor leaves it only then. So a
// Demonitor that finds the monitor gone knows its Down, if any, is in
// the mailbox for its flush (see demonitor), and the mailbox's lock is
// never taken under p.mu.
func (p *Process) fireMonitor(ref Ref, reason Term) {
	p.mu.Lock()
	r := p.rels()
	m, ok := r.monitors[ref]
	if !ok || m.firing {
		p.mu.Unlock()
		return
	}
	m.firing = true
	r.monitors[ref] = m
	p.mu.Unlock()
	d := Down{Ref: ref, Pid: m.pid, Reason: reason}
	if m.name != "" {
		d.Name, d.Node = m.name, m.node
	}
	p.deliver(d)
	p.mu.Lock()
	delete(p.rels().monitors, ref)
	p.mu.Unlock()
}

// demonitor ends the monitor ref p holds, as Demonitor asks: it owes the
// target the monitor's end (nothing when the monitor is already gone).
// When the monitor is firing it waits for the Down to be delivered, so
// that the caller's flush (flushDown, after this) removes it.
func (p *Process) demonitor(ref Ref) effects {
	var e effects
	for {
		p.mu.Lock()
		m, ok := p.rels().monitors[ref]
		if ok && m.firing {
			// A Down on its way into the mailbox: a push away.
			p.mu.Unlock()
			runtime.Gosched()
			continue
		}
		delete(p.rels().monitors, ref)
		p.mu.Unlock()
		if ok {
			e.add(signal{kind: sigDemonitor, from: p.pid, mon: m, ref: ref})
		}
		return e
	}
}

// monitorRacedExit ends a monitor that raced with p's own exit, as
// linkRacedExit does a link: monitor records the monitor on p's side
// first, then on the target's; an Exit in between ends it on the target
// before the target holds it, and the target keeps a monitor of a dead
// process. So once the target has it (locally: recorded; remotely: the
// MONITOR_P queued on the connection, which keeps order), a p that has
// exited by now ends it again. Ending a monitor the target no longer
// holds does nothing.
func (p *Process) monitorRacedExit(m monitorTarget, ref Ref) {
	p.mu.Lock()
	exited := p.exitedLocked()
	p.mu.Unlock()
	if exited {
		p.node.endMonitor(p.node.ctx, p.pid, m, ref)
	}
}

// dropMonitor forgets the monitor ref p holds, owing nothing (a spawn
// request that got no process).
func (p *Process) dropMonitor(ref Ref) {
	p.mu.Lock()
	delete(p.rels().monitors, ref)
	p.mu.Unlock()
}

// spawnReplied records what the answer to p's spawn request ref set up
// on the new process pid: p's monitor now points at it (when p asked
// for one) and, with link, p is linked to it. When p has exited it
// records nothing and returns p's exit reason.
func (p *Process) spawnReplied(ref Ref, pid Pid, linked bool) (exited Term) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitedLocked() {
		return p.reason
	}
	if m, ok := p.rels().monitors[ref]; ok {
		m.pid = pid
		p.putMonitor(ref, m)
	}
	if linked {
		p.putLink(pid, &link{})
	}
	return nil
}

// Aliases and names.

// addAlias records that p answers to the alias ref; false if p has
// exited.
func (p *Process) addAlias(ref Ref) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitedLocked() {
		return false
	}
	r := p.relsForUpdate()
	if r.aliases == nil {
		r.aliases = make(map[Ref]struct{})
	}
	r.aliases[ref] = struct{}{}
	return true
}

// dropAlias forgets the alias ref.
func (p *Process) dropAlias(ref Ref) {
	p.mu.Lock()
	delete(p.rels().aliases, ref)
	p.mu.Unlock()
}

// addNameLocked records that p is registered as name, unless it already
// has a name (returned, with false). p.mu must be held and p alive (the
// caller holds the process table's lock too).
func (p *Process) addNameLocked(name Atom) (has Atom, ok bool) {
	if r := p.rels(); len(r.names) > 0 {
		return r.names[0], false
	}
	r := p.relsForUpdate()
	r.names = append(r.names, name)
	return "", true
}

// dropName forgets that p is registered as name.
func (p *Process) dropName(name Atom) {
	p.mu.Lock()
	if p.ext != nil {
		p.ext.names = removeAtom(p.ext.names, name)
	}
	p.mu.Unlock()
}

// namesCopy returns the names p is registered under.
func (p *Process) namesCopy() []Atom {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.rels().names) == 0 {
		return nil
	}
	return append([]Atom(nil), p.rels().names...)
}

// Exit and a lost connection.

// exitRels ends p with reason and takes its tables: the names and
// aliases the process table must forget, and the signals its links,
// watchers and monitors are owed. ok is false when p had already exited
// (the first reason stays).
func (p *Process) exitRels(reason Term) (names []Atom, aliases map[Ref]struct{}, e effects, ok bool) {
	p.mu.Lock()
	if p.exitedLocked() {
		p.mu.Unlock()
		return nil, nil, e, false
	}
	p.reason = reason
	r := p.ext
	p.ext = nil
	p.mu.Unlock()
	if r == nil {
		return nil, nil, e, true
	}
	p.node.remotes.remove(p, r.nodes)
	e.gone, e.goneFrom, e.goneReason = r, p.pid, reason
	return r.names, r.aliases, e, true
}

// remoteIndex is the node's index of its processes by the other nodes
// they have links or monitors with (either way): what a lost connection
// to a node must visit. A process may be listed under a node it no
// longer has a relation with (it unlinked); never missing from one it
// has.
type remoteIndex struct {
	mu     sync.Mutex
	byNode map[Atom]map[*Process]struct{}
}

func (x *remoteIndex) add(node Atom, p *Process) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.byNode == nil {
		x.byNode = make(map[Atom]map[*Process]struct{})
	}
	set := x.byNode[node]
	if set == nil {
		set = make(map[*Process]struct{})
		x.byNode[node] = set
	}
	set[p] = struct{}{}
}

// remove takes p out of the index under nodes (an exiting process).
func (x *remoteIndex) remove(p *Process, nodes []Atom) {
	if len(nodes) == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, node := range nodes {
		if set := x.byNode[node]; set != nil {
			delete(set, p)
			if len(set) == 0 {
				delete(x.byNode, node)
			}
		}
	}
}

// take removes and returns the processes listed under node.
func (x *remoteIndex) take(node Atom) map[*Process]struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	set := x.byNode[node]
	delete(x.byNode, node)
	return set
}

// len returns how many nodes the index lists processes under (tests).
func (x *remoteIndex) len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.byNode)
}

// nodeDown fires what a lost connection to node ends: links to processes
// there get exit signals noconnection, monitors on them a Down with
// noconnection, and monitors held from there are forgotten. It visits
// only the processes the remotes index lists under node.
func (n *Node) nodeDown(node Atom) {
	for p := range n.remotes.take(node) {
		e := p.lostNode(node)
		n.apply(n.ctx, &e)
	}
}

// lostNode takes what p had with node out of its tables, the connection
// to node being lost: it owes p a Down (noconnection) per monitor on a
// process there (fired by fireMonitor, which takes the monitor out) and
// a link exit signal (noconnection) per link.
func (p *Process) lostNode(node Atom) effects {
	local := p.node.name
	var e effects
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.rels()
	for i, have := range r.nodes {
		if have == node {
			r.nodes = append(r.nodes[:i], r.nodes[i+1:]...)
			break
		}
	}
	for ref, m := range r.monitors {
		if m.remoteNode(local) == node {
			e.add(signal{kind: sigFire, proc: p, ref: ref, reason: ReasonNoConnection})
		}
	}
	for pid, l := range r.links {
		if pid.Node == node {
			delete(r.links, pid)
			if l.unlinkID == 0 {
				e.add(signal{kind: sigLinkGone, proc: p, from: pid, reason: ReasonNoConnection})
			}
		}
	}
	for ref, w := range r.watchers {
		if w.by.Node == node {
			delete(r.watchers, ref)
		}
	}
	return e
}
