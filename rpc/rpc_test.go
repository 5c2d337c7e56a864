package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/distributetest/gonode"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/rpc"
)

func TestMain(m *testing.M) {
	if name := os.Getenv("RPC_TEST_CHILD"); name != "" {
		port, _ := strconv.Atoi(os.Getenv("RPC_TEST_EPMD"))
		runChild(name, port)
		return
	}
	distributetest.VerifyTestMain(m)
}

var nodeSeq atomic.Int64

// servers maps test nodes to the Server serve started.
var servers sync.Map

const cookie = "distributetest"

func startNode(t testing.TB, epmdPort int) *distribute.Node {
	t.Helper()
	return gonode.Start(t, epmdPort, "rpc")
}

func testCtx(t testing.TB) context.Context {
	return distributetest.Context(t, 30*time.Second)
}

// notes receives what rpctest:note/1 was called with.
type notes chan etf.Term

// exportTestFuncs registers the Go twins of testdata/rpctest.erl and a
// few Go-only functions.
func exportTestFuncs(t testing.TB, s *rpc.Server, got notes) {
	t.Helper()
	reg := func(f etf.Atom, arity int, h rpc.Handler) {
		if err := s.Register("rpctest", f, arity, h); err != nil {
			t.Fatal(err)
		}
	}
	reg("echo", 1, func(_ context.Context, a []etf.Term) (etf.Term, error) { return a[0], nil })
	reg("throw_it", 1, func(_ context.Context, a []etf.Term) (etf.Term, error) { return nil, rpc.Throw(a[0]) })
	reg("exit_it", 1, func(_ context.Context, a []etf.Term) (etf.Term, error) { return nil, rpc.Exit(a[0]) })
	reg("error_it", 1, func(_ context.Context, a []etf.Term) (etf.Term, error) { return nil, rpc.Raise(a[0]) })
	reg("badarg_it", 1, func(_ context.Context, a []etf.Term) (etf.Term, error) { return nil, rpc.ErrBadArg })
	reg("panic_it", 0, func(_ context.Context, a []etf.Term) (etf.Term, error) { panic("boom") })
	reg("plain_error", 0, func(_ context.Context, a []etf.Term) (etf.Term, error) { return nil, errors.New("disk full") })
	reg("add", 2, func(_ context.Context, a []etf.Term) (etf.Term, error) {
		x, ok1 := a[0].(int64)
		y, ok2 := a[1].(int64)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("add wants integers: %w", rpc.ErrBadArg)
		}
		return x + y, nil
	})
	reg("sleep", 1, func(ctx context.Context, a []etf.Term) (etf.Term, error) {
		ms, _ := a[0].(int64)
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			return etf.Atom("slept"), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	reg("note", 1, func(_ context.Context, a []etf.Term) (etf.Term, error) {
		if got != nil {
			got <- a[0]
		}
		return etf.Atom("ok"), nil
	})
}

func serve(t testing.TB, n *distribute.Node, got notes) *rpc.Server {
	t.Helper()
	s, err := rpc.Start(testCtx(t), n, rpc.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		servers.Delete(n)
		s.Stop(context.Background())
	})
	servers.Store(n, s)
	exportTestFuncs(t, s, got)
	return s
}

var tup = etf.Tuple{etf.Atom("a"), int64(1)}

