package distribute

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
)

// erlPair starts an Erlang node (with testdata/dtest.erl loaded) and a Go
// node on one private epmd.
func erlPair(t *testing.T, args ...string) (*distributetest.ErlNode, *Node) {
	t.Helper()
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{Args: args})
	src, err := os.ReadFile("testdata/dtest.erl")
	if err != nil {
		t.Fatal(err)
	}
	erl.LoadModule(t, string(src))
	g := startNode(t, erl.EpmdPort)
	return erl, g
}

// receiveWithin receives the first message match accepts, failing the test
// after a generous deadline.
func receiveWithin(t *testing.T, p *Process, match func(any) bool) any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
	defer cancel()
	m, err := p.ReceiveMatch(ctx, match)
	if err != nil {
		t.Fatalf("receive on %v: %v", p.Pid(), err)
	}
	return m
}

// startErlEcho registers on erl a process `echo` that answers {From, Msg}
// with Msg sent to From, and {From, Msg, N} with Msg sent N times.
func startErlEcho(t *testing.T, erl *distributetest.ErlNode) {
	t.Helper()
	got := erl.Eval(t, `register(echo, spawn(dtest, echo, []))`)
	if got != "true" {
		t.Fatalf("register echo: %s", got)
	}
}

func TestMessagesBothWaysWithErlang(t *testing.T) {
	erl, g := erlPair(t)
	startErlEcho(t, erl)
	p, err := g.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	terms := []string{
		`hello`, `42`, `-1`, `18446744073709551616`, `3.25`, `"chars"`, `<<"bin">>`, `<<1,2,3>>`,
		`[a|b]`, `{a,{b,[1,2,#{k => v}]}}`, `#{1 => one, <<"two">> => [2], {3} => 3.0}`, `<<5:3>>`,
		`'héllö'`, `[]`, `{}`,
	}
	for _, text := range terms {
		want, err := etf.ParseText(text)
		if err != nil {
			t.Fatal(err)
		}
		// Go → Erlang registered name, Erlang → Go pid.
		if err := p.SendName(ctx, "echo", Atom(erl.Name), etf.Tuple{p.Pid(), want}); err != nil {
			t.Fatal(err)
		}
		got := receiveWithin(t, p, nil)
		if !etf.Equal(got, want) {
			t.Errorf("echo of %s = %s", text, etf.Format(got))
		}
	}
	// Erlang → Go registered name.
	if err := g.Register("inbox", p.Pid()); err != nil {
		t.Fatal(err)
	}
	erl.Eval(t, fmt.Sprintf("{inbox, '%s'} ! {from_erlang, self(), [1.5, <<\"x\">>]}", g.Name()))
	got := receiveWithin(t, p, nil)
	tup, ok := got.(etf.Tuple)
	if !ok || len(tup) != 3 || tup[0] != Atom("from_erlang") {
		t.Fatalf("got %s; want {from_erlang, Pid, [1.5, <<\"x\">>]}", etf.Format(got))
	}
	if pid, ok := tup[1].(Pid); !ok || string(pid.Node) != erl.Name {
		t.Fatalf("sender pid %s is not on %s", etf.Format(tup[1]), erl.Name)
	}
}

func TestMessageOrderWithErlang(t *testing.T) {
	erl, g := erlPair(t)
	startErlEcho(t, erl)
	p, _ := g.NewProcess()
	ctx := testCtx(t)
	const n = 100000
	// Erlang sends n messages to the Go pid; they arrive in order.
	if err := p.SendName(ctx, "echo", Atom(erl.Name), etf.Tuple{p.Pid(), Atom("m"), int64(n)}); err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= n; i++ {
		m := receiveWithin(t, p, nil)
		tup, ok := m.(etf.Tuple)
		if !ok || len(tup) != 2 || tup[1] != i {
			t.Fatalf("message %d: got %s", i, etf.Format(m))
		}
	}
	// Go sends n messages to an Erlang process that checks their order.
	erl.Eval(t, `register(seqcheck, spawn(dtest, seqcheck, []))`)
	for i := int64(1); i <= n; i++ {
		if err := p.SendName(ctx, "seqcheck", Atom(erl.Name), i); err != nil {
			t.Fatal(err)
		}
	}
	p.SendName(ctx, "seqcheck", Atom(erl.Name), etf.Tuple{Atom("done"), p.Pid()})
	m := receiveWithin(t, p, nil)
	if !etf.Equal(m, etf.Tuple{Atom("seq"), int64(n)}) {
		t.Fatalf("Erlang saw %s; want {seq,%d}", etf.Format(m), n)
	}
}

