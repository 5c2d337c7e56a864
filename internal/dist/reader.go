package dist

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"github.com/distribute-go/distribute/etf"
)

// In is a control message a Reader read, with its payload and the
// fields its operation requires typed and checked (the checks of each
// operation's entry in ops): a LINK between two pids, a REG_SEND from a
// pid to an atom, and so on. A frame that fails them is an error, and
// ERTS closes the connection on the same frames.
//
// On SEND, SEND_SENDER and REG_SEND (and their _TT forms) the embedded
// Control's From and To may be unset (the fast path does not box them):
// read ToPid and ToName.
type In struct {
	Control
	// Payload is the frame's second term, for the operations that have
	// one (Op.HasPayload): the message of SEND, REG_SEND and ALIAS_SEND,
	// the reason of the PAYLOAD_ exits (which Reason holds too), the
	// argument list of SPAWN_REQUEST.
	Payload etf.Term
	// FromPid is From where the operation requires a pid (LINK, UNLINK,
	// UNLINK_ID and its ack, the exits, MONITOR_P, DEMONITOR_P,
	// SPAWN_REQUEST). REG_SEND's sender is checked but not kept.
	FromPid etf.Pid
	// ToPid is To where it is a pid: the process a message, a link, an
	// exit or a DOWN is for, the monitored process of MONITOR_P and
	// DEMONITOR_P by pid.
	ToPid etf.Pid
	// ToName is REG_SEND's name, and the monitored name of MONITOR_P and
	// DEMONITOR_P by name.
	ToName etf.Atom
	// Alias is ALIAS_SEND's alias.
	Alias etf.Ref
	// IsReply is set, with Payload nil, when an ALIAS_SEND's message is
	// the reply to that alias's call, {[alias|Alias], Reply}, as
	// gen_server:reply sends it: the fast path reads the tag without
	// making terms of it, and Reply is the reply.
	IsReply bool
	Reply   etf.Term
}

// Reader reads the data frames of one connection: the distribution
// header (atom cache and fragments) in header mode, and the control
// message and payload of each frame. The message frames (SEND,
// SEND_SENDER and REG_SEND to a process of the local node) take a fast
// path that reads the control tuple's bytes without making terms of it;
// everything else, and anything that path does not recognize, is parsed
// in full (ParseControl). Not safe for concurrent use: a connection's
// reader goroutine owns it.
type Reader struct {
	local etf.Atom
	hdr   *HeaderReader // nil in pass-through mode
	dec   etf.Decoder
	// names interns the registered names the fast path reads, so that a
	// recurring one costs no allocation.
	names map[string]etf.Atom
}

// maxNames bounds a Reader's interned names: a peer sending ever new
// names costs an allocation per frame, as any new atom does, and no
// memory beyond the bound.
const maxNames = 256

// ReaderConfig configures a Reader.
type ReaderConfig struct {
	// Flags are the connection's negotiated flags: header mode or not.
	Flags Flags
	// Local is this node's name: the fast path reads pids of this node.
	Local etf.Atom
	// Limits bound every decoded term.
	Limits etf.Limits
	// MaxFrame bounds the bytes held for fragmented messages being put
	// back together (Reassembler.Max); zero means DefaultMaxFrame.
	MaxFrame int
}

// NewReader returns the reader of a connection.
func NewReader(cfg ReaderConfig) *Reader {
	r := &Reader{local: cfg.Local}
	// The decoder keeps the atoms it has seen (node names, tags) so that
	// they cost no allocation.
	r.dec = etf.Decoder{Limits: cfg.Limits, Atoms: etf.NewAtomTable(1024)}
	if cfg.Flags.HeaderMode() {
		r.hdr = &HeaderReader{Fragments: cfg.Flags&Fragments != 0}
		r.hdr.Reassembler.Max = cfg.MaxFrame
	}
	return r
}

// HeaderMode reports whether the connection's frames carry distribution
// headers.
func (r *Reader) HeaderMode() bool { return r.hdr != nil }

