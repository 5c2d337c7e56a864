package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/groups"
	"github.com/distribute-go/distribute/rpc"
	"github.com/spf13/cobra"
)

// The demo: a local cluster of Go nodes, each its own OS process running
// `distribute node`, plus an Erlang node when erl is installed, driven by
// a controller node in this process. Each step prints what it does and
// checks what happened; the demo exits 0 only if every step did.

func newDemoCmd() *cobra.Command {
	var (
		nodes    int
		noErlang bool
		epmdPort int
		timeout  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a local cluster and walk through what distribute does",
		Long: "Start a local cluster of Go nodes (and an Erlang node when erl is installed),\n" +
			"then walk through connections, calls, messages, membership, RPC, leader\n" +
			"election, the global registry, a group broadcast, and the failure of the\n" +
			"leader with its detection and a new election, printing each step. Exits 0\n" +
			"when every step did what it should.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if nodes < 2 || nodes > 9 {
				return usageError("demo: --nodes %d: want 2 to 9", nodes)
			}
			// Ctrl-C (or SIGTERM) ends the walk-through and still stops
			// every node it started and removes its files; a second one
			// exits at once.
			sigCtx, stopSignals := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stopSignals()
			go func() {
				<-sigCtx.Done()
				stopSignals()
			}()
			ctx, cancel := context.WithTimeout(sigCtx, timeout)
			defer cancel()
			d := &demo{out: cmd.OutOrStdout(), nodes: nodes, erlang: !noErlang, epmdPort: epmdPort}
			err := d.run(ctx)
			d.cleanup()
			if sigCtx.Err() != nil && cmd.Context().Err() == nil {
				return remoteError(errors.New("demo: interrupted; every node it started is stopped"))
			}
			if err != nil {
				return remoteError(fmt.Errorf("demo: %v", err))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&nodes, "nodes", 3, "how many Go nodes to start")
	f.BoolVar(&noErlang, "no-erlang", false, "do not add an Erlang node even when erl is installed")
	f.IntVar(&epmdPort, "epmd-port", 0, "epmd port (default: a free port, served by the demo's embedded epmd)")
	f.DurationVar(&timeout, "timeout", 50*time.Second, "give up after this long")
	return cmd
}

type demo struct {
	out      io.Writer
	nodes    int
	erlang   bool
	epmdPort int
	cookie   string

	ctl      *distribute.Node
	me       *distribute.Process
	dataDir  string // the Go nodes' election data dirs, removed at cleanup
	children []*demoChild
	steps    int
	started  time.Time
}

type demoChild struct {
	name  distribute.Atom
	cmd   *exec.Cmd
	lines chan string
	dir   string
}

func (d *demo) step(format string, args ...any) {
	d.steps++
	fmt.Fprintf(d.out, "[%2d] %s\n", d.steps, fmt.Sprintf(format, args...))
}

func (d *demo) ok(format string, args ...any) {
	fmt.Fprintf(d.out, "     ok: %s\n", fmt.Sprintf(format, args...))
}

