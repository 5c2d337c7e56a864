package election

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
)

// The Raft messages between nodes (see the package doc, "Wire"). Every
// message is a tuple whose first element is one of these atoms.
const (
	atomRPC   etf.Atom = "$raft_rpc"   // a request, to RaftName
	atomChunk etf.Atom = "$raft_chunk" // a piece of InstallSnapshot's data, to RaftName
	atomReply etf.Atom = "$raft_reply" // the answer to a request, to its ReplyTo pid
	atomHello etf.Atom = "$raft_hello" // a token request, to RaftName
	atomToken etf.Atom = "$raft_token" // the token, to the hello's ReplyTo pid
)

// rpcKind names a Raft RPC on the wire.
type rpcKind etf.Atom

// Kinds (wire values).
const (
	kindAppendEntries   rpcKind = "append_entries"
	kindRequestVote     rpcKind = "request_vote"
	kindRequestPreVote  rpcKind = "request_pre_vote"
	kindTimeoutNow      rpcKind = "timeout_now"
	kindInstallSnapshot rpcKind = "install_snapshot"
)

// Wire limits.
const (
	// tokenSize is the length of a token: the first 16 bytes of
	// HMAC-SHA256(key, node name).
	tokenSize = 16
	// maxNonce bounds a hello's nonce.
	maxNonce = 64
	// maxCluster bounds a cluster identity (ours are 32 hex digits).
	maxCluster = 64
	// chunkSize is the most InstallSnapshot data one chunk carries, and
	// the distribution's fragment size: a chunk never holds a connection
	// longer than one fragment does.
	chunkSize = 64 << 10
	// maxSnapshot bounds the snapshot a node accepts. The election's
	// state machine holds only a cluster identity, so its snapshots are a
	// few bytes; the bound keeps a peer from making this node buffer more.
	maxSnapshot = 64 << 20
	// maxTermJump is how far above this node's current term a term in an
	// RPC may be. A term grows by one per election round, so no real
	// cluster moves by 2^32 while a member looks away; a larger jump is a
	// forgery (Term = MaxUint64 would wrap to 0 at the next election, and
	// the fencing token with it).
	maxTermJump = 1 << 32
)

// errWire is wrapped by every malformed-message error.
var errWire = errors.New("election: malformed Raft message")

func wireErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errWire}, args...)...)
}

// request is a decoded {'$raft_rpc', Kind, ID, ReplyTo, Token, Cluster,
// Payload}.
type request struct {
	Kind    rpcKind
	ID      uint64 // below 2^63
	ReplyTo distribute.Pid
	Token   []byte
	Cluster string
	Payload []byte // the msgpack encoding of the raft request
}

func (r request) term() etf.Tuple {
	return etf.Tuple{atomRPC, etf.Atom(r.Kind), int64(r.ID), r.ReplyTo, etf.Binary(r.Token), etf.Binary(r.Cluster), etf.Binary(r.Payload)}
}

// reply is a decoded {'$raft_reply', ID, Cluster, Result}, Result being
// {ok, Payload} or {error, Reason, Text}.
type reply struct {
	ID      uint64
	Cluster string
	Payload []byte   // with no Reason
	Reason  etf.Atom // an error: refusal reasons below, or raft_error
	Text    string

	down etf.Term // not on the wire: the DOWN reason of a reply made up locally (reasonDown)
}

func (r reply) term() etf.Tuple {
	res := etf.Tuple{etf.OK, etf.Binary(r.Payload)}
	if r.Reason != "" {
		res = etf.Tuple{etf.Error, r.Reason, etf.Binary(r.Text)}
	}
	return etf.Tuple{atomReply, int64(r.ID), etf.Binary(r.Cluster), res}
}

// chunk is a decoded {'$raft_chunk', ID, Seq, Data}.
type chunk struct {
	ID   uint64
	Seq  int64
	Data []byte
}

func (c chunk) term() etf.Tuple {
	return etf.Tuple{atomChunk, int64(c.ID), c.Seq, etf.Binary(c.Data)}
}

