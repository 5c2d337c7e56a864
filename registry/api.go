package registry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/etf"
)

// DefaultMethod is the conflict method of names registered from Go:
// fun global:random_exit_name/3, as an external fun.
var DefaultMethod distribute.Term = etf.Export{Module: "global", Function: "random_exit_name", Arity: 3}

// multiCall is gen_server:multi_call(Nodes, global_name_server, Req) made
// from p, as OTP does it: a monitor of {global_name_server, Node} and a
// request {'$gen_call', {Self, {Tag, Node}}, Req} to every node at once,
// then the replies {{Tag, Node}, Reply} or DOWNs. It returns the replies
// of the nodes that answered (the others are multi_call's BadNodes).
func multiCall(ctx context.Context, p *distribute.Process, nodes []distribute.Atom, req distribute.Term) map[distribute.Atom]distribute.Term {
	out := make(map[distribute.Atom]distribute.Term, len(nodes))
	tag := p.Node().MakeRef()
	mons := make(map[distribute.Ref]distribute.Atom, len(nodes))
	pending := make(map[distribute.Atom]distribute.Ref, len(nodes))
	for _, n := range nodes {
		if _, dup := pending[n]; dup {
			continue
		}
		mref, err := p.MonitorName(ctx, ServerName, n)
		if err != nil {
			continue
		}
		msg := etf.Tuple{aGenCall, etf.Tuple{p.Pid(), etf.Tuple{tag, n}}, req}
		if err := p.SendName(ctx, ServerName, n, msg); err != nil {
			p.Demonitor(ctx, mref)
			continue
		}
		mons[mref] = n
		pending[n] = mref
	}
	for len(pending) > 0 {
		m, err := p.ReceiveMatch(ctx, func(m any) bool {
			switch v := m.(type) {
			case distribute.Down:
				_, ok := mons[v.Ref]
				return ok
			case etf.Tuple:
				if len(v) != 2 {
					return false
				}
				t, ok := v[0].(etf.Tuple)
				if !ok || len(t) != 2 || t[0] != tag {
					return false
				}
				n, ok := t[1].(distribute.Atom)
				_, waiting := pending[n]
				return ok && waiting
			}
			return false
		})
		if err != nil {
			break
		}
		switch v := m.(type) {
		case distribute.Down:
			n := mons[v.Ref]
			delete(mons, v.Ref)
			delete(pending, n)
		case etf.Tuple:
			n := v[0].(etf.Tuple)[1].(distribute.Atom)
			out[n] = v[1]
			mref := pending[n]
			delete(pending, n)
			delete(mons, mref)
			p.Demonitor(context.WithoutCancel(ctx), mref)
		}
	}
	for mref := range mons {
		p.Demonitor(context.WithoutCancel(ctx), mref)
	}
	return out
}

// aGenCall is gen_server's call envelope.
const aGenCall distribute.Atom = "$gen_call"

// setLockOnNodes takes id on nodes from p; on any false it releases what it
// took and returns false (set_lock_on_nodes + check_replies).
func setLockOnNodes(ctx context.Context, s *Server, p *distribute.Process, id etf.Tuple, nodes []distribute.Atom) bool {
	if len(nodes) == 0 {
		return true
	}
	if slices.Contains(nodes, s.me) && !s.canSetLock(id) {
		return false
	}
	replies := multiCall(ctx, p, nodes, etf.Tuple{aSetLock, id})
	var trues []distribute.Atom
	ok := true
	for _, n := range nodes {
		r, answered := replies[n]
		if !answered {
			continue
		}
		if r == etf.True {
			trues = append(trues, n)
		} else {
			ok = false
		}
	}
	if !ok {
		delLockOnNodes(ctx, p, id, trues)
	}
	return ok
}

func delLockOnNodes(ctx context.Context, p *distribute.Process, id etf.Tuple, nodes []distribute.Atom) {
	if len(nodes) > 0 {
		multiCall(context.WithoutCancel(ctx), p, nodes, etf.Tuple{aDelLock, id})
	}
}

// randomSleep is global's random_sleep(Times): uniform in [1, Tmax] ms
// with Tmax = 2^Times × 1000 / 8, capped at 8 s.
func randomSleep(ctx context.Context, times int) error {
	tmax := 8000
	if times < 6 {
		tmax = (1 << times) * 1000 / 8
	}
	t := time.NewTimer(time.Duration(1+rand.IntN(tmax)) * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (s *Server) running() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrClosed
	}
	return nil
}

