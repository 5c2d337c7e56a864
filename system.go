package distribute

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/distribute-go/distribute/etf"
)

var (
	atomSystem    = Atom("system")
	atomOK        = Atom("ok")
	atomRunning   = Atom("running")
	atomSuspended = Atom("suspended")
)

// ParseSystem recognizes a system message {system, From, Request}: what
// OTP's sys module sends to a process (sys:get_state/1, sys:suspend/1,
// sys:terminate/2, and so gen_server:stop/1 and Elixir's GenServer.stop/1).
// Answer it with HandleSystem.
func ParseSystem(msg any) (from From, request Term, ok bool) {
	return parseFromRequest(msg, atomSystem)
}

// HandleSystem answers msg, when it is a system message (ParseSystem), as
// an OTP gen_server answers it, and reports whether it was one. A process
// that runs its own receive loop and answers gen_server calls passes it
// every message it receives, so that sys, observer and GenServer.stop work
// on it; an Actor does this itself. state returns the process's state for
// get_state and get_status, converted with etf.ToTerm; a state with no
// term (a channel, a func) is shown as {go_state, TypeName}, TypeName a
// binary such as <<"*main.server">>. A nil state shows the atom undefined.
//
// The requests and their answers (the reply to the caller's From):
//
//	get_state              the state; {ok, State} to a caller on OTP 26.1 or later,
//	                       whose sys expects it (see okWrappedState)
//	get_status             {status, Pid, {module, gen_server}, [PDict, running | suspended,
//	                        Parent, [], [{header, "Status for generic server " ++ Name},
//	                        {data, [{"Status", running | suspended}, {"Parent", Parent},
//	                        {"Logged events", []}]}, {data, [{"State", State}]}]]}
//	                       with PDict [] and Parent the process itself
//	suspend                ok; then HandleSystem returns only once resumed: meanwhile
//	                       it answers system messages only, and the others stay
//	                       queued, in order, for the process to handle afterwards
//	                       (a gen_server call waits)
//	resume                 ok
//	{terminate, Reason}    ok; then HandleSystem returns an *ExitError with Reason:
//	                       return it (after any cleanup) so that the process exits
//	                       with Reason, which gen_server:stop and GenServer.stop wait for
//	{replace_state, Fun}   {error, {callback_failed, {gen_server, system_replace_state},
//	                        {error, {badfun, Fun}}}}, so sys:replace_state raises: a Go
//	                       process cannot run an Erlang fun, as a BEAM node without
//	                       the fun's module cannot
//	{debug, {log, get}}    {ok, []}; {debug, {statistics, get}} is {ok, no_statistics};
//	                       {debug, no_debug} and {debug, {_, false}} are ok (a Go
//	                       process keeps no sys debug log)
//	anything else          {error, {unknown_system_msg, Request}}, as sys answers
//
// A reply that cannot be sent (the caller's node is gone) is dropped, as
// gen_server drops it. The error is non-nil only for terminate, or when
// the process exits or ctx ends while it is suspended.
func (p *Process) HandleSystem(ctx context.Context, msg any, state func() any) (bool, error) {
	from, req, ok := ParseSystem(msg)
	if !ok {
		return false, nil
	}
	err := p.handleSystem(ctx, from, req, sysServer{state: state})
	var rf *receiveFailed
	if errors.As(err, &rf) {
		err = rf.err
	}
	return true, err
}

// receiveFailed is a receive error while suspended: the process is
// exiting (or ctx ended), so no terminate callback runs for it.
type receiveFailed struct{ err error }

func (e *receiveFailed) Error() string { return e.err.Error() }
func (e *receiveFailed) Unwrap() error { return e.err }

// sysServer is what a process gives handleSystem.
type sysServer struct {
	state func() any
	// wake, if set, picks the messages besides system messages that end a
	// suspension (an Actor's Stop); handleSystem returns wake's error.
	wake func(m any) (bool, error)
}

// handleSystem answers one system request, and, when it suspends the
// process, the system requests that follow until the suspension ends.
func (p *Process) handleSystem(ctx context.Context, from From, req Term, s sysServer) error {
	suspended := false
	for {
		reply, next, stop := p.systemReply(from, req, s, suspended)
		p.Reply(ctx, from, reply)
		if stop != nil {
			return stop
		}
		if suspended = next; !suspended {
			return nil
		}
		m, err := p.ReceiveMatch(ctx, func(m any) bool {
			if _, _, ok := ParseSystem(m); ok {
				return true
			}
			if s.wake != nil {
				ok, _ := s.wake(m)
				return ok
			}
			return false
		})
		if err != nil {
			return &receiveFailed{err}
		}
		var ok bool
		if from, req, ok = ParseSystem(m); !ok {
			_, err := s.wake(m)
			return err
		}
	}
}

