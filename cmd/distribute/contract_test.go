package main

import (
	"context"
	binenc "encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
	"github.com/distribute-go/distribute/internal/epmd"
)

// TestNodeFlagsCheckedBeforeStart: a `node` whose flags cannot work is a
// usage error (exit 2) found before the node starts: nothing joins,
// nothing is written to the election's data dir.
func TestNodeFlagsCheckedBeforeStart(t *testing.T) {
	port := distributetest.FreePort(t)
	for _, bad := range [][]string{
		{"--global", "box"},
		{"--group", "g"},
		{"--inbox", "box", "--global", "other"},
		{"--listen", "notanaddr"},
		{"--listen", "127.0.0.1:http-alt-no"},
		{"--http", "notanaddr"},
		{"--epmd-listen", "notanaddr"},
		{"--tick-time", "0s"},
		{"--tick-time", "-5s"},
		{"--tick-time", "soon"},
		{"--cluster-size", "-1"},
		{"--discover", "consul:app"},
		{"--discover", "dns:"},
		{"--discover-interval", "0s"},
		{"--shutdown-grace", "-1s"},
	} {
		dir := t.TempDir()
		args := append([]string{"node", "--name", "early@localhost", "--cookie", "c", "--epmd-port", strconv.Itoa(port),
			"--election", "--expect", "1", "--data-dir", dir}, bad...)
		out, stderr, code := runCLI(t, "", args...)
		checkOneLineError(t, bad, stderr, code, exitUsage)
		if out != "" {
			t.Errorf("%v: stdout %q; want nothing (the node must not start)", bad, out)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%v: the data dir holds %d entries: the node started before its flags were checked", bad, len(entries))
		}
	}
}

// TestTermsAfterDoubleDash: "--" may come before the term, and the
// command's flags may still follow it (a term never starts with "--").
func TestTermsAfterDoubleDash(t *testing.T) {
	port := distributetest.StartEpmd(t)
	n := startNodeProc(t, port, "dd@localhost", "--inbox", "box")
	for _, args := range [][]string{
		{"call", n.name, "box", "--", "-1", "--cookie", testCookie, "--epmd-port", strconv.Itoa(port)},
		{"call", "--cookie", testCookie, n.name, "box", "--", "-1", "--epmd-port", strconv.Itoa(port)},
	} {
		out, stderr, code := runCLI(t, "", args...)
		if code != 0 || out != "-1\n" {
			t.Errorf("%v: %q %q exit %d; want -1", args, out, stderr, code)
		}
	}
	out, stderr, code := runCLI(t, "", "term", "encode", "--", "-1")
	if code != 0 || out != "8362ffffffff\n" {
		t.Errorf("term encode -- -1: %q %q exit %d", out, stderr, code)
	}
}

// TestStdinErrorsNameTheLine: a bad line of standard input is reported
// with its own line number.
func TestStdinErrorsNameTheLine(t *testing.T) {
	_, stderr, code := runCLI(t, "ok\n\n{bad\n", "term", "encode")
	checkOneLineError(t, []string{"term", "encode"}, stderr, code, exitUsage)
	if !strings.Contains(stderr, "line 3") || strings.Contains(stderr, "line 1") {
		t.Errorf("stderr %q; want it to name line 3 only", stderr)
	}
	_, stderr, code = runCLI(t, "8377026f6b\nzz\n", "term", "decode")
	checkOneLineError(t, []string{"term", "decode"}, stderr, code, exitUsage)
	if !strings.Contains(stderr, "line 2") {
		t.Errorf("stderr %q; want it to name line 2", stderr)
	}
}

// TestHelpTexts: help lists the flags a command uses and the lines it
// prints.
func TestHelpTexts(t *testing.T) {
	out, _, _ := runCLI(t, "", "names", "--help")
	for _, ignored := range []string{"--cookie", "--tls-cert", "--tls-key", "--tls-ca", "--log-level", "--log-format"} {
		if strings.Contains(out, ignored) {
			t.Errorf("names --help lists %s, which names does not use:\n%s", ignored, out)
		}
	}
	for _, used := range []string{"--epmd-port", "--timeout"} {
		if !strings.Contains(out, used) {
			t.Errorf("names --help lacks %s:\n%s", used, out)
		}
	}
	out, _, _ = runCLI(t, "", "node", "--help")
	for _, want := range []string{"event member NODE alive|suspect|dead|left INCARNATION", "--tick-time", "--epmd-listen", "/election"} {
		if !strings.Contains(out, want) {
			t.Errorf("node --help lacks %q:\n%s", want, out)
		}
	}
}

