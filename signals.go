package distribute

import (
	"context"
	"fmt"

	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
)

// Exit ends the process with reason, as if its function had returned it:
// the mailbox closes, its names are freed, linked processes get an exit
// signal and monitoring processes a Down. Exit is idempotent: the first
// reason stays.
func (p *Process) Exit(reason Term) {
	if reason == nil {
		reason = ReasonNormal
	}
	p.mu.Lock()
	if p.exitedLocked() {
		p.mu.Unlock()
		return
	}
	p.reason = reason
	r := p.rels()
	links, watchers, monitors, aliases, names := r.links, r.watchers, r.monitors, r.aliases, r.names
	nodes := r.nodes
	p.ext = nil
	p.mu.Unlock()
	p.node.remotes.remove(p, nodes)

	p.mbox.close()
	n := p.node
	n.forgetNodeMonitors(p)
	t := n.procs
	t.mu.Lock()
	delete(t.byID, p.pid.ID)
	for _, name := range names {
		if t.names[name] == p {
			delete(t.names, name)
		}
	}
	for ref := range aliases {
		delete(t.alias, ref)
	}
	t.mu.Unlock()
	// Done: the name is free again, so a restart under it may follow.
	p.closeDone()

	ctx := n.ctx
	for pid, l := range links {
		if l.unlinkID != 0 {
			continue // we were unlinking: the link is gone
		}
		n.sendLinkExit(ctx, p.pid, pid, reason)
	}
	for ref, w := range watchers {
		n.sendDown(ctx, p.pid, w, ref, reason)
	}
	for ref, m := range monitors {
		if m.name == "" && m.pid.ID == 0 && m.pid.Node != n.name {
			continue // a spawn request not answered yet: no remote monitor to end
		}
		if m.node != "" && m.node != n.name || m.pid.Node != "" && m.pid.Node != n.name {
			n.sendDemonitor(ctx, p.pid, m, ref)
			continue
		}
		if target := n.monitorTargetProcess(m); target != nil {
			target.mu.Lock()
			delete(target.rels().watchers, ref)
			target.mu.Unlock()
		}
	}
}

// Kill sends pid the untrappable exit signal kill, as exit(Pid, kill): the
// process exits with reason killed.
func (p *Process) Kill(ctx context.Context, pid Pid) error {
	return p.SendExit(ctx, pid, ReasonKill)
}

// SendExit sends pid an exit signal with reason, as erlang:exit/2: a
// process that traps exits receives it as an Exit message; otherwise any
// reason but normal ends it, and kill ends it even when it traps exits.
func (p *Process) SendExit(ctx context.Context, pid Pid, reason Term) error {
	if pid.Node != p.node.name {
		return p.sendControl(ctx, pid.Node, dist.PayloadExit2(p.pid, pid, reason))
	}
	if target := p.node.lookup(pid); target != nil {
		target.exitSignal(p.pid, reason, false)
	}
	return nil
}

// sendLinkExit sends the exit signal of a link from a process that exits.
// To another node it goes only over a connection that is up: when that is
// gone, so is the link (noconnection), and dialing again would only
// reconnect a node for a signal about a link it has dropped.
func (n *Node) sendLinkExit(ctx context.Context, from, to Pid, reason Term) {
	if to.Node != n.name {
		n.signal(ctx, to.Node, dist.PayloadExit(from, to, reason))
	} else if target := n.lookup(to); target != nil {
		target.exitSignal(from, reason, true)
	}
}

// exitSignal applies an exit signal that reached this process.
func (p *Process) exitSignal(from Pid, reason Term, fromLink bool) {
	if fromLink {
		p.mu.Lock()
		l, linked := p.rels().links[from]
		if linked && l.unlinkID == 0 {
			delete(p.rels().links, from)
		}
		p.mu.Unlock()
		if !linked || l.unlinkID != 0 {
			return // no active link: the signal is stale
		}
	}
	switch {
	case !fromLink && reason == ReasonKill:
		p.Exit(ReasonKilled)
	case p.hasFlag(flagTrapExit):
		p.deliver(Exit{From: from, Reason: reason})
	case reason == ReasonNormal && from != p.pid:
		// normal exit signals are ignored by processes that do not trap
	default:
		p.Exit(reason)
	}
}

