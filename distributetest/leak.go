package distributetest

import (
	"testing"

	"go.uber.org/goleak"
)

// VerifyTestMain runs the package's tests and then fails if any goroutine
// they started is still running. Call it from TestMain:
//
//	func TestMain(m *testing.M) { distributetest.VerifyTestMain(m) }
//
// The cleanups run after the tests and the check, before the process exits.
func VerifyTestMain(m *testing.M, cleanups ...func()) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) {
		for _, c := range cleanups {
			c()
		}
	}))
}

// VerifyNoLeaks fails t if goroutines started during the test are still
// running when it ends (checked in a cleanup, with goleak's retries).
func VerifyNoLeaks(t testing.TB) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}
