package election

import (
	"sync"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
)

// TestIdleLeaderTraffic: with LAN timings an idle leader sends each
// follower Raft's heartbeats (one per HeartbeatTimeout/10 at most) and a
// few commit refreshes (one per CommitTimeout at most, CommitTimeout
// being half a HeartbeatTimeout), no more: at most 12 AppendEntries per
// follower per HeartbeatTimeout. With CommitTimeout at Raft's 50 ms default the
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
		{"lan", LAN(), true, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := startClusterWith(t, 3, 3, func(m *member) { m.timing, m.lan = tc.timing, tc.lan })
			sameCluster(t, ms) // the identity is committed and applied everywhere: nothing left to replicate
			// The bound is about a leader that stays leader: a window in
			// which a loaded machine cost the leader its lease is
			// measured again.
			for attempt := 1; ; attempt++ {
				leader, term := agreed(t, ms, 0)
				counts, window := countAppendEntries(leader, tc.window)
				if l, tm, ok := leader.el.Leader(); !ok || l != distribute.Atom(leader.name) || tm != term {
					if attempt == 5 {
						t.Fatalf("the leadership changed in each of %d windows of %v", attempt, tc.window)
					}
					t.Logf("the leadership changed during the window (term %d, now %s at %d): measuring again", term, l, tm)
					continue
				}
				checkIdleTraffic(t, tc.name, ms, leader, counts, window, tc.timing.HeartbeatTimeout)
				return
			}
		})
	}
}

// countAppendEntries counts the AppendEntries leader sends each node over
// a window of d, and returns the counts and the window measured.
func countAppendEntries(leader *member, d time.Duration) (map[distribute.Atom]int, time.Duration) {
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
	time.Sleep(d) // the measured window: counting, not waiting for a condition
	mu.Lock()
	to = time.Now()
	window := to.Sub(from)
	counts := map[distribute.Atom]int{}
	for k, v := range sent {
		counts[k] = v
	}
	mu.Unlock()
	return counts, window
}

// checkIdleTraffic checks the counts of one window against the bound.
func checkIdleTraffic(t *testing.T, name string, ms []*member, leader *member, counts map[distribute.Atom]int, window, heartbeat time.Duration) {
	t.Helper()
	bound := int(12*window/heartbeat) + 2
	for _, m := range ms {
		if m == leader {
			continue
		}
		got := counts[distribute.Atom(m.name)]
		t.Logf("%s: %d AppendEntries to %s in %v (%.1f/s; bound %d)", name, got, m.name, window.Round(time.Millisecond), float64(got)/window.Seconds(), bound)
		if got == 0 {
			t.Errorf("no AppendEntries to %s in %v: the leader sent no heartbeat", m.name, window)
		}
		if got > bound {
			t.Errorf("%d AppendEntries to the idle follower %s in %v; want at most %d (10 heartbeats and 2 commit refreshes per HeartbeatTimeout %v)",
				got, m.name, window, bound, heartbeat)
		}
	}
}
