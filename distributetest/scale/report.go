package scale

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Metric describes one key of Result.Metrics.
type Metric struct {
	Key   string
	Label string
	Unit  string
	// Cost marks the metrics plotted against N and fitted for growth.
	Cost bool
}

// Metrics lists every measurement, in the order the table prints them.
var Metrics = []Metric{
	{"started_s", "all nodes printed started", "s", false},
	{"converge_s", "converged: members, connections, one leader", "s", true},
	{"rss_mb", "RSS per node", "MB", true},
	{"rss_max_mb", "RSS, largest node", "MB", false},
	{"tasks", "goroutines (Go) / processes (Erlang) per node", "", true},
	{"threads", "OS threads per node", "", false},
	{"fds", "open descriptors per node", "", true},
	{"fds_max", "open descriptors, most on a node", "", false},
	{"idle_cpu_pct", "idle CPU per node", "% core", true},
	{"idle_cpu_max_pct", "idle CPU, busiest node", "% core", false},
	{"idle_cpu_total_pct", "idle CPU, whole cluster", "% core", true},
	{"global_register_p50_ms", "global register call, p50", "ms", true},
	{"global_register_p99_ms", "global register call, p99", "ms", false},
	{"global_visible_p50_ms", "global name seen on every node, p50", "ms", true},
	{"global_visible_p99_ms", "global name seen on every node, p99", "ms", false},
	{"pg_visible_p50_ms", "pg join seen on every node, p50", "ms", true},
	{"pg_visible_p99_ms", "pg join seen on every node, p99", "ms", false},
	{"broadcast_p50_ms", "broadcast received by all N, p50", "ms", true},
	{"broadcast_p99_ms", "broadcast received by all N, p99", "ms", false},
	{"nodedown_p50_ms", "SIGKILL to nodedown, median node", "ms", false},
	{"nodedown_max_ms", "SIGKILL to nodedown, last node", "ms", true},
	{"dead_p50_ms", "SIGKILL to member dead, median node", "ms", false},
	{"dead_max_ms", "SIGKILL to member dead, last node", "ms", true},
}

// sizes returns the distinct N of results, ascending.
func sizes(results []Result) []int {
	var ns []int
	for _, r := range results {
		if !slices.Contains(ns, r.Nodes) {
			ns = append(ns, r.Nodes)
		}
	}
	slices.Sort(ns)
	return ns
}

// find returns the result of kind with n nodes, or nil.
func find(results []Result, kind Kind, n int) *Result {
	for i := range results {
		if results[i].Kind == kind && results[i].Nodes == n {
			return &results[i]
		}
	}
	return nil
}

func value(r *Result, key string) (float64, bool) {
	if r == nil {
		return 0, false
	}
	v, ok := r.Metrics[key]
	return v, ok
}

