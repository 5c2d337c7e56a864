package distributetest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
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
)

// Scale multiplies a liveness deadline by DISTRIBUTE_TEST_TIMEOUT_SCALE
// (a positive number, default 1). Tests use it for deadlines that check that
// something happens, never how fast.
func Scale(d time.Duration) time.Duration {
	s := os.Getenv("DISTRIBUTE_TEST_TIMEOUT_SCALE")
	if s == "" {
		return d
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return d
	}
	return time.Duration(float64(d) * f)
}

// ErlRequired reports whether the environment demands real Erlang
// (DISTRIBUTE_REQUIRE_ERL=1).
func ErlRequired() bool { return os.Getenv("DISTRIBUTE_REQUIRE_ERL") == "1" }

// RequireErl returns the path of `erl`: $DISTRIBUTE_ERL when set (for
// example a wrapper that runs OTP 27's erl in a chroot), else erl from
// PATH. When it is missing the test is skipped, or fails when
// DISTRIBUTE_REQUIRE_ERL=1.
func RequireErl(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("DISTRIBUTE_ERL"); p != "" {
		return requireTool(t, p)
	}
	return requireTool(t, "erl")
}

func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not found on PATH: install Debian's erlang-nox to run the Erlang interop tests", name)
	if ErlRequired() {
		t.Fatalf("%s (DISTRIBUTE_REQUIRE_ERL=1)", msg)
	}
	t.Skip(msg)
	return ""
}

