package distribute

import "sync"

// This file owns what links a process to others (procRels) as far as a
// lost connection is concerned: the relation tables of a process, the
// insertion of links, monitors and watchers (put*), and the per-node
// index of processes with relations to another node, which makes a lost
// connection cost the processes it affects rather than the node's size.
//
// Locks: a process's relations are guarded by its mu. The index has its
// own mutex, taken while a process's mu is held (p.mu, then
// remotes.mu), never the other way round: nodeDown takes the index's
// set out under remotes.mu, releases it, and only then locks each
// process.

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

// rels returns the process's links, monitors, aliases and names for reading
// or deleting from; p.mu must be held.
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
		var linked []Pid
		var downs []Ref
		p.mu.Lock()
		r := p.rels()
		for i, have := range r.nodes {
			if have == node {
				r.nodes = append(r.nodes[:i], r.nodes[i+1:]...)
				break
			}
		}
		for pid, l := range r.links {
			if pid.Node == node {
				delete(r.links, pid)
				if l.unlinkID == 0 {
					linked = append(linked, pid)
				}
			}
		}
		for ref, m := range r.monitors {
			if m.remoteNode(n.name) == node {
				downs = append(downs, ref)
			}
		}
		for ref, w := range r.watchers {
			if w.by.Node == node {
				delete(r.watchers, ref)
			}
		}
		p.mu.Unlock()
		for _, ref := range downs {
			p.fireDown(ref, ReasonNoConnection)
		}
		for _, pid := range linked {
			// The link is already removed: apply the signal directly.
			p.exitSignalNoLink(pid, ReasonNoConnection)
		}
	}
}

// exitSignalNoLink applies a link exit whose link entry is already gone.
func (p *Process) exitSignalNoLink(from Pid, reason Term) {
	switch {
	case p.hasFlag(flagTrapExit):
		p.deliver(Exit{From: from, Reason: reason})
	case reason == ReasonNormal:
	default:
		p.Exit(reason)
	}
}
