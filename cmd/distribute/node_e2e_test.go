package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

const testCookie = "clitest"

// nodeProc is a `distribute node` running as its own OS process.
type nodeProc struct {
	name  string
	cmd   *exec.Cmd
	lines chan string
	mu    sync.Mutex
	all   []string
	done  chan struct{}
}

// startNodeProc runs `distribute node --name NAME ...` and waits for its
// `started NAME` line. It is killed at cleanup if still running.
func startNodeProc(t *testing.T, epmdPort int, name string, args ...string) *nodeProc {
	t.Helper()
	full := append([]string{"node", "--name", name, "--cookie", testCookie, "--epmd-port", strconv.Itoa(epmdPort)}, args...)
	cmd := exec.Command(binary, full...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	np := &nodeProc{name: name, cmd: cmd, lines: make(chan string, 1024), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 64<<20) // an inbox line may hold a big term
		for sc.Scan() {
			np.mu.Lock()
			np.all = append(np.all, sc.Text())
			np.mu.Unlock()
			np.lines <- sc.Text()
		}
		close(np.lines)
		cmd.Wait()
		close(np.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-np.done
	})
	np.expect(t, "started "+name)
	return np
}

// expect waits for a line equal to want.
func (np *nodeProc) expect(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(distributetest.Scale(15 * time.Second))
	for {
		select {
		case l, ok := <-np.lines:
			if !ok {
				t.Fatalf("%s exited before printing %q", np.name, want)
			}
			if l == want {
				return
			}
		case <-timeout:
			np.mu.Lock()
			defer np.mu.Unlock()
			t.Fatalf("%s did not print %q; printed:\n%s", np.name, want, strings.Join(np.all, "\n"))
		}
	}
}

// expectPrefix waits for a line starting with prefix and returns it.
func (np *nodeProc) expectPrefix(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(distributetest.Scale(15 * time.Second))
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
			t.Fatalf("%s did not print %q...", np.name, prefix)
		}
	}
}

func cliArgs(epmdPort int, args ...string) []string {
	return append(args, "--cookie", testCookie, "--epmd-port", strconv.Itoa(epmdPort))
}

func TestNodeCommandsAcrossProcesses(t *testing.T) {
	port := distributetest.StartEpmd(t)
	n1 := startNodeProc(t, port, "n1@localhost", "--inbox", "box")

	out, stderr, code := runCLI(t, "", cliArgs(port, "ping", "n1@localhost")...)
	if code != 0 || out != "pong\n" {
		t.Fatalf("ping: %q %q exit %d", out, stderr, code)
	}
	out, _, code = runCLI(t, "", cliArgs(port, "names")...)
	if code != 0 || !strings.Contains(out, "name n1 at port ") {
		t.Fatalf("names: %q exit %d", out, code)
	}
	out, stderr, code = runCLI(t, "", cliArgs(port, "send", "n1@localhost", "box", "{hello,", "-1,", `"x"}`)...)
	if code != 0 || out != "" {
		t.Fatalf("send: %q %q exit %d", out, stderr, code)
	}
	n1.expect(t, `box: {hello,-1,"x"}`)
	out, stderr, code = runCLI(t, "", cliArgs(port, "call", "n1@localhost", "box", "#{a => [1,2]}")...)
	if code != 0 || out != "#{a => [1,2]}\n" {
		t.Fatalf("call: %q %q exit %d", out, stderr, code)
	}
	n1.expect(t, `box: #{a => [1,2]}`)

	// A second node connects to the first: nodeup, then nodedown on SIGKILL.
	n2 := startNodeProc(t, port, "n2@localhost", "--connect", "n1@localhost")
	n1.expect(t, "event nodeup n2@localhost")
	n2.expect(t, "event nodeup n1@localhost")
	n2.cmd.Process.Signal(syscall.SIGKILL)
	line := n1.expectPrefix(t, "event nodedown n2@localhost ")
	if !strings.HasSuffix(line, "connection_closed") {
		t.Fatalf("nodedown line %q", line)
	}

	// Graceful stop on SIGTERM: exit 0, unregistered from epmd.
	n1.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n1.done:
	case <-time.After(distributetest.Scale(15 * time.Second)):
		t.Fatal("node did not stop on SIGTERM")
	}
	if c := n1.cmd.ProcessState.ExitCode(); c != 0 {
		t.Fatalf("node exit code %d after SIGTERM; want 0", c)
	}
	out, _, _ = runCLI(t, "", cliArgs(port, "names")...)
	if strings.Contains(out, "name n1 ") {
		t.Fatalf("n1 still registered after stop: %q", out)
	}
}