// EvalErl runs a one-shot `erl -noshell` that evaluates exprs, an Erlang
// expression sequence such as `io:format("~p~n", [1+1])` (halt() is added),
// and returns what it printed on standard output. It fails the test when erl
// exits non-zero or runs longer than a minute (scaled).
func EvalErl(t testing.TB, exprs string) string {
	t.Helper()
	erl := RequireErl(t)
	ctx, cancel := context.WithTimeout(context.Background(), Scale(60*time.Second))
	defer cancel()
	cmd := exec.CommandContext(ctx, erl, "-noshell", "-start_epmd", "false", "-eval", exprs+", halt(0).")
	cmd.Env = append(os.Environ(), "ERL_CRASH_DUMP_SECONDS=0")
	var stdout, stderr strings.Builder
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("erl -eval failed: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartEpmd starts a real epmd bound to 127.0.0.1 on a free port and returns
// the port. It is killed by pid when the test ends.
func StartEpmd(t testing.TB) int {
	t.Helper()
	epmd := requireTool(t, "epmd")
	for attempt := 0; ; attempt++ {
		port := FreePort(t)
		cmd := exec.Command(epmd, "-port", strconv.Itoa(port), "-address", "127.0.0.1")
		var out strings.Builder
		cmd.Stdout = &out
		cmd.Stderr = &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start epmd: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() {
			cmd.Process.Kill()
			<-exited
		}
		if waitListening(port, exited, Scale(10*time.Second)) {
			t.Cleanup(stop)
			return port
		}
		stop()
		if attempt == 4 {
			t.Fatalf("epmd did not start on port %d: %s", port, out.String())
		}
	}
}

// waitListening polls until something accepts on 127.0.0.1:port, the process
// exits or the deadline passes.
func waitListening(port int, exited <-chan struct{}, d time.Duration) bool {
	deadline := time.Now().Add(d)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
		select {
		case <-exited:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}

// ErlOptions configure StartErlNode.
type ErlOptions struct {
	// Name is the node name: "e1@localhost" (short) or "e1@127.0.0.1"
	// (long). Empty: a generated short name "erlXXXX@localhost".
	Name string
	// Cookie defaults to "distributetest".
	Cookie string
	// EpmdPort is the epmd the node registers with; 0 starts a private one.
	EpmdPort int
	// Hidden starts the node with -hidden.
	Hidden bool
	// Args are extra erl arguments, e.g. "-kernel", "net_ticktime", "4".
	Args []string
	// Env adds environment variables (KEY=VALUE).
	Env []string
}

// ErlNode is a running `erl` node driven through its standard input: each
// Eval sends one expression and reads one result line.
type ErlNode struct {
	Name     string
	Cookie   string
	EpmdPort int

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	exited chan struct{}

	evalMu sync.Mutex // serializes Eval
	mu     sync.Mutex // protects output
	output strings.Builder
	stop   sync.Once
}

// Pid returns the OS process id of the node's emulator.
func (n *ErlNode) Pid() int { return n.cmd.Process.Pid }

// Exited is closed when the erl process has exited.
func (n *ErlNode) Exited() <-chan struct{} { return n.exited }

const evalMarker = "\x02DT:"

// evalLoop reads one expression per line, evaluates it and prints the result
// behind evalMarker with ~0p on one line.
const evalLoop = `io:setopts(standard_io, [{encoding, unicode}]),
L = fun Loop() ->
  case io:get_line("") of
    eof -> halt(0);
    {error, _} -> halt(0);
    Line ->
      Reply = try
          {ok, Toks, _} = erl_scan:string(unicode:characters_to_list(Line)),
          {ok, Exprs} = erl_parse:parse_exprs(Toks),
          {value, V, _} = erl_eval:exprs(Exprs, []),
          io_lib:format("~0tp", [V])
        catch C:R -> io_lib:format("~0tp", [{'EXIT', C, R}]) end,
      io:put_chars(standard_io, [<<2>>, "DT:", lists:flatten(Reply), "\n"]),
      Loop()
  end
end,
L()`

func randomSuffix() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// StartErlNode starts a distributed `erl` node and waits until it answers.
// It registers with a private epmd (started if opts.EpmdPort is 0), never
// with the system one, listens on 127.0.0.1 only, and is stopped (and, if it
// does not exit, killed) when the test ends.
func StartErlNode(t testing.TB, opts ErlOptions) *ErlNode {
	t.Helper()
	erl := RequireErl(t)
	if opts.Name == "" {
		opts.Name = "erl" + randomSuffix() + "@localhost"
	}
	if opts.Cookie == "" {
		opts.Cookie = "distributetest"
	}
	if opts.EpmdPort == 0 {
		opts.EpmdPort = StartEpmd(t)
	}
	nameFlag := "-sname"
	if host := opts.Name[strings.IndexByte(opts.Name, '@')+1:]; strings.Contains(host, ".") {
		nameFlag = "-name"
	}
	args := []string{
		"-noshell", nameFlag, opts.Name, "-setcookie", opts.Cookie,
		"-start_epmd", "false",
		"-kernel", "inet_dist_use_interface", "{127,0,0,1}",
	}
	if opts.Hidden {
		args = append(args, "-hidden")
	}
	if !slices.Contains(opts.Args, "net_setuptime") {
		// Erlang gives a connection's setup 7 s by default; a TLS
		// handshake on a loaded machine can take longer, and the test
		// then fails for the machine's sake, not ours.
		args = append(args, "-kernel", "net_setuptime", strconv.Itoa(int(min(Scale(30*time.Second), 120*time.Second)/time.Second)))
	}
	args = append(args, opts.Args...)
	args = append(args, "-eval", evalLoop)
	cmd := exec.Command(erl, args...)
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(opts.EpmdPort), "ERL_CRASH_DUMP_SECONDS=0")
	cmd.Env = append(cmd.Env, opts.Env...)
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
	n := &ErlNode{
		Name: opts.Name, Cookie: opts.Cookie, EpmdPort: opts.EpmdPort,
		cmd: cmd, stdin: stdin, lines: make(chan string, 16), exited: make(chan struct{}),
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start erl: %v", err)
	}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(n.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, evalMarker); ok {
				n.lines <- rest
				continue
			}
			n.mu.Lock()
			n.output.WriteString(line)
			n.output.WriteByte('\n')
			n.mu.Unlock()
		}
	}()
	go func() {
		<-readerDone
		cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() { n.Stop(t) })
	if got := n.Eval(t, "node()"); got != quoteAtomForTest(opts.Name) {
		t.Fatalf("erl node: node() = %s, want %s; output:\n%s", got, opts.Name, n.Output())
	}
	return n
}