// TestErrorsSayEachThingOnce: the one stderr line names the command's
// operation once and the package once, however deep the library's chain.
func TestErrorsSayEachThingOnce(t *testing.T) {
	port := distributetest.StartEpmd(t)
	for _, tc := range []struct {
		args []string
		once []string
	}{
		{cliArgs(port, "ping", "nosuch@localhost"), []string{"distribute:", "ping nosuch@localhost"}},
		{cliArgs(port, "call", "nosuch@localhost", "box", "hi"), []string{"distribute:", "call box on nosuch@localhost"}},
		{cliArgs(port, "send", "nosuch@localhost", "box", "hi"), []string{"distribute:", "send box on nosuch@localhost"}},
		{[]string{"names", "--epmd-port", strconv.Itoa(distributetest.FreePort(t))}, []string{"distribute:", "epmd:"}},
	} {
		_, stderr, code := runCLI(t, "", tc.args...)
		checkOneLineError(t, tc.args, stderr, code, exitRemote)
		for _, s := range tc.once {
			if n := strings.Count(stderr, s); n != 1 {
				t.Errorf("%v: stderr says %q %d times; want once: %q", tc.args, s, n, stderr)
			}
		}
	}
}

// TestNodeEventsForVisiblePeers: nodeup and nodedown lines are printed for
// visible peers, including one connected while the node started (here by
// --join), and never for the hidden nodes of one-shot commands.
func TestNodeEventsForVisiblePeers(t *testing.T) {
	port := distributetest.StartEpmd(t)
	n1 := startNodeProc(t, port, "ev1@localhost", "--inbox", "box", "--profile", "local")
	if _, stderr, code := runCLI(t, "", cliArgs(port, "ping", n1.name)...); code != 0 {
		t.Fatalf("ping: %s", stderr)
	}
	if _, stderr, code := runCLI(t, "", cliArgs(port, "call", n1.name, "box", "hi")...); code != 0 {
		t.Fatalf("call: %s", stderr)
	}
	n1.expect(t, "box: hi")
	n2 := startNodeProc(t, port, "ev2@localhost", "--join", n1.name, "--profile", "local")
	n1.expect(t, "event nodeup ev2@localhost")
	n2.expect(t, "event nodeup ev1@localhost")
	// A hidden node reports the visible peers it connects to, and still
	// not the hidden one-shot nodes.
	n3 := startNodeProc(t, port, "ev3@localhost", "--hidden", "--connect", n1.name, "--profile", "local")
	n3.expect(t, "event nodeup ev1@localhost")
	if _, stderr, code := runCLI(t, "", cliArgs(port, "ping", n3.name)...); code != 0 {
		t.Fatalf("ping ev3: %s", stderr)
	}
	// ev4 connects to ev3 after the ping: its nodeup comes after any event
	// of the one-shot node on the same event stream.
	startNodeProc(t, port, "ev4@localhost", "--connect", n3.name, "--profile", "local")
	n3.expect(t, "event nodeup ev4@localhost")
	// Events come in order: the one-shot nodes came and went before ev2.
	for _, n := range []*nodeProc{n1, n3} {
		n.mu.Lock()
		for _, l := range n.all {
			if strings.Contains(l, "distribute-cli-") {
				t.Errorf("%s printed %q for a hidden one-shot node", n.name, l)
			}
		}
		n.mu.Unlock()
	}
}

// TestHTTPEndpoints: the --http server answers only requests addressed to
// it (a bound host name, localhost when bound to loopback, or any IP
// literal), so a DNS-rebinding page cannot read it; methods other than
// GET and HEAD are refused before anything is computed; /election
// answers without an election.
func TestHTTPEndpoints(t *testing.T) {
	port := distributetest.StartEpmd(t)
	httpPort := distributetest.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", httpPort)
	startNodeProc(t, port, "web@localhost", "--http", addr)
	do := func(method, path, host string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, path := range []string{"/", "/api/observer", "/healthz", "/readyz", "/metrics", "/election"} {
		for _, host := range []string{addr, "localhost:" + strconv.Itoa(httpPort), "localhost", "127.0.0.1", "[::1]:80", "10.1.2.3:9090"} {
			if code, body := do("GET", path, host); code != 200 {
				t.Errorf("GET %s with Host %s: %d %q; want 200", path, host, code, body)
			}
		}
		for _, host := range []string{"evil.example", "evil.example:" + strconv.Itoa(httpPort), "localhost.evil.example"} {
			if code, _ := do("GET", path, host); code != http.StatusMisdirectedRequest {
				t.Errorf("GET %s with Host %q: %d; want %d", path, host, code, http.StatusMisdirectedRequest)
			}
		}
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/election", "/api/observer"} {
		if code, _ := do("POST", path, addr); code != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: %d; want 405", path, code)
		}
	}
	code, body := do("GET", "/election", addr)
	var v struct {
		Enabled *bool `json:"enabled"`
	}
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil || v.Enabled == nil || *v.Enabled {
		t.Errorf("/election without an election: %d %q; want 200 and enabled false", code, body)
	}
}

