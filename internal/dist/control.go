package dist

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/distribute-go/distribute/etf"
)

// Op is a control message operation code, the first element of the
// control tuple, as OTP's dist.hrl numbers them.
type Op int

// Control message operations.
const (
	OpLink                Op = 1
	OpSend                Op = 2
	OpExit                Op = 3
	OpUnlink              Op = 4
	OpNodeLink            Op = 5
	OpRegSend             Op = 6
	OpGroupLeader         Op = 7
	OpExit2               Op = 8
	OpSendTT              Op = 12
	OpExitTT              Op = 13
	OpRegSendTT           Op = 16
	OpExit2TT             Op = 18
	OpMonitorP            Op = 19
	OpDemonitorP          Op = 20
	OpMonitorPExit        Op = 21
	OpSendSender          Op = 22
	OpSendSenderTT        Op = 23
	OpPayloadExit         Op = 24
	OpPayloadExitTT       Op = 25
	OpPayloadExit2        Op = 26
	OpPayloadExit2TT      Op = 27
	OpPayloadMonitorPExit Op = 28
	OpSpawnRequest        Op = 29
	OpSpawnRequestTT      Op = 30
	OpSpawnReply          Op = 31
	OpSpawnReplyTT        Op = 32
	OpAliasSend           Op = 33
	OpAliasSendTT         Op = 34
	OpUnlinkID            Op = 35
	OpUnlinkIDAck         Op = 36
)

// Leading bytes of data frames.
const (
	passThrough    = 112 // pass-through frame: 112, 131 Ctrl, [131 Msg]
	versionByte    = 131
	distHeader     = 68 // 131, 68: distribution header (atom cache)
	distFragHeader = 69 // 131, 69: first fragment
	distFragCont   = 70 // 131, 70: continuation fragment
)

// Errors of control message and frame parsing.
var (
	// ErrHeaderMode: a frame in distribution-header form (131,68/69/70)
	// given to ParseFrame. A connection in header mode (Flags.HeaderMode)
	// reads its frames with a HeaderReader; on one in pass-through mode, a
	// peer that sends such a frame is broken, and Erlang drops it.
	ErrHeaderMode = errors.New("dist: distribution header frame on a pass-through connection")
	// ErrBadFrame: a data frame that is not 112 followed by one or two terms.
	ErrBadFrame = errors.New("dist: malformed data frame")
	// ErrUnknownOp: a control tuple with an unknown operation (see UnknownOpError).
	ErrUnknownOp = errors.New("dist: unknown control operation")
	// ErrBadControl: a control tuple of the wrong arity or field types for its op.
	ErrBadControl = errors.New("dist: malformed control message")
)

// UnknownOpError reports a control operation this package does not know
// (e.g. OTP 28's ALTACT_SIG_SEND, 37). It matches ErrUnknownOp; callers
// usually log it and ignore the frame.
type UnknownOpError struct{ Op int64 }

func (e *UnknownOpError) Error() string {
	return "dist: unknown control operation " + strconv.FormatInt(e.Op, 10)
}

// Is reports whether target is ErrUnknownOp.
func (e *UnknownOpError) Is(target error) bool { return target == ErrUnknownOp }

// field identifies a control tuple element.
type field uint8

const (
	fUnused field = iota + 1 // the empty atom '' on send, ignored on receipt
	fFrom
	fTo
	fReason
	fToken
	fRef
	fID
	fGroupLeader
	fMFA
	fOpts
	fFlags
	fResult
)

type opInfo struct {
	name    string
	fields  []field // after the op
	payload bool    // a second term (message, reason or argument list) follows
	// checks are the types a Reader requires of From and To (ERTS drops
	// the connection on the same mistakes); ParseControl takes any term.
	checks checks
}

// checks are the field types a Reader requires of an operation.
type checks uint8

const (
	fromPid checks = 1 << iota // From is a pid
	toPid                      // To is a pid
	toProc                     // To is a pid or an atom (a process by name)
	toName                     // To is an atom
	toAlias                    // To is a reference
)

