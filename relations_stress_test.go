package distribute

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// Stress tests of the relation tables: links, monitors, exits and kills
// racing each other, on one node and across two nodes over TCP. Each
// runs rounds for stressBudget (DISTRIBUTE_STRESS_DURATION for a longer
// hunt) and checks, after every round, what must hold whichever side
// won. TestLinkWhileKilled (link_race_test.go) is the first of them.

// watchedBy reports whether p holds a monitor from the process by.
func watchedBy(p *Process, by Pid) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.rels().watchers {
		if w.by == by {
			return true
		}
	}
	return false
}

// eventually polls cond for a generous deadline, failing t with what.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	d := distributetest.Scale(10 * time.Second)
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// race runs f and g at once, each given a slightly different start in
// alternate rounds, and waits for both.
func race(round int, f, g func()) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		<-start
		if round%2 == 1 {
			runtime.Gosched()
		}
		f()
	}()
	go func() {
		defer wg.Done()
		<-start
		if round%3 == 2 {
			runtime.Gosched()
		}
		g()
	}()
	close(start)
	wg.Wait()
}

// stressRounds runs round 0, 1, 2, ... until budget has passed, then
// logs how many ran.
func stressRounds(t *testing.T, budget time.Duration, round func(n int)) {
	n := 0
	for deadline := time.Now().Add(budget); time.Now().Before(deadline); n++ {
		round(n)
	}
	t.Logf("%d rounds", n)
}

// twoNodes starts two nodes on a private epmd.
func twoNodes(t *testing.T) (*Node, *Node) {
	port := distributetest.StartEpmd(t)
	return startNode(t, port), startNode(t, port)
}

