package membership

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
)

// The benchmarks run gossip-only members (no distribution node) in this
// process, on loopback. Erlang's own failure detection, for comparison:
// with the default net_ticktime of 60 s a dead peer is noticed after 45
// to 75 s.

var benchSeq int

// startGossip starts n gossip-only members with profile p.
func startGossip(b *testing.B, n int, p Profile) []*Membership {
	b.Helper()
	ms := make([]*Membership, n)
	for i := range ms {
		benchSeq++
		m, err := Start(context.Background(), nil, Config{Name: distribute.Atom(fmt.Sprintf("b%d_%d@localhost", benchSeq, i)), Cookie: testCookie, Profile: p})
		if err != nil {
			b.Fatal(err)
		}
		ms[i] = m
	}
	return ms
}

func stopAll(ms []*Membership) {
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() { halt(m) })
	}
	wg.Wait()
}

// joinAll joins every member to the first and waits until every table
// has every member alive.
func joinAll(b *testing.B, ms []*Membership) {
	b.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, m := range ms[1:] {
		wg.Go(func() {
			if _, err := m.Join(ctx, ms[0].GossipAddr()); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(2 * time.Minute)
	for _, m := range ms {
		for len(m.Alive()) != len(ms) {
			if time.Now().After(deadline) {
				b.Fatalf("%s sees %d alive of %d", m.Name(), len(m.Alive()), len(ms))
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// BenchmarkFullMembership is the time from the joins to every member's
// table showing every member alive.
func BenchmarkFullMembership(b *testing.B) {
	for _, p := range []Profile{Local(), LAN()} {
		for _, n := range []int{5, 20} {
			b.Run(fmt.Sprintf("%s/N=%d", p.Name, n), func(b *testing.B) {
				b.ReportAllocs()
				var total time.Duration
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					ms := startGossip(b, n, p)
					b.StartTimer()
					start := time.Now()
					joinAll(b, ms)
					total += time.Since(start)
					b.StopTimer()
					stopAll(ms)
					b.StartTimer()
				}
				b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/converge")
			})
		}
	}
}

// BenchmarkDetection is the time from a member's crash (its gossip stops
// without leaving) to every other member's table marking it dead, for 5
// members, against the profile's bound.
func BenchmarkDetection(b *testing.B) {
	for _, p := range []Profile{Local(), LAN()} {
		b.Run(p.Name, func(b *testing.B) {
			const n = 5
			var total, worst time.Duration
			var bound time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				ms := startGossip(b, n, p)
				joinAll(b, ms)
				bound = ms[0].DetectionBound()
				victim := ms[n-1]
				b.StartTimer()
				start := time.Now()
				halt(victim)
				var last time.Duration
				for _, m := range ms[:n-1] {
					for {
						if mb, ok := m.Member(victim.Name()); ok && mb.State == StateDead {
							last = max(last, mb.Since.Sub(start))
							break
						}
						if time.Since(start) > 10*bound {
							b.Fatalf("%s: not dead after %v", m.Name(), time.Since(start))
						}
						time.Sleep(5 * time.Millisecond)
					}
				}
				b.StopTimer()
				total += last
				worst = max(worst, last)
				stopAll(ms[:n-1])
				b.StartTimer()
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/detect")
			b.ReportMetric(float64(worst.Milliseconds()), "ms/worst")
			b.ReportMetric(float64(bound.Milliseconds()), "ms/bound")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSteadyGossip measures, for 5 converged members over a 5 s
// window per iteration, the gossip bytes each member sends per second
// (sealed UDP packets and TCP push/pull streams) and the CPU the process
// spends per member (a share of one core).
func BenchmarkSteadyGossip(b *testing.B) {
	for _, p := range []Profile{Local(), LAN()} {
		b.Run(p.Name, func(b *testing.B) {
			const n = 5
			const window = 5 * time.Second
			ms := startGossip(b, n, p)
			defer stopAll(ms)
			joinAll(b, ms)
			var bytes, packets uint64
			var cpu, wall time.Duration
			for i := 0; i < b.N; i++ {
				before := make([]Stats, n)
				for j, m := range ms {
					before[j] = m.Stats()
				}
				c0, t0 := cpuTime(), time.Now()
				<-time.After(window)
				cpu += cpuTime() - c0
				wall += time.Since(t0)
				for j, m := range ms {
					s := m.Stats()
					bytes += s.BytesOut - before[j].BytesOut + s.StreamOut - before[j].StreamOut
					packets += s.PacketsOut - before[j].PacketsOut
				}
			}
			sec := wall.Seconds()
			b.ReportMetric(float64(bytes)/sec/n, "B/s/member")
			b.ReportMetric(float64(packets)/sec/n, "pkts/s/member")
			b.ReportMetric(100*cpu.Seconds()/sec/n, "cpu%/member")
		})
	}
}
