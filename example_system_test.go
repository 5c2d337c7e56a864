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