func TestOneShotCommandsAgainstErlang(t *testing.T) {
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{Cookie: testCookie})
	out, stderr, code := runCLI(t, "", cliArgs(erl.EpmdPort, "ping", erl.Name)...)
	if code != 0 || out != "pong\n" {
		t.Fatalf("ping erl: %q %q exit %d", out, stderr, code)
	}
	erl.Eval(t, `register(keeper, spawn(fun L() -> receive {get, F} -> F ! got, L(); M -> put(last, M), L() end end))`)
	_, stderr, code = runCLI(t, "", cliArgs(erl.EpmdPort, "send", erl.Name, "keeper", "{from_cli,<<1,2>>}")...)
	if code != 0 {
		t.Fatalf("send to erl: %q exit %d", stderr, code)
	}
	got := erl.Eval(t, `begin timer:sleep(0), {dictionary, D} = process_info(whereis(keeper), dictionary), proplists:get_value(last, D) end`)
	for i := 0; got != "{from_cli,<<1,2>>}" && i < 100; i++ {
		time.Sleep(20 * time.Millisecond)
		got = erl.Eval(t, `begin {dictionary, D} = process_info(whereis(keeper), dictionary), proplists:get_value(last, D) end`)
	}
	if got != "{from_cli,<<1,2>>}" {
		t.Fatalf("erl process got %s", got)
	}
	out, stderr, code = runCLI(t, "", cliArgs(erl.EpmdPort, "call", erl.Name, "application_controller", "which_applications")...)
	if code != 0 || !strings.Contains(out, "{kernel,") {
		t.Fatalf("call erl: %q %q exit %d", out, stderr, code)
	}
	// A call to a name nobody holds: noproc, exit 1, one line.
	args := cliArgs(erl.EpmdPort, "call", erl.Name, "nobody", "x")
	_, stderr, code = runCLI(t, "", args...)
	checkOneLineError(t, args, stderr, code, exitRemote)
	if !strings.Contains(stderr, "noproc") {
		t.Fatalf("call to nobody: stderr %q; want noproc", stderr)
	}
}

func TestOneShotErrors(t *testing.T) {
	port := distributetest.StartEpmd(t)
	home := t.TempDir() // no ~/.erlang.cookie
	cases := []struct {
		args []string
		env  []string
		code int
		out  string
	}{
		{args: cliArgs(port, "ping", "nosuch@localhost"), code: exitRemote, out: "pang\n"},
		{args: cliArgs(port, "ping", "bad name"), code: exitUsage},
		{args: cliArgs(port, "ping"), code: exitUsage},
		{args: []string{"ping", "x@localhost", "--epmd-port", strconv.Itoa(port)}, env: []string{"HOME=" + home, "DISTRIBUTE_COOKIE="}, code: exitUsage},
		{args: cliArgs(port, "send", "x@localhost", "box", "{unclosed"), code: exitUsage},
		{args: cliArgs(port, "call", "x@localhost", "box", "[1,"), code: exitUsage},
		{args: cliArgs(port, "send", "x@localhost", "box", "ok"), code: exitRemote},
		{args: cliArgs(port, "ping", "x@localhost", "--timeout", "soon"), code: exitUsage},
		{args: []string{"names", "--epmd-port", strconv.Itoa(distributetest.FreePort(t))}, code: exitRemote},
		{args: []string{"node", "--cookie", "c"}, code: exitUsage},
		{args: []string{"node", "--name", "no-at-sign", "--cookie", "c"}, code: exitUsage},
	}
	for _, tc := range cases {
		cmd := exec.Command(binary, tc.args...)
		cmd.Env = append(os.Environ(), tc.env...)
		var outb, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &outb, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		checkOneLineError(t, tc.args, errb.String(), code, tc.code)
		if outb.String() != tc.out {
			t.Errorf("%v: stdout %q; want %q", tc.args, outb.String(), tc.out)
		}
	}
}

