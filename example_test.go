package distribute_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
)

// Two nodes in one program: one hosts an echo server, the other calls it.
// (ERL_EPMD_PORT or Config.EpmdPort picks the epmd; with none running, the
// first node hosts an embedded one.)
func Example() {
	ctx := context.Background()
	a, err := distribute.Start(ctx, distribute.Config{Name: "example_a@localhost", Cookie: "secret", EpmdPort: 24370, EpmdListen: "127.0.0.1:24370"})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Stop(ctx)
	b, err := distribute.Start(ctx, distribute.Config{Name: "example_b@localhost", Cookie: "secret", EpmdPort: 24370, EpmdListen: "127.0.0.1:24370"})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Stop(ctx)

	echo, _ := a.Spawn(func(ctx context.Context, p *distribute.Process) error {
		for {
			m, err := p.Receive(ctx)
			if err != nil {
				return nil
			}
			if from, req, ok := distribute.ParseCall(m); ok {
				p.Reply(ctx, from, etf.Tuple{etf.Atom("echo"), req})
			}
		}
	})
	a.Register("echo", echo.Pid())

	client, _ := b.NewProcess()
	reply, err := client.CallName(ctx, "echo", a.Name(), etf.Atom("hello"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(etf.Format(reply))
	// Output: {echo,hello}
}

// Monitoring a process: when it exits, the monitor delivers a Down with the
// reason.
func ExampleProcess_Monitor() {
	ctx := context.Background()
	n, err := distribute.Start(ctx, distribute.Config{Name: "example_mon@localhost", Cookie: "secret", ClientOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer n.Stop(ctx)
	worker, _ := n.NewProcess()
	watcher, _ := n.NewProcess()
	watcher.Monitor(ctx, worker.Pid())
	worker.Exit(etf.Atom("done"))
	m, _ := watcher.Receive(ctx)
	fmt.Println(etf.Format(m.(distribute.Down).Reason))
	// Output: done
}

// SpawnMonitor starts a worker that its caller monitors from the start: the
// Down arrives even when the worker exits before SpawnMonitor returns.
func ExampleProcess_SpawnMonitor() {
	ctx := context.Background()
	n, err := distribute.Start(ctx, distribute.Config{Name: "example_spawnmon@localhost", Cookie: "secret", ClientOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer n.Stop(ctx)
	watcher, _ := n.NewProcess()
	_, ref, err := watcher.SpawnMonitor(func(ctx context.Context, p *distribute.Process) error {
		return &distribute.ExitError{Reason: etf.Atom("out_of_work")}
	})
	if err != nil {
		log.Fatal(err)
	}
	m, _ := watcher.Receive(ctx)
	d := m.(distribute.Down)
	fmt.Println(d.Ref == ref, etf.Format(d.Reason))
	// Output: true out_of_work
}

// SpawnLink starts a worker linked to its caller from the start. A caller
// that traps exits gets the worker's exit as an Exit message; one that does
// not would exit with it.
func ExampleProcess_SpawnLink() {
	ctx := context.Background()
	n, err := distribute.Start(ctx, distribute.Config{Name: "example_spawnlink@localhost", Cookie: "secret", ClientOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer n.Stop(ctx)
	parent, _ := n.NewProcess()
	parent.TrapExit(true)
	worker, err := parent.SpawnLink(func(ctx context.Context, p *distribute.Process) error {
		return errors.New("disk full")
	})
	if err != nil {
		log.Fatal(err)
	}
	m, _ := parent.Receive(ctx)
	e := m.(distribute.Exit)
	fmt.Println(e.From == worker.Pid(), etf.Format(e.Reason))
	// Output: true {error,<<"disk full">>}
}

// TryReceive polls the mailbox: it takes a matching message if one is
// queued and never waits, here to drop an Exit that raced with an Unlink.
func ExampleProcess_TryReceive() {
	ctx := context.Background()
	n, err := distribute.Start(ctx, distribute.Config{Name: "example_try@localhost", Cookie: "secret", ClientOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer n.Stop(ctx)
	p, _ := n.NewProcess()
	defer p.Exit(distribute.ReasonNormal)
	p.Send(ctx, p.Pid(), etf.Atom("hello"))
	p.Send(ctx, p.Pid(), distribute.Exit{From: p.Pid(), Reason: distribute.ReasonNormal})

	isExit := func(m any) bool { _, ok := m.(distribute.Exit); return ok }
	_, ok := p.TryReceive(isExit)
	fmt.Println("took an exit:", ok)
	_, ok = p.TryReceive(isExit)
	fmt.Println("took another:", ok)
	m, _ := p.TryReceive(nil)
	fmt.Println("left queued:", m)
	// Output:
	// took an exit: true
	// took another: false
	// left queued: hello
}
