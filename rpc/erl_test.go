package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/rpc"
)

// erlPair starts an erl node with testdata/rpctest.erl loaded, and a Go
// node serving the Go twins of its functions.
func erlPair(t *testing.T, got notes) (*distributetest.ErlNode, *distribute.Node) {
	t.Helper()
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{})
	src, err := os.ReadFile("testdata/rpctest.erl")
	if err != nil {
		t.Fatal(err)
	}
	erl.LoadModule(t, string(src))
	g := startNode(t, erl.EpmdPort)
	serve(t, g, got)
	return erl, g
}

// Erlang calls a Go function and the Erlang function of the same name on
// itself: erpc:call, rpc:call and rpc:block_call give the same result for
// both (stack locations aside), and the result Erlang documents.
func TestErlangCallsGo(t *testing.T) {
	erl, g := erlPair(t, nil)
	cases := []struct {
		f    string
		arg  string
		erpc string // erpc:call's outcome: {ok, V} or {Class, Reason}
		rpc  string // rpc:call's result
	}{
		{"echo", "{a,1}", "{ok,{a,1}}", "{a,1}"},
		{"throw_it", "{a,1}", "{throw,{a,1}}", "{a,1}"},
		{"exit_it", "{a,1}", "{exit,{exception,{a,1}}}", "{badrpc,{'EXIT',{a,1}}}"},
		{"error_it", "{a,1}", "{error,{exception,{a,1},[{rpctest,error_it,1,[]}]}}",
			"{badrpc,{'EXIT',{{a,1},[{rpctest,error_it,1,[]}]}}}"},
		{"badarg_it", "{a,1}", "{error,{exception,badarg,[{rpctest,badarg_it,[{a,1}],[]}]}}",
			"{badrpc,{'EXIT',{badarg,[{rpctest,badarg_it,[{a,1}],[]}]}}}"},
		{"nofun", "{a,1}", "{error,{exception,undef,[{rpctest,nofun,[{a,1}],[]}]}}",
			"{badrpc,{'EXIT',{undef,[{rpctest,nofun,[{a,1}],[]}]}}}"},
	}
	for _, c := range cases {
		for _, kind := range []struct{ fn, want string }{{"ecall", c.erpc}, {"rcall", c.rpc}, {"bcall", c.rpc}} {
			expr := func(node string) string {
				return fmt.Sprintf("rpctest:%s(%s, rpctest, %s, [%s])", kind.fn, node, c.f, c.arg)
			}
			goRes := erl.Eval(t, expr("'"+string(g.Name())+"'"))
			erlRes := erl.Eval(t, expr("node()"))
			if goRes != kind.want {
				t.Errorf("%s on Go: %s; want %s", expr("Go"), goRes, kind.want)
			}
			if goRes != erlRes {
				t.Errorf("%s: Go gives %s, Erlang gives %s", expr("N"), goRes, erlRes)
			}
		}
	}
	// A panic is an error to the caller, and the node serves on.
	got := erl.Eval(t, fmt.Sprintf("rpctest:ecall('%s', rpctest, panic_it, [])", g.Name()))
	if want := `{error,{exception,{panic,<<"boom">>},[{rpctest,panic_it,0,[]}]}}`; got != want {
		t.Errorf("panic: %s; want %s", got, want)
	}
	// Args that do not fit: badarg.
	got = erl.Eval(t, fmt.Sprintf("rpctest:ecall('%s', rpctest, add, [1, x])", g.Name()))
	if want := `{error,{exception,badarg,[{rpctest,add,[1,x],[]}]}}`; got != want {
		t.Errorf("add(1, x): %s; want %s", got, want)
	}
	got = erl.Eval(t, fmt.Sprintf("rpc:call('%s', rpctest, add, [1, 2])", g.Name()))
	if got != "3" {
		t.Errorf("rpc:call add after failures: %s", got)
	}
	// spawn/4: the exit reason is what Erlang gives for the same function.
	for _, f := range []string{"echo", "error_it", "exit_it", "throw_it", "nofun"} {
		goRes := erl.Eval(t, fmt.Sprintf("rpctest:spawn_down('%s', rpctest, %s, [{a,1}])", g.Name(), f))
		erlRes := erl.Eval(t, fmt.Sprintf("rpctest:spawn_down(node(), rpctest, %s, [{a,1}])", f))
		if goRes != erlRes {
			t.Errorf("spawn %s: Go exits with %s, Erlang with %s", f, goRes, erlRes)
		}
	}
}

