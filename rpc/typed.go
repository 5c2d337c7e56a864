package rpc

import (
	"context"
	"fmt"

	"github.com/distribute-go/distribute"
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
func CallTyped[Req, Resp any](ctx context.Context, local *distribute.Node, node, module, function etf.Atom, in codec.Codec[Req], out codec.Codec[Resp], req Req) (Resp, error) {
	var zero Resp
	enc, err := codec.Encode(in, req)
	if err != nil {
		return zero, fmt.Errorf("rpc: encode request: %w", err)
	}
	res, err := Call(ctx, local, node, module, function, etf.Binary(enc))
	if err != nil {
		return zero, err
	}
	b, ok := res.(etf.Binary)
	if !ok {
		return zero, fmt.Errorf("rpc: %s:%s on %s returned %s, not a binary", module, function, node, etf.Format(res))
	}
	resp, err := codec.Decode(out, b)
	if err != nil {
		return zero, fmt.Errorf("rpc: decode result of %s:%s: %w", module, function, err)
	}
	return resp, nil
}
