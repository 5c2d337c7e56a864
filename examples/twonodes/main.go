// Command twonodes runs two Go nodes in one program: one hosts a counter
// gen_server registered as "counter", the other calls it and monitors it.
//
//	go run ./examples/twonodes
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
)

func main() {
	ctx := context.Background()
	// With no epmd on the port, the first node hosts an embedded one.
	cfg := func(name string) distribute.Config {
		return distribute.Config{Name: name, Cookie: "example", EpmdPort: 24371, EpmdListen: "127.0.0.1:24371"}
	}
	a, err := distribute.Start(ctx, cfg("counter@localhost"))
	if err != nil {
		log.Fatal(err)
	}
	defer a.Stop(ctx)
	b, err := distribute.Start(ctx, cfg("client@localhost"))
	if err != nil {
		log.Fatal(err)
	}
	defer b.Stop(ctx)

	// The counter: state lives in the handler closure; no goroutine while idle.
	count := int64(0)
	counter, _ := a.SpawnHandler(func(ctx context.Context, p *distribute.Process, m any) error {
		from, req, ok := distribute.ParseCall(m)
		if !ok {
			return nil
		}
		switch req {
		case etf.Atom("incr"):
			count++
			return p.Reply(ctx, from, count)
		case etf.Atom("stop"):
			p.Reply(ctx, from, etf.Atom("ok"))
			return &distribute.ExitError{Reason: etf.Atom("stopped")}
		}
		return p.Reply(ctx, from, etf.Tuple{etf.Atom("error"), etf.Atom("unknown")})
	})
	a.Register("counter", counter.Pid())

	client, _ := b.NewProcess()
	ref, _ := client.MonitorName(ctx, "counter", a.Name())
	for i := 0; i < 3; i++ {
		n, err := client.CallName(ctx, "counter", a.Name(), etf.Atom("incr"))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("counter is", n)
	}
	client.CallName(ctx, "counter", a.Name(), etf.Atom("stop"))
	m, _ := client.ReceiveMatch(ctx, func(m any) bool { d, ok := m.(distribute.Down); return ok && d.Ref == ref })
	fmt.Println("counter exited:", etf.Format(m.(distribute.Down).Reason))
}
