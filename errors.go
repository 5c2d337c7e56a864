package distribute

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
)

// Sentinel errors callers branch on. Errors returned by this package wrap
// them (test with errors.Is).
var (
	// ErrClosed: the node or process was stopped. It wraps net.ErrClosed.
	ErrClosed = fmt.Errorf("distribute: closed: %w", net.ErrClosed)
	// ErrNoProc: the target process does not exist or has exited (noproc).
	ErrNoProc = errors.New("distribute: no such process")
	// ErrNodeDown: the connection to the target's node is lost or cannot be
	// made (noconnection).
	ErrNodeDown = errors.New("distribute: node down")
	// ErrTimeout: the deadline passed before an answer came. An operation
	// whose ctx's deadline passes returns an error wrapping both ErrTimeout
	// and context.DeadlineExceeded; one whose ctx is canceled returns one
	// wrapping context.Canceled, and not ErrTimeout: nothing timed out.
	ErrTimeout = errors.New("distribute: timeout")
	// ErrBadCookie: a handshake failed because the cookies differ (a
	// connection error also wraps ErrNodeDown).
	ErrBadCookie = dist.ErrBadCookie
	// ErrHandshake: a handshake was refused or broke off for another
	// reason than the cookie or TLS: a missing capability, a name in use,
	// a malformed or oversized message, a step that took longer than
	// Config.HandshakeTimeout. A connection error also wraps ErrNodeDown.
	ErrHandshake = dist.ErrHandshake
	// ErrTLSMismatch: only one side of a connection speaks TLS (Config.TLS
	// set on one node and not the other). The text says which: "peer
	// speaks TLS" or "peer does not speak TLS". A connection error also
	// wraps ErrNodeDown.
	ErrTLSMismatch = dist.ErrTLSMismatch
	// ErrTickTimeout: a connection was dropped because the peer went
	// silent for about Config.TickTime (Erlang's net_tick_timeout), or
	// read nothing of what this node sent for that long. NodeDown.Err and
	// NodeEvent.Err wrap it, with ErrNodeDown.
	ErrTickTimeout = dist.ErrTickTimeout
	// ErrFrameTooLarge: a frame over Config.MaxFrameSize, announced by a
	// peer (which loses its connection: NodeDown.Err and NodeEvent.Err
	// wrap it, with ErrNodeDown) or too large to send.
	ErrFrameTooLarge = dist.ErrFrameTooLarge
)

// downErr is the error of a connection to node that ended with err
// (nil: closed without one): ErrNodeDown, and err for errors.Is.
func downErr(node Atom, err error) error {
	if err == nil {
		return fmt.Errorf("distribute: connection to %s: %w", node, ErrNodeDown)
	}
	return fmt.Errorf("distribute: connection to %s: %w: %w", node, ErrNodeDown, err)
}

// errDead is what a dead process's mailbox returns to its receiver.
var errDead = fmt.Errorf("distribute: process exited: %w", ErrClosed)

// ExitError is the exit reason of a process, as links and monitors see it.
type ExitError struct {
	Reason etf.Term
}

func (e *ExitError) Error() string {
	return "distribute: process exited: " + etf.FormatLimit(e.Reason, etf.LogTextMax)
}

// Is makes errors.Is(err, ErrNoProc) true for the noproc reason and
// errors.Is(err, ErrNodeDown) for noconnection.
func (e *ExitError) Is(target error) bool {
	switch target {
	case ErrNoProc:
		return e.Reason == etf.Atom("noproc")
	case ErrNodeDown:
		return e.Reason == etf.Atom("noconnection")
	}
	return false
}

// ctxError is the error of an operation that ctx ended (see ErrTimeout):
// past a deadline it wraps ErrTimeout and context.DeadlineExceeded;
// canceled, it is ctx's error. Wrap it with the operation: its text
// carries no package prefix of its own.
func ctxError(ctx context.Context) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return deadlineError{err}
	}
	return err
}

// deadlineError is a deadline that passed: ErrTimeout and the context's
// error in one.
type deadlineError struct{ err error }

func (e deadlineError) Error() string   { return "timeout: " + e.err.Error() }
func (e deadlineError) Unwrap() []error { return []error{ErrTimeout, e.err} }
