//go:build !race

// The race detector raises the stack guard (and so Go's starting stack
// size), so this check only holds without it.

package distribute

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/distribute-go/distribute/codec"
)

// An idle spawned process (blocked in Receive) must fit in Go's smallest
// stack, 2 KB, and must not make the runtime start new goroutines bigger:
// Go starts goroutines at the average stack depth it saw at the last GC
// plus a 928-byte guard, so the idle path has to stay under 1120 bytes for
// processes, once they are most of the goroutines, to keep getting 2 KB.
func TestIdleProcessStack(t *testing.T) {
	n := startLocalNode(t)
	t.Run("Spawn", func(t *testing.T) {
		checkIdleStack(t, func() error {
			_, err := n.Spawn(func(ctx context.Context, p *Process) error {
				_, err := p.Receive(ctx)
				return err
			})
			return err
		})
	})
	t.Run("Actor", func(t *testing.T) {
		a := &Actor[int, string, string]{Msg: codec.String}
		checkIdleStack(t, func() error {
			_, err := a.Start(t.Context(), n)
			return err
		})
	})
}

// checkIdleStack starts processes with start in two batches, each then
// idle, and checks the stack the second batch costs.
func checkIdleStack(t *testing.T, start func() error) {
	const batch = 2000
	parked := countParked()
	spawnIdle := func() {
		for range batch {
			if err := start(); err != nil {
				t.Fatal(err)
			}
		}
		parked += batch
		waitParked(t, parked)
	}
	spawnIdle()
	runtime.GC() // the starting stack size now follows the idle processes
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	spawnIdle()
	runtime.ReadMemStats(&after)
	per := float64(after.StackInuse-before.StackInuse) / batch
	t.Logf("stack per idle process: %.0f bytes", per)
	if per > 3000 {
		t.Fatalf("an idle process holds %.0f bytes of stack; want 2048 (the idle path outgrew 2 KB, or went past 1120 bytes)", per)
	}
}

// waitParked waits until at least k goroutines are parked in a mailbox
// wait: then every one has been through the idle path's deepest frames.
func waitParked(t *testing.T, k int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		parked := countParked()
		if parked >= k {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines parked in a mailbox; want %d", parked, k)
		}
		runtime.Gosched()
	}
}

// countParked counts the goroutines parked in a mailbox wait.
func countParked() int {
	buf := make([]byte, 16<<20)
	for {
		m := runtime.Stack(buf, true)
		if m < len(buf) {
			buf = buf[:m]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	parked := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, " [chan receive") && strings.Contains(g, "distribute.(*mailbox).wait(") {
			parked++
		}
	}
	return parked
}
