package dist

import (
	"errors"
	"fmt"

	"github.com/distribute-go/distribute/etf"
)

// Sentinel errors. Every error returned by this package wraps one of them
// (or is a typed error whose Is method matches one).
var (
	// ErrBadCookie: the challenge digest did not match, or the peer closed
	// the connection right after our challenge reply (what Erlang does when
	// our digest is wrong).
	ErrBadCookie = errors.New("dist: bad cookie")
	// ErrHandshake: the handshake failed for another reason than the
	// cookie or TLS: ErrMissingFlags, ErrMalformed, ErrWrongPeer,
	// ErrRefused, ErrHandshakeTimeout and ErrMessageTooLarge match it.
	ErrHandshake = errors.New("dist: handshake failed")
	// ErrMissingFlags: the peer lacks a mandatory capability (see MissingFlagsError).
	ErrMissingFlags error = handshakeError("dist: missing mandatory flags")
	// ErrMalformed: a handshake message could not be parsed (see MalformedError).
	ErrMalformed error = handshakeError("dist: malformed handshake message")
	// ErrBadName: a node name is empty, too long or not of the form alive@host.
	ErrBadName = errors.New("dist: bad node name")
	// ErrWrongPeer: the acceptor's challenge carries a different name than the one dialled.
	ErrWrongPeer error = handshakeError("dist: peer name differs from the dialled name")
	// ErrRefused: the handshake status was not ok (see StatusError).
	ErrRefused error = handshakeError("dist: handshake refused")
	// ErrSimultaneous: a simultaneous connect was resolved in favour of the
	// other attempt; the connection that returns it is abandoned.
	ErrSimultaneous = errors.New("dist: simultaneous connect lost")
	// ErrHandshakeTimeout: a handshake step took longer than HandshakeConfig.Timeout.
	ErrHandshakeTimeout error = handshakeError("dist: handshake timeout")
	// ErrMessageTooLarge: a handshake message exceeds MaxHandshakeMessage.
	ErrMessageTooLarge error = handshakeError("dist: handshake message too large")
	// ErrFrameTooLarge: a frame exceeds the configured maximum (see FrameTooLargeError).
	ErrFrameTooLarge = errors.New("dist: frame too large")
	// ErrTickTimeout: nothing was received from the peer for about TickTime
	// (Erlang's net_tick_timeout), or a write stalled for TickTime.
	ErrTickTimeout = errors.New("dist: net_tick_timeout")
	// ErrConfig: a configuration value is invalid.
	ErrConfig = errors.New("dist: invalid config")
	// ErrTLSHandshake: the TLS handshake before the distribution
	// handshake failed (an untrusted certificate, a missing client
	// certificate under mTLS, ...).
	ErrTLSHandshake = errors.New("dist: TLS handshake failed")
	// ErrTLSMismatch: one side speaks TLS and the other does not (see
	// ErrPeerTLS and ErrPeerNotTLS, which wrap it).
	ErrTLSMismatch = errors.New("dist: TLS on one side only")
	// ErrPeerTLS: we speak plain TCP and the peer answered in TLS.
	ErrPeerTLS = fmt.Errorf("%w: peer speaks TLS", ErrTLSMismatch)
	// ErrPeerNotTLS: we speak TLS and the peer answered in plain TCP.
	ErrPeerNotTLS = fmt.Errorf("%w: peer does not speak TLS", ErrTLSMismatch)
)

// MalformedError describes a handshake message that failed to parse.
type MalformedError struct {
	Msg    string // message kind: "send_name", "challenge", "status", ...
	Reason string
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("dist: malformed %s: %s", e.Msg, e.Reason)
}

// Is reports whether target is ErrMalformed or ErrHandshake.
func (e *MalformedError) Is(target error) bool {
	return target == ErrMalformed || target == ErrHandshake
}

func malformed(msg, reason string) error { return &MalformedError{Msg: msg, Reason: reason} }

// StatusError is returned by Dial when the acceptor answered with a status
// other than ok/ok_simultaneous (e.g. "not_allowed", "nok", "alive"
// followed by our "false"). It matches ErrRefused, and ErrSimultaneous for
// "nok".
type StatusError struct {
	Status string
}

func (e *StatusError) Error() string { return "dist: handshake refused with status " + e.Status }

// Is reports whether target is ErrRefused or ErrHandshake (always), or
// ErrSimultaneous (for "nok").
func (e *StatusError) Is(target error) bool {
	return target == ErrRefused || target == ErrHandshake || (target == ErrSimultaneous && e.Status == StatusNok)
}

// FrameTooLargeError reports a frame length above the configured maximum.
// It matches ErrFrameTooLarge.
type FrameTooLargeError struct {
	Len, Max uint64
}

func (e *FrameTooLargeError) Error() string {
	return fmt.Sprintf("dist: frame of %d bytes exceeds the limit of %d", e.Len, e.Max)
}

// Is reports whether target is ErrFrameTooLarge.
func (e *FrameTooLargeError) Is(target error) bool { return target == ErrFrameTooLarge }

// Limit is a limit a peer's frame went over (see LimitOf).
type Limit int

// The limits LimitOf tells apart.
const (
	NoLimit         Limit = 0 // the error is not about a limit
	LimitFrame      Limit = 1 // a frame longer than ConnConfig.MaxFrame (or the reassembly bound)
	LimitCompressed Limit = 2 // a compressed term, which the distribution never carries
	LimitDepth      Limit = 3 // etf.Limits.MaxDepth
	LimitAtoms      Limit = 4 // etf.Limits.MaxAtoms
	LimitBigBytes   Limit = 5 // a bignum longer than etf allows
	LimitMemory     Limit = 6 // a fun whose decoding would take more than etf.MemoryPerByte per byte
	LimitSize       Limit = 7 // etf.Limits.MaxSize, or the memory bound of any other term
)

// LimitOf names the limit err (why a connection closed: a Reader's or a
// Conn's error) says the peer went over, or NoLimit.
func LimitOf(err error) Limit {
	var de *etf.DecodeError
	switch {
	case err == nil:
		return NoLimit
	case errors.Is(err, ErrFrameTooLarge):
		return LimitFrame
	case errors.Is(err, etf.ErrCompressed):
		return LimitCompressed
	case errors.Is(err, etf.ErrTooDeep):
		return LimitDepth
	case errors.Is(err, etf.ErrAtomBudget):
		return LimitAtoms
	case errors.As(err, &de) && errors.Is(err, etf.ErrTooLarge):
		switch de.Tag {
		case etf.TagSmallBig, etf.TagLargeBig:
			return LimitBigBytes
		case etf.TagNewFun:
			return LimitMemory
		}
		return LimitSize
	}
	return NoLimit
}

// handshakeError is a handshake sentinel that also matches ErrHandshake.
type handshakeError string

func (e handshakeError) Error() string { return string(e) }

// Is reports whether target is ErrHandshake.
func (e handshakeError) Is(target error) bool { return target == ErrHandshake }
