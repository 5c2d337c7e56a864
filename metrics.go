package distribute

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// meterScope is the instrumentation scope of the node's own instruments.
const meterScope = "github.com/distribute-go/distribute"

// The node's instruments (OpenTelemetry names; the Prometheus exporter
// writes them with underscores, a unit suffix and _total for counters:
// distribute_messages_out_total, distribute_call_duration_seconds, ...).
const (
	metricMessagesIn    = "distribute.messages.in"      // observable counter, {message}, attribute peer
	metricMessagesOut   = "distribute.messages.out"     // observable counter, {message}, attribute peer
	metricBytesIn       = "distribute.bytes.in"         // observable counter, By, attribute peer
	metricBytesOut      = "distribute.bytes.out"        // observable counter, By, attribute peer
	metricConnections   = "distribute.connections"      // observable gauge, {connection}
	metricProcesses     = "distribute.processes"        // observable gauge, {process}
	metricMailboxQueued = "distribute.mailbox.messages" // observable gauge, {message}: queued in all mailboxes
	metricMailboxMax    = "distribute.mailbox.max"      // observable gauge, {message}: the longest mailbox
	metricCallDuration  = "distribute.call.duration"    // histogram, s, attribute outcome
	// counter, {handshake}, attributes reason (handshakeReasons) and
	// direction (in: a peer dialled this node; out: this node dialled)
	metricHandshakeFailures = "distribute.handshake.failures"
)

// Outcomes of a call, the values of distribute.call.duration's outcome
// attribute.
const (
	outcomeOK       = "ok"
	outcomeTimeout  = "timeout"
	outcomeNoProc   = "noproc"
	outcomeNodeDown = "nodedown"
	outcomeError    = "error"
)

// latencyBuckets are the bucket boundaries, in seconds, of the call
// latency histogram: 100 µs to 10 s.
var latencyBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// telemetry is a node's metrics state. Config.withDefaults makes it (so the
// Node carries it in its Config); its instruments are made and its
// observable callback registered once, on first use (start).
type telemetry struct {
	provider metric.MeterProvider

	once         sync.Once
	meter        metric.Meter
	callDuration metric.Float64Histogram
	// callOpts holds the record options of each outcome, made once so that
	// recording a call allocates nothing of ours.
	callOpts map[string][]metric.RecordOption

	handshakeFailures metric.Int64Counter
	// hsOpts holds the add options of each direction and reason.
	hsOpts map[[2]string][]metric.AddOption

	meters sync.Map // scope string -> metric.Meter
}

func newTelemetry(p metric.MeterProvider) *telemetry {
	if p == nil {
		p = otel.GetMeterProvider()
	}
	return &telemetry{provider: p}
}

// noTelemetry serves a Node that has none (never after Start).
var noTelemetry = newTelemetry(noop.NewMeterProvider())

// telemetry returns the node's metrics state, making its instruments and
// registering the observable callback on the first use. The callback is
// unregistered when the node stops.
func (n *Node) telemetry() *telemetry {
	t := n.cfg.tel
	if t == nil {
		noTelemetry.once.Do(func() { noTelemetry.start(nil) })
		return noTelemetry
	}
	t.once.Do(func() { t.start(n) })
	return t
}

// startTelemetry makes the node's instruments and registers the
// observable callback. Start calls it once the node runs (n.ctx set); until
// then the first call, Meter or membership event does.
func (n *Node) startTelemetry() { n.telemetry() }

// start makes the instruments; n is nil for noTelemetry.
func (t *telemetry) start(n *Node) {
	t.meter = t.provider.Meter(meterScope, metric.WithInstrumentationVersion(Version))
	h, err := t.meter.Float64Histogram(metricCallDuration,
		metric.WithUnit("s"),
		metric.WithDescription("Latency of gen_server calls made by this node's processes (Call, CallName, typed Call), by outcome."),
		metric.WithExplicitBucketBoundaries(latencyBuckets...))
	if err != nil {
		n.logError("metric "+metricCallDuration, err)
		h = noop.Float64Histogram{}
	}
	t.callDuration = h
	t.callOpts = make(map[string][]metric.RecordOption)
	for _, o := range []string{outcomeOK, outcomeTimeout, outcomeNoProc, outcomeNodeDown, outcomeError} {
		t.callOpts[o] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", o)))}
	}
	hf, err := t.meter.Int64Counter(metricHandshakeFailures,
		metric.WithUnit("{handshake}"),
		metric.WithDescription("Failed connection handshakes, by reason (bad_cookie, timeout, malformed, refused, tls, evicted, closed) and direction (in: a peer dialled this node, out: this node dialled)."))
	if err != nil {
		n.logError("metric "+metricHandshakeFailures, err)
		hf = noop.Int64Counter{}
	}
	t.handshakeFailures = hf
	t.hsOpts = make(map[[2]string][]metric.AddOption)
	for _, dir := range []string{directionIn, directionOut} {
		for _, r := range handshakeReasons {
			t.hsOpts[[2]string{dir, r}] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r), attribute.String("direction", dir)))}
		}
	}
	if n == nil || n.closed.Load() {
		return
	}
	if err := t.observe(n); err != nil {
		n.logError("node metrics", err)
	}
}

