package membership

import (
	"os"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
)

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		runChild(name)
		return
	}
	distributetest.VerifyTestMain(m)
}
