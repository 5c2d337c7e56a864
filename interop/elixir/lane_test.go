package elixir

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/cluster"
	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/groups"
	"github.com/distribute-go/distribute/registry"
	"github.com/distribute-go/distribute/rpc"
)

const cookie = "elixirlane"

// cliBinary is the distribute command, built by TestMain when elixir is
// on the PATH.
var cliBinary string

func TestMain(m *testing.M) {
	var dir string
	if _, err := exec.LookPath("elixir"); err == nil {
		var err error
		if dir, err = os.MkdirTemp("", "distribute-elixir"); err != nil {
			panic(err)
		}
		cliBinary = filepath.Join(dir, "distribute")
		if out, err := exec.Command("go", "build", "-o", cliBinary, "github.com/distribute-go/distribute/cmd/distribute").CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			panic("go build: " + err.Error() + "\n" + string(out))
		}
	}
	distributetest.VerifyTestMain(m, func() {
		if dir != "" {
			os.RemoveAll(dir)
		}
	})
}

// requireElixir returns the path of elixir, or skips the test (fails it
// with DISTRIBUTE_REQUIRE_ELIXIR=1).
func requireElixir(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("elixir")
	if err == nil && cliBinary != "" {
		return p
	}
	const msg = "elixir not found on PATH: install Debian's elixir to run the Elixir lane"
	if os.Getenv("DISTRIBUTE_REQUIRE_ELIXIR") == "1" {
		t.Fatal(msg + " (DISTRIBUTE_REQUIRE_ELIXIR=1)")
	}
	t.Skip(msg)
	return ""
}

// The scenarios lane.exs runs, in its order; each is a subtest.
var laneScenarios = []string{
	"node_connect",
	"genserver_call_actor", "genserver_cast_actor", "genserver_call_actor_bad_request",
	"genserver_call_gen_server", "genserver_cast_gen_server", "genserver_multi_call", "genserver_abcast",
	"monitor_go_process", "go_monitors_elixir_process",
	"link_elixir_exit_kills_go", "link_go_exit_reaches_trapping_elixir", "link_elixir_exit_reaches_trapping_go",
	"exit_signal_to_go", "exit_signal_from_go",
	"erpc_return", "erpc_undef", "erpc_raise", "erpc_throw", "erpc_exit", "erpc_timeout",
	"rpc_undef", "rpc_raise", "rpc_throw", "rpc_exit", "rpc_timeout",
	"global_whereis_go_name", "global_register", "global_trans",
	"pg_default_scope", "pg_phoenix_broadcast_to_go", "pg_phoenix_broadcast_from_go", "pg_phoenix_direct_broadcast",
	"struct_roundtrip", "string_key_map_roundtrip",
	"sys_get_state", "sys_get_status", "sys_suspend", "sys_resume", "sys_replace_state", "sys_terminate",
	"genserver_stop", "genserver_stop_reason", "sys_get_state_gen_server",
	"cli_inbox_call", "cli_inbox_sys_get_state", "cli_inbox_stop",
	"node_monitor", "global_conflict",
	"iolist_2000_chunks", "bools_1_1m",
}