func TestErlangMonitorsGoProcess(t *testing.T) {
	erl, g := erlPair(t)
	p, _ := g.NewProcess()
	g.Register("watched", p.Pid())
	// An Erlang process monitors the Go process by name and reports the DOWN.
	erl.Eval(t, fmt.Sprintf(`register(mon, spawn(fun() -> R = monitor(process, {watched, '%s'}), receive {'DOWN', R, process, Obj, Why} -> receive {get, F} -> F ! {down, Obj, Why} end end end))`, g.Name()))
	// Wait until the monitor is in place on our side.
	distributetest.WaitFor(t, "monitor from Erlang", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.rels().watchers) == 1
	})
	p.Exit(etf.Tuple{Atom("custom"), int64(7)})
	got := erl.Eval(t, `begin mon ! {get, self()}, receive M -> M after 30000 -> timeout end end`)
	want := fmt.Sprintf("{down,{watched,%s},{custom,7}}", g.Name())
	if got != want {
		t.Fatalf("Erlang saw %s; want %s", got, want)
	}
}

func TestGoMonitorsErlangProcess(t *testing.T) {
	erl, g := erlPair(t)
	startErlEcho(t, erl)
	p, _ := g.NewProcess()
	ctx := testCtx(t)
	// Get the pid of an Erlang process that waits for a stop message.
	erl.Eval(t, `register(victim, spawn(fun() -> receive {stop, R} -> exit(R) end end))`)
	p.SendName(ctx, "echo", Atom(erl.Name), etf.Tuple{p.Pid(), Atom("ping")})
	receiveWithin(t, p, nil)
	ref, err := p.MonitorName(ctx, "victim", Atom(erl.Name))
	if err != nil {
		t.Fatal(err)
	}
	// The monitor reached Erlang before the stop: both go over one connection.
	p.SendName(ctx, "victim", Atom(erl.Name), etf.Tuple{Atom("stop"), etf.Tuple{Atom("bye"), int64(1)}})
	m := receiveWithin(t, p, func(m any) bool { _, ok := m.(Down); return ok })
	d := m.(Down)
	if d.Ref != ref || !etf.Equal(d.Reason, etf.Tuple{Atom("bye"), int64(1)}) || d.Name != "victim" {
		t.Fatalf("got %+v; want Down of victim with {bye,1}", d)
	}
	// A monitor on a name nobody holds fires at once with noproc.
	ref, _ = p.MonitorName(ctx, "nobody", Atom(erl.Name))
	d = receiveWithin(t, p, func(m any) bool { _, ok := m.(Down); return ok }).(Down)
	if d.Ref != ref || d.Reason != ReasonNoProc {
		t.Fatalf("got %+v; want noproc", d)
	}
}

