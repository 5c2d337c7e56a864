package cluster_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/cluster"
	"github.com/distribute-go/distribute/election"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/membership"
)

// Start a cluster node with membership and leader election. Alone, with
// Expect 1, it bootstraps and leads; with Join and Expect 3 on three
// nodes, they elect one leader among them. Its distribute:info() says it
// runs the election (election => true), and distribute:leader() answers
// {ok, Node, Term}.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "cluster-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	c, err := cluster.Start(ctx, cluster.Config{
		// With no epmd on the port, the node hosts an embedded one.
		Node:     distribute.Config{Name: "clusterex@localhost", Cookie: "example", ListenAddr: "127.0.0.1:0", EpmdPort: 24373, EpmdListen: "127.0.0.1:24373"},
		Profile:  membership.Local(),
		Election: &election.Config{Expect: 1, DataDir: dir, Timing: election.Local()},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Stop(ctx)

	wctx, cancel := context.WithCancel(ctx)
	for ch := range c.Election().Observe(wctx) {
		if ch.Leader == c.Node().Name() {
			break
		}
	}
	cancel()
	leader, _, _ := c.Election().Leader()
	fmt.Println("leader:", leader)
	el, _ := c.Info().Get(etf.Atom("election"))
	fmt.Println("info() election:", etf.Format(el))
	// Output:
	// leader: clusterex@localhost
	// info() election: true
}