// TestElixirLane runs lane.exs on a visible Elixir node and hidden_pg.exs
// on a hidden one, at once, against two in-process Go cluster nodes and a
// hidden `distribute node` OS process; then checks what Go saw.
func TestElixirLane(t *testing.T) {
	elixir := requireElixir(t)
	port := distributetest.StartEpmd(t)
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(4*time.Minute))
	defer cancel()

	go1 := startGo(t, ctx, port, "go1@127.0.0.1")
	go2 := startGo(t, ctx, port, "go2@127.0.0.1")
	if err := go1.Node().Connect(ctx, go2.Node().Name()); err != nil {
		t.Fatal(err)
	}
	toVM := make(chan string, 4)
	c := setupGo1(t, ctx, go1, go2, toVM)
	startEcho(t, go2.Node())
	cli := startCLINode(t, port, "cli@127.0.0.1")

	// Go watches the Elixir node as a BEAM peer would: up (visible), and a
	// MonitorNode that fires when the connection goes.
	const exNode = distribute.Atom("ex@127.0.0.1")
	events := go1.Node().WatchNodes(ctx)
	watcher, err := go1.Node().NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Exit(distribute.ReasonNormal)
	upSeen := make(chan distribute.NodeEvent, 1)
	var watchWG sync.WaitGroup
	watchWG.Add(1)
	go func() {
		defer watchWG.Done()
		for ev := range events {
			if ev.Node == exNode && ev.Up {
				watcher.MonitorNode(ctx, exNode)
				upSeen <- ev
				return
			}
		}
	}()

	start := time.Now()
	hidden := startVM(t, elixir, port, "exh@127.0.0.1", true, "hidden_pg.exs", string(go1.Node().Name()))
	main := startVM(t, elixir, port, string(exNode), false, "lane.exs",
		string(go1.Node().Name()), string(go2.Node().Name()), cli.name)
	go func() {
		for s := range toVM {
			main.writeLine(s)
		}
	}()
	defer close(toVM)
	main.wait(t, distributetest.Scale(4*time.Minute))
	hidden.wait(t, distributetest.Scale(time.Minute))
	t.Logf("the Elixir VMs ran %d scenarios in %v", len(laneScenarios)+1, time.Since(start).Round(time.Millisecond))

	for _, name := range laneScenarios {
		t.Run(name, func(t *testing.T) { main.check(t, name) })
	}
	t.Run("hidden_pg_receives_nothing", func(t *testing.T) { hidden.check(t, "hidden_pg_receives_nothing") })
	if extra := main.unexpected(laneScenarios); len(extra) > 0 {
		t.Errorf("lane.exs ran scenarios the test does not list: %v", extra)
	}

	t.Run("go_sees_elixir_visible", func(t *testing.T) {
		select {
		case ev := <-upSeen:
			if !ev.Visible || !ev.Published {
				t.Fatalf("the Elixir node's connection: %+v; want visible and published", ev)
			}
		default:
			t.Fatal("no up event for the Elixir node")
		}
	})
	t.Run("go_monitor_node_fires", func(t *testing.T) {
		mctx, cancel := context.WithTimeout(ctx, distributetest.Scale(20*time.Second))
		defer cancel()
		m, err := watcher.ReceiveMatch(mctx, func(m any) bool { d, ok := m.(distribute.NodeDown); return ok && d.Node == exNode })
		if err != nil {
			t.Fatalf("no NodeDown for the Elixir node: %v", err)
		}
		t.Logf("%+v", m)
	})
	t.Run("go_actor_terminate_ran", func(t *testing.T) {
		for _, v := range []string{"victim1", "victim2", "victim3"} {
			want := map[string]string{"victim1": "shutdown", "victim2": "normal", "victim3": "{shutdown,bye}"}[v]
			if got := c.terminated(v); got != want {
				t.Errorf("%s: Terminate got reason %q; want %q", v, got, want)
			}
		}
	})
	t.Run("cli_node_still_running", func(t *testing.T) {
		if cli.exited() {
			t.Fatal("the distribute node exited after GenServer.stop of its inbox")
		}
	})
	cancel()
	watchWG.Wait()
	c.wait()
}

// startGo starts a visible cluster node (no membership) on loopback.
func startGo(t *testing.T, ctx context.Context, epmdPort int, name string) *cluster.Cluster {
	t.Helper()
	cl, err := cluster.Start(ctx, cluster.Config{
		Node: distribute.Config{
			Name: name, Cookie: cookie, EpmdPort: epmdPort, ListenAddr: "127.0.0.1:0",
		},
		NoMembership: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			sctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
			defer cancel()
			cl.Stop(sctx)
		})
	})
	return cl
}

// counterActor sums the Ints it is sent and answers a call with the sum.
func counterActor(name distribute.Atom, terminated func(reason etf.Term)) *distribute.Actor[int64, int64, int64] {
	return &distribute.Actor[int64, int64, int64]{
		Name:  name,
		Msg:   codec.Int,
		Reply: codec.Int,
		HandleMessage: func(ctx context.Context, self *distribute.Process, sum, v int64) (int64, error) {
			return sum + v, nil
		},
		HandleCall: func(ctx context.Context, self *distribute.Process, sum, v int64) (int64, int64, error) {
			return sum + v, sum + v, nil
		},
		Terminate: func(ctx context.Context, self *distribute.Process, sum int64, reason etf.Term) {
			if terminated != nil {
				terminated(reason)
			}
		},
	}
}

