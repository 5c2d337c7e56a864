package chaos

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// The benchmarks measure, with nodes as OS processes in namespaces and
// the local profile, how long the election takes. Each runs its whole
// measurement once per b.N iteration (b.N is 1 unless -benchtime asks for
// more) and reports medians with b.ReportMetric; ns/op is meaningless.
// A claim's time is when the node's `event leader SELF TERM` line reached
// the harness (or its /election read, when earlier).

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkFailover: SIGKILL the leader of three voters, ten times; the
// time from the signal to the first claim of a higher term by another
// node (failover-ms) and to the survivors' agreement on it, read by
// polling /election (agreed-ms). Medians.
func BenchmarkFailover(b *testing.B) {
	c := newElectionCluster(b, Options{Nodes: 3, Quiet: true})
	c.StartAll()
	var claim, agreed []time.Duration
	for range b.N {
		for range 10 {
			l, term := mustLeader(b, c, all(c)...)
			name := c.Node(l).Name
			t0 := time.Now()
			c.Kill(l)
			cl, ok := c.Recorder().WaitClaim(c.Options().Bound, func(cl Claim) bool {
				return cl.Term > term && cl.Node != name && cl.Time.After(t0)
			})
			if !ok {
				b.Fatalf("no new leader within %v of killing %s", c.Options().Bound, name)
			}
			claim = append(claim, cl.Time.Sub(t0))
			mustLeader(b, c, others(c, l)...)
			agreed = append(agreed, time.Since(t0))
			c.Start(l)
		}
	}
	b.ReportMetric(ms(median(claim)), "failover-ms")
	b.ReportMetric(ms(median(agreed)), "agreed-ms")
	b.Logf("failover after SIGKILL of the leader (%d kills): claims %v; agreed %v", len(claim), claim, agreed)
}

// BenchmarkFirstLeader: N voters with empty data dirs are started (n1,
// then the others joining it) five times; the time from launching n1 to
// the first leadership claim (first-leader-ms) and from the last node's
// `started` to it (after-started-ms). Medians.
func BenchmarkFirstLeader(b *testing.B) {
	for _, n := range []int{3, 5} {
		b.Run(fmt.Sprintf("voters=%d", n), func(b *testing.B) {
			c := newElectionCluster(b, Options{Nodes: n, Quiet: true})
			var first, afterStarted []time.Duration
			for range b.N {
				for range 5 {
					for i := range c.Len() {
						if c.Node(i).Running() {
							c.Kill(i)
						}
						c.Wipe(i)
					}
					c.Recorder().Reset() // a new cluster: terms start over
					t0 := time.Now()
					c.StartAll()
					t1 := time.Now()
					cl, ok := c.Recorder().WaitClaim(c.Options().Bound, func(cl Claim) bool { return cl.Time.After(t0) })
					if !ok {
						b.Fatalf("no leader within %v of starting %d voters", c.Options().Bound, n)
					}
					first = append(first, cl.Time.Sub(t0))
					afterStarted = append(afterStarted, max(cl.Time.Sub(t1), 0))
					mustLeader(b, c, all(c)...)
				}
			}
			b.ReportMetric(ms(median(first)), "first-leader-ms")
			b.ReportMetric(ms(median(afterStarted)), "after-started-ms")
			b.Logf("%d voters: first leader %v; after all started %v", n, first, afterStarted)
		})
	}
}

// BenchmarkGracefulHandoff: SIGTERM to the leader of three voters, ten
// times; the time from the signal to the first claim of a higher term by
// another node (handoff-ms: leadership transfer, no election timeout) and
// to the old leader's exit (exit-ms). Medians.
func BenchmarkGracefulHandoff(b *testing.B) {
	c := newElectionCluster(b, Options{Nodes: 3, Quiet: true})
	c.StartAll()
	var claim, exit []time.Duration
	for range b.N {
		for range 10 {
			l, term := mustLeader(b, c, all(c)...)
			name := c.Node(l).Name
			t0 := time.Now()
			if code := c.Term(l); code != 0 {
				b.Fatalf("%s exited %d after SIGTERM", name, code)
			}
			exit = append(exit, time.Since(t0))
			cl, ok := c.Recorder().WaitClaim(c.Options().Bound, func(cl Claim) bool {
				return cl.Term > term && cl.Node != name && cl.Time.After(t0)
			})
			if !ok {
				b.Fatalf("no new leader within %v of stopping %s", c.Options().Bound, name)
			}
			claim = append(claim, cl.Time.Sub(t0))
			mustLeader(b, c, others(c, l)...)
			c.Start(l)
		}
	}
	b.ReportMetric(ms(median(claim)), "handoff-ms")
	b.ReportMetric(ms(median(exit)), "exit-ms")
	b.Logf("graceful handoff after SIGTERM of the leader (%d stops): claims %v; exits %v", len(claim), claim, exit)
}
