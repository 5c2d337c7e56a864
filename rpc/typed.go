package rpc

import (
	"context"
	"fmt"

	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/etf"
)

// RegisterTyped exports a typed function as module:function/1 between Go
// nodes: its one argument and its result are binaries in codec's wire
// format (in and out). An argument that is not a binary, or does not
// decode with in, raises error:badarg to the caller.
func RegisterTyped[Req, Resp any](s *Server, module, function etf.Atom, in codec.Codec[Req], out codec.Codec[Resp], h func(ctx context.Context, req Req) (Resp, error)) error {
	return s.Register(module, function, 1, func(ctx context.Context, args []etf.Term) (etf.Term, error) {
		b, ok := args[0].(etf.Binary)
		if !ok {
			return nil, fmt.Errorf("%s:%s: argument is not a binary: %w", module, function, ErrBadArg)
		}
		req, err := codec.Decode(in, b)
		if err != nil {
			return nil, fmt.Errorf("%s:%s: %w: %w", module, function, ErrBadArg, err)
		}
		resp, err := h(ctx, req)
		if err != nil {
			return nil, err
		}
		enc, err := codec.Encode(out, resp)
		if err != nil {
			return nil, fmt.Errorf("%s:%s: encode result: %w", module, function, err)
		}
		return etf.Binary(enc), nil
	})
}

// CallTyped calls a function exported with RegisterTyped: req is encoded
// with in, the result decoded with out. Errors are Call's, or a decode
// error when the result does not fit out.
func CallTyped[Req, Resp any](ctx context.Context, c *Client, node, module, function etf.Atom, in codec.Codec[Req], out codec.Codec[Resp], req Req) (Resp, error) {
	var zero Resp
	enc, err := codec.Encode(in, req)
	if err != nil {
		return zero, fmt.Errorf("rpc: encode request: %w", err)
	}
	res, err := c.Call(ctx, node, module, function, etf.Binary(enc))
	if err != nil {
		return zero, err
	}
	b, ok := res.(etf.Binary)
	if !ok {
		return zero, fmt.Errorf("rpc: %s:%s on %s returned %s, not a binary", module, function, node, etf.FormatLimit(res, etf.LogTextMax))
	}
	resp, err := codec.Decode(out, b)
	if err != nil {
		return zero, fmt.Errorf("rpc: decode result of %s:%s: %w", module, function, err)
	}
	return resp, nil
}

// Func0 adapts a typed function of no arguments to a Handler: its result
// is converted with etf.ToTerm.
func Func0[R any](f func(ctx context.Context) (R, error)) Handler {
	return func(ctx context.Context, args []etf.Term) (etf.Term, error) {
		if len(args) != 0 {
			return nil, ErrBadArg
		}
		r, err := f(ctx)
		return result(r, err)
	}
}

// Func1 adapts a typed function of one argument to a Handler (register it
// with arity 1): the argument is converted with etf.FromTerm, and one that
// does not convert raises error:badarg; the result is converted with
// etf.ToTerm.
//
//	s.Register("users", "lookup", 1, rpc.Func1(func(ctx context.Context, id int) (User, error) { ... }))
func Func1[A, R any](f func(ctx context.Context, a A) (R, error)) Handler {
	return func(ctx context.Context, args []etf.Term) (etf.Term, error) {
		var a A
		if len(args) != 1 || etf.FromTerm(args[0], &a) != nil {
			return nil, ErrBadArg
		}
		r, err := f(ctx, a)
		return result(r, err)
	}
}

// Func2 is Func1 for functions of two arguments (register with arity 2).
func Func2[A, B, R any](f func(ctx context.Context, a A, b B) (R, error)) Handler {
	return func(ctx context.Context, args []etf.Term) (etf.Term, error) {
		var a A
		var b B
		if len(args) != 2 || etf.FromTerm(args[0], &a) != nil || etf.FromTerm(args[1], &b) != nil {
			return nil, ErrBadArg
		}
		r, err := f(ctx, a, b)
		return result(r, err)
	}
}

func result[R any](r R, err error) (etf.Term, error) {
	if err != nil {
		return nil, err
	}
	t, err := etf.ToTerm(r)
	if err != nil {
		return nil, fmt.Errorf("rpc: result: %w", err)
	}
	return t, nil
}

// CallAs is Client.Call with the result converted to R with etf.FromTerm.
func CallAs[R any](ctx context.Context, c *Client, node, module, function etf.Atom, args ...etf.Term) (R, error) {
	var r R
	v, err := c.Call(ctx, node, module, function, args...)
	if err != nil {
		return r, err
	}
	if err := etf.FromTerm(v, &r); err != nil {
		return r, fmt.Errorf("rpc: result of %s:%s on %s: %w", module, function, node, err)
	}
	return r, nil
}
