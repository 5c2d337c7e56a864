package election

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
	"github.com/hashicorp/raft"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// RaftName is the name under which each election registers its Raft
// process, the receiving end of the Raft RPCs of the other nodes (see the
// package doc, "Transport").
const RaftName distribute.Atom = "distribute_raft"

// Refusal reasons: why a Raft message was dropped. They are the reason
// atoms of error replies, the reason attribute of the
// distribute.election.rpc_refused metric, and appear in the warnings.
const (
	refusedMalformed = "malformed"       // not a Raft message, or a payload that does not decode
	refusedToken     = "bad_token"       // the token is not the one this node issued to the reply-to node
	refusedSender    = "sender"          // the header's server id or address is not the sending node
	refusedTerm      = "absurd_term"     // a term more than maxTermJump above the current one
	refusedCluster   = "foreign_cluster" // the sender belongs to another Raft cluster
	refusedTimeout   = "not_leader"      // TimeoutNow from a node that is not the leader
	refusedSnapshot  = "snapshot"        // an InstallSnapshot over maxSnapshot, or its data incomplete
)

var refusalReasons = [...]string{refusedMalformed, refusedToken, refusedSender, refusedTerm, refusedCluster, refusedTimeout, refusedSnapshot}

// transport is raft.Transport (with raft.WithPreVote and raft.WithClose)
// over the distribution: every RPC is a message to the RaftName process
// of the target node, addressed by node name, and the answer a message
// back. It never sets up a connection (both its processes have
// AutoConnect off): membership decides which nodes are connected, and
// Raft must not undo a disconnect.
//
// The distribution tells a process nothing about which connection a
// message came over, and a message's reply-to pid is the sender's word.
// So a node proves its name with a token: the HMAC of its name under a
// key of the receiving node, which the receiver sends only to a pid on
// that node (over that node's connection, in answer to a hello). A
// request carries the token of the node its reply goes to, and the
// header's server id must be that node.
type transport struct {
	node    *distribute.Node
	name    distribute.Atom
	logger  *slog.Logger
	timeout time.Duration // one RPC, and one hello
	key     [32]byte      // signs the tokens this node issues

	consumeCh chan raft.RPC

	hooks transportHooks

	// Set by the election once Raft runs; nil before.
	term   atomic.Pointer[func() uint64]
	leader atomic.Pointer[func() distribute.Atom]

	srv *distribute.Process // registered as RaftName: requests, chunks, hellos
	cli *distribute.Process // the reply-to of our requests: replies, tokens

	mu       sync.Mutex // protects pending, tokens, hellos, monitors, closed
	pending  map[uint64]pendingCall
	tokens   map[distribute.Atom][]byte
	hellos   map[string]pendingHello
	monitors map[distribute.Atom]distribute.Ref // cli's monitor of each peer's RaftName
	early    map[distribute.Ref]etf.Term        // DOWNs (their reasons) that came before their monitor was recorded
	lost     map[distribute.Atom]etf.Term       // the reason of each peer's last DOWN, until a new monitor
	closed   bool

	// onCall, when set (tests), sees every RPC this node made.
	// queued is how long the request waited to be handed to the
	// connection (its send buffer full).
	onCall atomic.Pointer[func(kind rpcKind, node distribute.Atom, start time.Time, queued time.Duration, err error)]

	refused   [len(refusalReasons)]atomic.Int64
	refusedM  metric.Int64Counter
	lastWarn  [len(refusalReasons)]atomic.Int64 // unix nanos of the last warning, per reason
	suppressd [len(refusalReasons)]atomic.Int64 // warnings not logged since

	ctx       context.Context
	cancel    context.CancelFunc
	closeOnce sync.Once
}

// errTokenTimeout is returned when a node sent no token in time.
var errTokenTimeout = errors.New("election: no token from the peer")

// maxEarlyDowns bounds the DOWNs kept for monitors still being recorded.
const maxEarlyDowns = 64

// pendingCall is an RPC waiting for its reply.
type pendingCall struct {
	node distribute.Atom
	ch   chan reply // buffered: one reply
}