var ops = map[Op]opInfo{
	OpLink:                {"LINK", []field{fFrom, fTo}, false, fromPid | toPid},
	OpSend:                {"SEND", []field{fUnused, fTo}, true, toPid},
	OpExit:                {"EXIT", []field{fFrom, fTo, fReason}, false, fromPid | toPid},
	OpUnlink:              {"UNLINK", []field{fFrom, fTo}, false, fromPid | toPid},
	OpNodeLink:            {"NODE_LINK", nil, false, 0},
	OpRegSend:             {"REG_SEND", []field{fFrom, fUnused, fTo}, true, fromPid | toName},
	OpGroupLeader:         {"GROUP_LEADER", []field{fFrom, fTo}, false, 0},
	OpExit2:               {"EXIT2", []field{fFrom, fTo, fReason}, false, fromPid | toPid},
	OpSendTT:              {"SEND_TT", []field{fUnused, fTo, fToken}, true, toPid},
	OpExitTT:              {"EXIT_TT", []field{fFrom, fTo, fToken, fReason}, false, fromPid | toPid},
	OpRegSendTT:           {"REG_SEND_TT", []field{fFrom, fUnused, fTo, fToken}, true, fromPid | toName},
	OpExit2TT:             {"EXIT2_TT", []field{fFrom, fTo, fToken, fReason}, false, fromPid | toPid},
	OpMonitorP:            {"MONITOR_P", []field{fFrom, fTo, fRef}, false, fromPid | toProc},
	OpDemonitorP:          {"DEMONITOR_P", []field{fFrom, fTo, fRef}, false, fromPid | toProc},
	OpMonitorPExit:        {"MONITOR_P_EXIT", []field{fFrom, fTo, fRef, fReason}, false, toPid},
	OpSendSender:          {"SEND_SENDER", []field{fFrom, fTo}, true, toPid},
	OpSendSenderTT:        {"SEND_SENDER_TT", []field{fFrom, fTo, fToken}, true, toPid},
	OpPayloadExit:         {"PAYLOAD_EXIT", []field{fFrom, fTo}, true, fromPid | toPid},
	OpPayloadExitTT:       {"PAYLOAD_EXIT_TT", []field{fFrom, fTo, fToken}, true, fromPid | toPid},
	OpPayloadExit2:        {"PAYLOAD_EXIT2", []field{fFrom, fTo}, true, fromPid | toPid},
	OpPayloadExit2TT:      {"PAYLOAD_EXIT2_TT", []field{fFrom, fTo, fToken}, true, fromPid | toPid},
	OpPayloadMonitorPExit: {"PAYLOAD_MONITOR_P_EXIT", []field{fFrom, fTo, fRef}, true, toPid},
	OpSpawnRequest:        {"SPAWN_REQUEST", []field{fID, fFrom, fGroupLeader, fMFA, fOpts}, true, fromPid},
	OpSpawnRequestTT:      {"SPAWN_REQUEST_TT", []field{fID, fFrom, fGroupLeader, fMFA, fOpts, fToken}, true, fromPid},
	OpSpawnReply:          {"SPAWN_REPLY", []field{fID, fTo, fFlags, fResult}, false, 0},
	OpSpawnReplyTT:        {"SPAWN_REPLY_TT", []field{fID, fTo, fFlags, fResult, fToken}, false, 0},
	OpAliasSend:           {"ALIAS_SEND", []field{fFrom, fTo}, true, toAlias},
	OpAliasSendTT:         {"ALIAS_SEND_TT", []field{fFrom, fTo, fToken}, true, toAlias},
	OpUnlinkID:            {"UNLINK_ID", []field{fID, fFrom, fTo}, false, fromPid | toPid},
	OpUnlinkIDAck:         {"UNLINK_ID_ACK", []field{fID, fFrom, fTo}, false, fromPid | toPid},
}

// String returns OTP's name of the operation ("REG_SEND"), or "OP_<n>".
func (op Op) String() string {
	if i, ok := ops[op]; ok {
		return i.name
	}
	return "OP_" + strconv.Itoa(int(op))
}

// HasPayload reports whether a frame with this operation carries a second
// term after the control tuple.
func (op Op) HasPayload() bool { return ops[op].payload }

