package chaos

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// Ports every node uses inside its own namespace (each namespace has its
// own port space, so they never collide).
const (
	GossipPort = 7946
	HTTPPort   = 8080
	EpmdPort   = 4369
)

// Options configure a Cluster.
type Options struct {
	// Nodes is how many nodes to run (default 3).
	Nodes int
	// Election runs every node with --election --expect Expect
	// --data-dir DIR, and polls GET /election on each.
	Election bool
	// Expect is the number of voters to bootstrap with (default Nodes).
	Expect int
	// Profile is the node's --profile (default "local").
	Profile string
	// Cookie is the shared cookie (default: random).
	Cookie string
	// Args are extra flags for every `distribute node`.
	Args []string
	// Bound is how long a majority may take to agree on a leader after
	// a fault (default 15 s, scaled by DISTRIBUTE_TEST_TIMEOUT_SCALE).
	Bound time.Duration
	// PollInterval is how often each node's /election is read in the
	// background (default 100 ms).
	PollInterval time.Duration
	// Binary is the distribute command (default: built once, see Binary).
	Binary string
	// Quiet keeps the harness's actions out of the test log (they stay
	// in the event log printed when the test fails).
	Quiet bool
	// Alive, when set, is the alive part of every node's name: node i is
	// Alive@IP (as nodes found by DNS A records are named). Default: node
	// i is n(i+1)@IP.
	Alive string
	// Host, when set, gives node i's host name instead of its IP
	// address: node i is ALIVE@Host(i) (the test makes the name resolve
	// to the node's IP, with a DNS server and SetNameserver, before the
	// node starts).
	Host func(i int) string
	// NoJoin starts the nodes without --join: they find each other some
	// other way (--discover in Args).
	NoJoin bool
	// Spare is how many namespaces to create besides the nodes', on the
	// same bridge, for other processes (an Erlang node): see Spare and
	// Command.
	Spare int
}

// Cluster is N `distribute node` processes, each in its own network
// namespace, and the faults injected into them. Its methods are called
// from the test's goroutine; infrastructure failures fail the test.
type Cluster struct {
	t     testing.TB
	opts  Options
	net   *network
	dir   string
	nodes []*Node
	rec   *Recorder

	mu     sync.Mutex
	group  []int // partition group per node; nil when healed
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // pollers and process waiters
	client *http.Client
}

// Node is one node of a Cluster: its fixed identity and its current
// process, if any.
type Node struct {
	c       *Cluster
	Index   int
	Name    string // nK@10.A.B.(K+1), K = Index+1 (see Options.Alive, Options.Host)
	Host    string // the host part of Name
	IP      string
	NS      string // network namespace
	DataDir string
	HTTP    string // "IP:8080"
	logPath string
	errPath string

	mu      sync.Mutex
	proc    *process
	stopped bool
	starts  int
	lines   []Line
	notify  chan struct{}     // closed and replaced on every new line
	members map[string]string // member name → state, from the current process's `event member` lines
	mstart  int               // which start members belongs to
}

// Line is one line a node printed on stdout.
type Line struct {
	Time  time.Time
	Start int // which start of the node printed it (1 = first)
	Text  string
}

type process struct {
	cmd     *exec.Cmd
	start   int
	done    chan struct{}
	started chan struct{}
	once    sync.Once
}

