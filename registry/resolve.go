package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
)

// Resolver decides a name conflict found when two partitions merge. It
// runs on the node of mine (the resolving side's own pid), as Erlang runs
// the method on node(Pid2). It returns the pid that keeps the name (mine
// or theirs), or the zero Pid for none (the name is removed everywhere).
// It may kill or notify the processes through p.
type Resolver func(ctx context.Context, p *distribute.Process, name distribute.Term, theirs, mine distribute.Pid) distribute.Pid

// Methods with a meaning of their own (as Erlang funs on the wire).
var (
	NotifyMethod    distribute.Term = etf.Export{Module: "global", Function: "random_notify_name", Arity: 3}
	NotifyAllMethod distribute.Term = etf.Export{Module: "global", Function: "notify_all_name", Arity: 3}
)

// keeper is the pid random_exit_name/random_notify_name keep: the one on
// the lower node name (Erlang's node(P1) < node(P2) test).
func keeper(a, b distribute.Pid) (keep, lose distribute.Pid) {
	if a.Node < b.Node {
		return a, b
	}
	return b, a
}

// RandomExitName is Erlang's default resolver: keep the pid on the lower
// node name and kill the other (exit(Other, kill)).
func RandomExitName(ctx context.Context, p *distribute.Process, name distribute.Term, theirs, mine distribute.Pid) distribute.Pid {
	keep, lose := keeper(theirs, mine)
	p.Kill(ctx, lose)
	return keep
}

// RandomNotifyName keeps the pid on the lower node name and sends
// {global_name_conflict, Name} to the other.
func RandomNotifyName(ctx context.Context, p *distribute.Process, name distribute.Term, theirs, mine distribute.Pid) distribute.Pid {
	keep, lose := keeper(theirs, mine)
	p.Send(ctx, lose, etf.Tuple{distribute.Atom("global_name_conflict"), name})
	return keep
}

// NotifyAllName unregisters the name and sends
// {global_name_conflict, Name, OtherPid} to both pids.
func NotifyAllName(ctx context.Context, p *distribute.Process, name distribute.Term, theirs, mine distribute.Pid) distribute.Pid {
	p.Send(ctx, theirs, etf.Tuple{distribute.Atom("global_name_conflict"), name, mine})
	p.Send(ctx, mine, etf.Tuple{distribute.Atom("global_name_conflict"), name, theirs})
	return distribute.Pid{}
}

// resolverFor maps a method term to a resolver: the two export funs with a
// meaning of their own, anything else (Erlang's default local fun of
// module global, random_exit_name) to the configured resolver.
func (s *Server) resolverFor(method distribute.Term) Resolver {
	switch {
	case etf.Equal(method, NotifyMethod):
		return RandomNotifyName
	case etf.Equal(method, NotifyAllMethod):
		return NotifyAllName
	}
	return s.resolver
}

// exchangeNames is the resolver process's exchange_names: it walks the
// peer's names against mine and returns Ops (applied here) and Resolved
// (for the peer to apply). Conflicts are decided on node(mine pid).
func (s *Server) exchangeNames(ctx context.Context, peer distribute.Atom, his []entry, mine map[string]entry) (ops, resolved etf.List) {
	var rp *distribute.Process
	defer func() {
		if rp != nil {
			rp.Exit(distribute.ReasonNormal)
		}
	}()
	return mergeNames(s.me, peer, his, mine, func(h, m entry) (distribute.Pid, bool) {
		if rp == nil {
			p, err := s.node.NewProcess()
			if err != nil {
				return distribute.Pid{}, false
			}
			rp = p
		}
		return s.resolveIt(ctx, rp, m.method, h.name, h.pid, m.pid)
	})
}

// mergeNames is the deterministic core of exchange_names. For each of the
// peer's names: absent here → insert it (Ops); same pid → nothing; a
// conflict is decided only by the lower node name (me < peer) with decide,
// which returns the winner (ok false: the rpc failed, the peer's pid wins
// silently; a winner that is neither pid, or zero, deletes the name on
// both sides).
func mergeNames(me, peer distribute.Atom, his []entry, mine map[string]entry, decide func(his, mine entry) (distribute.Pid, bool)) (ops, resolved etf.List) {
	ops, resolved = etf.List{}, etf.List{}
	for _, h := range his {
		m, ok := mine[keyOf(h.name)]
		if !ok {
			ops = append(ops, insertOp(h.name, h.pid, h.method))
			continue
		}
		if m.pid == h.pid || !(me < peer) {
			continue
		}
		winner, ok := decide(h, m)
		switch {
		case !ok || winner == h.pid:
			ops = append(ops, insertOp(h.name, h.pid, h.method))
		case winner == m.pid:
			resolved = append(resolved, insertOp(h.name, m.pid, m.method))
		default:
			ops = append(ops, etf.Tuple{aDelete, h.name})
			resolved = append(resolved, etf.Tuple{aDelete, h.name})
		}
	}
	return ops, resolved
}