// transAllKnown is the registrar's trans_all_known: take {global,
// Registrar} on the boss, then on every known node, run fn, release.
func (s *Server) transAllKnown(ctx context.Context, fn func(ctx context.Context, nodes []distribute.Atom) error) error {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if err := s.running(); err != nil {
		return err
	}
	p := s.registrar
	id := etf.Tuple{globalResource, p.Pid()}
	for times := 0; ; times++ {
		known := s.knownAtoms()
		nodes := append([]distribute.Atom{s.me}, known...)
		boss := slices.Max(nodes)
		if setLockOnNodes(ctx, s, p, id, []distribute.Atom{boss}) {
			if setLockOnNodes(ctx, s, p, id, nodes) {
				if ctx.Err() == nil && len(without(s.knownAtoms(), known...)) == 0 {
					// Holding the lock, the transaction completes even if
					// ctx ends: a half-done register would split the tables.
					err := fn(context.WithoutCancel(ctx), nodes)
					delLockOnNodes(ctx, p, id, without(nodes, boss))
					delLockOnNodes(ctx, p, id, []distribute.Atom{boss})
					return err
				}
				delLockOnNodes(ctx, p, id, without(nodes, boss))
			}
			delLockOnNodes(ctx, p, id, []distribute.Atom{boss})
		}
		if err := randomSleep(ctx, times); err != nil {
			return fmt.Errorf("registry: lock: %w", err)
		}
		if err := s.running(); err != nil {
			return err
		}
	}
}

// checkName accepts the names Go may register: atoms and binaries (a Go
// string is taken as a binary, so user input never creates atoms).
func checkName(name distribute.Term) (distribute.Term, error) {
	switch v := name.(type) {
	case distribute.Atom:
		if len(v) > 255 {
			return nil, ErrBadName
		}
		return v, nil
	case etf.Binary:
		return v, nil
	case string:
		return etf.Binary(v), nil
	case []byte:
		return etf.Binary(v), nil
	}
	return nil, ErrBadName
}

// unregisterName is checkName, and also accepts a name of another shape
// than Go registers (a BEAM node may register any term) when it encodes.
func unregisterName(name distribute.Term) (distribute.Term, error) {
	if t, err := checkName(name); err == nil {
		return t, nil
	}
	if _, err := etf.Append(nil, name); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadName, err)
	}
	return name, nil
}

// Register gives pid the cluster-wide name, as global:register_name/2: it
// fails with ErrTaken when the name is registered or pid already has a
// name. The method sent with the name is DefaultMethod.
func (s *Server) Register(ctx context.Context, name distribute.Term, pid distribute.Pid) error {
	return s.RegisterMethod(ctx, name, pid, DefaultMethod)
}

// RegisterMethod is Register with an explicit conflict method (an Erlang
// fun term: DefaultMethod, NotifyMethod or NotifyAllMethod).
func (s *Server) RegisterMethod(ctx context.Context, name distribute.Term, pid distribute.Pid, method distribute.Term) error {
	name, err := checkName(name)
	if err != nil {
		return err
	}
	taken := false
	err = s.transAllKnown(ctx, func(ctx context.Context, nodes []distribute.Atom) error {
		if _, ok := s.Whereis(name); ok || s.hasName(pid) {
			taken = true
			return nil
		}
		multiCall(ctx, s.registrar, nodes, etf.Tuple{aRegister, name, pid, method})
		return nil
	})
	if err != nil {
		return err
	}
	if taken {
		return fmt.Errorf("registry: register %s: %w", etf.Format(name), ErrTaken)
	}
	return nil
}

// RegisterTyped registers the pid of subject under name.
func RegisterTyped[T any](ctx context.Context, s *Server, name distribute.Term, subject distribute.Subject[T]) error {
	pid := subject.Pid()
	if pid == (distribute.Pid{}) {
		return fmt.Errorf("registry: subject has no pid: %w", ErrBadName)
	}
	return s.Register(ctx, name, pid)
}

// Unregister removes the name everywhere, as global:unregister_name/1. It
// returns ErrNotRegistered if the name is not known here. Besides the atoms
// and binaries Go registers, name may be any term a BEAM node registered
// (a tuple such as {via_erl, 1}): Whereis finds those too.
func (s *Server) Unregister(ctx context.Context, name distribute.Term) error {
	name, err := unregisterName(name)
	if err != nil {
		return err
	}
	if _, ok := s.lookupEntry(name); !ok {
		return fmt.Errorf("registry: unregister %s: %w", etf.Format(name), ErrNotRegistered)
	}
	return s.transAllKnown(ctx, func(ctx context.Context, nodes []distribute.Atom) error {
		multiCall(ctx, s.registrar, nodes, etf.Tuple{aUnregister, name})
		return nil
	})
}

func (s *Server) lookupEntry(name distribute.Term) (entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.lookup(name)
}

func (s *Server) hasName(pid distribute.Pid) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.hasName(pid)
}