// New creates the network (a bridge and one namespace per node) and
// registers the cleanup that kills every process and deletes the network,
// even when the test fails. It does not start nodes: call StartAll. When
// namespaces are unavailable the test is skipped, or fails when
// DISTRIBUTE_REQUIRE_NETNS=1.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Nodes <= 0 {
		opts.Nodes = 3
	}
	if opts.Expect <= 0 {
		opts.Expect = opts.Nodes
	}
	if opts.Profile == "" {
		opts.Profile = "local"
	}
	if opts.Cookie == "" {
		var b [8]byte
		rand.Read(b[:])
		opts.Cookie = "chaos" + hex.EncodeToString(b[:])
	}
	if opts.Bound <= 0 {
		opts.Bound = distributetest.Scale(15 * time.Second)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 100 * time.Millisecond
	}
	if opts.Binary == "" {
		opts.Binary = Binary(t)
	}
	dir := t.TempDir()
	nw, err := newNetwork(opts.Nodes + opts.Spare)
	if err != nil {
		skipOrFail(t, err)
	}
	c := &Cluster{
		t:      t,
		opts:   opts,
		net:    nw,
		dir:    dir,
		client: &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	rec, err := newRecorder(filepath.Join(c.dir, "observations.log"))
	if err != nil {
		nw.close()
		t.Fatal(err)
	}
	c.rec = rec
	for i := range opts.Nodes {
		n := &Node{
			c:       c,
			Index:   i,
			Name:    nodeName(opts, i, nw.ip(i)),
			Host:    nodeHost(opts, i, nw.ip(i)),
			IP:      nw.ip(i),
			NS:      nw.ns[i],
			DataDir: filepath.Join(c.dir, fmt.Sprintf("n%d-data", i+1)),
			HTTP:    fmt.Sprintf("%s:%d", nw.ip(i), HTTPPort),
			logPath: filepath.Join(c.dir, fmt.Sprintf("n%d.stdout", i+1)),
			errPath: filepath.Join(c.dir, fmt.Sprintf("n%d.stderr", i+1)),
			notify:  make(chan struct{}),
		}
		c.nodes = append(c.nodes, n)
	}
	t.Cleanup(c.cleanup)
	c.Logf("network 10.%d.%d.0/24 on bridge %s, %d namespaces", nw.a, nw.b, nw.bridge, len(nw.ns))
	if opts.Election {
		for _, n := range c.nodes {
			c.wg.Add(1)
			go c.poll(n)
		}
	}
	return c
}

// nodeName is node i's name.
func nodeName(opts Options, i int, ip string) string {
	alive := fmt.Sprintf("n%d", i+1)
	if opts.Alive != "" {
		alive = opts.Alive
	}
	return alive + "@" + nodeHost(opts, i, ip)
}

// nodeHost is the host part of node i's name.
func nodeHost(opts Options, i int, ip string) string {
	if opts.Host != nil {
		return opts.Host(i)
	}
	return ip
}

// BridgeIP is the bridge's address in the root namespace (10.A.B.1),
// which every namespace reaches: a server the test runs there (a DNS
// server) listens on it.
func (c *Cluster) BridgeIP() string { return c.net.bridgeIP() }

// SetNameserver makes ip the DNS server of every namespace's system
// resolver (/etc/netns/NS/resolv.conf, bind-mounted over /etc/resolv.conf
// by `ip netns exec`). Call it before starting the processes that should
// use it; the cleanup removes the files.
func (c *Cluster) SetNameserver(ip string) {
	c.t.Helper()
	if err := c.net.setNameserver(ip); err != nil {
		c.t.Fatal(err)
	}
	c.Logf("nameserver %s in every namespace", ip)
}

// Spare returns spare namespace k (0 ≤ k < Options.Spare) and its IP.
func (c *Cluster) Spare(k int) (ns, ip string) {
	if k < 0 || k >= c.opts.Spare {
		c.t.Fatalf("chaos: Spare(%d): %d spare namespaces", k, c.opts.Spare)
	}
	i := c.opts.Nodes + k
	return c.net.ns[i], c.net.ip(i)
}

// Command returns a command that runs name with args inside namespace ns
// (`ip netns exec NS NAME ARGS...`, which execs, so the process's pid is
// the command's). It dies with the test binary (Pdeathsig); the caller
// starts it and kills it, by pid, before the cleanup deletes the network.
func (c *Cluster) Command(ns, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(ipPath, append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// RequireNetns skips the test when network namespaces cannot be used
// here (not root, no ip command), or fails it when
// DISTRIBUTE_REQUIRE_NETNS=1. New does the same (and also when creating
// the network fails).
func RequireNetns(t testing.TB) {
	t.Helper()
	if err := netnsUsable(); err != nil {
		skipOrFail(t, err)
	}
}

func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNoNetns) && os.Getenv("DISTRIBUTE_REQUIRE_NETNS") != "1" {
		t.Skipf("%v (the fault-injection tests need root and `ip netns`; set DISTRIBUTE_REQUIRE_NETNS=1 to fail instead)", err)
	}
	t.Fatal(err)
}

