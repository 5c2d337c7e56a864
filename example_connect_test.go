package distribute_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/distribute-go/distribute"
)

// Branching on a connection error: a cookie or TLS mismatch is a
// configuration to fix, ErrTimeout a ctx that ended first (the peer may be
// up, only slow to answer), ErrNodeDown a peer that cannot be reached.
// MaxPendingHandshakes raises the cap on incoming handshakes not yet
// authenticated, for a node that many peers dial at once. Compiled, not
// run.
func ExampleErrTLSMismatch() {
	ctx := context.Background()
	node, err := distribute.Start(ctx, distribute.Config{
		Name: "app@localhost", Cookie: "secret",
		MaxPendingHandshakes: 1024,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Stop(ctx)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	switch err := node.Connect(cctx, "peer@localhost"); {
	case errors.Is(err, distribute.ErrTLSMismatch):
		log.Fatalf("only one of the nodes is configured for TLS: %v", err)
	case errors.Is(err, distribute.ErrBadCookie):
		log.Fatalf("the cookies differ: %v", err)
	case errors.Is(err, distribute.ErrTimeout):
		log.Printf("no connection within 5 s, try again later: %v", err)
	case errors.Is(err, distribute.ErrNodeDown):
		log.Printf("peer unreachable: %v", err)
	}
}

// Why a connection was lost: NodeEvent.Err (and NodeDown.Err, for node
// monitors) wraps ErrNodeDown and the cause, here a peer that went silent
// for the tick time or one that sent an oversized frame. Compiled, not
// run (TestNodeDownErrTickTimeout and TestNodeDownErrFrameTooLarge
// provoke both).
func ExampleErrTickTimeout() {
	ctx := context.Background()
	node, err := distribute.Start(ctx, distribute.Config{Name: "app@localhost", Cookie: "secret", TickTime: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Stop(ctx)
	for ev := range node.WatchNodes(ctx) {
		switch {
		case ev.Up:
		case errors.Is(ev.Err, distribute.ErrTickTimeout):
			log.Printf("%s went silent (frozen, or the network dropped it): %v", ev.Node, ev.Err)
		case errors.Is(ev.Err, distribute.ErrFrameTooLarge):
			log.Printf("%s sent a frame over Config.MaxFrameSize: %v", ev.Node, ev.Err)
		default:
			log.Printf("%s disconnected: %s", ev.Node, ev.Reason)
		}
	}
}
