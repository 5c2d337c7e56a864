package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/distribute-go/distribute"
)

// replier sends an inbox's replies without ever making the inbox wait on
// one caller. A reply to another node is handed to a goroutine for that
// node, which sends it and the ones queued behind it, in order; the inbox
// goes on answering everyone else while a caller that does not read (its
// connection's send buffer full) holds up only its own node's replies.
// Each send waits at most replyTimeout (a message large enough to go in
// fragments, once started, is finished whatever the deadline: the peer
// holds the part it got). At most maxQueuedReplies wait per node: beyond
// that a reply is dropped (and logged), as its caller, still not reading,
// will time out anyway. So there is one goroutine per node with replies
// in flight, and the memory is bounded per node. A reply to a caller on
// this node is delivered at once: a mailbox never blocks.
type replier struct {
	ctx    context.Context // ends the hand-offs, canceled by stop
	cancel context.CancelFunc
	p      *distribute.Process
	log    *slog.Logger

	mu     sync.Mutex // protects queues
	queues map[distribute.Atom][]pendingReply
	wg     sync.WaitGroup
}

type pendingReply struct {
	from  distribute.From
	reply distribute.Term
}

const (
	// replyTimeout bounds the wait of one reply handed off; a caller that
	// has not read for this long has given up (gen_server:call's default
	// timeout is 5 s).
	replyTimeout = 5 * time.Second
	// maxQueuedReplies bounds the replies waiting for one node.
	maxQueuedReplies = 1024
)

// newReplier replies from p; what it hands off ends with ctx or stop.
func newReplier(ctx context.Context, p *distribute.Process, log *slog.Logger) *replier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	return &replier{ctx: ctx, cancel: cancel, p: p, log: log, queues: make(map[distribute.Atom][]pendingReply)}
}

// reply answers the call from with reply, without waiting on the caller.
func (r *replier) reply(from distribute.From, reply distribute.Term) {
	node := from.Pid.Node
	if node == r.p.Node().Name() {
		r.p.Reply(r.ctx, from, reply)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	q, busy := r.queues[node]
	if len(q) >= maxQueuedReplies {
		r.log.Warn("inbox: reply dropped, the caller's node is not reading", "node", node, "waiting", len(q))
		return
	}
	// Behind the replies already waiting for that node: order holds.
	r.queues[node] = append(q, pendingReply{from, reply})
	if !busy {
		r.wg.Add(1)
		go r.drain(node)
	}
}

// drain sends the replies waiting for node, then ends.
func (r *replier) drain(node distribute.Atom) {
	defer r.wg.Done()
	for {
		r.mu.Lock()
		q := r.queues[node]
		if len(q) == 0 {
			delete(r.queues, node)
			r.mu.Unlock()
			return
		}
		next := q[0]
		q[0] = pendingReply{}
		r.queues[node] = q[1:]
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(r.ctx, replyTimeout)
		if err := r.p.Reply(ctx, next.from, next.reply); err != nil {
			r.log.Debug("inbox: reply not sent", "node", node, "err", err)
		}
		cancel()
	}
}

// wait waits until the replies handed off so far are sent (or given up).
// Only the inbox calls reply and wait, from its own goroutine.
func (r *replier) wait() { r.wg.Wait() }

// stop abandons the replies still waiting and waits for the goroutines
// the replier started.
func (r *replier) stop() {
	r.cancel()
	r.wg.Wait()
}