// startEcho registers echo on n: a hand-written gen_server that answers
// {echo, T} with T and get with what {'$gen_cast', {store, X}} stored,
// and answers sys requests (state #{stored => X}).
func startEcho(t *testing.T, n *distribute.Node) distribute.Pid {
	t.Helper()
	p, err := n.Spawn(func(ctx context.Context, p *distribute.Process) error {
		var stored etf.Term = etf.Atom("undefined")
		state := func() any { return etf.Map{{Key: etf.Atom("stored"), Value: stored}} }
		for {
			m, err := p.Receive(ctx)
			if err != nil {
				return err
			}
			if ok, err := p.HandleSystem(ctx, m, state); ok {
				if err != nil {
					return err
				}
				continue
			}
			if from, req, ok := distribute.ParseCall(m); ok {
				if r, ok := req.(etf.Tuple); ok && len(r) == 2 && r[0] == etf.Atom("echo") {
					p.Reply(ctx, from, r[1])
				} else if req == etf.Atom("get") {
					p.Reply(ctx, from, stored)
				}
				continue
			}
			if req, ok := distribute.ParseCast(m); ok {
				if r, ok := req.(etf.Tuple); ok && len(r) == 2 && r[0] == etf.Atom("store") {
					stored = r[1]
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Register("echo", p.Pid()); err != nil {
		t.Fatal(err)
	}
	return p.Pid()
}

// laneUser is the Go side of %Lane.User{}.
type laneUser struct {
	_    struct{} `etf:"elixir,Elixir.Lane.User"`
	Name string
	Age  int
	Tags []string `etf:"tags,atom"`
}

const (
	phxScope   = distribute.Atom("Elixir.Phoenix.PubSub")
	phxAdapter = distribute.Atom("Elixir.Lane.PubSub.Adapter")
)

// control is the Go side the lane drives through the ctl gen_server.
type control struct {
	go1, go2 *cluster.Cluster
	phx      *groups.Scope
	toVM     chan<- string

	mu    sync.Mutex // protects term, loser
	term  map[string]string
	loser *distribute.Process

	wg     sync.WaitGroup // the conflict watcher
	go2Off sync.Once
}

func (c *control) terminated(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.term[name]
}

func (c *control) wait() { c.wg.Wait() }

// setupGo1 starts what lane.exs uses on go1.
func setupGo1(t *testing.T, ctx context.Context, go1, go2 *cluster.Cluster, toVM chan<- string) *control {
	t.Helper()
	n := go1.Node()
	c := &control{go1: go1, go2: go2, toVM: toVM, term: make(map[string]string)}

	if _, err := counterActor("counter", nil).Start(ctx, n); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"victim1", "victim2", "victim3"} {
		a := counterActor(distribute.Atom(v), func(reason etf.Term) {
			c.mu.Lock()
			c.term[v] = etf.Format(reason)
			c.mu.Unlock()
		})
		if _, err := a.Start(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	echo := startEcho(t, n)
	if err := go1.Registry().Register(ctx, etf.Atom("go_global"), echo); err != nil {
		t.Fatal(err)
	}

	// erpc and rpc: every outcome.
	r := go1.RPC()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(r.Register("gox", "echo", 1, func(_ context.Context, args []etf.Term) (etf.Term, error) { return args[0], nil }))
	must(r.Register("gox", "raise", 1, func(_ context.Context, args []etf.Term) (etf.Term, error) { return nil, rpc.Raise(args[0]) }))
	must(r.Register("gox", "throw", 1, func(_ context.Context, args []etf.Term) (etf.Term, error) { return nil, rpc.Throw(args[0]) }))
	must(r.Register("gox", "exit", 1, func(_ context.Context, args []etf.Term) (etf.Term, error) { return nil, rpc.Exit(args[0]) }))
	must(r.Register("gox", "sleep", 1, func(ctx context.Context, args []etf.Term) (etf.Term, error) {
		ms, _ := args[0].(int64)
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			return etf.Atom("ok"), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}))

	// pg, default scope: a member that answers {ping, From} with {pong, Self}.
	member, err := n.Spawn(func(ctx context.Context, p *distribute.Process) error {
		for {
			m, err := p.Receive(ctx)
			if err != nil {
				return err
			}
			if t, ok := m.(etf.Tuple); ok && len(t) == 2 && t[0] == etf.Atom("ping") {
				if from, ok := t[1].(distribute.Pid); ok {
					p.Send(ctx, from, etf.Tuple{etf.Atom("pong"), p.Pid()})
				}
			}
		}
	})
	must(err)
	must(go1.Groups().Join(ctx, etf.Atom("go_workers"), member.Pid()))

	// Phoenix.PubSub's PG adapter, the Go side: a scope named
	// Phoenix.PubSub, a worker registered and joined under the adapter
	// name that hands {forward_to_local, Topic, Msg, Dispatcher} to the
	// local subscribers, and a subscriber of room:1 that answers
	// {hello, ReplyTo} with {go_got, Topic, hello}.
	if c.phx, err = groups.Start(ctx, n, groups.Config{Scope: phxScope}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
		defer cancel()
		c.phx.Stop(sctx)
	})
	sub, err := n.Spawn(func(ctx context.Context, p *distribute.Process) error {
		for {
			m, err := p.Receive(ctx)
			if err != nil {
				return err
			}
			if t, ok := m.(etf.Tuple); ok && len(t) == 2 && t[0] == etf.Atom("hello") {
				if to, ok := t[1].(distribute.Pid); ok {
					p.Send(ctx, to, etf.Tuple{etf.Atom("go_got"), etf.Binary("room:1"), etf.Atom("hello")})
				}
			}
		}
	})
	must(err)
	subscribers := map[string][]distribute.Pid{"room:1": {sub.Pid()}}
	worker, err := n.Spawn(func(ctx context.Context, p *distribute.Process) error {
		for {
			m, err := p.Receive(ctx)
			if err != nil {
				return err
			}
			t, ok := m.(etf.Tuple)
			if !ok || len(t) != 4 || t[0] != etf.Atom("forward_to_local") {
				continue
			}
			topic, _ := t[1].(etf.Binary)
			for _, s := range subscribers[string(topic)] {
				p.Send(ctx, s, t[2])
			}
		}
	})
	must(err)
	must(n.Register(phxAdapter, worker.Pid()))
	must(c.phx.Join(ctx, phxAdapter, worker.Pid()))

	ctl, err := n.Spawn(c.loop)
	must(err)
	must(n.Register("ctl", ctl.Pid()))
	return c
}

// loop is the ctl gen_server.
func (c *control) loop(ctx context.Context, p *distribute.Process) error {
	for {
		m, err := p.Receive(ctx)
		if err != nil {
			return err
		}
		from, req, ok := distribute.ParseCall(m)
		if !ok {
			continue
		}
		p.Reply(ctx, from, c.handle(ctx, p, from, req))
	}
}

var (
	atomOK        = etf.Atom("ok")
	atomUndefined = etf.Atom("undefined")
)

func errorTerm(err error) etf.Term { return etf.Tuple{etf.Atom("error"), etf.Binary(err.Error())} }

// handle answers one ctl request.
func (c *control) handle(ctx context.Context, p *distribute.Process, from distribute.From, req etf.Term) etf.Term {
	n := c.go1.Node()
	reg := c.go1.Registry()
	if a, ok := req.(etf.Atom); ok {
		switch a {
		case "spawn_puppet":
			pp, err := n.Spawn(puppet)
			if err != nil {
				return errorTerm(err)
			}
			return etf.Tuple{atomOK, pp.Pid()}
		case "stop_go2":
			var err error
			c.go2Off.Do(func() {
				sctx, cancel := context.WithTimeout(ctx, distributetest.Scale(10*time.Second))
				defer cancel()
				err = c.go2.Stop(sctx)
			})
			if err != nil {
				return errorTerm(err)
			}
			return atomOK
		case "conflict_loser_alive":
			c.mu.Lock()
			defer c.mu.Unlock()
			return etf.Bool(c.loser != nil && c.loser.Alive())
		}
		return etf.Tuple{etf.Atom("error"), etf.Atom("unknown_request")}
	}
	t, ok := req.(etf.Tuple)
	if !ok || len(t) < 2 {
		return etf.Tuple{etf.Atom("error"), etf.Atom("bad_request")}
	}
	switch t[0] {
	case etf.Atom("visible"):
		node, _ := t[1].(etf.Atom)
		return etf.Bool(slices.Contains(n.VisibleNodes(), node))
	case etf.Atom("global_whereis"):
		sctx, cancel := context.WithTimeout(ctx, distributetest.Scale(10*time.Second))
		defer cancel()
		if err := reg.Sync(sctx); err != nil {
			return errorTerm(err)
		}
		if pid, ok := reg.Whereis(t[1]); ok {
			return pid
		}
		return atomUndefined
	case etf.Atom("pg_members"):
		scope := c.go1.Groups()
		if t[1] == phxScope {
			scope = c.phx
		}
		out := etf.List{}
		for _, m := range scope.Members(t[2]) {
			out = append(out, m)
		}
		return out
	case etf.Atom("phx_broadcast"):
		for _, m := range c.phx.Members(phxAdapter) {
			if m.Node != n.Name() {
				p.Send(ctx, m, etf.Tuple{etf.Atom("forward_to_local"), t[1], t[2], phxScope})
			}
		}
		return atomOK
	case etf.Atom("struct_roundtrip"):
		var u laneUser
		if err := etf.FromTerm(t[1], &u); err != nil {
			return errorTerm(err)
		}
		out, err := etf.ToTerm(u)
		if err != nil {
			return errorTerm(err)
		}
		return out
	case etf.Atom("map_roundtrip"):
		var m map[string]any
		if err := etf.FromTerm(t[1], &m); err != nil {
			return errorTerm(err)
		}
		out, err := etf.ToTerm(m)
		if err != nil {
			return errorTerm(err)
		}
		return out
	case etf.Atom("hold_lock"):
		ok, err := reg.SetLock(ctx, p, registry.LockID{Resource: t[1], Requester: p.Pid()}, nil, 0)
		if err != nil {
			return errorTerm(err)
		}
		if !ok {
			return etf.Tuple{etf.Atom("error"), etf.Atom("not_set")}
		}
		return atomOK
	case etf.Atom("release_lock"):
		reg.DelLock(ctx, p, registry.LockID{Resource: t[1], Requester: p.Pid()}, nil)
		return atomOK
	case etf.Atom("arm_conflict"):
		// Once the Elixir node disconnects, register the name here too,
		// then tell the script: the partition heals with the name taken
		// on both sides.
		events := n.WatchNodes(ctx)
		name := t[1]
		peer := from.Pid.Node
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for ev := range events {
				if ev.Node != peer || ev.Up {
					continue
				}
				// The registry learns of the nodedown on its own: until it
				// has, a Register would still lock on the Elixir node and
				// so reconnect to it.
				deadline := time.Now().Add(distributetest.Scale(10 * time.Second))
				for slices.Contains(reg.Known(), peer) && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				g, err := n.Spawn(func(ctx context.Context, p *distribute.Process) error {
					_, err := p.ReceiveMatch(ctx, func(m any) bool { return m == etf.Atom("stop") })
					return err
				})
				if err != nil {
					return
				}
				c.mu.Lock()
				c.loser = g
				c.mu.Unlock()
				rctx, cancel := context.WithTimeout(ctx, distributetest.Scale(10*time.Second))
				err = reg.Register(rctx, name, g.Pid())
				cancel()
				if err == nil {
					c.toVM <- "conflict_ready"
				}
				return
			}
		}()
		return atomOK
	}
	return etf.Tuple{etf.Atom("error"), etf.Atom("unknown_request")}
}

// puppet is a Go process the lane drives: calls {link, Pid}, {monitor,
// Pid} (answers the ref), {trap_exit, Bool}, {report_to, Pid} (then every
// Down and Exit it gets is sent there as {go_saw, {'DOWN', ...}} or
// {go_saw, {'EXIT', From, Reason}}), {exit_signal, Pid, Reason}, ping;
// the message {exit, Reason} makes it exit with Reason.
func puppet(ctx context.Context, p *distribute.Process) error {
	var reportTo *distribute.Pid
	report := func(t etf.Term) {
		if reportTo != nil {
			p.Send(ctx, *reportTo, etf.Tuple{etf.Atom("go_saw"), t})
		}
	}
	for {
		m, err := p.Receive(ctx)
		if err != nil {
			return err
		}
		switch v := m.(type) {
		case distribute.Down:
			report(etf.Tuple{etf.Atom("DOWN"), v.Ref, etf.Atom("process"), v.Pid, v.Reason})
			continue
		case distribute.Exit:
			report(etf.Tuple{etf.Atom("EXIT"), v.From, v.Reason})
			continue
		}
		if from, req, ok := distribute.ParseCall(m); ok {
			p.Reply(ctx, from, puppetCall(ctx, p, req, &reportTo))
			continue
		}
		if t, ok := m.(etf.Tuple); ok && len(t) == 2 && t[0] == etf.Atom("exit") {
			return &distribute.ExitError{Reason: t[1]}
		}
	}
}

func puppetCall(ctx context.Context, p *distribute.Process, req etf.Term, reportTo **distribute.Pid) etf.Term {
	if req == etf.Atom("ping") {
		return etf.Atom("pong")
	}
	t, ok := req.(etf.Tuple)
	if !ok || len(t) < 2 {
		return etf.Atom("bad_request")
	}
	pid, _ := t[1].(distribute.Pid)
	var err error
	switch t[0] {
	case etf.Atom("link"):
		err = p.Link(ctx, pid)
	case etf.Atom("monitor"):
		ref, err := p.Monitor(ctx, pid)
		if err != nil {
			return errorTerm(err)
		}
		return ref
	case etf.Atom("trap_exit"):
		p.TrapExit(t[1] == etf.Atom("true"))
	case etf.Atom("report_to"):
		*reportTo = &pid
	case etf.Atom("exit_signal"):
		if len(t) != 3 {
			return etf.Atom("bad_request")
		}
		err = p.SendExit(ctx, pid, t[2])
	default:
		return etf.Atom("bad_request")
	}
	if err != nil {
		return errorTerm(err)
	}
	return atomOK
}

// cliNode is a `distribute node` OS process.
type cliNode struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func (c *cliNode) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// startCLINode runs a hidden `distribute node --inbox box` and waits for
// its started line; it is killed by pid when the test ends.
func startCLINode(t *testing.T, epmdPort int, name string) *cliNode {
	t.Helper()
	cmd := exec.Command(cliBinary, "node", "--name", name, "--cookie", cookie, "--epmd-port", strconv.Itoa(epmdPort),
		"--listen", "127.0.0.1:0", "--hidden", "--inbox", "box")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &cliNode{name: name, cmd: cmd, done: make(chan struct{})}
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			if first && sc.Text() == "started "+name {
				close(started)
				first = false
			}
		}
		cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-c.done
	})
	select {
	case <-started:
	case <-c.done:
		t.Fatalf("%s exited before starting", name)
	case <-time.After(distributetest.Scale(30 * time.Second)):
		t.Fatalf("%s did not start", name)
	}
	return c
}

// vm is an elixir script running as a node.
type vm struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}

	mu      sync.Mutex // protects results, output, sawDone
	results map[string]string
	output  strings.Builder
	sawDone bool
}

