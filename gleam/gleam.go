// Package gleam speaks the message shapes of the Gleam distribute library
// (v4), so a Go node calls Gleam actors and answers their calls. The
// shapes are:
//
//   - A gleam_erlang Subject is the record {subject, Pid, Tag}; sending a
//     message M through it sends {Tag, M} to Pid. Gleam distribute sends
//     only binaries (codec bytes) through subjects.
//   - A Gleam distribute actor registered under a name (in global, as a
//     binary) is addressed by a subject whose tag is that name: it receives
//     {<<Name>>, Payload}.
//   - A call puts a reply subject, made for the call ({subject, Self,
//     make_ref()}), inside the request; its codec writes it as a u32 length
//     then term_to_binary({subject, Pid, Tag}). The actor replies through
//     it: {Tag, ReplyBinary} to Pid.
//
// Actor, SubjectCodec, ReplySubject and Call speak these shapes, and
// distribute.Actor's GleamName makes a Go actor answer them, so a Go actor
// and a Gleam actor call each other:
//
//	type greet = codec.Pair[gleam.Subject, string]
//	greetCodec := codec.Tuple2(gleam.SubjectCodec, codec.String)
//	to := gleam.Actor(pid, "greeter", greetCodec) // pid: a global lookup of "greeter"
//	reply, err := gleam.Call(ctx, node, to, func(r gleam.Subject) greet {
//		return greet{First: r, Second: "Go"}
//	}, codec.String)
//
// The package is built on the distribute package's public API only.
package gleam

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/etf"
)

// Subject is a gleam_erlang Subject as it travels inside a message:
// the owner's pid and the tag its messages carry.
type Subject struct {
	Pid distribute.Pid
	Tag distribute.Term
}

var atomSubject = etf.Atom("subject")

// gleamSubjectLimits bound the term inside an encoded subject: a pid and a
// small tag, so a hostile length cannot make the decoder work hard.
var gleamSubjectLimits = etf.Limits{MaxSize: 64 << 10, MaxDepth: 8, MaxAtoms: 64}

// SubjectCodec is Gleam distribute's subject codec: a u32 length, then
// term_to_binary({subject, Pid, Tag}) of that length. Decoding accepts only
// that 3-tuple with a pid, and rejects (as codec.ErrInvalid) a term over
// 64 KiB or with more than 64 atoms.
var SubjectCodec codec.Codec[Subject] = codec.New("gleam subject", appendSubject, decodeSubject)

func appendSubject(dst []byte, s Subject) ([]byte, error) {
	if s.Tag == nil {
		return dst, fmt.Errorf("gleam: subject: nil tag: %w", codec.ErrInvalid)
	}
	at := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	out, err := etf.Append(dst, etf.Tuple{atomSubject, s.Pid, s.Tag})
	if err != nil {
		return dst[:at], fmt.Errorf("gleam: subject: %w: %w", codec.ErrInvalid, err)
	}
	n := len(out) - at - 4
	if n > gleamSubjectLimits.MaxSize {
		return dst[:at], fmt.Errorf("gleam: subject of %d bytes: %w", n, codec.ErrTooLarge)
	}
	binary.BigEndian.PutUint32(out[at:], uint32(n))
	return out, nil
}

func decodeSubject(src []byte) (Subject, []byte, error) {
	fail := func(off int, sentinel error, detail string) (Subject, []byte, error) {
		return Subject{}, nil, &codec.DecodeError{Offset: off, Codec: "gleam subject", Err: fmt.Errorf("%w: %s", sentinel, detail)}
	}
	if len(src) < 4 {
		return fail(0, codec.ErrTruncated, "need a 4-byte length")
	}
	n := binary.BigEndian.Uint32(src)
	if uint64(n) > uint64(gleamSubjectLimits.MaxSize) {
		return fail(0, codec.ErrTooLarge, fmt.Sprintf("subject of %d bytes", n))
	}
	if uint64(n) > uint64(len(src)-4) {
		return fail(4, codec.ErrTruncated, fmt.Sprintf("need %d bytes, have %d", n, len(src)-4))
	}
	body := src[4 : 4+n]
	d := etf.Decoder{Limits: gleamSubjectLimits}
	t, used, err := d.Decode(body)
	if err != nil {
		return fail(4, codec.ErrInvalid, err.Error())
	}
	if used != len(body) {
		return fail(4+used, codec.ErrTrailing, "bytes after the subject term")
	}
	tup, ok := t.(etf.Tuple)
	if !ok || len(tup) != 3 || tup[0] != atomSubject {
		return fail(4, codec.ErrInvalid, "not {subject, Pid, Tag}: "+etf.FormatLimit(t, etf.LogTextMax))
	}
	pid, ok := tup[1].(distribute.Pid)
	if !ok {
		return fail(4, codec.ErrInvalid, "subject owner is not a pid: "+etf.FormatLimit(tup[1], etf.LogTextMax))
	}
	return Subject{Pid: pid, Tag: tup[2]}, src[4+n:], nil
}

