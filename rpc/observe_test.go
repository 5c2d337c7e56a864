package rpc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/rpc"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// registerSeenID exports rpctest:cid/0, which returns the correlation id
// of its ctx (none without one).
func registerSeenID(t *testing.T, s *rpc.Server) {
	t.Helper()
	err := s.Register("rpctest", "cid", 0, func(ctx context.Context, _ []etf.Term) (etf.Term, error) {
		if id, ok := distribute.CorrelationID(ctx); ok {
			return etf.Binary(id), nil
		}
		return etf.Atom("none"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCorrelationIDGoToGo(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a, b := startNode(t, port), startNode(t, port)
	registerSeenID(t, serve(t, b, nil))
	registerSeenID(t, serve(t, a, nil))
	ctx := testCtx(t)
	idCtx := distribute.WithCorrelationID(ctx, "rpc-1")
	for _, node := range []*distribute.Node{b, a} { // remote, then local
		v, err := client(a).Call(idCtx, node.Name(), "rpctest", "cid")
		if err != nil || etf.Format(v) != `<<"rpc-1">>` {
			t.Errorf("cid on %s with an id = %v, %v; want <<\"rpc-1\">>", node.Name(), v, err)
		}
		v, err = client(a).Call(ctx, node.Name(), "rpctest", "cid")
		if err != nil || v != etf.Atom("none") {
			t.Errorf("cid on %s without an id = %v, %v; want none", node.Name(), v, err)
		}
	}
	// Exceptions are still told apart with an id in the ResRef.
	if _, err := client(a).Call(idCtx, b.Name(), "rpctest", "throw_it", tup); !errors.Is(err, rpc.ErrRaised) {
		t.Errorf("throw_it with an id: %v; want ErrRaised", err)
	}
}

// An Erlang node runs erpc:execute_call/4 with the id in its ResRef: the
// result, exceptions included, still comes back.
func TestCorrelationIDGoToErlang(t *testing.T) {
	erl, g := erlPair(t, nil)
	en := etf.Atom(erl.Name)
	ctx := distribute.WithCorrelationID(testCtx(t), "to-erl")
	v, err := client(g).Call(ctx, en, "erlang", "node")
	if err != nil || v != en {
		t.Fatalf("erlang:node() = %v, %v; want %s", v, err, en)
	}
	for _, c := range []struct {
		f  etf.Atom
		is error
	}{{"throw_it", rpc.ErrRaised}, {"error_it", rpc.ErrRaised}, {"badarg_it", rpc.ErrBadArg}, {"nofun", rpc.ErrUndef}} {
		if _, err := client(g).Call(ctx, en, "rpctest", c.f, tup); !errors.Is(err, c.is) {
			t.Errorf("%s with an id: %v; want %v", c.f, err, c.is)
		}
	}
}

func TestRPCMetrics(t *testing.T) {
	port := distributetest.StartEpmd(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	ctx0, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
	defer cancel()
	a, err := distribute.Start(ctx0, distribute.Config{Name: "rpcmetrics@localhost", Cookie: cookie, EpmdPort: port, MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop(context.Background()) })
	b, bare := startNode(t, port), startNode(t, port)
	serve(t, b, nil)
	ctx := testCtx(t)

	for range 2 {
		if _, err := client(a).Call(ctx, b.Name(), "rpctest", "echo", tup); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client(a).Call(ctx, b.Name(), "rpctest", "throw_it", tup); !errors.Is(err, rpc.ErrRaised) {
		t.Fatalf("throw_it: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = client(a).Call(short, b.Name(), "rpctest", "sleep", int64(5000))
	cancel()
	if !errors.Is(err, distribute.ErrTimeout) {
		t.Fatalf("sleep: %v; want a timeout", err)
	}
	if _, err := client(a).Call(ctx, bare.Name(), "rpctest", "echo", tup); !errors.Is(err, rpc.ErrNotSup) {
		t.Fatalf("call to a node without a server: %v; want ErrNotSup", err)
	}
	if _, err := client(a).Call(ctx, "nobody@localhost", "rpctest", "echo", tup); !errors.Is(err, distribute.ErrNodeDown) {
		t.Fatalf("call to no node: %v; want ErrNodeDown", err)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	found := false
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "distribute.rpc.duration" {
				continue
			}
			found = true
			if m.Unit != "s" || sm.Scope.Name != "github.com/distribute-go/distribute/rpc" {
				t.Errorf("unit %q, scope %q", m.Unit, sm.Scope.Name)
			}
			h := m.Data.(metricdata.Histogram[float64])
			for _, p := range h.DataPoints {
				o, _ := p.Attributes.Value("outcome")
				counts[o.AsString()] = p.Count
			}
		}
	}
	if !found {
		t.Fatal("no distribute.rpc.duration")
	}
	want := map[string]uint64{"ok": 2, "raised": 1, "timeout": 1, "notsup": 1, "nodedown": 1}
	for o, n := range want {
		if counts[o] != n {
			t.Errorf("outcome %s: %d calls; want %d (all: %v)", o, counts[o], n, counts)
		}
	}
}