// cleanup kills every process, stops the pollers, deletes the network and,
// when the test failed, prints the tails of every node's output.
func (c *Cluster) cleanup() {
	c.cancel()
	for _, n := range c.nodes {
		n.mu.Lock()
		p := n.proc
		n.mu.Unlock()
		if p != nil {
			p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}
	}
	c.wg.Wait()
	if err := c.net.close(); err != nil {
		c.t.Errorf("chaos: deleting the network: %v", err)
	}
	if v := c.rec.Violations(); len(v) > 0 {
		c.t.Errorf("chaos: safety violations:\n%s", strings.Join(v, "\n"))
	}
	if c.t.Failed() {
		c.dump()
	}
	c.rec.close()
}

// dump logs the harness's event log, the tail of the observations and the
// tail of every node's stdout and stderr.
func (c *Cluster) dump() {
	var b strings.Builder
	fmt.Fprintf(&b, "chaos: harness log:\n%s\n", strings.Join(c.rec.Events(), "\n"))
	fmt.Fprintf(&b, "chaos: last observations (%s):\n%s\n", c.rec.path, tail(c.rec.path, 40))
	for _, n := range c.nodes {
		fmt.Fprintf(&b, "chaos: %s stdout (tail):\n%s\n", n.Name, tail(n.logPath, 30))
		fmt.Fprintf(&b, "chaos: %s stderr (tail):\n%s\n", n.Name, tail(n.errPath, 30))
	}
	c.t.Log(b.String())
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// Logf logs a harness action to the test log and the harness's event log
// (dumped on failure).
func (c *Cluster) Logf(format string, args ...any) {
	c.t.Helper()
	msg := fmt.Sprintf(format, args...)
	c.rec.event(msg)
	if !c.opts.Quiet {
		c.t.Logf("chaos: %s", msg)
	}
}

// Nodes returns the nodes, by index.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Node returns node i.
func (c *Cluster) Node(i int) *Node { return c.nodes[i] }

// Len is the number of nodes.
func (c *Cluster) Len() int { return len(c.nodes) }

// Recorder is the record of every observation and leadership claim.
func (c *Cluster) Recorder() *Recorder { return c.rec }

// Options returns the options in effect (defaults filled in).
func (c *Cluster) Options() Options { return c.opts }

// Index returns the index of the node named name, or -1.
func (c *Cluster) Index(name string) int {
	for _, n := range c.nodes {
		if n.Name == name {
			return n.Index
		}
	}
	return -1
}

// StartAll starts every node: the first alone, then the others at once,
// joining the first; it returns when all printed `started NAME`.
func (c *Cluster) StartAll() {
	c.t.Helper()
	c.Start(0)
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i := 1; i < len(c.nodes); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.start(i, false)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.t.Fatal(err)
	}
}

// Start starts node i (which must not be running) with its data dir as
// it is, joining every running node it can reach.
func (c *Cluster) Start(i int) {
	c.t.Helper()
	if err := c.start(i, false); err != nil {
		c.t.Fatal(err)
	}
}

// Kill sends SIGKILL to node i and waits for the process to end.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	n := c.nodes[i]
	p := n.current()
	if p == nil {
		c.t.Fatalf("chaos: Kill(%d): %s is not running", i, n.Name)
	}
	c.Logf("SIGKILL %s (pid %d)", n.Name, p.cmd.Process.Pid)
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Term sends SIGTERM to node i (a graceful stop) and waits up to the
// bound for the process to end; it returns the exit code.
func (c *Cluster) Term(i int) int {
	c.t.Helper()
	n := c.nodes[i]
	p := n.current()
	if p == nil {
		c.t.Fatalf("chaos: Term(%d): %s is not running", i, n.Name)
	}
	c.Logf("SIGTERM %s (pid %d)", n.Name, p.cmd.Process.Pid)
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(c.opts.Bound):
		c.t.Fatalf("chaos: %s did not exit within %v of SIGTERM", n.Name, c.opts.Bound)
	}
	return p.cmd.ProcessState.ExitCode()
}