func TestDemo(t *testing.T) {
	for _, withErl := range []bool{true, false} {
		t.Run(fmt.Sprintf("erl=%v", withErl), func(t *testing.T) {
			cmd := exec.Command(binary, "demo")
			if !withErl {
				// No erl on PATH: the demo runs with Go nodes only.
				cmd.Env = append(os.Environ(), "PATH="+t.TempDir())
			} else {
				distributetest.RequireErl(t)
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("demo: %v\n%s", err, out)
			}
			s := string(out)
			if !strings.Contains(s, "summary: ") || !strings.Contains(s, "all ok") {
				t.Fatalf("demo output has no summary:\n%s", s)
			}
			// The walk-through: a typed round trip, a leader agreed on, then a new
			// one after the kill.
			for _, want := range []string{"echoed {From:demo Seq:7 Loud:true}; as version 3:", "version mismatch", "distribute:leader() is {ok,", "new leader ", "dead after ", "every node resolves the global name"} {
				if !strings.Contains(s, want) {
					t.Fatalf("demo output lacks %q:\n%s", want, s)
				}
			}
			if got := strings.Contains(s, "1 Erlang node"); got != withErl {
				t.Fatalf("demo with erl=%v mentions an Erlang node: %v\n%s", withErl, got, s)
			}
		})
	}
}

func TestNodeGroupAgainstErlang(t *testing.T) {
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{Cookie: testCookie, Args: []string{"-kernel", "start_pg", "true"}})
	n := startNodeProc(t, erl.EpmdPort, "grp@localhost", "--inbox", "box", "--group", "workers", "--connect", erl.Name)
	// The Go scope discovers the Erlang one over the connection; then
	// pg:get_members on Erlang lists the Go inbox.
	deadline := time.Now().Add(distributetest.Scale(15 * time.Second))
	for {
		got := erl.Eval(t, `[node(P) || P <- pg:get_members(workers)]`)
		if got == "[grp@localhost]" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pg:get_members(workers) = %s; want the Go inbox", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	erl.Eval(t, `[P ! {hello_group, 1} || P <- pg:get_members(workers)]`)
	n.expect(t, "box: {hello_group,1}")
	out, stderr, code := runCLI(t, "", cliArgs(erl.EpmdPort, "rpc", "grp@localhost", "distribute", "groups")...)
	if code != 0 || !strings.HasPrefix(out, "[{workers,[<grp@localhost.") {
		t.Fatalf("rpc distribute groups: %q %q exit %d", out, stderr, code)
	}
}

