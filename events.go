package distribute

import (
	"context"
	"sync"
)

// NodeEvent says a connection to a node came up or went down.
type NodeEvent struct {
	Node Atom
	Up   bool
	// Visible is true when both sides published themselves (Erlang's
	// nodes() lists only visible peers; global and pg work with them).
	Visible bool
	// Published is true when the peer published itself (a visible node),
	// whether or not this node did: see Node.PublishedNodes.
	Published bool
	// Reason is why a connection went down: connection_closed,
	// net_tick_timeout, or an error text. Empty for Up events.
	Reason string
	// Err is why a connection went down, for errors.Is: it wraps
	// ErrNodeDown, and ErrTickTimeout, ErrFrameTooLarge and the like when
	// that is the cause. Nil for Up events.
	Err error
}

// eventHub fans node events out to subscribers. Each subscriber has an
// unbounded queue, so a slow subscriber never blocks the node and never
// loses an event.
type eventHub struct {
	mu     sync.Mutex // protects subs, closed
	subs   map[*eventSub]struct{}
	closed bool
}

type eventSub struct {
	mu    sync.Mutex // protects queue
	queue []NodeEvent
	wake  chan struct{}
}

func (h *eventHub) init() { h.subs = make(map[*eventSub]struct{}) }

func (h *eventHub) publish(ev NodeEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.mu.Lock()
		s.queue = append(s.queue, ev)
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (h *eventHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		close(s.wake)
		delete(h.subs, s)
	}
}

// WatchNodes returns a channel of node up and down events, in order, from
// now until ctx ends or the node stops; then the channel is closed. Events
// queue without bound while the reader is slow; none is dropped.
func (n *Node) WatchNodes(ctx context.Context) <-chan NodeEvent {
	out := make(chan NodeEvent)
	s := &eventSub{wake: make(chan struct{}, 1)}
	h := &n.events
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		close(out)
		return out
	}
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer close(out)
		defer func() {
			h.mu.Lock()
			delete(h.subs, s)
			h.mu.Unlock()
		}()
		for {
			s.mu.Lock()
			q := s.queue
			s.queue = nil
			s.mu.Unlock()
			for _, ev := range q {
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				case <-n.ctx.Done():
					return
				}
			}
			select {
			case _, ok := <-s.wake:
				if !ok {
					return
				}
			case <-ctx.Done():
				return
			case <-n.ctx.Done():
				return
			}
		}
	}()
	return out
}
