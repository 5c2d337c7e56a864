package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
)

// Handler is a Go function exported over RPC. args are the call's
// arguments (len(args) is the arity it was registered with, unless it was
// registered with AnyArity). It returns the result, or an error:
//
//   - an *Error raises its class (Throw, Exit, Raise build them);
//   - a *distribute.ExitError exits with its Reason;
//   - an error wrapping ErrBadArg raises error:badarg;
//   - any other error raises error:{error, <<Text>>}.
//
// ctx ends when the process running the handler is killed or the node
// stops; it carries the caller's correlation id when a Go caller sent one
// (distribute.CorrelationID). A nil result with a nil error returns ok. A panic raises
// error:{panic, <<Text>>} to the caller; the node goes on.
type Handler func(ctx context.Context, args []etf.Term) (etf.Term, error)

// AnyArity registers a handler for every arity of a function name.
const AnyArity = -1

type funcKey struct {
	module, function etf.Atom
	arity            int
}

// Server exports Go functions to RPC callers: Erlang's rpc:call,
// erpc:call, rpc:cast, erpc:cast, rpc:block_call and spawn/4, and a
// Client's Call and Cast on other Go nodes. It serves the spawn requests
// of the node (erpc's protocol) and runs the registered process rex (rpc's
// server).
type Server struct {
	node *distribute.Node
	rex  *distribute.Process

	mu    sync.RWMutex
	funcs map[funcKey]Handler

	client         *Client
	unregisterOnce sync.Once

	runMu   sync.Mutex    // protects running, idle
	running int           // handlers running
	idle    chan struct{} // closed when running drops to 0; nil while it is 0
}

// Config configures a Server. It has no settings yet: the zero Config
// is the default, and a field added later keeps that default at zero.
type Config struct{}

// Start starts serving RPC on node: it installs the node's spawn handler
// and registers the rex process. There is one Server per node; a second
// Start fails with ErrExists. The Server ends with Stop or when the node
// stops.
func Start(ctx context.Context, node *distribute.Node, cfg Config) (*Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &Server{node: node, funcs: make(map[funcKey]Handler)}
	s.client = &Client{node: node, server: s, metrics: newClientMetrics(node)}
	rex, err := node.Spawn(s.rexLoop)
	if err != nil {
		return nil, fmt.Errorf("rpc: start rex: %w", err)
	}
	if err := node.Register("rex", rex.Pid()); err != nil {
		s.unregisterOnce.Do(func() {}) // the spawn handler is another Server's
		rex.Exit(distribute.ReasonNormal)
		if errors.Is(err, distribute.ErrNameTaken) {
			return nil, fmt.Errorf("rpc: node %s already has a server: %w", node.Name(), ErrExists)
		}
		return nil, fmt.Errorf("rpc: register rex: %w", err)
	}
	s.rex = rex
	node.HandleSpawn(s.handleSpawn)
	return s, nil
}

// Stop stops serving: spawn requests are refused with notsup again and
// rex exits; Stop returns once it has ended, or with ctx's error. Calls
// in progress finish (Drain waits for them). It is idempotent.
func (s *Server) Stop(ctx context.Context) error {
	s.unregister()
	s.rex.Exit(distribute.ReasonNormal)
	select {
	case <-s.rex.Done():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("rpc: stop: %w", ctx.Err())
	}
}

// unregister uninstalls the server from its node, once.
func (s *Server) unregister() {
	s.unregisterOnce.Do(func() {
		s.node.HandleSpawn(nil)
	})
}

// Client returns a client whose calls to this node's own name are served
// by s.
func (s *Server) Client() *Client { return s.client }

// Register exports h as module:function/arity. arity is the number of
// arguments (0 to 255), or AnyArity. It fails with ErrExists when that
// function is already exported.
func (s *Server) Register(module, function etf.Atom, arity int, h Handler) error {
	if h == nil || arity < AnyArity || arity > 255 || module == "" || function == "" {
		return fmt.Errorf("rpc: register %s:%s/%d: %w", module, function, arity, ErrBadArg)
	}
	k := funcKey{module, function, arity}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.funcs[k]; ok {
		return fmt.Errorf("rpc: register %s:%s/%d: %w", module, function, arity, ErrExists)
	}
	s.funcs[k] = h
	return nil
}