// nonLoopbackIP returns an address of this host that is not loopback, or
// skips the test.
func nonLoopbackIP(t *testing.T) net.IP {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
				return ipn.IP
			}
		}
	}
	t.Skip("no non-loopback IPv4 address on this host")
	return nil
}

// TestEpmdListenFlag: --epmd-listen binds the embedded epmd where asked
// (here loopback only), and the node is reachable through it.
func TestEpmdListenFlag(t *testing.T) {
	ip := nonLoopbackIP(t)
	port := distributetest.FreePort(t)
	n := startNodeProc(t, port, "el@localhost", "--epmd-listen", fmt.Sprintf("127.0.0.1:%d", port))
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(5*time.Second))
	defer cancel()
	if _, err := epmd.Lookup(ctx, "127.0.0.1", port, "el"); err != nil {
		t.Fatalf("lookup on loopback: %v", err)
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), strconv.Itoa(port)), distributetest.Scale(2*time.Second))
	if err == nil {
		c.Close()
		t.Fatalf("the embedded epmd answers on %s: --epmd-listen 127.0.0.1 should keep it on loopback", ip)
	}
	if out, stderr, code := runCLI(t, "", cliArgs(port, "ping", n.name)...); code != 0 {
		t.Fatalf("ping: %q %q", out, stderr)
	}
}

// TestTickTimeAgainstErlang: an Erlang node with net_ticktime 10 drops a
// peer that ticks at the default 60 s rate (it hears nothing for 15 s); a
// node started with --tick-time 10s stays connected.
func TestTickTimeAgainstErlang(t *testing.T) {
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{Cookie: testCookie, Args: []string{"-kernel", "net_ticktime", "10"}})
	slow := startNodeProc(t, erl.EpmdPort, "tick60@localhost", "--hidden", "--connect", erl.Name)
	fast := startNodeProc(t, erl.EpmdPort, "tick10@localhost", "--hidden", "--tick-time", "10s", "--connect", erl.Name)
	slow.expect(t, "event nodeup "+erl.Name)
	fast.expect(t, "event nodeup "+erl.Name)
	// The default node is dropped by erl after 10-12.5 s of silence.
	line := slow.expectPrefixWithin(t, "event nodedown "+erl.Name, distributetest.Scale(60*time.Second))
	t.Logf("default tick time: %s", line)
	if got := erl.Eval(t, `lists:member('tick10@localhost', nodes(hidden))`); got != "true" {
		t.Fatalf("erl dropped the node with --tick-time 10s: nodes(hidden) has it: %s", got)
	}
	fast.mu.Lock()
	defer fast.mu.Unlock()
	for _, l := range fast.all {
		if strings.HasPrefix(l, "event nodedown") {
			t.Fatalf("--tick-time 10s node printed %q", l)
		}
	}
}

// TestRPCThrowAsRPCCallReturnsIt: rpc:call returns the value a function
// throws (OTP 25: rpc:call(N, erlang, throw, [ball]) is ball), so the
// command prints it and exits 0.
func TestRPCThrowAsRPCCallReturnsIt(t *testing.T) {
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{Cookie: testCookie})
	if got := erl.Eval(t, fmt.Sprintf("rpc:call('%s', erlang, throw, [ball])", erl.Name)); got != "ball" {
		t.Fatalf("rpc:call(N, erlang, throw, [ball]) on erl = %s; this test assumes ball", got)
	}
	out, stderr, code := runCLI(t, "", cliArgs(erl.EpmdPort, "rpc", erl.Name, "erlang", "throw", "[ball]")...)
	if code != 0 || out != "ball\n" {
		t.Fatalf("rpc erlang throw [ball]: %q %q exit %d; want ball, exit 0", out, stderr, code)
	}
}

// TestInboxNotHeldBySlowCaller: a caller that sends calls and never reads
// the replies must not stop the inbox answering everyone else.
func TestInboxNotHeldBySlowCaller(t *testing.T) {
	port := distributetest.StartEpmd(t)
	n := startNodeProc(t, port, "slowbox@localhost", "--inbox", "box")
	stall := stallingCaller(t, port, "slowbox", n.name, "box", 24, 1<<20)
	defer stall.Close()
	for i := 0; i < 5; i++ {
		args := cliArgs(port, "call", n.name, "box", fmt.Sprintf("{healthy,%d}", i), "--timeout", "5s")
		out, stderr, code := runCLI(t, "", args...)
		if code != 0 || out != fmt.Sprintf("{healthy,%d}\n", i) {
			t.Fatalf("healthy call %d while a caller stalls: %q %q exit %d", i, out, stderr, code)
		}
	}
}