// IsMessage reports whether op delivers a message (SEND, REG_SEND,
// ALIAS_SEND and their variants), as opposed to a signal.
func (op Op) IsMessage() bool {
	switch op {
	case OpSend, OpSendTT, OpSendSender, OpSendSenderTT, OpRegSend, OpRegSendTT, OpAliasSend, OpAliasSendTT:
		return true
	}
	return false
}

// Control is a parsed control tuple. Which fields are meaningful depends
// on Op (section 5); the others are nil/zero:
//
//	From        FromPid (a pid), or FromProc of MONITOR_P_EXIT/PAYLOAD_MONITOR_P_EXIT (pid or atom)
//	To          ToPid, ToProc of MONITOR_P/DEMONITOR_P (pid or atom), ToName of REG_SEND, Alias of ALIAS_SEND
//	Reason      EXIT, EXIT2, MONITOR_P_EXIT and their _TT forms
//	Token       seq_trace token of the _TT forms
//	Ref         MONITOR_P, DEMONITOR_P, (PAYLOAD_)MONITOR_P_EXIT
//	ID          ReqId (a ref) of SPAWN_*, Id (an integer) of UNLINK_ID(_ACK)
//	GroupLeader, MFA ({Module, Function, Arity}), Opts   SPAWN_REQUEST
//	Flags, Result   SPAWN_REPLY
type Control struct {
	Op          Op
	From        etf.Term
	To          etf.Term
	Reason      etf.Term
	Token       etf.Term
	Ref         etf.Ref
	ID          etf.Term
	GroupLeader etf.Term
	MFA         etf.Tuple
	Opts        etf.Term
	Flags       int64
	Result      etf.Term
}

// ParseControl interprets a control tuple. An unknown operation is a
// *UnknownOpError; a wrong arity or field type wraps ErrBadControl.
func ParseControl(t etf.Tuple) (Control, error) {
	if len(t) == 0 {
		return Control{}, fmt.Errorf("%w: empty tuple", ErrBadControl)
	}
	n, ok := t[0].(int64)
	if !ok {
		return Control{}, fmt.Errorf("%w: operation is not an integer", ErrBadControl)
	}
	info, ok := ops[Op(n)]
	if !ok {
		return Control{}, &UnknownOpError{Op: n}
	}
	c := Control{Op: Op(n)}
	if len(t) != 1+len(info.fields) {
		return Control{}, fmt.Errorf("%w: %v with %d elements, want %d", ErrBadControl, c.Op, len(t), 1+len(info.fields))
	}
	for i, f := range info.fields {
		v := t[1+i]
		switch f {
		case fUnused:
		case fFrom:
			c.From = v
		case fTo:
			c.To = v
		case fReason:
			c.Reason = v
		case fToken:
			c.Token = v
		case fRef:
			r, ok := v.(etf.Ref)
			if !ok {
				return Control{}, fmt.Errorf("%w: %v reference is %T", ErrBadControl, c.Op, v)
			}
			c.Ref = r
		case fID:
			c.ID = v
		case fGroupLeader:
			c.GroupLeader = v
		case fMFA:
			mfa, ok := v.(etf.Tuple)
			if !ok || len(mfa) != 3 {
				return Control{}, fmt.Errorf("%w: %v MFA is not a 3-tuple", ErrBadControl, c.Op)
			}
			c.MFA = mfa
		case fOpts:
			c.Opts = v
		case fFlags:
			fl, ok := v.(int64)
			if !ok {
				return Control{}, fmt.Errorf("%w: %v flags is %T", ErrBadControl, c.Op, v)
			}
			c.Flags = fl
		case fResult:
			c.Result = v
		}
	}
	return c, nil
}

// Tuple builds the control tuple for c (unused fields become the empty
// atom, as Erlang sends them). It panics on an unknown Op, a programming
// error.
func (c Control) Tuple() etf.Tuple {
	info, ok := ops[c.Op]
	if !ok {
		panic("dist: Control.Tuple of unknown operation " + c.Op.String())
	}
	t := make(etf.Tuple, 1+len(info.fields))
	t[0] = int64(c.Op)
	for i, f := range info.fields {
		var v etf.Term
		switch f {
		case fUnused:
			v = etf.Atom("")
		case fFrom:
			v = c.From
		case fTo:
			v = c.To
		case fReason:
			v = c.Reason
		case fToken:
			v = c.Token
		case fRef:
			v = c.Ref
		case fID:
			v = c.ID
		case fGroupLeader:
			v = c.GroupLeader
		case fMFA:
			v = c.MFA
		case fOpts:
			v = c.Opts
		case fFlags:
			v = c.Flags
		case fResult:
			v = c.Result
		}
		t[1+i] = v
	}
	return t
}

