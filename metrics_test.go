package distribute

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// collect reads every metric of the reader, by name.
func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	out := make(map[string]metricdata.Aggregation)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

// int64Point returns the value of the point of an int64 sum or gauge whose
// attributes include kv (any point when kv is empty).
func int64Point(agg metricdata.Aggregation, kv ...attribute.KeyValue) (int64, bool) {
	var pts []metricdata.DataPoint[int64]
	switch a := agg.(type) {
	case metricdata.Sum[int64]:
		pts = a.DataPoints
	case metricdata.Gauge[int64]:
		pts = a.DataPoints
	default:
		return 0, false
	}
	for _, p := range pts {
		match := true
		for _, want := range kv {
			if v, ok := p.Attributes.Value(want.Key); !ok || v != want.Value {
				match = false
			}
		}
		if match {
			return p.Value, true
		}
	}
	return 0, false
}

// histogramCount returns the count of the histogram point whose outcome is
// outcome.
func histogramCount(agg metricdata.Aggregation, outcome string) uint64 {
	h, ok := agg.(metricdata.Histogram[float64])
	if !ok {
		return 0
	}
	for _, p := range h.DataPoints {
		if v, ok := p.Attributes.Value("outcome"); ok && v.AsString() == outcome {
			return p.Count
		}
	}
	return 0
}

func TestNodeMetrics(t *testing.T) {
	distributetest.VerifyNoLeaks(t)
	port := distributetest.StartEpmd(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	a := startNode(t, port, func(c *Config) { c.MeterProvider = mp })
	a.startTelemetry() // Start's hook, idempotent
	b := startNode(t, port)
	ctx := testCtx(t)

	// On b: an echo server, and a mute one that never answers.
	echo, err := b.SpawnHandler(func(ctx context.Context, p *Process, m any) error {
		if from, req, ok := ParseCall(m); ok {
			p.Reply(ctx, from, req)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Register("echo", echo.Pid()); err != nil {
		t.Fatal(err)
	}
	mute, _ := b.SpawnHandler(func(context.Context, *Process, any) error { return nil })
	p, _ := a.NewProcess()
	defer p.Exit(ReasonNormal)

	for i := range 3 {
		if got, err := p.CallName(ctx, "echo", b.Name(), int64(i)); err != nil || got != int64(i) {
			t.Fatalf("call echo = %v, %v", got, err)
		}
	}
	if _, err := p.CallName(ctx, "nobody", b.Name(), Atom("x")); !errors.Is(err, ErrNoProc) {
		t.Fatalf("call nobody: %v; want ErrNoProc", err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = p.Call(short, mute.Pid(), Atom("x"))
	cancel()
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("call mute: %v; want ErrTimeout", err)
	}

	// A process on a that does not receive: its mailbox grows.
	sink, _ := a.NewProcess()
	defer sink.Exit(ReasonNormal)
	for range 5 {
		p.Send(ctx, sink.Pid(), Atom("m"))
	}

	got := collect(t, reader)
	peer := attribute.String("peer", string(b.Name()))
	for _, name := range []string{"distribute.messages.out", "distribute.messages.in", "distribute.bytes.out", "distribute.bytes.in"} {
		v, ok := int64Point(got[name], peer)
		if !ok || v <= 0 {
			t.Errorf("%s{peer=%s} = %d, %v; want > 0", name, b.Name(), v, ok)
		}
	}
	if s, ok := got["distribute.messages.out"].(metricdata.Sum[int64]); !ok || !s.IsMonotonic {
		t.Errorf("distribute.messages.out is %T; want a monotonic sum", got["distribute.messages.out"])
	}
	// The counters are the node's own: compare with Connections.
	for _, c := range a.Connections() {
		if c.Node != b.Name() {
			continue
		}
		if v, _ := int64Point(got["distribute.messages.out"], peer); uint64(v) > c.MessagesOut {
			t.Errorf("messages.out = %d; Connections says %d later", v, c.MessagesOut)
		}
	}
	if v, ok := int64Point(got["distribute.connections"]); !ok || v != 1 {
		t.Errorf("distribute.connections = %d, %v; want 1", v, ok)
	}
	if v, ok := int64Point(got["distribute.processes"]); !ok || v < 2 {
		t.Errorf("distribute.processes = %d, %v; want >= 2", v, ok)
	}
	if v, ok := int64Point(got["distribute.mailbox.messages"]); !ok || v < 5 {
		t.Errorf("distribute.mailbox.messages = %d, %v; want >= 5", v, ok)
	}
	if v, ok := int64Point(got["distribute.mailbox.max"]); !ok || v != 5 {
		t.Errorf("distribute.mailbox.max = %d, %v; want 5", v, ok)
	}
	calls := got["distribute.call.duration"]
	for outcome, want := range map[string]uint64{"ok": 3, "noproc": 1, "timeout": 1, "error": 0, "nodedown": 0} {
		if n := histogramCount(calls, outcome); n != want {
			t.Errorf("distribute.call.duration{outcome=%s} count = %d; want %d", outcome, n, want)
		}
	}
	if h, ok := calls.(metricdata.Histogram[float64]); ok && len(h.DataPoints) > 0 {
		if b := h.DataPoints[0].Bounds; len(b) == 0 || b[0] != 0.0001 || b[len(b)-1] != 10 {
			t.Errorf("call latency buckets = %v; want 100µs to 10s", b)
		}
	}

	// Other packages' instruments go to the same provider.
	m1, m2 := a.Meter("example.com/x"), a.Meter("example.com/x")
	if m1 != m2 {
		t.Errorf("Meter returned two meters for one scope")
	}
	c, err := m1.Int64Counter("x.events")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(ctx, 2)
	if v, ok := int64Point(collect(t, reader)["x.events"]); !ok || v != 2 {
		t.Errorf("x.events = %d, %v; want 2", v, ok)
	}

	// A stopped node reports nothing.
	stopCtx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
	defer cancel()
	if err := a.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	if _, ok := collect(t, reader)["distribute.messages.out"]; ok {
		t.Errorf("a stopped node still reports distribute.messages.out")
	}
}

func TestCallOutcome(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{ErrTimeout, "timeout"},
		{&ExitError{Reason: etf.Atom("boom")}, "error"},
		{errors.Join(errors.New("x"), ErrNoProc), "noproc"},
		{ErrNodeDown, "nodedown"},
	} {
		if got := callOutcome(c.err); got != c.want {
			t.Errorf("callOutcome(%v) = %s; want %s", c.err, got, c.want)
		}
	}
}

// A node without a MeterProvider uses the global one, a no-op here: calls
// work and nothing is recorded anywhere.
func TestMetricsDefaultProvider(t *testing.T) {
	distributetest.VerifyNoLeaks(t)
	n := startNode(t, distributetest.StartEpmd(t))
	if n.cfg.MeterProvider != nil {
		t.Fatalf("MeterProvider = %T; want nil (the global one is used)", n.cfg.MeterProvider)
	}
	if n.Meter("x") == nil {
		t.Fatal("Meter returned nil")
	}
	p, _ := n.NewProcess()
	defer p.Exit(ReasonNormal)
	if err := n.Ping(testCtx(t), n.Name()); err != nil {
		t.Fatalf("Ping self: %v", err)
	}
}

// Another package's instruments go to the node's MeterProvider.
func ExampleNode_Meter() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	n, err := Start(ctx, Config{
		Name: "metered@localhost", Cookie: "secret",
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
	})
	if err != nil {
		return
	}
	defer n.Stop(ctx)
	jobs, _ := n.Meter("example.com/jobs").Int64Counter("jobs.done")
	jobs.Add(ctx, 1)
}
