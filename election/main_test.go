package election

import (
	"testing"

	"github.com/distribute-go/distribute/distributetest"
)

func TestMain(m *testing.M) { distributetest.VerifyTestMain(m) }
