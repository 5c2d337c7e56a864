package distribute

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// sysCall sends the system request req to the process to, as
// gen:call(To, system, Req) does, and returns the reply.
func sysCall(t *testing.T, p *Process, to Pid, req Term) Term {
	t.Helper()
	ctx := testCtx(t)
	tag := p.node.MakeRef()
	if err := p.Send(ctx, to, etf.Tuple{Atom("system"), etf.Tuple{p.Pid(), tag}, req}); err != nil {
		t.Fatal(err)
	}
	m := receiveWithin(t, p, func(m any) bool {
		r, ok := m.(etf.Tuple)
		return ok && len(r) == 2 && etf.Equal(r[0], tag)
	})
	return m.(etf.Tuple)[1]
}

func mustParse(t *testing.T, text string) Term {
	t.Helper()
	v, err := etf.ParseText(text)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A Go actor answers OTP's sys requests from Erlang as a gen_server does:
// get_state, get_status, suspend (a call waits; system requests are
// answered), resume (the call is handled), replace_state (an error: a Go
// node cannot run an Erlang fun), unknown requests, and gen_server:stop,
// which returns ok once the actor exited with the reason.
func TestSysWithErlang(t *testing.T) {
	erl, g := erlPair(t)
	ctx := testCtx(t)
	var terminated atomic.Value
	a := counterActor("go_counter")
	a.Init = func(ctx context.Context, self *Process) (int64, error) { return 5, nil }
	a.Terminate = func(ctx context.Context, self *Process, sum int64, reason Term) {
		terminated.Store(etf.Tuple{sum, reason})
	}
	h, err := a.Start(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	srv := fmt.Sprintf("{go_counter, '%s'}", g.Name())
	eval := func(expr string) string { return erl.Eval(t, strings.ReplaceAll(expr, "SRV", srv)) }

	if got := eval(`sys:get_state(SRV, 5000)`); got != "5" {
		t.Fatalf("sys:get_state = %s; want 5", got)
	}
	status := `case sys:get_status(SRV, 5000) of
		{status, P, {module, gen_server}, [[], S, P, [], [{header, "Status for generic server go_counter"},
			{data, [{"Status", S}, {"Parent", P}, {"Logged events", []}]}, {data, [{"State", St}]}]]}
			when node(P) =:= '` + string(g.Name()) + `' -> {S, St};
		Other -> Other end`
	if got := eval(status); got != "{running,5}" {
		t.Fatalf("sys:get_status = %s; want the gen_server shape with running and 5", got)
	}

	// Suspended, the actor answers system requests only: a call waits in
	// its mailbox and the state does not change.
	if got := eval(`sys:suspend(SRV, 5000)`); got != "ok" {
		t.Fatalf("sys:suspend = %s", got)
	}
	if got := eval(`register(caller, spawn(fun() -> R = gen_server:call(SRV, <<1:64/signed>>, 60000), receive {get, F} -> F ! {result, R} end end))`); got != "true" {
		t.Fatalf("spawn caller: %s", got)
	}
	distributetest.WaitFor(t, "the call to reach the suspended actor", func() bool { return h.Process().MailboxLen() == 1 })
	if got := eval(`sys:get_state(SRV, 5000)`); got != "5" {
		t.Fatalf("sys:get_state while suspended = %s; want 5 (the call must wait)", got)
	}
	if got := eval(status); got != "{suspended,5}" {
		t.Fatalf("sys:get_status while suspended = %s; want {suspended,5}", got)
	}
	if got := eval(`sys:resume(SRV, 5000)`); got != "ok" {
		t.Fatalf("sys:resume = %s", got)
	}
	if got := eval(`caller ! {get, self()}, receive {result, R} -> R after 30000 -> no_reply end`); got != "<<0,0,0,0,0,0,0,6>>" {
		t.Fatalf("the call queued while suspended got %s; want <<0,0,0,0,0,0,0,6>>", got)
	}
	if got := eval(`sys:get_state(SRV, 5000)`); got != "6" {
		t.Fatalf("sys:get_state after resume = %s; want 6", got)
	}

	// replace_state carries a fun: a clear error, as from a BEAM node
	// without the fun's module.
	got := eval(`try sys:replace_state(SRV, fun(S) -> S + 1 end, 5000) catch error:{callback_failed, {gen_server, system_replace_state}, {error, {badfun, F}}} when is_function(F) -> badfun end`)
	if got != "badfun" {
		t.Fatalf("sys:replace_state = %s; want an error {callback_failed, {gen_server, system_replace_state}, {error, {badfun, Fun}}}", got)
	}
	if got := eval(`gen:call(SRV, system, bogus, 5000)`); got != "{ok,{error,{unknown_system_msg,bogus}}}" {
		t.Fatalf("unknown system request = %s", got)
	}
	if got := eval(`sys:log(SRV, get, 5000)`); got != "{ok,[]}" {
		t.Fatalf("sys:log get = %s", got)
	}

	// gen_server:stop: ok once the actor exited normally, Terminate run.
	if got := eval(`gen_server:stop(SRV)`); got != "ok" {
		t.Fatalf("gen_server:stop = %s; want ok", got)
	}
	<-h.Done()
	if r := h.Process().Reason(); r != ReasonNormal {
		t.Fatalf("exit reason %s; want normal", etf.Format(r))
	}
	if got := terminated.Load(); got == nil || !etf.Equal(got.(etf.Tuple), etf.Tuple{int64(6), ReasonNormal}) {
		t.Fatalf("Terminate got %v; want {6, normal}", got)
	}

	// gen_server:stop/3 with a reason, while suspended.
	if h, err = a.Start(ctx, g); err != nil {
		t.Fatal(err)
	}
	if got := eval(`sys:suspend(SRV, 5000)`); got != "ok" {
		t.Fatalf("sys:suspend = %s", got)
	}
	if got := eval(`gen_server:stop(SRV, {shutdown, bye}, 10000)`); got != "ok" {
		t.Fatalf("gen_server:stop/3 = %s; want ok", got)
	}
	<-h.Done()
	if r, want := h.Process().Reason(), mustParse(t, "{shutdown, bye}"); !etf.Equal(r, want) {
		t.Fatalf("exit reason %s; want {shutdown,bye}", etf.Format(r))
	}
}

// The sys requests from Go, on an actor, a hand-written process that calls
// HandleSystem, and an actor whose state has no term; Stop ends a
// suspension.
func TestSysRequests(t *testing.T) {
	distributetest.VerifyNoLeaks(t)
	n := startNode(t, distributetest.StartEpmd(t))
	ctx := testCtx(t)
	p, _ := n.NewProcess()
	defer p.Exit(ReasonNormal)

	// A receive loop that answers calls and system requests.
	type inbox struct {
		Name  Atom
		Calls int
	}
	loop, err := n.Spawn(func(ctx context.Context, self *Process) error {
		st := inbox{Name: "box"}
		for {
			m, err := self.Receive(ctx)
			if err != nil {
				return err
			}
			if ok, err := self.HandleSystem(ctx, m, func() any { return st }); ok {
				if err != nil {
					return err
				}
				continue
			}
			if from, req, ok := ParseCall(m); ok {
				st.Calls++
				self.Reply(ctx, from, req)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Call(ctx, loop.Pid(), Atom("hi")); err != nil {
		t.Fatal(err)
	}
	if got, want := sysCall(t, p, loop.Pid(), Atom("get_state")), mustParse(t, "#{name => box, calls => 1}"); !etf.Equal(got, want) {
		t.Fatalf("get_state = %s; want %s", etf.Format(got), etf.Format(want))
	}
	st := sysCall(t, p, loop.Pid(), Atom("get_status"))
	want := etf.Tuple{Atom("status"), loop.Pid(), mustParse(t, "{module, gen_server}"), etf.List{
		etf.List{}, Atom("running"), loop.Pid(), etf.List{}, etf.List{
			etf.Tuple{Atom("header"), etf.CharList(fmt.Sprintf("Status for generic server <0.%d.%d>", loop.Pid().ID, loop.Pid().Serial))},
			etf.Tuple{Atom("data"), etf.List{
				etf.Tuple{etf.CharList("Status"), Atom("running")},
				etf.Tuple{etf.CharList("Parent"), loop.Pid()},
				etf.Tuple{etf.CharList("Logged events"), etf.List{}},
			}},
			etf.Tuple{Atom("data"), etf.List{etf.Tuple{etf.CharList("State"), mustParse(t, "#{name => box, calls => 1}")}}},
		},
	}}
	if !etf.Equal(st, want) {
		t.Fatalf("get_status = %s\nwant %s", etf.Format(st), etf.Format(want))
	}
	if got := sysCall(t, p, loop.Pid(), mustParse(t, "{change_code, m, 1, x}")); !etf.Equal(got, mustParse(t, "{error, {unknown_system_msg, {change_code, m, 1, x}}}")) {
		t.Fatalf("change_code = %s", etf.Format(got))
	}
	ref, _ := p.Monitor(ctx, loop.Pid())
	if got := sysCall(t, p, loop.Pid(), mustParse(t, "{terminate, normal}")); got != Atom("ok") {
		t.Fatalf("terminate = %s", etf.Format(got))
	}
	if d := receiveWithin(t, p, nil).(Down); d.Ref != ref || d.Reason != ReasonNormal {
		t.Fatalf("Down %v; want normal", d)
	}

	// An actor whose state has no term shows the placeholder; Stop ends
	// its suspension.
	a := &Actor[chan int, int64, int64]{Msg: counterActor("").Msg}
	h, err := a.Start(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if got := sysCall(t, p, h.Pid(), Atom("get_state")); !etf.Equal(got, etf.Tuple{Atom("go_state"), etf.Binary("chan int")}) {
		t.Fatalf("get_state of a chan = %s; want {go_state, <<\"chan int\">>}", etf.Format(got))
	}
	if got := sysCall(t, p, h.Pid(), Atom("suspend")); got != Atom("ok") {
		t.Fatalf("suspend = %s", etf.Format(got))
	}
	if err := h.Stop(ctx, Atom("shutdown")); err != nil {
		t.Fatalf("Stop of a suspended actor: %v", err)
	}
	if r := h.Process().Reason(); r != Atom("shutdown") {
		t.Fatalf("reason %s; want shutdown", etf.Format(r))
	}
}

// Killed while suspended, an actor exits with the signal's reason and runs
// no Terminate (it never runs for an exit signal).
func TestSysKilledWhileSuspended(t *testing.T) {
	n := startNode(t, distributetest.StartEpmd(t))
	ctx := testCtx(t)
	p, _ := n.NewProcess()
	var terminated atomic.Bool
	k := counterActor("")
	k.Terminate = func(ctx context.Context, self *Process, sum int64, reason Term) { terminated.Store(true) }
	kh, err := k.Start(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if got := sysCall(t, p, kh.Pid(), Atom("suspend")); got != Atom("ok") {
		t.Fatalf("suspend = %s", etf.Format(got))
	}
	if err := p.Kill(ctx, kh.Pid()); err != nil {
		t.Fatal(err)
	}
	<-kh.Done()
	if r := kh.Process().Reason(); r != ReasonKilled {
		t.Fatalf("reason %s; want killed", etf.Format(r))
	}
	// Stop waits for every process goroutine: Terminate had its chance.
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if terminated.Load() {
		t.Fatal("Terminate ran for an exit signal")
	}
}

func TestStateTerm(t *testing.T) {
	type s struct{ A int }
	for _, c := range []struct {
		v    any
		want string
	}{
		{nil, "undefined"},
		{int64(3), "3"},
		{s{A: 1}, "#{a => 1}"},
		{&s{A: 2}, "#{a => 2}"},
		{func() {}, `{go_state, <<"func()">>}`},
	} {
		if got := StateTerm(c.v); !etf.Equal(got, mustParse(t, c.want)) {
			t.Errorf("StateTerm(%#v) = %s; want %s", c.v, etf.Format(got), c.want)
		}
	}
}

// The caller's release decides get_state's answer: OTP 26.1 and later
// (5-word alias refs in the call tag) get {ok, State}, OTP 25 (3-word
// refs) and plain-ref tags the bare state. The interop tests check both
// against real erl (the OTP 27 lane runs them again).
func TestOkWrappedStateByCallTag(t *testing.T) {
	ref := func(words uint8) Ref { return Ref{Node: "e@h", Creation: 1, Len: words} }
	alias := func(words uint8) Term { return etf.ImproperList{Elems: []Term{Atom("alias")}, Tail: ref(words)} }
	for _, tc := range []struct {
		tag  Term
		want bool
	}{
		{alias(5), true},
		{alias(3), false},
		{ref(3), false},
		{ref(5), false}, // a plain ref: no gen:call alias, an old or a hand-made caller
		{etf.Atom("x"), false},
	} {
		if got := okWrappedState(From{Tag: tc.tag}); got != tc.want {
			t.Errorf("okWrappedState(tag %s) = %v; want %v", etf.Format(tc.tag), got, tc.want)
		}
	}
}
