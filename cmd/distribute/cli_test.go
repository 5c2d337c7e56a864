package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
)

// binary is the distribute command built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "distribute-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "distribute")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("go build: " + err.Error() + "\n" + string(out))
	}
	distributetest.VerifyTestMain(m, func() { os.RemoveAll(dir) })
}

// runCLI runs the built command as a user would and returns its outputs and
// exit code.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// checkOneLineError asserts the contract for failures: the exit code, and
// one line on stderr with no stack trace.
func checkOneLineError(t *testing.T, args []string, stderr string, code, wantCode int) {
	t.Helper()
	if code != wantCode {
		t.Errorf("%v: exit %d; want %d (stderr %q)", args, code, wantCode, stderr)
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) != 1 || lines[0] == "" {
		t.Errorf("%v: stderr has %d lines; want one: %q", args, len(lines), stderr)
	}
	for _, bad := range []string{"goroutine ", "panic:", ".go:"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("%v: stderr looks like a stack trace: %q", args, stderr)
		}
	}
}

func TestTermEncodeDecodeAgainstErl(t *testing.T) {
	terms := []string{
		`42`, `-1`, `256`, `-2147483649`, `18446744073709551616`, `1.5`, `-0.0`, `ok`, `'hello world'`,
		`"abc"`, `[1,2000]`, `[a|b]`, `[]`, `<<1,2,3>>`, `<<"text">>`, `<<5:3>>`, `#{a => 1}`, `{}`,
		`{hello,"world",<<1,2>>,#{a => 1.5,b => [x,y]}}`, `'héllö'`, `<<"héllö"/utf8>>`, `16#FF`, `$a`,
	}
	var script strings.Builder
	// ~0p's characters, written as UTF-8 (the CLI contract).
	script.WriteString("io:setopts([{encoding, unicode}]), ")
	script.WriteString("[io:format(\"~s ~ts~n\", [binary:encode_hex(term_to_binary(T, [{minor_version,2}])), io_lib:format(\"~0p\", [T])]) || T <- [")
	script.WriteString(strings.Join(terms, ", "))
	script.WriteString("]]")
	out := distributetest.EvalErl(t, script.String())
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(terms) {
		t.Fatalf("erl printed %d lines for %d terms:\n%s", len(lines), len(terms), out)
	}
	for i, term := range terms {
		wantHex, wantText, _ := strings.Cut(lines[i], " ")
		wantHex = strings.ToLower(wantHex)
		got, stderr, code := runCLI(t, "", "term", "encode", term)
		if code != 0 || strings.TrimSpace(got) != wantHex {
			t.Errorf("term encode %s = %q (exit %d, %s); want %s", term, got, code, stderr, wantHex)
		}
		got, stderr, code = runCLI(t, "", "term", "decode", wantHex)
		if code != 0 || strings.TrimSpace(got) != wantText {
			t.Errorf("term decode %s = %q (exit %d, %s); want %s", wantHex, got, code, stderr, wantText)
		}
	}
}

func TestTermNegativeArgument(t *testing.T) {
	got, stderr, code := runCLI(t, "", "term", "encode", "-1")
	if code != 0 || strings.TrimSpace(got) != "8362ffffffff" {
		t.Fatalf("term encode -1 = %q (exit %d, %s); want 8362ffffffff", got, code, stderr)
	}
}

func TestTermStdinLines(t *testing.T) {
	got, stderr, code := runCLI(t, "ok\n\n42\n", "term", "encode")
	if code != 0 || got != "8377026f6b\n83612a\n" {
		t.Fatalf("got %q (exit %d, %s)", got, code, stderr)
	}
}

func TestTermBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"term", "encode", "{unclosed"},
		{"term", "encode", "[1,2"},
		{"term", "decode", "zz"},
		{"term", "decode", "83"},
		{"term", "decode", "8370ffffffff"},
		{"term", "decode", "836cffffffff"},
		{"term", "--no-such-flag"},
		{"no-such-command"},
	} {
		_, stderr, code := runCLI(t, "", args...)
		checkOneLineError(t, args, stderr, code, exitUsage)
	}
}

func TestHelpOnEveryCommand(t *testing.T) {
	for _, c := range [][]string{
		{"--help"}, {"node", "--help"}, {"ping", "--help"}, {"names", "--help"}, {"send", "--help"},
		{"call", "-h"}, {"rpc", "--help"}, {"term", "--help"}, {"term", "encode", "--help"},
		{"term", "decode", "--help"}, {"demo", "--help"},
	} {
		out, stderr, code := runCLI(t, "", c...)
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want usage and exit 0", c, code, out, stderr)
		}
	}
}