// Reassembly reports the fragmented messages not yet complete and the
// bytes held for them (Reassembler.Pending).
func (r *Reader) Reassembly() (sequences, bytes int) {
	if r.hdr == nil {
		return 0, 0
	}
	return r.hdr.Reassembler.Pending()
}

// Read reads one data frame into in. done is false, with no error, for a
// fragment of a message not yet complete. An error (ErrBadFrame,
// ErrBadControl, ErrAtomCache, ErrFragment, an *UnknownOpError, a
// *FrameTooLargeError, the etf decode error) means the peer broke the
// protocol: close the connection. The terms in is made of never share
// frame's memory.
func (r *Reader) Read(frame []byte, in *In) (done bool, err error) {
	*in = In{}
	var body []byte
	versioned := r.hdr == nil
	if r.hdr != nil {
		refs, b, done, err := r.hdr.Read(frame)
		if err != nil || !done {
			return false, err
		}
		r.dec.AtomRefs = refs
		// A message put back together from fragments has a buffer of its
		// own: its binaries may share it instead of being copied again.
		r.dec.AliasBinaries = r.hdr.Owned
		body = b
	} else {
		if len(frame) == 0 || frame[0] != passThrough {
			_, _, _, err := ParseFrame(&r.dec, frame) // the error it gives
			return false, err
		}
		body = frame[1:]
	}
	if ok, err := r.fast(body, versioned, in); ok {
		return err == nil, err
	}
	var ctrl etf.Tuple
	var msg etf.Term
	var has bool
	if versioned {
		ctrl, msg, has, err = parseTerms(&r.dec, body, r.dec.Decode)
	} else {
		ctrl, msg, has, err = ParseBody(&r.dec, body)
	}
	if err != nil {
		return false, err
	}
	c, err := ParseControl(ctrl)
	if err != nil {
		return false, err
	}
	if has != c.Op.HasPayload() {
		return false, fmt.Errorf("%w: %v: payload present %v, want %v", ErrBadControl, c.Op, has, c.Op.HasPayload())
	}
	in.Control = c
	in.Payload = msg
	switch c.Op {
	case OpPayloadExit, OpPayloadExitTT, OpPayloadExit2, OpPayloadExit2TT, OpPayloadMonitorPExit:
		in.Reason = msg
	}
	return true, in.check()
}

// errTermMax bounds the text of a peer's term inside an error (which
// reaches logs and the reason of a node down).
const errTermMax = 128

// check types From and To as the operation requires (ops' checks).
func (in *In) check() error {
	want := ops[in.Op].checks
	bad := func(what string, v etf.Term, kind string) error {
		return fmt.Errorf("%w: %v: %s is %s, not %s", ErrBadControl, in.Op, what, etf.FormatLimit(v, errTermMax), kind)
	}
	if want&fromPid != 0 {
		pid, ok := in.From.(etf.Pid)
		if !ok {
			return bad("sender", in.From, "a pid")
		}
		in.FromPid = pid
	}
	switch {
	case want&toPid != 0:
		pid, ok := in.To.(etf.Pid)
		if !ok {
			return bad("receiver", in.To, "a pid")
		}
		in.ToPid = pid
	case want&toProc != 0:
		switch to := in.To.(type) {
		case etf.Pid:
			in.ToPid = to
		case etf.Atom:
			in.ToName = to
		default:
			return bad("target", to, "a pid or an atom")
		}
	case want&toName != 0:
		name, ok := in.To.(etf.Atom)
		if !ok {
			return bad("name", in.To, "an atom")
		}
		in.ToName = name
	case want&toAlias != 0:
		alias, ok := in.To.(etf.Ref)
		if !ok {
			return bad("alias", in.To, "a reference")
		}
		in.Alias = alias
	}
	return nil
}

