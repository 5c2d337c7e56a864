package gonode

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// Child is the running test binary started again as a child process, to
// run a Go node in an OS process of its own. The child reads its role
// from the environment StartChild adds (the test's TestMain looks for it
// and runs the role instead of the tests), prints "ready" once it serves,
// talks to the test over its stdin and stdout, and exits when its stdin
// closes.
type Child struct {
	In  io.WriteCloser
	Out *bufio.Reader
	Cmd *exec.Cmd
}

// StartChild runs the test binary (no tests: -test.run=^$) with env
// added, and waits for its first stdout line, "ready". At cleanup it
// closes the child's stdin (the child exits on EOF) and waits for it,
// killing it after a scaled 15 s.
func StartChild(t testing.TB, env ...string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(distributetest.Scale(15 * time.Second)):
			cmd.Process.Kill()
			<-done
		}
	})
	c := &Child{In: in, Out: bufio.NewReader(out), Cmd: cmd}
	if line, err := c.Out.ReadString('\n'); err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("child did not start: %q %v", line, err)
	}
	return c
}