func TestLinksWithErlang(t *testing.T) {
	erl, g := erlPair(t)
	ctx := testCtx(t)

	// Erlang links to a Go process that then exits: the trapping Erlang
	// process gets {'EXIT', GoPid, Reason}.
	p, _ := g.NewProcess()
	g.Register("linkme", p.Pid())
	erl.Eval(t, fmt.Sprintf(`register(linker, spawn(fun() -> process_flag(trap_exit, true), {linkme, '%s'} ! {hello, self()}, receive {link_to, Pid} -> link(Pid), Pid ! linked end, receive {'EXIT', _, Why} -> receive {get, F} -> F ! {exit, Why} end end end))`, g.Name()))
	m := receiveWithin(t, p, nil)
	erlPid := m.(etf.Tuple)[1].(Pid)
	p.Send(ctx, erlPid, etf.Tuple{Atom("link_to"), p.Pid()})
	receiveWithin(t, p, func(m any) bool { return m == Atom("linked") })
	p.Exit(Atom("go_reason"))
	if got := erl.Eval(t, `begin linker ! {get, self()}, receive M -> M after 30000 -> timeout end end`); got != "{exit,go_reason}" {
		t.Fatalf("Erlang linked process saw %s; want {exit,go_reason}", got)
	}

	// Go links to an Erlang process that exits: a trapping Go process gets
	// an Exit message; a non-trapping one dies with the same reason.
	trapper, _ := g.NewProcess()
	trapper.TrapExit(true)
	dier, _ := g.NewProcess()
	g.Register("trapper", trapper.Pid())
	erl.Eval(t, fmt.Sprintf(`register(target, spawn(fun() -> {trapper, '%s'} ! {target, self()}, receive {die, R} -> exit(R) end end))`, g.Name()))
	target := receiveWithin(t, trapper, nil).(etf.Tuple)[1].(Pid)
	if err := trapper.Link(ctx, target); err != nil {
		t.Fatal(err)
	}
	if err := dier.Link(ctx, target); err != nil {
		t.Fatal(err)
	}
	trapper.Send(ctx, target, etf.Tuple{Atom("die"), Atom("erl_reason")})
	ex := receiveWithin(t, trapper, func(m any) bool { _, ok := m.(Exit); return ok }).(Exit)
	if ex.From != target || ex.Reason != Atom("erl_reason") {
		t.Fatalf("trapper got %+v", ex)
	}
	select {
	case <-dier.Done():
	case <-time.After(distributetest.Scale(10 * time.Second)):
		t.Fatal("linked Go process did not exit")
	}
	if dier.Reason() != Atom("erl_reason") {
		t.Fatalf("linked Go process exited with %v; want erl_reason", dier.Reason())
	}

	// Linking to an Erlang pid that is gone gives an Exit noproc.
	trapper.Link(ctx, target)
	ex = receiveWithin(t, trapper, func(m any) bool { _, ok := m.(Exit); return ok }).(Exit)
	if ex.Reason != ReasonNoProc {
		t.Fatalf("link to dead pid: got %+v; want noproc", ex)
	}

	// Erlang's exit/2 with kill kills even a trapping Go process: killed.
	victim, _ := g.NewProcess()
	victim.TrapExit(true)
	erl.Eval(t, `register(killer, spawn(fun() -> receive {kill, P} -> exit(P, kill) end end))`)
	victim.SendName(ctx, "killer", Atom(erl.Name), etf.Tuple{Atom("kill"), victim.Pid()})
	select {
	case <-victim.Done():
	case <-time.After(distributetest.Scale(10 * time.Second)):
		t.Fatal("victim of exit(Pid, kill) did not exit")
	}
	if victim.Reason() != ReasonKilled {
		t.Fatalf("victim exited with %v; want killed", victim.Reason())
	}
}

func TestUnlinkWithErlang(t *testing.T) {
	erl, g := erlPair(t)
	ctx := testCtx(t)
	p, _ := g.NewProcess()
	g.Register("unl", p.Pid())
	erl.Eval(t, fmt.Sprintf(`register(partner, spawn(fun() -> {unl, '%s'} ! {me, self()}, receive {die, R} -> exit(R) end end))`, g.Name()))
	partner := receiveWithin(t, p, nil).(etf.Tuple)[1].(Pid)
	if err := p.Link(ctx, partner); err != nil {
		t.Fatal(err)
	}
	if err := p.Unlink(ctx, partner); err != nil {
		t.Fatal(err)
	}
	// The unlink is acknowledged (UNLINK_ID_ACK) and the link is gone.
	distributetest.WaitFor(t, "unlink ack", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.rels().links) == 0
	})
	if got := erl.Eval(t, `element(2, process_info(whereis(partner), links))`); got != "[]" {
		t.Fatalf("Erlang side links = %s; want []", got)
	}
	p.Send(ctx, partner, etf.Tuple{Atom("die"), Atom("boom")})
	distributetest.WaitFor(t, "partner exit", func() bool { return erl.Eval(t, `whereis(partner)`) == "undefined" })
	if !p.Alive() {
		t.Fatal("unlinked process died with its former partner")
	}
}

