// Package cluster is the composition point of distribute: Start starts a
// node together with every cluster service the module offers, and Stop
// stops them in reverse order. The CLI's `distribute node` is a thin shell
// over it.
//
// Services plug in here as they are built (the rpc server and the
// distribute:info/0 exports, process groups, the global registry,
// membership, election and health); each uses only the root package's
// exported API.
package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/distribute-go/distribute"
)

// Config configures a cluster member.
type Config struct {
	// Node configures the distribution node (name, cookie, TLS, ...).
	Node distribute.Config
}

// Cluster is a running node with its services.
type Cluster struct {
	node *distribute.Node
}

// Start starts the node and its services. It returns once the node is
// reachable by peers.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	n, err := distribute.Start(ctx, cfg.Node)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return &Cluster{node: n}, nil
}

// Node returns the distribution node.
func (c *Cluster) Node() *distribute.Node { return c.node }

// Stop stops the services, then the node (see distribute.Node.Stop).
func (c *Cluster) Stop(ctx context.Context) error {
	return errors.Join(c.node.Stop(ctx))
}