func (d *demo) run(ctx context.Context) error {
	d.started = time.Now()
	var b [6]byte
	rand.Read(b[:])
	d.cookie = "demo-" + hex.EncodeToString(b[:])
	if d.epmdPort == 0 {
		port, err := freePort()
		if err != nil {
			return err
		}
		d.epmdPort = port
	}

	d.step("controller node: demo@localhost, cookie %s, epmd on 127.0.0.1:%d", d.cookie, d.epmdPort)
	ctl, err := distribute.Start(ctx, distribute.Config{
		Name: "demo@localhost", Cookie: d.cookie, EpmdPort: d.epmdPort,
		EpmdListen: fmt.Sprintf("127.0.0.1:%d", d.epmdPort),
	})
	if err != nil {
		return fmt.Errorf("start controller: %w", err)
	}
	d.ctl = ctl
	d.me, _ = ctl.NewProcess()
	d.ok("no epmd was running, so the controller hosts an embedded one (creation %d)", ctl.Creation())

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if d.dataDir, err = os.MkdirTemp("", "distribute-demo"); err != nil {
		return err
	}
	d.step("start %d Go nodes, each its own OS process (`distribute node --inbox inbox --election --expect %d`)", d.nodes, d.nodes)
	for i := 1; i <= d.nodes; i++ {
		c, err := d.startGoNode(ctx, exe, distribute.Atom(fmt.Sprintf("go%d@localhost", i)))
		if err != nil {
			return err
		}
		d.children = append(d.children, c)
		d.ok("%s started (pid %d)", c.name, c.cmd.Process.Pid)
	}
	targets := make([]distribute.Atom, 0, d.nodes+1)
	for _, c := range d.children {
		targets = append(targets, c.name)
	}
	if d.erlang {
		if erl, err := exec.LookPath("erl"); err == nil {
			d.step("start an Erlang node (erl found at %s) with an echo server registered as inbox", erl)
			c, err := d.startErlNode(ctx, erl, "erl1@localhost")
			if err != nil {
				return err
			}
			d.children = append(d.children, c)
			targets = append(targets, c.name)
			d.ok("%s started (pid %d)", c.name, c.cmd.Process.Pid)
		} else {
			fmt.Fprintln(d.out, "     (erl is not installed: the demo runs with Go nodes only)")
		}
	}

	d.step("ping every node (epmd lookup, handshake, net_kernel is_auth)")
	for _, t := range targets {
		t0 := time.Now()
		if err := d.ctl.Ping(ctx, t); err != nil {
			return fmt.Errorf("ping %s: %w", t, err)
		}
		d.ok("pong from %s in %v", t, time.Since(t0).Round(time.Microsecond))
	}

	d.step("gen_server:call the inbox of every node; each echoes the request")
	for _, t := range targets {
		req := etf.Tuple{etf.Atom("hello"), etf.Binary("from the demo"), int64(len(t))}
		reply, err := d.me.CallName(ctx, "inbox", t, req)
		if err != nil {
			return fmt.Errorf("call inbox on %s: %w", t, err)
		}
		if !etf.Equal(reply, req) {
			return fmt.Errorf("call inbox on %s: reply %s, want %s", t, etf.Format(reply), etf.Format(req))
		}
		d.ok("%s answered %s", t, etf.Format(reply))
	}

	d.step("typed messages: a Subject[greeting] calls %s's inbox with a tagged, versioned struct; the echo decodes to the same value, and a reader of version 3 gets a typed version error", targets[0])
	sent := greeting{From: "demo", Seq: 7, Loud: true}
	got, err := distribute.Call(ctx, d.me, distribute.NamedSubject("inbox", targets[0], greetingV2), sent, greetingV2)
	if err != nil {
		return fmt.Errorf("typed call to %s's inbox: %w", targets[0], err)
	}
	if got != sent {
		return fmt.Errorf("typed call to %s's inbox: echo decoded to %+v, want %+v", targets[0], got, sent)
	}
	_, err = distribute.Call(ctx, d.me, distribute.NamedSubject("inbox", targets[0], greetingV2), sent, greetingV3)
	var vm *codec.VersionMismatchError
	if !errors.As(err, &vm) || vm.Got != 2 {
		return fmt.Errorf("typed call to %s's inbox read as version 3: %v, want a version mismatch (got 2)", targets[0], err)
	}
	d.ok("%s echoed %+v; as version 3: %v", targets[0], got, err)

	d.step("send 10000 messages to %s's inbox, then a call: it has seen them all, in order", targets[0])
	for i := 1; i <= 10000; i++ {
		if err := d.me.SendName(ctx, "inbox", targets[0], etf.Tuple{etf.Atom("n"), int64(i)}); err != nil {
			return err
		}
	}
	if _, err := d.me.CallName(ctx, "inbox", targets[0], etf.Atom("sync")); err != nil {
		return err
	}
	for i := 1; i <= 10000; i++ {
		if err := d.children[0].expectLine(ctx, fmt.Sprintf("inbox: {n,%d}", i)); err != nil {
			return err
		}
	}
	d.ok("%s printed inbox: {n,1} ... {n,10000}, in order", targets[0])

	goNodes := targets[:d.nodes]
	d.step("SWIM membership: every Go node joined go1 by name (gossip address from distribute:info)")
	all := make(map[distribute.Atom]string)
	for _, t := range goNodes {
		all[t] = "alive"
	}
	for _, t := range goNodes {
		if err := d.waitMembers(ctx, t, all); err != nil {
			return err
		}
	}
	d.ok("every Go node's table lists %d members alive", len(goNodes))

	d.step("RPC: distribute:info() on every Go node (an erpc call, as Erlang makes it)")
	for _, t := range goNodes {
		info, err := rpc.NewClient(d.ctl).Call(ctx, t, "distribute", "info")
		if err != nil {
			return fmt.Errorf("rpc distribute:info on %s: %w", t, err)
		}
		m, _ := info.(etf.Map)
		if name, _ := m.Get(etf.Atom("name")); name != t {
			return fmt.Errorf("rpc distribute:info on %s: %s", t, etf.Format(info))
		}
		creation, _ := m.Get(etf.Atom("creation"))
		d.ok("%s: name %s, creation %s", t, t, etf.Format(creation))
	}
	if len(targets) > d.nodes {
		erl := targets[d.nodes]
		got, err := rpc.NewClient(d.ctl).Call(ctx, erl, "lists", "reverse", etf.List{int64(1), int64(2), int64(3)})
		if err != nil || !etf.Equal(got, etf.List{int64(3), int64(2), int64(1)}) {
			return fmt.Errorf("rpc lists:reverse on %s: %v, %v", erl, got, err)
		}
		d.ok("%s: lists:reverse([1,2,3]) = %s", erl, etf.Format(got))
	}

	d.step("leader election (Raft, carried over the distribution): the Go nodes elect one leader")
	leader, term, err := d.waitLeader(ctx, goNodes, 0, "")
	if err != nil {
		return err
	}
	d.ok("every Go node's distribute:leader() is {ok,%s,%d}; the term is the fencing token", leader, term)

	d.step("global registry: go1's inbox is registered cluster-wide as inbox (Erlang's global protocol)")
	if len(targets) > d.nodes {
		// The Erlang node joins the visible cluster: global syncs it in.
		erl := targets[d.nodes]
		if got, err := rpc.NewClient(d.ctl).Call(ctx, erl, "net_adm", "ping", goNodes[0]); err != nil || got != etf.Atom("pong") {
			return fmt.Errorf("net_adm:ping(%s) on %s: %v, %v", goNodes[0], erl, got, err)
		}
	}
	for _, t := range targets {
		if err := d.waitGlobal(ctx, t, goNodes[0]); err != nil {
			return err
		}
	}
	d.ok("every node resolves the global name inbox to a pid on %s", goNodes[0])

	d.step("process groups: every Go node's inbox joined group demo; one broadcast reaches each once")
	scope, err := groups.Start(ctx, d.ctl, groups.Config{})
	if err != nil {
		return err
	}
	defer scope.Stop(context.WithoutCancel(ctx))
	for {
		if len(scope.Members(etf.Atom("demo"))) == len(goNodes) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("group demo has %d members, want %d", len(scope.Members(etf.Atom("demo"))), len(goNodes))
		case <-time.After(10 * time.Millisecond):
		}
	}
	res, err := scope.Broadcast(ctx, etf.Atom("demo"), etf.Tuple{etf.Atom("broadcast"), etf.Binary("to every member")})
	if err != nil || res.Sent != len(goNodes) {
		return fmt.Errorf("broadcast: sent %d, %v", res.Sent, err)
	}
	for _, c := range d.children[:d.nodes] {
		if err := c.expectLine(ctx, `inbox: {broadcast,<<"to every member">>}`); err != nil {
			return err
		}
	}
	d.ok("%d members, one message each", res.Sent)

	var goVictim *demoChild
	var survivors []distribute.Atom
	for _, c := range d.children[:d.nodes] {
		if c.name == leader {
			goVictim = c
		} else {
			survivors = append(survivors, c.name)
		}
	}
	d.step("kill the leader %s with SIGKILL: SWIM declares it dead, the others elect a new leader", goVictim.name)
	t1 := time.Now()
	goVictim.cmd.Process.Signal(syscall.SIGKILL)
	if err := d.waitMembers(ctx, survivors[0], map[distribute.Atom]string{goVictim.name: "dead"}); err != nil {
		return err
	}
	d.ok("%s: %s dead after %v (local profile; Erlang's net_ticktime alone takes 45-75 s for a silent node)", survivors[0], goVictim.name, time.Since(t1).Round(time.Millisecond))
	if len(survivors) > d.nodes/2 {
		newLeader, newTerm, err := d.waitLeader(ctx, survivors, term, goVictim.name)
		if err != nil {
			return err
		}
		d.ok("new leader %s in term %d (was %s in term %d), %v after the kill", newLeader, newTerm, leader, term, time.Since(t1).Round(time.Millisecond))
	} else {
		d.ok("%d of %d voters left: no majority, so no new leader (as it must be)", len(survivors), d.nodes)
	}

	if len(d.children) > d.nodes { // the Erlang node
		if err := d.killErlang(ctx, d.children[d.nodes]); err != nil {
			return err
		}
	}
	fmt.Fprintf(d.out, "\nsummary: %d steps, all ok, in %v (%d Go nodes", d.steps, time.Since(d.started).Round(time.Millisecond), d.nodes)
	if len(targets) > d.nodes {
		fmt.Fprint(d.out, " and 1 Erlang node")
	}
	fmt.Fprintln(d.out, ")")
	return nil
}