// fast reads SEND, SEND_SENDER, REG_SEND and ALIAS_SEND frames without decoding the
// control tuple into terms. body is the frame from its control term on:
// with version bytes (versioned, pass-through mode) or without them, its
// atoms possibly ATOM_CACHE_REFs to r.dec.AtomRefs (header mode). It
// reports false, having read nothing, for any frame it does not
// recognize; the general path then reads (or rejects) it.
func (r *Reader) fast(body []byte, versioned bool, in *In) (ok bool, err error) {
	pos := 0
	if versioned {
		if len(body) == 0 || body[0] != versionByte {
			return false, nil
		}
		pos = 1
	}
	if len(body) < pos+4 || body[pos] != etf.TagSmallTuple || body[pos+2] != etf.TagSmallInteger {
		return false, nil
	}
	arity, op := body[pos+1], Op(body[pos+3])
	pos += 4
	refs := r.dec.AtomRefs
	switch {
	case (op == OpSend || op == OpSendSender) && arity == 3:
		if pos = skipFrom(body, pos, op == OpSend, refs); pos < 0 {
			return false, nil
		}
		var ok bool
		if in.ToPid, pos, ok = r.localPid(body, pos, refs); !ok {
			return false, nil
		}
	case op == OpRegSend && arity == 4:
		if pos = skipFrom(body, pos, false, refs); pos < 0 {
			return false, nil
		}
		text, ref, next := readAtom(body, pos, refs)
		if next < 0 || (text != nil || ref != "") {
			return false, nil // not the empty atom
		}
		if text, ref, pos = readAtom(body, next, refs); pos < 0 {
			return false, nil
		}
		if text != nil {
			in.ToName = r.name(text)
		} else {
			in.ToName = ref
		}
	case op == OpAliasSend && arity == 3:
		// A reply to one of our calls: {33, From, Alias}.
		if pos = skipFrom(body, pos, false, refs); pos < 0 {
			return false, nil
		}
		var ok bool
		if in.Alias, pos, ok = r.localRef(body, pos, refs); !ok {
			return false, nil
		}
	default:
		return false, nil
	}
	rest := body[pos:]
	if len(rest) == 0 {
		return false, nil // no payload: let the general path report it
	}
	in.Op = op
	var used, at int
	if op == OpAliasSend {
		at = r.replyAt(rest, versioned, in.Alias, refs)
	}
	if at > 0 {
		in.IsReply = true
		in.Reply, used, err = r.dec.DecodeTerm(rest[at:])
		used += at
	} else if versioned {
		in.Payload, used, err = r.dec.Decode(rest)
	} else {
		in.Payload, used, err = r.dec.DecodeTerm(rest)
	}
	if err != nil {
		return true, fmt.Errorf("%w: %v payload: %w", ErrBadFrame, op, err)
	}
	if used != len(rest) {
		return true, fmt.Errorf("%w: %v: %d bytes after the payload", ErrBadFrame, op, len(rest)-used)
	}
	return true, nil
}

// replyAt returns where Reply starts in an ALIAS_SEND's payload b (with
// its version byte when versioned) that is {[alias|Ref], Reply} with Ref
// the frame's alias: a call's reply. It returns 0 for anything else.
func (r *Reader) replyAt(b []byte, versioned bool, alias etf.Ref, refs []etf.Atom) int {
	pos := 0
	if versioned {
		if len(b) == 0 || b[0] != versionByte {
			return 0
		}
		pos = 1
	}
	// SMALL_TUPLE_EXT 2, LIST_EXT of one element: the atom alias, then
	// the reference as the list's tail.
	if len(b) < pos+7 || b[pos] != etf.TagSmallTuple || b[pos+1] != 2 || b[pos+2] != etf.TagList ||
		b[pos+3] != 0 || b[pos+4] != 0 || b[pos+5] != 0 || b[pos+6] != 1 {
		return 0
	}
	text, atom, next := readAtom(b, pos+7, refs)
	if isAlias := string(text) == "alias" || text == nil && atom == "alias"; next < 0 || !isAlias {
		return 0
	}
	ref, next, ok := r.localRef(b, next, refs)
	if !ok || ref != alias || next >= len(b) {
		return 0
	}
	return next
}

// name returns the atom of a name's text, interned.
func (r *Reader) name(text []byte) etf.Atom {
	if a, ok := r.names[string(text)]; ok {
		return a
	}
	a := etf.Atom(text)
	if len(r.names) < maxNames {
		if r.names == nil {
			r.names = make(map[string]etf.Atom)
		}
		r.names[string(a)] = a
	}
	return a
}

