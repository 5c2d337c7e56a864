package scale

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

func result(kind Kind, n int, metrics map[string]float64) Result {
	return Result{Kind: kind, Nodes: n, Metrics: metrics}
}

// Growth recovers the exponent of an exact power law, and of a linear
// cost with a constant part it gives less than one.
func TestGrowth(t *testing.T) {
	var rs []Result
	for _, n := range []int{10, 25, 50, 100} {
		rs = append(rs, result(Go, n, map[string]float64{"x": 3 * math.Pow(float64(n), 1.5), "y": 100 + float64(n)}))
	}
	if b, pts := Growth(rs, Go, "x"); pts != 4 || math.Abs(b-1.5) > 1e-9 {
		t.Errorf("Growth(3·N^1.5) = %v over %d N; want 1.5 over 4", b, pts)
	}
	if b, _ := Growth(rs, Go, "y"); b <= 0 || b >= 1 {
		t.Errorf("Growth(100+N) = %v; want between 0 and 1", b)
	}
	if _, pts := Growth(rs, Erlang, "x"); pts != 0 {
		t.Errorf("Growth of a kind with no results used %d N", pts)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    int
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("percentile(1..100 ms, %d) = %v; want %v", c.p, got, c.want)
		}
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("percentile of one value = %v", got)
	}
}

// Merge replaces a result of the same kind and size, except a complete
// one by a failed one, and sorts.
func TestMerge(t *testing.T) {
	old := []Result{result(Go, 25, map[string]float64{"a": 1}), result(Go, 10, map[string]float64{"a": 2})}
	failed := result(Go, 25, map[string]float64{})
	failed.Error = "boom"
	got := Merge(old, []Result{result(Erlang, 10, nil), failed, result(Go, 10, map[string]float64{"a": 3})})
	want := []struct {
		kind Kind
		n    int
		a    float64
	}{{Erlang, 10, 0}, {Go, 10, 3}, {Go, 25, 1}}
	if len(got) != len(want) {
		t.Fatalf("Merge gave %d results; want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Kind != w.kind || got[i].Nodes != w.n || got[i].Metrics["a"] != w.a || got[i].Error != "" {
			t.Errorf("Merge[%d] = %s/%d a=%v err=%q; want %s/%d a=%v", i, got[i].Kind, got[i].Nodes, got[i].Metrics["a"], got[i].Error, w.kind, w.n, w.a)
		}
	}
}

// WriteResults merges with the results already in the directory and
// writes JSON that reads back, CSV with a column per metric, and plots
// that are well-formed SVG.
func TestWriteResults(t *testing.T) {
	dir := t.TempDir()
	first := []Result{result(Go, 10, map[string]float64{"converge_s": 1.5, "rss_mb": 20})}
	if _, err := WriteResults(dir, first); err != nil {
		t.Fatal(err)
	}
	second := []Result{
		result(Erlang, 10, map[string]float64{"converge_s": 1, "rss_mb": 35}),
		result(Go, 25, map[string]float64{"converge_s": 4, "rss_mb": 21}),
		result(Go, 50, map[string]float64{"converge_s": 12, "rss_mb": 23}),
	}
	all, err := WriteResults(dir, second)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 || len(back) != 4 || back[1].Kind != Go || back[1].Nodes != 10 || back[1].Metrics["converge_s"] != 1.5 {
		t.Fatalf("results.json after two writes: %+v", back)
	}
	csv, _ := os.ReadFile(filepath.Join(dir, "results.csv"))
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "kind,nodes,time,version,error,started_s,converge_s,rss_mb,") ||
		!strings.HasPrefix(lines[2], "go,10,") || strings.Count(lines[2], ",") != len(Metrics)+4 {
		t.Fatalf("results.csv:\n%s", csv)
	}
	if table, _ := os.ReadFile(filepath.Join(dir, "table.txt")); !strings.Contains(string(table), "N = 50") {
		t.Errorf("table.txt lacks the merged N = 50:\n%s", table)
	}
	for _, name := range []string{"scale.svg", "scale-converge_s.svg", "scale-rss_mb.svg"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		checkXML(t, name, b)
		if !strings.Contains(string(b), "<polyline") || !strings.Contains(string(b), "go ~N^") {
			t.Errorf("%s has no series with a fitted exponent", name)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "scale-tasks.svg")); !os.IsNotExist(err) {
		t.Errorf("a plot for a metric no result has: %v", err)
	}
	var table bytes.Buffer
	if err := WriteTable(&table, all); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"N = 10", "RSS per node", "35.0", "0.57", "growth: b in cost"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

func checkXML(t *testing.T, name string, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v", name, err)
		}
	}
}

// readProc reads this test process's own /proc entries: CPU time grows
// while it spins, RSS, threads and descriptors are plausible.
func TestReadProc(t *testing.T) {
	pid := os.Getpid()
	before, err := readProc(pid)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(distributetest.Scale(10 * time.Second))
	for {
		c, err := readCPU(pid)
		if err != nil {
			t.Fatal(err)
		}
		if c > before.cpuTicks {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU ticks stayed at %d while spinning", c)
		}
	}
	after, err := readProc(pid)
	if err != nil {
		t.Fatal(err)
	}
	if after.rssKB < 1024 || after.threads < 1 || after.fds < 3 {
		t.Errorf("readProc(self) = %+v", after)
	}
}
