package dist

import (
	"math/big"

	"github.com/distribute-go/distribute/etf"
)

// Out is one control message to send, with its payload when its
// operation has one: a message (Send, RegSend, AliasSend) or a signal
// (Link, PayloadExit, MonitorP, ...). Make it with the builder named after
// its operation, one per control message this package sends; a Writer
// encodes it for its connection. The zero Out is not valid.
//
// A builder takes the typed fields of its operation and lays them out in
// the control tuple the ops table describes (Control.Tuple), so the
// bytes of a control message are written in one place and parsed
// (ParseControl, Reader) from the same description. Adding a control
// message is: its entry in ops, its builder here, and its case in the
// receiving node's dispatch. OTP 28's ALTACT_SIG_SEND, for instance,
// would be
//
//	OpAltactSigSend: {"ALTACT_SIG_SEND", []field{fFlags, fFrom, fTo}, true, fromPid},
//
//
//	func AltactSigSend(flags int64, from etf.Pid, to etf.Term, msg etf.Term) Out {
//		return control(Control{Op: OpAltactSigSend, Flags: flags, From: from, To: to}, msg)
//	}
//
// and a case OpAltactSigSend in the node's dispatch that delivers msg.
type Out struct {
	op Op
	// The message frames (Send, RegSend) are written byte by byte with
	// the connection's atom cache: from, to and name are their fields.
	from, to etf.Pid
	name     etf.Atom
	// MONITOR_P and DEMONITOR_P, the two a call sends, are written byte
	// by byte too (see monitorOut): from, to or name, and ref.
	ref etf.Ref
	// call: the message is a gen_server call's request around payload,
	// {'$gen_call', {from, [alias|ref]}, payload}, written byte by byte
	// (CallOf).
	call bool
	// ctrl is the control tuple of every other operation.
	ctrl    etf.Tuple
	payload etf.Term
}

// Op returns the operation of the control message. For Send it is
// OpSendSender; the Writer sends OpSend to a peer without SendSender.
func (o Out) Op() Op { return o.op }

// control is the Out of a control message made of c's fields, with msg
// as its payload when c's operation has one.
func control(c Control, msg etf.Term) Out {
	return Out{op: c.Op, ctrl: c.Tuple(), payload: msg}
}

// Send is a message from the process from to the process to:
// SEND_SENDER {22, From, To}, or SEND {2, Unused, To} to a peer without
// SendSender.
func Send(from, to etf.Pid, msg etf.Term) Out {
	return Out{op: OpSendSender, from: from, to: to, payload: msg}
}

// RegSend is a message from the process from to the process registered
// as name on the peer: REG_SEND {6, From, Unused, Name}.
func RegSend(from etf.Pid, name etf.Atom, msg etf.Term) Out {
	return Out{op: OpRegSend, from: from, name: name, payload: msg}
}

// CallOf is a gen_server call's request to the process registered as
// name (RegSend), or to pid when name is empty (Send): the message
// {'$gen_call', {From, [alias|Ref]}, Request} that gen_server:call sends
// (OTP 24 and later: ref is the call's monitor and the alias its reply
// goes to), written without making terms of the envelope.
func CallOf(from, pid etf.Pid, name etf.Atom, ref etf.Ref, request etf.Term) Out {
	if name == "" {
		return Out{op: OpSendSender, from: from, to: pid, ref: ref, call: true, payload: request}
	}
	return Out{op: OpRegSend, from: from, name: name, ref: ref, call: true, payload: request}
}

// AliasSend is a message from the process from to the alias alias:
// ALIAS_SEND {33, From, Alias}.
func AliasSend(from etf.Pid, alias etf.Ref, msg etf.Term) Out {
	return control(Control{Op: OpAliasSend, From: from, To: alias}, msg)
}

// Link links from to to: LINK {1, From, To}.
func Link(from, to etf.Pid) Out {
	return control(Control{Op: OpLink, From: from, To: to}, nil)
}

// Unlink asks to remove the link from from to to, id numbering the
// request: UNLINK_ID {35, Id, From, To}, OTP 23's unlink (the old UNLINK
// is never sent). The peer answers with UNLINK_ID_ACK carrying the same
// id.
func Unlink(id uint64, from, to etf.Pid) Out {
	return control(Control{Op: OpUnlinkID, ID: UnlinkIDTerm(id), From: from, To: to}, nil)
}

// UnlinkIDAck acknowledges the peer's UNLINK_ID id (the term it sent),
// from the process from (the one that was unlinked) to to (the one that
// asked): UNLINK_ID_ACK {36, Id, From, To}.
func UnlinkIDAck(id etf.Term, from, to etf.Pid) Out {
	return control(Control{Op: OpUnlinkIDAck, ID: id, From: from, To: to}, nil)
}

