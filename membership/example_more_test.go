package membership_test

import (
	"context"
	"fmt"
	"log"
	"sync/atomic"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/membership"
)

// README "Membership": two gossip-only members (no distribution node) on
// loopback; b joins a, and a's table reports b alive. Gossip is encrypted
// with a key derived from the cookie: a member with another cookie cannot
// join. cluster.Start runs the same with the node attached, so alive
// members are connected and dead ones disconnected.
func Example_readme() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := func(name string) *membership.Membership {
		m, err := membership.Start(ctx, nil, membership.Config{
			Name: distribute.Atom(name), Cookie: "secret", GossipAddr: "127.0.0.1:0", Profile: membership.Local(),
		})
		if err != nil {
			log.Fatal(err)
		}
		return m
	}
	a := start("a@localhost")
	defer a.Stop(context.Background())
	b := start("b@localhost")
	defer b.Stop(context.Background())

	events := a.Watch(ctx)
	if _, err := b.Join(ctx, a.GossipAddr()); err != nil {
		log.Fatal(err)
	}
	for e := range events {
		if e.Member.Name == "b@localhost" && e.Member.State == membership.StateAlive {
			fmt.Println(e.Member.Name, e.Member.State)
			break
		}
	}
	// Output: b@localhost alive
}

// Seeds need not be up: a member whose seeds do not answer starts anyway,
// reports Joining, and keeps trying in the background until one answers.
// Resolve turns a seed's node name into its gossip address (the cluster
// package asks the node's distribute:info()).
func ExampleConfig_seeds() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var seed atomic.Pointer[membership.Membership]
	resolve := func(ctx context.Context, node distribute.Atom) (string, error) {
		if s := seed.Load(); s != nil && node == "seed@localhost" {
			return s.GossipAddr(), nil
		}
		return "", fmt.Errorf("%s is not up", node)
	}
	late, err := membership.Start(ctx, nil, membership.Config{
		Name: "late@localhost", Cookie: "secret", Profile: membership.Local(),
		Seeds: []distribute.Atom{"seed@localhost"}, Resolve: resolve,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer late.Stop(context.Background())
	fmt.Println("joining:", late.Joining())

	s, err := membership.Start(ctx, nil, membership.Config{Name: "seed@localhost", Cookie: "secret", Profile: membership.Local()})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Stop(context.Background())
	seed.Store(s)
	for e := range late.Watch(ctx) {
		if e.Member.Name == "seed@localhost" && e.Member.State == membership.StateAlive {
			fmt.Println(e.Member.Name, e.Member.State)
			break
		}
	}
	// Output:
	// joining: true
	// seed@localhost alive
}
