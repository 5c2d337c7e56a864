package distributetest

import (
	"context"
	"testing"
	"time"
)

// WaitTimeout is how long WaitFor waits, before Scale: generous, since a
// test that meets its condition never waits that long, and a loaded CI
// machine may take a while.
const WaitTimeout = 30 * time.Second

// WaitFor polls cond until it holds and fails the test (t.Fatalf, naming
// what) when it has not held after Scale(WaitTimeout). It polls at once,
// then every millisecond at first, backing off to every 50 ms. Call it
// from the test's goroutine; cond runs there too.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	WaitForWithin(t, WaitTimeout, what, cond)
}

// WaitForWithin is WaitFor with a deadline of Scale(d), for a condition
// whose lateness is itself the failure (a bound a test checks).
func WaitForWithin(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Scale(d))
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", Scale(d), what)
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// Context returns a context that ends after Scale(d), or when the test
// ends: the deadline of a test's blocking calls.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), Scale(d))
	t.Cleanup(cancel)
	return ctx
}
