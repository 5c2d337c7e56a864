package groups_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/groups"
)

// freePort returns a loopback port nobody listens on (for the example's
// private epmd).
func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startExampleNode(ctx context.Context, name string, epmd int) *distribute.Node {
	n, err := distribute.Start(ctx, distribute.Config{
		Name: name, Cookie: "example",
		EpmdPort: epmd, EpmdListen: fmt.Sprintf("127.0.0.1:%d", epmd),
		// Scopes discover only visible peers, as OTP's pg (cluster.Start
		// makes its nodes visible).
		Visibility: distribute.Visible,
	})
	if err != nil {
		panic(err)
	}
	return n
}

// Two nodes share the group workers: a join on one is seen on the other,
// and a broadcast reaches every member.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	epmd := freePort()
	a := startExampleNode(ctx, "exa@localhost", epmd)
	defer a.Stop(context.Background())
	b := startExampleNode(ctx, "exb@localhost", epmd)
	defer b.Stop(context.Background())

	sa, _ := groups.Start(ctx, a, groups.Config{}) // the default scope, pg
	defer sa.Stop(context.Background())
	sb, _ := groups.Start(ctx, b, groups.Config{})
	defer sb.Stop(context.Background())

	// Watch the group on b before anything joins.
	changes := sb.Watch(ctx, etf.Atom("workers"))
	a.Connect(ctx, b.Name())

	w, _ := a.NewProcess()
	defer w.Exit(distribute.ReasonNormal)
	sa.Join(ctx, etf.Atom("workers"), w.Pid())

	c := <-changes
	fmt.Println(c.Kind, c.Group, len(sb.Members(etf.Atom("workers"))))

	res, err := sb.Broadcast(ctx, etf.Atom("workers"), etf.Tuple{etf.Atom("job"), int64(1)})
	fmt.Println(res.Sent, err)
	m, _ := w.Receive(ctx)
	fmt.Println(etf.Format(m))
	// Output:
	// join workers 1
	// 1 <nil>
	// {job,1}
}

// Named scopes are separate: pg:start_link(chat) on Erlang.
func ExampleStart_scope() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := startExampleNode(ctx, "exc@localhost", freePort())
	defer n.Stop(context.Background())
	chat, _ := groups.Start(ctx, n, groups.Config{Scope: "chat"})
	defer chat.Stop(context.Background())
	p, _ := n.NewProcess()
	defer p.Exit(distribute.ReasonNormal)
	chat.Join(ctx, "room 1", p.Pid()) // a Go string is the binary <<"room 1">>
	for _, g := range chat.WhichGroups() {
		fmt.Println(etf.Format(g), len(chat.LocalMembers(g)))
	}
	// Output: <<"room 1">> 1
}