// Stop sends SIGSTOP to node i: it stays in the cluster but does nothing.
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	n := c.nodes[i]
	p := n.current()
	if p == nil {
		c.t.Fatalf("chaos: Stop(%d): %s is not running", i, n.Name)
	}
	c.Logf("SIGSTOP %s", n.Name)
	n.mu.Lock()
	n.stopped = true
	n.mu.Unlock()
	p.cmd.Process.Signal(syscall.SIGSTOP)
}

// Cont sends SIGCONT to node i.
func (c *Cluster) Cont(i int) {
	c.t.Helper()
	n := c.nodes[i]
	p := n.current()
	if p == nil {
		c.t.Fatalf("chaos: Cont(%d): %s is not running", i, n.Name)
	}
	c.Logf("SIGCONT %s", n.Name)
	p.cmd.Process.Signal(syscall.SIGCONT)
	n.mu.Lock()
	n.stopped = false
	n.mu.Unlock()
}

// Restart kills node i if it runs (SIGKILL: a crash) and starts it again
// with the same data dir.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.nodes[i].Running() {
		c.Kill(i)
	}
	c.Start(i)
}

// RestartWiped kills node i if it runs, deletes its data dir and starts
// it again: a replaced machine with the same name.
func (c *Cluster) RestartWiped(i int) {
	c.t.Helper()
	if c.nodes[i].Running() {
		c.Kill(i)
	}
	if err := c.start(i, true); err != nil {
		c.t.Fatal(err)
	}
}

// Wipe deletes node i's data dir; the node must not be running.
func (c *Cluster) Wipe(i int) {
	c.t.Helper()
	n := c.nodes[i]
	if n.Running() {
		c.t.Fatalf("chaos: Wipe(%d): %s is running", i, n.Name)
	}
	c.Logf("wipe %s's data dir", n.Name)
	if err := os.RemoveAll(n.DataDir); err != nil {
		c.t.Fatal(err)
	}
	c.rec.forgetNode(n.Name)
}

// Partition splits the network: each group is a set of node indexes, and
// the nodes in no group form one more group. Traffic between nodes of
// different groups is blackholed in both directions; the test process
// still reaches every node. It replaces an earlier partition.
func (c *Cluster) Partition(groups ...[]int) {
	c.t.Helper()
	group := make([]int, len(c.nodes))
	for i := range group {
		group[i] = -1
	}
	for g, members := range groups {
		for _, i := range members {
			if i < 0 || i >= len(c.nodes) || group[i] != -1 {
				c.t.Fatalf("chaos: Partition(%v): bad or repeated node %d", groups, i)
			}
			group[i] = g
		}
	}
	for i := range group {
		if group[i] == -1 {
			group[i] = len(groups)
		}
	}
	c.Logf("partition %s", c.describe(group))
	if err := c.net.partition(group); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.group = group
	c.mu.Unlock()
}

// Heal removes the partition.
func (c *Cluster) Heal() {
	c.t.Helper()
	c.Logf("heal")
	if err := c.net.heal(); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.group = nil
	c.mu.Unlock()
}

// describe prints a partition as {n1 n2} {n3}.
func (c *Cluster) describe(group []int) string {
	var parts []string
	for g := 0; ; g++ {
		var names []string
		for i, gi := range group {
			if gi == g {
				names = append(names, fmt.Sprintf("n%d", i+1))
			}
		}
		if len(names) == 0 {
			break
		}
		parts = append(parts, "{"+strings.Join(names, " ")+"}")
	}
	return strings.Join(parts, " ")
}

// Connected reports whether nodes i and j are on the same side of the
// current partition.
func (c *Cluster) Connected(i, j int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.group == nil || c.group[i] == c.group[j]
}

// Live reports whether node i runs and is not stopped.
func (c *Cluster) Live(i int) bool {
	n := c.nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil && !n.stopped
}