// startVM runs testdata/script on a node named name (hidden if asked)
// with a private epmd; it is killed (its process group, by pid) when the
// test ends.
func startVM(t *testing.T, elixir string, epmdPort int, name string, hidden bool, script string, args ...string) *vm {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("testdata", script))
	if err != nil {
		t.Fatal(err)
	}
	argv := []string{"--name", name, "--cookie", cookie}
	if hidden {
		argv = append([]string{"--hidden"}, argv...)
	}
	argv = append(append(argv, path), args...)
	cmd := exec.Command(elixir, argv...)
	aflags := "-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}"
	if !hidden {
		aflags += " -kernel start_pg true"
	}
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(epmdPort), "ERL_AFLAGS="+aflags, "ERL_CRASH_DUMP_SECONDS=0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	v := &vm{name: name, cmd: cmd, stdin: stdin, done: make(chan struct{}), results: make(map[string]string)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(v.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 4<<20)
		for sc.Scan() {
			v.line(sc.Text())
		}
		cmd.Wait()
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-v.done:
		case <-time.After(distributetest.Scale(10 * time.Second)):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-v.done
		}
	})
	return v
}

func (v *vm) line(l string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.output.WriteString(l)
	v.output.WriteByte('\n')
	if rest, ok := strings.CutPrefix(l, "SCENARIO "); ok {
		name, result, _ := strings.Cut(rest, " ")
		v.results[name] = result
	}
	if l == "DONE" {
		v.sawDone = true
	}
}

func (v *vm) writeLine(s string) {
	io.WriteString(v.stdin, s+"\n")
}

// wait waits for the script to end, killing it after d.
func (v *vm) wait(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-v.done:
	case <-time.After(d):
		syscall.Kill(-v.cmd.Process.Pid, syscall.SIGKILL)
		<-v.done
		t.Errorf("%s: killed after %v", v.name, d)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.sawDone {
		t.Errorf("%s did not finish (exit %v); output:\n%s", v.name, v.cmd.ProcessState, v.output.String())
	}
}

// check fails t unless the scenario printed ok.
func (v *vm) check(t *testing.T, name string) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	r, ok := v.results[name]
	switch {
	case !ok:
		t.Fatalf("%s: scenario %s did not report", v.name, name)
	case r != "ok":
		t.Fatalf("%s: %s", name, strings.TrimPrefix(r, "fail "))
	}
}

// unexpected lists the scenarios that reported but are not in names.
func (v *vm) unexpected(names []string) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for n := range v.results {
		if !slices.Contains(names, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}
