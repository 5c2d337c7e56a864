package main

import (
	"strings"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// waitEval evaluates expr on erl until it prints want.
func waitEval(t *testing.T, erl *distributetest.ErlNode, expr, want string) {
	t.Helper()
	deadline := time.Now().Add(distributetest.Scale(15 * time.Second))
	for {
		got := erl.Eval(t, expr)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %s; want %s", expr, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The runtime control exports, called with rpc:call from a real Erlang
// node: names and groups change after start, and each refusal is an
// {error, Reason} the caller can match.
func TestRuntimeControlFromErlang(t *testing.T) {
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{Cookie: testCookie, Args: []string{"-kernel", "start_pg", "true"}})
	n := startNodeProc(t, erl.EpmdPort, "ctl@localhost", "--inbox", "box", "--inbox", "other", "--connect", erl.Name)
	n.expect(t, "event nodeup "+erl.Name)
	rpcOn := func(fun, args string) string {
		return erl.Eval(t, "rpc:call('ctl@localhost', distribute, "+fun+", "+args+")")
	}
	steps := []struct{ fun, args, want string }{
		{"register_global", "[box]", "ok"},
		{"register_global", "[box]", "{error,taken}"}, // the inbox already has the name
		{"register_global", "[nobox]", "{error,no_inbox}"},
		{"register_global", "[<<\"box\">>]", "{error,badarg}"},
		{"join", "[workers, box]", "ok"},
		{"join", "[workers, nobox]", "{error,no_inbox}"},
	}
	for _, s := range steps {
		if got := rpcOn(s.fun, s.args); got != s.want {
			t.Fatalf("distribute:%s(%s) = %s; want %s", s.fun, s.args, got, s.want)
		}
	}
	// Erlang sees the name and the member, and reaches the inbox by both.
	waitEval(t, erl, `case global:whereis_name(box) of undefined -> undefined; P -> node(P) end`, "ctl@localhost")
	waitEval(t, erl, `[node(P) || P <- pg:get_members(workers)]`, "[ctl@localhost]")
	erl.Eval(t, `global:send(box, {by_name, 1})`)
	n.expect(t, "box: {by_name,1}")
	erl.Eval(t, `[P ! {by_group, 2} || P <- pg:get_members(workers)]`)
	n.expect(t, "box: {by_group,2}")

	// A global name held by an Erlang process is not ours to remove, nor to take.
	erl.Eval(t, `register(holder, spawn(fun() -> receive stop -> ok end end)), yes = global:register_name(other, whereis(holder))`)
	for _, s := range []struct{ fun, args, want string }{
		{"register_global", "[other]", "{error,taken}"},
		{"unregister_global", "[other]", "{error,not_registered}"},
		{"unregister_global", "[box]", "ok"},
		{"unregister_global", "[box]", "{error,not_registered}"},
		{"leave", "[workers, box]", "ok"},
		{"leave", "[workers, box]", "{error,not_joined}"},
		{"leave", "[workers, nobox]", "{error,no_inbox}"},
	} {
		if got := rpcOn(s.fun, s.args); got != s.want {
			t.Fatalf("distribute:%s(%s) = %s; want %s", s.fun, s.args, got, s.want)
		}
	}
	waitEval(t, erl, `global:whereis_name(box)`, "undefined")
	waitEval(t, erl, `pg:get_members(workers)`, "[]")
	if got := erl.Eval(t, `node(global:whereis_name(other))`); got != erl.Name {
		t.Fatalf("the Erlang holder lost its name: node(global:whereis_name(other)) = %s", got)
	}
}

// The same exports from Go, through `distribute rpc`: a name registered at
// runtime is visible on the other Go node.
func TestRuntimeControlFromGo(t *testing.T) {
	port := distributetest.StartEpmd(t)
	startNodeProc(t, port, "c1@localhost", "--inbox", "a")
	n2 := startNodeProc(t, port, "c2@localhost", "--inbox", "b", "--connect", "c1@localhost")
	n2.expect(t, "event nodeup c1@localhost")
	rpc := func(node string, args ...string) string {
		t.Helper()
		out, stderr, code := runCLI(t, "", cliArgs(port, append([]string{"rpc", node, "distribute"}, args...)...)...)
		if code != 0 {
			t.Fatalf("rpc %s %v: exit %d: %s", node, args, code, stderr)
		}
		return strings.TrimSpace(out)
	}
	if got := rpc("c2@localhost", "register_global", "[b]"); got != "ok" {
		t.Fatalf("register_global([b]) = %s", got)
	}
	if got := rpc("c2@localhost", "join", "[{team,7}, b]"); got != "ok" {
		t.Fatalf("join([{team,7}, b]) = %s", got)
	}
	deadline := time.Now().Add(distributetest.Scale(15 * time.Second))
	for {
		names := rpc("c1@localhost", "global_names")
		groups := rpc("c1@localhost", "groups")
		if names == "[b]" && strings.HasPrefix(groups, "[{{team,7},[<c2@localhost.") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("on c1: global_names() = %s, groups() = %s", names, groups)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := rpc("c1@localhost", "unregister_global", "[a]"); got != "{error,not_registered}" {
		t.Fatalf("unregister_global([a]) on c1 = %s", got)
	}
	if got := rpc("c1@localhost", "unregister_global", "[b]"); got != "{error,no_inbox}" {
		t.Fatalf("unregister_global([b]) on c1 (b lives on c2) = %s", got)
	}
}
