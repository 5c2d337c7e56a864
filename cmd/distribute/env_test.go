package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{
		"name":                           "DISTRIBUTE_NAME",
		"discover":                       "DISTRIBUTE_DISCOVER",
		"discover-interval":              "DISTRIBUTE_DISCOVER_INTERVAL",
		"prevent-overlapping-partitions": "DISTRIBUTE_PREVENT_OVERLAPPING_PARTITIONS",
	} {
		if got := envName(flag); got != want {
			t.Errorf("envName(%q) = %q; want %q", flag, got, want)
		}
	}
}

// TestApplyEnv: every flag not on the command line takes its variable;
// a repeatable flag a space-separated list; the command line wins; an
// empty variable is unset; a bad value names its variable.
func TestApplyEnv(t *testing.T) {
	fs := pflag.NewFlagSet("node", pflag.ContinueOnError)
	name := fs.String("name", "", "")
	inbox := fs.StringArray("inbox", nil, "")
	join := fs.StringArray("join", nil, "")
	hidden := fs.Bool("hidden", false, "")
	expect := fs.Int("expect", 0, "")
	grace := fs.Duration("shutdown-grace", time.Second, "")
	listen := fs.String("listen", "x", "")
	if err := fs.Parse([]string{"--join", "flag@h"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"DISTRIBUTE_NAME":           "env@h",
		"DISTRIBUTE_INBOX":          " a  b\tc ",
		"DISTRIBUTE_JOIN":           "env1@h env2@h",
		"DISTRIBUTE_HIDDEN":         "true",
		"DISTRIBUTE_EXPECT":         "3",
		"DISTRIBUTE_SHUTDOWN_GRACE": "1m30s",
		"DISTRIBUTE_LISTEN":         "",
	}
	if err := applyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if *name != "env@h" || strings.Join(*inbox, ",") != "a,b,c" || strings.Join(*join, ",") != "flag@h" ||
		!*hidden || *expect != 3 || *grace != 90*time.Second || *listen != "x" {
		t.Fatalf("after applyEnv: name %q inbox %q join %q hidden %v expect %d grace %v listen %q",
			*name, *inbox, *join, *hidden, *expect, *grace, *listen)
	}
	fs = pflag.NewFlagSet("node", pflag.ContinueOnError)
	fs.Int("expect", 0, "")
	env = map[string]string{"DISTRIBUTE_EXPECT": "three"}
	err := applyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil || !strings.Contains(err.Error(), "DISTRIBUTE_EXPECT") {
		t.Fatalf("a bad value: %v; want an error naming DISTRIBUTE_EXPECT", err)
	}
}

// startNodeEnv runs `distribute node ARGS` with extra environment
// variables and returns the process and its first stdout line.
func startNodeEnv(t *testing.T, env []string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"node"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			first <- sc.Text()
		}
		close(first)
		for sc.Scan() {
		}
		cmd.Wait()
		close(done)
	}()
	select {
	case l, ok := <-first:
		if !ok {
			t.Fatalf("node exited before printing a line; stderr: %s", errb.String())
		}
		return cmd, l
	case <-time.After(distributetest.Scale(20 * time.Second)):
		t.Fatalf("node printed nothing; stderr: %s", errb.String())
	}
	return nil, ""
}

// TestNodeFromEnvironment: a node configured by its environment alone,
// and a flag on the command line winning over its variable.
func TestNodeFromEnvironment(t *testing.T) {
	port := distributetest.StartEpmd(t)
	env := []string{
		"DISTRIBUTE_NAME=envnode@localhost",
		"DISTRIBUTE_COOKIE=" + testCookie,
		"DISTRIBUTE_EPMD_PORT=" + strconv.Itoa(port),
		"DISTRIBUTE_INBOX=one two",
		"DISTRIBUTE_DISCOVER_INTERVAL=2s",
	}
	_, line := startNodeEnv(t, env)
	if line != "started envnode@localhost" {
		t.Fatalf("first line %q; want started envnode@localhost", line)
	}
	for _, box := range []string{"one", "two"} {
		out, stderr, code := runCLI(t, "", cliArgs(port, "call", "envnode@localhost", box, "ping")...)
		if code != 0 || out != "ping\n" {
			t.Fatalf("call %s: %q %q exit %d", box, out, stderr, code)
		}
	}
	_, line = startNodeEnv(t, env, "--name", "flagnode@localhost")
	if line != "started flagnode@localhost" {
		t.Fatalf("first line %q; want started flagnode@localhost (the flag wins)", line)
	}
}

