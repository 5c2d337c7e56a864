package cluster_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/cluster"
	"github.com/distribute-go/distribute/election"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/health"
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
	for ch := range c.Election().Watch(wctx) {
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
	checks, err := health.Start(ctx, c.Node(), health.Config{Membership: c.Membership(), Expected: c.Expected()})
	if err != nil {
		log.Fatal(err)
	}
	_ = checks.Readyz() // 503 until a seed answers
}

// Nodes that find each other by DNS, as on Kubernetes: each is named
// after its pod IP, and every address of the headless service's name is
// a peer with the same alive part. The sources are polled every
// DiscoverInterval; a peer that disappears from DNS is left to SWIM.
// Compiled, not run.
func ExampleConfig_discover() {
	ctx := context.Background()
	c, err := cluster.Start(ctx, cluster.Config{
		Node: distribute.Config{Name: "app@" + os.Getenv("POD_IP"), Cookie: os.Getenv("DISTRIBUTE_COOKIE")},
		Discover: []cluster.Discovery{
			cluster.DNS{Name: "app.default.svc.cluster.local."},
			cluster.File{Path: "/etc/app/extra-peers"},
		},
		Expected: 3,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Stop(ctx)
}

// ParseDiscovery reads the CLI's --discover values.
func ExampleParseDiscovery() {
	for _, spec := range []string{"dns:app.default.svc.cluster.local.", "srv:_epmd._tcp.app.default.svc.cluster.local.", "file:/etc/app/peers", "consul:app"} {
		d, err := cluster.ParseDiscovery(spec)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%T %v\n", d, d)
	}
	// Output:
	// cluster.DNS dns:app.default.svc.cluster.local.
	// cluster.SRV srv:_epmd._tcp.app.default.svc.cluster.local.
	// cluster.File file:/etc/app/peers
	// cluster: discovery: "consul:app": unknown kind "consul": want dns:NAME, srv:NAME or file:PATH
}

// A graceful stop, as `distribute node` does on SIGTERM: Drain leaves the
// cluster (the others see this node left), hands leadership over,
// unregisters its global names and waits for the RPC calls in flight, for
// up to a grace period; then Stop. Compiled, not run.
func ExampleCluster_Drain() {
	ctx := context.Background()
	c, err := cluster.Start(ctx, cluster.Config{Node: distribute.Config{Name: "app@10.0.0.7", Cookie: "secret"}})
	if err != nil {
		log.Fatal(err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	<-sigs
	grace, cancel := context.WithTimeout(ctx, 20*time.Second)
	if err := c.Drain(grace); err != nil {
		log.Print(err) // calls still running when the grace ended
	}
	cancel()
	stop, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c.Stop(stop)
}
