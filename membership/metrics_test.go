package membership

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// changes returns distribute.membership.changes by state.
func changes(t *testing.T, r *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "distribute.membership.changes" {
				continue
			}
			for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
				s, _ := p.Attributes.Value("state")
				out[s.AsString()] = p.Value
			}
		}
	}
	return out
}

func TestMembershipChangesMetric(t *testing.T) {
	port := distributetest.StartEpmd(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	ctx := context.Background()
	m := startMemberWith(t, port, testCookie, func(c *distribute.Config) { c.MeterProvider = mp }, nil)
	// The counter counts what the table goes through: every state change
	// a Watch reports. (On a loaded machine a member may be suspected and
	// refute meanwhile; those changes count too.)
	var mu sync.Mutex
	seen := map[string]int64{}
	events := m.Watch(t.Context())
	go func() {
		for ev := range events {
			if ev.Member.State != ev.Prev {
				mu.Lock()
				seen[ev.Member.State.String()]++
				mu.Unlock()
			}
		}
	}()
	other := startMember(t, port, testCookie)
	join(t, other, m.GossipAddr())
	// Self and the other member come up alive; the other then leaves.
	distributetest.WaitForWithin(t, 20*time.Second, "two alive", func() bool { return changes(t, reader)["alive"] >= 2 })
	// A leave reaches a member that holds the leaver dead (a false
	// death on a loaded machine, not yet refuted) as nothing: memberlist
	// keeps it dead. Leave while the other is alive here.
	distributetest.WaitForWithin(t, 20*time.Second, "the other alive before it leaves", func() bool { return states(m)[other.Name()] == StateAlive })
	if err := other.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitForWithin(t, 20*time.Second, "a left", func() bool { return changes(t, reader)["left"] == 1 })
	// The Watch has seen the same changes (it may lag the counter).
	distributetest.WaitForWithin(t, 10*time.Second, "the counter equal to the changes seen", func() bool {
		mu.Lock()
		defer mu.Unlock()
		got := changes(t, reader)
		return len(got) == len(seen) && got["alive"] == seen["alive"] && got["suspect"] == seen["suspect"] && got["dead"] == seen["dead"] && got["left"] == seen["left"]
	})
	mu.Lock()
	defer mu.Unlock()
	if got := changes(t, reader); got["alive"] < 2 || got["left"] != 1 {
		t.Errorf("changes = %v; want alive at least 2 (self, the other), left 1", got)
	}
}