// drain empties p's mailbox.
func drain(t *testing.T, p *Process) {
	for p.MailboxLen() > 0 {
		if _, err := p.Receive(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMonitorWhileKilled races Monitor against the monitoring process
// being killed: whichever wins, the target must not keep a monitor for
// the dead process (the demonitor of its exit would otherwise reach the
// target before the monitor did).
func TestMonitorWhileKilled(t *testing.T) {
	a, b := twoNodes(t)
	budget := stressBudget(t, time.Second)
	eachPlace(t, a, b, func(t *testing.T, tn *Node) {
		ctx := testCtx(t)
		target, _ := tn.NewProcess()
		defer target.Exit(ReasonNormal)
		killer, _ := a.NewProcess()
		defer killer.Exit(ReasonNormal)
		stressRounds(t, budget, func(rounds int) {
			p, _ := a.NewProcess()
			race(rounds, func() { p.Monitor(ctx, target.Pid()) }, func() { killer.Kill(ctx, p.Pid()) })
			<-p.Done()
			eventually(t, "the target still holds a monitor from a process that exited", func() bool { return !watchedBy(target, p.Pid()) })
		})
	})
}

// TestMonitorTargetKilled races Monitor against the target being killed:
// the monitoring process gets exactly one Down for the monitor, with
// reason killed (the monitor came first) or noproc (the kill did).
func TestMonitorTargetKilled(t *testing.T) {
	a, b := twoNodes(t)
	budget := stressBudget(t, time.Second)
	eachPlace(t, a, b, func(t *testing.T, tn *Node) {
		ctx := testCtx(t)
		p, _ := a.NewProcess()
		defer p.Exit(ReasonNormal)
		killer, _ := tn.NewProcess()
		defer killer.Exit(ReasonNormal)
		stressRounds(t, budget, func(rounds int) {
			target, _ := tn.NewProcess()
			var ref Ref
			var merr error
			race(rounds, func() { ref, merr = p.Monitor(ctx, target.Pid()) }, func() { killer.Kill(ctx, target.Pid()) })
			if merr != nil {
				t.Fatalf("round %d: monitor: %v", rounds, merr)
			}
			wctx, cancel := context.WithTimeout(ctx, distributetest.Scale(10*time.Second))
			m, err := p.Receive(wctx)
			cancel()
			if err != nil {
				t.Fatalf("round %d: no Down: %v", rounds, err)
			}
			d, ok := m.(Down)
			if !ok || d.Ref != ref || d.Reason != ReasonKilled && d.Reason != ReasonNoProc {
				t.Fatalf("round %d: got %#v; want the Down of %v (killed or noproc)", rounds, m, ref)
			}
			// A second Down would come over the same path: a marker
			// from the target's node, sent after, arrives after it.
			if err := killer.Send(ctx, p.Pid(), Atom("marker")); err != nil {
				t.Fatal(err)
			}
			wctx, cancel = context.WithTimeout(ctx, distributetest.Scale(10*time.Second))
			m, err = p.Receive(wctx)
			cancel()
			if err != nil || m != Atom("marker") {
				t.Fatalf("round %d: got %#v (%v) after the Down; want the marker, no second Down", rounds, m, err)
			}
			if p.MailboxLen() != 0 {
				t.Fatalf("round %d: %d more messages", rounds, p.MailboxLen())
			}
		})
	})
}

// TestDemonitorWhileTargetExits races Demonitor against the target's
// exit: once Demonitor has returned, no Down for the monitor is in the
// mailbox or arrives later (demonitor with flush).
func TestDemonitorWhileTargetExits(t *testing.T) {
	a, b := twoNodes(t)
	budget := stressBudget(t, time.Second)
	eachPlace(t, a, b, func(t *testing.T, tn *Node) {
		ctx := testCtx(t)
		p, _ := a.NewProcess()
		defer p.Exit(ReasonNormal)
		marker, _ := tn.NewProcess()
		defer marker.Exit(ReasonNormal)
		stressRounds(t, budget, func(rounds int) {
			target, _ := tn.NewProcess()
			ref, err := p.Monitor(ctx, target.Pid())
			if err != nil {
				t.Fatal(err)
			}
			race(rounds, func() { p.Demonitor(ctx, ref) }, func() { target.Exit(Atom("bye")) })
			// Whatever the target's node sent before the marker has
			// been handled when the marker arrives.
			if err := marker.Send(ctx, p.Pid(), Atom("marker")); err != nil {
				t.Fatal(err)
			}
			wctx, cancel := context.WithTimeout(ctx, distributetest.Scale(10*time.Second))
			m, err := p.Receive(wctx)
			cancel()
			if err != nil || m != Atom("marker") {
				t.Fatalf("round %d: got %#v (%v); want the marker and no Down after Demonitor returned", rounds, m, err)
			}
		})
	})
}

// TestUnlinkWhileKilled races Unlink against the unlinking process being
// killed: either way the target ends with no link to the dead process.
func TestUnlinkWhileKilled(t *testing.T) {
	a, b := twoNodes(t)
	budget := stressBudget(t, time.Second)
	eachPlace(t, a, b, func(t *testing.T, tn *Node) {
		ctx := testCtx(t)
		target, _ := tn.NewProcess()
		defer target.Exit(ReasonNormal)
		target.TrapExit(true)
		killer, _ := a.NewProcess()
		defer killer.Exit(ReasonNormal)
		stressRounds(t, budget, func(rounds int) {
			p, _ := a.NewProcess()
			if err := p.Link(ctx, target.Pid()); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the link never reached the target", func() bool { return linkedTo(target, p.Pid()) })
			race(rounds, func() { p.Unlink(ctx, target.Pid()) }, func() { killer.Kill(ctx, p.Pid()) })
			<-p.Done()
			eventually(t, "the target still links to a process that exited", func() bool { return !linkedTo(target, p.Pid()) })
			drain(t, target)
		})
	})
}

// TestLinkedPairExitsTogether: two linked processes, on one node or on
// two, exit at once with their own reasons while a third monitors both.
// Each exits; the watcher gets both Downs, each with a reason of the
// pair's; neither is left in its node's remotes index.
func TestLinkedPairExitsTogether(t *testing.T) {
	a, b := twoNodes(t)
	budget := stressBudget(t, time.Second)
	eachPlace(t, a, b, func(t *testing.T, tn *Node) {
		ctx := testCtx(t)
		w, _ := a.NewProcess()
		defer w.Exit(ReasonNormal)
		stressRounds(t, budget, func(rounds int) {
			x, _ := a.NewProcess()
			y, _ := tn.NewProcess()
			if err := x.Link(ctx, y.Pid()); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the link never reached y", func() bool { return linkedTo(y, x.Pid()) })
			rx, _ := w.Monitor(ctx, x.Pid())
			ry, _ := w.Monitor(ctx, y.Pid())
			// A remote monitor is made when MONITOR_P arrives: until
			// then y's exit would answer it noproc.
			eventually(t, "the monitor never reached y", func() bool { return watchedBy(y, w.Pid()) })
			race(rounds, func() { x.Exit(Atom("x")) }, func() { y.Exit(Atom("y")) })
			got := map[Ref]Term{}
			for len(got) < 2 {
				wctx, cancel := context.WithTimeout(ctx, distributetest.Scale(10*time.Second))
				m, err := w.Receive(wctx)
				cancel()
				if err != nil {
					t.Fatalf("round %d: Downs %v: %v", rounds, got, err)
				}
				if d, ok := m.(Down); ok {
					got[d.Ref] = d.Reason
				}
			}
			for ref, reason := range got {
				if ref != rx && ref != ry || reason != Atom("x") && reason != Atom("y") {
					t.Fatalf("round %d: Downs %v; want those of %v and %v with reason x or y", rounds, got, rx, ry)
				}
			}
			for _, n := range []*Node{a, tn} {
				for _, p := range []*Process{x, y} {
					for _, other := range []Atom{a.Name(), b.Name()} {
						if indexedUnder(n, other, p) {
							t.Fatalf("round %d: %v, which exited, is in %s's remotes index under %s", rounds, p.Pid(), n.Name(), other)
						}
					}
				}
			}
		})
	})
}

// eachPlace runs f twice, as the subtests local (tn is a, the node of the
// process under test) and remote (tn is b).
func eachPlace(t *testing.T, a, b *Node, f func(t *testing.T, tn *Node)) {
	t.Helper()
	t.Run("local", func(t *testing.T) { f(t, a) })
	t.Run("remote", func(t *testing.T) { f(t, b) })
}