// Quorum is a majority of the voters (Nodes/2+1).
func (c *Cluster) Quorum() int { return len(c.nodes)/2 + 1 }

// MajoritySide returns the live nodes that are connected to each other
// and number at least Quorum, or nil when there are none: then no leader
// is expected.
func (c *Cluster) MajoritySide() []int {
	for i := range c.nodes {
		if !c.Live(i) {
			continue
		}
		var side []int
		for j := range c.nodes {
			if c.Live(j) && c.Connected(i, j) {
				side = append(side, j)
			}
		}
		if len(side) >= c.Quorum() {
			return side
		}
	}
	return nil
}

// Exec runs the distribute command with args inside node i's namespace
// (for example `ping NODE`, with the cluster's cookie and epmd port added)
// and returns its stdout, stderr and exit code.
func (c *Cluster) Exec(i int, args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	full := append([]string{"netns", "exec", c.nodes[i].NS, c.opts.Binary}, args...)
	full = append(full, "--cookie", c.opts.Cookie, "--epmd-port", strconv.Itoa(EpmdPort))
	cmd := exec.Command(ipPath, full...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errb.String(), 0
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	}
	c.t.Fatalf("chaos: exec %v: %v", args, err)
	return "", "", -1
}

// start launches node i; wipe deletes its data dir first. It returns when
// the node printed `started NAME`.
func (c *Cluster) start(i int, wipe bool) error {
	n := c.nodes[i]
	n.mu.Lock()
	if n.proc != nil {
		n.mu.Unlock()
		return fmt.Errorf("chaos: start %s: already running", n.Name)
	}
	n.starts++
	start := n.starts
	n.mu.Unlock()
	if wipe {
		if err := os.RemoveAll(n.DataDir); err != nil {
			return err
		}
		c.rec.forgetNode(n.Name)
	}
	if err := os.MkdirAll(n.DataDir, 0o755); err != nil {
		return err
	}
	args := []string{"netns", "exec", n.NS, c.opts.Binary, "node",
		"--name", n.Name, "--cookie", c.opts.Cookie, "--epmd-port", strconv.Itoa(EpmdPort),
		"--profile", c.opts.Profile,
		"--gossip", fmt.Sprintf("%s:%d", n.IP, GossipPort),
		"--http", n.HTTP,
	}
	var seeds []string
	for j, m := range c.nodes {
		if !c.opts.NoJoin && j != i && c.Live(j) && c.Connected(i, j) {
			seeds = append(seeds, m.Name)
			args = append(args, "--join", m.Name)
		}
	}
	if c.opts.Election {
		args = append(args, "--election", "--expect", strconv.Itoa(c.opts.Expect), "--data-dir", n.DataDir)
	}
	args = append(args, c.opts.Args...)
	how := "start"
	if wipe {
		how = "start (data dir wiped)"
	}
	c.Logf("%s %s #%d, joining %v", how, n.Name, start, seeds)

	header := fmt.Sprintf("=== start #%d at %s: %s\n", start, time.Now().Format(time.RFC3339Nano), strings.Join(args[3:], " "))
	outF, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	errF, err := os.OpenFile(n.errPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		outF.Close()
		return err
	}
	outF.WriteString(header)
	errF.WriteString(header)
	cmd := exec.Command(ipPath, args...)
	cmd.Stdout = &lineSink{n: n, start: start, file: outF}
	cmd.Stderr = errF
	// If the test binary dies, its nodes die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &process{cmd: cmd, start: start, done: make(chan struct{}), started: make(chan struct{})}
	n.mu.Lock()
	n.proc = p
	n.stopped = false
	n.mu.Unlock()
	if err := cmd.Start(); err != nil {
		outF.Close()
		errF.Close()
		n.mu.Lock()
		n.proc = nil
		n.mu.Unlock()
		return fmt.Errorf("chaos: start %s: %w", n.Name, err)
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		cmd.Wait()
		outF.Close()
		errF.Close()
		n.mu.Lock()
		if n.proc == p {
			n.proc = nil
			n.stopped = false
		}
		n.mu.Unlock()
		close(p.done)
	}()
	bound := distributetest.Scale(30 * time.Second)
	select {
	case <-p.started:
		return nil
	case <-p.done:
		return fmt.Errorf("chaos: %s exited (%v) before printing `started`; stderr:\n%s", n.Name, cmd.ProcessState, tail(n.errPath, 20))
	case <-time.After(bound):
		return fmt.Errorf("chaos: %s did not print `started` within %v; stderr:\n%s", n.Name, bound, tail(n.errPath, 20))
	}
}