func TestNoConnectionWhenErlangIsKilled(t *testing.T) {
	erl, g := erlPair(t)
	startErlEcho(t, erl)
	ctx := testCtx(t)
	p, _ := g.NewProcess()
	p.TrapExit(true)
	p.SendName(ctx, "echo", Atom(erl.Name), etf.Tuple{p.Pid(), Atom("hi")})
	receiveWithin(t, p, nil)
	g.Register("inbox_nc", p.Pid())
	erl.Eval(t, fmt.Sprintf(`{inbox_nc, '%s'} ! whereis(echo)`, g.Name()))
	echo := receiveWithin(t, p, func(m any) bool { _, ok := m.(Pid); return ok }).(Pid)
	ref, _ := p.Monitor(ctx, echo)
	p.Link(ctx, echo)
	// Make sure the link and monitor reached Erlang.
	p.SendName(ctx, "echo", Atom(erl.Name), etf.Tuple{p.Pid(), Atom("sync")})
	receiveWithin(t, p, func(m any) bool { return m == Atom("sync") })
	if err := erl.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d := receiveWithin(t, p, func(m any) bool { _, ok := m.(Down); return ok }).(Down)
	if d.Ref != ref || d.Reason != ReasonNoConnection {
		t.Fatalf("got %+v; want Down noconnection", d)
	}
	ex := receiveWithin(t, p, func(m any) bool { _, ok := m.(Exit); return ok }).(Exit)
	if ex.From != echo || ex.Reason != ReasonNoConnection {
		t.Fatalf("got %+v; want Exit noconnection", ex)
	}
}

func TestGenServerCallFromErlang(t *testing.T) {
	erl, g := erlPair(t)
	srv, _ := g.Spawn(func(ctx context.Context, p *Process) error {
		for {
			m, err := p.Receive(ctx)
			if err != nil {
				return nil
			}
			if from, req, ok := ParseCall(m); ok {
				p.Reply(ctx, from, etf.Tuple{Atom("echo"), req})
			}
		}
	})
	g.Register("go_server", srv.Pid())
	got := erl.Eval(t, fmt.Sprintf(`gen_server:call({go_server, '%s'}, {hello, [1,2,3]})`, g.Name()))
	if got != "{echo,{hello,[1,2,3]}}" {
		t.Fatalf("gen_server:call = %s", got)
	}
	got = erl.Eval(t, fmt.Sprintf(`catch gen_server:call({nobody, '%s'}, x, 5000)`, g.Name()))
	if !strings.HasPrefix(got, "{'EXIT',{noproc,") {
		t.Fatalf("call to unknown name = %s; want noproc at once", got)
	}
}

