package gleam_test

import (
	"context"
	"fmt"
	"log"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/gleam"
)

// The README's "Gleam interop": call an actor of the Gleam distribute library
// (v4). The request carries a reply subject; the reply comes back through
// it. Here the actor is a Go one speaking the same shapes (GleamName).
func Example() {
	ctx := context.Background()
	node, err := distribute.Start(ctx, distribute.Config{Name: "readme_gleam@localhost", Cookie: "secret", ClientOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Stop(ctx)

	// A Gleam actor `greeter` whose messages are tuple2(subject(), string()).
	type greet = codec.Pair[gleam.Subject, string]
	greetCodec := codec.Tuple2(gleam.SubjectCodec, codec.String)
	h, _ := (&distribute.Actor[struct{}, greet, struct{}]{
		GleamName: "greeter", Msg: greetCodec,
		HandleMessage: func(ctx context.Context, self *distribute.Process, s struct{}, g greet) (struct{}, error) {
			return s, gleam.ReplySubject(g.First, codec.String).Send(ctx, self, "hello, "+g.Second)
		},
	}).Start(ctx, node)

	// The caller's side, the same against a real Gleam node (find the pid
	// with a global lookup of "greeter": registry.Server.Whereis).
	pid := h.Pid()
	to := gleam.Actor(pid, "greeter", greetCodec) // pid: a global lookup of "greeter"
	reply, err := gleam.Call(ctx, node, to, func(r gleam.Subject) greet {
		return greet{First: r, Second: "go"}
	}, codec.String)
	fmt.Println(reply, err)
	// Output: hello, go <nil>
}

// A Go actor answers calls in the Gleam distribute library's shapes: it is
// addressed as {<<"greeter">>, Payload}, the request carries a reply
// subject ({subject, Pid, Tag} behind a u32 length), and the reply goes back
// as {Tag, Binary}. Call makes such a call, to a Gleam actor or, here,
// to the Go one.
func ExampleCall() {
	n, err := distribute.Start(context.Background(), distribute.Config{Name: "example_gleam@localhost", Cookie: "secret", ClientOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer n.Stop(context.Background())
	ctx := context.Background()
	type greet struct {
		ReplyTo gleam.Subject
		Who     string
	}
	greetCodec := codec.Tagged("greet", 1, codec.Struct(
		codec.Field("reply_to", func(g *greet) *gleam.Subject { return &g.ReplyTo }, gleam.SubjectCodec),
		codec.Field("who", func(g *greet) *string { return &g.Who }, codec.String),
	))
	greeting := codec.Tagged("greeting", 1, codec.String)

	greeter := &distribute.Actor[struct{}, greet, struct{}]{
		GleamName: "greeter",
		Msg:       greetCodec,
		HandleMessage: func(ctx context.Context, self *distribute.Process, s struct{}, g greet) (struct{}, error) {
			return s, gleam.ReplySubject(g.ReplyTo, greeting).Send(ctx, self, "hello, "+g.Who)
		},
	}
	h, err := greeter.Start(ctx, n)
	if err != nil {
		log.Fatal(err)
	}
	to := gleam.Actor(h.Pid(), "greeter", greetCodec)
	reply, err := gleam.Call(ctx, n, to, func(r gleam.Subject) greet {
		return greet{ReplyTo: r, Who: "gleam"}
	}, greeting)
	fmt.Println(reply, err)
	// Output: hello, gleam <nil>
}
