package main

import (
	"github.com/distribute-go/distribute"
)

// nodeEvents prints the `event nodeup NODE` and `event nodedown NODE
// REASON` lines of the node command: for visible peers only (the hidden
// nodes of one-shot commands come and go unreported), or for every peer
// on a hidden node, whose connections are all hidden. Peers connected
// while the node started (a --join seed) are reported too.
type nodeEvents struct {
	out *lineWriter
	all bool
	up  map[distribute.Atom]bool
}

// newNodeEvents reports a nodeup for each peer n is connected to now.
// Subscribe to n.WatchNodes before calling it: a peer that comes up in
// between is in both, and printed once.
func newNodeEvents(n *distribute.Node, out *lineWriter) *nodeEvents {
	e := &nodeEvents{out: out, all: n.Hidden(), up: make(map[distribute.Atom]bool)}
	for _, c := range n.Connections() {
		if e.all || c.Visible {
			e.up[c.Node] = true
			out.printf("event nodeup %s", c.Node)
		}
	}
	return e
}

// handle prints ev if it is news.
func (e *nodeEvents) handle(ev distribute.NodeEvent) {
	if !e.all && !ev.Visible {
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