func TestGoCallsErlangGenServer(t *testing.T) {
	erl, g := erlPair(t)
	// A hand-written server that speaks the gen_server protocol.
	erl.Eval(t, `register(kv2, spawn(fun L() -> receive {'$gen_call', {From, Tag}, {double, X}} -> From ! {Tag, 2 * X}, L(); {'$gen_call', {_, _}, crash} -> exit(crashed) end end))`)
	p, _ := g.NewProcess()
	ctx := testCtx(t)
	// Real gen_server: application_controller answers which_applications.
	reply, err := p.CallName(ctx, "application_controller", Atom(erl.Name), Atom("which_applications"))
	if err != nil {
		t.Fatalf("call application_controller: %v", err)
	}
	if l, ok := reply.(etf.List); !ok || len(l) == 0 {
		t.Fatalf("which_applications = %s", etf.Format(reply))
	}
	reply, err = p.CallName(ctx, "kv2", Atom(erl.Name), etf.Tuple{Atom("double"), int64(21)})
	if err != nil || reply != int64(42) {
		t.Fatalf("call kv2 = %v, %v; want 42", reply, err)
	}
	_, err = p.CallName(ctx, "nobody", Atom(erl.Name), Atom("x"))
	if !errors.Is(err, ErrNoProc) {
		t.Fatalf("call to unknown name: %v; want ErrNoProc", err)
	}
	_, err = p.CallName(ctx, "kv2", Atom(erl.Name), Atom("crash"))
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Reason != Atom("crashed") {
		t.Fatalf("call to crashing server: %v; want exit crashed", err)
	}
	// A deadline gives ErrTimeout, and the late reply never shows up.
	// The slow server replies late with gen_server:reply/2 (to the alias),
	// then sends after_late to the caller's pid: same sender, same
	// connection, so after_late arrives after the late reply.
	erl.Eval(t, `register(slow, spawn(dtest, slow_server, []))`)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = p.CallName(short, "slow", Atom(erl.Name), Atom("wait"))
	cancel()
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("slow call: %v; want ErrTimeout", err)
	}
	receiveWithin(t, p, func(m any) bool { return m == Atom("after_late") })
	if n := p.MailboxLen(); n != 0 {
		t.Fatalf("mailbox has %d messages after a timed-out call; the late reply must be dropped", n)
	}
}

func TestStopSignalsShutdownToErlang(t *testing.T) {
	erl, g := erlPair(t)
	p, _ := g.NewProcess()
	g.Register("stopper", p.Pid())
	// An Erlang process links to and monitors the Go process, then reports
	// what it sees when the Go node stops.
	erl.Eval(t, fmt.Sprintf(`register(watch, spawn(fun() -> process_flag(trap_exit, true), {stopper, '%s'} ! {me, self()}, receive {go, P} -> link(P), R = monitor(process, P), P ! ready, receive {'EXIT', P, Why} -> receive {'DOWN', R, process, P, Why2} -> receive {get, F} -> F ! {Why, Why2} end end end end end))`, g.Name()))
	ctx := testCtx(t)
	erlPid := receiveWithin(t, p, nil).(etf.Tuple)[1].(Pid)
	p.Send(ctx, erlPid, etf.Tuple{Atom("go"), p.Pid()})
	receiveWithin(t, p, func(m any) bool { return m == Atom("ready") })
	distributetest.WaitFor(t, "link and monitor from Erlang", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.rels().links) == 1 && len(p.rels().watchers) == 1
	})
	if err := g.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := erl.Eval(t, `begin watch ! {get, self()}, receive M -> M after 30000 -> timeout end end`); got != "{shutdown,shutdown}" {
		t.Fatalf("Erlang saw %s; want {shutdown,shutdown}", got)
	}
}

