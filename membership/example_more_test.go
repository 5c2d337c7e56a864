package membership_test

import (
	"context"
	"fmt"
	"log"
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
		m, err := membership.Start(ctx, membership.Config{
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
