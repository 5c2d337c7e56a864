package rpc

import (
	"context"

	"github.com/distribute-go/distribute/etf"
)

// ExportErlang exports the Go node's answers to the erlang functions
// callers commonly ask any node over RPC: erlang:node/0, nodes/0,
// is_alive/0, registered/0 and whereis/1. nodes/0 lists the nodes
// connected visibly, as Erlang's nodes() does.
func (s *Server) ExportErlang() error {
	n := s.node
	funcs := []struct {
		f     etf.Atom
		arity int
		h     Handler
	}{
		{"node", 0, func(context.Context, []etf.Term) (etf.Term, error) { return n.Name(), nil }},
		{"is_alive", 0, func(context.Context, []etf.Term) (etf.Term, error) { return etf.Atom("true"), nil }},
		{"nodes", 0, func(context.Context, []etf.Term) (etf.Term, error) {
			l := etf.List{}
			for _, a := range n.VisibleNodes() {
				l = append(l, a)
			}
			return l, nil
		}},
		{"registered", 0, func(context.Context, []etf.Term) (etf.Term, error) {
			l := etf.List{}
			for _, a := range n.Registered() {
				l = append(l, a)
			}
			return l, nil
		}},
		{"whereis", 1, func(_ context.Context, args []etf.Term) (etf.Term, error) {
			name, ok := args[0].(etf.Atom)
			if !ok {
				return nil, ErrBadArg
			}
			if pid, ok := n.Whereis(name); ok {
				return pid, nil
			}
			return etf.Atom("undefined"), nil
		}},
	}
	for _, f := range funcs {
		if err := s.Register("erlang", f.f, f.arity, f.h); err != nil {
			return err
		}
	}
	return nil
}
