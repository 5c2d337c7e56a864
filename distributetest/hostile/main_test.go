package hostile

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
)

// cliBinary is the distribute CLI built from this module for the suite.
var cliBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "distribute-hostile")
	if err != nil {
		panic(err)
	}
	cliBinary = filepath.Join(dir, "distribute")
	build := exec.Command("go", "build", "-o", cliBinary, "github.com/distribute-go/distribute/cmd/distribute")
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("go build: " + err.Error() + "\n" + string(out))
	}
	distributetest.VerifyTestMain(m, func() { os.RemoveAll(dir) })
}