func TestGroupsAcrossGoProcesses(t *testing.T) {
	port := distributetest.StartEpmd(t)
	n1 := startNodeProc(t, port, "g1@localhost", "--inbox", "a", "--group", "g")
	n2 := startNodeProc(t, port, "g2@localhost", "--inbox", "b", "--group", "g", "--connect", "g1@localhost")
	n1.expect(t, "event nodeup g2@localhost")
	// Each side's scope learns the other's member: distribute:groups() on
	// either node lists both inboxes.
	for _, node := range []string{"g1@localhost", "g2@localhost"} {
		deadline := time.Now().Add(distributetest.Scale(15 * time.Second))
		for {
			out, stderr, code := runCLI(t, "", cliArgs(port, "rpc", node, "distribute", "groups")...)
			if code == 0 && strings.Count(out, "<g1@localhost.") == 1 && strings.Count(out, "<g2@localhost.") == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("distribute:groups() on %s = %q %q", node, out, stderr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The member on g2 leaves when g2 stops.
	n2.cmd.Process.Signal(syscall.SIGTERM)
	<-n2.done
	deadline := time.Now().Add(distributetest.Scale(15 * time.Second))
	for {
		out, _, _ := runCLI(t, "", cliArgs(port, "rpc", "g1@localhost", "distribute", "groups")...)
		if strings.Count(out, "<g2@localhost.") == 0 && strings.Count(out, "<g1@localhost.") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after g2 stopped, distribute:groups() on g1 = %q", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMembershipAndHealthAcrossProcesses(t *testing.T) {
	port := distributetest.StartEpmd(t)
	httpPort := distributetest.FreePort(t)
	m1 := startNodeProc(t, port, "m1@localhost", "--profile", "local", "--http", fmt.Sprintf("127.0.0.1:%d", httpPort))
	m2 := startNodeProc(t, port, "m2@localhost", "--profile", "local", "--join", "m1@localhost")
	m3 := startNodeProc(t, port, "m3@localhost", "--profile", "local", "--join", "m1@localhost")
	m1.expectPrefix(t, "event member m2@localhost alive ")
	m1.expectPrefix(t, "event member m3@localhost alive ")
	m2.expectPrefix(t, "event member m3@localhost alive ")
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz: %d %s", resp.StatusCode, body)
	}
	// SIGKILL m3: the others see it dead (SWIM), and m1's distribution
	// link to it goes down.
	m3.cmd.Process.Signal(syscall.SIGKILL)
	m1.expectPrefix(t, "event member m3@localhost dead ")
	m2.expectPrefix(t, "event member m3@localhost dead ")
	// A graceful stop shows as left.
	m2.cmd.Process.Signal(syscall.SIGTERM)
	m1.expectPrefix(t, "event member m2@localhost left ")
}

func TestGlobalNameAgainstErlang(t *testing.T) {
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{Cookie: testCookie})
	n := startNodeProc(t, erl.EpmdPort, "glob@localhost", "--inbox", "box", "--global", "box", "--connect", erl.Name)
	if got := erl.Eval(t, `global:sync()`); got != "ok" {
		t.Fatalf("global:sync() = %s", got)
	}
	deadline := time.Now().Add(distributetest.Scale(15 * time.Second))
	for {
		got := erl.Eval(t, `case global:whereis_name(box) of undefined -> undefined; P -> node(P) end`)
		if got == "glob@localhost" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("global:whereis_name(box) on Erlang: %s", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	erl.Eval(t, `global:send(box, {via_global, 1})`)
	n.expect(t, "box: {via_global,1}")
	if got := erl.Eval(t, `global:trans({lock, self()}, fun() -> done end)`); got != "done" {
		t.Fatalf("global:trans = %s", got)
	}
	out, stderr, code := runCLI(t, "", cliArgs(erl.EpmdPort, "rpc", "glob@localhost", "distribute", "global_names")...)
	if code != 0 || out != "[box]\n" {
		t.Fatalf("distribute:global_names(): %q %q exit %d", out, stderr, code)
	}
}

func TestBenchCommand(t *testing.T) {
	args := []string{"bench", "--messages", "2000", "--round-trips", "200"}
	if !distributetest.ErlRequired() {
		if _, err := exec.LookPath("erl"); err != nil {
			args = append(args, "--no-erlang")
		}
	}
	out, stderr, code := runCLI(t, "", args...)
	if code != 0 {
		t.Fatalf("bench: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"gopeer@localhost   one-way 64 B", "gopeer@localhost   ping-pong 64 B", "gopeer@localhost   gen_server:call"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench output lacks %q:\n%s", want, out)
		}
	}
	if _, err := exec.LookPath("erl"); err == nil && !strings.Contains(out, "erlpeer@localhost  one-way 64 B") {
		t.Errorf("bench with erl installed lacks the Erlang peer:\n%s", out)
	}
}