func (n *Node) logError(what string, err error) {
	if n != nil {
		n.logger.Warn(what, "err", err)
	}
}

// observe registers the observable instruments, read from the node's
// existing counters when the provider collects (nothing on the message
// path).
func (t *telemetry) observe(n *Node) error {
	m := t.meter
	var errs []error
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	msgIn := counter(metricMessagesIn, "{message}", "Distribution frames received from each connected peer (ticks excluded), since the connection came up.")
	msgOut := counter(metricMessagesOut, "{message}", "Distribution frames sent to each connected peer (ticks excluded), since the connection came up.")
	bytesIn := counter(metricBytesIn, "By", "Bytes received from each connected peer, since the connection came up.")
	bytesOut := counter(metricBytesOut, "By", "Bytes sent to each connected peer, since the connection came up.")
	conns := gauge(metricConnections, "{connection}", "Live distribution connections.")
	procs := gauge(metricProcesses, "{process}", "Processes alive on this node.")
	queued := gauge(metricMailboxQueued, "{message}", "Messages waiting in the mailboxes of all processes.")
	longest := gauge(metricMailboxMax, "{message}", "Messages waiting in the longest mailbox.")
	if err := errors.Join(errs...); err != nil {
		return err
	}
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if n.closed.Load() {
			return nil
		}
		cs := n.Connections()
		o.ObserveInt64(conns, int64(len(cs)))
		for _, c := range cs {
			opt := metric.WithAttributeSet(attribute.NewSet(attribute.String("peer", string(c.Node))))
			o.ObserveInt64(msgIn, int64(c.MessagesIn), opt)
			o.ObserveInt64(msgOut, int64(c.MessagesOut), opt)
			o.ObserveInt64(bytesIn, int64(c.BytesIn), opt)
			o.ObserveInt64(bytesOut, int64(c.BytesOut), opt)
		}
		ps := n.Processes()
		var total, most int
		for _, p := range ps {
			l := p.mbox.len()
			total += l
			most = max(most, l)
		}
		o.ObserveInt64(procs, int64(len(ps)))
		o.ObserveInt64(queued, int64(total))
		o.ObserveInt64(longest, int64(most))
		return nil
	}, msgIn, msgOut, bytesIn, bytesOut, conns, procs, queued, longest)
	if err != nil {
		return err
	}
	if n.ctx != nil { // nil only before Start sets it up
		context.AfterFunc(n.ctx, func() { reg.Unregister() })
	}
	return nil
}

// recordCall records one call's latency.
func (t *telemetry) recordCall(ctx context.Context, d time.Duration, err error) {
	t.callDuration.Record(ctx, d.Seconds(), t.callOpts[callOutcome(err)]...)
}

// countHandshakeFailure counts a failed handshake.
func (n *Node) countHandshakeFailure(reason, direction string) {
	t := n.telemetry()
	t.handshakeFailures.Add(n.ctx, 1, t.hsOpts[[2]string{direction, reason}]...)
}

// callOutcome classifies a call's error.
func callOutcome(err error) string {
	switch {
	case err == nil:
		return outcomeOK
	case errors.Is(err, ErrTimeout):
		return outcomeTimeout
	case errors.Is(err, ErrNoProc):
		return outcomeNoProc
	case errors.Is(err, ErrNodeDown):
		return outcomeNodeDown
	}
	return outcomeError
}

// Meter returns a meter of the node's MeterProvider (Config.MeterProvider)
// for the instrumentation scope scope, typically the import path of the
// package that makes instruments with it (the rpc, membership and election
// packages use theirs). Meters are made once per scope and node.
func (n *Node) Meter(scope string) metric.Meter {
	t := n.telemetry()
	if m, ok := t.meters.Load(scope); ok {
		return m.(metric.Meter)
	}
	m, _ := t.meters.LoadOrStore(scope, t.provider.Meter(scope, metric.WithInstrumentationVersion(Version)))
	return m.(metric.Meter)
}
