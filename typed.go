package distribute

import (
	"context"
	"errors"
	"fmt"

	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/etf"
)

// ErrBadRequest: a typed call's request did not decode with the server's
// codec; the server answered {error, {bad_request, Text}} and goes on.
var ErrBadRequest = errors.New("distribute: the server could not decode the request")

// Call makes a typed gen_server call from the process from to the process
// of to: the request is encoded with to's codec and sent as
// {'$gen_call', {From, Tag}, Binary}, and the reply, a binary, is decoded
// with resp. It is Process.Call with types: ctx's deadline bounds it; it
// returns at once with an error wrapping ErrNoProc when the target does not
// exist, ErrNodeDown when its node is unreachable or lost, an *ExitError
// when it exits before replying, ErrTimeout past ctx's deadline
// (context.Canceled when ctx is canceled); a reply that is
// not a binary or does not decode is a *MessageError (errors.Is
// ErrBadMessage, and codec.ErrTagMismatch / codec.ErrVersionMismatch for a
// mismatched envelope); a request the server could not decode is
// ErrBadRequest. A late reply never reaches from's mailbox.
//
// An Erlang gen_server answers it when its handle_call takes a binary and
// replies a binary: gen_server:call(Pid, <<Bytes/binary>>) is the same
// message. A tagged (Gleam) subject is not a gen_server: use gleam.Call.
func Call[Req, Resp any](ctx context.Context, from *Process, to Subject[Req], req Req, resp codec.Codec[Resp]) (Resp, error) {
	var zero Resp
	if to.codec == nil {
		return zero, fmt.Errorf("distribute: call to a zero Subject: %w", ErrBadName)
	}
	if to.dest.tag != nil {
		return zero, fmt.Errorf("distribute: call %s: a tagged subject takes gleam.Call: %w", to.dest, errors.ErrUnsupported)
	}
	b, err := encodeExact(to.codec, req)
	if err != nil {
		return zero, fmt.Errorf("distribute: call %s: %w", to.dest, err)
	}
	reply, err := from.call(ctx, to.dest.target(), etf.Binary(b))
	if err != nil {
		return zero, err
	}
	return decodeReply(reply, resp)
}

// target is the monitor target (and call target) of an untagged dest.
func (d dest) target() monitorTarget {
	if d.name != "" {
		return monitorTarget{name: d.name, node: d.node}
	}
	return monitorTarget{pid: d.pid}
}

// decodeReply turns a call's reply into a Resp.
func decodeReply[Resp any](reply Term, resp codec.Codec[Resp]) (Resp, error) {
	var zero Resp
	b, ok := reply.(etf.Binary)
	if !ok {
		if text, ok := badRequestOf(reply); ok {
			return zero, fmt.Errorf("distribute: call: %w: %s", ErrBadRequest, text)
		}
		return zero, &MessageError{Message: reply, Err: etf.ErrNotBinary}
	}
	v, err := codec.Decode(resp, b)
	if err != nil {
		return zero, &MessageError{Message: reply, Err: err}
	}
	return v, nil
}

var (
	atomError      = Atom("error")
	atomBadRequest = Atom("bad_request")
)

// badRequestReply is what a typed server answers to a request it cannot
// decode: {error, {bad_request, Text}}.
func badRequestReply(err error) Term {
	return etf.Tuple{atomError, etf.Tuple{atomBadRequest, etf.Binary(err.Error())}}
}

func badRequestOf(reply Term) (string, bool) {
	t, ok := reply.(etf.Tuple)
	if !ok || len(t) != 2 || t[0] != atomError {
		return "", false
	}
	r, ok := t[1].(etf.Tuple)
	if !ok || len(r) != 2 || r[0] != atomBadRequest {
		return "", false
	}
	text, _ := r[1].(etf.Binary)
	return string(text), true
}

// ReceiveCall waits for the next gen_server call to p whose request is a
// binary, and decodes the request with c: the typed server side of Call,
// for a process that is not an Actor. Answer with Reply. A request that
// does not decode is answered {error, {bad_request, Text}} (the caller
// gets ErrBadRequest) and reported as a *MessageError; p goes on serving.
// Other messages stay queued.
func ReceiveCall[Req any](ctx context.Context, p *Process, c codec.Codec[Req]) (From, Req, error) {
	var zero Req
	m, err := p.ReceiveMatch(ctx, isBinaryCall)
	if err != nil {
		return From{}, zero, err
	}
	from, req, _ := ParseCall(m)
	v, err := codec.Decode(c, req.(etf.Binary))
	if err != nil {
		p.Reply(ctx, from, badRequestReply(err))
		return From{}, zero, &MessageError{Message: m, Err: err}
	}
	return from, v, nil
}

func isBinaryCall(m any) bool {
	_, req, ok := ParseCall(m)
	if !ok {
		return false
	}
	_, ok = req.(etf.Binary)
	return ok
}

// Reply answers a typed call: it encodes v with c and replies the binary to
// from, as Process.Reply does.
func Reply[T any](ctx context.Context, p *Process, from From, c codec.Codec[T], v T) error {
	b, err := encodeExact(c, v)
	if err != nil {
		return fmt.Errorf("distribute: reply: %w", err)
	}
	return p.Reply(ctx, from, etf.Binary(b))
}
