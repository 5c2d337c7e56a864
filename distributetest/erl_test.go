package distributetest

import (
	"strings"
	"testing"
)

func TestEvalErl(t *testing.T) {
	out := EvalErl(t, `io:format("~p~n", [6*7])`)
	if strings.TrimSpace(out) != "42" {
		t.Fatalf("got %q; want 42", out)
	}
}

func TestErlNodeEval(t *testing.T) {
	n := StartErlNode(t, ErlOptions{})
	if got := n.Eval(t, "lists:seq(1,3)"); got != "[1,2,3]" {
		t.Fatalf("got %s; want [1,2,3]", got)
	}
	if got := n.Eval(t, "erlang:error(boom)"); !strings.HasPrefix(got, "{'EXIT',error,boom}") {
		t.Fatalf("got %s; want {'EXIT',error,boom}", got)
	}
	if got := n.Eval(t, "<<\"h\\x{e9}\"/utf8>>"); got != `<<"hé"/utf8>>` {
		t.Fatalf("got %s", got)
	}
	// A second node on the same private epmd sees the first.
	m := StartErlNode(t, ErlOptions{EpmdPort: n.EpmdPort})
	if got := m.Eval(t, "net_adm:ping('"+n.Name+"')"); got != "pong" {
		t.Fatalf("ping: got %s; want pong", got)
	}
	n.Stop(t)
	<-n.Exited()
}