// lineSink receives a node's stdout: it appends it to the node's log file
// and hands every complete line to the node.
type lineSink struct {
	n     *Node
	start int
	file  *os.File
	buf   []byte
}

func (s *lineSink) Write(p []byte) (int, error) {
	s.file.Write(p)
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			break
		}
		s.n.addLine(s.start, string(s.buf[:i]))
		s.buf = s.buf[i+1:]
	}
	if len(s.buf) > 1<<16 { // a runaway line: keep it, as a line
		s.n.addLine(s.start, string(s.buf))
		s.buf = s.buf[:0]
	}
	return len(p), nil
}

// addLine records a stdout line: `started NAME` marks the process
// reachable, `event leader SELF TERM` is a leadership claim.
func (n *Node) addLine(start int, text string) {
	now := time.Now()
	n.mu.Lock()
	n.lines = append(n.lines, Line{Time: now, Start: start, Text: text})
	if f := strings.Fields(text); len(f) == 5 && f[0] == "event" && f[1] == "member" {
		if n.members == nil || n.mstart != start {
			n.members, n.mstart = map[string]string{}, start
		}
		n.members[f[2]] = f[3]
	}
	close(n.notify)
	n.notify = make(chan struct{})
	p := n.proc
	n.mu.Unlock()
	if text == "started "+n.Name && p != nil && p.start == start {
		p.once.Do(func() { close(p.started) })
	}
	if f := strings.Fields(text); len(f) == 4 && f[0] == "event" && f[1] == "leader" {
		if term, err := strconv.ParseUint(f[3], 10, 64); err == nil {
			n.c.rec.leaderLine(n.Name, f[2], term, now)
			if f[2] == n.Name {
				n.c.rec.claim(n.Name, term, "stdout", now)
			}
		}
	}
}

func (n *Node) current() *process {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

// MemberState is the state (alive, suspect, dead, left) the node's
// current process last printed for the member named name in an `event
// member` line, or "" when it printed none.
func (n *Node) MemberState(name string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p := n.proc; p == nil || p.start != n.mstart {
		return ""
	}
	return n.members[name]
}

// Running reports whether the node has a process (stopped or not).
func (n *Node) Running() bool { return n.current() != nil }

// Pid is the node's process id, or 0.
func (n *Node) Pid() int {
	if p := n.current(); p != nil {
		return p.cmd.Process.Pid
	}
	return 0
}

// Mark returns a position in the node's stdout: Expect looks at lines
// printed after it.
func (n *Node) Mark() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.lines)
}

// Lines returns every stdout line the node printed (all its starts).
func (n *Node) Lines() []Line {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Line(nil), n.lines...)
}

// WaitLine waits up to d for a line after mark for which match is true
// and returns it.
func (n *Node) WaitLine(mark int, d time.Duration, match func(string) bool) (Line, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		n.mu.Lock()
		for ; mark < len(n.lines); mark++ {
			if match(n.lines[mark].Text) {
				l := n.lines[mark]
				n.mu.Unlock()
				return l, true
			}
		}
		ch := n.notify
		n.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return Line{}, false
		}
	}
}

// Expect waits (up to the cluster's bound) for a line after mark that
// starts with prefix, and fails the test when none comes.
func (n *Node) Expect(t testing.TB, mark int, prefix string) Line {
	t.Helper()
	l, ok := n.WaitLine(mark, n.c.opts.Bound, func(s string) bool { return strings.HasPrefix(s, prefix) })
	if !ok {
		t.Fatalf("chaos: %s printed no %q line within %v", n.Name, prefix, n.c.opts.Bound)
	}
	return l
}