// pendingHello is a hello waiting for its token.
type pendingHello struct {
	node distribute.Atom
	ch   chan []byte // buffered: the token, or nil when the node went down
}

// reasonDown is the reason of the reply made up for the RPCs under way
// to a node whose Raft process went down (or never ran).
const reasonDown etf.Atom = "down"

// transportHooks connect the transport to the election. cluster is
// required; the others may be nil.
type transportHooks struct {
	// cluster returns this node's Raft cluster identity ("" unknown).
	cluster func() string
	// foreign learns that a message from another Raft cluster arrived.
	foreign func(node distribute.Atom, cluster string)
}

// newTransport starts the two processes and registers RaftName.
func newTransport(node *distribute.Node, logger *slog.Logger, timeout time.Duration, hooks transportHooks, meter metric.Meter) (*transport, error) {
	t := &transport{
		node:      node,
		name:      node.Name(),
		logger:    logger,
		timeout:   timeout,
		consumeCh: make(chan raft.RPC),
		hooks:     hooks,
		pending:   make(map[uint64]pendingCall),
		tokens:    make(map[distribute.Atom][]byte),
		hellos:    make(map[string]pendingHello),
		monitors:  make(map[distribute.Atom]distribute.Ref),
		early:     make(map[distribute.Ref]etf.Term),
		lost:      make(map[distribute.Atom]etf.Term),
	}
	if _, err := rand.Read(t.key[:]); err != nil {
		return nil, err
	}
	t.refusedM, _ = meter.Int64Counter("distribute.election.rpc_refused",
		metric.WithUnit("{message}"),
		metric.WithDescription("Raft messages this node refused, by reason: a forged sender or token, an absurd term, another Raft cluster, a malformed message."))
	t.ctx, t.cancel = context.WithCancel(context.Background())
	var err error
	if t.cli, err = node.SpawnHandler(t.handleReply); err != nil {
		t.cancel()
		return nil, fmt.Errorf("election: %w", err)
	}
	t.cli.AutoConnect(false)
	if t.srv, err = node.Spawn(t.serve); err != nil {
		t.Close()
		return nil, fmt.Errorf("election: %w", err)
	}
	t.srv.AutoConnect(false)
	if err := node.Register(RaftName, t.srv.Pid()); err != nil {
		t.Close()
		return nil, fmt.Errorf("election: register %s: %w", RaftName, err)
	}
	return t, nil
}

// setRaft gives the transport Raft's current term and leader, for the
// checks on incoming RPCs.
func (t *transport) setRaft(term func() uint64, leader func() distribute.Atom) {
	t.term.Store(&term)
	t.leader.Store(&leader)
}

func (t *transport) currentTerm() uint64 {
	if f := t.term.Load(); f != nil {
		return (*f)()
	}
	return 0
}

// tokenFor is the token this node issues to node.
func (t *transport) tokenFor(node distribute.Atom) []byte {
	m := hmac.New(sha256.New, t.key[:])
	m.Write([]byte(node))
	return m.Sum(nil)[:tokenSize]
}

// monitor makes sure cli monitors node's Raft process, so that the RPCs
// to a node whose Raft process is gone (or never ran), or whose
// connection is lost, fail at once instead of after the RPC timeout. The
// monitor is set up before the first message to the node goes out, on
// the same connection, so its DOWN cannot be overtaken.
func (t *transport) monitor(ctx context.Context, node distribute.Atom) error {
	t.mu.Lock()
	_, ok := t.monitors[node]
	t.mu.Unlock()
	if ok {
		return nil
	}
	ref, err := t.cli.MonitorName(ctx, RaftName, node)
	if err != nil {
		return err
	}
	t.mu.Lock()
	if reason, ok := t.early[ref]; ok {
		// The DOWN came before the ref was recorded: the process is
		// already gone (noproc), or the node is not connected (the
		// transport never connects).
		delete(t.early, ref)
		t.mu.Unlock()
		return downError(node, reason)
	}
	if _, ok := t.monitors[node]; ok {
		t.mu.Unlock()
		t.cli.Demonitor(ctx, ref) // another call set one up meanwhile
		return nil
	}
	t.monitors[node] = ref
	delete(t.lost, node)
	t.mu.Unlock()
	return nil
}

