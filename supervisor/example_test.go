package supervisor_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/supervisor"
)

// The README's "Supervisors": a supervisor restarts a crashed child.
func Example() {
	ctx := context.Background()
	node, err := distribute.Start(ctx, distribute.Config{Name: "readme_sup@localhost", Cookie: "secret", ClientOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Stop(ctx)

	sup, err := supervisor.Start(ctx, node, supervisor.Spec{
		Strategy: supervisor.OneForOne,
		Children: []supervisor.ChildSpec{
			supervisor.ProcessChild("worker", func(ctx context.Context, p *distribute.Process) error {
				<-ctx.Done() // work until stopped
				return nil
			}),
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sup.Stop(ctx)
	children, _ := sup.Children(ctx)
	fmt.Println(len(children), children[0].ID)
	// Output: 1 worker
}

// A supervisor restarts a crashed child; too many restarts in the period
// stop it, with a reason its monitors see.
func ExampleStart() {
	n, err := distribute.Start(context.Background(), distribute.Config{Name: "example_sup@localhost", Cookie: "secret", ClientOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer n.Stop(context.Background())
	ctx := context.Background()
	starts := make(chan string, 16)
	worker := func(id string) supervisor.ChildSpec {
		return supervisor.ActorChild(id, &distribute.Actor[struct{}, string, string]{
			Msg: codec.String,
			Init: func(ctx context.Context, self *distribute.Process) (struct{}, error) {
				starts <- id
				return struct{}{}, nil
			},
			HandleMessage: func(ctx context.Context, self *distribute.Process, s struct{}, m string) (struct{}, error) {
				return s, errors.New(m) // any message crashes it
			},
		})
	}
	sup, err := supervisor.Start(ctx, n, supervisor.Spec{
		Strategy:    supervisor.OneForOne,
		MaxRestarts: 1,
		Period:      time.Minute,
		Children:    []supervisor.ChildSpec{worker("db"), worker("web")},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("started:", <-starts, <-starts)

	me, _ := n.NewProcess()
	ref, _ := me.Monitor(ctx, sup.Pid())
	crash := func(id string) {
		children, _ := sup.Children(ctx)
		i := slices.IndexFunc(children, func(c supervisor.ChildInfo) bool { return c.ID == id })
		distribute.NewSubject(children[i].Pid, codec.String).Send(ctx, me, "boom")
	}
	crash("web")
	fmt.Println("restarted:", <-starts)
	crash("web") // the second restart within a minute is one too many
	m, _ := me.ReceiveMatch(ctx, func(m any) bool { d, ok := m.(distribute.Down); return ok && d.Ref == ref })
	fmt.Println("supervisor down:", etf.Format(m.(distribute.Down).Reason))
	// Output:
	// started: db web
	// restarted: web
	// supervisor down: {shutdown,reached_max_restart_intensity}
}