// Link links the process to pid, as erlang:link/1: when either exits, the
// other gets an exit signal with the reason. Linking to a local process that
// does not exist returns an error wrapping ErrNoProc; for a remote one, the
// noproc exit signal arrives later, as in Erlang. When pid's node cannot be
// reached, the error wraps ErrNodeDown and no link is made.
func (p *Process) Link(ctx context.Context, pid Pid) error {
	if pid == p.pid {
		return nil
	}
	p.mu.Lock()
	if p.exitedLocked() {
		p.mu.Unlock()
		return errDead
	}
	p.putLink(pid, &link{})
	p.mu.Unlock()

	n := p.node
	if pid.Node != n.name {
		err := p.sendControl(ctx, pid.Node, dist.Link(p.pid, pid))
		if err != nil {
			p.mu.Lock()
			delete(p.rels().links, pid)
			p.mu.Unlock()
			return err
		}
		p.linkRacedExit(pid)
		return nil
	}
	target := n.lookup(pid)
	if target == nil || !target.addLink(p.pid) {
		p.mu.Lock()
		delete(p.rels().links, pid)
		p.mu.Unlock()
		return fmt.Errorf("distribute: link %v: %w", pid, ErrNoProc)
	}
	p.linkRacedExit(pid)
	return nil
}

// linkRacedExit ends a Link that raced with p's own exit. Link records the
// link on p's side first, then on the target's; an Exit in between sends
// the link's exit signal before the target holds the link, and the target
// drops it as stale, staying linked to a dead pid. So once the target has
// the link (locally: recorded; remotely: the LINK queued on the
// connection, which keeps order), a p that has exited by now sends the
// signal again. A target that got the first one holds no link any more and
// drops this one.
func (p *Process) linkRacedExit(to Pid) {
	p.mu.Lock()
	reason := p.reason
	p.mu.Unlock()
	if reason != nil {
		p.node.sendLinkExit(p.node.ctx, p.pid, to, reason)
	}
}

// addLink records a link from another process; false if this one is dead.
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

// Unlink removes the link to pid, as erlang:unlink/1. Exit signals from pid
// that were already in flight are ignored.
func (p *Process) Unlink(ctx context.Context, pid Pid) error {
	n := p.node
	p.mu.Lock()
	_, linked := p.rels().links[pid]
	var id uint64
	if linked && pid.Node != n.name {
		id = n.nextUnlinkID.Add(1)
		p.rels().links[pid].unlinkID = id
	} else {
		delete(p.rels().links, pid)
	}
	p.mu.Unlock()
	if !linked {
		return nil
	}
	if pid.Node != n.name {
		return p.sendControl(ctx, pid.Node, dist.Unlink(id, p.pid, pid))
	}
	if target := n.lookup(pid); target != nil {
		target.mu.Lock()
		delete(target.rels().links, p.pid)
		target.mu.Unlock()
	}
	return nil
}

// Monitor starts monitoring pid, as erlang:monitor(process, Pid): when it
// exits (or does not exist, or its node is lost) this process receives a
// Down with the returned Ref.
func (p *Process) Monitor(ctx context.Context, pid Pid) (Ref, error) {
	return p.monitor(ctx, monitorTarget{pid: pid})
}

// MonitorName monitors the process registered as name on node (the local
// node if node is empty), as erlang:monitor(process, {Name, Node}).
func (p *Process) MonitorName(ctx context.Context, name, node Atom) (Ref, error) {
	if node == "" {
		node = p.node.name
	}
	return p.monitor(ctx, monitorTarget{name: name, node: node})
}

func (p *Process) monitor(ctx context.Context, m monitorTarget) (Ref, error) {
	n := p.node
	ref, err := p.addMonitor(m)
	if err != nil {
		return Ref{}, err
	}
	if remote := m.remoteNode(n.name); remote != "" {
		if err := p.sendControl(ctx, remote, monitorCtrl(p.pid, m, ref)); err != nil {
			// The connection could not be made: the monitor fires at once.
			p.fireDown(ref, ReasonNoConnection)
		}
		return ref, nil
	}
	target := n.monitorTargetProcess(m)
	if target == nil || !target.addWatcher(ref, watcher{by: p.pid, as: m.name}) {
		p.fireDown(ref, ReasonNoProc)
	}
	return ref, nil
}

// addMonitor records a monitor held by p and returns its ref; the caller
// tells the target.
func (p *Process) addMonitor(m monitorTarget) (Ref, error) {
	ref := p.node.MakeRef()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitedLocked() {
		return Ref{}, errDead
	}
	p.putMonitor(ref, m)
	return ref, nil
}