func TestErlangCallsGoTimeoutAndDeath(t *testing.T) {
	var logs distributetest.LogBuffer
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{})
	g := startNode(t, erl.EpmdPort, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	// A Go server that never answers `wait` and dies on `die`.
	srv, _ := g.Spawn(func(ctx context.Context, p *Process) error {
		for {
			m, err := p.Receive(ctx)
			if err != nil {
				return nil
			}
			if _, req, ok := ParseCall(m); ok && req == Atom("die") {
				return &ExitError{Reason: Atom("died_mid_call")}
			}
		}
	})
	g.Register("mute", srv.Pid())
	got := erl.Eval(t, fmt.Sprintf(`catch gen_server:call({mute, '%s'}, wait, 200)`, g.Name()))
	if !strings.HasPrefix(got, "{'EXIT',{timeout,") {
		t.Fatalf("call with a timeout = %s; want a timeout exit", got)
	}
	got = erl.Eval(t, fmt.Sprintf(`catch gen_server:call({mute, '%s'}, die, 30000)`, g.Name()))
	if !strings.HasPrefix(got, "{'EXIT',{died_mid_call,") {
		t.Fatalf("call to a server that dies = %s; want exit died_mid_call", got)
	}
	// Messages to a pid or a name that does not exist are dropped with a
	// debug log; the node goes on.
	p, _ := g.NewProcess()
	g.Register("alive", p.Pid())
	dead, _ := g.NewProcess()
	deadPid := dead.Pid()
	dead.Exit(ReasonNormal)
	erl.Eval(t, `register(fwd, spawn(fun L() -> receive {to, P, M} -> P ! M, L() end end))`)
	ctx := testCtx(t)
	p.SendName(ctx, "fwd", Atom(erl.Name), etf.Tuple{Atom("to"), deadPid, Atom("lost")})
	erl.Eval(t, fmt.Sprintf(`{nosuchname, '%s'} ! lost`, g.Name()))
	erl.Eval(t, fmt.Sprintf(`{alive, '%s'} ! still_here`, g.Name()))
	if m := receiveWithin(t, p, nil); m != Atom("still_here") {
		t.Fatalf("got %v; want still_here", m)
	}
	// The forwarded message comes from another Erlang process than
	// still_here, so it may arrive after it: wait for both logs.
	for _, want := range []string{"message to a dead or unknown pid dropped", "message to unregistered name dropped"} {
		distributetest.WaitFor(t, "debug log "+want, func() bool { return strings.Contains(logs.String(), want) })
	}
}

// erlPeer is erlPair with a Go process registered as name and the Go
// node's connection to the erl node.
func erlPeer(t *testing.T, name Atom) (*distributetest.ErlNode, *Node, *Process, *peer) {
	t.Helper()
	erl, g := erlPair(t)
	p, err := g.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Register(name, p.Pid()); err != nil {
		t.Fatal(err)
	}
	pr, err := g.getPeer(testCtx(t), Atom(erl.Name))
	if err != nil {
		t.Fatal(err)
	}
	return erl, g, p, pr
}

// TestAtomCacheWithErlang: the connection to a BEAM node runs in
// distribution header mode, and atoms survive its atom cache both ways:
// more distinct atoms in one message than a header lists (255), the same
// again once they are cached, 255-character UTF-8 atoms (a long-atom
// header), and enough distinct atoms over many messages to reuse slots.
func TestAtomCacheWithErlang(t *testing.T) {
	erl, g, p, peer := erlPeer(t, "atoms")
	startErlEcho(t, erl)
	ctx := testCtx(t)
	if !peer.r.HeaderMode() || peer.flags&dist.DistHdrAtomCache == 0 {
		t.Fatalf("connection to %s not in header mode (flags %v)", erl.Name, peer.flags)
	}
	atoms := func(prefix string, from, to int) etf.List {
		var l etf.List
		for i := from; i < to; i++ {
			l = append(l, Atom(fmt.Sprintf("%s%d", prefix, i)))
		}
		return l
	}
	long := Atom(strings.Repeat("ö", 255))
	// Erlang -> Go: 600 distinct atoms in one message, twice; then 30
	// messages of 100 new atoms each (3000 atoms, more than 2048 slots).
	erl.Eval(t, fmt.Sprintf(`[{atoms, '%s'} ! [list_to_atom("c" ++ integer_to_list(I)) || I <- lists:seq(0, 599)] || _ <- [1, 2]]`, g.Name()))
	for range 2 {
		if got := receiveWithin(t, p, nil); !etf.Equal(got, atoms("c", 0, 600)) {
			t.Fatalf("600 atoms from Erlang arrived as %.200s", etf.Format(got))
		}
	}
	erl.Eval(t, fmt.Sprintf(`[{atoms, '%s'} ! [list_to_atom("d" ++ integer_to_list(I)) || I <- lists:seq(B, B + 99)] || B <- lists:seq(0, 2900, 100)]`, g.Name()))
	for b := 0; b < 3000; b += 100 {
		if got := receiveWithin(t, p, nil); !etf.Equal(got, atoms("d", b, b+100)) {
			t.Fatalf("atoms d%d.. from Erlang arrived as %.200s", b, etf.Format(got))
		}
	}
	erl.Eval(t, fmt.Sprintf(`{atoms, '%s'} ! {list_to_atom(lists:duplicate(255, $ö)), node()}`, g.Name()))
	if got := receiveWithin(t, p, nil); !etf.Equal(got, etf.Tuple{long, Atom(erl.Name)}) {
		t.Fatalf("a 255-character atom from Erlang arrived as %s", etf.Format(got))
	}
	// Go -> Erlang and back through the echo: the same shapes.
	for _, msg := range []Term{atoms("e", 0, 600), atoms("e", 0, 600), etf.Tuple{long, g.Name(), Atom("")}} {
		if err := p.SendName(ctx, "echo", Atom(erl.Name), etf.Tuple{p.Pid(), msg}); err != nil {
			t.Fatal(err)
		}
		if got := receiveWithin(t, p, nil); !etf.Equal(got, msg) {
			t.Fatalf("echo of %.100s = %.200s", etf.Format(msg), etf.Format(got))
		}
	}
}

