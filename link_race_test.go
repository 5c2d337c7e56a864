package distribute

import (
	"context"
	"errors"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// stressBudget is how long a stress test runs: d by default (a few
// seconds, so the normal suite stays quick), DISTRIBUTE_STRESS_DURATION
// (a Go duration) for a longer hunt.
func stressBudget(t *testing.T, d time.Duration) time.Duration {
	if s := os.Getenv("DISTRIBUTE_STRESS_DURATION"); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("DISTRIBUTE_STRESS_DURATION=%q: %v", s, err)
		}
		return v
	}
	return d
}

// linkedTo reports whether p holds a link to pid.
func linkedTo(p *Process, pid Pid) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.rels().links[pid]
	return ok
}

// TestLinkWhileKilled races Link against the linking process being killed:
// whichever wins, the target must not stay linked to the dead process (the
// exit signal was lost when it reached the target before the link did).
// Rounds run for a few seconds against a local target and a remote one.
func TestLinkWhileKilled(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := startNode(t, port)
	b := startNode(t, port)
	budget := stressBudget(t, 1500*time.Millisecond)
	t.Run("local", func(t *testing.T) { linkWhileKilled(t, a, a, budget) })
	t.Run("remote", func(t *testing.T) { linkWhileKilled(t, a, b, budget) })
}

func linkWhileKilled(t *testing.T, n, targetNode *Node, budget time.Duration) {
	ctx := testCtx(t)
	// The target traps exits so that it outlives every round; a helper
	// empties its mailbox of the Exit messages.
	target, err := targetNode.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer target.Exit(ReasonNormal)
	target.TrapExit(true)
	killer, err := n.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer killer.Exit(ReasonNormal)

	rounds, linkedRounds := 0, 0
	for deadline := time.Now().Add(budget); time.Now().Before(deadline); rounds++ {
		linker, err := n.NewProcess()
		if err != nil {
			t.Fatal(err)
		}
		start := make(chan struct{})
		linkErr := make(chan error, 1)
		go func() {
			<-start
			if rounds%2 == 1 {
				runtime.Gosched()
			}
			linkErr <- linker.Link(ctx, target.Pid())
		}()
		close(start)
		if rounds%3 == 2 {
			runtime.Gosched()
		}
		if err := killer.Kill(ctx, linker.Pid()); err != nil {
			t.Fatalf("round %d: kill: %v", rounds, err)
		}
		if err := <-linkErr; err == nil {
			linkedRounds++
		}
		<-linker.Done()
		// The exit signal (or the link's refusal) may still be on its way
		// to a remote target: wait for the link to go, as it must.
		deadline := time.Now().Add(distributetest.Scale(10 * time.Second))
		for linkedTo(target, linker.Pid()) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: target %v is still linked to %v, which exited (%v) %v ago; the exit signal was lost",
					rounds, target.Pid(), linker.Pid(), linker.Reason(), distributetest.Scale(10*time.Second))
			}
			time.Sleep(time.Millisecond)
		}
		for target.MailboxLen() > 0 {
			if _, err := target.Receive(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d rounds, Link returned nil in %d", rounds, linkedRounds)
}

// TestSpawnLinkAndMonitorSeeEarlyExits: however soon the new process
// exits, SpawnMonitor's Down and SpawnLink's exit signal carry its own
// reason (Spawn then Monitor races: noproc when the worker won).
func TestSpawnLinkAndMonitorSeeEarlyExits(t *testing.T) {
	n := startLocalNode(t)
	ctx := testCtx(t)
	parent, err := n.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer parent.Exit(ReasonNormal)
	parent.TrapExit(true)
	quit := func(ctx context.Context, p *Process) error {
		return &ExitError{Reason: Atom("done")}
	}
	for i := 0; i < 2000; i++ {
		child, ref, err := parent.SpawnMonitor(quit)
		if err != nil {
			t.Fatal(err)
		}
		m, err := parent.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := m.(Down); !ok || d.Ref != ref || d.Pid != child.Pid() || d.Reason != Atom("done") {
			t.Fatalf("round %d: got %#v; want the Down of %v with reason done", i, m, child.Pid())
		}
		child, err = parent.SpawnLink(quit)
		if err != nil {
			t.Fatal(err)
		}
		m, err = parent.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := m.(Exit); !ok || e.From != child.Pid() || e.Reason != Atom("done") {
			t.Fatalf("round %d: got %#v; want the Exit of %v with reason done", i, m, child.Pid())
		}
		if linkedTo(parent, child.Pid()) {
			t.Fatalf("round %d: still linked to %v after its exit signal", i, child.Pid())
		}
	}
	// A parent that has exited spawns nothing.
	parent.Exit(ReasonNormal)
	before := len(n.Processes())
	if _, err := parent.SpawnLink(quit); !errors.Is(err, ErrClosed) {
		t.Fatalf("SpawnLink from an exited process: %v; want ErrClosed", err)
	}
	if _, _, err := parent.SpawnMonitor(quit); !errors.Is(err, ErrClosed) {
		t.Fatalf("SpawnMonitor from an exited process: %v; want ErrClosed", err)
	}
	if after := len(n.Processes()); after != before {
		t.Fatalf("%d processes after refused spawns; want %d", after, before)
	}
}