func TestErlangCastsGo(t *testing.T) {
	got := make(notes, 4)
	erl, g := erlPair(t, got)
	for _, fn := range []string{"cast_to", "rcast_to"} {
		res := erl.Eval(t, fmt.Sprintf("rpctest:%s('%s', rpctest, note, [%s])", fn, g.Name(), fn))
		if res != "ok" && res != "true" {
			t.Fatalf("%s: %s", fn, res)
		}
		select {
		case v := <-got:
			if v != etf.Atom(fn) {
				t.Fatalf("%s: note got %v", fn, v)
			}
		case <-time.After(distributetest.Scale(10 * time.Second)):
			t.Fatalf("%s did not run", fn)
		}
	}
}

// rex's other requests: features_request and sbcast.
func TestErlangRexRequests(t *testing.T) {
	erl, g := erlPair(t, nil)
	got := erl.Eval(t, fmt.Sprintf(`begin {rex, '%s'} ! {self(), features_request}, receive {features_reply, N, F} -> {N, F} after 10000 -> none end end`, g.Name()))
	if want := fmt.Sprintf("{'%s',[erpc]}", g.Name()); got != want && got != fmt.Sprintf("{%s,[erpc]}", g.Name()) {
		t.Errorf("features_request: %s; want %s", got, want)
	}
	got = erl.Eval(t, fmt.Sprintf(`rpc:sbcast(['%s'], nosuchname, hi)`, g.Name()))
	if want := fmt.Sprintf("{[],[%s]}", g.Name()); got != want {
		t.Errorf("sbcast to a missing name: %s; want %s", got, want)
	}
	p, _ := g.NewProcess()
	defer p.Exit(nil)
	g.Register("inbox", p.Pid())
	got = erl.Eval(t, fmt.Sprintf(`rpc:sbcast(['%s'], inbox, hi)`, g.Name()))
	if want := fmt.Sprintf("{[%s],[]}", g.Name()); got != want {
		t.Errorf("sbcast: %s; want %s", got, want)
	}
	m, err := p.Receive(testCtx(t))
	if err != nil || m != etf.Atom("hi") {
		t.Fatalf("sbcast message: %v %v", m, err)
	}
}

func TestGoCallsErlang(t *testing.T) {
	erl, g := erlPair(t, nil)
	en := etf.Atom(erl.Name)
	ctx := testCtx(t)
	v, err := client(g).Call(ctx, en, "lists", "reverse", etf.List{int64(1), int64(2), int64(3)})
	if err != nil || etf.Format(v) != "[3,2,1]" {
		t.Fatalf("lists:reverse = %v, %v", v, err)
	}
	cases := []struct {
		f   etf.Atom
		exc string
		is  error
	}{
		{"throw_it", "{a,1}", rpc.ErrRaised},
		{"exit_it", "{exception,{a,1}}", rpc.ErrRaised},
		{"error_it", "{exception,{a,1},[{rpctest,error_it,1,[{file,", rpc.ErrRaised},
		{"badarg_it", "{exception,badarg,[{rpctest,badarg_it,[{a,1}],[{file,", rpc.ErrBadArg},
		{"nofun", "{exception,undef,[{rpctest,nofun,[{a,1}],[]}]}", rpc.ErrUndef},
	}
	for _, c := range cases {
		_, err := client(g).Call(ctx, en, "rpctest", c.f, tup)
		var e *rpc.Error
		if !errors.As(err, &e) || !errors.Is(err, c.is) {
			t.Fatalf("%s: %v", c.f, err)
		}
		if s := etf.Format(e.Exception()); len(s) < len(c.exc) || s[:len(c.exc)] != c.exc {
			t.Errorf("%s: %s; want %s...", c.f, s, c.exc)
		}
	}
	// A process killed by a signal: erpc's exit:{signal, R}.
	_, err = client(g).Call(ctx, en, "erlang", "exit", etf.Atom("self_exit_not_a_signal"))
	if e, ok := err.(*rpc.Error); !ok || e.Class != rpc.ClassExit || e.Signal {
		t.Errorf("erlang:exit/1: %v", err)
	}
	bad, _ := rpc.BadRPC(err)
	if etf.Format(bad) != "{badrpc,{'EXIT',self_exit_not_a_signal}}" {
		t.Errorf("BadRPC = %s", etf.Format(bad))
	}
	// Cast: runs; the result goes nowhere.
	if err := client(g).Cast(ctx, en, "persistent_term", "put", etf.Atom("cast_marker"), etf.Atom("yes")); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitFor(t, "the cast to run on erl", func() bool { return erl.Eval(t, "persistent_term:get(cast_marker, no)") == "yes" })
}

