package main

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
)

// exitCase is one run of the command as a user types it, and what the
// CLI's contract says comes out: 0 success, 1 no result from the remote
// side, 2 usage or input error.
type exitCase struct {
	what   string
	args   []string
	code   int
	stdout string // exact stdout when set
	stderr string // a substring of the one stderr line when set
}

func runExitCases(t *testing.T, cases []exitCase) {
	t.Helper()
	for _, tc := range cases {
		out, stderr, code := runCLI(t, "", tc.args...)
		if tc.code == 0 {
			if code != 0 {
				t.Errorf("%s: %v: exit %d, stderr %q; want 0", tc.what, tc.args, code, stderr)
			}
		} else {
			checkOneLineError(t, tc.args, stderr, code, tc.code)
		}
		if tc.stdout != "" && out != tc.stdout {
			t.Errorf("%s: %v: stdout %q; want %q", tc.what, tc.args, out, tc.stdout)
		}
		if tc.stderr != "" && !strings.Contains(stderr, tc.stderr) {
			t.Errorf("%s: %v: stderr %q; want it to mention %q", tc.what, tc.args, stderr, tc.stderr)
		}
	}
}

// withCookie builds one-shot arguments with an explicit cookie.
func withCookie(epmdPort int, cookie string, args ...string) []string {
	return append(args, "--cookie", cookie, "--epmd-port", strconv.Itoa(epmdPort))
}

// TestExitCodesEveryCommand runs every one-shot command against a Go node
// process and a real erl node through each documented outcome: success
// (0), no result from the remote side (1: wrong cookie, timeout, noproc,
// an RPC that raised, nobody there) and bad input (2).
func TestExitCodesEveryCommand(t *testing.T) {
	port := distributetest.StartEpmd(t)
	goNode := startNodeProc(t, port, "exitgo@localhost", "--inbox", "box")

	type target struct {
		node   string
		cookie string
		// silent is a registered process that never answers a call.
		silent string
	}
	targets := []target{{node: goNode.name, cookie: testCookie}}
	if _, err := exec.LookPath("erl"); err == nil || distributetest.ErlRequired() {
		distributetest.RequireErl(t)
		e := distributetest.StartErlNode(t, distributetest.ErlOptions{Name: "exiterl@localhost", Cookie: testCookie, EpmdPort: port})
		e.Eval(t, "begin register(silent, spawn(fun() -> receive stop -> ok end end)), ok end")
		targets = append(targets, target{node: e.Name, cookie: testCookie, silent: "silent"})
	} else {
		t.Log("no erl on PATH: the Erlang half of this test is skipped")
	}
	for _, tg := range targets {
		n := tg.node
		cases := []exitCase{
			{what: "ping", args: withCookie(port, tg.cookie, "ping", n), code: 0, stdout: "pong\n"},
			{what: "ping, wrong cookie", args: withCookie(port, "not-"+tg.cookie, "ping", n), code: 1, stdout: "pang\n"},
			{what: "send", args: withCookie(port, tg.cookie, "send", n, "box", "{hello,1}"), code: 0},
			{what: "send, wrong cookie", args: withCookie(port, "not-"+tg.cookie, "send", n, "box", "hi"), code: 1},
			{what: "call to nobody", args: withCookie(port, tg.cookie, "call", n, "nobody_here", "hi"), code: 1, stderr: "noproc"},
			{what: "call, wrong cookie", args: withCookie(port, "not-"+tg.cookie, "call", n, "box", "hi"), code: 1},
			{what: "rpc", args: withCookie(port, tg.cookie, "rpc", n, "erlang", "node"), code: 0, stdout: n + "\n"},
			{what: "rpc that raises", args: withCookie(port, tg.cookie, "rpc", n, "nosuchmod", "nosuchfun", "[1]"), code: 1, stderr: "badrpc"},
			{what: "rpc, wrong cookie", args: withCookie(port, "not-"+tg.cookie, "rpc", n, "erlang", "node"), code: 1},
			{what: "call, bad term", args: withCookie(port, tg.cookie, "call", n, "box", "{a,"), code: 2},
			{what: "rpc, bad timeout", args: withCookie(port, tg.cookie, "rpc", n, "erlang", "node", "[]", "--timeout", "-"), code: 2},
		}
		if tg.silent != "" {
			cases = append(cases, exitCase{what: "call that times out", args: withCookie(port, tg.cookie, "call", n, tg.silent, "hi", "--timeout", "300ms"), code: 1, stderr: "timeout"})
		} else {
			cases = append(cases, exitCase{what: "call (echo)", args: withCookie(port, tg.cookie, "call", n, "box", "{ping,<<\"x\">>}"), code: 0, stdout: "{ping,<<\"x\">>}\n"})
		}
		runExitCases(t, cases)
	}
}

// TestExitCodesBadFlags: an unknown flag, a missing argument or a stray one
// is a usage error on every command: exit 2 and one line on stderr.
func TestExitCodesBadFlags(t *testing.T) {
	var cases []exitCase
	for _, c := range [][]string{
		{"node"}, {"ping", "a@localhost"}, {"names"}, {"send", "a@localhost", "b", "c"},
		{"call", "a@localhost", "b", "c"}, {"rpc", "a@localhost", "m", "f"},
		{"term", "encode", "ok"}, {"term", "decode", "00"}, {"demo"}, {"bench"},
	} {
		cases = append(cases, exitCase{what: c[0] + " unknown flag", args: append(append([]string{}, c...), "--no-such-flag"), code: 2})
	}
	cases = append(cases,
		exitCase{what: "unknown command", args: []string{"frobnicate"}, code: 2},
		exitCase{what: "send, missing term", args: []string{"send", "a@localhost", "box", "--cookie", "c"}, code: 2},
		exitCase{what: "names, two hosts", args: []string{"names", "a", "b"}, code: 2},
		exitCase{what: "term decode, bad hex", args: []string{"term", "decode", "zz"}, code: 2},
		exitCase{what: "term decode, not ETF", args: []string{"term", "decode", "8301"}, code: 2},
		exitCase{what: "node, bad --http", args: []string{"node", "--name", "h@localhost", "--cookie", "c", "--epmd-port", strconv.Itoa(distributetest.FreePort(t)), "--http", "not an address"}, code: 2},
		exitCase{what: "node, bad --profile", args: []string{"node", "--name", "h@localhost", "--cookie", "c", "--profile", "wan"}, code: 2},
		exitCase{what: "bad --epmd-port", args: []string{"ping", "a@localhost", "--cookie", "c", "--epmd-port", "70000"}, code: 2},
		exitCase{what: "TLS key without cert", args: []string{"ping", "a@localhost", "--cookie", "c", "--tls-key", "k.pem"}, code: 2},
	)
	runExitCases(t, cases)
}
