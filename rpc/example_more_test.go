package rpc_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/rpc"
)

// privateEpmd returns a loopback port nobody listens on, for an example's
// own embedded epmd.
func privateEpmd() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// README "RPC": a Go function exported as math:add/2 and called from another
// Go node (Erlang calls it the same way: rpc:call(Node, math, add, [1, 2])
// or erpc:call). Func2 converts the arguments and the result.
func Example_readme() {
	ctx := context.Background()
	epmd := privateEpmd()
	cfg := func(name string) distribute.Config {
		return distribute.Config{Name: name, Cookie: "secret", EpmdPort: epmd, EpmdListen: fmt.Sprintf("127.0.0.1:%d", epmd)}
	}
	server, err := distribute.Start(ctx, cfg("rpc_server@localhost"))
	if err != nil {
		log.Fatal(err)
	}
	defer server.Stop(ctx)
	client, err := distribute.Start(ctx, cfg("rpc_client@localhost"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	s, _ := rpc.Start(ctx, server, rpc.Config{})
	defer s.Stop(ctx)
	s.Register("math", "add", 2, rpc.Func2(func(ctx context.Context, a, b int64) (int64, error) {
		return a + b, nil
	}))
	v, err := rpc.NewClient(client).Call(ctx, server.Name(), "math", "add", int64(1), int64(2))
	fmt.Println(etf.Format(v), err)

	_, err = rpc.NewClient(client).Call(ctx, server.Name(), "math", "nope")
	fmt.Println(err != nil)
	// Output:
	// 3 <nil>
	// true
}

// Typed RPC between Go nodes: the argument and the result travel as codec
// binaries.
func ExampleCallTyped() {
	ctx := context.Background()
	epmd := privateEpmd()
	cfg := func(name string) distribute.Config {
		return distribute.Config{Name: name, Cookie: "secret", EpmdPort: epmd, EpmdListen: fmt.Sprintf("127.0.0.1:%d", epmd)}
	}
	server, err := distribute.Start(ctx, cfg("rpct_server@localhost"))
	if err != nil {
		log.Fatal(err)
	}
	defer server.Stop(ctx)
	client, err := distribute.Start(ctx, cfg("rpct_client@localhost"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	s, _ := rpc.Start(ctx, server, rpc.Config{})
	defer s.Stop(ctx)
	rpc.RegisterTyped(s, "text", "shout", codec.String, codec.String, func(ctx context.Context, in string) (string, error) {
		return in + "!", nil
	})
	out, err := rpc.CallTyped(ctx, rpc.NewClient(client), server.Name(), "text", "shout", codec.String, codec.String, "hello")
	fmt.Println(out, err)
	// Output: hello! <nil>
}