// monitorCtrl is the MONITOR_P control message for a remote monitor.
func monitorCtrl(from Pid, m monitorTarget, ref Ref) dist.Out {
	return dist.MonitorP(from, m.term(), ref)
}

// term is the monitored process as MONITOR_P and DEMONITOR_P carry it:
// its pid, or its name for a monitor by name.
func (m monitorTarget) term() Term {
	if m.name != "" {
		return m.name
	}
	return m.pid
}

func (m monitorTarget) remoteNode(local Atom) Atom {
	if m.name != "" {
		if m.node != local {
			return m.node
		}
		return ""
	}
	if m.pid.Node != local {
		return m.pid.Node
	}
	return ""
}

// monitorTargetProcess returns the live local process a monitor points at.
func (n *Node) monitorTargetProcess(m monitorTarget) *Process {
	if m.name != "" {
		return n.whereis(m.name)
	}
	return n.lookup(m.pid)
}

func (p *Process) addWatcher(ref Ref, w watcher) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitedLocked() {
		return false
	}
	p.putWatcher(ref, w)
	return true
}

// fireDown ends the monitor ref held by p and delivers its Down.
func (p *Process) fireDown(ref Ref, reason Term) {
	p.mu.Lock()
	m, ok := p.rels().monitors[ref]
	delete(p.rels().monitors, ref)
	p.mu.Unlock()
	if !ok {
		return
	}
	d := Down{Ref: ref, Pid: m.pid, Reason: reason}
	if m.name != "" {
		d.Name, d.Node = m.name, m.node
	}
	p.deliver(d)
}

// Demonitor ends a monitor. A Down for it that was not yet received is
// removed from the mailbox, as erlang:demonitor(Ref, [flush]) does.
func (p *Process) Demonitor(ctx context.Context, ref Ref) error {
	p.demonitor(ctx, ref, true)
	return nil
}

// demonitor is Demonitor; with flush false it leaves a queued Down for
// the caller to drop (a call drops it with its late reply).
func (p *Process) demonitor(ctx context.Context, ref Ref, flush bool) {
	p.mu.Lock()
	m, ok := p.rels().monitors[ref]
	delete(p.rels().monitors, ref)
	p.mu.Unlock()
	if flush {
		p.flushDown(ref)
	}
	if !ok {
		return
	}
	n := p.node
	if m.remoteNode(n.name) != "" {
		n.sendDemonitor(ctx, p.pid, m, ref)
		return
	}
	if target := n.monitorTargetProcess(m); target != nil {
		target.mu.Lock()
		delete(target.rels().watchers, ref)
		target.mu.Unlock()
	}
}

// flushDown drops a queued Down for ref, if any.
func (p *Process) flushDown(ref Ref) {
	p.mbox.take(func(m any) bool {
		d, ok := m.(Down)
		return ok && d.Ref == ref
	})
}

// sendDemonitor ends a remote monitor from (a process that exits, or
// ends the monitor) held on m. It is a signal the node owes the peer: it
// never waits behind a full send buffer, whether from a live process or
// an exiting one; deferred, as nobody waits for it, so it goes out with
// the next write. Best effort: if the connection is gone, so is the
// remote monitor.
func (n *Node) sendDemonitor(ctx context.Context, from Pid, m monitorTarget, ref Ref) {
	remote := m.pid.Node
	if m.name != "" {
		remote = m.node
	}
	p := n.peerIfConnected(remote)
	if p == nil {
		return
	}
	if err := p.w.SignalDeferred(ctx, dist.DemonitorP(from, m.term(), ref)); err != nil {
		n.logger.Debug("demonitor not sent", "peer", remote, "err", err)
	}
}

// sendDown tells a watcher that the process it monitors exited.
func (n *Node) sendDown(ctx context.Context, from Pid, w watcher, ref Ref, reason Term) {
	if w.by.Node != n.name {
		var fromProc Term = from
		if w.as != "" {
			fromProc = w.as
		}
		n.signal(ctx, w.by.Node, dist.PayloadMonitorPExit(fromProc, w.by, ref, reason))
		return
	}
	if p := n.lookup(w.by); p != nil {
		p.fireDown(ref, reason)
	}
}

// MakeRef returns a new reference unique in the cluster.
func (n *Node) MakeRef() Ref {
	c := n.refCounter.Add(1)
	return Ref{
		Node: n.name, Creation: n.creation, Len: 3,
		ID: [etf.MaxRefWords]uint32{uint32(c) & 0x3ffff, uint32(c >> 18), n.refSalt},
	}
}
