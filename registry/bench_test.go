package registry

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// Benchmarks in a 3-node cluster: a register+unregister pair (each returns
// once every node applied it, so this is register-until-visible-everywhere
// plus its undo) and local lookups, for Go-only, mixed (Go registers in a
// cluster with two Erlang nodes) and Erlang-only (timed inside erl, the
// same loop with global:register_name/unregister_name and whereis_name).

const gbenchErl = `-module(gbench).
-export([reg/1, where/1]).
reg(N) ->
    P = spawn(fun() -> receive stop -> ok end end),
    T0 = erlang:monotonic_time(nanosecond),
    lists:foreach(fun(I) -> yes = global:register_name({b, I}, P), _ = global:unregister_name({b, I}) end, lists:seq(1, N)),
    T1 = erlang:monotonic_time(nanosecond),
    P ! stop,
    (T1 - T0) div N.
where(N) ->
    P = spawn(fun() -> receive stop -> ok end end),
    yes = global:register_name(wb, P),
    T0 = erlang:monotonic_time(nanosecond),
    lists:foreach(fun(_) -> P = global:whereis_name(wb) end, lists:seq(1, N)),
    T1 = erlang:monotonic_time(nanosecond),
    P ! stop,
    (T1 - T0) * 1000 div N.
`

func benchRegister(b *testing.B, s *Server, g *distribute.Node) {
	ctx := testCtx(b)
	p := newProc(b, g)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		name := etf.Binary("b" + strconv.Itoa(i))
		if err := s.Register(ctx, name, p.Pid()); err != nil {
			b.Fatal(err)
		}
		if err := s.Unregister(ctx, name); err != nil {
			b.Fatal(err)
		}
	}
}

func benchWhereis(b *testing.B, s *Server, g *distribute.Node) {
	p := newProc(b, g)
	if err := s.Register(testCtx(b), distribute.Atom("wb"), p.Pid()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if pid, _ := s.Whereis(distribute.Atom("wb")); pid != p.Pid() {
			b.Fatal("lost")
		}
	}
}

func goTrio(b *testing.B) (*distribute.Node, *Server) {
	port := distributetest.StartEpmd(b)
	var first *distribute.Node
	var fs *Server
	for i := range 3 {
		g := startNode(b, port)
		s := startServer(b, g)
		if i == 0 {
			first, fs = g, s
		} else if err := g.Connect(testCtx(b), first.Name()); err != nil {
			b.Fatal(err)
		}
	}
	distributetest.WaitFor(b, "mesh", func() bool { return len(fs.Known()) == 2 })
	syncAll(b, fs)
	return first, fs
}

func mixedTrio(b *testing.B) (*distribute.Node, *Server) {
	e1 := distributetest.StartErlNode(b, distributetest.ErlOptions{})
	e2 := distributetest.StartErlNode(b, distributetest.ErlOptions{EpmdPort: e1.EpmdPort})
	g := startNode(b, e1.EpmdPort)
	s := startServer(b, g)
	for _, e := range []*distributetest.ErlNode{e1, e2} {
		if err := g.Connect(testCtx(b), distribute.Atom(e.Name)); err != nil {
			b.Fatal(err)
		}
	}
	distributetest.WaitFor(b, "mesh", func() bool { return len(s.Known()) == 2 })
	syncAll(b, s)
	return g, s
}

func erlTrio(b *testing.B) *distributetest.ErlNode {
	e1 := distributetest.StartErlNode(b, distributetest.ErlOptions{})
	e1.LoadModule(b, gbenchErl)
	for range 2 {
		e := distributetest.StartErlNode(b, distributetest.ErlOptions{EpmdPort: e1.EpmdPort})
		if got := e.Eval(b, fmt.Sprintf("net_kernel:connect_node(%s)", quoteAtom(distribute.Atom(e1.Name)))); got != "true" {
			b.Fatal(got)
		}
	}
	e1.Eval(b, "global:sync()")
	return e1
}

func BenchmarkRegister(b *testing.B) {
	b.Run("go3", func(b *testing.B) { g, s := goTrio(b); benchRegister(b, s, g) })
	b.Run("mixed", func(b *testing.B) { g, s := mixedTrio(b); benchRegister(b, s, g) })
	b.Run("erlang3", func(b *testing.B) {
		e := erlTrio(b)
		b.ResetTimer()
		ns, err := strconv.ParseInt(e.Eval(b, fmt.Sprintf("gbench:reg(%d)", max(b.N, 1))), 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(ns), "erl-ns/op")
	})
}

func BenchmarkWhereis(b *testing.B) {
	b.Run("go3", func(b *testing.B) { g, s := goTrio(b); benchWhereis(b, s, g) })
	b.Run("erlang3", func(b *testing.B) {
		e := erlTrio(b)
		b.ResetTimer()
		ps, err := strconv.ParseInt(e.Eval(b, fmt.Sprintf("gbench:where(%d)", max(b.N, 1))), 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(ps)/1000, "erl-ns/op")
	})
}
