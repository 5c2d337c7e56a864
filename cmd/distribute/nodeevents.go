package main

import (
	"github.com/distribute-go/distribute"
)

// nodeEvents prints the `event nodeup NODE` and `event nodedown NODE
// REASON` lines of the node command: for peers that published themselves
// (visible nodes), whether or not this node is hidden; the hidden nodes of
// one-shot commands and C nodes come and go unreported. Peers connected
// while the node started (a --join seed) are reported too.
type nodeEvents struct {
	out *lineWriter
	up  map[distribute.Atom]bool
}

// newNodeEvents reports a nodeup for each peer n is connected to now.
// Subscribe to n.WatchNodes before calling it: a peer that comes up in
// between is in both, and printed once.
func newNodeEvents(n *distribute.Node, out *lineWriter) *nodeEvents {
	e := &nodeEvents{out: out, up: make(map[distribute.Atom]bool)}
	for _, node := range n.PublishedNodes() {
		e.up[node] = true
		out.printf("event nodeup %s", node)
	}
	return e
}

// handle prints ev if it is news.
func (e *nodeEvents) handle(ev distribute.NodeEvent) {
	if !ev.Published {
		return
	}
	switch {
	case ev.Up && !e.up[ev.Node]:
		e.up[ev.Node] = true
		e.out.printf("event nodeup %s", ev.Node)
	case !ev.Up && e.up[ev.Node]:
		delete(e.up, ev.Node)
		e.out.printf("event nodedown %s %s", ev.Node, ev.Reason)
	}
}