// downError is the error of an RPC to node, whose Raft process went
// down for reason: ErrNodeDown when the connection is lost (or was never
// there: the transport does not connect).
func downError(node distribute.Atom, reason etf.Term) error {
	if reason == distribute.ReasonNoConnection {
		return fmt.Errorf("election: %s: %w", node, distribute.ErrNodeDown)
	}
	return fmt.Errorf("election: the Raft process of %s is down: %s", node, etf.Format(reason))
}

// lostLocked is the error of an RPC to node, whose monitor is gone.
func (t *transport) lostLocked(node distribute.Atom) error {
	reason, ok := t.lost[node]
	if !ok {
		reason = etf.Atom("unknown")
	}
	return downError(node, reason)
}

// downLocked handles the DOWN of a monitor: the node's RPCs under way
// fail, and its token is forgotten (a restarted node issues new ones).
func (t *transport) downLocked(d distribute.Down) {
	node := d.Node
	if ref, ok := t.monitors[node]; !ok || ref != d.Ref {
		// Perhaps the DOWN of a monitor being set up (monitor records
		// its ref after MonitorName returns); kept for it, bounded:
		// a stale DOWN of a ref replaced meanwhile is never claimed.
		if len(t.early) >= maxEarlyDowns {
			clear(t.early)
		}
		t.early[d.Ref] = d.Reason
		return
	}
	delete(t.monitors, node)
	delete(t.tokens, node)
	if len(t.lost) >= maxEarlyDowns {
		clear(t.lost)
	}
	t.lost[node] = d.Reason
	for id, pc := range t.pending {
		if pc.node == node {
			delete(t.pending, id)
			pc.ch <- reply{ID: id, Reason: reasonDown, Text: "the Raft process is down: " + etf.Format(d.Reason), down: d.Reason}
		}
	}
	for nonce, ph := range t.hellos {
		if ph.node == node {
			delete(t.hellos, nonce)
			ph.ch <- nil
		}
	}
}

// refuse counts a refused message and logs it at warning, at most once a
// second per reason (with the number suppressed meanwhile).
func (t *transport) refuse(reason string, msg string, args ...any) {
	i := 0
	for j, r := range refusalReasons {
		if r == reason {
			i = j
		}
	}
	t.refused[i].Add(1)
	if t.refusedM != nil {
		t.refusedM.Add(context.Background(), 1, metric.WithAttributes(attribute.String("reason", reason)))
	}
	now := time.Now().UnixNano()
	last := t.lastWarn[i].Load()
	if now-last < int64(time.Second) || !t.lastWarn[i].CompareAndSwap(last, now) {
		t.suppressd[i].Add(1)
		return
	}
	if n := t.suppressd[i].Swap(0); n > 0 {
		args = append(args, "suppressed_since_last", n)
	}
	t.logger.Warn("raft message refused: "+msg, append([]any{"reason", reason}, args...)...)
}

// refusedCount returns how many messages were refused for reason.
func (t *transport) refusedCount(reason string) int64 {
	for i, r := range refusalReasons {
		if r == reason {
			return t.refused[i].Load()
		}
	}
	return 0
}

// serve is the RaftName process: it takes requests, snapshot chunks and
// hellos in arrival order. A request goes to Raft (Consumer) and waits
// for its answer; Raft handles RPCs one at a time, so nothing is gained
// by taking the next one earlier.
func (t *transport) serve(ctx context.Context, p *distribute.Process) error {
	for {
		m, err := p.Receive(ctx)
		if err != nil {
			return nil
		}
		msg, err := parseMessage(m)
		if err != nil {
			t.refuse(refusedMalformed, "not a Raft message", "error", err)
			continue
		}
		switch msg := msg.(type) {
		case request:
			t.serveRequest(ctx, p, msg)
		case hello:
			t.serveHello(ctx, p, msg)
		case chunk:
			// A chunk whose request was refused, or came late.
			t.logger.Debug("raft snapshot chunk without its request dropped", "id", msg.ID)
		default:
			t.refuse(refusedMalformed, "a reply or token sent to "+string(RaftName))
		}
	}
}

