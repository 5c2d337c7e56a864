// Command erlang runs a Go node next to an Erlang node: Go calls the
// Erlang gen_server in echo.erl, and Erlang calls a Go process.
//
// Start the Erlang node first, from this directory:
//
//	erlc echo.erl && erl -sname erl@localhost -setcookie example -eval 'echo:start()'
//
// then, in another terminal:
//
//	go run ./examples/erlang
//
// and in the Erlang shell: gen_server:call({greeter, 'go@localhost'}, {hello, "erl"}).
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	node, err := distribute.Start(ctx, distribute.Config{Name: "go@localhost", Cookie: "example"})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Stop(context.Background())

	// A Go process that Erlang can gen_server:call.
	greeter, _ := node.SpawnHandler(func(ctx context.Context, p *distribute.Process, m any) error {
		if from, req, ok := distribute.ParseCall(m); ok {
			fmt.Println("Erlang asked:", etf.Format(req))
			return p.Reply(ctx, from, etf.Tuple{etf.Atom("hello_from_go"), req})
		}
		return nil
	})
	node.Register("greeter", greeter.Pid())

	me, _ := node.NewProcess()
	reply, err := me.CallName(ctx, "echo", "erl@localhost", etf.Tuple{etf.Atom("hi"), etf.Binary("from Go")})
	if err != nil {
		log.Fatalf("call the Erlang echo server: %v (is `erl -sname erl@localhost -setcookie example` running echo:start()?)", err)
	}
	fmt.Println("Erlang replied:", etf.Format(reply))
	fmt.Println("serving greeter on go@localhost; Ctrl-C to stop")
	<-ctx.Done()
}
