package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/distribute-go/distribute/cluster"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// telemetry is the node command's metrics pipeline: an OpenTelemetry SDK
// MeterProvider whose reader is the Prometheus exporter, on a registry of
// its own (never the global one), served at /metrics.
type telemetry struct {
	provider *sdkmetric.MeterProvider
	registry *prometheus.Registry
}

// setupTelemetry builds the pipeline and sets it as the node's
// MeterProvider in cfg. OpenTelemetry names become Prometheus names with
// underscores, a unit suffix and _total on counters
// (distribute.messages.out -> distribute_messages_out_total,
// distribute.call.duration -> distribute_call_duration_seconds). The
// registry also has the Go runtime and process collectors.
func setupTelemetry(cfg *cluster.Config) (*telemetry, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
	)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", "distribute"),
		attribute.String("service.instance.id", cfg.Node.Name),
	)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res))
	cfg.Node.MeterProvider = mp
	return &telemetry{provider: mp, registry: reg}, nil
}

// handler serves the metrics as Prometheus text.
func (t *telemetry) handler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// stop shuts the provider down (its callbacks are no longer read).
func (t *telemetry) stop(ctx context.Context) { t.provider.Shutdown(ctx) }
