package distribute

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
)

// The typed API. Every typed message is an ETF binary holding the bytes of
// a codec.Codec[T], so a BEAM process sees a binary and a Go process decodes
// a T. The generic types and functions here are thin facades: they turn T
// into bytes and back, and hand bytes to the untyped core (Process.Send,
// Process.call, the mailbox), which never sees a type parameter.

// ErrBadMessage: a received message is not a T: it is not a binary, or
// its bytes do not decode with the receiver's codec. Errors matching it are
// *MessageError values.
var ErrBadMessage = errors.New("distribute: message is not of the expected type")

// MessageError reports a message the typed API received but could not turn
// into a value. Err is the codec's error (a *codec.DecodeError, which may
// wrap a *codec.TagMismatchError or *codec.VersionMismatchError; test with
// errors.Is(err, codec.ErrTagMismatch) or errors.As), or etf.ErrNotBinary
// when the message was not a binary. The receiver has consumed the message
// and goes on serving.
type MessageError struct {
	// Message is the message as it arrived (an etf.Binary, or the term
	// that was not one).
	Message Term
	Err     error
}

func (e *MessageError) Error() string {
	return "distribute: bad message: " + e.Err.Error()
}

// Unwrap returns the codec's error.
func (e *MessageError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrBadMessage) true.
func (e *MessageError) Is(target error) bool { return target == ErrBadMessage }

// Subject is the address of a process that receives messages of type T: a
// pid or a registered name ({Name, Node}), and the codec that turns a T
// into the bytes it reads. A Subject is a small value; copy it freely. The
// zero Subject has no destination: Send to it fails.
//
// A Subject sends from a process (the sender an Erlang REG_SEND carries,
// and the one links, monitors and replies know): Send takes it as an
// argument, so one Subject can be shared by many senders.
//
// A Subject with a tag (WithTag) sends {Tag, Binary} instead of a bare
// binary: the shape of a gleam_erlang Subject, which Gleam's distribute
// library uses for its actors and reply subjects (see package gleam).
type Subject[T any] struct {
	dest  dest
	codec codec.Codec[T]
}

// dest is where a typed message goes: the non-generic half of a Subject.
type dest struct {
	pid  Pid
	name Atom // set for a subject by name, with node
	node Atom // empty: the sender's node
	tag  Term // non-nil: messages are {tag, Binary}
}

// NewSubject returns the subject of the process pid, which reads messages
// with c.
func NewSubject[T any](pid Pid, c codec.Codec[T]) Subject[T] {
	return Subject[T]{dest: dest{pid: pid}, codec: c}
}

// NamedSubject returns the subject of the process registered as name on
// node (the sender's node when node is empty), which reads messages with c.
// The name is resolved at each Send, as {Name, Node} ! Msg does.
func NamedSubject[T any](name, node Atom, c codec.Codec[T]) Subject[T] {
	return Subject[T]{dest: dest{name: name, node: node}, codec: c}
}

// WithTag returns s sending {tag, Binary} instead of a bare binary, and
// receiving only messages of that shape (see Receive). It is how a
// gleam_erlang Subject addresses a process: tag is a reference for a reply
// subject, the actor's name as a binary for a registered Gleam actor. A nil
// tag removes the tag.
func (s Subject[T]) WithTag(tag Term) Subject[T] {
	s.dest.tag = tag
	return s
}

// Pid returns the subject's pid; it is the zero Pid for a subject by name.
func (s Subject[T]) Pid() Pid { return s.dest.pid }

// Name returns the registered name and node of a subject by name; name is
// empty for a subject by pid.
func (s Subject[T]) Name() (name, node Atom) { return s.dest.name, s.dest.node }

// Tag returns the subject's tag, nil when it sends bare binaries.
func (s Subject[T]) Tag() Term { return s.dest.tag }

// Codec returns the codec the subject encodes with.
func (s Subject[T]) Codec() codec.Codec[T] { return s.codec }

// String returns the destination in Erlang's notation.
func (s Subject[T]) String() string { return s.dest.String() }

func (d dest) String() string {
	var to string
	switch {
	case d.name != "":
		to = fmt.Sprintf("{%s,%s}", d.name, d.node)
	default:
		to = etf.Format(d.pid)
	}
	if d.tag != nil {
		to += " tag " + etf.FormatLimit(d.tag, etf.LogTextMax)
	}
	return to
}

// Send encodes v and sends it, from the process from, as a binary (or as
// {Tag, Binary} for a tagged subject). It has the guarantees of
// Process.Send: no delivery receipt, a message to a process that does not
// exist is dropped, and an error only when the message cannot be encoded
// or handed to the connection (an encoding error is the codec's error,
// wrapped).
//
// To a process on another node the bytes are written straight into the
// outgoing frame: a typed send allocates no more than an untyped one.
func (s Subject[T]) Send(ctx context.Context, from *Process, v T) error {
	if s.codec == nil {
		return fmt.Errorf("distribute: send to a zero Subject: %w", ErrBadName)
	}
	pr, m, remote, err := from.remoteMessage(ctx, s.dest)
	if err != nil {
		return err
	}
	if !remote { // local, or tagged: the untyped path takes a binary
		b, err := encodeExact(s.codec, v)
		if err != nil {
			return fmt.Errorf("distribute: send to %s: %w", s.dest, err)
		}
		return from.sendBinary(ctx, s.dest, b)
	}
	// The connection's writer frames the binary around what the codec
	// appends: no copy, no length to patch here.
	c := s.codec
	return pr.sendErr(pr.w.SendBinary(ctx, m, func(dst []byte) ([]byte, error) { return c.Append(dst, v) }))
}

