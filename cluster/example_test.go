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
	"github.com/distribute-go/distribute/health"
	"github.com/distribute-go/distribute/membership"
)

// Start a cluster node with membership and leader election. Alone, with
// Expect 1, it bootstraps and leads; with Join and Expect 3 on three
// nodes, they elect one leader among them. Its distribute:info() carries
// the Raft address, and distribute:leader() answers {ok, Node, Term}.
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
	raft, _ := c.Info().Get(etf.Atom("raft"))
	fmt.Println("info() raft is the Raft address:", etf.Format(raft) == etf.Format(etf.Binary(c.Election().Addr())))
	// Output:
	// leader: clusterex@localhost
	// info() raft is the Raft address: true
}

// A node meant to be restarted in place (a StatefulSet pod, a systemd
// unit): its seeds need not be up yet (they are retried), DataDir keeps
// its gossip port so the others take it back at once after a restart, and
// health judges the cluster against the size it should have. With
// NoPreventOverlappingPartitions a blip between two nodes cuts only their
// link (see the field for the trade). Compiled, not run.
func ExampleConfig_restartable() {
	ctx := context.Background()
	c, err := cluster.Start(ctx, cluster.Config{
		Node:                           distribute.Config{Name: "app-0@app-0.app", Cookie: "secret"},
		Join:                           []distribute.Atom{"app-0@app-0.app", "app-1@app-1.app", "app-2@app-2.app"},
		DataDir:                        "/var/lib/app",
		Expected:                       3,
		NoPreventOverlappingPartitions: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Stop(ctx)
	checks, err := health.New(health.Config{Node: c.Node(), Membership: c.Membership(), Expected: c.Expected()})
	if err != nil {
		log.Fatal(err)
	}
	_ = checks.Readyz() // 503 until a seed answers
}