// bigAndSmall is what a sender S ('a' or 'b') sends in the fragment
// tests: for I in 1..5, {S, I, a binary of 150000+I bytes S} and then
// {S, I, small}.
func bigAndSmall(s byte) []Term {
	var out []Term
	for i := 1; i <= 5; i++ {
		out = append(out,
			etf.Tuple{int64(s), int64(i), etf.Binary(bytes.Repeat([]byte{s}, 150000+i))},
			etf.Tuple{int64(s), int64(i), Atom("small")})
	}
	return out
}

// checkBigAndSmall checks that got is what two bigAndSmall senders, 'a'
// and 'b', sent: every message whole and exact, in order per sender.
func checkBigAndSmall(t *testing.T, got []Term) {
	t.Helper()
	want := map[byte][]Term{'a': bigAndSmall('a'), 'b': bigAndSmall('b')}
	for _, m := range got {
		tup, ok := m.(etf.Tuple)
		if !ok || len(tup) != 3 {
			t.Fatalf("got %.100s", etf.Format(m))
		}
		s, _ := tup[0].(int64)
		w := want[byte(s)]
		if len(w) == 0 || !etf.Equal(m, w[0]) {
			t.Fatalf("got %.100s; want the next of sender %c", etf.Format(m), byte(s))
		}
		want[byte(s)] = w[1:]
	}
	if len(want['a'])+len(want['b']) != 0 {
		t.Fatalf("%d and %d messages missing", len(want['a']), len(want['b']))
	}
}

