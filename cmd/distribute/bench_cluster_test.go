package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/distributetest/scale"
)

// `distribute bench cluster` end to end, at a small size: the table on
// stdout, results and plots in --out, exit 0; bad flags exit 2.
func TestBenchClusterCommand(t *testing.T) {
	out := t.TempDir()
	args := []string{"bench", "cluster", "--nodes", "3", "--idle", "1s", "--settle", "100ms",
		"--names", "3", "--joins", "3", "--broadcasts", "2", "--out", out}
	kinds := 1
	if _, err := exec.LookPath("erl"); err == nil || distributetest.ErlRequired() {
		args = append(args, "--erlang")
		kinds = 2
	}
	stdout, stderr, code := runCLI(t, "", args...)
	if code != 0 {
		t.Fatalf("bench cluster: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"N = 3", "converged: members, connections, one leader", "SIGKILL to member dead, last node", "go: "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "go N=3: converged in ") {
		t.Errorf("no progress on stderr:\n%s", stderr)
	}
	rs, err := scale.ReadJSON(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != kinds {
		t.Fatalf("results.json holds %d results; want %d", len(rs), kinds)
	}
	for _, r := range rs {
		if r.Nodes != 3 || r.Error != "" || r.Metrics["converge_s"] <= 0 {
			t.Errorf("result %s/%d: converge_s %v, error %q", r.Kind, r.Nodes, r.Metrics["converge_s"], r.Error)
		}
	}
	for _, f := range []string{"results.csv", "scale.svg", "scale-converge_s.svg"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	for _, bad := range [][]string{
		{"bench", "cluster"},
		{"bench", "cluster", "--nodes", "1"},
		{"bench", "cluster", "--nodes", "3,x"},
		{"bench", "cluster", "--nodes", "3", "--profile", "wan"},
		{"bench", "cluster", "--nodes", "3", "--idle", "0s"},
		{"bench", "cluster", "--nodes", "3,10", "--expect", "5"},
		{"bench", "cluster", "--nodes", "10", "--election-nodes", "2"},
	} {
		_, stderr, code := runCLI(t, "", bad...)
		checkOneLineError(t, bad, stderr, code, 2)
	}
}
