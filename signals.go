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
	names, aliases, owed, ok := p.exitRels(reason)
	if !ok {
		return
	}
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

	// Linked processes get exit signals, watchers Downs, and the
	// monitors p held end.
	n.apply(n.ctx, &owed)
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
	if fromLink && !p.takeLink(from) {
		return // no active link: the signal is stale
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
	if err := p.linkOwn(pid); err != nil {
		return err
	}
	n := p.node
	if pid.Node != n.name {
		err := p.sendControl(ctx, pid.Node, dist.Link(p.pid, pid))
		if err != nil {
			p.dropLink(pid)
			return err
		}
		p.linkRacedExit(pid)
		return nil
	}
	target := n.lookup(pid)
	if target == nil || !target.addLink(p.pid) {
		p.dropLink(pid)
		return fmt.Errorf("distribute: link %v: %w", pid, ErrNoProc)
	}
	p.linkRacedExit(pid)
	return nil
}

// exitSignalNoLink applies a link exit whose link entry is already gone
// (a lost connection removed it).
func (p *Process) exitSignalNoLink(from Pid, reason Term) {
	switch {
	case p.hasFlag(flagTrapExit):
		p.deliver(Exit{From: from, Reason: reason})
	case reason == ReasonNormal:
	default:
		p.Exit(reason)
	}
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

// Unlink removes the link to pid, as erlang:unlink/1. Exit signals from pid
// that were already in flight are ignored.
func (p *Process) Unlink(ctx context.Context, pid Pid) error {
	n := p.node
	linked, id := p.startUnlink(pid)
	if !linked {
		return nil
	}
	if pid.Node != n.name {
		return p.sendControl(ctx, pid.Node, dist.Unlink(id, p.pid, pid))
	}
	if target := n.lookup(pid); target != nil {
		target.dropLink(p.pid)
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
		} else {
			p.monitorRacedExit(m, ref)
		}
		return ref, nil
	}
	target := n.monitorTargetProcess(m)
	if target == nil || !target.addWatcher(ref, watcher{by: p.pid, as: m.name}) {
		p.fireDown(ref, ReasonNoProc)
	} else {
		p.monitorRacedExit(m, ref)
	}
	return ref, nil
}

// monitorCtrl is the MONITOR_P control message for a remote monitor.
func monitorCtrl(from Pid, m monitorTarget, ref Ref) dist.Out {
	return dist.MonitorPOf(from, m.pid, m.name, ref)
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

// fireDown ends the monitor ref held by p and delivers its Down.
func (p *Process) fireDown(ref Ref, reason Term) { p.fireMonitor(ref, reason) }

// Demonitor ends a monitor. A Down for it that was not yet received is
// removed from the mailbox, as erlang:demonitor(Ref, [flush]) does.
func (p *Process) Demonitor(ctx context.Context, ref Ref) error {
	e := p.demonitor(ref)
	p.flushDown(ref)
	p.node.apply(ctx, &e)
	return nil
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
	if err := p.w.SignalDeferred(ctx, dist.DemonitorPOf(from, m.pid, m.name, ref)); err != nil {
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