// serveHello answers a hello with the token of the node its reply-to pid
// lives on: the message goes over that node's connection, so only that
// node reads it, whoever sent the hello.
func (t *transport) serveHello(ctx context.Context, p *distribute.Process, h hello) {
	if h.ReplyTo.Node == t.name {
		t.refuse(refusedSender, "a hello whose reply goes to this node")
		return
	}
	sctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	if err := p.Send(sctx, h.ReplyTo, token{Nonce: h.Nonce, Token: t.tokenFor(h.ReplyTo.Node)}.term()); err != nil {
		t.logger.Debug("raft token not sent", "to", h.ReplyTo.Node, "error", err)
	}
}

// serveRequest checks a request, hands it to Raft and sends the answer.
func (t *transport) serveRequest(ctx context.Context, p *distribute.Process, r request) {
	from := r.ReplyTo.Node
	refuse := func(reason, msg string, args ...any) {
		t.refuse(reason, msg, append([]any{"from", from, "kind", r.Kind}, args...)...)
		if reason == refusedSnapshot || reason == refusedMalformed {
			return // no answer: the sender times out
		}
		t.sendReply(ctx, p, r.ReplyTo, reply{ID: r.ID, Cluster: t.hooks.cluster(), Reason: etf.Atom(reason), Text: msg})
	}
	if from == t.name || !hmac.Equal(r.Token, t.tokenFor(from)) {
		refuse(refusedToken, "the token is not the one this node issued to the sending node")
		return
	}
	ours := t.hooks.cluster()
	if r.Cluster != "" && ours != "" && r.Cluster != ours {
		// The conflict is recorded before the answer leaves, so a sender
		// that has its refusal finds the conflict reported here.
		if t.hooks.foreign != nil {
			t.hooks.foreign(from, r.Cluster)
		}
		refuse(refusedCluster, "the sender belongs to another Raft cluster", "their_cluster", r.Cluster, "our_cluster", ours)
		return
	}
	cmd, _ := newRequest(r.Kind)
	if err := decodePayload(r.Payload, cmd); err != nil {
		refuse(refusedMalformed, "the payload does not decode", "error", err)
		return
	}
	h := headerOf(cmd)
	if string(h.ID) != string(from) || string(h.Addr) != string(from) || !senderFieldsMatch(cmd, from) {
		refuse(refusedSender, "the header names another server than the sending node", "id", string(h.ID), "addr", string(h.Addr))
		return
	}
	if term, cur := termOf(cmd), t.currentTerm(); term > cur && term-cur > maxTermJump {
		refuse(refusedTerm, "a term far above this node's", "term", term, "current", cur)
		return
	}
	if r.Kind == kindTimeoutNow {
		// Only the leader hands its leadership over.
		if f := t.leader.Load(); f == nil || (*f)() != from {
			refuse(refusedTimeout, "TimeoutNow from a node that is not the leader")
			return
		}
	}
	rpc := raft.RPC{Command: cmd}
	if r.Kind == kindInstallSnapshot {
		data, err := t.receiveSnapshot(ctx, p, r.ID, cmd.(*raft.InstallSnapshotRequest).Size)
		if err != nil {
			refuse(refusedSnapshot, "InstallSnapshot refused", "error", err)
			return
		}
		rpc.Reader = bytes.NewReader(data)
	}
	respCh := make(chan raft.RPCResponse, 1)
	rpc.RespChan = respCh
	select {
	case t.consumeCh <- rpc:
	case <-t.ctx.Done():
		return
	case <-ctx.Done():
		return
	}
	var res raft.RPCResponse
	select {
	case res = <-respCh:
	case <-t.ctx.Done():
		return
	case <-ctx.Done():
		return
	}
	out := reply{ID: r.ID, Cluster: t.hooks.cluster()}
	if res.Error != nil {
		out.Reason, out.Text = "raft_error", res.Error.Error()
	} else if out.Payload, res.Error = encodePayload(res.Response); res.Error != nil {
		out.Reason, out.Text = "raft_error", res.Error.Error()
	}
	t.sendReply(ctx, p, r.ReplyTo, out)
}

