package membership

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// meterScope is the instrumentation scope of the package's instruments.
const meterScope = "github.com/distribute-go/distribute/membership"

// metricChanges counts the state changes of members (this one included),
// with the attribute state: the new state (alive, suspect, dead, left).
// A member first seen counts as a change to its state.
const metricChanges = "distribute.membership.changes"

// countChanges adds the state changes among events to
// distribute.membership.changes, on the node's MeterProvider (the global
// one for a member without a Node). Changes are rare: the counter is
// looked up each time rather than kept.
func (m *Membership) countChanges(events []Event) {
	var meter metric.Meter
	for _, ev := range events {
		if ev.Member.State == ev.Prev {
			continue // incarnation or address change
		}
		if meter == nil {
			if m.node != nil {
				meter = m.node.Meter(meterScope)
			} else {
				meter = otel.GetMeterProvider().Meter(meterScope)
			}
		}
		c, err := meter.Int64Counter(metricChanges, metric.WithUnit("{change}"),
			metric.WithDescription("Membership state changes seen by this member, by new state."))
		if err != nil {
			return
		}
		c.Add(context.Background(), 1, metric.WithAttributes(attribute.String("state", ev.Member.State.String())))
	}
}
