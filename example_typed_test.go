package distribute_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/supervisor"
)

// localNode starts a node for the single-node examples: no epmd, no
// listener.
func localNode(name string) *distribute.Node {
	n, err := distribute.Start(context.Background(), distribute.Config{Name: name + "@localhost", Cookie: "secret", ClientOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	return n
}

// The typed quick start: a node registers a typed actor; another node looks
// it up by name, sends it messages, calls it and receives its typed
// messages; then a typed group of workers shares jobs. Every message has a
// compile-time type, and travels as an ETF binary (a BEAM process would see
// a binary).
func Example_typed() {
	ctx := context.Background()
	// The epmd port is below Linux's ephemeral range (32768-60999), so an
	// outgoing connection's TIME_WAIT can never hold it.
	cfg := func(name string) distribute.Config {
		return distribute.Config{Name: name + "@localhost", Cookie: "secret", EpmdPort: 24369, EpmdListen: "127.0.0.1:24369"}
	}
	a, err := distribute.Start(ctx, cfg("typed_a"))
	if err != nil {
		log.Fatal(err)
	}
	defer a.Stop(ctx)
	b, err := distribute.Start(ctx, cfg("typed_b"))
	if err != nil {
		log.Fatal(err)
	}
	defer b.Stop(ctx)

	// Register: a counter actor on a, named "counter". Its messages and
	// calls are int64s; a call answers the new total.
	counter := &distribute.Actor[int64, int64, int64]{
		Name:  "counter",
		Msg:   codec.Int,
		Reply: codec.Int,
		HandleMessage: func(ctx context.Context, self *distribute.Process, total, n int64) (int64, error) {
			return total + n, nil
		},
		HandleCall: func(ctx context.Context, self *distribute.Process, total, n int64) (int64, int64, error) {
			return total + n, total + n, nil
		},
	}
	if _, err := counter.Start(ctx, a); err != nil {
		log.Fatal(err)
	}

	// Look up and send: a subject for {counter, typed_a@localhost}.
	me, _ := b.NewProcess()
	c := distribute.NamedSubject("counter", a.Name(), codec.Int)
	c.Send(ctx, me, 40)
	total, err := distribute.Call(ctx, me, c, 2, codec.Int)
	fmt.Println("total:", total, err)

	// Receive: typed messages to me, sent from a.
	sender, _ := a.NewProcess()
	distribute.NewSubject(me.Pid(), codec.String).Send(ctx, sender, "hello from a")
	text, err := distribute.Receive(ctx, me, codec.String)
	fmt.Println(text, err)

	// A typed group of workers on a, under a supervisor: each squares
	// what it is called with.
	square := &distribute.Actor[struct{}, int64, int64]{
		Msg:   codec.Int,
		Reply: codec.Int,
		HandleCall: func(ctx context.Context, self *distribute.Process, s struct{}, n int64) (int64, struct{}, error) {
			return n * n, s, nil
		},
	}
	sup, err := supervisor.Start(ctx, a, supervisor.Spec{Children: []supervisor.ChildSpec{
		supervisor.ActorChild("w1", square), supervisor.ActorChild("w2", square), supervisor.ActorChild("w3", square),
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer sup.Stop(ctx)
	children, _ := sup.Children(ctx)
	var workers []distribute.Subject[int64]
	for _, ch := range children {
		workers = append(workers, distribute.NewSubject(ch.Pid, codec.Int))
	}
	var results []int64
	for job := int64(1); job <= 6; job++ {
		r, err := distribute.Call(ctx, me, workers[job%int64(len(workers))], job, codec.Int)
		if err != nil {
			log.Fatal(err)
		}
		results = append(results, r)
	}
	fmt.Println("squares:", results)
	// Output:
	// total: 42 <nil>
	// hello from a <nil>
	// squares: [1 4 9 16 25 36]
}

// A subject addresses a process that reads one type; Receive decodes it.
// The message on the wire is the codec's bytes in a binary.
func ExampleSubject_Send() {
	n := localNode("example_subject")
	defer n.Stop(context.Background())
	ctx := context.Background()
	from, _ := n.NewProcess()
	to, _ := n.NewProcess()

	type point struct{ X, Y int64 }
	pointCodec := codec.Struct(
		codec.Field("x", func(p *point) *int64 { return &p.X }, codec.Int),
		codec.Field("y", func(p *point) *int64 { return &p.Y }, codec.Int),
	)
	s := distribute.NewSubject(to.Pid(), pointCodec)
	s.Send(ctx, from, point{X: 1, Y: 2})
	p, err := distribute.Receive(ctx, to, pointCodec)
	fmt.Println(p, err)

	s.Send(ctx, from, point{X: 3, Y: 4})
	raw, _ := to.Receive(ctx) // what a BEAM process would get
	fmt.Println(etf.Format(raw))
	// Output:
	// {1 2} <nil>
	// <<0,0,0,0,0,0,0,3,0,0,0,0,0,0,0,4>>
}

// Selective typed receive takes the first message that matches and leaves
// the others queued in order.
func ExampleReceiveMatch() {
	n := localNode("example_match")
	defer n.Stop(context.Background())
	ctx := context.Background()
	from, _ := n.NewProcess()
	to, _ := n.NewProcess()
	s := distribute.NewSubject(to.Pid(), codec.String)
	for _, w := range []string{"apple", "banana", "cherry"} {
		s.Send(ctx, from, w)
	}
	b, _ := distribute.ReceiveMatch(ctx, to, codec.String, func(w string) bool { return strings.HasPrefix(w, "b") })
	first, _ := distribute.Receive(ctx, to, codec.String)
	last, _ := distribute.Receive(ctx, to, codec.String)
	fmt.Println(b, first, last)
	// Output: banana apple cherry
}

// A message of another version is a typed error, and the receiver goes on.
func ExampleMessageError() {
	n := localNode("example_mismatch")
	defer n.Stop(context.Background())
	ctx := context.Background()
	from, _ := n.NewProcess()
	to, _ := n.NewProcess()
	v1 := codec.Tagged("user", 1, codec.String)
	v2 := codec.Tagged("user", 2, codec.String)
	distribute.NewSubject(to.Pid(), v2).Send(ctx, from, "newer sender")
	distribute.NewSubject(to.Pid(), v1).Send(ctx, from, "same version")

	_, err := distribute.Receive(ctx, to, v1)
	var vm *codec.VersionMismatchError
	fmt.Println(errors.As(err, &vm), vm.Want, vm.Got)
	fmt.Println(distribute.Receive(ctx, to, v1))
	// Output:
	// true 1 2
	// same version <nil>
}

// Call is a typed gen_server call: the request and the reply are binaries
// holding codec bytes. Here the server is a plain process using
// ReceiveCall and Reply.
func ExampleCall() {
	n := localNode("example_call")
	defer n.Stop(context.Background())
	ctx := context.Background()
	upper, _ := n.Spawn(func(ctx context.Context, p *distribute.Process) error {
		for {
			from, req, err := distribute.ReceiveCall(ctx, p, codec.String)
			if errors.Is(err, distribute.ErrBadMessage) {
				continue
			}
			if err != nil {
				return err
			}
			distribute.Reply(ctx, p, from, codec.String, strings.ToUpper(req))
		}
	})
	client, _ := n.NewProcess()
	r, err := distribute.Call(ctx, client, distribute.NewSubject(upper.Pid(), codec.String), "shout", codec.String)
	fmt.Println(r, err)

	// A dead target fails at once.
	_, err = distribute.Call(ctx, client, distribute.NamedSubject("nobody", "", codec.String), "hi", codec.String)
	fmt.Println(errors.Is(err, distribute.ErrNoProc))
	// Output:
	// SHOUT <nil>
	// true
}

// An actor keeps state between messages, answers calls, and stops with a
// reason its monitors see.
func ExampleActor() {
	n := localNode("example_actor")
	defer n.Stop(context.Background())
	ctx := context.Background()
	stack := &distribute.Actor[[]string, string, string]{
		Name:  "stack",
		Msg:   codec.String,
		Reply: codec.String,
		HandleMessage: func(ctx context.Context, self *distribute.Process, s []string, push string) ([]string, error) {
			return append(s, push), nil
		},
		HandleCall: func(ctx context.Context, self *distribute.Process, s []string, _ string) (string, []string, error) {
			if len(s) == 0 {
				return "", s, nil
			}
			return s[len(s)-1], s[:len(s)-1], nil
		},
		Terminate: func(ctx context.Context, self *distribute.Process, s []string, reason distribute.Term) {
			fmt.Println("terminate with", len(s), "left:", etf.Format(reason))
		},
	}
	h, err := stack.Start(ctx, n)
	if err != nil {
		log.Fatal(err)
	}
	me, _ := n.NewProcess()
	h.Send(ctx, me, "a")
	h.Send(ctx, me, "b")
	top, _ := h.Call(ctx, me, "pop")
	fmt.Println("popped", top)

	ref, _ := me.Monitor(ctx, h.Pid())
	h.Stop(ctx, etf.Atom("done"))
	m, _ := me.ReceiveMatch(ctx, func(m any) bool { d, ok := m.(distribute.Down); return ok && d.Ref == ref })
	fmt.Println("down:", etf.Format(m.(distribute.Down).Reason))
	// Output:
	// popped b
	// terminate with 1 left: done
	// down: done
}
