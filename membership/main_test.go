package membership

import (
	"os"
	"testing"

	"github.com/distribute-go/distribute/distributetest/gonode"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		runChild(name)
		return
	}
	// memberlist probes in flight end on their own after Shutdown.
	goleak.VerifyTestMain(gonode.Settled(m))
}
