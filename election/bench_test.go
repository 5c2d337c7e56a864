package election

import (
	"fmt"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// startBenchCluster starts n members in one process (Local timings),
// without waiting for a leader.
func startBenchCluster(b *testing.B, epmd, n int) []*member {
	prefix := fmt.Sprintf("b%d", seq.Add(1))
	var ms []*member
	for i := range n {
		m := &member{t: b, name: fmt.Sprintf("%s_%c@localhost", prefix, 'a'+i), dir: b.TempDir(), expect: n, epmd: epmd}
		var seeds []string
		if i > 0 {
			seeds = []string{ms[0].ms.GossipAddr()}
		}
		m.start(seeds...)
		ms = append(ms, m)
	}
	return ms
}

// BenchmarkFirstLeader measures, in one process, the time from starting
// n members (all joined through the first) to all of them agreeing on a
// leader. It includes membership convergence and Timing.Settle (500 ms
// in Local) before the bootstrap.
func BenchmarkFirstLeader(b *testing.B) {
	for _, n := range []int{3, 5} {
		b.Run(fmt.Sprintf("voters=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			epmd := distributetest.StartEpmd(b)
			var total time.Duration
			for range b.N {
				start := time.Now()
				ms := startBenchCluster(b, epmd, n)
				agreed(b, ms, 0)
				total += time.Since(start)
				for _, m := range ms {
					m.stop(false)
				}
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/leader")
		})
	}
}

// BenchmarkFailover measures, in one process, the time from the leader's
// crash (Raft shut down without a transfer) to the two others agreeing on
// a new leader in a higher term (Local timings).
func BenchmarkFailover(b *testing.B) {
	b.ReportAllocs()
	epmd := distributetest.StartEpmd(b)
	var total time.Duration
	for range b.N {
		ms := startBenchCluster(b, epmd, 3)
		leader, term := agreed(b, ms, 0)
		start := time.Now()
		leader.stop(false)
		agreed(b, ms, term)
		total += time.Since(start)
		for _, m := range ms {
			m.stop(false)
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/failover")
}