// senderFieldsMatch checks the deprecated sender fields raft still fills
// (AppendEntries' and InstallSnapshot's Leader, RequestVote's Candidate):
// empty, or the sending node.
func senderFieldsMatch(cmd any, from distribute.Atom) bool {
	var b []byte
	switch c := cmd.(type) {
	case *raft.AppendEntriesRequest:
		b = c.Leader
	case *raft.InstallSnapshotRequest:
		b = c.Leader
	case *raft.RequestVoteRequest:
		b = c.Candidate
	}
	return len(b) == 0 || string(b) == string(from)
}

func (t *transport) sendReply(ctx context.Context, p *distribute.Process, to distribute.Pid, r reply) {
	sctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	if err := p.Send(sctx, to, r.term()); err != nil {
		t.logger.Debug("raft reply not sent", "to", to.Node, "error", err)
	}
}

// receiveSnapshot reads the chunks of request id, in order, each within
// the RPC timeout, until size bytes have come. It grows its buffer with
// the bytes that arrive, never to the announced size up front.
func (t *transport) receiveSnapshot(ctx context.Context, p *distribute.Process, id uint64, size int64) ([]byte, error) {
	if size < 0 || size > maxSnapshot {
		return nil, fmt.Errorf("size %d outside [0, %d]", size, maxSnapshot)
	}
	var data []byte
	for seq := int64(0); int64(len(data)) < size; seq++ {
		rctx, cancel := context.WithTimeout(ctx, t.timeout)
		m, err := p.ReceiveMatch(rctx, func(m any) bool {
			tu, ok := m.(etf.Tuple)
			if !ok || len(tu) != 4 || tu[0] != atomChunk {
				return false
			}
			cid, err := wireID(tu[1])
			return err == nil && cid == id
		})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("chunk %d: %w", seq, err)
		}
		msg, err := parseMessage(m)
		if err != nil {
			return nil, err
		}
		c := msg.(chunk)
		if c.Seq != seq || int64(len(data)+len(c.Data)) > size || len(c.Data) == 0 {
			return nil, fmt.Errorf("chunk %d of %d bytes out of order or over the size %d", c.Seq, len(c.Data), size)
		}
		data = append(data, c.Data...)
	}
	return data, nil
}

// handleReply is the cli process's handler: it hands replies and tokens
// to the goroutines waiting for them. It never blocks.
func (t *transport) handleReply(_ context.Context, _ *distribute.Process, m any) error {
	if d, ok := m.(distribute.Down); ok {
		t.mu.Lock()
		t.downLocked(d)
		t.mu.Unlock()
		return nil
	}
	msg, err := parseMessage(m)
	if err != nil {
		t.refuse(refusedMalformed, "not a Raft reply", "error", err)
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch msg := msg.(type) {
	case reply:
		if pc, ok := t.pending[msg.ID]; ok {
			delete(t.pending, msg.ID)
			pc.ch <- msg // buffered, one reply per request
		}
	case token:
		if ph, ok := t.hellos[string(msg.Nonce)]; ok {
			delete(t.hellos, string(msg.Nonce))
			ph.ch <- msg.Token
		}
	default:
		t.refuse(refusedMalformed, "a request sent to a reply-to pid")
	}
	return nil
}

// token returns the token node issued to this node, asking for it (a
// hello) when there is none.
func (t *transport) token(ctx context.Context, node distribute.Atom) ([]byte, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, raft.ErrTransportShutdown
	}
	if tok, ok := t.tokens[node]; ok {
		t.mu.Unlock()
		return tok, nil
	}
	nonce := make([]byte, 16)
	rand.Read(nonce)
	if _, ok := t.monitors[node]; !ok {
		err := t.lostLocked(node)
		t.mu.Unlock()
		return nil, err
	}
	ch := make(chan []byte, 1)
	t.hellos[string(nonce)] = pendingHello{node: node, ch: ch}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.hellos, string(nonce))
		t.mu.Unlock()
	}()
	if err := t.cli.SendName(ctx, RaftName, node, hello{ReplyTo: t.cli.Pid(), Nonce: nonce}.term()); err != nil {
		return nil, err
	}
	select {
	case tok := <-ch:
		if tok == nil {
			t.mu.Lock()
			err := t.lostLocked(node)
			t.mu.Unlock()
			return nil, err
		}
		t.mu.Lock()
		t.tokens[node] = tok
		t.mu.Unlock()
		return tok, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w %s: %w", errTokenTimeout, node, ctx.Err())
	case <-t.ctx.Done():
		return nil, raft.ErrTransportShutdown
	}
}

