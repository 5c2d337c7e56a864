package rpc_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// warmCalls is the calls made before a measurement, as bench/erlang warms
// up its own (2,000).
const warmCalls = 2000

// Sequential calls of a function returning its argument; Erlang's
// erpc:call between two erl nodes is measured beside it by bench/erlang
// (BenchmarkErlangCallErpc; run both with scripts/bench.sh).
func benchCalls(b *testing.B, local *distribute.Node, node etf.Atom) {
	ctx := context.Background()
	c := client(local) // one client, kept, as a user keeps one
	for range warmCalls {
		if _, err := c.Call(ctx, node, "rpctest", "echo", int64(1)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, err := c.Call(ctx, node, "rpctest", "echo", int64(i))
		if err != nil || v != int64(i) {
			b.Fatalf("echo(%d) = %v, %v", i, v, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// Go to Go, two nodes in one OS process.
func BenchmarkCallGoToGo(b *testing.B) {
	port := distributetest.StartEpmd(b)
	a, s := startNode(b, port), startNode(b, port)
	serve(b, s, nil)
	benchCalls(b, a, s.Name())
}

// Go to Go across OS processes (the server is a child process), the
// setting of Erlang's number.
func BenchmarkCallGoToGoProcesses(b *testing.B) {
	port := distributetest.StartEpmd(b)
	child := startChild(b, port)
	benchCalls(b, startNode(b, port), child)
}

// Go to an erl node (erpc:execute_call/4 on BEAM).
func BenchmarkCallGoToErlang(b *testing.B) {
	erl := distributetest.StartErlNode(b, distributetest.ErlOptions{})
	src, err := os.ReadFile("testdata/rpctest.erl")
	if err != nil {
		b.Fatal(err)
	}
	erl.LoadModule(b, string(src))
	g := startNode(b, erl.EpmdPort)
	benchCalls(b, g, etf.Atom(erl.Name))
}

// erpc:call from an erl node to a Go node, timed by Erlang.
func BenchmarkErlangCallsGo(b *testing.B) {
	erl := distributetest.StartErlNode(b, distributetest.ErlOptions{})
	g := startNode(b, erl.EpmdPort)
	serve(b, g, nil)
	n := b.N
	if n < 1000 {
		n = 1000
	}
	b.ResetTimer()
	out := erl.Eval(b, fmt.Sprintf(`begin N = '%s', [erpc:call(N, rpctest, echo, [1]) || _ <- lists:seq(1, %d)], L = lists:seq(1, %d), {T, _} = timer:tc(fun() -> lists:foreach(fun(I) -> I = erpc:call(N, rpctest, echo, [I]) end, L) end), T end`, g.Name(), warmCalls, n))
	b.StopTimer()
	us, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
	if err != nil {
		b.Fatalf("erl said %q", out)
	}
	b.ReportMetric(float64(n)/(us/1e6), "calls/s")
}

// The reference: erpc:call between two erl nodes on this machine, now,
// timed by Erlang (erlang:node/0 on the remote node, as bench/erlang's
// BenchmarkErlangCallErpc calls it).
func BenchmarkErlangCallsErlang(b *testing.B) {
	e1 := distributetest.StartErlNode(b, distributetest.ErlOptions{})
	e2 := distributetest.StartErlNode(b, distributetest.ErlOptions{EpmdPort: e1.EpmdPort})
	n := b.N
	if n < 1000 {
		n = 1000
	}
	b.ResetTimer()
	out := e1.Eval(b, fmt.Sprintf(`begin N = '%s', [erpc:call(N, erlang, node, []) || _ <- lists:seq(1, %d)], L = lists:seq(1, %d), {T, _} = timer:tc(fun() -> lists:foreach(fun(_) -> N = erpc:call(N, erlang, node, []) end, L) end), T end`, e2.Name, warmCalls, n))
	b.StopTimer()
	us, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
	if err != nil {
		b.Fatalf("erl said %q", out)
	}
	b.ReportMetric(float64(n)/(us/1e6), "calls/s")
}
