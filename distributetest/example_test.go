package distributetest_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
)

// An interop test as a package's _test.go file writes it: a real erl node
// on a private epmd, a Go node registered with the same epmd, and a check
// from both sides. Without erl the test is skipped (or fails when
// DISTRIBUTE_REQUIRE_ERL=1). Compiled, not run: an Example has no
// *testing.T.
func Example_interopTest() {
	testGoAndErlang := func(t *testing.T) {
		distributetest.VerifyNoLeaks(t) // no goroutine left behind when the test ends
		erl := distributetest.StartErlNode(t, distributetest.ErlOptions{Name: "e1@localhost"})
		ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
		defer cancel()
		node, err := distribute.Start(ctx, distribute.Config{
			Name: "go1@localhost", Cookie: erl.Cookie, EpmdPort: erl.EpmdPort,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer node.Stop(context.Background())

		if got := erl.Eval(t, "net_adm:ping('go1@localhost')"); got != "pong" {
			t.Fatalf("ping from erl: got %s, want pong", got)
		}
		if err := node.Ping(ctx, "e1@localhost"); err != nil {
			t.Fatalf("ping from Go: %v", err)
		}
	}
	_ = testGoAndErlang
}

// TLS tests get certificates from a throwaway CA: one config serves both
// roles of a node under mutual TLS. Compiled, not run.
func ExampleCA_MutualTLS() {
	testTLS := func(t *testing.T) {
		ca := distributetest.NewCA(t)
		leaf := ca.Issue(t, "localhost", "127.0.0.1")
		cfg := distribute.Config{Name: "tls1@localhost", Cookie: "c", TLS: ca.MutualTLS(leaf)}
		_ = cfg // distribute.Start(ctx, cfg); leaf.CertFile and leaf.KeyFile feed erl's ssl_dist options
	}
	_ = testTLS
}

// Scale stretches liveness deadlines on slow machines:
// DISTRIBUTE_TEST_TIMEOUT_SCALE=3 makes every scaled deadline three times
// longer.
func ExampleScale() {
	old, had := os.LookupEnv("DISTRIBUTE_TEST_TIMEOUT_SCALE")
	os.Setenv("DISTRIBUTE_TEST_TIMEOUT_SCALE", "3")
	fmt.Println(distributetest.Scale(5 * time.Second))
	os.Setenv("DISTRIBUTE_TEST_TIMEOUT_SCALE", "0.5")
	fmt.Println(distributetest.Scale(5 * time.Second))
	if had {
		os.Setenv("DISTRIBUTE_TEST_TIMEOUT_SCALE", old)
	} else {
		os.Unsetenv("DISTRIBUTE_TEST_TIMEOUT_SCALE")
	}
	// Output:
	// 15s
	// 2.5s
}

// WaitFor waits on a condition, never on time: here, until a node sees
// the connection another made. The deadline only bounds a failing test.
// Compiled, not run, like Example_interopTest.
func ExampleWaitFor() {
	testConnect := func(t *testing.T, a, b *distribute.Node) {
		if err := a.Connect(context.Background(), b.Name()); err != nil {
			t.Fatal(err)
		}
		distributetest.WaitFor(t, "b to see a's connection", func() bool { return b.IsConnected(a.Name()) })
	}
	_ = testConnect
}
