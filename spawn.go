package distribute

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"

	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
)

// SpawnRequest is a peer's request to run a function in a new process on
// this node: what Erlang's spawn/4, spawn_request/5, erpc and rpc:call
// send (SPAWN_REQUEST).
type SpawnRequest struct {
	// From is the requesting process.
	From Pid
	// Module, Function and Args name the function to run; len(Args) is its
	// arity.
	Module, Function Atom
	Args             []Term
	// Link and Monitor tell whether the requester linked to or monitors
	// the new process (already set up when the handler runs).
	Link, Monitor bool
}

// SpawnHandler runs a spawn request in the new process p. Its return value
// is p's exit reason, which the requester's monitor (erpc's result
// channel) receives. A panic exits p with reason {panic, Text}.
type SpawnHandler func(ctx context.Context, p *Process, req SpawnRequest) Term

// spawnHandler holds the installed SpawnHandler (nil: refuse with notsup).
type spawnHandler struct{ h atomic.Pointer[SpawnHandler] }

// HandleSpawn installs h to serve every spawn request from peers (the rpc
// package installs one). With no handler, requests are refused with
// notsup, which Erlang reports as {erpc, notsup} / {badrpc, notsup}.
func (n *Node) HandleSpawn(h SpawnHandler) {
	if h == nil {
		n.spawn.h.Store(nil)
		return
	}
	n.spawn.h.Store(&h)
}

// handleSpawnRequest answers a SPAWN_REQUEST: it creates the process, sets
// up the requested link and monitor, replies with the pid, then runs the
// handler in the process.
func (n *Node) handleSpawnRequest(p *peer, in *dist.In) {
	from, args := in.FromPid, in.Payload
	refuse := func(reason Atom) {
		n.reply(p, dist.SpawnReply(in.ID, from, 0, reason))
	}
	hp := n.spawn.h.Load()
	if hp == nil {
		refuse("notsup")
		return
	}
	req := SpawnRequest{From: from}
	var ok1, ok2 bool
	req.Module, ok1 = in.MFA[0].(Atom)
	req.Function, ok2 = in.MFA[1].(Atom)
	arity, ok3 := in.MFA[2].(int64)
	argList, ok4 := listElems(args)
	if !ok1 || !ok2 || !ok3 || !ok4 || int64(len(argList)) != arity {
		refuse("badarg")
		return
	}
	req.Args = argList
	opts, ok := listElems(in.Opts)
	if !ok {
		refuse("badopt")
		return
	}
	for _, o := range opts {
		switch o {
		case Atom("link"):
			req.Link = true
		case Atom("monitor"):
			req.Monitor = true
		default:
			// Other options (priority, heap sizes, ...) mean nothing to a
			// Go process; Erlang accepts them, so do we.
		}
	}
	ref, isRef := in.ID.(Ref)
	if req.Monitor && !isRef {
		refuse("badarg")
		return
	}
	proc, err := n.newProcess()
	if err != nil {
		refuse("notalive")
		return
	}
	flags := int64(0)
	if req.Link {
		proc.addLink(from)
		flags |= 1
	}
	if req.Monitor {
		proc.addWatcher(ref, watcher{by: from})
		flags |= 2
	}
	handler, id := *hp, in.ID
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		// The reply goes out before anything the new process sends. It is
		// deferred: a short call's result (its exit, a DOWN) carries it in
		// the same write; a longer one sends it within dist.DeferDelay.
		if err := p.w.SignalDeferred(n.ctx, dist.SpawnReply(id, from, flags, proc.pid)); err != nil {
			n.logger.Debug("spawn reply not sent", "peer", p.name, "err", err)
		}
		defer proc.Exit(reasonGoexit) // after a runtime.Goexit; else a no-op
		proc.Exit(runSpawned(proc, handler, req))
	}()
}

func runSpawned(p *Process, h SpawnHandler, req SpawnRequest) (reason Term) {
	defer func() {
		if r := recover(); r != nil {
			p.node.logger.Error("spawned process panicked", "pid", p.pid, "mfa", fmt.Sprintf("%s:%s/%d", req.Module, req.Function, len(req.Args)), "panic", r, "stack", string(debug.Stack()))
			reason = etf.Tuple{Atom("panic"), etf.Binary(fmt.Sprint(r))}
		}
	}()
	return h(p.Context(), p, req)
}

