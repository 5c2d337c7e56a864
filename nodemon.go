package distribute

import (
	"context"
	"errors"
	"fmt"
)

// NodeUp is the message a process that monitors all nodes (MonitorNodes)
// receives when a connection to a node comes up.
type NodeUp struct {
	Node Atom
	// Published is true when the peer published itself in the handshake
	// (a visible node; not a hidden node or a C node such as erl_call),
	// whether or not this node did: see Node.PublishedNodes.
	Published bool
}

// NodeDown is the message a process receives when a node it monitors
// (MonitorNode, MonitorNodes) is disconnected, or cannot be reached when
// MonitorNode is called: Erlang's {nodedown, Node}.
type NodeDown struct {
	Node Atom
	// Reason is why, in Erlang's words: connection_closed,
	// net_tick_timeout, noconnection (MonitorNode could not connect), or an
	// error text.
	Reason string
	// Err is why, for errors.Is: it always wraps ErrNodeDown, and wraps
	// ErrTickTimeout, ErrFrameTooLarge, ErrHandshake, ErrBadCookie and the
	// like when that is the cause.
	Err error
}

// nodeMonitors are the processes watching connections.
type nodeMonitors struct {
	// byNode counts MonitorNode calls per process and node, as
	// erlang:monitor_node/2 stacks.
	byNode map[*Process]map[Atom]int
	// all are the processes that called MonitorNodes(true).
	all map[*Process]struct{}
}

// MonitorNode asks for a NodeDown message when the connection to node goes
// down, as erlang:monitor_node(Node, true). It connects if needed (unless
// AutoConnect is off); if that fails, the NodeDown arrives at once. Each call adds a monitor; each
// DemonitorNode removes one.
func (p *Process) MonitorNode(ctx context.Context, node Atom) {
	n := p.node
	n.connMu.Lock()
	if n.nodeMon.byNode == nil {
		n.nodeMon.byNode = make(map[*Process]map[Atom]int)
	}
	m := n.nodeMon.byNode[p]
	if m == nil {
		m = make(map[Atom]int)
		n.nodeMon.byNode[p] = m
	}
	m[node]++
	n.connMu.Unlock()
	if p.forgetIfExited() {
		return
	}
	if _, err := p.peerFor(ctx, node); err != nil {
		if !errors.Is(err, ErrNodeDown) {
			err = fmt.Errorf("distribute: monitor node %s: %w: %w", node, ErrNodeDown, err)
		}
		n.fireNodeDown(node, "noconnection", err)
	}
}

// DemonitorNode removes one MonitorNode monitor of node.
func (p *Process) DemonitorNode(node Atom) {
	n := p.node
	n.connMu.Lock()
	defer n.connMu.Unlock()
	if m := n.nodeMon.byNode[p]; m != nil {
		if m[node]--; m[node] <= 0 {
			delete(m, node)
		}
		if len(m) == 0 {
			delete(n.nodeMon.byNode, p)
		}
	}
}

// MonitorNodes subscribes the process to NodeUp and NodeDown messages for
// every node (on=true) or ends the subscription, as
// net_kernel:monitor_nodes/1 with {node_type, all}.
func (p *Process) MonitorNodes(on bool) {
	n := p.node
	n.connMu.Lock()
	if n.nodeMon.all == nil {
		n.nodeMon.all = make(map[*Process]struct{})
	}
	if on {
		n.nodeMon.all[p] = struct{}{}
	} else {
		delete(n.nodeMon.all, p)
	}
	n.connMu.Unlock()
	if on {
		p.forgetIfExited()
	}
}

// forgetIfExited drops the node monitors of p if p has exited, and
// reports whether it had. A monitor added by a process that had already
// exited (or was exiting) would stay forever: Exit marks the process
// exited, then drops its node monitors (forgetNodeMonitors). Checked
// after the monitor is added, so either that drop comes after the add,
// or this check sees the exit. (Node.connMu is a leaf lock: the check
// cannot run under it.)
func (p *Process) forgetIfExited() bool {
	if p.Alive() {
		return false
	}
	p.node.forgetNodeMonitors(p)
	return true
}

// fireNodeUp tells the MonitorNodes subscribers.
func (n *Node) fireNodeUp(node Atom, published bool) {
	n.connMu.Lock()
	subs := make([]*Process, 0, len(n.nodeMon.all))
	for p := range n.nodeMon.all {
		subs = append(subs, p)
	}
	n.connMu.Unlock()
	for _, p := range subs {
		p.deliver(NodeUp{Node: node, Published: published})
	}
}

// fireNodeDown delivers NodeDown to the subscribers and ends every
// MonitorNode monitor of node (Erlang's monitor_node fires once).
// err is why, wrapping ErrNodeDown.
func (n *Node) fireNodeDown(node Atom, reason string, err error) {
	type delivery struct {
		p     *Process
		count int
	}
	var ds []delivery
	n.connMu.Lock()
	for p := range n.nodeMon.all {
		ds = append(ds, delivery{p, 1})
	}
	for p, m := range n.nodeMon.byNode {
		if c := m[node]; c > 0 {
			ds = append(ds, delivery{p, c})
			delete(m, node)
			if len(m) == 0 {
				delete(n.nodeMon.byNode, p)
			}
		}
	}
	n.connMu.Unlock()
	for _, d := range ds {
		for i := 0; i < d.count; i++ {
			d.p.deliver(NodeDown{Node: node, Reason: reason, Err: err})
		}
	}
}

// forgetNodeMonitors drops an exited process's node monitors.
func (n *Node) forgetNodeMonitors(p *Process) {
	n.connMu.Lock()
	defer n.connMu.Unlock()
	delete(n.nodeMon.byNode, p)
	delete(n.nodeMon.all, p)
}