// Running returns how many exported functions are running now (calls,
// casts and spawns being served).
func (s *Server) Running() int {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	return s.running
}

// Drain waits until no exported function runs, or ctx ends (it returns
// ctx's error). Calls that start meanwhile are waited for too: Drain does
// not refuse them. A node stopping gracefully calls it after it has left
// its cluster (cluster.Cluster.Drain), so that the calls in flight finish
// before the node stops and ends them.
func (s *Server) Drain(ctx context.Context) error {
	for {
		s.runMu.Lock()
		idle := s.idle
		s.runMu.Unlock()
		if idle == nil {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return fmt.Errorf("rpc: drain: %d still running: %w", s.Running(), ctx.Err())
		}
	}
}

func (s *Server) begin() {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	s.running++
	if s.idle == nil {
		s.idle = make(chan struct{})
	}
}

func (s *Server) end() {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.running--; s.running == 0 {
		close(s.idle)
		s.idle = nil
	}
}

// Unregister removes an export. It reports whether it existed.
func (s *Server) Unregister(module, function etf.Atom, arity int) bool {
	k := funcKey{module, function, arity}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.funcs[k]
	delete(s.funcs, k)
	return ok
}

func (s *Server) lookup(module, function etf.Atom, arity int) Handler {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if h, ok := s.funcs[funcKey{module, function, arity}]; ok {
		return h
	}
	return s.funcs[funcKey{module, function, AnyArity}]
}

// outcome is how an applied function ended: class "return" with value, or
// an exception of class throw, exit or error (with stack).
type outcome struct {
	class etf.Atom
	value etf.Term
	stack etf.Term
}

const classReturn etf.Atom = "return"

// apply runs M:F(Args) as erlang:apply/3 would, and never panics.
func (s *Server) apply(ctx context.Context, m, f, a etf.Term) outcome {
	module, ok1 := m.(etf.Atom)
	function, ok2 := f.(etf.Atom)
	args, ok3 := properList(a)
	if !ok1 || !ok2 || !ok3 {
		// apply/3 with a bad module, function or argument list.
		return outcome{class: ClassError, value: etf.Atom("badarg"),
			stack: etf.List{etf.Tuple{etf.Atom("erlang"), etf.Atom("apply"), etf.List{m, f, a}, etf.List{}}}}
	}
	h := s.lookup(module, function, len(args))
	if h == nil {
		return outcome{class: ClassError, value: etf.Atom("undef"),
			stack: etf.List{etf.Tuple{module, function, etf.List(args), etf.List{}}}}
	}
	return s.run(ctx, h, module, function, args)
}

func (s *Server) run(ctx context.Context, h Handler, module, function etf.Atom, args []etf.Term) (o outcome) {
	s.begin()
	defer s.end()
	defer func() {
		if r := recover(); r != nil {
			o = outcome{class: ClassError,
				value: etf.Tuple{etf.Atom("panic"), etf.Binary(fmt.Sprint(r))},
				stack: etf.List{etf.Tuple{module, function, int64(len(args)), etf.List{}}}}
		}
	}()
	v, err := h(ctx, args)
	if err == nil {
		if v == nil {
			v = etf.Atom("ok")
		}
		return outcome{class: classReturn, value: v}
	}
	defaultStack := func() etf.Term {
		return etf.List{etf.Tuple{module, function, int64(len(args)), etf.List{}}}
	}
	var e *Error
	if errors.As(err, &e) {
		o := outcome{class: e.Class, value: e.Reason}
		switch e.Class {
		case ClassThrow, ClassExit:
		case ClassError:
			o.stack = e.Stack
			if o.stack == nil {
				o.stack = defaultStack()
			}
		default:
			o = outcome{class: ClassError, value: etf.Tuple{etf.Atom("bad_class"), e.Class}, stack: defaultStack()}
		}
		return o
	}
	var xe *distribute.ExitError
	if errors.As(err, &xe) {
		return outcome{class: ClassExit, value: xe.Reason}
	}
	if errors.Is(err, ErrBadArg) {
		return outcome{class: ClassError, value: etf.Atom("badarg"),
			stack: etf.List{etf.Tuple{module, function, etf.List(args), etf.List{}}}}
	}
	return outcome{class: ClassError, value: etf.Tuple{etf.Atom("error"), etf.Binary(err.Error())}, stack: defaultStack()}
}