func TestNodeBadEnvironment(t *testing.T) {
	port := distributetest.FreePort(t)
	for _, kv := range []string{
		"DISTRIBUTE_EXPECT=three",
		"DISTRIBUTE_HIDDEN=maybe",
		"DISTRIBUTE_DISCOVER=consul:x",
		"DISTRIBUTE_SHUTDOWN_GRACE=-1s",
		"DISTRIBUTE_DISCOVER_INTERVAL=0s",
	} {
		cmd := exec.Command(binary, "node", "--name", "early@localhost", "--cookie", "c", "--epmd-port", strconv.Itoa(port))
		cmd.Env = append(os.Environ(), kv)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		checkOneLineError(t, []string{kv}, errb.String(), code, exitUsage)
		name, _, _ := strings.Cut(kv, "=")
		if _, v, _ := strings.Cut(kv, "="); !strings.Contains(errb.String(), name) && !strings.Contains(errb.String(), v) {
			t.Errorf("%s: stderr %q names neither the variable nor its value", kv, errb.String())
		}
		if out.Len() != 0 {
			t.Errorf("%s: stdout %q; want nothing (the node must not start)", kv, out.String())
		}
	}
}

// TestNodeHelpListsEnvironment: node --help names the discovery flags and
// every flag's variable.
func TestNodeHelpListsEnvironment(t *testing.T) {
	out, _, code := runCLI(t, "", "node", "--help")
	if code != 0 {
		t.Fatalf("node --help: exit %d", code)
	}
	for _, want := range []string{
		"--discover", "dns:NAME", "srv:NAME", "file:PATH", "--discover-interval", "--shutdown-grace",
		"$DISTRIBUTE_NAME", "$DISTRIBUTE_DISCOVER", "$DISTRIBUTE_DISCOVER_INTERVAL", "$DISTRIBUTE_SHUTDOWN_GRACE",
		"$DISTRIBUTE_COOKIE", "$DISTRIBUTE_PREVENT_OVERLAPPING_PARTITIONS", "space-separated",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("node --help lacks %q:\n%s", want, out)
		}
	}
}

// TestEnvOnEveryCommand: every flag of every command names its variable
// in its help line, and a one-shot command takes its flags from the
// environment too.
func TestEnvOnEveryCommand(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Name != "help" && !strings.Contains(f.Usage, "$"+envName(f.Name)) {
				t.Errorf("%s --%s: the help does not name $%s: %q", c.CommandPath(), f.Name, envName(f.Name), f.Usage)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(nil, io.Discard, io.Discard))

	port := distributetest.StartEpmd(t)
	startNodeProc(t, port, "envping@localhost")
	cmd := exec.Command(binary, "ping", "envping@localhost")
	cmd.Env = append(os.Environ(), "DISTRIBUTE_COOKIE="+testCookie, "DISTRIBUTE_EPMD_PORT="+strconv.Itoa(port))
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "pong\n" {
		t.Fatalf("ping configured by the environment: %q, %v", out, err)
	}
	cmd = exec.Command(binary, "ping", "envping@localhost", "--cookie", testCookie)
	cmd.Env = append(os.Environ(), "DISTRIBUTE_TIMEOUT=soon")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	checkOneLineError(t, []string{"DISTRIBUTE_TIMEOUT=soon"}, errb.String(), code, exitUsage)
	if !strings.Contains(errb.String(), "DISTRIBUTE_TIMEOUT") {
		t.Errorf("stderr %q does not name DISTRIBUTE_TIMEOUT", errb.String())
	}
}