// readAtom reads the atom at b[pos]: SMALL_ATOM_UTF8, whose text it
// returns (non-nil, aliasing b, for a non-empty atom), or ATOM_CACHE_REF,
// whose atom it returns as ref. The empty atom is nil text and "" ref.
// next is -1 for anything else, malformed or out of range.
func readAtom(b []byte, pos int, refs []etf.Atom) (text []byte, ref etf.Atom, next int) {
	if pos+2 > len(b) {
		return nil, "", -1
	}
	switch b[pos] {
	case etf.TagSmallAtomUTF8:
		l := int(b[pos+1])
		if pos+2+l > len(b) || !utf8.Valid(b[pos+2:pos+2+l]) {
			return nil, "", -1
		}
		if l == 0 {
			return nil, "", pos + 2
		}
		return b[pos+2 : pos+2+l], "", pos + 2 + l
	case etf.TagAtomCacheRef:
		i := int(b[pos+1])
		if i >= len(refs) {
			return nil, "", -1
		}
		return nil, refs[i], pos + 2
	}
	return nil, "", -1
}

// skipFrom skips the sender element: a NEW_PID_EXT, or the empty atom for
// SEND. It returns the next position, or -1 if the bytes are not that.
func skipFrom(b []byte, pos int, emptyAtom bool, refs []etf.Atom) int {
	if emptyAtom {
		if text, ref, next := readAtom(b, pos, refs); next > 0 && text == nil && ref == "" {
			return next
		}
		return -1
	}
	if pos >= len(b) || b[pos] != etf.TagNewPid {
		return -1
	}
	if _, _, next := readAtom(b, pos+1, refs); next > 0 && next+12 <= len(b) {
		return next + 12
	}
	return -1
}

// localRef reads a NEWER_REFERENCE_EXT of 1 to etf.MaxRefWords words
// made by the local node. ok is false for bytes it does not recognize,
// including references of other nodes.
func (r *Reader) localRef(b []byte, pos int, refs []etf.Atom) (ref etf.Ref, next int, ok bool) {
	if pos+3 > len(b) || b[pos] != etf.TagNewerReference {
		return etf.Ref{}, 0, false
	}
	n := int(binary.BigEndian.Uint16(b[pos+1:]))
	if n == 0 || n > etf.MaxRefWords {
		return etf.Ref{}, 0, false
	}
	text, node, at := readAtom(b, pos+3, refs)
	if at < 0 || at+4+4*n > len(b) {
		return etf.Ref{}, 0, false
	}
	if text != nil && string(text) != string(r.local) || text == nil && node != r.local {
		return etf.Ref{}, 0, false
	}
	ref = etf.Ref{Node: r.local, Creation: binary.BigEndian.Uint32(b[at:]), Len: uint8(n)}
	at += 4
	for i := range n {
		ref.ID[i] = binary.BigEndian.Uint32(b[at+4*i:])
	}
	return ref, at + 4*n, true
}

// localPid reads a NEW_PID_EXT that names a process of the local node.
// ok is false for bytes it does not recognize, including pids of other
// nodes.
func (r *Reader) localPid(b []byte, pos int, refs []etf.Atom) (pid etf.Pid, next int, ok bool) {
	if pos >= len(b) || b[pos] != etf.TagNewPid {
		return etf.Pid{}, 0, false
	}
	text, ref, at := readAtom(b, pos+1, refs)
	if at < 0 || at+12 > len(b) {
		return etf.Pid{}, 0, false
	}
	if text != nil && string(text) != string(r.local) || text == nil && ref != r.local {
		return etf.Pid{}, 0, false
	}
	return etf.Pid{
		Node:     r.local,
		ID:       binary.BigEndian.Uint32(b[at:]),
		Serial:   binary.BigEndian.Uint32(b[at+4:]),
		Creation: binary.BigEndian.Uint32(b[at+8:]),
	}, at + 12, true
}
