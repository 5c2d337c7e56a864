package distribute

import (
	"context"
	"log/slog"

	"github.com/distribute-go/distribute/etf"
)

// MaxCorrelationID is the longest correlation id, in bytes, that travels
// to other nodes. A longer id stays in the local context (and its logs)
// but is not sent, and a longer one received is ignored.
const MaxCorrelationID = 256

// correlationKey is the context key of a correlation id.
type correlationKey struct{}

// WithCorrelationID returns a copy of ctx carrying the correlation id id.
// Calls (Process.Call, CallName, the typed Call) and RPCs (rpc.Client.Call) made
// with that context carry the id to the other side, where the handler's
// context has it: a Handler's, an Actor's HandleCall's, an rpc.Handler's
// (and From.CorrelationID gives it to a process that receives calls
// itself). LogHandler adds it to every log record made with the context.
// An empty id removes it.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

// CorrelationID returns the correlation id ctx carries, if any.
func CorrelationID(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(correlationKey{}).(string)
	return id, ok && id != ""
}

// atomCorrelationID tags the correlation id on the wire:
// {'$correlation_id', <<Id>>}.
const atomCorrelationID = Atom("$correlation_id")

// correlationTerm is the wire form of the id ctx carries, or nil when it
// carries none (or one longer than MaxCorrelationID).
func correlationTerm(ctx context.Context) Term {
	id, ok := CorrelationID(ctx)
	if !ok || len(id) > MaxCorrelationID {
		return nil
	}
	return etf.Tuple{atomCorrelationID, etf.Binary(id)}
}

// ParseCorrelationTerm recognizes the wire form of a correlation id,
// {'$correlation_id', <<Id>>}, with Id at most MaxCorrelationID bytes. It
// is exported for the rpc package, which carries the same term.
func ParseCorrelationTerm(t Term) (string, bool) {
	tup, ok := t.(etf.Tuple)
	if !ok || len(tup) != 2 || tup[0] != atomCorrelationID {
		return "", false
	}
	b, ok := tup[1].(etf.Binary)
	if !ok || len(b) == 0 || len(b) > MaxCorrelationID {
		return "", false
	}
	return string(b), true
}

// CorrelationTerm returns the wire form of the correlation id ctx
// carries, {'$correlation_id', <<Id>>}, or nil when it carries none (or
// one longer than MaxCorrelationID). It is exported for the rpc package.
func CorrelationTerm(ctx context.Context) Term { return correlationTerm(ctx) }

// CorrelationID returns the correlation id the caller sent with its call,
// if any: a Go caller whose context had one (WithCorrelationID) puts it in
// the call's tag, [[alias | Ref] | {'$correlation_id', <<Id>>}].
func (f From) CorrelationID() (string, bool) {
	l, ok := f.Tag.(etf.ImproperList)
	if !ok || len(l.Elems) != 1 {
		return "", false
	}
	if _, ok := aliasOf(l.Elems[0]); !ok {
		return "", false
	}
	return ParseCorrelationTerm(l.Tail)
}

// callContext returns ctx with the correlation id of the call m, if m is
// a call that carries one; else ctx itself.
func callContext(ctx context.Context, from From) context.Context {
	if id, ok := from.CorrelationID(); ok {
		return WithCorrelationID(ctx, id)
	}
	return ctx
}

// callTag is the tag of a call whose reply goes to the alias ref:
// [alias | Ref], or [[alias | Ref] | {'$correlation_id', <<Id>>}] when ctx
// carries a correlation id. OTP's gen:reply/2 (OTP 25 and later) sends the
// reply to the alias for both shapes and treats the rest as opaque.
func callTag(ctx context.Context, ref Ref) Term {
	return callRequest(ctx, Pid{}, ref, nil)[1].(etf.Tuple)[1]
}

// The atoms of a call's request, boxed once: converting a string
// variable to an interface allocates.
var (
	termGenCall Term = atomGenCall
	termAlias   Term = atomAlias
)

// callMsg holds the backing arrays of a call's request message, so that
// they cost one allocation, not one each (see callRequest).
type callMsg struct {
	msg   [3]Term // {'$gen_call', From, Request}
	from  [2]Term // {Pid, Tag}
	alias [1]Term // [alias | Ref]
	outer [1]Term // [[alias | Ref] | Correlation]
}

// callRequest is the request message of a call from the process from
// whose reply goes to the alias ref: {'$gen_call', {From, Tag}, Request}
// with callTag's tag.
func callRequest(ctx context.Context, from Pid, ref Ref, request Term) etf.Tuple {
	c := new(callMsg)
	c.alias[0] = termAlias
	var tag Term = etf.ImproperList{Elems: c.alias[:], Tail: ref}
	if ct := correlationTerm(ctx); ct != nil {
		c.outer[0] = tag
		tag = etf.ImproperList{Elems: c.outer[:], Tail: ct}
	}
	c.from = [2]Term{from, tag}
	c.msg = [3]Term{termGenCall, etf.Tuple(c.from[:]), request}
	return etf.Tuple(c.msg[:])
}

// LogHandler wraps h so that every record logged with a context carrying
// a correlation id (WithCorrelationID) gets the attribute
// correlation_id=ID. Use it for Config.Logger:
//
//	logger := slog.New(distribute.LogHandler(slog.NewJSONHandler(os.Stderr, nil)))
//	logger.InfoContext(ctx, "order placed")
//
// After WithGroup the attribute is added inside the group, as any
// attribute a record carries.
func LogHandler(h slog.Handler) slog.Handler {
	if lh, ok := h.(logHandler); ok {
		return lh
	}
	return logHandler{h}
}

type logHandler struct{ h slog.Handler }

func (l logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.h.Enabled(ctx, level)
}

func (l logHandler) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := CorrelationID(ctx); ok {
		r = r.Clone()
		r.AddAttrs(slog.String("correlation_id", id))
	}
	return l.h.Handle(ctx, r)
}

func (l logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{l.h.WithAttrs(attrs)}
}

func (l logHandler) WithGroup(name string) slog.Handler {
	return logHandler{l.h.WithGroup(name)}
}