// properList returns the elements of a proper list term.
func properList(t etf.Term) ([]etf.Term, bool) {
	switch l := t.(type) {
	case etf.List:
		return l, true
	case etf.CharList:
		out := make([]etf.Term, 0, len(l))
		for _, r := range string(l) {
			out = append(out, int64(r))
		}
		return out, true
	}
	return nil, false
}

// handleSpawn serves the node's spawn requests: erpc:execute_call/4,
// erpc:execute_cast/3, and any other M:F/A as spawn/4 does.
func (s *Server) handleSpawn(ctx context.Context, p *distribute.Process, req distribute.SpawnRequest) etf.Term {
	if req.Module == "erpc" {
		switch {
		case req.Function == "execute_call" && len(req.Args) == 4:
			// exit({ResRef, Class, ...}): the requester's monitor gets it.
			ref := req.Args[0]
			ctx = callContext(ctx, ref)
			o := s.apply(ctx, req.Args[1], req.Args[2], req.Args[3])
			if o.class == ClassError {
				return etf.Tuple{ref, o.class, o.value, o.stack}
			}
			return etf.Tuple{ref, o.class, o.value}
		case req.Function == "execute_cast" && len(req.Args) == 3:
			o := s.apply(ctx, req.Args[0], req.Args[1], req.Args[2])
			return s.spawnExit(o, req.Args[0], req.Args[1], req.Args[2])
		}
	}
	o := s.apply(ctx, req.Module, req.Function, etf.List(req.Args))
	return s.spawnExit(o, req.Module, req.Function, etf.List(req.Args))
}

// callContext returns ctx with the correlation id a Go caller put in the
// ResRef of erpc:execute_call/4, [Ref | {'$correlation_id', <<Id>>}].
// Erlang callers send a plain reference: ctx is returned as is.
func callContext(ctx context.Context, resRef etf.Term) context.Context {
	l, ok := resRef.(etf.ImproperList)
	if !ok || len(l.Elems) != 1 {
		return ctx
	}
	if id, ok := distribute.ParseCorrelationTerm(l.Tail); ok {
		return distribute.WithCorrelationID(ctx, id)
	}
	return ctx
}

// spawnExit is the exit reason of a spawned process that ran M:F(A) with
// outcome o, as Erlang gives it: normal on return, the reason for exit,
// {Reason, Stack} for error, {{nocatch, Value}, Stack} for throw.
func (s *Server) spawnExit(o outcome, m, f, a etf.Term) etf.Term {
	switch o.class {
	case classReturn:
		return distribute.ReasonNormal
	case ClassExit:
		return o.value
	case ClassThrow:
		var where etf.Term = a
		if args, ok := properList(a); ok {
			where = int64(len(args)) // thrown inside the function: its arity
		}
		return etf.Tuple{etf.Tuple{etf.Atom("nocatch"), o.value}, etf.List{etf.Tuple{m, f, where, etf.List{}}}}
	}
	return etf.Tuple{o.value, o.stack}
}

// catchResult is what Erlang's `catch apply(M, F, A)` inside rex gives
// rpc callers: the value (also for throw), or {badrpc, {'EXIT', ...}}.
func catchResult(o outcome) etf.Term {
	switch o.class {
	case classReturn, ClassThrow:
		return o.value
	case ClassExit:
		return badrpc(etf.Tuple{etf.Atom("EXIT"), o.value})
	}
	return badrpc(etf.Tuple{etf.Atom("EXIT"), etf.Tuple{o.value, o.stack}})
}