// hello is {'$raft_hello', ReplyTo, Nonce}; the answer is token,
// {'$raft_token', Nonce, Token}.
type hello struct {
	ReplyTo distribute.Pid
	Nonce   []byte
}

func (h hello) term() etf.Tuple { return etf.Tuple{atomHello, h.ReplyTo, etf.Binary(h.Nonce)} }

type token struct {
	Nonce []byte
	Token []byte
}

func (t token) term() etf.Tuple {
	return etf.Tuple{atomToken, etf.Binary(t.Nonce), etf.Binary(t.Token)}
}

// parseMessage decodes any of the messages above; the result is a
// request, reply, chunk, hello or token (never aliasing m's binaries
// beyond what m holds). An error wraps errWire.
func parseMessage(m any) (any, error) {
	t, ok := m.(etf.Tuple)
	if !ok || len(t) == 0 {
		return nil, wireErr("not a tagged tuple")
	}
	tag, _ := t[0].(etf.Atom)
	switch tag {
	case atomRPC:
		if len(t) != 7 {
			return nil, wireErr("%s with %d elements", tag, len(t))
		}
		var r request
		kind, ok := t[1].(etf.Atom)
		if !ok {
			return nil, wireErr("%s: kind is not an atom", tag)
		}
		switch r.Kind = rpcKind(kind); r.Kind {
		case kindAppendEntries, kindRequestVote, kindRequestPreVote, kindTimeoutNow, kindInstallSnapshot:
		default:
			return nil, wireErr("%s: unknown kind %q", tag, kind)
		}
		var err error
		if r.ID, err = wireID(t[2]); err != nil {
			return nil, err
		}
		if r.ReplyTo, ok = t[3].(distribute.Pid); !ok {
			return nil, wireErr("%s: reply-to is not a pid", tag)
		}
		tok, ok1 := t[4].(etf.Binary)
		cl, ok2 := t[5].(etf.Binary)
		pl, ok3 := t[6].(etf.Binary)
		if !ok1 || !ok2 || !ok3 || len(cl) > maxCluster {
			return nil, wireErr("%s: token, cluster and payload must be binaries (cluster at most %d bytes)", tag, maxCluster)
		}
		r.Token, r.Cluster, r.Payload = tok, string(cl), pl
		return r, nil
	case atomReply:
		if len(t) != 4 {
			return nil, wireErr("%s with %d elements", tag, len(t))
		}
		var r reply
		var err error
		if r.ID, err = wireID(t[1]); err != nil {
			return nil, err
		}
		cl, ok := t[2].(etf.Binary)
		if !ok || len(cl) > maxCluster {
			return nil, wireErr("%s: cluster is not a binary of at most %d bytes", tag, maxCluster)
		}
		r.Cluster = string(cl)
		res, _ := t[3].(etf.Tuple)
		switch {
		case len(res) == 2 && res[0] == etf.OK:
			pl, ok := res[1].(etf.Binary)
			if !ok {
				return nil, wireErr("%s: payload is not a binary", tag)
			}
			r.Payload = pl
		case len(res) == 3 && res[0] == etf.Error:
			reason, ok1 := res[1].(etf.Atom)
			text, ok2 := res[2].(etf.Binary)
			if !ok1 || !ok2 || reason == "" {
				return nil, wireErr("%s: error is not {error, Reason, Text}", tag)
			}
			r.Reason, r.Text = reason, string(text)
		default:
			return nil, wireErr("%s: result is neither {ok, Payload} nor {error, Reason, Text}", tag)
		}
		return r, nil
	case atomChunk:
		if len(t) != 4 {
			return nil, wireErr("%s with %d elements", tag, len(t))
		}
		var c chunk
		var err error
		if c.ID, err = wireID(t[1]); err != nil {
			return nil, err
		}
		seq, ok1 := t[2].(int64)
		data, ok2 := t[3].(etf.Binary)
		if !ok1 || !ok2 || seq < 0 || len(data) > chunkSize {
			return nil, wireErr("%s: want a sequence number and at most %d bytes", tag, chunkSize)
		}
		c.Seq, c.Data = seq, data
		return c, nil
	case atomHello:
		if len(t) != 3 {
			return nil, wireErr("%s with %d elements", tag, len(t))
		}
		pid, ok1 := t[1].(distribute.Pid)
		nonce, ok2 := t[2].(etf.Binary)
		if !ok1 || !ok2 || len(nonce) == 0 || len(nonce) > maxNonce {
			return nil, wireErr("%s: want a pid and a nonce of 1 to %d bytes", tag, maxNonce)
		}
		return hello{ReplyTo: pid, Nonce: nonce}, nil
	case atomToken:
		if len(t) != 3 {
			return nil, wireErr("%s with %d elements", tag, len(t))
		}
		nonce, ok1 := t[1].(etf.Binary)
		tok, ok2 := t[2].(etf.Binary)
		if !ok1 || !ok2 || len(nonce) > maxNonce || len(tok) != tokenSize {
			return nil, wireErr("%s: want a nonce and a %d-byte token", tag, tokenSize)
		}
		return token{Nonce: nonce, Token: tok}, nil
	}
	return nil, wireErr("unknown tag %s", etf.Format(t[0]))
}