func insertOp(name distribute.Term, pid distribute.Pid, method distribute.Term) etf.Tuple {
	return etf.Tuple{aInsert, etf.Tuple{name, pid, method}}
}

// resolveIt runs global:resolve_it(Method2, Name, Pid, Pid2) on
// node(Pid2): locally with the resolver, remotely through rex. ok false is
// {badrpc, _}: the peer's pid wins. A zero winner is none (or junk).
func (s *Server) resolveIt(ctx context.Context, p *distribute.Process, method, name distribute.Term, theirs, mine distribute.Pid) (distribute.Pid, bool) {
	if mine.Node == s.me {
		s.countResolve()
		return s.resolverFor(method)(ctx, p, name, theirs, mine), true
	}
	req := etf.Tuple{distribute.Atom("call"), distribute.Atom("global"), distribute.Atom("resolve_it"),
		etf.List{method, name, theirs, mine}, p.Pid()}
	r, err := p.CallName(ctx, "rex", mine.Node, req)
	if errors.Is(err, distribute.ErrNoProc) {
		// No rex: a Go node without an rpc server. Its global server
		// resolves (Erlang nodes always run rex, so never get this call).
		r, err = p.CallName(ctx, ServerName, mine.Node, etf.Tuple{aGoResolveIt, method, name, theirs, mine})
	}
	if err != nil {
		return distribute.Pid{}, false
	}
	if t, ok := r.(etf.Tuple); ok && len(t) == 2 && t[0] == distribute.Atom("badrpc") {
		return distribute.Pid{}, false
	}
	w, _ := r.(distribute.Pid)
	return w, true
}

// aGoResolveIt is the call a Go server answers for a conflict on one of
// its pids when the resolving node could not use rex.
const aGoResolveIt distribute.Atom = "registry_resolve_it"

// goResolveIt answers {registry_resolve_it, Method, Name, Pid, Pid2} off
// the gns goroutine (a resolver may block).
func (s *Server) goResolveIt(from distribute.From, r etf.Tuple) bool {
	if len(r) != 5 {
		return false
	}
	theirs, ok1 := r[3].(distribute.Pid)
	mine, ok2 := r[4].(distribute.Pid)
	if !ok1 || !ok2 || mine.Node != s.me {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		p, err := s.node.NewProcess()
		if err != nil {
			return
		}
		defer p.Exit(distribute.ReasonNormal)
		s.countResolve()
		w := s.resolverFor(r[1])(s.ctx, p, r[2], theirs, mine)
		var reply distribute.Term = distribute.Atom("none")
		if w != (distribute.Pid{}) {
			reply = w
		}
		s.gns.Reply(s.ctx, from, reply)
	}()
	return true
}

func (s *Server) countResolve() {
	s.mu.Lock()
	s.resolvers++
	s.mu.Unlock()
}

// Resolutions returns how many name conflicts a resolver of this server
// decided (a counter for tests and monitoring).
func (s *Server) Resolutions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resolvers
}

// ResolveIt is global:resolve_it/4 for the pids of this node: args are
// [Method, Name, Pid, Pid2] with Pid2 on this node; it runs the resolver
// of Method and returns the pid that keeps the name, or the atom none. Its
// signature is rpc.Handler's: export it as global:resolve_it/4 with the
// node's rpc server, and an Erlang node that decides a conflict on a Go
// pid runs this (without it, its erpc call fails with notsup and the
// other pid silently gets the name).
func (s *Server) ResolveIt(ctx context.Context, args []distribute.Term) (distribute.Term, error) {
	if len(args) != 4 {
		return nil, fmt.Errorf("registry: resolve_it: %d arguments: %w", len(args), ErrBadMessage)
	}
	theirs, ok1 := args[2].(distribute.Pid)
	mine, ok2 := args[3].(distribute.Pid)
	if !ok1 || !ok2 || mine.Node != s.me {
		return nil, fmt.Errorf("registry: resolve_it: bad pids: %w", ErrBadMessage)
	}
	p, err := s.node.NewProcess()
	if err != nil {
		return nil, err
	}
	defer p.Exit(distribute.ReasonNormal)
	s.countResolve()
	if w := s.resolverFor(args[0])(ctx, p, args[1], theirs, mine); w != (distribute.Pid{}) {
		return w, nil
	}
	return distribute.Atom("none"), nil
}