// quoteAtomForTest prints a node name atom as ~0p does for the names tests use.
func quoteAtomForTest(name string) string {
	for i, r := range name {
		ok := r == '_' || r == '@' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok || (i == 0 && !(r >= 'a' && r <= 'z')) {
			return "'" + name + "'"
		}
	}
	return name
}

// Output returns everything the node printed besides Eval results (logs,
// crash reports), for failure messages.
func (n *ErlNode) Output() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.output.String()
}

// Eval evaluates one Erlang expression (no trailing period; newlines are
// allowed) on the node and returns its value printed with ~0tp. An exception
// is returned as the text of {'EXIT',Class,Reason}. It fails the test when
// no answer comes within 30 s (scaled).
func (n *ErlNode) Eval(t testing.TB, expr string) string {
	t.Helper()
	s, err := n.EvalErr(expr, Scale(30*time.Second))
	if err != nil {
		t.Fatalf("erl %s: eval %q: %v\noutput:\n%s", n.Name, expr, err, n.Output())
	}
	return s
}

// EvalErr is Eval without a testing.TB: it returns an error on timeout or
// when the node has exited. It is safe to call from any goroutine.
func (n *ErlNode) EvalErr(expr string, timeout time.Duration) (string, error) {
	line := strings.ReplaceAll(strings.ReplaceAll(expr, "\r", " "), "\n", " ") + " .\n"
	n.evalMu.Lock()
	defer n.evalMu.Unlock()
	if _, err := io.WriteString(n.stdin, line); err != nil {
		return "", fmt.Errorf("write to erl: %w", err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case s, ok := <-n.lines:
		if !ok {
			return "", fmt.Errorf("erl exited")
		}
		return s, nil
	case <-timer.C:
		return "", fmt.Errorf("no answer within %v", timeout)
	}
}

// Signal sends sig to the erl emulator (SIGSTOP, SIGCONT, SIGKILL, ...).
func (n *ErlNode) Signal(sig syscall.Signal) error {
	return syscall.Kill(n.cmd.Process.Pid, sig)
}

// Stop halts the node: it closes its input (the eval loop halts), then
// kills the process group if it has not exited in 10 s. It is idempotent.
func (n *ErlNode) Stop(t testing.TB) {
	n.stop.Do(func() {
		syscall.Kill(n.cmd.Process.Pid, syscall.SIGCONT)
		n.stdin.Close()
		select {
		case <-n.exited:
		case <-time.After(Scale(10 * time.Second)):
			syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
			<-n.exited
		}
	})
}

// LoadModule compiles the Erlang module in source (the text of a .erl
// file) and loads it on the node, so tests can run compiled code instead of
// the slow interpreted funs Eval builds.
func (n *ErlNode) LoadModule(t testing.TB, source string) {
	t.Helper()
	mod := moduleName(source)
	if mod == "" {
		t.Fatalf("LoadModule: no -module(...) attribute in source")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, mod+".erl")
	if err := os.WriteFile(path, []byte(source), 0o644); err != nil {
		t.Fatal(err)
	}
	got := n.Eval(t, fmt.Sprintf(`case compile:file(%q, [binary, return_errors]) of {ok, M, B} -> element(1, code:load_binary(M, %q, B)); E -> E end`, path, path))
	if got != "module" {
		t.Fatalf("LoadModule %s: %s", mod, got)
	}
}

// moduleName returns the name in a -module(Name). attribute.
func moduleName(src string) string {
	i := strings.Index(src, "-module(")
	if i < 0 {
		return ""
	}
	rest := src[i+len("-module("):]
	j := strings.IndexByte(rest, ')')
	if j < 0 {
		return ""
	}
	return strings.Trim(strings.TrimSpace(rest[:j]), "'")
}
