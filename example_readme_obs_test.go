package distribute_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// The README's logs and metrics snippet, compiled (not run: it needs the
// orders server on b@localhost).
func Example_readmeObservability() {
	ctx := context.Background()
	var provider metric.MeterProvider = noop.NewMeterProvider() // an OpenTelemetry MeterProvider
	var req etf.Term = etf.Atom("status")

	logger := slog.New(distribute.LogHandler(slog.NewJSONHandler(os.Stderr, nil)))
	node, _ := distribute.Start(ctx, distribute.Config{Name: "a@localhost", Cookie: "secret", Logger: logger, MeterProvider: provider})
	p, _ := node.NewProcess()
	ctx = distribute.WithCorrelationID(ctx, "order-1234")
	reply, err := p.CallName(ctx, "orders", "b@localhost", req) // the handler's ctx carries order-1234
	_, _ = reply, err
}