// A short deadline on a long timer:sleep: the timeout error comes
// promptly, and nothing arrives later.
func TestGoCallsErlangTimeout(t *testing.T) {
	erl, g := erlPair(t, nil)
	en := etf.Atom(erl.Name)
	ctx := testCtx(t)
	if _, err := client(g).Call(ctx, en, "erlang", "node"); err != nil {
		t.Fatal(err)
	}
	base := len(g.Processes())
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	start := time.Now()
	_, err := client(g).Call(short, en, "timer", "sleep", int64(1500))
	cancel()
	el := time.Since(start)
	if !errors.Is(err, distribute.ErrTimeout) {
		t.Fatalf("err %v; want ErrTimeout", err)
	}
	if el > distributetest.Scale(time.Second) {
		t.Fatalf("timeout after %v", el)
	}
	if bad, _ := rpc.BadRPC(err); etf.Format(bad) != "{badrpc,timeout}" {
		t.Errorf("BadRPC = %v", bad)
	}
	// Wait until the sleeper ended on erl (its result was sent), then
	// check that no process is left on the Go side and a new call gets
	// its own answer.
	erl.Eval(t, "timer:sleep(1500)")
	if n := len(g.Processes()); n != base {
		t.Fatalf("%d processes; want %d", n, base)
	}
	v, err := client(g).Call(ctx, en, "rpctest", "echo", etf.Atom("fresh"))
	if err != nil || v != etf.Atom("fresh") {
		t.Fatalf("echo after timeout = %v, %v", v, err)
	}
}

func TestErlangBuiltinsOnGo(t *testing.T) {
	erl, g := erlPair(t, nil)
	if err := localServerOf(t, g).ExportErlang(); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ expr, want string }{
		{"rpc:call(G, erlang, node, [])", string(g.Name())},
		{"rpc:call(G, erlang, is_alive, [])", "true"},
		// The Go node is hidden: its connections are not visible, so its
		// nodes() is empty, as a hidden erl node's would be.
		{"rpc:call(G, erlang, nodes, [])", "[]"},
		{"lists:member(rex, rpc:call(G, erlang, registered, []))", "true"},
		{"node(rpc:call(G, erlang, whereis, [rex]))", string(g.Name())},
		{"rpc:call(G, erlang, whereis, [nosuch])", "undefined"},
		{"rpctest:ecall(G, erlang, whereis, [1])", "{error,{exception,badarg,[{erlang,whereis,[1],[]}]}}"},
	}
	for _, c := range checks {
		got := erl.Eval(t, fmt.Sprintf("begin G = '%s', %s end", g.Name(), c.expr))
		if got != c.want && got != "'"+c.want+"'" {
			t.Errorf("%s = %s; want %s", c.expr, got, c.want)
		}
	}
}

// erpc:call from Erlang with a short timeout on a slow Go function: erpc
// raises {erpc, timeout}, abandons the request, and no message arrives
// later in the caller's mailbox.
func TestErlangTimesOutOnGo(t *testing.T) {
	erl, g := erlPair(t, nil)
	got := erl.Eval(t, fmt.Sprintf(`begin G = '%s', R = try erpc:call(G, rpctest, sleep, [500], 100) catch C:E -> {C, E} end, Late = receive M -> M after 1000 -> none end, Again = erpc:call(G, rpctest, echo, [again]), {R, Late, Again} end`, g.Name()))
	if got != "{{error,{erpc,timeout}},none,again}" {
		t.Fatalf("got %s", got)
	}
}

// The erl node is killed during a call: ErrNodeDown at once.
func TestGoCallsErlangNodeLost(t *testing.T) {
	erl, g := erlPair(t, nil)
	en := etf.Atom(erl.Name)
	ctx := testCtx(t)
	if _, err := client(g).Call(ctx, en, "erlang", "node"); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := client(g).Call(ctx, en, "timer", "sleep", int64(30000))
		errc <- err
	}()
	// The call is under way once erl runs a process in timer:sleep.
	distributetest.WaitFor(t, "erl to run the call in timer:sleep", func() bool {
		return erl.Eval(t, `length([P || P <- processes(), {current_function, {timer, sleep, 1}} == process_info(P, current_function)])`) == "1"
	})
	if err := erl.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, distribute.ErrNodeDown) {
			t.Fatalf("err %v; want ErrNodeDown", err)
		}
	case <-time.After(distributetest.Scale(5 * time.Second)):
		t.Fatal("the call did not end when the node died")
	}
}

// A call is often the first frame of a new connection (a hidden node
// sends nothing before it). Reconnect and call many times: every result
// arrives (the root package once dropped a result sent in the moment
// between the connection's first frame and the node listing the peer).
func TestErlangFirstFrameIsACall(t *testing.T) {
	erl, g := erlPair(t, nil)
	got := erl.Eval(t, fmt.Sprintf(`begin G = '%s', L = lists:seq(1, 300), R = [begin erlang:disconnect_node(G), timer:sleep(1), try erpc:call(G, rpctest, echo, [I], 2000) catch C:E -> {C, E} end end || I <- L], [{I, V} || {I, V} <- lists:zip(L, R), I =/= V] end`, g.Name()))
	if got != "[]" {
		t.Fatalf("calls on fresh connections that failed: %s", got)
	}
}
