package rpc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
)

// Client makes RPCs from one node. Get one with NewClient, or from the
// node's Server with Server.Client (which also serves calls to the node's
// own name). It is safe for concurrent use.
type Client struct {
	node    *distribute.Node
	server  *Server // serves calls to node's own name; nil for NewClient
	metrics *clientMetrics
}

// NewClient returns a client that makes RPCs from node. A call to node's
// own name fails with notsup (ErrNotSup): use the Client of node's
// Server for those. Make one and keep it: it builds its metric
// instruments (a few dozen allocations), which a call then only records
// to.
func NewClient(node *distribute.Node) *Client {
	return &Client{node: node, metrics: newClientMetrics(node)}
}

// Call runs module:function(args...) on node, a BEAM or Go node, from the
// local node, and returns its result, as erpc:call does. It sends a spawn
// request of erpc:execute_call/4 with a monitor; the result comes back as
// the exit reason of the remote process.
//
// Errors:
//   - *Error: the function raised (throw, error, exit) or its process was
//     killed; errors.Is(err, ErrRaised), ErrUndef for an unknown function,
//     ErrBadArg for error:badarg;
//   - *CallError with Reason timeout when ctx's deadline passes
//     (errors.Is(err, distribute.ErrTimeout)); the call is abandoned and
//     its late result is dropped, it never reaches a mailbox;
//   - *CallError with Reason noconnection when node cannot be reached or
//     is lost during the call (errors.Is(err, distribute.ErrNodeDown)), at
//     once;
//   - *CallError with Reason notsup when node serves no RPC (ErrNotSup),
//     or another reason the node refused the spawn with.
//
// A call to the local node's own name runs the handler registered on the
// client's Server, in a process of its own; a client made by NewClient
// has no Server and answers notsup.
//
// The latency of every Call is recorded in the node's
// distribute.rpc.duration histogram (see Node.Meter). A correlation id in
// ctx (distribute.WithCorrelationID) travels with the call, in the
// ResRef argument of erpc:execute_call/4: [ResRef | {'$correlation_id',
// <<Id>>}], which Erlang's erpc passes through untouched and a Go Server
// puts in the handler's ctx.
func (c *Client) Call(ctx context.Context, node, module, function etf.Atom, args ...etf.Term) (etf.Term, error) {
	start := time.Now()
	v, err := c.call(ctx, node, module, function, args)
	c.metrics.record(ctx, time.Since(start), err)
	return v, err
}

func (c *Client) call(ctx context.Context, node, module, function etf.Atom, args []etf.Term) (etf.Term, error) {
	if args == nil {
		args = []etf.Term{}
	}
	local := c.node
	if node == local.Name() {
		return c.callLocal(ctx, module, function, args)
	}
	p, err := local.NewProcess()
	if err != nil {
		return nil, fmt.Errorf("rpc: call to %s: %w", node, err)
	}
	// Exiting the per-call process drops whatever would arrive late (a
	// spawn reply or result after a timeout) and ends the monitor.
	defer p.Exit(distribute.ReasonNormal)
	var resRef etf.Term = local.MakeRef()
	if ct := distribute.CorrelationTerm(ctx); ct != nil {
		resRef = etf.ImproperList{Elems: []etf.Term{resRef}, Tail: ct}
	}
	reqRef, err := p.SpawnRequest(ctx, node, "erpc", "execute_call",
		[]etf.Term{resRef, module, function, etf.List(args)}, distribute.SpawnOptions{Monitor: true})
	if err != nil {
		return nil, fmt.Errorf("rpc: call to %s: %w", node, err)
	}
	match := func(m any) bool {
		switch x := m.(type) {
		case distribute.SpawnReply:
			return x.Ref == reqRef
		case distribute.Down:
			return x.Ref == reqRef
		}
		return false
	}
	for {
		m, err := p.ReceiveMatch(ctx, match)
		if err != nil {
			return nil, ctxError(ctx, node, err)
		}
		switch x := m.(type) {
		case distribute.SpawnReply:
			if x.Err != nil {
				if ctx.Err() != nil {
					// The deadline passed while connecting.
					return nil, ctxError(ctx, node, x.Err)
				}
				return nil, spawnError(node, x.Err)
			}
		case distribute.Down:
			return callResult(node, resRef, x.Reason)
		}
	}
}

