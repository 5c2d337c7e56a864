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

func testCtx(t *testing.T) context.Context {
	return distributetest.Context(t, 30*time.Second)
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