func TestGoToGoCall(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a, b := startNode(t, port), startNode(t, port)
	serve(t, b, nil)
	ctx := testCtx(t)

	v, err := client(a).Call(ctx, b.Name(), "rpctest", "add", int64(2), int64(40))
	if err != nil || v != int64(42) {
		t.Fatalf("add(2, 40) = %v, %v; want 42", v, err)
	}
	v, err = client(a).Call(ctx, b.Name(), "rpctest", "echo", tup)
	if err != nil || !etf.Equal(v, tup) {
		t.Fatalf("echo = %v, %v", v, err)
	}

	cases := []struct {
		fn    etf.Atom
		args  []etf.Term
		class rpc.Class
		exc   string // what erpc:call raises
		is    error
	}{
		{"throw_it", []etf.Term{tup}, rpc.ClassThrow, "{a,1}", rpc.ErrRaised},
		{"exit_it", []etf.Term{tup}, rpc.ClassExit, "{exception,{a,1}}", rpc.ErrRaised},
		{"error_it", []etf.Term{tup}, rpc.ClassError, "{exception,{a,1},[{rpctest,error_it,1,[]}]}", rpc.ErrRaised},
		{"badarg_it", []etf.Term{tup}, rpc.ClassError, "{exception,badarg,[{rpctest,badarg_it,[{a,1}],[]}]}", rpc.ErrBadArg},
		{"add", []etf.Term{int64(1), etf.Atom("x")}, rpc.ClassError, "{exception,badarg,[{rpctest,add,[1,x],[]}]}", rpc.ErrBadArg},
		{"add", []etf.Term{int64(1)}, rpc.ClassError, "{exception,undef,[{rpctest,add,[1],[]}]}", rpc.ErrUndef},
		{"nofun", []etf.Term{}, rpc.ClassError, "{exception,undef,[{rpctest,nofun,[],[]}]}", rpc.ErrUndef},
		{"panic_it", nil, rpc.ClassError, `{exception,{panic,<<"boom">>},[{rpctest,panic_it,0,[]}]}`, rpc.ErrRaised},
		{"plain_error", nil, rpc.ClassError, `{exception,{error,<<"disk full">>},[{rpctest,plain_error,0,[]}]}`, rpc.ErrRaised},
	}
	for _, c := range cases {
		_, err := client(a).Call(ctx, b.Name(), "rpctest", c.fn, c.args...)
		var e *rpc.Error
		if !errors.As(err, &e) {
			t.Fatalf("%s: err %v; want *rpc.Error", c.fn, err)
		}
		if e.Class != c.class || etf.Format(e.Exception()) != c.exc || !errors.Is(err, c.is) {
			t.Errorf("%s%v: %s %s; want %s %s (is %v)", c.fn, c.args, e.Class, etf.Format(e.Exception()), c.class, c.exc, c.is)
		}
	}
	// The node serves on after all that.
	if v, err := client(a).Call(ctx, b.Name(), "rpctest", "echo", int64(7)); err != nil || v != int64(7) {
		t.Fatalf("echo after failures = %v, %v", v, err)
	}
	// The local node: its own server.
	serve(t, a, nil)
	if v, err := client(a).Call(ctx, a.Name(), "rpctest", "add", int64(1), int64(2)); err != nil || v != int64(3) {
		t.Fatalf("local add = %v, %v", v, err)
	}
	if _, err := client(a).Call(ctx, a.Name(), "rpctest", "nofun"); !errors.Is(err, rpc.ErrUndef) {
		t.Fatalf("local nofun: %v; want ErrUndef", err)
	}
}