// killErlang kills the Erlang node and shows a monitor on it fire at once.
func (d *demo) killErlang(ctx context.Context, victim *demoChild) error {
	d.step("monitor %s's inbox, then kill %s with SIGKILL", victim.name, victim.name)
	ref, err := d.me.MonitorName(ctx, "inbox", victim.name)
	if err != nil {
		return err
	}
	t0 := time.Now()
	victim.cmd.Process.Signal(syscall.SIGKILL)
	m, err := d.me.ReceiveMatch(ctx, func(m any) bool { dn, ok := m.(distribute.Down); return ok && dn.Ref == ref })
	if err != nil {
		return fmt.Errorf("no Down for %s: %w", victim.name, err)
	}
	down := m.(distribute.Down)
	if down.Reason != distribute.ReasonNoConnection {
		return fmt.Errorf("Down reason %s, want noconnection", etf.Format(down.Reason))
	}
	d.ok("Down {inbox,%s} noconnection after %v (the OS closed the socket; a silent peer takes net_ticktime)", victim.name, time.Since(t0).Round(time.Microsecond))
	if err := d.ctl.Ping(ctx, victim.name); err == nil {
		return fmt.Errorf("%s still answers after SIGKILL", victim.name)
	}
	d.ok("ping %s: pang", victim.name)
	return nil
}

