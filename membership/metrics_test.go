package membership

import (
	"context"
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
	other := startMember(t, port, testCookie)
	if _, err := other.Join(ctx, m.GossipAddr()); err != nil {
		t.Fatal(err)
	}
	// Self and the other member come up alive; the other then leaves.
	waitFor(t, 10*time.Second, "two alive", func() bool { return changes(t, reader)["alive"] == 2 })
	sctx, cancel := context.WithTimeout(ctx, distributetest.Scale(10*time.Second))
	defer cancel()
	if err := other.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a left", func() bool { return changes(t, reader)["left"] == 1 })
	if got := changes(t, reader); got["alive"] != 2 || got["dead"] != 0 {
		t.Errorf("changes = %v; want alive 2, left 1, no dead", got)
	}
}
