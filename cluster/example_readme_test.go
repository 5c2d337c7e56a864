package cluster_test

import (
	"context"
	"log"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/cluster"
	"github.com/distribute-go/distribute/election"
)

// The README's election snippet, compiled (not run: it needs the other
// two nodes and a real data dir).
func Example_readmeElection() {
	ctx := context.Background()
	c, err := cluster.Start(ctx, cluster.Config{
		Node:     distribute.Config{Name: "n1@localhost", Cookie: "secret"},
		Join:     []distribute.Atom{"n2@localhost"},
		Election: &election.Config{Expect: 3, DataDir: "/var/lib/app/raft"},
	})
	if err != nil {
		log.Fatal(err)
	}
	leader, term, ok := c.Election().Leader() // this node's view
	term, err = c.Election().IsLeader(ctx)    // confirmed with a quorum, or ErrNotLeader
	for ch := range c.Election().Watch(ctx) { /* ch.Leader, ch.Term */
		_ = ch
	}
	_, _, _, _ = leader, term, ok, err
}
