package distribute_test

import (
	"context"
	"fmt"
	"log"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
)

// A receive loop that answers gen_server calls and OTP's sys requests, so
// that sys:get_state(Pid), sys:suspend(Pid) and GenServer.stop(Pid) work
// on it from Erlang or Elixir (an Actor answers them itself).
func ExampleProcess_HandleSystem() {
	ctx := context.Background()
	node, err := distribute.Start(ctx, distribute.Config{Name: "sys_example@localhost", Cookie: "secret", ClientOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Stop(ctx)

	echo, _ := node.Spawn(func(ctx context.Context, p *distribute.Process) error {
		calls := 0
		for {
			m, err := p.Receive(ctx)
			if err != nil {
				return err
			}
			if ok, err := p.HandleSystem(ctx, m, func() any { return calls }); ok {
				if err != nil {
					return err // sys:terminate: exit with its reason
				}
				continue
			}
			if from, req, ok := distribute.ParseCall(m); ok {
				calls++
				p.Reply(ctx, from, req)
			}
		}
	})
	me, _ := node.NewProcess()
	me.Call(ctx, echo.Pid(), etf.Atom("hello"))

	// What sys:get_state(Echo) sends, and the state it gets back.
	tag := node.MakeRef()
	me.Send(ctx, echo.Pid(), etf.Tuple{etf.Atom("system"), etf.Tuple{me.Pid(), tag}, etf.Atom("get_state")})
	reply, _ := me.Receive(ctx)
	fmt.Println(etf.Format(reply.(etf.Tuple)[1]))
	// Output: 1
}

// The term sys:get_state shows for a Go state: its etf.ToTerm form, or a
// placeholder naming its type when it has none.
func ExampleStateTerm() {
	type counter struct {
		Name  string
		Count int
	}
	fmt.Println(etf.Format(distribute.StateTerm(counter{Name: "hits", Count: 3})))
	fmt.Println(etf.Format(distribute.StateTerm(make(chan int))))
	// Output:
	// #{count => 3,name => <<"hits">>}
	// {go_state,<<"chan int">>}
}

// A hidden node (the default for a bare Node) has no visible connection,
// yet knows which of its peers published themselves: those are the nodes
// a pg scope or a global name server talks to. It needs an epmd, so it is
// compiled, not run.
func ExampleNode_PublishedNodes() {
	ctx := context.Background()
	node, err := distribute.Start(ctx, distribute.Config{Name: "watcher@localhost", Cookie: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Stop(ctx)
	node.Connect(ctx, "app@localhost")
	fmt.Println(node.VisibleNodes())   // [] : this node is hidden
	fmt.Println(node.PublishedNodes()) // [app@localhost] when app is a visible node
}
