package distribute

import (
	"slices"
	"time"
)

// ConnectionStats describe one live distribution connection, as counted
// by this node since it came up.
type ConnectionStats struct {
	// Node is the peer's name.
	Node Atom
	// Visible reports whether the connection is visible (both sides
	// published), as in Erlang's nodes().
	Visible bool
	// Since is when the connection came up.
	Since time.Time
	// MessagesIn and MessagesOut count distribution frames (messages and
	// other control messages), ticks excluded.
	MessagesIn, MessagesOut uint64
	// BytesIn and BytesOut count bytes on the wire, length prefixes and
	// ticks included.
	BytesIn, BytesOut uint64
}

// Connections returns a snapshot of the node's live connections, sorted
// by node name. Counters only grow while a connection lives: a rate is
// the difference of two snapshots over the time between them.
func (n *Node) Connections() []ConnectionStats {
	n.connMu.Lock()
	peers := make([]*peer, 0, len(n.conns))
	for _, p := range n.conns {
		peers = append(peers, p)
	}
	n.connMu.Unlock()
	out := make([]ConnectionStats, 0, len(peers))
	for _, p := range peers {
		s := p.conn.Stats()
		out = append(out, ConnectionStats{
			Node: p.name, Visible: p.visible, Since: p.since,
			MessagesIn: s.FramesIn, MessagesOut: s.FramesOut,
			BytesIn: s.BytesIn, BytesOut: s.BytesOut,
		})
	}
	slices.SortFunc(out, func(a, b ConnectionStats) int {
		switch {
		case a.Node < b.Node:
			return -1
		case a.Node > b.Node:
			return 1
		}
		return 0
	})
	return out
}

// Names returns the names the process is registered under on its node.
func (p *Process) Names() []Atom {
	return p.namesCopy()
}