// format prints v with about three significant digits.
func format(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// WriteTable prints one table per N: each metric for Go, for Erlang and
// their ratio (Go / Erlang), then the settings, and with three or more N
// the growth exponent fitted to each cost.
func WriteTable(w io.Writer, results []Result) error {
	for _, n := range sizes(results) {
		g, e := find(results, Go, n), find(results, Erlang, n)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "N = %d\t\tgo\terlang\tgo/erlang\n", n)
		for _, m := range Metrics {
			gv, gok := value(g, m.Key)
			ev, eok := value(e, m.Key)
			if !gok && !eok {
				continue
			}
			cell := func(v float64, ok bool) string {
				if !ok {
					return "-"
				}
				return format(v)
			}
			ratio := "-"
			if gok && eok && ev != 0 {
				ratio = format(gv / ev)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Label, m.Unit, cell(gv, gok), cell(ev, eok), ratio)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, r := range []*Result{g, e} {
			if r != nil {
				fmt.Fprintf(w, "%s: %s\n", r.Kind, describeRun(r))
			}
		}
		fmt.Fprintln(w)
	}
	return writeGrowth(w, results)
}

// describeRun is a Result's settings and error on one line.
func describeRun(r *Result) string {
	var s []string
	if r.Version != "" {
		s = append(s, r.Version)
	}
	p := r.Params
	if r.Kind == Go {
		s = append(s, fmt.Sprintf("profile %s, %d voters, election on %d nodes", p.Profile, p.Voters, p.ElectionNodes))
	}
	s = append(s, fmt.Sprintf("idle %gs, %d names, %d joins, %d broadcasts", p.IdleS, p.Names, p.Joins, p.Broadcasts))
	if r.Error != "" {
		s = append(s, "FAILED: "+r.Error)
	}
	return strings.Join(s, "; ")
}

// Growth fits cost ≈ a·N^b by least squares on (ln N, ln cost) over the
// results of kind that measured key (positive values only), and returns
// b and how many N it used.
func Growth(results []Result, kind Kind, key string) (b float64, points int) {
	var xs, ys []float64
	for _, n := range sizes(results) {
		if v, ok := value(find(results, kind, n), key); ok && v > 0 {
			xs = append(xs, math.Log(float64(n)))
			ys = append(ys, math.Log(v))
		}
	}
	if len(xs) < 2 {
		return math.NaN(), len(xs)
	}
	mx, my := meanOf(xs), meanOf(ys)
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	return sxy / sxx, len(xs)
}

func meanOf(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// writeGrowth prints the fitted exponents when three or more N were
// measured.
func writeGrowth(w io.Writer, results []Result) error {
	ns := sizes(results)
	if len(ns) < 3 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "growth: b in cost ≈ a·N^b, fitted over N = %s\tgo\terlang\n", joinInts(ns))
	for _, m := range Metrics {
		if !m.Cost {
			continue
		}
		cell := func(k Kind) string {
			b, n := Growth(results, k, m.Key)
			if n < 3 {
				return "-"
			}
			return fmt.Sprintf("%.2f (%d N)", b, n)
		}
		g, e := cell(Go), cell(Erlang)
		if g == "-" && e == "-" {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Label, g, e)
	}
	return tw.Flush()
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

// Merge returns old with every result of add put in: one of the same Kind
// and N is replaced, except that a failed result (Error set) never
// replaces a complete one. The result is sorted by Kind, then N.
func Merge(old, add []Result) []Result {
	out := slices.Clone(old)
	for _, r := range add {
		i := slices.IndexFunc(out, func(o Result) bool { return o.Kind == r.Kind && o.Nodes == r.Nodes })
		switch {
		case i >= 0 && r.Error != "" && out[i].Error == "":
			// keep the complete result
		case i >= 0:
			out[i] = r
		default:
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Result) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Nodes, b.Nodes))
	})
	return out
}

// ReadJSON reads results written by WriteJSON; a missing file is no
// results.
func ReadJSON(path string) ([]Result, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rs []Result
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("scale: %s: %w", path, err)
	}
	return rs, nil
}

// WriteJSON writes results as a JSON array, one object per Result.
func WriteJSON(w io.Writer, results []Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(results)
}

// WriteCSV writes one row per Result: kind, nodes, time, version, error,
// then a column per metric (empty when not measured).
func WriteCSV(w io.Writer, results []Result) error {
	cw := csv.NewWriter(w)
	head := []string{"kind", "nodes", "time", "version", "error"}
	for _, m := range Metrics {
		head = append(head, m.Key)
	}
	cw.Write(head)
	for _, r := range results {
		row := []string{string(r.Kind), strconv.Itoa(r.Nodes), r.Time.Format(time.RFC3339), r.Version, r.Error}
		for _, m := range Metrics {
			if v, ok := r.Metrics[m.Key]; ok {
				row = append(row, strconv.FormatFloat(v, 'g', 6, 64))
			} else {
				row = append(row, "")
			}
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// WriteResults merges results into dir's results.json (see Merge), then
// writes results.json, results.csv, table.txt (WriteTable) and the plots
// (WritePlots) from the merged set, which it returns.
func WriteResults(dir string, results []Result) ([]Result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "results.json")
	old, err := ReadJSON(path)
	if err != nil {
		return nil, err
	}
	all := Merge(old, results)
	write := func(name string, f func(io.Writer, []Result) error) error {
		out, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		err = f(out, all)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		return err
	}
	if err := write("results.json", WriteJSON); err != nil {
		return nil, err
	}
	if err := write("results.csv", WriteCSV); err != nil {
		return nil, err
	}
	if err := write("table.txt", WriteTable); err != nil {
		return nil, err
	}
	return all, WritePlots(dir, all)
}
