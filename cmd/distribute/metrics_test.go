package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/cluster"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/membership"
)

// sample is one Prometheus text sample line: name{labels} value.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
var labelRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// parseSamples parses Prometheus text exposition (comments skipped).
func parseSamples(t *testing.T, text string) []sample {
	t.Helper()
	var out []sample
	for _, l := range strings.Split(text, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		m := sampleRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("not a sample line: %q", l)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", l, err)
		}
		s := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, lm := range labelRE.FindAllStringSubmatch(m[2], -1) {
			s.labels[lm[1]] = lm[2]
		}
		out = append(out, s)
	}
	return out
}

// find returns the samples named name whose labels include want.
func find(samples []sample, name string, want map[string]string) []sample {
	var out []sample
	for _, s := range samples {
		if s.name != name {
			continue
		}
		ok := true
		for k, v := range want {
			ok = ok && s.labels[k] == v
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

// getMetrics GETs url and returns the body, checking the content type.
func getMetrics(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return string(body)
}

// The node command's pipeline, in process: a cluster node set up by
// setupTelemetry calls a peer; /metrics, served by serveHTTP, has the
// per-peer traffic and the call latency histogram.
func TestMetricsEndpoint(t *testing.T) {
	port := distributetest.StartEpmd(t)
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(30*time.Second))
	defer cancel()
	ccfg := cluster.Config{
		Node:    distribute.Config{Name: "meta@localhost", Cookie: testCookie, EpmdPort: port},
		Profile: membership.Local(),
	}
	tel, err := setupTelemetry(&ccfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tel.stop(context.Background())
	if ccfg.Node.MeterProvider == nil {
		t.Fatal("setupTelemetry did not set Config.MeterProvider")
	}
	cl, err := cluster.Start(ctx, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Stop(context.Background())
	b, err := distribute.Start(ctx, distribute.Config{Name: "metb@localhost", Cookie: testCookie, EpmdPort: port})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop(context.Background())
	echo, err := b.SpawnHandler(func(ctx context.Context, p *distribute.Process, m any) error {
		if from, req, ok := distribute.ParseCall(m); ok {
			p.Reply(ctx, from, req)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b.Register("echo", echo.Pid())
	p, err := cl.Node().NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Exit(distribute.ReasonNormal)
	for i := range 3 {
		if _, err := p.CallName(ctx, "echo", b.Name(), int64(i)); err != nil {
			t.Fatalf("call: %v", err)
		}
	}

	httpAddr := fmt.Sprintf("127.0.0.1:%d", distributetest.FreePort(t))
	srvCtx, srvCancel := context.WithCancel(ctx)
	defer srvCancel()
	ln, err := listenHTTP(httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := serveHTTP(srvCtx, cl, ln, port, tel)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	body := getMetrics(t, "http://"+httpAddr+"/metrics")
	samples := parseSamples(t, body)

	peer := map[string]string{"peer": "metb@localhost"}
	for _, name := range []string{"distribute_messages_out_total", "distribute_messages_in_total", "distribute_bytes_out_total", "distribute_bytes_in_total"} {
		got := find(samples, name, peer)
		if len(got) != 1 || got[0].value <= 0 {
			t.Errorf("%s{peer=metb@localhost} = %v; want one sample > 0", name, got)
		}
	}
	ok := map[string]string{"outcome": "ok"}
	if got := find(samples, "distribute_call_duration_seconds_count", ok); len(got) != 1 || got[0].value != 3 {
		t.Errorf("distribute_call_duration_seconds_count{outcome=ok} = %v; want 3", got)
	}
	buckets := find(samples, "distribute_call_duration_seconds_bucket", ok)
	les := map[string]float64{}
	for _, s := range buckets {
		les[s.labels["le"]] = s.value
	}
	if les["0.0001"] > les["10"] || les["+Inf"] != 3 || len(les) != 17 {
		t.Errorf("call latency buckets = %v; want 16 bounds from 0.0001 to 10 and +Inf = 3", les)
	}
	for _, name := range []string{"distribute_connections", "distribute_processes", "distribute_mailbox_messages", "distribute_mailbox_max", "go_goroutines"} {
		if len(find(samples, name, nil)) != 1 {
			t.Errorf("no %s sample", name)
		}
	}
	if got := find(samples, "distribute_processes", nil); len(got) == 1 && got[0].value < 1 {
		t.Errorf("distribute_processes = %v; want >= 1", got[0].value)
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

// `distribute node --http` serves /metrics as Prometheus text.
func TestNodeMetricsOverHTTP(t *testing.T) {
	port := distributetest.StartEpmd(t)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", distributetest.FreePort(t))
	startNodeProc(t, port, "metn@localhost", "--http", httpAddr, "--profile", "local", "--inbox", "box")
	if out, stderr, code := runCLI(t, "", cliArgs(port, "call", "metn@localhost", "box", "hello")...); code != 0 {
		t.Fatalf("call: %q %q exit %d", out, stderr, code)
	}
	var samples []sample
	var body string
	deadline := time.Now().Add(distributetest.Scale(10 * time.Second))
	for {
		body = getMetrics(t, "http://"+httpAddr+"/metrics")
		samples = parseSamples(t, body)
		if len(find(samples, "distribute_membership_changes_total", map[string]string{"state": "alive"})) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := find(samples, "distribute_membership_changes_total", map[string]string{"state": "alive"}); len(got) != 1 || got[0].value != 1 {
		t.Errorf("distribute_membership_changes_total{state=alive} = %v; want 1 (itself)", got)
	}
	for _, name := range []string{"distribute_processes", "distribute_connections", "go_goroutines", "process_open_fds"} {
		if len(find(samples, name, nil)) != 1 {
			t.Errorf("no %s sample", name)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}