// String prints the operation and its meaningful fields for logs.
func (c Control) String() string {
	return fmt.Sprintf("%v%v", c.Op, []etf.Term(c.Tuple()[1:]))
}

// AppendPassThrough appends a pass-through data frame payload to dst:
// 112, 131 ctrl, and 131 msg unless msg is nil (no payload). Add the
// 4-byte length with AppendFrame, or hand the result to Conn.Send. On
// error dst is returned unchanged.
func AppendPassThrough(dst []byte, ctrl etf.Tuple, msg etf.Term) ([]byte, error) {
	n := len(dst)
	out, err := etf.Append(append(dst, passThrough), ctrl)
	if err != nil {
		return dst[:n], fmt.Errorf("dist: encode control: %w", err)
	}
	if msg != nil {
		out, err = etf.Append(out, msg)
		if err != nil {
			return dst[:n], fmt.Errorf("dist: encode payload: %w", err)
		}
	}
	return out, nil
}

// ParseFrame decodes a pass-through data frame (112, 131 Ctrl, [131 Msg])
// with d. A distribution-header frame (131,68/69/70) fails with
// ErrHeaderMode; anything else that is not 112 followed by a control
// tuple whose first element is an integer, optionally a second term, and
// nothing more wraps ErrBadFrame or the etf decode error. The operation is
// not checked here (see ParseControl). If d aliases binaries
// (etf.Decoder.AliasBinaries), the terms share the frame's memory, which a
// Conn reuses after its Handler returns: use the default copying Decoder
// unless the terms are consumed inside the Handler.
func ParseFrame(d *etf.Decoder, frame []byte) (ctrl etf.Tuple, msg etf.Term, hasMsg bool, err error) {
	if len(frame) == 0 {
		return nil, nil, false, fmt.Errorf("%w: empty", ErrBadFrame)
	}
	if frame[0] != passThrough {
		if frame[0] == versionByte && len(frame) > 1 && (frame[1] == distHeader || frame[1] == distFragHeader || frame[1] == distFragCont) {
			return nil, nil, false, ErrHeaderMode
		}
		return nil, nil, false, fmt.Errorf("%w: starts with %d, want 112", ErrBadFrame, frame[0])
	}
	return parseTerms(d, frame[1:], d.Decode)
}

// parseTerms decodes a frame's control tuple and optional payload from
// body with decode (Decode for pass-through terms, DecodeTerm for header
// mode).
func parseTerms(d *etf.Decoder, body []byte, decode func([]byte) (etf.Term, int, error)) (ctrl etf.Tuple, msg etf.Term, hasMsg bool, err error) {
	t, n, err := decode(body)
	if err != nil {
		return nil, nil, false, fmt.Errorf("%w: control: %w", ErrBadFrame, err)
	}
	ctrl, ok := t.(etf.Tuple)
	if !ok || len(ctrl) == 0 {
		return nil, nil, false, fmt.Errorf("%w: control is %T, not a tuple", ErrBadFrame, t)
	}
	if _, ok := ctrl[0].(int64); !ok {
		return nil, nil, false, fmt.Errorf("%w: control operation is %T", ErrBadFrame, ctrl[0])
	}
	rest := body[n:]
	if len(rest) == 0 {
		return ctrl, nil, false, nil
	}
	msg, n, err = decode(rest)
	if err != nil {
		return nil, nil, false, fmt.Errorf("%w: payload: %w", ErrBadFrame, err)
	}
	if n != len(rest) {
		return nil, nil, false, fmt.Errorf("%w: %d bytes after the payload", ErrBadFrame, len(rest)-n)
	}
	return ctrl, msg, true, nil
}
