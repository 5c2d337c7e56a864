package election

import (
	"sync"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
)

// TestIdleLeaderTraffic: an idle leader sends each follower Raft's
// heartbeats (one per HeartbeatTimeout/10 at most) and a few commit
// refreshes (one per CommitTimeout at most, CommitTimeout being half a
// HeartbeatTimeout), no more: at most 12 AppendEntries per follower per
// HeartbeatTimeout. With CommitTimeout at Raft's 50 ms default the
// commit refreshes alone were two thirds of an idle cluster's Raft
// traffic, about 20 AppendEntries per follower a second with LAN timings,
// and the leader was an idle cluster's busiest node. Timers only fire
// late on a loaded machine, never early, so the bound holds under load.
func TestIdleLeaderTraffic(t *testing.T) {
	for _, tc := range []struct {
		name   string
		timing Timing
		lan    bool
		window time.Duration
	}{
		{"local", Local(), false, 3 * time.Second},
		{"lan", LAN(), true, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := startClusterWith(t, 3, 3, func(m *member) { m.timing, m.lan = tc.timing, tc.lan })
			leader, _ := agreed(t, ms, 0)
			sameCluster(t, ms) // the identity is committed and applied everywhere: nothing left to replicate

			var mu sync.Mutex
			sent := map[distribute.Atom]int{}
			var from, to time.Time
			hook := func(kind rpcKind, node distribute.Atom, start time.Time, _ time.Duration, _ error) {
				mu.Lock()
				defer mu.Unlock()
				if kind == kindAppendEntries && !from.IsZero() && to.IsZero() && start.After(from) {
					sent[node]++
				}
			}
			leader.el.trans.onCall.Store(&hook)
			defer leader.el.trans.onCall.Store(nil)
			mu.Lock()
			from = time.Now()
			mu.Unlock()
			time.Sleep(tc.window) // the measured window: counting, not waiting for a condition
			mu.Lock()
			to = time.Now()
			window := to.Sub(from)
			counts := map[distribute.Atom]int{}
			for k, v := range sent {
				counts[k] = v
			}
			mu.Unlock()

			bound := int(12*window/tc.timing.HeartbeatTimeout) + 2
			for _, m := range ms {
				if m == leader {
					continue
				}
				got := counts[distribute.Atom(m.name)]
				t.Logf("%s: %d AppendEntries to %s in %v (%.1f/s; bound %d)", tc.name, got, m.name, window.Round(time.Millisecond), float64(got)/window.Seconds(), bound)
				if got == 0 {
					t.Errorf("no AppendEntries to %s in %v: the leader sent no heartbeat", m.name, window)
				}
				if got > bound {
					t.Errorf("%d AppendEntries to the idle follower %s in %v; want at most %d (10 heartbeats and 2 commit refreshes per HeartbeatTimeout %v)",
						got, m.name, window, bound, tc.timing.HeartbeatTimeout)
				}
			}
		})
	}
}
