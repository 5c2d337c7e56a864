package distribute

import (
	"context"

	"github.com/distribute-go/distribute/internal/fanout"
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

// eventHub fans node events out to the WatchNodes subscribers (see
// internal/fanout for the policy).
type eventHub struct {
	fan *fanout.Fanout[NodeEvent]
}

func (h *eventHub) init() { h.fan = fanout.New[NodeEvent](0) }

func (h *eventHub) publish(ev NodeEvent) { h.fan.Publish(ev) }

func (h *eventHub) close() { h.fan.Close() }

// WatchNodes returns a channel of node up and down events, in order, from
// now until ctx ends or the node stops; then the channel is closed. It
// never blocks the node: events queue for a slow reader, and a reader
// 4096 events behind is cut off (it receives what is queued, then its
// channel is closed; call WatchNodes again and read Nodes to go
// on).
func (n *Node) WatchNodes(ctx context.Context) <-chan NodeEvent {
	wctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(n.ctx, cancel) // the node stops
	context.AfterFunc(wctx, func() { stop() })
	return n.events.fan.Subscribe(wctx, nil, nil)
}
