package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// gtestErl is loaded on the Erlang nodes.
const gtestErl = `-module(gtest).
-export([idle/0, reg/1, reg/2, kill/1, where/3, where_node/1, trans/0, spawn_idle/0]).

idle() -> receive stop -> ok end.

spawn_idle() -> spawn(fun idle/0).

reg(Name) -> reg(Name, fun global:random_exit_name/3).
reg(Name, Method) ->
    P = spawn(fun idle/0),
    global:register_name(Name, P, Method).

kill(Name) ->
    case global:whereis_name(Name) of
        undefined -> undefined;
        P -> exit(P, kill), ok
    end.

where(Name, To, ToNode) ->
    {To, ToNode} ! {where, node(), Name, global:whereis_name(Name)}, ok.

where_node(Name) ->
    case global:whereis_name(Name) of
        undefined -> undefined;
        P -> node(P)
    end.

trans() -> global:trans({gtest_res, self()}, fun() -> done end).
`

// startErl starts a visible erl node with gtest loaded.
func startErl(t *testing.T, epmdPort int, args ...string) *distributetest.ErlNode {
	t.Helper()
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{EpmdPort: epmdPort, Args: args})
	erl.LoadModule(t, gtestErl)
	return erl
}

// erlWhere asks erl for global:whereis_name(name), sent to a Go process so
// the pid arrives exactly.
func erlWhere(t *testing.T, erl *distributetest.ErlNode, p *distribute.Process, name string) (distribute.Pid, bool) {
	t.Helper()
	pname := fmt.Sprintf("wq%d", nodeSeq.Add(1))
	if err := p.Node().Register(distribute.Atom(pname), p.Pid()); err != nil {
		t.Fatal(err)
	}
	defer p.Node().Unregister(distribute.Atom(pname))
	if got := erl.Eval(t, fmt.Sprintf("gtest:where(%s, %s, %s)", name, pname, quoteAtom(p.Node().Name()))); got != "ok" {
		t.Fatalf("gtest:where: %s", got)
	}
	m, err := p.ReceiveMatch(testCtx(t), func(m any) bool {
		tu, ok := m.(etf.Tuple)
		return ok && len(tu) == 4 && tu[0] == distribute.Atom("where") && tu[1] == distribute.Atom(erl.Name)
	})
	if err != nil {
		t.Fatal(err)
	}
	pid, ok := m.(etf.Tuple)[3].(distribute.Pid)
	return pid, ok
}

func erlSync(t *testing.T, erls ...*distributetest.ErlNode) {
	t.Helper()
	for _, e := range erls {
		if got := e.Eval(t, "global:sync()"); got != "ok" {
			t.Fatalf("global:sync() on %s: %s", e.Name, got)
		}
	}
}

func TestErlangPair(t *testing.T) {
	erl := startErl(t, 0)
	g := startNode(t, erl.EpmdPort)
	s := startServer(t, g)
	ctx := testCtx(t)
	if err := g.Connect(ctx, distribute.Atom(erl.Name)); err != nil {
		t.Fatal(err)
	}
	erlSync(t, erl)
	syncAll(t, s)
	if got := erl.Eval(t, "lists:sort(global:registered_names())"); got != "[]" {
		t.Fatalf("erl names: %s", got)
	}

	// Go registers: Erlang sees the Go pid.
	p := newProc(t, g)
	if err := s.Register(ctx, distribute.Atom("gname"), p.Pid()); err != nil {
		t.Fatal(err)
	}
	q := newProc(t, g)
	if pid, ok := erlWhere(t, erl, q, "gname"); !ok || pid != p.Pid() {
		t.Fatalf("erl whereis gname = %v, want %v", pid, p.Pid())
	}
	if err := s.Register(ctx, distribute.Atom("gname"), q.Pid()); err == nil {
		t.Fatal("second Register of gname succeeded")
	}
	// Erlang registers: Go sees it.
	if got := erl.Eval(t, "gtest:reg(ename)"); got != "yes" {
		t.Fatalf("erl register: %s", got)
	}
	epid, ok := s.Whereis(distribute.Atom("ename"))
	if !ok || string(epid.Node) != erl.Name {
		t.Fatalf("Whereis ename = %v %v", epid, ok)
	}
	if pid, _ := erlWhere(t, erl, q, "ename"); pid != epid {
		t.Fatalf("erl and go disagree on ename: %v vs %v", pid, epid)
	}
	// trans with the default node list, from Erlang.
	if got := erl.Eval(t, "gtest:trans()"); got != "done" {
		t.Fatalf("global:trans: %s", got)
	}
	// Trans from Go.
	ran := false
	if err := s.Trans(ctx, q, LockID{Resource: distribute.Atom("r1"), Requester: q.Pid()}, func() error { ran = true; return nil }, nil, Infinity); err != nil || !ran {
		t.Fatalf("Trans: %v ran=%v", err, ran)
	}
	// A Go process exit removes its name everywhere.
	p.Exit(distribute.ReasonNormal)
	distributetest.WaitFor(t, "gname gone on go", func() bool { _, ok := s.Whereis(distribute.Atom("gname")); return !ok })
	distributetest.WaitFor(t, "gname gone on erl", func() bool { return erl.Eval(t, "gtest:where_node(gname)") == "undefined" })
	// An Erlang process killed: gone on Go.
	if got := erl.Eval(t, "gtest:kill(ename)"); got != "ok" {
		t.Fatalf("kill: %s", got)
	}
	distributetest.WaitFor(t, "ename gone on go", func() bool { _, ok := s.Whereis(distribute.Atom("ename")); return !ok })
	// Unregister from Go of an Erlang-registered name.
	erl.Eval(t, "gtest:reg(e2)")
	distributetest.WaitFor(t, "e2 on go", func() bool { _, ok := s.Whereis(distribute.Atom("e2")); return ok })
	if err := s.Unregister(ctx, distribute.Atom("e2")); err != nil {
		t.Fatal(err)
	}
	if got := erl.Eval(t, "gtest:where_node(e2)"); got != "undefined" {
		t.Fatalf("e2 after Unregister: %s", got)
	}
	// So is a tuple name (Erlang registers any term; Go registers atoms and
	// binaries): Whereis finds it and Unregister removes it.
	erl.Eval(t, "gtest:reg({via_erl, 1})")
	tname := etf.Tuple{distribute.Atom("via_erl"), int64(1)}
	distributetest.WaitFor(t, "{via_erl, 1} on go", func() bool { _, ok := s.Whereis(tname); return ok })
	if err := s.Unregister(ctx, tname); err != nil {
		t.Fatalf("Unregister {via_erl, 1}: %v", err)
	}
	if _, ok := s.Whereis(tname); ok {
		t.Fatal("{via_erl, 1} still registered on Go after Unregister")
	}
	if got := erl.Eval(t, "gtest:where_node({via_erl, 1})"); got != "undefined" {
		t.Fatalf("{via_erl, 1} after Unregister: %s", got)
	}
	// A name nobody registered, of any shape, is ErrNotRegistered.
	if err := s.Unregister(ctx, etf.Tuple{distribute.Atom("never"), int64(2)}); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("Unregister of an unknown tuple name: %v; want ErrNotRegistered", err)
	}
	erlSync(t, erl)
	_ = strings.TrimSpace
	_ = context.Background
}
