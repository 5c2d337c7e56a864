// Command election runs three Go nodes in one program, each with SWIM
// membership and leader election (Raft), and shows what the election
// guarantees:
//
//   - the three nodes bootstrap one Raft cluster (the first Expect members
//     by name, once they all see each other) and agree on one leader and
//     its term;
//   - the leader confirms its leadership with a quorum (IsLeader) and uses
//     the term as a fencing token on a shared resource;
//   - when the leader stops, it hands leadership over, the other two agree
//     on a new leader in a higher term, and the resource rejects the old
//     leader's token.
//
// Each node keeps its Raft state in a temporary data dir, removed at the
// end. Run it with
//
//	go run ./examples/election
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/cluster"
	"github.com/distribute-go/distribute/election"
	"github.com/distribute-go/distribute/membership"
)

// store is a shared resource that accepts a write only with a fencing
// token (a Raft term) at least as high as any it has seen.
type store struct {
	mu      sync.Mutex
	highest uint64
}

func (s *store) write(token uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token < s.highest {
		return fmt.Errorf("token %d is older than %d", token, s.highest)
	}
	s.highest = token
	return nil
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "election-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// With no epmd on the port, the first node hosts an embedded one.
	start := func(name string, join ...distribute.Atom) *cluster.Cluster {
		c, err := cluster.Start(ctx, cluster.Config{
			Node:    distribute.Config{Name: name, Cookie: "example", ListenAddr: "127.0.0.1:0", EpmdPort: 24372, EpmdListen: "127.0.0.1:24372"},
			Profile: membership.Local(),
			Join:    join,
			Election: &election.Config{
				Expect:  3,
				DataDir: filepath.Join(dir, name),
				Timing:  election.Local(),
			},
		})
		if err != nil {
			log.Fatal(err)
		}
		return c
	}
	nodes := []*cluster.Cluster{start("elect_a@localhost")}
	nodes = append(nodes, start("elect_b@localhost", "elect_a@localhost"), start("elect_c@localhost", "elect_a@localhost"))
	defer func() {
		for _, n := range nodes {
			n.Stop(context.Background())
		}
	}()

	leader, term := agree(ctx, nodes, 0)
	fmt.Printf("%d nodes agree on one leader\n", len(nodes))

	var res store
	var lc *cluster.Cluster
	for _, n := range nodes {
		if n.Node().Name() == leader {
			lc = n
		}
	}
	token, err := lc.Election().IsLeader(ctx)
	if err != nil || token != term {
		log.Fatalf("IsLeader: %d, %v", token, err)
	}
	fmt.Println("the leader confirms with a quorum; its write:", res.write(token))

	// A graceful stop hands leadership over.
	lc.Stop(ctx)
	var rest []*cluster.Cluster
	for _, n := range nodes {
		if n != lc {
			rest = append(rest, n)
		}
	}
	nodes = rest
	next, term2 := agree(ctx, nodes, term)
	if next == leader || term2 <= term {
		log.Fatalf("new leader %s term %d after %s term %d", next, term2, leader, term)
	}
	fmt.Printf("the leader stopped; the %d others agree on a new leader in a higher term\n", len(nodes))
	for _, n := range nodes {
		if n.Node().Name() == next {
			if token, err = n.Election().IsLeader(ctx); err != nil {
				log.Fatal(err)
			}
		}
	}
	fmt.Println("the new leader's write:", res.write(token))
	fmt.Println("the old leader's write rejected:", res.write(term) != nil)
}

// agree waits until every node names the same leader with the same term,
// a term above after.
func agree(ctx context.Context, nodes []*cluster.Cluster, after uint64) (distribute.Atom, uint64) {
	for {
		l0, t0, ok := nodes[0].Election().Leader()
		same := ok && t0 > after
		for _, n := range nodes[1:] {
			l, t, ok := n.Election().Leader()
			same = same && ok && l == l0 && t == t0
		}
		if same {
			return l0, t0
		}
		select {
		case <-ctx.Done():
			log.Fatal("no leader agreed on: ", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
