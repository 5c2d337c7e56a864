// Package examples runs the example programs as a user would.
package examples

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

func build(t *testing.T, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, "./"+pkg).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

func TestTwoNodes(t *testing.T) {
	out, err := exec.Command(build(t, "twonodes")).CombinedOutput()
	if err != nil {
		t.Fatalf("twonodes: %v\n%s", err, out)
	}
	want := "counter is 1\ncounter is 2\ncounter is 3\ncounter exited: stopped\n"
	if string(out) != want {
		t.Fatalf("twonodes printed:\n%s\nwant:\n%s", out, want)
	}
}

func TestGoAndErlang(t *testing.T) {
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{Name: "erl@localhost", Cookie: "example"})
	src, err := os.ReadFile("erlang/echo.erl")
	if err != nil {
		t.Fatal(err)
	}
	erl.LoadModule(t, string(src))
	if got := erl.Eval(t, "element(1, echo:start())"); got != "ok" {
		t.Fatalf("echo:start() = %s", got)
	}
	cmd := exec.Command(build(t, "erlang"))
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(erl.EpmdPort))
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	}()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(prefix string) string {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("example exited before printing %q", prefix)
				}
				if strings.HasPrefix(l, prefix) {
					return l
				}
			case <-time.After(distributetest.Scale(20 * time.Second)):
				t.Fatalf("example did not print %q", prefix)
			}
		}
	}
	if l := expect("Erlang replied:"); l != `Erlang replied: {echo,'go@localhost',{hi,<<"from Go">>}}` && l != `Erlang replied: {echo,go@localhost,{hi,<<"from Go">>}}` {
		t.Fatalf("got %q", l)
	}
	expect("serving greeter")
	got := erl.Eval(t, `gen_server:call({greeter, 'go@localhost'}, {hello, "erl"})`)
	if got != `{hello_from_go,{hello,"erl"}}` {
		t.Fatalf("Erlang's call to the Go greeter = %s", got)
	}
	expect(`Erlang asked: {hello,"erl"}`)
}

func TestMain(m *testing.M) { distributetest.VerifyTestMain(m) }

func TestElection(t *testing.T) {
	out, err := exec.Command(build(t, "election")).CombinedOutput()
	if err != nil {
		t.Fatalf("election: %v\n%s", err, out)
	}
	want := "3 nodes agree on one leader\n" +
		"the leader confirms with a quorum; its write: <nil>\n" +
		"the leader stopped; the 2 others agree on a new leader in a higher term\n" +
		"the new leader's write: <nil>\n" +
		"the old leader's write rejected: true\n"
	if string(out) != want {
		t.Fatalf("election printed:\n%s\nwant:\n%s", out, want)
	}
}