// remoteMessage prepares a typed message to d on another node: the
// connection and the message without its payload. remote is false (and
// there is no error) when d is local or tagged, for sendBinary to handle.
func (p *Process) remoteMessage(ctx context.Context, d dest) (pr *peer, m dist.Out, remote bool, err error) {
	n := p.node
	node := d.node
	if d.name == "" {
		node = d.pid.Node
	}
	if d.tag != nil || node == "" || node == n.name {
		return nil, dist.Out{}, false, nil
	}
	if pr, err = p.peerFor(ctx, node); err != nil {
		return nil, dist.Out{}, false, err
	}
	if d.name != "" {
		return pr, dist.RegSend(p.pid, d.name, nil), true, nil
	}
	return pr, dist.Send(p.pid, d.pid, nil), true, nil
}

// sendBinary sends b to d as a binary, or as {Tag, Binary} for a tagged
// dest, through the untyped path.
func (p *Process) sendBinary(ctx context.Context, d dest, b []byte) error {
	var msg Term = etf.Binary(b)
	if d.tag != nil {
		msg = etf.Tuple{d.tag, msg}
	}
	if d.name != "" {
		return p.SendName(ctx, d.name, d.node, msg)
	}
	return p.Send(ctx, d.pid, msg)
}

// Receive waits for the next message addressed through s to p, which must
// be the process s names, and decodes it. For an untagged subject that is
// the next binary in the mailbox; for a tagged one, the next {Tag, Binary}
// with s's tag. Other messages stay queued, in order, for Process.Receive
// or another subject.
//
// A message that does not decode is consumed and reported as a
// *MessageError (errors.Is ErrBadMessage) wrapping the codec's error, so a
// tag or version mismatch is errors.Is codec.ErrTagMismatch or
// codec.ErrVersionMismatch; the next Receive goes on with the next message.
// Receive returns ErrClosed (wrapped) once p has exited, and ctx's error
// when ctx ends.
func (s Subject[T]) Receive(ctx context.Context, p *Process) (T, error) {
	var zero T
	raw, b, err := p.receiveBinary(ctx, s.dest.tag, nil)
	if err != nil {
		return zero, err
	}
	v, err := codec.Decode(s.codec, b)
	if err != nil {
		return zero, &MessageError{Message: raw, Err: err}
	}
	return v, nil
}

// Receive waits for the next binary message of p and decodes it with c: the
// typed receive of a process that reads T. Messages that are not binaries
// (Down, Exit, calls, other terms) stay queued for Process.Receive. A
// binary that does not decode is consumed and returned as a *MessageError;
// the process goes on receiving. It is NewSubject(p.Pid(), c).Receive(ctx, p).
func Receive[T any](ctx context.Context, p *Process, c codec.Codec[T]) (T, error) {
	return NewSubject(p.Pid(), c).Receive(ctx, p)
}

// ReceiveMatch is selective typed receive: it waits for the first binary
// message of p that decodes with c to a value match accepts, takes it and
// returns the value. Binaries that do not decode, values match rejects,
// and messages that are not binaries stay queued in their order. match
// may be called more than once for one message, and must not block.
func ReceiveMatch[T any](ctx context.Context, p *Process, c codec.Codec[T], match func(T) bool) (T, error) {
	var got T
	_, _, err := p.receiveBinary(ctx, nil, func(b []byte) bool {
		v, err := codec.Decode(c, b)
		if err != nil || !match(v) {
			return false
		}
		got = v
		return true
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return got, nil
}

// receiveBinary is the core of typed receive: it takes the first message
// that is a binary (tag nil) or {tag, Binary}, and that match accepts (nil
// accepts any), and returns it with its bytes.
func (p *Process) receiveBinary(ctx context.Context, tag Term, match func([]byte) bool) (Term, []byte, error) {
	m, err := p.ReceiveMatch(ctx, func(m any) bool {
		b, ok := binaryOf(m, tag)
		return ok && (match == nil || match(b))
	})
	if err != nil {
		return nil, nil, err
	}
	b, _ := binaryOf(m, tag)
	return m, b, nil
}

// binaryOf returns the bytes of a typed message: m itself when tag is nil,
// the second element of {tag, Binary} otherwise.
func binaryOf(m any, tag Term) ([]byte, bool) {
	if tag == nil {
		b, ok := m.(etf.Binary)
		return b, ok
	}
	t, ok := m.(etf.Tuple)
	if !ok || len(t) != 2 {
		return nil, false
	}
	b, ok := t[1].(etf.Binary)
	if !ok || !tagEqual(t[0], tag) {
		return nil, false
	}
	return b, true
}

// tagEqual compares subject tags without boxing the common cases.
func tagEqual(a, b Term) bool {
	switch x := a.(type) {
	case Ref:
		y, ok := b.(Ref)
		return ok && x == y
	case etf.Binary:
		y, ok := b.(etf.Binary)
		return ok && string(x) == string(y)
	}
	return etf.Equal(a, b)
}

// scratchPool recycles encodeExact's buffers.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxScratch keeps one huge message from pinning a huge buffer.
const maxScratch = 64 << 10

// encodeExact encodes v into a pooled scratch buffer and returns an
// exact-size copy: one allocation per message whatever its size (appending
// to a nil slice would grow it several times).
func encodeExact[T any](c codec.Codec[T], v T) ([]byte, error) {
	bp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(bp)
	buf, err := c.Append((*bp)[:0], v)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(buf))
	copy(out, buf)
	if cap(buf) <= maxScratch {
		*bp = buf[:0]
	}
	return out, nil
}