// PayloadExit is the exit signal of a link, from the process from, which
// exited with reason, to to: PAYLOAD_EXIT {24, From, To} with the reason
// as payload.
func PayloadExit(from, to etf.Pid, reason etf.Term) Out {
	return control(Control{Op: OpPayloadExit, From: from, To: to}, reason)
}

// PayloadExit2 is an exit signal the process from sends to to, as
// erlang:exit/2: PAYLOAD_EXIT2 {26, From, To} with the reason as payload.
func PayloadExit2(from, to etf.Pid, reason etf.Term) Out {
	return control(Control{Op: OpPayloadExit2, From: from, To: to}, reason)
}

// MonitorP starts a monitor, ref, held by from on to, a pid or (for a
// monitor by name) an atom: MONITOR_P {19, From, To, Ref}.
func MonitorP(from etf.Pid, to etf.Term, ref etf.Ref) Out {
	return monitorOut(OpMonitorP, from, to, ref)
}

// DemonitorP ends the monitor ref that from holds on to, a pid or an
// atom as MonitorP had it: DEMONITOR_P {20, From, To, Ref}.
func DemonitorP(from etf.Pid, to etf.Term, ref etf.Ref) Out {
	return monitorOut(OpDemonitorP, from, to, ref)
}

// MonitorPOf is MonitorP with its target typed, so that nothing is boxed:
// the process registered as name, or pid when name is empty.
func MonitorPOf(from, pid etf.Pid, name etf.Atom, ref etf.Ref) Out {
	return Out{op: OpMonitorP, from: from, to: pid, name: name, ref: ref}
}

// DemonitorPOf is DemonitorP with its target typed (see MonitorPOf).
func DemonitorPOf(from, pid etf.Pid, name etf.Atom, ref etf.Ref) Out {
	return Out{op: OpDemonitorP, from: from, to: pid, name: name, ref: ref}
}

// monitorOut is the Out of MONITOR_P or DEMONITOR_P (op): for a pid or a
// named target it keeps the fields, which the Writer writes without
// building the control tuple (no allocation: one call sends both); for
// anything else, the tuple.
func monitorOut(op Op, from etf.Pid, to etf.Term, ref etf.Ref) Out {
	switch v := to.(type) {
	case etf.Pid:
		return Out{op: op, from: from, to: v, ref: ref}
	case etf.Atom:
		if v != "" {
			return Out{op: op, from: from, name: v, ref: ref}
		}
	}
	return control(Control{Op: op, From: from, To: to, Ref: ref}, nil)
}

// PayloadMonitorPExit fires the monitor ref that to holds on from (the
// pid, or the name the monitor was made with) with reason:
// PAYLOAD_MONITOR_P_EXIT {28, From, To, Ref} with the reason as payload.
func PayloadMonitorPExit(from etf.Term, to etf.Pid, ref etf.Ref, reason etf.Term) Out {
	return control(Control{Op: OpPayloadMonitorPExit, From: from, To: to, Ref: ref}, reason)
}

// SpawnRequest asks the peer to run module:function(args...) in a new
// process, for from (with groupLeader), with the options opts (atoms
// such as link and monitor): SPAWN_REQUEST {29, ReqId, From, GroupLeader,
// {Module, Function, Arity}, OptList} with the argument list as payload.
func SpawnRequest(id etf.Ref, from, groupLeader etf.Pid, module, function etf.Atom, args []etf.Term, opts etf.List) Out {
	if opts == nil {
		opts = etf.List{}
	}
	return control(Control{Op: OpSpawnRequest, ID: id, From: from, GroupLeader: groupLeader,
		MFA: etf.Tuple{module, function, int64(len(args))}, Opts: opts}, etf.List(args))
}

// SpawnReply answers the spawn request id of to: result is the new pid,
// or the reason the request was refused (with flags 0); flags has bit 0
// when the new process is linked to to and bit 1 when to monitors it:
// SPAWN_REPLY {31, ReqId, To, Flags, Result}.
func SpawnReply(id etf.Term, to etf.Pid, flags int64, result etf.Term) Out {
	return control(Control{Op: OpSpawnReply, ID: id, To: to, Flags: flags, Result: result}, nil)
}

// UnlinkIDTerm is the term of an unlink id: an integer, a bignum above
// the int64 range.
func UnlinkIDTerm(id uint64) etf.Term {
	if id <= 1<<63-1 {
		return int64(id)
	}
	return etf.Int(new(big.Int).SetUint64(id))
}

// UnlinkIDValue is the unlink id a term holds, as UnlinkIDTerm writes
// it; ok is false for any other term (no id this node sent).
func UnlinkIDValue(t etf.Term) (id uint64, ok bool) {
	switch v := t.(type) {
	case int64:
		return uint64(v), v >= 0
	case *big.Int:
		if v.Sign() >= 0 && v.IsUint64() {
			return v.Uint64(), true
		}
	}
	return 0, false
}