// Whereis returns the pid registered under name, as
// global:whereis_name/1 (a local read).
func (s *Server) Whereis(name distribute.Term) (distribute.Pid, bool) {
	// Atoms and binaries (the names Go registers) are looked up without an
	// allocation; other terms through their encoding.
	var buf [96]byte
	var k []byte
	switch v := name.(type) {
	case distribute.Atom:
		k = append(append(buf[:0], 'a'), v...)
	case string:
		k = append(append(buf[:0], 'b'), v...)
	case etf.Binary:
		k = append(append(buf[:0], 'b'), v...)
	case []byte:
		k = append(append(buf[:0], 'b'), v...)
	default:
		e, ok := s.lookupEntry(name)
		return e.pid, ok
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.c.names[string(k)]; e != nil {
		return e.pid, true
	}
	return distribute.Pid{}, false
}

// Lookup returns a typed subject for the pid registered under name.
func Lookup[T any](s *Server, name distribute.Term, c codec.Codec[T]) (distribute.Subject[T], bool) {
	pid, ok := s.Whereis(name)
	if !ok {
		return distribute.Subject[T]{}, false
	}
	return distribute.NewSubject(pid, c), true
}

// RegisteredNames returns every registered name, as
// global:registered_names/0.
func (s *Server) RegisteredNames() []distribute.Term {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]distribute.Term, 0, len(s.c.names))
	for _, e := range s.c.names {
		out = append(out, e.name)
	}
	slices.SortFunc(out, etf.Compare)
	return out
}

// Send sends msg from p to the process registered under name, as
// global:send/2; it fails with ErrNotRegistered when there is none.
func (s *Server) Send(ctx context.Context, p *distribute.Process, name distribute.Term, msg distribute.Term) error {
	pid, ok := s.Whereis(name)
	if !ok {
		return fmt.Errorf("registry: send to %s: %w", etf.Format(name), ErrNotRegistered)
	}
	return p.Send(ctx, pid, msg)
}

// Known returns the nodes this server is in sync with or introduced to.
func (s *Server) Known() []distribute.Atom { return s.knownAtoms() }

// Sync waits until every visible node connected now has finished the
// global handshake with this node (or is gone), as global:sync/0.
func (s *Server) Sync(ctx context.Context) error {
	targets := s.node.VisibleNodes()
	for {
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			return ErrClosed
		}
		ch := s.changed
		done := true
		for _, n := range targets {
			if !s.c.synced[n] && s.node.IsConnected(n) {
				done = false
				break
			}
		}
		s.mu.Unlock()
		if done {
			return nil
		}
		// Every change (a node synced, or gone: its nodedown) closes ch.
		select {
		case <-ctx.Done():
			return fmt.Errorf("registry: sync: %w", ctx.Err())
		case <-ch:
		}
	}
}

// LockID is a lock: {ResourceId, LockRequesterId}.
type LockID struct {
	Resource  distribute.Term
	Requester distribute.Term
}

func (id LockID) tuple() etf.Tuple { return etf.Tuple{id.Resource, id.Requester} }

// Infinity as the retries of SetLock and Trans retries forever.
const Infinity = -1

// lockNodes is nodes, or [me | known] when nil.
func (s *Server) lockNodes(nodes []distribute.Atom) []distribute.Atom {
	if nodes == nil {
		return append([]distribute.Atom{s.me}, s.node.VisibleNodes()...)
	}
	return nodes
}

// SetLock takes id on nodes (nil: this node and every visible node) for
// the process p, as global:set_lock/3, retrying with global's random
// sleeps up to retries times (Infinity: until ctx ends). The owner is p.
func (s *Server) SetLock(ctx context.Context, p *distribute.Process, id LockID, nodes []distribute.Atom, retries int) (bool, error) {
	if err := s.running(); err != nil {
		return false, err
	}
	nodes = s.lockNodes(nodes)
	t := id.tuple()
	for times := 0; ; times++ {
		if setLockOnNodes(ctx, s, p, t, nodes) {
			if err := ctx.Err(); err != nil {
				// Some calls may have been cut short: release what we got.
				delLockOnNodes(ctx, p, t, nodes)
				return false, fmt.Errorf("registry: set_lock: %w", err)
			}
			return true, nil
		}
		if retries != Infinity && times >= retries {
			return false, nil
		}
		if err := randomSleep(ctx, times); err != nil {
			return false, fmt.Errorf("registry: set_lock: %w", err)
		}
	}
}

// DelLock releases id on nodes (nil: this node and every visible node) for
// p, as global:del_lock/2.
func (s *Server) DelLock(ctx context.Context, p *distribute.Process, id LockID, nodes []distribute.Atom) {
	delLockOnNodes(ctx, p, id.tuple(), s.lockNodes(nodes))
}

// Trans runs fn while p holds id on nodes, as global:trans/4; it returns
// ErrLockNotSet when the lock could not be taken.
func (s *Server) Trans(ctx context.Context, p *distribute.Process, id LockID, fn func() error, nodes []distribute.Atom, retries int) error {
	nodes = s.lockNodes(nodes)
	ok, err := s.SetLock(ctx, p, id, nodes, retries)
	if err != nil {
		return err
	}
	if !ok {
		return ErrLockNotSet
	}
	defer s.DelLock(ctx, p, id, nodes)
	return fn()
}