// wireID reads a request ID: a non-negative integer below 2^63.
func wireID(t etf.Term) (uint64, error) {
	id, ok := t.(int64)
	if !ok || id < 0 {
		return 0, wireErr("request id is not a non-negative integer")
	}
	return uint64(id), nil
}

// msgpackHandle encodes the raft structs as raft's NetworkTransport does
// (its default: times in go-msgpack 1.1.5's format), so every field,
// present and future, travels.
var (
	encHandle = &codec.MsgpackHandle{BasicHandle: codec.BasicHandle{TimeNotBuiltin: true}}
	decHandle = &codec.MsgpackHandle{}
)

func encodePayload(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := codec.NewEncoder(&b, encHandle).Encode(v); err != nil {
		return nil, fmt.Errorf("election: encode %T: %w", v, err)
	}
	return b.Bytes(), nil
}

// decodePayload decodes b into v, a pointer to a raft request or
// response; trailing bytes are an error.
func decodePayload(b []byte, v any) (err error) {
	if err := checkMsgpack(b); err != nil {
		return fmt.Errorf("payload of %T: %w", v, err)
	}
	d := codec.NewDecoderBytes(b, decHandle)
	if err := d.Decode(v); err != nil {
		return wireErr("payload of %T: %v", v, err)
	}
	if n := d.NumBytesRead(); n != len(b) {
		return wireErr("payload of %T: %d bytes after the value", v, len(b)-n)
	}
	return nil
}

// newRequest returns a zero raft request and response for kind.
func newRequest(kind rpcKind) (req, resp any) {
	switch kind {
	case kindAppendEntries:
		return &raft.AppendEntriesRequest{}, &raft.AppendEntriesResponse{}
	case kindRequestVote:
		return &raft.RequestVoteRequest{}, &raft.RequestVoteResponse{}
	case kindRequestPreVote:
		return &raft.RequestPreVoteRequest{}, &raft.RequestPreVoteResponse{}
	case kindTimeoutNow:
		return &raft.TimeoutNowRequest{}, &raft.TimeoutNowResponse{}
	case kindInstallSnapshot:
		return &raft.InstallSnapshotRequest{}, &raft.InstallSnapshotResponse{}
	}
	return nil, nil
}

// termOf returns the term a raft request or response carries (0 for
// TimeoutNow, which carries none).
func termOf(v any) uint64 {
	switch v := v.(type) {
	case *raft.AppendEntriesRequest:
		return v.Term
	case *raft.AppendEntriesResponse:
		return v.Term
	case *raft.RequestVoteRequest:
		return v.Term
	case *raft.RequestVoteResponse:
		return v.Term
	case *raft.RequestPreVoteRequest:
		return v.Term
	case *raft.RequestPreVoteResponse:
		return v.Term
	case *raft.InstallSnapshotRequest:
		return v.Term
	case *raft.InstallSnapshotResponse:
		return v.Term
	}
	return 0
}

// headerOf returns the RPC header of a raft request or response.
func headerOf(v any) raft.RPCHeader {
	if h, ok := v.(raft.WithRPCHeader); ok {
		return h.GetRPCHeader()
	}
	return raft.RPCHeader{}
}