// rexLoop is the rex server: rpc's gen_server protocol.
func (s *Server) rexLoop(ctx context.Context, p *distribute.Process) error {
	defer s.unregister() // Stop, or the node stopped
	for {
		m, err := p.Receive(ctx)
		if err != nil {
			return nil // closed or the node is stopping
		}
		if from, req, ok := distribute.ParseCall(m); ok {
			s.rexCall(ctx, p, from, req)
			continue
		}
		if req, ok := distribute.ParseCast(m); ok {
			if t, ok := req.(etf.Tuple); ok && len(t) == 5 && t[0] == etf.Atom("cast") {
				s.spawnApply(t[1], t[2], t[3], "", nil)
			}
			continue
		}
		t, ok := m.(etf.Tuple)
		if !ok || len(t) != 2 {
			continue
		}
		fromPid, ok := t[0].(distribute.Pid)
		if !ok {
			continue
		}
		switch req := t[1].(type) {
		case etf.Atom:
			if req == "features_request" {
				p.Send(ctx, fromPid, etf.Tuple{etf.Atom("features_reply"), s.node.Name(), etf.List{etf.Atom("erpc")}})
			}
		case etf.Tuple:
			s.rexInfo(ctx, p, fromPid, req)
		}
	}
}

func (s *Server) rexCall(ctx context.Context, p *distribute.Process, from distribute.From, req etf.Term) {
	t, ok := req.(etf.Tuple)
	if !ok || len(t) != 5 {
		return // rex ignores other calls
	}
	switch t[0] {
	case etf.Atom("block_call"):
		// block_call runs in rex itself: it blocks the server, as in Erlang.
		res := catchResult(s.apply(ctx, t[1], t[2], t[3]))
		p.Reply(ctx, from, res)
	case etf.Atom("call"):
		s.spawnApply(t[1], t[2], t[3], from.Pid.Node, func(ctx context.Context, w *distribute.Process, res etf.Term) {
			w.Reply(ctx, from, res)
		})
	}
}

func (s *Server) rexInfo(ctx context.Context, p *distribute.Process, from distribute.Pid, req etf.Tuple) {
	switch {
	case len(req) == 5 && req[0] == etf.Atom("call"):
		// The info form hidden C nodes (ei_rpc) use: reply {rex, Result}.
		s.spawnApply(req[1], req[2], req[3], from.Node, func(ctx context.Context, w *distribute.Process, res etf.Term) {
			w.Send(ctx, from, etf.Tuple{etf.Atom("rex"), res})
		})
	case len(req) == 3 && (req[0] == etf.Atom("sbcast") || req[0] == etf.Atom("send")):
		name, ok := req[1].(etf.Atom)
		pid, found := s.node.Whereis(name)
		if !ok || !found {
			p.Send(ctx, from, etf.Tuple{etf.Atom("rex"), s.node.Name(), etf.Tuple{etf.Atom("nonexisting_name"), req[1]}})
			return
		}
		if req[0] == etf.Atom("send") {
			p.Send(ctx, pid, etf.Tuple{from, req[2]})
			return
		}
		p.Send(ctx, pid, req[2])
		p.Send(ctx, from, etf.Tuple{etf.Atom("rex"), s.node.Name(), s.node.Name()})
	}
}

// spawnApply runs M:F(A) in a new process so rex is not blocked; done, if
// set, gets the catch-style result.
func (s *Server) spawnApply(m, f, a etf.Term, replyNode etf.Atom, done func(ctx context.Context, w *distribute.Process, res etf.Term)) {
	s.node.Spawn(func(ctx context.Context, w *distribute.Process) error {
		res := catchResult(s.apply(ctx, m, f, a))
		if done != nil {
			done(ctx, w, res)
		}
		return nil
	})
}