// TestFragmentsToErlang: a Go node cuts messages above dist.FragmentSize
// into fragments for a BEAM peer with FRAGMENTS. Two Go processes send
// large binaries with small messages between, at once, and Erlang gets
// every message whole and exact, in order per sender.
func TestFragmentsToErlang(t *testing.T) {
	erl, g, p, peer := erlPeer(t, "collector")
	ctx := testCtx(t)
	erl.Eval(t, `register(fragsink, spawn(fun() -> receive {From, N} -> From ! {collected, [receive M -> M end || _ <- lists:seq(1, N)]} end end)), ok`)
	if err := p.SendName(ctx, "fragsink", Atom(erl.Name), etf.Tuple{p.Pid(), int64(20)}); err != nil {
		t.Fatal(err)
	}
	before := peer.w.Sequences()
	var wg sync.WaitGroup
	for _, s := range []byte{'a', 'b'} {
		sender, err := g.NewProcess()
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, m := range bigAndSmall(s) {
				if err := sender.SendName(ctx, "fragsink", Atom(erl.Name), m); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := peer.w.Sequences() - before; n != 10 {
		t.Fatalf("%d messages went out in fragments; want the 10 large ones", n)
	}
	reply, ok := receiveWithin(t, p, nil).(etf.Tuple)
	if !ok || len(reply) != 2 || reply[0] != Atom("collected") {
		t.Fatalf("collector answered %.100s", etf.Format(reply))
	}
	got, _ := reply[1].(etf.List)
	checkBigAndSmall(t, got)
}

// TestFragmentsFromErlang: Erlang splits messages above 64 KiB into
// fragments for a peer with FRAGMENTS; two Erlang processes sending large
// binaries at once interleave their fragment sequences, with small
// messages between. Every message arrives whole and exact, in order per
// sender.
func TestFragmentsFromErlang(t *testing.T) {
	erl, g, p, peer := erlPeer(t, "big")
	if peer.flags&dist.Fragments == 0 {
		t.Fatalf("FRAGMENTS not negotiated with %s: %v", erl.Name, peer.flags)
	}
	before := peer.conn.Stats().FramesIn
	erl.Eval(t, fmt.Sprintf(`{big, '%s'} ! {one, binary:copy(<<"x">>, 200000)}`, g.Name()))
	if got := receiveWithin(t, p, nil); !etf.Equal(got, etf.Tuple{Atom("one"), etf.Binary(bytes.Repeat([]byte("x"), 200000))}) {
		t.Fatalf("a 200 kB binary arrived as %.100s", etf.Format(got))
	}
	if frames := peer.conn.Stats().FramesIn - before; frames < 4 {
		t.Fatalf("a 200 kB message came in %d frames; want 4 fragments", frames)
	}
	// Two senders, each: 5 large binaries with a small message after each
	// (bigAndSmall).
	erl.Eval(t, fmt.Sprintf(`[spawn(fun() -> [begin {big, '%s'} ! {S, I, binary:copy(<<S>>, 150000 + I)}, {big, '%s'} ! {S, I, small} end || I <- lists:seq(1, 5)] end) || S <- [$a, $b]], ok`, g.Name(), g.Name()))
	var got []Term
	for range 20 {
		got = append(got, receiveWithin(t, p, nil))
	}
	checkBigAndSmall(t, got)
	if seqs, held := peer.r.Reassembly(); seqs != 0 || held != 0 {
		t.Fatalf("%d sequences, %d bytes still held", seqs, held)
	}
}

// TestStopDeliversToErlangStillSending: what a node sent before Stop
// reaches an Erlang peer that is still sending to it. A plain close of a
// socket with data arriving resets the connection, and the reset makes
// Erlang's side drop what it had received but not yet read.
func TestStopDeliversToErlangStillSending(t *testing.T) {
	erl, g := erlPair(t)
	p, _ := g.NewProcess()
	g.Register("target", p.Pid())
	ctx := testCtx(t)
	// sink counts what the Go node sends; flood sends to it without end,
	// until the connection is gone.
	erl.Eval(t, `register(sink, spawn(fun() -> Loop = fun L(N) -> receive {n, _} -> L(N + 1); {get, F} -> F ! N, L(N) end end, Loop(0) end))`)
	erl.Eval(t, fmt.Sprintf(`begin T = {target, '%s'}, spawn(fun() -> Loop = fun L(K) -> case erlang:send(T, {flood, K}, [noconnect]) of noconnect -> done; _ -> L(K + 1) end end, T ! started, Loop(0) end) end`, g.Name()))
	receiveWithin(t, p, func(m any) bool { return true })
	const n = 5000
	for i := 0; i < n; i++ {
		if err := p.SendName(ctx, "sink", Atom(erl.Name), etf.Tuple{Atom("n"), i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := erl.Eval(t, `begin sink ! {get, self()}, receive N -> N after 30000 -> timeout end end`); got != fmt.Sprint(n) {
		t.Fatalf("Erlang received %s of the %d messages sent before Stop", got, n)
	}
}