// Payload bounds. raft's structs nest four deep (a request, its entries,
// an entry, its fields), and an AppendEntries carries at most
// MaxAppendEntries (64) entries.
const (
	maxMsgpackDepth = 16
	maxMsgpackElems = 1024 // elements of one array, or keys and values of one map
)

// checkMsgpack walks one msgpack value in b without decoding it, and fails
// when a length or a count claims more than the bytes that remain (each
// element takes at least one byte), when a container holds more than
// maxMsgpackElems elements or nests deeper than maxMsgpackDepth, or when
// b holds more than the value. The decoder then never reserves memory for
// data that did not arrive: what it builds is at most about 100 bytes per
// byte of payload (an empty map, one byte, becomes a raft.Log), and at
// most a few hundred KiB for any payload.
func checkMsgpack(b []byte) error {
	var stack []uint64 // elements still to read, per open container
	pos := 0
	need := func(n uint64) error {
		if n > uint64(len(b)-pos) {
			return wireErr("msgpack at %d: %d bytes claimed, %d left", pos, n, len(b)-pos)
		}
		return nil
	}
	readN := func(width int) (uint64, error) {
		if err := need(uint64(width)); err != nil {
			return 0, err
		}
		var v uint64
		for i := 0; i < width; i++ {
			v = v<<8 | uint64(b[pos+i])
		}
		pos += width
		return v, nil
	}
	for {
		if pos >= len(b) {
			return wireErr("msgpack: truncated at %d", pos)
		}
		c := b[pos]
		pos++
		var skip, count uint64 // bytes to skip; elements of a container
		var err error
		container := false
		switch {
		case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		case c >= 0x80 && c <= 0x8f:
			count, container = 2*uint64(c&0x0f), true
		case c >= 0x90 && c <= 0x9f:
			count, container = uint64(c&0x0f), true
		case c >= 0xa0 && c <= 0xbf:
			skip = uint64(c & 0x1f)
		case c == 0xc4 || c == 0xd9:
			skip, err = readN(1)
		case c == 0xc5 || c == 0xda:
			skip, err = readN(2)
		case c == 0xc6 || c == 0xdb:
			skip, err = readN(4)
		case c == 0xc7:
			skip, err = readN(1)
			skip++ // the ext type
		case c == 0xc8:
			skip, err = readN(2)
			skip++
		case c == 0xc9:
			skip, err = readN(4)
			skip++
		case c == 0xca, c == 0xce, c == 0xd2:
			skip = 4
		case c == 0xcb, c == 0xcf, c == 0xd3:
			skip = 8
		case c == 0xcc, c == 0xd0:
			skip = 1
		case c == 0xcd, c == 0xd1:
			skip = 2
		case c >= 0xd4 && c <= 0xd8:
			skip = 1 + 1<<(c-0xd4)
		case c == 0xdc:
			count, err = readN(2)
			container = true
		case c == 0xdd:
			count, err = readN(4)
			container = true
		case c == 0xde:
			count, err = readN(2)
			count, container = 2*count, true
		case c == 0xdf:
			count, err = readN(4)
			count, container = 2*count, true
		default:
			return wireErr("msgpack at %d: byte %#x", pos-1, c)
		}
		if err != nil {
			return err
		}
		if err := need(skip); err != nil {
			return err
		}
		pos += int(skip)
		if container && count > 0 {
			if count > maxMsgpackElems {
				return wireErr("msgpack at %d: %d elements, over %d", pos, count, maxMsgpackElems)
			}
			if err := need(count); err != nil {
				return err
			}
			if len(stack) == maxMsgpackDepth {
				return wireErr("msgpack at %d: nested deeper than %d", pos, maxMsgpackDepth)
			}
			stack = append(stack, count)
			continue
		}
		// One value done: close the containers it completes.
		for len(stack) > 0 {
			stack[len(stack)-1]--
			if stack[len(stack)-1] > 0 {
				break
			}
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 {
			if pos != len(b) {
				return wireErr("msgpack: %d bytes after the value", len(b)-pos)
			}
			return nil
		}
	}
}
