package rpc

import (
	"errors"
	"fmt"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
)

// Class is the class of an Erlang exception: throw, error or exit.
type Class = etf.Atom

// The exception classes.
const (
	ClassThrow Class = "throw"
	ClassError Class = "error"
	ClassExit  Class = "exit"
)

// Sentinel errors. Errors returned by this package wrap them or match them
// with errors.Is.
var (
	// ErrBadArg: the arguments do not fit the function. A handler returns
	// it (wrapped or not) to raise error:badarg, as an Erlang BIF does.
	ErrBadArg = errors.New("rpc: bad argument")
	// ErrUndef: the function is not exported (error:undef).
	ErrUndef = errors.New("rpc: undefined function")
	// ErrNotSup: the node does not serve RPC ({erpc, notsup}).
	ErrNotSup = errors.New("rpc: not supported by the node")
	// ErrRaised is matched by every *Error: the called function raised.
	ErrRaised = errors.New("rpc: the function raised an exception")
	// ErrExists: Register of a function that is already exported.
	ErrExists = errors.New("rpc: function already registered")
)

// Error is an exception raised by the called function, as Erlang's erpc
// reports it. A handler returns one to raise: Throw, Exit and Raise build
// them.
//
// What erpc:call raises for it, and what rpc:call returns:
//
//	Class  erpc:call raises                     rpc:call returns
//	throw  throw:Reason                         Reason
//	exit   exit:{exception, Reason}             {badrpc, {'EXIT', Reason}}
//	error  error:{exception, Reason, Stack}     {badrpc, {'EXIT', {Reason, Stack}}}
//
// Signal is set (Class exit) when the process running the function was
// killed by an exit signal Reason rather than raising: erpc's
// exit:{signal, Reason}.
type Error struct {
	Class  Class
	Reason etf.Term
	// Stack is the error class's stack trace, a list of
	// {Module, Function, ArityOrArgs, Location} tuples. A handler may leave
	// it nil: the caller then sees [{Module, Function, Arity, []}].
	Stack  etf.Term
	Signal bool
}

// Throw returns the error a handler returns to throw(Value).
func Throw(value etf.Term) *Error { return &Error{Class: ClassThrow, Reason: value} }

// Exit returns the error a handler returns to exit(Reason).
func Exit(reason etf.Term) *Error { return &Error{Class: ClassExit, Reason: reason} }

// Raise returns the error a handler returns to error(Reason).
func Raise(reason etf.Term) *Error { return &Error{Class: ClassError, Reason: reason} }

func (e *Error) Error() string {
	if e.Signal {
		return "rpc: exit: {signal," + etf.FormatLimit(e.Reason, etf.LogTextMax) + "}"
	}
	return "rpc: " + string(e.Class) + ": " + etf.FormatLimit(e.Exception(), etf.LogTextMax)
}

// Is makes errors.Is(err, ErrRaised) true, ErrUndef for error:undef and
// ErrBadArg for error:badarg.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrRaised:
		return true
	case ErrUndef:
		return e.Class == ClassError && e.Reason == etf.Atom("undef")
	case ErrBadArg:
		return e.Class == ClassError && e.Reason == etf.Atom("badarg")
	}
	return false
}

// Exception returns the reason erpc:call raises with: Reason for throw,
// {exception, Reason} (or {signal, Reason}) for exit, {exception, Reason,
// Stack} for error.
func (e *Error) Exception() etf.Term {
	switch {
	case e.Class == ClassThrow:
		return e.Reason
	case e.Signal:
		return etf.Tuple{etf.Atom("signal"), e.Reason}
	case e.Class == ClassExit:
		return etf.Tuple{etf.Atom("exception"), e.Reason}
	}
	return etf.Tuple{etf.Atom("exception"), e.Reason, stackOrEmpty(e.Stack)}
}

// BadRPC returns what rpc:call returns for this exception: the thrown
// value for throw, {badrpc, {'EXIT', Reason}} for exit, {badrpc, {'EXIT',
// {Reason, Stack}}} for error.
func (e *Error) BadRPC() etf.Term {
	switch e.Class {
	case ClassThrow:
		return e.Reason
	case ClassError:
		return badrpc(etf.Tuple{etf.Atom("EXIT"), etf.Tuple{e.Reason, stackOrEmpty(e.Stack)}})
	}
	return badrpc(etf.Tuple{etf.Atom("EXIT"), e.Reason})
}

func stackOrEmpty(s etf.Term) etf.Term {
	if s == nil {
		return etf.List{}
	}
	return s
}

func badrpc(reason etf.Term) etf.Term { return etf.Tuple{etf.Atom("badrpc"), reason} }

// CallError is an RPC that failed without the function raising: erpc's
// error:{erpc, Reason}. Reason is timeout, noconnection, notsup, badarg,
// system_limit, or another reason the remote node gave.
type CallError struct {
	Node   etf.Atom
	Reason etf.Term
	// Err is the underlying cause when there is one (the context's error
	// for a timeout, the connection error for noconnection).
	Err error
}

func (e *CallError) Error() string {
	s := fmt.Sprintf("rpc: call to %s: {erpc,%s}", e.Node, etf.FormatLimit(e.Reason, etf.LogTextMax))
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *CallError) Unwrap() error { return e.Err }

// Is maps the reasons to the sentinels: timeout → distribute.ErrTimeout,
// noconnection → distribute.ErrNodeDown, notsup → ErrNotSup, badarg →
// ErrBadArg.
func (e *CallError) Is(target error) bool {
	switch e.Reason {
	case etf.Atom("timeout"):
		return target == distribute.ErrTimeout
	case etf.Atom("noconnection"):
		return target == distribute.ErrNodeDown
	case etf.Atom("notsup"):
		return target == ErrNotSup
	case etf.Atom("badarg"):
		return target == ErrBadArg
	}
	return false
}

// Exception returns the reason erpc:call raises with: {erpc, Reason}.
func (e *CallError) Exception() etf.Term { return etf.Tuple{etf.Atom("erpc"), e.Reason} }

// BadRPC returns what rpc:call returns for this failure: {badrpc, nodedown}
// for a lost node, else {badrpc, Reason}.
func (e *CallError) BadRPC() etf.Term {
	if e.Reason == etf.Atom("noconnection") {
		return badrpc(etf.Atom("nodedown"))
	}
	return badrpc(e.Reason)
}

// BadRPC returns the rpc:call-shaped term for an error of Client.Call ({badrpc,
// ...} or, for a throw, the thrown value), and false for an error that
// did not come from an RPC.
func BadRPC(err error) (etf.Term, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.BadRPC(), true
	}
	var ce *CallError
	if errors.As(err, &ce) {
		return ce.BadRPC(), true
	}
	return nil, false
}
