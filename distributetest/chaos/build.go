package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// Binary returns the path of the distribute command, built once per test
// binary from the module this package belongs to (`go build -o
// $TMP/distribute ./cmd/distribute` in the module root). A build failure
// fails the test. Main removes the binary when the tests end.
// DISTRIBUTE_CHAOS_BINARY, when set, names a command to use instead.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("DISTRIBUTE_CHAOS_BINARY"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		sweepOnce.Do(sweepLeftovers)
		buildDir, err = os.MkdirTemp("", "distribute-chaos-bin")
		if err != nil {
			buildErr = err
			return
		}
		// The owner file lets a later run delete the directory if this
		// test binary dies without its cleanups (sweepLeftovers).
		os.WriteFile(filepath.Join(buildDir, "owner"), fmt.Appendf(nil, "%d\n%s\n", os.Getpid(), selfComm(os.Getpid())), 0o644)
		bin := filepath.Join(buildDir, "distribute")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/distribute")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("chaos: go build ./cmd/distribute: %v\n%s", err, out)
			return
		}
		buildBin = bin
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// moduleRoot is the directory of the go.mod that holds this package:
// `go env GOMOD` run in this source file's directory (so a test binary run
// from elsewhere still finds it), else in the working directory.
func moduleRoot() (string, error) {
	cmd := exec.Command("go", "env", "GOMOD")
	if _, file, _, ok := runtime.Caller(0); ok {
		if _, err := os.Stat(filepath.Dir(file)); err == nil {
			cmd.Dir = filepath.Dir(file)
		}
	}
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("chaos: go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("chaos: not inside a module (go env GOMOD = %q)", mod)
	}
	return filepath.Dir(mod), nil
}

// Main runs a test binary's tests with the goroutine leak check and
// removes the built command afterwards. Use it from TestMain:
//
//	func TestMain(m *testing.M) { chaos.Main(m) }
func Main(m *testing.M) {
	distributetest.VerifyTestMain(m, func() {
		if buildDir != "" {
			os.RemoveAll(buildDir)
		}
	})
}