// stallingCaller connects to node as a hidden node over a real handshake,
// sends count gen_server calls of size bytes each to name, and never reads
// what comes back. Close drops the connection.
func stallingCaller(t *testing.T, epmdPort int, alive, node, name string, count, size int) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
	defer cancel()
	info, err := epmd.Lookup(ctx, "127.0.0.1", epmdPort, alive)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(info.Port)))
	if err != nil {
		t.Fatal(err)
	}
	// A small receive buffer, so the replies back up soon.
	nc.(*net.TCPConn).SetReadBuffer(4096)
	me := "stall@localhost"
	peer, _, err := dist.Dial(ctx, nc, dist.HandshakeConfig{Name: me, Cookie: testCookie, Creation: 7}, node)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	appendFrame := dist.AppendPassThrough
	if peer.Flags.HeaderMode() {
		appendFrame = dist.AppendHeaderFrame
	}
	from := etf.Pid{Node: etf.Atom(me), ID: 1, Creation: 7}
	big := etf.Binary(make([]byte, size))
	for i := 0; i < count; i++ {
		ref := etf.Ref{Node: etf.Atom(me), Creation: 7, Len: 3, ID: [etf.MaxRefWords]uint32{uint32(i), 1, 2}}
		msg := etf.Tuple{etf.Atom("$gen_call"), etf.Tuple{from, ref}, big}
		frame, err := appendFrame(nil, etf.Tuple{int64(dist.OpRegSend), from, etf.Atom(""), etf.Atom(name)}, msg)
		if err != nil {
			t.Fatal(err)
		}
		nc.SetWriteDeadline(time.Now().Add(distributetest.Scale(10 * time.Second)))
		if _, err := nc.Write(binenc.BigEndian.AppendUint32(nil, uint32(len(frame)))); err != nil {
			t.Fatalf("write: %v", err)
		}
		if _, err := nc.Write(frame); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	return nc
}

// TestDemoInterrupted: Ctrl-C on the demo stops every node it started
// (Erlang included) and removes its temporary files.
func TestDemoInterrupted(t *testing.T) {
	distributetest.RequireErl(t)
	tmp := t.TempDir()
	cmd := exec.Command(binary, "demo")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var cookie string
	buf := make([]byte, 0, 4096)
	deadline := time.Now().Add(distributetest.Scale(60 * time.Second))
	for !strings.Contains(string(buf), "erl1@localhost started") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the demo did not start its Erlang node:\n%s", buf)
		}
		var b [512]byte
		k, err := stdout.Read(b[:])
		buf = append(buf, b[:k]...)
		if err != nil {
			t.Fatalf("demo output ended: %v\n%s", err, buf)
		}
	}
	if i := strings.Index(string(buf), "cookie demo-"); i >= 0 {
		cookie = strings.Fields(string(buf[i+len("cookie "):]))[0]
		cookie = strings.TrimSuffix(cookie, ",")
	}
	if cookie == "" {
		t.Fatalf("no cookie in the demo's output:\n%s", buf)
	}
	cmd.Process.Signal(syscall.SIGINT)
	go io.Copy(io.Discard, stdout)
	select {
	case <-done:
	case <-time.After(distributetest.Scale(30 * time.Second)):
		cmd.Process.Kill()
		t.Fatal("the demo did not exit on SIGINT")
	}
	if cmd.ProcessState.ExitCode() == 0 {
		t.Errorf("an interrupted demo exited 0")
	}
	// No process of the demo (its cookie is on every child's command
	// line) survives, and its temporary directory is gone.
	waitDeadline := time.Now().Add(distributetest.Scale(10 * time.Second))
	for {
		left := processesWith(cookie)
		if len(left) == 0 {
			break
		}
		if time.Now().After(waitDeadline) {
			for _, pid := range left {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Fatalf("processes of the demo left running after SIGINT: %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the demo left %v in TMPDIR", names)
	}
}

// processesWith returns the pids whose command line contains s.
func processesWith(s string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), s) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// expectPrefixWithin waits up to d for a line starting with prefix.
func (np *nodeProc) expectPrefixWithin(t *testing.T, prefix string, d time.Duration) string {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case l, ok := <-np.lines:
			if !ok {
				t.Fatalf("%s exited before printing %q...", np.name, prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			t.Fatalf("%s did not print %q... within %v", np.name, prefix, d)
		}
	}
}
