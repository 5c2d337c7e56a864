package distribute

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// indexedUnder reports whether the remotes index lists p under node.
func indexedUnder(n *Node, node Atom, p *Process) bool {
	n.remotes.mu.Lock()
	defer n.remotes.mu.Unlock()
	_, ok := n.remotes.byNode[node][p]
	return ok
}

// receiveNoConnection waits for an Exit or a Down with reason
// noconnection in p's mailbox.
func receiveNoConnection(t *testing.T, p *Process, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
	defer cancel()
	m, err := p.Receive(ctx)
	if err != nil {
		t.Fatalf("%s: no noconnection signal: %v", what, err)
	}
	switch m := m.(type) {
	case Exit:
		if m.Reason != ReasonNoConnection {
			t.Fatalf("%s: %+v; want reason noconnection", what, m)
		}
	case Down:
		if m.Reason != ReasonNoConnection {
			t.Fatalf("%s: %+v; want reason noconnection", what, m)
		}
	default:
		t.Fatalf("%s: got %#v; want an Exit or a Down", what, m)
	}
}

// TestNodeDownFollowsTheRemotesIndex: a lost connection reaches the
// processes with a link, a monitor or a watcher on the lost node through
// the node's remotes index; an exiting process leaves the index, a lost
// connection empties its node's entry, and relations made after a
// reconnect are indexed again (a second loss reaches them too).
func TestNodeDownFollowsTheRemotesIndex(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a, b := startNode(t, port), startNode(t, port)
	ctx := testCtx(t)
	target, _ := b.NewProcess()
	target.TrapExit(true) // its links to a's processes break each round
	bystander, _ := a.NewProcess()
	// The same processes take part in both rounds: the relations a
	// reconnect brings must be indexed again after the first loss.
	linker, _ := a.NewProcess()
	linker.TrapExit(true)
	monitor, _ := a.NewProcess()
	watched, _ := a.NewProcess()

	for round := range 2 {
		if err := a.Connect(ctx, b.Name()); err != nil {
			t.Fatal(err)
		}
		distributetest.WaitFor(t, "b to see the connection", func() bool { return b.IsConnected(a.Name()) })
		if err := linker.Link(ctx, target.Pid()); err != nil {
			t.Fatal(err)
		}
		if _, err := monitor.Monitor(ctx, target.Pid()); err != nil {
			t.Fatal(err)
		}
		if _, err := target.Monitor(ctx, watched.Pid()); err != nil {
			t.Fatal(err)
		}
		leaver, _ := a.NewProcess()
		if err := leaver.Link(ctx, target.Pid()); err != nil {
			t.Fatal(err)
		}
		for _, p := range []*Process{linker, monitor, leaver} {
			if !indexedUnder(a, b.Name(), p) {
				t.Fatalf("round %d: %v has a relation with %s but is not in the index", round, p.Pid(), b.Name())
			}
		}
		distributetest.WaitFor(t, "the watched process to be indexed", func() bool { return indexedUnder(a, b.Name(), watched) })
		leaver.Exit(ReasonNormal)
		if indexedUnder(a, b.Name(), leaver) {
			t.Fatalf("round %d: an exited process stays in the index", round)
		}
		if indexedUnder(a, b.Name(), bystander) {
			t.Fatalf("round %d: a process with no remote relation is in the index", round)
		}

		if !a.Disconnect(b.Name()) {
			t.Fatal("not connected")
		}
		receiveNoConnection(t, linker, "the linked process")
		receiveNoConnection(t, monitor, "the monitoring process")
		distributetest.WaitFor(t, "the watcher from the lost node to be forgotten", func() bool {
			watched.mu.Lock()
			defer watched.mu.Unlock()
			return len(watched.rels().watchers) == 0
		})
		if got := a.remotes.len(); got != 0 {
			t.Fatalf("round %d: the index lists processes under %d nodes after the loss; want 0", round, got)
		}
		distributetest.WaitFor(t, "b to see the disconnect", func() bool { return !b.IsConnected(a.Name()) })
		for target.MailboxLen() > 0 {
			target.Receive(ctx)
		}
	}
}

// TestRemotesIndexUnderChurn races links, unlinks, monitors, demonitors
// and exits of many processes against the connection going down and up.
// After the churn every remote relation a live process holds is in the
// index (a process missing from it would never get its noconnection).
func TestRemotesIndexUnderChurn(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a, b := startNode(t, port), startNode(t, port)
	ctx := testCtx(t)
	targets := make([]*Process, 8)
	for i := range targets {
		targets[i], _ = b.NewProcess()
		targets[i].TrapExit(true) // they outlive every lost connection
	}
	budget := stressBudget(t, 3*time.Second)
	stop := time.Now().Add(budget)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var live []*Process
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			p, _ := a.NewProcess()
			p.TrapExit(true)
			for time.Now().Before(stop) {
				to := targets[rng.IntN(len(targets))].Pid()
				switch rng.IntN(6) {
				case 0, 1:
					p.Link(ctx, to)
				case 2:
					p.Unlink(ctx, to)
				case 3:
					if ref, err := p.Monitor(ctx, to); err == nil && rng.IntN(2) == 0 {
						p.Demonitor(ctx, ref)
					}
				case 4:
					if rng.IntN(8) == 0 {
						p.Exit(ReasonNormal)
						p, _ = a.NewProcess()
						p.TrapExit(true)
					}
				case 5:
					for p.MailboxLen() > 0 {
						p.Receive(ctx)
					}
				}
			}
			mu.Lock()
			live = append(live, p)
			mu.Unlock()
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Now().Before(stop) {
			a.Disconnect(b.Name())
			time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
			a.Connect(ctx, b.Name())
			time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
		}
	}()
	wg.Wait()

	// With the connection up, each process links to and monitors one
	// more process there: every relation it holds is indexed, and the
	// next loss reaches it.
	if err := a.Connect(ctx, b.Name()); err != nil {
		t.Fatal(err)
	}
	last := targets[0].Pid()
	refs := make(map[*Process]Ref)
	for _, p := range live {
		if err := p.Link(ctx, last); err != nil {
			t.Fatal(err)
		}
		ref, err := p.Monitor(ctx, last)
		if err != nil {
			t.Fatal(err)
		}
		refs[p] = ref
	}
	for _, p := range live {
		p.mu.Lock()
		r := p.rels()
		var nodes []Atom
		for pid := range r.links {
			nodes = append(nodes, pid.Node)
		}
		for _, m := range r.monitors {
			nodes = append(nodes, m.remoteNode(a.Name()))
		}
		for _, w := range r.watchers {
			nodes = append(nodes, w.by.Node)
		}
		p.mu.Unlock()
		for _, node := range nodes {
			if node != "" && node != a.Name() && !indexedUnder(a, node, p) {
				t.Errorf("%v holds a relation with %s but is not in the index under it", p.Pid(), node)
			}
		}
	}
	if !a.Disconnect(b.Name()) {
		t.Fatal("not connected at the last loss")
	}
	for _, p := range live {
		var exit, down bool
		for !exit || !down {
			wctx, cancel := context.WithTimeout(ctx, distributetest.Scale(10*time.Second))
			m, err := p.Receive(wctx)
			cancel()
			if err != nil {
				t.Fatalf("%v: exit %v, down %v after the last loss: %v", p.Pid(), exit, down, err)
			}
			switch m := m.(type) {
			case Exit:
				exit = exit || m.From == last && m.Reason == ReasonNoConnection
			case Down:
				down = down || m.Ref == refs[p] && m.Reason == ReasonNoConnection
			}
		}
		p.Exit(ReasonNormal)
	}
}
