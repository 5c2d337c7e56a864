package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/rpc"
)

// Export a Go function; Erlang calls it with
// rpc:call('app@localhost', math, add, [1, 2]).
func ExampleServer_Register() {
	ctx := context.Background()
	node, err := distribute.Start(ctx, distribute.Config{Name: "app@localhost", Cookie: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Stop(ctx)
	s, err := rpc.Start(ctx, node, rpc.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Stop(ctx)
	s.Register("math", "add", 2, func(ctx context.Context, args []etf.Term) (etf.Term, error) {
		x, ok1 := args[0].(int64)
		y, ok2 := args[1].(int64)
		if !ok1 || !ok2 {
			return nil, rpc.ErrBadArg // Erlang sees error:badarg
		}
		return x + y, nil
	})
	s.Register("math", "div", 2, func(ctx context.Context, args []etf.Term) (etf.Term, error) {
		if args[1] == int64(0) {
			return nil, rpc.Raise(etf.Atom("badarith")) // error:badarith
		}
		return args[0].(int64) / args[1].(int64), nil // a panic here is error:{panic, Text}
	})
}

// Call a function on an Erlang node.
func ExampleClient_Call() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	node, err := distribute.Start(ctx, distribute.Config{Name: "client@localhost", Cookie: "secret", ClientOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Stop(context.Background())
	v, err := rpc.NewClient(node).Call(ctx, "erl@localhost", "lists", "reverse", etf.List{int64(1), int64(2), int64(3)})
	var e *rpc.Error
	switch {
	case errors.Is(err, distribute.ErrTimeout):
		fmt.Println("no answer in time")
	case errors.Is(err, distribute.ErrNodeDown):
		fmt.Println("node unreachable")
	case errors.As(err, &e):
		fmt.Println("raised:", etf.Format(e.BadRPC())) // {badrpc,{'EXIT',...}}
	case err != nil:
		fmt.Println(err)
	default:
		fmt.Println(etf.Format(v)) // [3,2,1]
	}
}

// Before a node stops, let the calls it serves finish: Drain waits until
// no exported function runs (Running says how many do), for up to a
// grace period. Compiled, not run.
func ExampleServer_Drain() {
	ctx := context.Background()
	node, err := distribute.Start(ctx, distribute.Config{Name: "app@localhost", Cookie: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	s, err := rpc.Start(ctx, node, rpc.Config{})
	if err != nil {
		log.Fatal(err)
	}
	// ... serve, then stop:
	grace, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.Drain(grace); err != nil {
		log.Printf("stopping with %d calls still running: %v", s.Running(), err)
	}
	node.Stop(ctx)
}
