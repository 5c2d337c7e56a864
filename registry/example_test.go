package registry_test

import (
	"context"
	"fmt"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/registry"
)

// A visible node runs the global name server; a name registered here is
// seen by global:whereis_name/1 on every Erlang node of the cluster.
func Example() {
	ctx := context.Background()
	node, err := distribute.Start(ctx, distribute.Config{
		Name: "app@localhost", Cookie: "secret", Visibility: distribute.Visible,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Stop(ctx)
	s, err := registry.Start(ctx, node, registry.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Stop(ctx)

	p, _ := node.NewProcess()
	defer p.Exit(distribute.ReasonNormal)
	if err := s.Register(ctx, distribute.Atom("db"), p.Pid()); err != nil {
		fmt.Println(err)
		return
	}
	pid, ok := s.Whereis(distribute.Atom("db"))
	fmt.Println(ok, pid == p.Pid())
}
