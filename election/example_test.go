package election_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"sync"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/election"
	"github.com/distribute-go/distribute/membership"
)

// fencedStore is a resource shared by successive leaders. It remembers
// the highest fencing token (Raft term) it has accepted and rejects a
// write with a lower one: the write of a leader that has been replaced.
type fencedStore struct {
	mu      sync.Mutex
	highest uint64
	value   string
}

func (s *fencedStore) Write(token uint64, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token < s.highest {
		return fmt.Errorf("stale token %d: a leader with token %d has written", token, s.highest)
	}
	s.highest, s.value = token, value
	return nil
}

// A leader confirms its leadership with IsLeader and writes with the
// term as its fencing token; a write with an older term is rejected.
func Example_fencing() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "election-example")
	defer os.RemoveAll(dir)

	node, err := distribute.Start(ctx, distribute.Config{Name: "fence@localhost", Cookie: "example", ListenAddr: "127.0.0.1:0", EpmdPort: 24375, EpmdListen: "127.0.0.1:24375"})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Stop(ctx)
	ms, err := membership.Start(ctx, node, membership.Config{Cookie: "example", Profile: membership.Local()})
	if err != nil {
		log.Fatal(err)
	}
	defer ms.Stop(ctx)
	e, err := election.Start(ctx, node, election.Config{Expect: 1, DataDir: dir, Membership: ms, Timing: election.Local()})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Stop(ctx)

	// Wait until this node leads.
	wctx, cancel := context.WithCancel(ctx)
	for c := range e.Watch(wctx) {
		if c.Leader == node.Name() {
			break
		}
	}
	cancel()
	term, err := e.IsLeader(ctx)
	if err != nil {
		log.Fatal(err)
	}
	store := &fencedStore{}
	fmt.Println("leader write:", store.Write(term, "from the leader"))
	// A deposed leader of an older term tries to write.
	fmt.Println("stale write rejected:", store.Write(term-1, "from an old leader") != nil)
	fmt.Println("value:", store.value)
	// Output:
	// leader write: <nil>
	// stale write rejected: true
	// value: from the leader
}

// Conflict is nil while no member of another Raft cluster is in sight;
// wire it to a readiness check (the CLI's /readyz does, through
// health.Config.Election). Cluster is the identity the first leader
// committed: every member of this Raft cluster holds the same.
func ExampleElection_Conflict() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "election-example")
	defer os.RemoveAll(dir)

	node, err := distribute.Start(ctx, distribute.Config{Name: "conflict@localhost", Cookie: "example", ListenAddr: "127.0.0.1:0", EpmdPort: 24377, EpmdListen: "127.0.0.1:24377"})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Stop(ctx)
	ms, err := membership.Start(ctx, node, membership.Config{Cookie: "example", Profile: membership.Local()})
	if err != nil {
		log.Fatal(err)
	}
	defer ms.Stop(ctx)
	e, err := election.Start(ctx, node, election.Config{Expect: 1, DataDir: dir, Membership: ms, Timing: election.Local()})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Stop(ctx)

	ready := func() error { return e.Conflict() } // a readiness check
	for e.Cluster() == "" {
		time.Sleep(10 * time.Millisecond) // until the first leader commits the identity
	}
	fmt.Println("ready:", ready() == nil)
	fmt.Println("cluster identity:", len(e.Cluster()), "hex digits")
	// Output:
	// ready: true
	// cluster identity: 32 hex digits
}
