package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/distributetest/gonode"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/rpc"
	"go.uber.org/goleak"
)

// memberlist probes in flight end on their own after Shutdown.
func TestMain(m *testing.M) { goleak.VerifyTestMain(gonode.Settled(m)) }

func startCluster(t *testing.T, epmdPort int, name string) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
	defer cancel()
	c, err := Start(ctx, Config{Node: distribute.Config{Name: name, Cookie: "distributetest", EpmdPort: epmdPort}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	return c
}

func TestExportsFromErlang(t *testing.T) {
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{})
	c := startCluster(t, erl.EpmdPort, "clus1@localhost")
	n := c.Node()
	p, _ := n.NewProcess()
	n.Register("worker", p.Pid())
	ctx := context.Background()
	if err := c.Groups().Join(ctx, etf.Atom("workers"), p.Pid()); err != nil {
		t.Fatal(err)
	}
	got := erl.Eval(t, fmt.Sprintf("rpc:call('%s', distribute, info, [])", n.Name()))
	for _, want := range []string{"name => clus1@localhost", "hidden => false", fmt.Sprintf(`gossip => <<"%s">>`, c.Membership().GossipAddr()), fmt.Sprintf("creation => %d", n.Creation())} {
		if !strings.Contains(got, want) {
			t.Errorf("distribute:info() = %s; want it to contain %s", got, want)
		}
	}
	if got := erl.Eval(t, fmt.Sprintf("rpc:call('%s', distribute, registered, [])", n.Name())); !strings.Contains(got, "worker") || !strings.Contains(got, "rex") {
		t.Errorf("distribute:registered() = %s", got)
	}
	if got := erl.Eval(t, fmt.Sprintf("[{G, length(Ps)} || {G, Ps} <- rpc:call('%s', distribute, groups, [])]", n.Name())); got != "[{workers,1}]" {
		t.Errorf("distribute:groups() = %s", got)
	}
	if got := erl.Eval(t, fmt.Sprintf("rpc:call('%s', erlang, node, [])", n.Name())); got != string(n.Name()) {
		t.Errorf("erlang:node() = %s", got)
	}
	// From Go, through the same protocol.
	other := startCluster(t, erl.EpmdPort, "clus2@localhost")
	info, err := rpc.NewClient(other.Node()).Call(ctx, n.Name(), "distribute", "info")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := info.(etf.Map).Get(etf.Atom("name")); v != n.Name() {
		t.Fatalf("info name = %v", v)
	}
}

func TestJoinByNodeName(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := startCluster(t, port, "join1@localhost")
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(20*time.Second))
	defer cancel()
	b, err := Start(ctx, Config{
		Node: distribute.Config{Name: "join2@localhost", Cookie: "distributetest", EpmdPort: port},
		Join: []distribute.Atom{"join1@localhost"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop(context.Background())
	// Both tables list both members alive; distribute:members() says so.
	for {
		got, err := rpc.NewClient(b.Node()).Call(ctx, a.Node().Name(), "distribute", "members")
		if err == nil && strings.Contains(etf.Format(got), "{join2@localhost,alive,") && strings.Contains(etf.Format(got), "{join1@localhost,alive,") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("distribute:members() on join1 = %v, %v", etf.Format(got), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Every service a Cluster starts logs through the node's logger: junk
// sent to the pg scope is logged there, not on slog's default logger.
func TestServicesLogThroughNodeLogger(t *testing.T) {
	epmd := distributetest.StartEpmd(t)
	var buf distributetest.LogBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
	defer cancel()
	c, err := Start(ctx, Config{NoMembership: true, Node: distribute.Config{Name: "logs@localhost", Cookie: "distributetest", EpmdPort: epmd, Logger: logger}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	p, err := c.Node().NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SendName(ctx, "pg", "", etf.Tuple{etf.Atom("junk_for_the_scope"), int64(1)}); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(buf.String(), "junk_for_the_scope") {
		select {
		case <-ctx.Done():
			t.Fatalf("the pg scope's log line never reached the node's logger; it has:\n%s", buf.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