// listElems returns the elements of a proper list term.
func listElems(t Term) ([]Term, bool) {
	switch l := t.(type) {
	case etf.List:
		return l, true
	case etf.CharList:
		elems := make([]Term, 0, len(l))
		for _, r := range string(l) {
			elems = append(elems, int64(r))
		}
		return elems, true
	}
	return nil, false
}

// SpawnOptions are the options of Process.SpawnRequest.
type SpawnOptions struct {
	// Link links the requester to the new process.
	Link bool
	// Monitor makes the requester monitor the new process: its exit
	// arrives as a Down whose Ref is the request's.
	Monitor bool
}

// SpawnReply is the message a process receives when a SpawnRequest it
// made is answered: the new process's pid, or Err (a *SpawnError).
type SpawnReply struct {
	Ref Ref
	Pid Pid
	Err error
}

// SpawnError is a refused spawn request, with Erlang's reason (notsup,
// badarg, badopt, noconnection, ...).
type SpawnError struct {
	Reason Term
}

func (e *SpawnError) Error() string {
	return "distribute: spawn refused: " + etf.FormatLimit(e.Reason, etf.LogTextMax)
}

// ErrSpawnRefused is matched by every *SpawnError.
var ErrSpawnRefused = errors.New("distribute: spawn refused")

// Is reports whether target is ErrSpawnRefused, or ErrNodeDown for a
// noconnection refusal.
func (e *SpawnError) Is(target error) bool {
	return target == ErrSpawnRefused || (target == ErrNodeDown && e.Reason == ReasonNoConnection)
}

// SpawnRequest asks node to run Module:Function(Args...) in a new process,
// as erlang:spawn_request/5. It returns the request's reference at once;
// the answer arrives as a SpawnReply message with that Ref, and with
// Monitor, the new process's exit arrives as a Down with the same Ref.
// If the node cannot be reached, the SpawnReply carries the error.
func (p *Process) SpawnRequest(ctx context.Context, node, module, function Atom, args []Term, opts SpawnOptions) (Ref, error) {
	n := p.node
	ref := n.MakeRef()
	var optList etf.List
	if opts.Link {
		optList = append(optList, Atom("link"))
	}
	if opts.Monitor {
		optList = append(optList, Atom("monitor"))
		// The pid is not known yet: the node is, which is what noconnection needs.
		if err := p.addMonitorRef(ref, monitorTarget{pid: Pid{Node: node}}); err != nil {
			return Ref{}, err
		}
	}
	if err := p.sendControl(ctx, node, dist.SpawnRequest(ref, p.pid, p.pid, module, function, args, optList)); err != nil {
		p.spawnFailed(ref, ReasonNoConnection)
		return ref, nil
	}
	return ref, nil
}

// spawnFailed ends a spawn request that got no process.
func (p *Process) spawnFailed(ref Ref, reason Term) {
	p.dropMonitor(ref)
	p.deliver(SpawnReply{Ref: ref, Err: &SpawnError{Reason: reason}})
}

// handleSpawnReply delivers the answer to a spawn request this node made.
func (n *Node) handleSpawnReply(c *dist.In) {
	to, ok := c.To.(Pid)
	ref, isRef := c.ID.(Ref)
	if !ok || !isRef {
		return
	}
	pid, ok := c.Result.(Pid)
	t := n.lookup(to)
	if t == nil {
		if ok {
			n.abandonSpawn(to, pid, ref, c.Flags, ReasonNoProc)
		}
		return
	}
	if !ok {
		t.spawnFailed(ref, c.Result)
		return
	}
	if reason := t.spawnReplied(ref, pid, c.Flags&1 != 0); reason != nil {
		n.abandonSpawn(to, pid, ref, c.Flags, reason)
		return
	}
	t.deliver(SpawnReply{Ref: ref, Pid: pid})
}

// abandonSpawn undoes what a spawn reply set up for a requester that has
// exited since it asked: the new process is linked to it (flag 1) and
// monitored by it (flag 2), and nobody here will ever end either. The
// link gets the requester's exit signal (noproc when its reason is gone
// with it), as a link to a dead process does; the monitor is removed.
func (n *Node) abandonSpawn(from, pid Pid, ref Ref, flags int64, reason Term) {
	if flags&1 != 0 {
		n.sendLinkExit(n.ctx, from, pid, reason)
	}
	if flags&2 != 0 {
		n.sendDemonitor(n.ctx, from, monitorTarget{pid: pid}, ref)
	}
}