func TestGoToGoCast(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a, b := startNode(t, port), startNode(t, port)
	got := make(notes, 4)
	serve(t, b, got)
	ctx := testCtx(t)
	if err := client(a).Cast(ctx, b.Name(), "rpctest", "note", etf.Atom("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-got:
		if v != etf.Atom("hello") {
			t.Fatalf("note got %v", v)
		}
	case <-ctx.Done():
		t.Fatal("cast did not run")
	}
	// A cast of an unknown function is silently dropped; the node serves on.
	if err := client(a).Cast(ctx, b.Name(), "rpctest", "nofun"); err != nil {
		t.Fatal(err)
	}
	if v, err := client(a).Call(ctx, b.Name(), "rpctest", "note", etf.Atom("again")); err != nil || v != etf.Atom("ok") {
		t.Fatalf("note after cast = %v, %v", v, err)
	}
	if v := <-got; v != etf.Atom("again") {
		t.Fatalf("got %v", v)
	}
}

func TestCallTimeoutLeavesNothing(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a, b := startNode(t, port), startNode(t, port)
	serve(t, b, nil)
	ctx := testCtx(t)
	// Connect first, so the deadline measures the call.
	if _, err := client(a).Call(ctx, b.Name(), "rpctest", "echo", int64(1)); err != nil {
		t.Fatal(err)
	}
	base := len(a.Processes())
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	start := time.Now()
	_, err := client(a).Call(short, b.Name(), "rpctest", "sleep", int64(400))
	cancel()
	var ce *rpc.CallError
	if !errors.Is(err, distribute.ErrTimeout) || !errors.As(err, &ce) || ce.Reason != etf.Atom("timeout") {
		t.Fatalf("err %v; want a timeout CallError", err)
	}
	if el := time.Since(start); el > distributetest.Scale(time.Second) {
		t.Fatalf("timeout took %v", el)
	}
	if n := len(a.Processes()); n != base {
		t.Fatalf("%d processes after a timed-out call; want %d", n, base)
	}
	// A deadline that passes while connecting is a timeout too, not a
	// lost node.
	c := startNode(t, port)
	serve(t, c, nil)
	expired, cancel2 := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	_, err = client(a).Call(expired, c.Name(), "rpctest", "echo", int64(1))
	cancel2()
	if !errors.Is(err, distribute.ErrTimeout) || errors.Is(err, distribute.ErrNodeDown) {
		t.Fatalf("expired deadline: %v; want ErrTimeout only", err)
	}
	// After the remote function finished (its process is gone from b),
	// a new call gets its own answer, not the stale one.
	distributetest.WaitFor(t, "the call's process on b to end", func() bool { return len(b.Processes()) <= 2 })
	if v, err := client(a).Call(ctx, b.Name(), "rpctest", "echo", int64(2)); err != nil || v != int64(2) {
		t.Fatalf("echo after timeout = %v, %v", v, err)
	}
}

func TestCallNodeDown(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a, b := startNode(t, port), startNode(t, port)
	serve(t, b, nil)
	ctx := testCtx(t)
	// Unreachable: no such node registered.
	start := time.Now()
	_, err := client(a).Call(ctx, "nosuch@localhost", "rpctest", "echo", int64(1))
	if !errors.Is(err, distribute.ErrNodeDown) {
		t.Fatalf("unreachable: %v; want ErrNodeDown", err)
	}
	if el := time.Since(start); el > distributetest.Scale(5*time.Second) {
		t.Fatalf("unreachable took %v", el)
	}
	if err := client(a).Cast(ctx, "nosuch@localhost", "rpctest", "echo", int64(1)); !errors.Is(err, distribute.ErrNodeDown) {
		t.Fatalf("cast unreachable: %v; want ErrNodeDown", err)
	}
	// Lost during the call.
	errc := make(chan error, 1)
	go func() {
		_, err := client(a).Call(ctx, b.Name(), "rpctest", "sleep", int64(30000))
		errc <- err
	}()
	distributetest.WaitFor(t, "the call to run on b", func() bool { return len(b.Processes()) > 2 })
	a.Disconnect(b.Name())
	select {
	case err := <-errc:
		if !errors.Is(err, distribute.ErrNodeDown) {
			t.Fatalf("lost: %v; want ErrNodeDown", err)
		}
		if bad, ok := rpc.BadRPC(err); !ok || etf.Format(bad) != "{badrpc,nodedown}" {
			t.Fatalf("BadRPC = %v", bad)
		}
	case <-time.After(distributetest.Scale(5 * time.Second)):
		t.Fatal("call did not end when the node was lost")
	}
}

func TestNoServerIsNotSup(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a, b := startNode(t, port), startNode(t, port)
	ctx := testCtx(t)
	_, err := client(a).Call(ctx, b.Name(), "rpctest", "echo", int64(1))
	if !errors.Is(err, rpc.ErrNotSup) {
		t.Fatalf("err %v; want ErrNotSup", err)
	}
	s := serve(t, b, nil)
	if _, err := rpc.Start(ctx, b, rpc.Config{}); !errors.Is(err, rpc.ErrExists) {
		t.Fatalf("second server: %v", err)
	}
	if v, err := client(a).Call(ctx, b.Name(), "rpctest", "echo", int64(1)); err != nil || v != int64(1) {
		t.Fatalf("served: %v %v", v, err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := client(a).Call(ctx, b.Name(), "rpctest", "echo", int64(1)); !errors.Is(err, rpc.ErrNotSup) {
		t.Fatalf("after Stop: %v; want ErrNotSup", err)
	}
}

// Malformed requests: a spawn request whose arguments are not what
// erpc:execute_call/4 takes, spawns of unexported functions, wrong arity.
// The requester gets an error; the node serves on.
func TestMalformedRequests(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a, b := startNode(t, port), startNode(t, port)
	serve(t, b, nil)
	ctx := testCtx(t)
	p, _ := a.NewProcess()
	defer p.Exit(nil)
	res := a.MakeRef()
	cases := []struct {
		m, f etf.Atom
		args []etf.Term
		want string
	}{
		// Args is not a list: apply/3 raises badarg.
		{"erpc", "execute_call", []etf.Term{res, etf.Atom("rpctest"), etf.Atom("echo"), int64(5)}, "badarg"},
		// Module is not an atom.
		{"erpc", "execute_call", []etf.Term{res, int64(1), etf.Atom("echo"), etf.List{}}, "badarg"},
		// An improper list.
		{"erpc", "execute_call", []etf.Term{res, etf.Atom("rpctest"), etf.Atom("echo"), etf.ImproperList{Elems: []etf.Term{int64(1)}, Tail: int64(2)}}, "badarg"},
		// execute_call with the wrong arity is just an unknown function.
		{"erpc", "execute_call", []etf.Term{res}, "{undef,[{erpc,execute_call,[#Ref"},
		// spawn/4 of an unexported function.
		{"nomod", "nofun", []etf.Term{int64(1)}, "{undef,[{nomod,nofun,[1],[]}]}"},
	}
	for _, c := range cases {
		ref, err := p.SpawnRequest(ctx, b.Name(), c.m, c.f, c.args, distribute.SpawnOptions{Monitor: true})
		if err != nil {
			t.Fatal(err)
		}
		m, err := p.ReceiveMatch(ctx, func(m any) bool { d, ok := m.(distribute.Down); return ok && d.Ref == ref })
		if err != nil {
			t.Fatal(err)
		}
		reason := etf.Format(m.(distribute.Down).Reason)
		if c.want == "badarg" {
			tu, ok := m.(distribute.Down).Reason.(etf.Tuple)
			if !ok || len(tu) != 4 || !etf.Equal(tu[0], res) || tu[1] != etf.Atom("error") || tu[2] != etf.Atom("badarg") {
				t.Errorf("%s:%s%v: exit %s; want {Res,error,badarg,Stack}", c.m, c.f, c.args, reason)
			}
		} else if len(reason) < len(c.want) || reason[:len(c.want)] != c.want {
			t.Errorf("%s:%s%v: exit %s; want %s...", c.m, c.f, c.args, reason, c.want)
		}
		p.ReceiveMatch(ctx, func(m any) bool { r, ok := m.(distribute.SpawnReply); return ok && r.Ref == ref })
	}
	if v, err := client(a).Call(ctx, b.Name(), "rpctest", "echo", int64(3)); err != nil || v != int64(3) {
		t.Fatalf("echo after malformed requests = %v, %v", v, err)
	}
}

// The rex server answers Go callers too: gen_server call, block_call,
// the info form and features_request.
func TestRexFromGo(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a, b := startNode(t, port), startNode(t, port)
	serve(t, b, nil)
	ctx := testCtx(t)
	p, _ := a.NewProcess()
	defer p.Exit(nil)
	call := func(kind etf.Atom, f etf.Atom, args etf.List) string {
		v, err := p.CallName(ctx, "rex", b.Name(), etf.Tuple{kind, etf.Atom("rpctest"), f, args, etf.Atom("user")})
		if err != nil {
			t.Fatalf("rex %s: %v", kind, err)
		}
		return etf.Format(v)
	}
	checks := []struct{ got, want string }{
		{call("call", "echo", etf.List{int64(1)}), "1"},
		{call("block_call", "echo", etf.List{int64(2)}), "2"},
		{call("call", "throw_it", etf.List{tup}), "{a,1}"},
		{call("call", "exit_it", etf.List{tup}), "{badrpc,{'EXIT',{a,1}}}"},
		{call("block_call", "error_it", etf.List{tup}), "{badrpc,{'EXIT',{{a,1},[{rpctest,error_it,1,[]}]}}}"},
		{call("call", "nofun", etf.List{}), "{badrpc,{'EXIT',{undef,[{rpctest,nofun,[],[]}]}}}"},
	}
	for i, c := range checks {
		if c.got != c.want {
			t.Errorf("rex %d: %s; want %s", i, c.got, c.want)
		}
	}
	// Info form: {From, {call, M, F, A, GL}} → {rex, Result}.
	p.SendName(ctx, "rex", b.Name(), etf.Tuple{p.Pid(), etf.Tuple{etf.Atom("call"), etf.Atom("rpctest"), etf.Atom("add"), etf.List{int64(1), int64(2)}, etf.Atom("user")}})
	m, err := p.Receive(ctx)
	if err != nil || etf.Format(m) != "{rex,3}" {
		t.Fatalf("info call: %v %v", m, err)
	}
	p.SendName(ctx, "rex", b.Name(), etf.Tuple{p.Pid(), etf.Atom("features_request")})
	m, err = p.Receive(ctx)
	want := etf.Tuple{etf.Atom("features_reply"), b.Name(), etf.List{etf.Atom("erpc")}}
	if err != nil || !etf.Equal(m, want) {
		t.Fatalf("features_request: %v %v", m, err)
	}
}

func TestTyped(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a, b := startNode(t, port), startNode(t, port)
	s := serve(t, b, nil)
	type user struct {
		ID   int64
		Name string
	}
	userC := codec.Struct(
		codec.Field("id", func(u *user) *int64 { return &u.ID }, codec.Int),
		codec.Field("name", func(u *user) *string { return &u.Name }, codec.String),
	)
	err := rpc.RegisterTyped(s, "users", "rename", userC, userC, func(_ context.Context, u user) (user, error) {
		if u.Name == "" {
			return user{}, rpc.Throw(etf.Atom("empty_name"))
		}
		u.Name += "!"
		return u, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	u, err := rpc.CallTyped(ctx, client(a), b.Name(), "users", "rename", userC, userC, user{7, "ann"})
	if want := (user{7, "ann!"}); err != nil || u != want {
		t.Fatalf("typed = %+v, %v", u, err)
	}
	_, err = rpc.CallTyped(ctx, client(a), b.Name(), "users", "rename", userC, userC, user{7, ""})
	var e *rpc.Error
	if !errors.As(err, &e) || e.Class != rpc.ClassThrow || e.Reason != etf.Atom("empty_name") {
		t.Fatalf("typed throw: %v", err)
	}
	// Bytes that do not decode: badarg.
	_, err = client(a).Call(ctx, b.Name(), "users", "rename", etf.Binary{1, 2})
	if !errors.Is(err, rpc.ErrBadArg) {
		t.Fatalf("typed bad bytes: %v; want ErrBadArg", err)
	}
	_, err = client(a).Call(ctx, b.Name(), "users", "rename", etf.Atom("x"))
	if !errors.Is(err, rpc.ErrBadArg) {
		t.Fatalf("typed non-binary: %v; want ErrBadArg", err)
	}
}

// client returns the client of the Server serve started for n (it also
// serves calls to n's own name), or a plain client when none runs.
func client(n *distribute.Node) *rpc.Client {
	if s, ok := servers.Load(n); ok {
		return s.(*rpc.Server).Client()
	}
	return rpc.NewClient(n)
}

// localServerOf returns the Server serve started for n.
func localServerOf(t testing.TB, n *distribute.Node) *rpc.Server {
	t.Helper()
	s, ok := servers.Load(n)
	if !ok {
		t.Fatal("no server")
	}
	return s.(*rpc.Server)
}

func TestFuncAdapters(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a, b := startNode(t, port), startNode(t, port)
	s := serve(t, b, nil)
	s.Register("calc", "add", 2, rpc.Func2(func(_ context.Context, x, y int) (int, error) { return x + y, nil }))
	s.Register("calc", "words", 1, rpc.Func1(func(_ context.Context, s string) ([]string, error) {
		if s == "" {
			return nil, rpc.Throw(etf.Atom("empty"))
		}
		return []string{s, s}, nil
	}))
	s.Register("calc", "zero", 0, rpc.Func0(func(context.Context) (float64, error) { return 0.5, nil }))
	ctx := testCtx(t)
	if v, err := rpc.CallAs[int](ctx, client(a), b.Name(), "calc", "add", int64(2), int64(3)); err != nil || v != 5 {
		t.Fatalf("add = %v, %v", v, err)
	}
	if v, err := rpc.CallAs[[]string](ctx, client(a), b.Name(), "calc", "words", etf.Binary("hi")); err != nil || len(v) != 2 || v[1] != "hi" {
		t.Fatalf("words = %v, %v", v, err)
	}
	if _, err := client(a).Call(ctx, b.Name(), "calc", "words", etf.Binary("")); !errors.Is(err, rpc.ErrRaised) {
		t.Fatalf("words empty: %v", err)
	}
	if v, err := client(a).Call(ctx, b.Name(), "calc", "zero"); err != nil || v != 0.5 {
		t.Fatalf("zero = %v, %v", v, err)
	}
	_, err := client(a).Call(ctx, b.Name(), "calc", "add", etf.Atom("x"), int64(3))
	var e *rpc.Error
	if !errors.As(err, &e) || etf.Format(e.Exception()) != "{exception,badarg,[{calc,add,[x,3],[]}]}" {
		t.Fatalf("add(x, 3): %v", err)
	}
	if _, err := rpc.CallAs[string](ctx, client(a), b.Name(), "calc", "add", int64(1), int64(1)); err == nil || errors.Is(err, rpc.ErrRaised) {
		t.Fatalf("CallAs[string] of an int: %v; want a conversion error", err)
	}
}

// A call to the local node runs its handler in a process of the node,
// as a remote call would: stopping the node ends the handler (its ctx
// ends) and the call, even when the caller's ctx never ends.
func TestLocalCallEndsWithNode(t *testing.T) {
	epmd := distributetest.StartEpmd(t)
	n := startNode(t, epmd)
	s := serve(t, n, nil)
	started, ended := make(chan struct{}), make(chan struct{})
	if err := s.Register("local", "wait", 0, func(ctx context.Context, _ []etf.Term) (etf.Term, error) {
		close(started)
		<-ctx.Done()
		close(ended)
		return nil, ctx.Err()
	}); err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() {
		_, err := client(n).Call(context.Background(), n.Name(), "local", "wait")
		res <- err
	}()
	deadline := time.After(distributetest.Scale(10 * time.Second))
	select {
	case <-started:
	case <-deadline:
		t.Fatal("the handler never started")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- n.Stop(context.Background()) }()
	select {
	case <-ended:
	case <-deadline:
		t.Fatal("the handler's ctx did not end with the node")
	}
	select {
	case err := <-res:
		if err == nil {
			t.Error("a call whose handler the node's stop ended returned no error")
		}
	case <-deadline:
		t.Fatal("the local call did not return after the node stopped")
	}
	select {
	case <-stopped:
	case <-deadline:
		t.Fatal("the node's Stop did not return")
	}
}
