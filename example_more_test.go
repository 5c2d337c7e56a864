package distribute_test

// The snippets of README.md, compiled (and run where they are deterministic
// and need no network) so that the README cannot drift from the API.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log"
	"os"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/etf"
)

// README "Quick start": an echo gen_server registered as echo. It needs an
// epmd (or hosts one on 4369), so it is compiled, not run.
func Example_readmeQuickStart() {
	ctx := context.Background()
	node, err := distribute.Start(ctx, distribute.Config{Name: "app@localhost", Cookie: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Stop(ctx)

	// An echo gen_server, registered as `echo`.
	p, _ := node.Spawn(func(ctx context.Context, p *distribute.Process) error {
		for {
			m, err := p.Receive(ctx)
			if err != nil {
				return err
			}
			if from, req, ok := distribute.ParseCall(m); ok {
				p.Reply(ctx, from, req)
			}
		}
	})
	node.Register("echo", p.Pid())
}

// README "Processes, links and monitors": a watcher learns why a worker
// exited.
func Example_readmeMonitor() {
	ctx := context.Background()
	node, err := distribute.Start(ctx, distribute.Config{Name: "readme_mon@localhost", Cookie: "secret", ClientOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Stop(ctx)

	watcher, _ := node.NewProcess()
	// Monitored from the start: the Down comes however soon the worker exits.
	watcher.SpawnMonitor(func(ctx context.Context, p *distribute.Process) error {
		return &distribute.ExitError{Reason: etf.Atom("out_of_work")}
	})
	m, _ := watcher.Receive(ctx)
	fmt.Println(etf.Format(m.(distribute.Down).Reason))
	// Output: out_of_work
}

// README "Typed messages and actors": a counter actor answers typed calls.
func Example_readmeActor() {
	ctx := context.Background()
	node, err := distribute.Start(ctx, distribute.Config{Name: "readme_actor@localhost", Cookie: "secret", ClientOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Stop(ctx)

	counter := &distribute.Actor[int64, int64, int64]{
		Name: "counter", Msg: codec.Int, Reply: codec.Int,
		HandleCall: func(ctx context.Context, self *distribute.Process, total, n int64) (int64, int64, error) {
			return total + n, total + n, nil // the reply, the new state
		},
	}
	if _, err := counter.Start(ctx, node); err != nil {
		log.Fatal(err)
	}
	me, _ := node.NewProcess()
	c := distribute.NamedSubject("counter", node.Name(), codec.Int) // {counter, Node}
	distribute.Call(ctx, me, c, 40, codec.Int)
	total, err := distribute.Call(ctx, me, c, 2, codec.Int)
	fmt.Println(total, err)
	// Output: 42 <nil>
}

// README "TLS": the distribution over TLS with mutual authentication, as
// Erlang's inet_tls_dist (files as the CLI's --tls-cert, --tls-key,
// --tls-ca take them). Compiled, not run.
func Example_readmeTLS() {
	cert, err := tls.LoadX509KeyPair("node.pem", "node.key")
	if err != nil {
		log.Fatal(err)
	}
	caPEM, err := os.ReadFile("ca.pem")
	if err != nil {
		log.Fatal(err)
	}
	cas := x509.NewCertPool()
	cas.AppendCertsFromPEM(caPEM)
	node, err := distribute.Start(context.Background(), distribute.Config{
		Name: "app@host1.example", Cookie: "secret",
		TLS: &tls.Config{
			Certificates: []tls.Certificate{cert},
			RootCAs:      cas,                            // dialled peers must be signed by ca.pem
			ClientCAs:    cas,                            // accepted peers too (mTLS)
			ClientAuth:   tls.RequireAndVerifyClientCert, // mTLS
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Stop(context.Background())
}
