package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// runNodeLogs runs `distribute node --name NAME args...` until it prints
// its started line, stops it with SIGTERM and returns its stderr.
func runNodeLogs(t *testing.T, epmdPort int, name string, args ...string) string {
	t.Helper()
	full := append([]string{"node", "--name", name, "--cookie", testCookie, "--epmd-port", strconv.Itoa(epmdPort), "--hidden"}, args...)
	cmd := exec.Command(binary, full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The reader sends true on the started line and closes done at EOF
	// (the process has exited): Wait comes after it, as exec requires.
	started := make(chan bool, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		ok := false
		for sc.Scan() {
			if !ok && sc.Text() == "started "+name {
				ok = true
				started <- true
			}
		}
		if !ok {
			started <- false
		}
	}()
	select {
	case ok := <-started:
		if !ok {
			<-done
			cmd.Wait()
			t.Fatalf("node %v exited before starting: %s", args, stderr.String())
		}
		cmd.Process.Signal(syscall.SIGTERM)
	case <-time.After(distributetest.Scale(15 * time.Second)):
		cmd.Process.Kill()
	}
	<-done
	err = cmd.Wait()
	select {
	case ok := <-started:
		if !ok {
			t.Fatalf("node %v did not start: %s", args, stderr.String())
		}
	default:
	}
	if err != nil {
		t.Fatalf("node %v: %v; stderr %s", args, err, stderr.String())
	}
	return stderr.String()
}

func TestLogFlags(t *testing.T) {
	port := distributetest.StartEpmd(t)

	// JSON: one object a line; the node's start at info.
	out := runNodeLogs(t, port, "logj@localhost", "--log-level", "info", "--log-format", "json")
	var startedLine map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("--log-format json: line %q: %v", l, err)
		}
		if m["msg"] == "node started" {
			startedLine = m
		}
	}
	if startedLine == nil || startedLine["level"] != "INFO" || startedLine["node"] != "logj@localhost" {
		t.Errorf("--log-format json: no INFO \"node started\" record for logj@localhost in:\n%s", out)
	}

	// Text: key=value.
	out = runNodeLogs(t, port, "logt@localhost", "--log-level", "debug")
	if !strings.Contains(out, `level=INFO msg="node started" node=logt@localhost`) {
		t.Errorf("--log-format text: no node started line in:\n%s", out)
	}

	// The default level is warn: nothing below it (the node's start is
	// at info). A warning may come (membership's stop can log one).
	if out := runNodeLogs(t, port, "logw@localhost"); strings.Contains(out, "level=INFO") || strings.Contains(out, "level=DEBUG") {
		t.Errorf("default --log-level warn: stderr %q; want nothing below warn", out)
	}
	out = runNodeLogs(t, port, "loge@localhost", "--log-level", "error", "--log-format", "json")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if l != "" && (json.Unmarshal([]byte(l), &m) != nil || m["level"] != "ERROR") {
			t.Errorf("--log-level error: stderr line %q; want only ERROR records", l)
		}
	}

	// A one-shot command takes the flags too.
	startNodeProc(t, port, "logp@localhost", "--hidden")
	stdout, stderr, code := runCLI(t, "", cliArgs(port, "ping", "logp@localhost", "--log-level", "debug", "--log-format", "json")...)
	if code != 0 || stdout != "pong\n" {
		t.Fatalf("ping: %q %q exit %d", stdout, stderr, code)
	}
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["level"] == nil {
			t.Errorf("ping --log-format json: stderr line %q is not a JSON record", l)
		}
	}

	// Bad values: usage error, one line.
	for _, args := range [][]string{
		{"node", "--name", "logx@localhost", "--log-level", "loud"},
		{"node", "--name", "logx@localhost", "--log-format", "xml"},
		{"ping", "logp@localhost", "--log-level", "verbose"},
	} {
		args = cliArgs(port, args...)
		_, stderr, code := runCLI(t, "", args...)
		checkOneLineError(t, args, stderr, code, 2)
		if !strings.Contains(stderr, "--log-") {
			t.Errorf("%v: stderr %q; want it to name the flag", args, stderr)
		}
	}
}
