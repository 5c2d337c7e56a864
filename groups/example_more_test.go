package groups_test

import (
	"context"
	"fmt"
	"log"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/groups"
)

// README "Process groups": the scope pg, the one pg:join/2 and
// pg:get_members/1 use on BEAM nodes; a broadcast reaches every member on
// every connected node.
func Example_readme() {
	ctx := context.Background()
	node, err := distribute.Start(ctx, distribute.Config{Name: "readme_pg@localhost", Cookie: "secret", ClientOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Stop(ctx)

	scope, err := groups.Start(ctx, node, groups.Config{}) // scope pg
	if err != nil {
		log.Fatal(err)
	}
	defer scope.Stop(ctx)
	worker, _ := node.NewProcess()
	scope.Join(ctx, etf.Atom("workers"), worker.Pid())
	res, err := scope.Broadcast(ctx, etf.Atom("workers"), etf.Tuple{etf.Atom("job"), int64(7)})
	fmt.Println(res.Sent, err)
	m, _ := worker.Receive(ctx)
	fmt.Println(etf.Format(m))
	// Output:
	// 1 <nil>
	// {job,7}
}