// call sends one RPC to target and decodes the answer into resp. data,
// for InstallSnapshot, is sent after the request in chunks.
func (t *transport) call(target raft.ServerAddress, kind rpcKind, args, resp any, data io.Reader, size int64) (err error) {
	node := distribute.Atom(target)
	var queued time.Duration
	if f := t.onCall.Load(); f != nil {
		start := time.Now()
		defer func() { (*f)(kind, node, start, queued, err) }()
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.timeout)
	defer cancel()
	if err := t.monitor(ctx, node); err != nil {
		return err
	}
	tok, err := t.token(ctx, node)
	if err != nil {
		return err
	}
	payload, err := encodePayload(args)
	if err != nil {
		return err
	}
	id := mrand.Uint64() >> 1
	ch := make(chan reply, 1)
	t.mu.Lock()
	if _, ok := t.monitors[node]; !ok {
		err := t.lostLocked(node)
		t.mu.Unlock()
		return fmt.Errorf("election: %s: %w", kind, err)
	}
	t.pending[id] = pendingCall{node: node, ch: ch}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.pending, id)
		t.mu.Unlock()
	}()
	req := request{Kind: kind, ID: id, ReplyTo: t.cli.Pid(), Token: tok, Cluster: t.hooks.cluster(), Payload: payload}
	sent := time.Now()
	if err := t.cli.SendName(ctx, RaftName, node, req.term()); err != nil {
		return err
	}
	queued = time.Since(sent)
	if data != nil {
		if err := t.sendChunks(ctx, node, id, data, size); err != nil {
			return err
		}
	}
	var r reply
	select {
	case r = <-ch:
	case <-ctx.Done():
		if t.ctx.Err() != nil {
			return raft.ErrTransportShutdown
		}
		return fmt.Errorf("election: %s to %s: %w", kind, node, ctx.Err())
	}
	if ours := t.hooks.cluster(); r.Cluster != "" && ours != "" && r.Cluster != ours {
		t.refuse(refusedCluster, "an answer from another Raft cluster", "from", node, "their_cluster", r.Cluster, "our_cluster", ours)
		if t.hooks.foreign != nil {
			t.hooks.foreign(node, r.Cluster)
		}
		return fmt.Errorf("election: %s belongs to another Raft cluster (%s)", node, r.Cluster)
	}
	if r.Reason == reasonDown && r.down != nil {
		return fmt.Errorf("election: %s: %w", kind, downError(node, r.down))
	}
	if r.Reason != "" {
		if r.Reason == refusedToken {
			t.mu.Lock()
			if bytes.Equal(t.tokens[node], tok) {
				delete(t.tokens, node)
			}
			t.mu.Unlock()
		}
		return fmt.Errorf("election: %s to %s: %s: %s", kind, node, r.Reason, r.Text)
	}
	if err := decodePayload(r.Payload, resp); err != nil {
		t.refuse(refusedMalformed, "an answer that does not decode", "from", node, "error", err)
		return err
	}
	if h := headerOf(resp); len(h.ID) > 0 && string(h.ID) != string(node) {
		t.refuse(refusedSender, "an answer whose header names another server", "from", node, "id", string(h.ID))
		return fmt.Errorf("election: %s answered as %s", node, h.ID)
	}
	if term, cur := termOf(resp), t.currentTerm(); term > cur && term-cur > maxTermJump {
		t.refuse(refusedTerm, "an answer with a term far above this node's", "from", node, "term", term, "current", cur)
		return fmt.Errorf("election: %s answered with term %d, far above %d", node, term, cur)
	}
	return nil
}