// Actor returns the subject of a Gleam distribute actor registered as
// name whose process is pid: it sends {<<name>>, Binary}, the shape the
// actor selects on. (Finding pid is a global lookup of name.)
func Actor[T any](pid distribute.Pid, name string, c codec.Codec[T]) distribute.Subject[T] {
	return distribute.NewSubject(pid, c).WithTag(etf.Binary(name))
}

// ReplySubject returns the subject s stands for, sending messages encoded
// with c: how a Go actor answers a Gleam call, with the reply subject the
// request carried.
func ReplySubject[T any](s Subject, c codec.Codec[T]) distribute.Subject[T] {
	return distribute.NewSubject(s.Pid, c).WithTag(s.Tag)
}

// Call calls a Gleam distribute actor (or a Go actor with GleamName)
// the way Gleam distribute's call does: it makes a reply subject,
// makeRequest puts it in the request, the request goes to to, and the
// reply, {Tag, Binary} through the reply subject, is decoded with resp.
// The target is monitored: it returns at once with an error wrapping
// distribute.ErrNoProc when the target does not exist,
// distribute.ErrNodeDown when its node is lost, a *distribute.ExitError
// when it exits before replying, distribute.ErrTimeout past ctx's
// deadline (context.Canceled when ctx is canceled); a reply that does not
// decode is a *distribute.MessageError.
//
// The call runs in a short-lived process of n (the reply subject's
// owner), so a reply that comes after Call returned is dropped with it
// instead of staying in a mailbox. to must be a subject by pid (a Gleam
// actor is found by a global lookup).
func Call[Req, Resp any](ctx context.Context, n *distribute.Node, to distribute.Subject[Req], makeRequest func(replyTo Subject) Req, resp codec.Codec[Resp]) (Resp, error) {
	var zero Resp
	if name, _ := to.Name(); to.Codec() == nil || name != "" {
		return zero, fmt.Errorf("gleam: call %s: want a subject by pid: %w", to, distribute.ErrBadName)
	}
	pid := to.Pid()
	p, err := n.NewProcess()
	if err != nil {
		return zero, err
	}
	defer p.Exit(distribute.ReasonNormal)
	if node := pid.Node; node != n.Name() {
		if err := n.Connect(ctx, node); err != nil {
			return zero, fmt.Errorf("gleam: call %s: %w", to, err)
		}
	}
	mref, err := p.Monitor(ctx, pid)
	if err != nil {
		return zero, err
	}
	tag := n.MakeRef()
	if err := to.Send(ctx, p, makeRequest(Subject{Pid: p.Pid(), Tag: tag})); err != nil {
		return zero, err
	}
	m, err := p.ReceiveMatch(ctx, func(m any) bool {
		if d, ok := m.(distribute.Down); ok {
			return d.Ref == mref
		}
		_, ok := replyOf(m, tag)
		return ok
	})
	if err != nil {
		if ctx.Err() != nil {
			return zero, fmt.Errorf("gleam: call %s: %w", to, ctxError(ctx))
		}
		return zero, err
	}
	if d, ok := m.(distribute.Down); ok {
		return zero, fmt.Errorf("gleam: call %s: %w", to, downError(d.Reason))
	}
	b, _ := replyOf(m, tag)
	v, err := codec.Decode(resp, b)
	if err != nil {
		return zero, &distribute.MessageError{Message: m, Err: err}
	}
	return v, nil
}

// replyOf returns the bytes of a reply {tag, Binary}.
func replyOf(m any, tag distribute.Ref) ([]byte, bool) {
	t, ok := m.(etf.Tuple)
	if !ok || len(t) != 2 {
		return nil, false
	}
	r, ok := t[0].(distribute.Ref)
	if !ok || r != tag {
		return nil, false
	}
	b, ok := t[1].(etf.Binary)
	return b, ok
}

// downError turns the reason of the target's Down into an error.
func downError(reason distribute.Term) error {
	switch reason {
	case distribute.ReasonNoProc:
		return distribute.ErrNoProc
	case distribute.ReasonNoConnection:
		return distribute.ErrNodeDown
	}
	return &distribute.ExitError{Reason: reason}
}

// ctxError is the error of a call ctx ended: past a deadline it wraps
// distribute.ErrTimeout and context.DeadlineExceeded; canceled, it is
// context.Canceled.
func ctxError(ctx context.Context) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", distribute.ErrTimeout, err)
	}
	return err
}
