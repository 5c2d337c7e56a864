// Package deptest keeps the project's dependency rules (etf and codec use
// the standard library only; lower layers never import higher ones: the
// wire and term layers, then the root package, then the cluster services,
// then cluster and the command) and the ownership rules of the root
// package (wire bytes belong to internal/dist, the mailbox's lock to
// mailbox.go, a process's relation tables to relations.go).
package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/distribute-go/distribute"

// deps lists the non-standard packages pkg depends on, itself excluded.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pkg, err, out)
	}
	var ds []string
	for _, l := range strings.Fields(string(out)) {
		if l != pkg {
			ds = append(ds, l)
		}
	}
	return ds
}

func TestStandardLibraryOnly(t *testing.T) {
	for _, pkg := range []string{module + "/etf", module + "/codec"} {
		if ds := deps(t, pkg); len(ds) != 0 {
			t.Errorf("%s imports non-standard packages %v; it must use the standard library only", pkg, ds)
		}
	}
}

func TestInternalLayers(t *testing.T) {
	// The wire layers see only the standard library and lower layers.
	allowed := map[string][]string{
		module + "/internal/epmd": nil,
		module + "/internal/dist": {module + "/etf"},
		// The fan-out behind every Watch: a utility, not a wire layer.
		module + "/internal/fanout": nil,
	}
	for pkg, ok := range allowed {
		for _, d := range deps(t, pkg) {
			found := false
			for _, a := range ok {
				found = found || d == a
			}
			if !found {
				t.Errorf("%s imports %s; allowed: the standard library and %v", pkg, d, ok)
			}
		}
	}
}

// imports lists the packages pkg's non-test files import directly.
func imports(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pkg, err, out)
	}
	return strings.Fields(string(out))
}

// The services (and supervisor, gleam, and the test kit's Go-node
// starter) sit on the root's public API: the root depends on none of
// them, and none reaches into an internal package (what they need of the
// wire or of epmd, the root offers). The one exception is
// internal/fanout, the standard-library-only fan-out behind every Watch.
func TestServicesOnThePublicAPI(t *testing.T) {
	services := []string{"rpc", "groups", "registry", "membership", "election", "health", "cluster", "supervisor", "gleam", "distributetest/gonode"}
	for _, d := range deps(t, module) {
		for _, s := range services {
			if d == module+"/"+s {
				t.Errorf("the root package depends on the service %s", d)
			}
		}
	}
	for _, s := range services {
		for _, imp := range imports(t, module+"/"+s) {
			if strings.HasPrefix(imp, module+"/internal/") && imp != module+"/internal/fanout" {
				t.Errorf("%s imports %s; services use the root's API, not internal packages", s, imp)
			}
		}
	}
}