// sendChunks sends size bytes of data as chunks of at most chunkSize.
func (t *transport) sendChunks(ctx context.Context, node distribute.Atom, id uint64, data io.Reader, size int64) error {
	buf := make([]byte, chunkSize)
	for seq, sent := int64(0), int64(0); sent < size; seq++ {
		n := min(int64(chunkSize), size-sent)
		if _, err := io.ReadFull(data, buf[:n]); err != nil {
			return fmt.Errorf("election: read snapshot: %w", err)
		}
		if err := t.cli.SendName(ctx, RaftName, node, chunk{ID: id, Seq: seq, Data: buf[:n]}.term()); err != nil {
			return err
		}
		sent += n
	}
	return nil
}

// Consumer implements raft.Transport.
func (t *transport) Consumer() <-chan raft.RPC { return t.consumeCh }

// LocalAddr implements raft.Transport: the node name.
func (t *transport) LocalAddr() raft.ServerAddress { return raft.ServerAddress(t.name) }

// AppendEntriesPipeline implements raft.Transport: not supported, Raft
// sends AppendEntries one at a time (the election replicates only its
// configuration and cluster identity).
func (t *transport) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}

// AppendEntries implements raft.Transport.
func (t *transport) AppendEntries(_ raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	return t.call(target, kindAppendEntries, args, resp, nil, 0)
}

// RequestVote implements raft.Transport.
func (t *transport) RequestVote(_ raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	return t.call(target, kindRequestVote, args, resp, nil, 0)
}

// RequestPreVote implements raft.WithPreVote. Without it hashicorp/raft
// turns pre-vote off, and a node cut off from the others would raise its
// term at every election timeout, disrupting the majority when it comes
// back.
func (t *transport) RequestPreVote(_ raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	return t.call(target, kindRequestPreVote, args, resp, nil, 0)
}

// InstallSnapshot implements raft.Transport: the data follows the request
// in chunks of at most 64 KiB.
func (t *transport) InstallSnapshot(_ raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	if args.Size < 0 || args.Size > maxSnapshot {
		return fmt.Errorf("election: snapshot of %d bytes, over the %d-byte limit", args.Size, maxSnapshot)
	}
	return t.call(target, kindInstallSnapshot, args, resp, data, args.Size)
}

// TimeoutNow implements raft.Transport.
func (t *transport) TimeoutNow(_ raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	return t.call(target, kindTimeoutNow, args, resp, nil, 0)
}

// EncodePeer implements raft.Transport: the address is the node name.
func (t *transport) EncodePeer(_ raft.ServerID, addr raft.ServerAddress) []byte { return []byte(addr) }

// DecodePeer implements raft.Transport.
func (t *transport) DecodePeer(b []byte) raft.ServerAddress { return raft.ServerAddress(b) }

// SetHeartbeatHandler implements raft.Transport by ignoring the handler:
// every heartbeat goes through Consumer, to Raft's main loop. Raft's
// heartbeat fast path (processHeartbeat, run on the transport's
// goroutine) sets the term and the leader outside the main loop, so a
// reader saw a node's term go back and a new term paired with the old
// leader (hashicorp/raft#695, hashicorp/raft 1.7.3). The election has
// no disk I/O for the fast path to skip: its log holds a few entries.
func (t *transport) SetHeartbeatHandler(func(raft.RPC)) {}

// Close implements raft.WithClose: it unregisters RaftName, ends both
// processes and fails the RPCs under way. Raft calls it when it shuts
// down; it is idempotent.
func (t *transport) Close() error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closed = true
		t.mu.Unlock()
		t.cancel()
		if pid, ok := t.node.Whereis(RaftName); ok && t.srv != nil && pid == t.srv.Pid() {
			t.node.Unregister(RaftName)
		}
		if t.srv != nil {
			t.srv.Exit(etf.Atom("shutdown"))
			<-t.srv.Done()
		}
		t.cli.Exit(etf.Atom("shutdown"))
		<-t.cli.Done()
	})
	return nil
}

var (
	_ raft.Transport   = (*transport)(nil)
	_ raft.WithPreVote = (*transport)(nil)
	_ raft.WithClose   = (*transport)(nil)
)
