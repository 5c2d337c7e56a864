package scale

import (
	"strings"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
)

// scale_node answers the runtime control functions as a Go node's
// distribute module does (cmd/distribute's TestRuntimeControlFromErlang
// checks the same results there), so both clusters are driven alike.
func TestErlangModuleControl(t *testing.T) {
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{Args: []string{"-kernel", "start_pg", "true"}})
	erl.LoadModule(t, ErlangModule)
	// Its lines go to /dev/null: Eval reads the node's stdout.
	got := erl.Eval(t, `begin {ok, Null} = file:open("/dev/null", [write]), Self = self(),
		spawn(fun() -> group_leader(Null, self()), Self ! {started, scale_node:start(b1, node())}, receive stop -> ok end end),
		receive {started, R} -> R after 10000 -> timeout end end`)
	if got != "ok" {
		t.Fatalf("scale_node:start(b1, node()) = %s", got)
	}
	for _, c := range []struct{ call, want string }{
		{"register_global(b1)", "ok"},
		{"register_global(b1)", "{error,taken}"},
		{"register_global(nobox)", "{error,no_inbox}"},
		{`register_global(<<"b1">>)`, "{error,badarg}"},
		{"join(workers, b1)", "ok"},
		{"join(workers, nobox)", "{error,no_inbox}"},
		{"lists:sort([G || {G, [_]} <- scale_node:groups()])", "[all,workers]"},
		{"unregister_global(b1)", "ok"},
		{"unregister_global(b1)", "{error,not_registered}"},
		{"leave(workers, b1)", "ok"},
		{"leave(workers, b1)", "{error,not_joined}"},
		{"leave(workers, nobox)", "{error,no_inbox}"},
	} {
		expr := c.call
		if !strings.HasPrefix(expr, "lists:") {
			expr = "scale_node:" + expr
		}
		if got := erl.Eval(t, expr); got != c.want {
			t.Errorf("%s = %s; want %s", expr, got, c.want)
		}
	}
	if got := erl.Eval(t, `global:whereis_name(b1)`); got != "undefined" {
		t.Errorf("after unregister_global, global:whereis_name(b1) = %s", got)
	}
}
