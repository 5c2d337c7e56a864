package scale

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/distributetest/chaos"
)

// TestMain builds the distribute command once (chaos.Binary) and checks
// for leaked goroutines.
func TestMain(m *testing.M) { chaos.Main(m) }

// runSettings is what TestCluster and BenchmarkCluster run: by default a
// short run for CI (N = 10, a 2 s idle window, 20 names, 20 joins, 5
// broadcasts); with DISTRIBUTE_SCALE_FULL=1 the full one (N = 10, 25,
// 50, 100, a 60 s idle window, 100 names, 100 joins, 20 broadcasts).
// DISTRIBUTE_SCALE_NODES (e.g. "10,25") overrides the sizes and
// DISTRIBUTE_SCALE_IDLE (e.g. "30s") the idle window;
// DISTRIBUTE_SCALE_OUT=DIR writes results.json, results.csv and the plots
// there (merged with results already in DIR).
type runSettings struct {
	sizes []int
	cfg   Config
	out   string
}

func settings(t testing.TB) runSettings {
	s := runSettings{sizes: []int{10}, out: os.Getenv("DISTRIBUTE_SCALE_OUT")}
	s.cfg = Config{Idle: 2 * time.Second, Settle: time.Second, Names: 20, Joins: 20, Broadcasts: 5}
	if os.Getenv("DISTRIBUTE_SCALE_FULL") == "1" {
		s.sizes = []int{10, 25, 50, 100}
		s.cfg = Config{}
	}
	if v := os.Getenv("DISTRIBUTE_SCALE_NODES"); v != "" {
		s.sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 2 {
				t.Fatalf("DISTRIBUTE_SCALE_NODES=%q: want sizes of at least 2, comma-separated", v)
			}
			s.sizes = append(s.sizes, n)
		}
	}
	if v := os.Getenv("DISTRIBUTE_SCALE_IDLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("DISTRIBUTE_SCALE_IDLE=%q: want a positive duration", v)
		}
		s.cfg.Idle = d
	}
	s.cfg.Binary = chaos.Binary(t)
	s.cfg.Logf = t.Logf
	return s
}

// kinds are Go, and Erlang when erl is installed (or required).
func kinds(t testing.TB) []Kind {
	ks := []Kind{Go}
	if _, err := exec.LookPath("erl"); err == nil || distributetest.ErlRequired() || os.Getenv("DISTRIBUTE_ERL") != "" {
		ks = append(ks, Erlang)
	} else {
		t.Log("erl is not installed: Go nodes only")
	}
	return ks
}

// wantMetrics are the keys every run of kind must measure.
func wantMetrics(kind Kind) []string {
	var keys []string
	for _, m := range Metrics {
		if kind == Erlang && strings.HasPrefix(m.Key, "dead_") {
			continue // Erlang has no membership
		}
		keys = append(keys, m.Key)
	}
	return keys
}

// TestCluster runs the harness on a real cluster of each kind and checks
// that every phase did what it must: the nodes converged, each holds at
// least a connection per peer, every name, group and broadcast reached
// every node, the kill was seen by all, and nothing is left running.
func TestCluster(t *testing.T) {
	s := settings(t)
	var results []Result
	for _, n := range s.sizes {
		for _, k := range kinds(t) {
			t.Run(string(k)+"/"+strconv.Itoa(n), func(t *testing.T) {
				if k == Erlang {
					distributetest.RequireErl(t)
				}
				cfg := s.cfg
				cfg.Kind, cfg.Nodes = k, n
				cfg.Timeout = distributetest.Scale(2*time.Minute + time.Duration(n)*time.Second)
				cfg.Dir = filepath.Join(t.TempDir(), "run")
				r, err := Run(context.Background(), cfg)
				if r != nil {
					results = append(results, *r)
				}
				if err != nil {
					logNodeOutput(t, cfg.Dir)
					t.Fatal(err)
				}
				for _, key := range wantMetrics(k) {
					v, ok := r.Metrics[key]
					// Idle CPU comes from /proc in clock ticks (10 ms): over
					// the short window an idle BEAM node can use less than
					// one, a true 0. Every other metric is positive.
					if idle := strings.HasPrefix(key, "idle_cpu"); !ok || v < 0 || (v == 0 && !idle) {
						t.Errorf("%s = %v (measured %v); want a positive value", key, v, ok)
					}
				}
				// A full mesh: a socket per peer at least.
				if fds := r.Metrics["fds"]; fds < float64(n-1) {
					t.Errorf("fds = %v per node; want at least %d (one connection per peer)", fds, n-1)
				}
				checkNoneLeft(t, cfg.Dir)
			})
		}
	}
	var b strings.Builder
	if err := WriteTable(&b, results); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", b.String())
	if s.out != "" {
		if _, err := WriteResults(s.out, results); err != nil {
			t.Fatal(err)
		}
	}
}

// checkNoneLeft fails the test if a process still runs from dir (the
// nodes run with their working directory there).
func checkNoneLeft(t *testing.T, dir string) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cwd")
	for _, p := range procs {
		if cwd, err := os.Readlink(p); err == nil && cwd == dir {
			cmdline, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cmdline"))
			t.Errorf("still running after Run: pid %s: %s", filepath.Base(filepath.Dir(p)), strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
}

// logNodeOutput logs the tail of each node's stderr after a failure.
func logNodeOutput(t *testing.T, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.stderr"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if len(b) > 2000 {
			b = b[len(b)-2000:]
		}
		if len(b) > 0 {
			t.Logf("%s:\n%s", filepath.Base(f), b)
		}
	}
}

// BenchmarkCluster runs the harness for each size and kind (see
// runSettings) and reports each metric of the last run as
// ns-free custom units: go test -run '^$' -bench Cluster -benchtime 1x.
func BenchmarkCluster(b *testing.B) {
	s := settings(b)
	s.cfg.Logf = func(string, ...any) {}
	for _, n := range s.sizes {
		for _, k := range kinds(b) {
			b.Run(string(k)+"/"+strconv.Itoa(n), func(b *testing.B) {
				cfg := s.cfg
				cfg.Kind, cfg.Nodes = k, n
				var r *Result
				for b.Loop() {
					var err error
					if r, err = Run(context.Background(), cfg); err != nil {
						b.Fatal(err)
					}
				}
				for _, m := range Metrics {
					if v, ok := r.Metrics[m.Key]; ok {
						b.ReportMetric(v, m.Key)
					}
				}
			})
		}
	}
}

// TestErlangRelativeDir: an Erlang run in a relative directory (what the
// CLI's --logs scale-logs/... gives) finds its compiled scale_node: each
// node runs inside that directory, so a relative code path pointed
// nowhere and every node died with undef.
func TestErlangRelativeDir(t *testing.T) {
	distributetest.RequireErl(t)
	s := settings(t)
	t.Chdir(t.TempDir())
	cfg := s.cfg
	cfg.Kind, cfg.Nodes, cfg.Dir = Erlang, 2, "run"
	cfg.Names, cfg.Joins, cfg.Broadcasts, cfg.Idle = 2, 2, 1, time.Second
	cfg.Timeout = distributetest.Scale(time.Minute)
	if _, err := Run(context.Background(), cfg); err != nil {
		logNodeOutput(t, cfg.Dir)
		t.Fatal(err)
	}
}
