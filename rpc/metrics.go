package rpc

import (
	"context"
	"errors"
	"time"

	"github.com/distribute-go/distribute"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// meterScope is the instrumentation scope of the package's instruments.
const meterScope = "github.com/distribute-go/distribute/rpc"

// metricRPCDuration is the RPC latency histogram (seconds) of Client.Call, with
// the attribute outcome: ok, raised (the function raised: *Error),
// timeout, nodedown, notsup or error.
const metricRPCDuration = "distribute.rpc.duration"

// latencyBuckets are the histogram's bucket boundaries, in seconds: 100 µs
// to 10 s, as the root package's distribute.call.duration.
var latencyBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

var outcomes = []string{"ok", "raised", "timeout", "nodedown", "notsup", "error"}

// clientMetrics holds a node's RPC instruments.
type clientMetrics struct {
	duration metric.Float64Histogram
	opts     map[string][]metric.RecordOption
}

// newClientMetrics makes the RPC instruments of a client of node (the
// meter provider returns the same instrument to every client of a node).
func newClientMetrics(node *distribute.Node) *clientMetrics {
	h, err := node.Meter(meterScope).Float64Histogram(metricRPCDuration,
		metric.WithUnit("s"),
		metric.WithDescription("Latency of RPCs made by this node (rpc.Client.Call), by outcome."),
		metric.WithExplicitBucketBoundaries(latencyBuckets...))
	if err != nil {
		h = noop.Float64Histogram{}
	}
	m := &clientMetrics{duration: h, opts: make(map[string][]metric.RecordOption, len(outcomes))}
	for _, o := range outcomes {
		m.opts[o] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", o)))}
	}
	return m
}

// record records one call's latency.
func (m *clientMetrics) record(ctx context.Context, d time.Duration, err error) {
	m.duration.Record(ctx, d.Seconds(), m.opts[callOutcome(err)]...)
}

// callOutcome classifies a call's error.
func callOutcome(err error) string {
	var raised *Error
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &raised):
		return "raised"
	case errors.Is(err, distribute.ErrTimeout):
		return "timeout"
	case errors.Is(err, distribute.ErrNodeDown):
		return "nodedown"
	case errors.Is(err, ErrNotSup):
		return "notsup"
	}
	return "error"
}
