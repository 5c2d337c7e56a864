package registry_test

import (
	"context"
	"fmt"
	"log"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/registry"
)

// README "Global registry": a typed actor registered cluster-wide (Erlang's
// global:whereis_name(counter) sees it on every visible node), then looked
// up as a typed subject.
func Example_readme() {
	ctx := context.Background()
	node, err := distribute.Start(ctx, distribute.Config{
		Name: "readme_global@localhost", Cookie: "secret", ClientOnly: true,
		Visibility: distribute.Visible, // global runs between visible nodes
	})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Stop(ctx)
	reg, err := registry.Start(ctx, node, registry.Config{}) // node must be Visible (cluster.Start does it)
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Stop(ctx)

	counter := &distribute.Actor[int64, int64, int64]{
		Msg: codec.Int, Reply: codec.Int,
		HandleCall: func(ctx context.Context, self *distribute.Process, total, n int64) (int64, int64, error) {
			return total + n, total + n, nil
		},
	}
	h, _ := counter.Start(ctx, node)
	if err := registry.RegisterTyped(ctx, reg, etf.Atom("counter"), h.Subject()); err != nil {
		log.Fatal(err)
	}
	c, ok := registry.Lookup(reg, etf.Atom("counter"), codec.Int)
	me, _ := node.NewProcess()
	total, err := distribute.Call(ctx, me, c, 5, codec.Int)
	fmt.Println(ok, total, err)
	// Output: true 5 <nil>
}
