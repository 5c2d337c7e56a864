package distribute

import (
	"context"

	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
)

// startServices starts the built-in processes every node has.
func (n *Node) startServices() error {
	nk, err := n.Spawn(n.netKernel)
	if err != nil {
		return err
	}
	return n.Register("net_kernel", nk.Pid())
}

// netKernel answers what Erlang's net_kernel answers for a peer:
// {is_auth, Node} -> yes, which is what net_adm:ping/1 asks.
func (n *Node) netKernel(ctx context.Context, p *Process) error {
	for {
		m, err := p.Receive(ctx)
		if err != nil {
			return nil // the node is stopping
		}
		from, req, ok := ParseCall(m)
		if !ok {
			continue
		}
		if t, ok := req.(etf.Tuple); ok && len(t) == 2 && t[0] == Atom("is_auth") {
			p.Reply(ctx, from, Atom("yes"))
			continue
		}
		n.logger.Debug("net_kernel: unsupported call", "request", etf.Format(req))
	}
}

// handleSpawnRequest answers a SPAWN_REQUEST. Until a spawn handler is
// installed (the rpc package does), every request is refused with notsup,
// which Erlang's erpc reports as {erpc, notsup}.
func (n *Node) handleSpawnRequest(p *peer, c dist.Control, args Term) error {
	from, err := pidField(c, c.From, "requester")
	if err != nil {
		return err
	}
	n.reply(p, etf.Tuple{int64(dist.OpSpawnReply), c.ID, from, int64(0), Atom(errNotSupported.Error())}, nil, false)
	return nil
}

// handleSpawnReply receives replies to spawn requests this node made.
func (n *Node) handleSpawnReply(c dist.Control) {}
