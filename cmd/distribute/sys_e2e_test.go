package main

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
)

// An --inbox answers OTP's sys requests as a gen_server does, and
// gen_server:stop (GenServer.stop in Elixir) ends that inbox, not the node.
func TestInboxSysAgainstErlang(t *testing.T) {
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{Cookie: testCookie})
	n := startNodeProc(t, erl.EpmdPort, "sysbox@localhost", "--inbox", "box", "--inbox", "other")
	box := `{box, 'sysbox@localhost'}`
	if got := erl.Eval(t, `gen_server:call(`+box+`, hi)`); got != "hi" {
		t.Fatalf("gen_server:call = %s", got)
	}
	n.expect(t, "box: hi")
	if got := erl.Eval(t, `sys:get_state(`+box+`, 5000)`); got != "#{name => box,received => 1}" {
		t.Fatalf("sys:get_state = %s", got)
	}
	got := erl.Eval(t, `case sys:get_status(`+box+`, 5000) of {status, P, {module, gen_server}, [_, S, _, _, [{header, H} | _]]} when is_pid(P) -> {S, H}; O -> O end`)
	if got != `{running,"Status for generic server box"}` {
		t.Fatalf("sys:get_status = %s", got)
	}
	if got := erl.Eval(t, `gen_server:stop(`+box+`)`); got != "ok" {
		t.Fatalf("gen_server:stop = %s; want ok", got)
	}
	// The inbox is gone; the node and its other inbox are not.
	if got := erl.Eval(t, `catch gen_server:call(`+box+`, hi, 5000)`); !strings.Contains(got, "noproc") {
		t.Fatalf("call after stop = %s; want a noproc exit", got)
	}
	if got := erl.Eval(t, `gen_server:call({other, 'sysbox@localhost'}, still_here)`); got != "still_here" {
		t.Fatalf("the other inbox after stop = %s", got)
	}
	n.expect(t, "other: still_here")
}

// erl_call -a runs an rpc through rex on a default (visible) node: it must
// get the rpc's answer every time, never the pg scope's discover (a C node
// is hidden, and pg never talks to hidden nodes).
func TestErlCallAgainstNode(t *testing.T) {
	distributetest.RequireErl(t)
	erlCall, err := exec.LookPath("erl_call")
	if err != nil {
		for _, p := range []string{"/usr/bin/erl_call", "/usr/lib/erlang/bin/erl_call"} {
			if _, err := os.Stat(p); err == nil {
				erlCall = p
				break
			}
		}
	}
	if erlCall == "" {
		if distributetest.ErlRequired() {
			t.Fatal("erl_call not found (Debian's erlang-nox ships it) and DISTRIBUTE_REQUIRE_ERL=1")
		}
		t.Skip("erl_call not found")
	}
	port := distributetest.StartEpmd(t)
	startNodeProc(t, port, "callme@localhost")
	const runs = 20
	ok := 0
	for i := 0; i < runs; i++ {
		cmd := exec.Command(erlCall, "-n", "callme@localhost", "-c", testCookie, "-a", "erlang node")
		cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(port))
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "callme@localhost" {
			t.Errorf("erl_call -a 'erlang node' run %d: %v, output %q", i+1, err, out)
			continue
		}
		ok++
	}
	if ok != runs {
		t.Fatalf("erl_call -a: %d/%d runs answered", ok, runs)
	}
}