// startGoNode runs `distribute node` for name and waits for `started`.
func (d *demo) startGoNode(ctx context.Context, exe string, name distribute.Atom) (*demoChild, error) {
	args := []string{"node", "--name", string(name), "--cookie", d.cookie,
		"--epmd-port", strconv.Itoa(d.epmdPort), "--inbox", "inbox", "--group", "demo",
		"--connect", "demo@localhost", "--profile", "local",
		"--election", "--expect", strconv.Itoa(d.nodes), "--data-dir", filepath.Join(d.dataDir, string(name))}
	if name != "go1@localhost" {
		args = append(args, "--join", "go1@localhost") // membership seed
	} else {
		args = append(args, "--global", "inbox") // registered cluster-wide
	}
	return d.startChild(ctx, exec.Command(exe, args...), name, "started "+string(name))
}

// waitGlobal waits until node resolves the global name inbox to a pid on
// owner, asking global:whereis_name/1 over RPC (Go cluster nodes export it
// as Erlang nodes have it).
func (d *demo) waitGlobal(ctx context.Context, node, owner distribute.Atom) error {
	for {
		got, err := rpc.NewClient(d.ctl).Call(ctx, node, "global", "whereis_name", etf.Atom("inbox"))
		if pid, ok := got.(distribute.Pid); err == nil && ok && pid.Node == owner {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s does not resolve the global name inbox: %v, %v", node, got, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// members asks node for its membership table (distribute:members()).
func (d *demo) members(ctx context.Context, node distribute.Atom) (map[distribute.Atom]string, error) {
	t, err := rpc.NewClient(d.ctl).Call(ctx, node, "distribute", "members")
	if err != nil {
		return nil, err
	}
	out := make(map[distribute.Atom]string)
	l, _ := t.(etf.List)
	for _, e := range l {
		if m, ok := e.(etf.Tuple); ok && len(m) == 3 {
			name, _ := m[0].(etf.Atom)
			state, _ := m[1].(etf.Atom)
			out[name] = string(state)
		}
	}
	return out, nil
}

// waitMembers polls node's table until every name in want has its state.
func (d *demo) waitMembers(ctx context.Context, node distribute.Atom, want map[distribute.Atom]string) error {
	for {
		got, err := d.members(ctx, node)
		match := err == nil
		for name, state := range want {
			match = match && got[name] == state
		}
		if match {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("membership on %s: %v, want %v (%v)", node, got, want, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// erlEcho is an Erlang node's demo program: an echo gen_server registered
// as inbox that also prints what it receives.
const erlEcho = `register(inbox, spawn(fun L() -> receive {'$gen_call', {F, T}, Req} -> F ! {T, Req}, L(); M -> io:format("inbox: ~0p~n", [M]), L() end end)), io:format("started ~s~n", [node()]), receive stop -> ok end`

func (d *demo) startErlNode(ctx context.Context, erl string, name distribute.Atom) (*demoChild, error) {
	cmd := exec.Command(erl, "-noshell", "-sname", string(name), "-setcookie", d.cookie,
		"-start_epmd", "false", "-kernel", "inet_dist_use_interface", "{127,0,0,1}", "-eval", erlEcho)
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(d.epmdPort))
	return d.startChild(ctx, cmd, name, "started "+string(name))
}

func (d *demo) startChild(ctx context.Context, cmd *exec.Cmd, name distribute.Atom, ready string) (*demoChild, error) {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The children are configured by their flags alone: the DISTRIBUTE_
	// variables meant for a node of this environment must not reach them.
	cmd.Env = withoutNodeEnv(cmd.Env)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &demoChild{name: name, cmd: cmd, lines: make(chan string, 1<<16)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case c.lines <- sc.Text():
			default: // the demo reads what it checks; drop the rest
			}
		}
		close(c.lines)
	}()
	if err := c.expectLine(ctx, ready); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	return c, nil
}

// expectLine waits for a line equal to want. Lines in between are
// skipped, except the numbered inbox lines, which must come in order.
func (c *demoChild) expectLine(ctx context.Context, want string) error {
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				return fmt.Errorf("%s exited before printing %q", c.name, want)
			}
			if l == want {
				return nil
			}
			if strings.HasPrefix(want, "inbox: {n,") && strings.HasPrefix(l, "inbox: {n,") {
				return fmt.Errorf("%s printed %q where %q was due", c.name, l, want)
			}
		case <-ctx.Done():
			return fmt.Errorf("%s did not print %q: %w", c.name, want, ctx.Err())
		}
	}
}

// cleanup stops every child by pid (SIGTERM, then SIGKILL) and the controller.
func (d *demo) cleanup() {
	for _, c := range d.children {
		syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
	}
	for _, c := range d.children {
		done := make(chan struct{})
		go func() { c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	if d.ctl != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.ctl.Stop(ctx)
	}
	if d.dataDir != "" {
		os.RemoveAll(d.dataDir)
	}
}

// waitLeader waits until every node in nodes answers distribute:leader()
// with the same {ok, Leader, Term}, Term above after and Leader not
// notLeader, and returns them.
func (d *demo) waitLeader(ctx context.Context, nodes []distribute.Atom, after uint64, notLeader distribute.Atom) (distribute.Atom, uint64, error) {
	var last string
	for {
		var leader distribute.Atom
		var term uint64
		agree := true
		for i, n := range nodes {
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			got, err := rpc.NewClient(d.ctl).Call(rctx, n, "distribute", "leader")
			cancel()
			t, ok := got.(etf.Tuple)
			if err != nil || !ok || len(t) != 3 || t[0] != etf.Atom("ok") {
				last = fmt.Sprintf("%s: %v %v", n, etf.Format(got), err)
				agree = false
				break
			}
			l, _ := t[1].(etf.Atom)
			tm, _ := t[2].(int64)
			if i == 0 {
				leader, term = distribute.Atom(l), uint64(tm)
			} else if distribute.Atom(l) != leader || uint64(tm) != term {
				last = fmt.Sprintf("%s says %s/%d, %s says %s/%d", nodes[0], leader, term, n, l, tm)
				agree = false
				break
			}
		}
		if agree && term > after && leader != notLeader {
			return leader, term, nil
		}
		select {
		case <-ctx.Done():
			return "", 0, fmt.Errorf("no agreed leader (%s): %w", last, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// greeting is the demo's typed message; greetingV2 is its wire format
// (a tag and version envelope around three fields) and greetingV3 a
// reader that expects the next version.
type greeting struct {
	From string
	Seq  int64
	Loud bool
}

var (
	greetingFields = codec.Struct(
		codec.Field("from", func(g *greeting) *string { return &g.From }, codec.String),
		codec.Field("seq", func(g *greeting) *int64 { return &g.Seq }, codec.Int),
		codec.Field("loud", func(g *greeting) *bool { return &g.Loud }, codec.Bool),
	)
	greetingV2 = codec.Tagged("greeting", 2, greetingFields)
	greetingV3 = codec.Tagged("greeting", 3, greetingFields)
)
