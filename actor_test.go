package distribute

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

func TestActorCallSendStop(t *testing.T) {
	distributetest.VerifyNoLeaks(t)
	n := startNode(t, distributetest.StartEpmd(t))
	ctx := testCtx(t)
	p, _ := n.NewProcess()
	defer p.Exit(ReasonNormal)

	var terminated atomic.Value
	a := counterActor("counter")
	a.Init = func(ctx context.Context, self *Process) (int64, error) { return 100, nil }
	a.Terminate = func(ctx context.Context, self *Process, sum int64, reason Term) {
		terminated.Store(etf.Tuple{sum, reason})
	}
	h, err := a.Start(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if pid, ok := n.Whereis("counter"); !ok || pid != h.Pid() {
		t.Fatalf("Whereis(counter) = %v, %v; want %v", pid, ok, h.Pid())
	}
	// A second start under the same name fails.
	if _, err := a.Start(ctx, n); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("second Start: %v; want ErrNameTaken", err)
	}
	h.Send(ctx, p, 1)
	if sum, err := h.Call(ctx, p, 2); err != nil || sum != 103 {
		t.Fatalf("Call = %d, %v; want 103", sum, err)
	}
	if sum, err := Call(ctx, p, NamedSubject("counter", "", codec.Int), 3, codec.Int); err != nil || sum != 106 {
		t.Fatalf("Call by name = %d, %v; want 106", sum, err)
	}
	// A request the actor cannot decode is answered at once; it goes on.
	if _, err := Call(ctx, p, NamedSubject("counter", "", codec.Bool), true, codec.Int); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("bad request: %v; want ErrBadRequest", err)
	}
	// So is a message: it is dropped (no HandleOther).
	NewSubject(h.Pid(), codec.Bool).Send(ctx, p, true)
	// A gen_server cast with a binary is a message.
	b, _ := codec.Encode(codec.Int, 4)
	p.Send(ctx, h.Pid(), etf.Tuple{Atom("$gen_cast"), etf.Binary(b)})
	if sum, err := h.Call(ctx, p, 0); err != nil || sum != 110 {
		t.Fatalf("Call = %d, %v; want 110", sum, err)
	}

	ref, _ := p.Monitor(ctx, h.Pid())
	reason := etf.Tuple{Atom("shutdown"), Atom("test")}
	if err := h.Stop(ctx, reason); err != nil {
		t.Fatal(err)
	}
	d, ok := receiveWithin(t, p, nil).(Down)
	if !ok || d.Ref != ref || !etf.Equal(d.Reason, reason) {
		t.Fatalf("got %#v; want Down with %s", d, etf.Format(reason))
	}
	if got := terminated.Load(); got == nil || !etf.Equal(got.(etf.Tuple), etf.Tuple{int64(110), reason}) {
		t.Fatalf("Terminate got %v", got)
	}
	if _, ok := n.Whereis("counter"); ok {
		t.Fatal("the name outlived the actor")
	}
	// Calls to the stopped actor fail at once.
	if _, err := h.Call(ctx, p, 1); !errors.Is(err, ErrNoProc) {
		t.Fatalf("Call after Stop: %v; want ErrNoProc", err)
	}
	if err := h.Stop(ctx, nil); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestActorHandlerErrorAndOther(t *testing.T) {
	distributetest.VerifyNoLeaks(t)
	n := startNode(t, distributetest.StartEpmd(t))
	ctx := testCtx(t)
	p, _ := n.NewProcess()
	defer p.Exit(ReasonNormal)

	others := make(chan any, 8)
	a := &Actor[int, string, string]{
		Msg:   codec.Tagged("cmd", 1, codec.String),
		Reply: codec.String,
		HandleMessage: func(ctx context.Context, self *Process, s int, m string) (int, error) {
			if m == "crash" {
				return s, errors.New("asked to crash")
			}
			return s + 1, nil
		},
		HandleCall: func(ctx context.Context, self *Process, s int, m string) (string, int, error) {
			if m == "stop" {
				return "", s, &ExitError{Reason: Atom("stopped_by_call")}
			}
			return m + "!", s, nil
		},
		HandleOther: func(ctx context.Context, self *Process, s int, m any) (int, error) {
			others <- m
			return s, nil
		},
	}
	h, err := a.Start(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	// A message of another version reaches HandleOther as a typed error.
	NewSubject(h.Pid(), codec.Tagged("cmd", 2, codec.String)).Send(ctx, p, "newer")
	p.Send(ctx, h.Pid(), Atom("plain"))
	select {
	case m := <-others:
		var vm *codec.VersionMismatchError
		if err, ok := m.(error); !ok || !errors.As(err, &vm) {
			t.Fatalf("HandleOther got %#v; want a *MessageError with a version mismatch", m)
		}
	case <-ctx.Done():
		t.Fatal("HandleOther not called")
	}
	if m := <-others; m != Atom("plain") {
		t.Fatalf("HandleOther got %#v; want plain", m)
	}
	// A call with a request that is not a binary is answered at once with
	// bad_request, and HandleOther gets it as a *MessageError.
	reply, err := p.Call(ctx, h.Pid(), Atom("not_a_binary"))
	if err != nil {
		t.Fatalf("Call with an atom: %v", err)
	}
	if text, ok := badRequestOf(reply); !ok || !strings.Contains(text, "not a binary") {
		t.Fatalf("Call with an atom = %s; want {error, {bad_request, Text}}", etf.Format(reply))
	}
	if m, ok := (<-others).(*MessageError); !ok || !errors.Is(m, etf.ErrNotBinary) {
		t.Fatalf("HandleOther got %#v; want a *MessageError wrapping etf.ErrNotBinary", m)
	}
	if r, err := h.Call(ctx, p, "hi"); err != nil || r != "hi!" {
		t.Fatalf("Call = %q, %v", r, err)
	}
	// A handler error stops the actor with {error, Text}.
	ref, _ := p.Monitor(ctx, h.Pid())
	h.Send(ctx, p, "crash")
	d := receiveWithin(t, p, nil).(Down)
	if want := (etf.Tuple{Atom("error"), etf.Binary("asked to crash")}); d.Ref != ref || !etf.Equal(d.Reason, want) {
		t.Fatalf("Down %s; want %s", etf.Format(d.Reason), etf.Format(want))
	}

	// A call handler's *ExitError stops it with that reason; the caller
	// sees it as an *ExitError.
	h, err = a.Start(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Call(ctx, p, "stop")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Reason != Atom("stopped_by_call") {
		t.Fatalf("Call stop: %v; want ExitError stopped_by_call", err)
	}
}

func TestActorInitFails(t *testing.T) {
	distributetest.VerifyNoLeaks(t)
	n := startNode(t, distributetest.StartEpmd(t))
	ctx := testCtx(t)
	a := &Actor[int, int64, int64]{
		Name: "fails",
		Msg:  codec.Int,
		Init: func(ctx context.Context, self *Process) (int, error) {
			return 0, &ExitError{Reason: Atom("no_config")}
		},
	}
	_, err := a.Start(ctx, n)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Reason != Atom("no_config") {
		t.Fatalf("Start: %v; want the init error", err)
	}
	distributetest.WaitFor(t, "the name of the failed actor freed", func() bool { _, ok := n.Whereis("fails"); return !ok })
	// Init that outlives Start's ctx: the actor is killed.
	block := &Actor[int, int64, int64]{
		Msg: codec.Int,
		Init: func(ctx context.Context, self *Process) (int, error) {
			<-ctx.Done()
			return 0, ctx.Err()
		},
	}
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := block.Start(short, n); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Start with a blocking Init: %v; want ErrTimeout", err)
	}
	if _, err := (&Actor[int, int64, int64]{}).Start(ctx, n); err == nil {
		t.Fatal("Start without a Msg codec succeeded")
	}
}

// An Erlang process calls a Go actor with gen_server:call and a binary,
// and a Go process calls an Erlang process that handles binaries (the
// doubler of testdata/gleam_shapes.erl).
func TestTypedWithErlang(t *testing.T) {
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{})
	src, err := os.ReadFile("testdata/gleam_shapes.erl")
	if err != nil {
		t.Fatal(err)
	}
	erl.LoadModule(t, string(src))
	g := startNode(t, erl.EpmdPort)
	ctx := testCtx(t)
	if _, err := counterActor("go_counter").Start(ctx, g); err != nil {
		t.Fatal(err)
	}
	// Erlang writes the Int codec by hand: 8 bytes big-endian.
	got := erl.Eval(t, `gen_server:call({go_counter, '`+string(g.Name())+`'}, <<40:64/signed>>)`)
	if got != "<<0,0,0,0,0,0,0,40>>" {
		t.Fatalf("gen_server:call from Erlang = %s", got)
	}
	got = erl.Eval(t, `gen_server:call({go_counter, '`+string(g.Name())+`'}, <<2:64/signed>>)`)
	if got != "<<0,0,0,0,0,0,0,42>>" {
		t.Fatalf("gen_server:call from Erlang = %s", got)
	}
	// A request Erlang got wrong is answered with bad_request.
	got = erl.Eval(t, `gen_server:call({go_counter, '`+string(g.Name())+`'}, <<1,2,3>>)`)
	if len(got) < 20 || got[:20] != "{error,{bad_request," {
		t.Fatalf("bad request from Erlang = %s", got)
	}
	// So is a request that is not a binary at all, at once (the caller's
	// timeout is far longer than the test waits for an answer).
	got = erl.Eval(t, `gen_server:call({go_counter, '`+string(g.Name())+`'}, {add, 1}, 60000)`)
	if !strings.HasPrefix(got, "{error,{bad_request,<<\"") {
		t.Fatalf("non-binary request from Erlang = %s", got)
	}
	// The actor goes on.
	got = erl.Eval(t, `gen_server:call({go_counter, '`+string(g.Name())+`'}, <<0:64/signed>>)`)
	if got != "<<0,0,0,0,0,0,0,42>>" {
		t.Fatalf("gen_server:call after a bad request = %s", got)
	}

	// Go calls an Erlang server that doubles an Int.
	if got := erl.Eval(t, `register(doubler, spawn(gleam_shapes, doubler, []))`); got != "true" {
		t.Fatalf("register doubler: %s", got)
	}
	p, _ := g.NewProcess()
	defer p.Exit(ReasonNormal)
	doubler := NamedSubject("doubler", Atom(erl.Name), codec.Int)
	if v, err := Call(ctx, p, doubler, 21, codec.Int); err != nil || v != 42 {
		t.Fatalf("Call Erlang doubler = %d, %v", v, err)
	}
	// And receives binaries from Erlang with the typed receive: the
	// doubler answers {Pid, Bin} with a plain binary to Pid.
	doubler.WithTag(p.Pid()).Send(ctx, p, 5)
	if v, err := Receive(ctx, p, codec.Int); err != nil || v != 10 {
		t.Fatalf("typed receive from Erlang = %d, %v", v, err)
	}
}

// TestActorStartNameTakenEveryTime: a Start under a taken name fails with
// ErrNameTaken every time, not sometimes "exited during init" (the actor
// exits right after it says so, and Start once chose between the two at
// random; GOMAXPROCS=1 under -race showed it).
func TestActorStartNameTakenEveryTime(t *testing.T) {
	n := startNode(t, distributetest.StartEpmd(t))
	ctx := testCtx(t)
	a := counterActor("taken")
	h, err := a.Start(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop(ctx, nil)
	for i := range 300 {
		if _, err := a.Start(ctx, n); !errors.Is(err, ErrNameTaken) {
			t.Fatalf("Start %d under a taken name: %v; want ErrNameTaken", i, err)
		}
	}
}