// ctxError is the error of a call whose ctx ended.
func ctxError(ctx context.Context, node etf.Atom, err error) error {
	if ctx.Err() == nil {
		return fmt.Errorf("rpc: call to %s: %w", node, err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &CallError{Node: node, Reason: etf.Atom("timeout"), Err: ctx.Err()}
	}
	return fmt.Errorf("rpc: call to %s: %w", node, ctx.Err())
}

func spawnError(node etf.Atom, err error) error {
	var se *distribute.SpawnError
	if errors.As(err, &se) {
		return &CallError{Node: node, Reason: se.Reason, Err: err}
	}
	return &CallError{Node: node, Reason: etf.Atom("noconnection"), Err: err}
}

// callResult maps the exit reason of erpc:execute_call/4 to Call's result,
// as erpc:call does.
func callResult(node etf.Atom, resRef etf.Term, reason etf.Term) (etf.Term, error) {
	if t, ok := reason.(etf.Tuple); ok && len(t) >= 3 {
		if etf.Equal(t[0], resRef) {
			switch {
			case len(t) == 3 && t[1] == classReturn:
				return t[2], nil
			case len(t) == 3 && t[1] == ClassThrow:
				return nil, &Error{Class: ClassThrow, Reason: t[2]}
			case len(t) == 3 && t[1] == ClassExit:
				return nil, &Error{Class: ClassExit, Reason: t[2]}
			case len(t) == 4 && t[1] == ClassError:
				return nil, &Error{Class: ClassError, Reason: t[2], Stack: t[3]}
			case len(t) == 3 && t[1] == ClassError:
				if e, ok := t[2].(etf.Tuple); ok && len(e) == 2 && e[0] == etf.Atom("erpc") {
					return nil, &CallError{Node: node, Reason: e[1]}
				}
			}
		}
	}
	if reason == distribute.ReasonNoConnection {
		return nil, &CallError{Node: node, Reason: reason, Err: distribute.ErrNodeDown}
	}
	return nil, &Error{Class: ClassExit, Reason: reason, Signal: true}
}

// callLocal runs a call to the local node on its Server, in a process
// of its own as a remote call would be: the handler's ctx ends when the
// caller's does, and when the node stops (which waits for it).
func (c *Client) callLocal(ctx context.Context, module, function etf.Atom, args []etf.Term) (etf.Term, error) {
	local, s := c.node, c.server
	if s == nil {
		return nil, &CallError{Node: local.Name(), Reason: etf.Atom("notsup")}
	}
	done := make(chan outcome, 1)
	w, err := local.Spawn(func(pctx context.Context, _ *distribute.Process) error {
		// The caller's values (its correlation id) and deadline; ended
		// by the caller's ctx or the process's, whichever ends first.
		hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		if dl, ok := ctx.Deadline(); ok {
			cancel()
			hctx, cancel = context.WithDeadline(context.WithoutCancel(ctx), dl)
		}
		defer cancel()
		defer context.AfterFunc(ctx, cancel)()
		defer context.AfterFunc(pctx, cancel)()
		done <- s.apply(hctx, module, function, etf.List(args))
		return nil
	})
	if err != nil { // the node stops
		return nil, &CallError{Node: local.Name(), Reason: etf.Atom("noconnection"), Err: err}
	}
	select {
	case o := <-done:
		return o.result()
	case <-w.Done():
		select {
		case o := <-done: // it returned just before it ended
			return o.result()
		default: // the node stopped and ended it
			return nil, &CallError{Node: local.Name(), Reason: etf.Atom("noconnection"), Err: distribute.ErrClosed}
		}
	case <-ctx.Done():
		return nil, ctxError(ctx, local.Name(), ctx.Err())
	}
}

// result is what a call that ran to o returns.
func (o outcome) result() (etf.Term, error) {
	if o.class == classReturn {
		return o.value, nil
	}
	return nil, &Error{Class: o.class, Reason: o.value, Stack: o.stack}
}

// Cast runs module:function(args...) on node without waiting for it, as
// erpc:cast does (a spawn request of erpc:execute_cast/3). It returns an
// error wrapping distribute.ErrNodeDown when node cannot be reached; any
// failure of the function itself is not reported.
func (c *Client) Cast(ctx context.Context, node, module, function etf.Atom, args ...etf.Term) error {
	if args == nil {
		args = []etf.Term{}
	}
	local := c.node
	if node == local.Name() {
		s := c.server
		if s == nil {
			return &CallError{Node: node, Reason: etf.Atom("notsup")}
		}
		s.spawnApply(module, function, etf.List(args), "", nil)
		return nil
	}
	if err := local.Connect(ctx, node); err != nil {
		if ctx.Err() != nil {
			return ctxError(ctx, node, err)
		}
		return &CallError{Node: node, Reason: etf.Atom("noconnection"), Err: err}
	}
	p, err := local.NewProcess()
	if err != nil {
		return fmt.Errorf("rpc: cast to %s: %w", node, err)
	}
	// The spawn reply arrives after the process exits and is dropped.
	defer p.Exit(distribute.ReasonNormal)
	if _, err := p.SpawnRequest(ctx, node, "erpc", "execute_cast",
		[]etf.Term{module, function, etf.List(args)}, distribute.SpawnOptions{}); err != nil {
		return fmt.Errorf("rpc: cast to %s: %w", node, err)
	}
	return nil
}
