package distribute

import (
	"context"

	"github.com/distribute-go/distribute/etf"
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
			p.replySignal(ctx, from, Atom("yes"))
			continue
		}
		n.logger.Debug("net_kernel: unsupported call", "request", etf.LogValue(req))
	}
}
