package main

import (
	"context"
	"errors"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/cluster"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/groups"
	"github.com/distribute-go/distribute/registry"
)

// Runtime control of a node's inboxes over RPC, so names and groups change
// after start (the scale harness drives nodes this way; operators can too):
//
//	distribute:register_global(Name)   the inbox Name takes the global name Name
//	distribute:unregister_global(Name) the inbox Name gives it up
//	distribute:join(Group, Name)       the inbox Name joins Group (scope pg)
//	distribute:leave(Group, Name)      ... and leaves it
//
// Each returns ok or {error, Reason}: no_inbox (this node has no inbox
// Name), badarg (Name is not an atom, or Group not a valid term), taken
// (the global name is held, or the inbox already holds it),
// not_registered (the inbox does not hold the global name), not_joined,
// hidden (a hidden node runs no global registry), or a binary with the
// error's text.

// registerControl exports the runtime control functions on cl's RPC server
// for the inboxes (name → pid).
func registerControl(cl *cluster.Cluster, inboxes map[etf.Atom]distribute.Pid) error {
	inbox := func(t etf.Term) (etf.Atom, distribute.Pid, etf.Term) {
		name, ok := t.(etf.Atom)
		if !ok {
			return "", distribute.Pid{}, errorTerm("badarg")
		}
		pid, ok := inboxes[name]
		if !ok {
			return "", distribute.Pid{}, errorTerm("no_inbox")
		}
		return name, pid, nil
	}
	exports := []struct {
		fun   etf.Atom
		arity int
		do    func(ctx context.Context, args []etf.Term) etf.Term
	}{
		{"register_global", 1, func(ctx context.Context, args []etf.Term) etf.Term {
			name, pid, bad := inbox(args[0])
			if bad != nil {
				return bad
			}
			reg := cl.Registry()
			if reg == nil {
				return errorTerm("hidden")
			}
			return resultTerm(reg.Register(ctx, name, pid))
		}},
		{"unregister_global", 1, func(ctx context.Context, args []etf.Term) etf.Term {
			name, pid, bad := inbox(args[0])
			if bad != nil {
				return bad
			}
			reg := cl.Registry()
			if reg == nil {
				return errorTerm("hidden")
			}
			// Only the inbox's own name: one held by another process is
			// not this node's to remove.
			if held, ok := reg.Whereis(name); !ok || held != pid {
				return errorTerm("not_registered")
			}
			return resultTerm(reg.Unregister(ctx, name))
		}},
		{"join", 2, func(ctx context.Context, args []etf.Term) etf.Term {
			_, pid, bad := inbox(args[1])
			if bad != nil {
				return bad
			}
			return resultTerm(cl.Groups().Join(ctx, args[0], pid))
		}},
		{"leave", 2, func(ctx context.Context, args []etf.Term) etf.Term {
			_, pid, bad := inbox(args[1])
			if bad != nil {
				return bad
			}
			return resultTerm(cl.Groups().Leave(ctx, args[0], pid))
		}},
	}
	for _, e := range exports {
		do := e.do
		err := cl.RPC().Register("distribute", e.fun, e.arity, func(ctx context.Context, args []etf.Term) (etf.Term, error) {
			return do(ctx, args), nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// resultTerm is ok, or {error, Reason} with Reason an atom for the errors
// a caller branches on and the error's text otherwise.
func resultTerm(err error) etf.Term {
	switch {
	case err == nil:
		return etf.Atom("ok")
	case errors.Is(err, registry.ErrTaken):
		return errorTerm("taken")
	case errors.Is(err, registry.ErrNotRegistered):
		return errorTerm("not_registered")
	case errors.Is(err, registry.ErrBadName), errors.Is(err, groups.ErrBadGroup):
		return errorTerm("badarg")
	case errors.Is(err, groups.ErrNotJoined):
		return errorTerm("not_joined")
	}
	return etf.Tuple{etf.Atom("error"), etf.Binary(err.Error())}
}

func errorTerm(reason etf.Atom) etf.Term { return etf.Tuple{etf.Atom("error"), reason} }
