package distribute

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/etf"
)

// Interop with the Gleam distribute library (v4), whose shapes are:
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
// GleamActor, GleamSubjectCodec, ReplySubject and GleamCall speak these
// shapes, and Actor.GleamName makes a Go actor answer them, so a Go actor
// and a Gleam actor call each other.

// GleamSubject is a gleam_erlang Subject as it travels inside a message:
// the owner's pid and the tag its messages carry.
type GleamSubject struct {
	Pid Pid
	Tag Term
}

var atomSubject = Atom("subject")

// gleamSubjectLimits bound the term inside an encoded subject: a pid and a
// small tag, so a hostile length cannot make the decoder work hard.
var gleamSubjectLimits = etf.Limits{MaxSize: 64 << 10, MaxDepth: 8, MaxAtoms: 64}

// GleamSubjectCodec is Gleam distribute's subject codec: a u32 length, then
// term_to_binary({subject, Pid, Tag}) of that length. Decoding accepts only
// that 3-tuple with a pid, and rejects (as codec.ErrInvalid) a term over
// 64 KiB or with more than 64 atoms.
var GleamSubjectCodec codec.Codec[GleamSubject] = codec.New("gleam subject", appendGleamSubject, decodeGleamSubject)

func appendGleamSubject(dst []byte, s GleamSubject) ([]byte, error) {
	if s.Tag == nil {
		return dst, fmt.Errorf("distribute: gleam subject: nil tag: %w", codec.ErrInvalid)
	}
	at := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	out, err := etf.Append(dst, etf.Tuple{atomSubject, s.Pid, s.Tag})
	if err != nil {
		return dst[:at], fmt.Errorf("distribute: gleam subject: %w: %w", codec.ErrInvalid, err)
	}
	n := len(out) - at - 4
	if n > gleamSubjectLimits.MaxSize {
		return dst[:at], fmt.Errorf("distribute: gleam subject of %d bytes: %w", n, codec.ErrTooLarge)
	}
	binary.BigEndian.PutUint32(out[at:], uint32(n))
	return out, nil
}

func decodeGleamSubject(src []byte) (GleamSubject, []byte, error) {
	fail := func(off int, sentinel error, detail string) (GleamSubject, []byte, error) {
		return GleamSubject{}, nil, &codec.DecodeError{Offset: off, Codec: "gleam subject", Err: fmt.Errorf("%w: %s", sentinel, detail)}
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
	pid, ok := tup[1].(Pid)
	if !ok {
		return fail(4, codec.ErrInvalid, "subject owner is not a pid: "+etf.FormatLimit(tup[1], etf.LogTextMax))
	}
	return GleamSubject{Pid: pid, Tag: tup[2]}, src[4+n:], nil
}

// GleamActor returns the subject of a Gleam distribute actor registered as
// name whose process is pid: it sends {<<name>>, Binary}, the shape the
// actor selects on. (Finding pid is a global lookup of name.)
func GleamActor[T any](pid Pid, name string, c codec.Codec[T]) Subject[T] {
	return NewSubject(pid, c).WithTag(etf.Binary(name))
}

// ReplySubject returns the subject a GleamSubject stands for, sending
// messages encoded with c: how a Go actor answers a Gleam call, with the
// reply subject the request carried.
func ReplySubject[T any](s GleamSubject, c codec.Codec[T]) Subject[T] {
	return NewSubject(s.Pid, c).WithTag(s.Tag)
}

// GleamCall calls a Gleam distribute actor (or a Go actor with GleamName)
// the way Gleam distribute's call does: it makes a reply subject,
// makeRequest puts it in the request, the request goes to to, and the
// reply, {Tag, Binary} through the reply subject, is decoded with resp.
// The target is monitored: it returns at once with an error wrapping
// ErrNoProc when the target does not exist, ErrNodeDown when its node is
// lost, an *ExitError when it exits before replying, ErrTimeout past
// ctx's deadline (context.Canceled when ctx is canceled); a reply that does not decode is a *MessageError.
//
// The call runs in a short-lived process of from's node (the reply
// subject's owner), so a reply that comes after GleamCall returned is
// dropped with it instead of staying in a mailbox. to must be a subject by
// pid (a Gleam actor is found by a global lookup).
func GleamCall[Req, Resp any](ctx context.Context, n *Node, to Subject[Req], makeRequest func(replyTo GleamSubject) Req, resp codec.Codec[Resp]) (Resp, error) {
	var zero Resp
	if to.codec == nil || to.dest.name != "" {
		return zero, fmt.Errorf("distribute: gleam call %s: want a subject by pid: %w", to.dest, ErrBadName)
	}
	p, err := n.NewProcess()
	if err != nil {
		return zero, err
	}
	defer p.Exit(ReasonNormal)
	if node := to.dest.pid.Node; node != n.name {
		if _, err := n.getPeer(ctx, node); err != nil {
			return zero, fmt.Errorf("distribute: gleam call %s: %w", to.dest, err)
		}
	}
	mref, err := p.Monitor(ctx, to.dest.pid)
	if err != nil {
		return zero, err
	}
	tag := n.MakeRef()
	if err := to.Send(ctx, p, makeRequest(GleamSubject{Pid: p.pid, Tag: tag})); err != nil {
		return zero, err
	}
	m, err := p.ReceiveMatch(ctx, func(m any) bool {
		if d, ok := m.(Down); ok {
			return d.Ref == mref
		}
		_, ok := binaryOf(m, tag)
		return ok
	})
	if err != nil {
		if ctx.Err() != nil {
			return zero, fmt.Errorf("distribute: gleam call %s: %w", to.dest, ctxError(ctx))
		}
		return zero, err
	}
	if d, ok := m.(Down); ok {
		return zero, fmt.Errorf("distribute: gleam call %s: %w", to.dest, downError(d.Reason))
	}
	b, _ := binaryOf(m, tag)
	v, err := codec.Decode(resp, b)
	if err != nil {
		return zero, &MessageError{Message: m, Err: err}
	}
	return v, nil
}