// systemReply computes the reply to req and what follows: whether the
// process is suspended after it, and the error that ends it (terminate).
func (p *Process) systemReply(from From, req Term, s sysServer, suspended bool) (reply Term, nowSuspended bool, stop error) {
	switch r := req.(type) {
	case Atom:
		switch r {
		case "get_state":
			if okWrappedState(from) {
				return etf.Tuple{atomOK, p.systemState(s)}, suspended, nil
			}
			return p.systemState(s), suspended, nil
		case "get_status":
			return p.systemStatus(s, suspended), suspended, nil
		case "suspend":
			return atomOK, true, nil
		case "resume":
			return atomOK, false, nil
		}
	case etf.Tuple:
		switch {
		case len(r) == 2 && r[0] == Atom("terminate"):
			return atomOK, suspended, &ExitError{Reason: r[1]}
		case len(r) == 2 && r[0] == Atom("replace_state"):
			return etf.Tuple{atomError, etf.Tuple{
				Atom("callback_failed"),
				etf.Tuple{Atom("gen_server"), Atom("system_replace_state")},
				etf.Tuple{atomError, etf.Tuple{Atom("badfun"), r[1]}},
			}}, suspended, nil
		case len(r) == 2 && r[0] == Atom("debug"):
			if reply, ok := systemDebug(r[1]); ok {
				return reply, suspended, nil
			}
		}
	}
	return etf.Tuple{atomError, etf.Tuple{Atom("unknown_system_msg"), req}}, suspended, nil
}

// systemDebug answers the sys debug requests a process without a debug
// log can answer truthfully.
func systemDebug(what Term) (Term, bool) {
	if what == Atom("no_debug") {
		return atomOK, true
	}
	t, ok := what.(etf.Tuple)
	if !ok || len(t) != 2 {
		return nil, false
	}
	switch {
	case t[1] == Atom("false"):
		return atomOK, true
	case t[0] == Atom("log") && t[1] == Atom("get"):
		return etf.Tuple{atomOK, etf.List{}}, true
	case t[0] == Atom("statistics") && t[1] == Atom("get"):
		return etf.Tuple{atomOK, Atom("no_statistics")}, true
	}
	return nil, false
}

// systemState renders the process's state.
// okWrappedState reports whether the caller's sys:get_state expects the
// state as {ok, State}: OTP 26.1 changed both sides (the process answers
// {ok, State}, and sys:get_state matches it, so that a state {error, _}
// is not taken for an error), while OTP 25 answers and expects the bare
// state. The caller's release is not on the wire; its call tag tells
// them apart: gen:call's tag is [alias|Ref], and OTP 26 and later make
// alias refs of 5 words where OTP 25 makes 3 (checked on OTP 25.2 and
// 27.2). A caller on OTP 26.0 is taken for a new one.
func okWrappedState(from From) bool {
	ref, ok := aliasOf(from.Tag)
	return ok && ref.Len >= 5
}

func (p *Process) systemState(s sysServer) Term {
	if s.state == nil {
		return Atom("undefined")
	}
	return StateTerm(s.state())
}

// StateTerm is the term HandleSystem shows for a Go state value: v as
// etf.ToTerm converts it, the atom undefined for nil, or {go_state,
// TypeName} (TypeName a binary such as <<"*main.server">>) when v has no
// term. A state type can choose its term by implementing etf.Marshaler.
func StateTerm(v any) Term {
	if v == nil {
		return Atom("undefined")
	}
	t, err := etf.ToTerm(v)
	if err != nil {
		return etf.Tuple{Atom("go_state"), etf.Binary(fmt.Sprintf("%T", v))}
	}
	return t
}

// systemStatus is get_status's answer, in gen_server's shape.
func (p *Process) systemStatus(s sysServer, suspended bool) Term {
	sysState := atomRunning
	if suspended {
		sysState = atomSuspended
	}
	name := fmt.Sprintf("<0.%d.%d>", p.pid.ID, p.pid.Serial)
	if names := p.Names(); len(names) > 0 {
		slices.Sort(names)
		name = string(names[0])
	}
	header := etf.Tuple{Atom("header"), etf.CharList("Status for generic server " + name)}
	data := etf.Tuple{Atom("data"), etf.List{
		etf.Tuple{etf.CharList("Status"), sysState},
		etf.Tuple{etf.CharList("Parent"), p.pid},
		etf.Tuple{etf.CharList("Logged events"), etf.List{}},
	}}
	st := etf.Tuple{Atom("data"), etf.List{etf.Tuple{etf.CharList("State"), p.systemState(s)}}}
	return etf.Tuple{
		Atom("status"), p.pid, etf.Tuple{Atom("module"), Atom("gen_server")},
		etf.List{etf.List{}, sysState, p.pid, etf.List{}, etf.List{header, data, st}},
	}
}
