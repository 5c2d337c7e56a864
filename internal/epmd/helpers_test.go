package epmd

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

func TestMain(m *testing.M) { distributetest.VerifyTestMain(m) }

// waitFor polls cond until it holds or d (scaled) passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(distributetest.Scale(d))
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", distributetest.Scale(d), what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(30*time.Second))
	t.Cleanup(cancel)
	return ctx
}

// startServer starts an embedded server on a free loopback port; it is
// closed at cleanup.
func startServer(t *testing.T, cfg ServerConfig) *Server {
	t.Helper()
	s, err := cfg.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		s.Close()
		<-served
	})
	return s
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
