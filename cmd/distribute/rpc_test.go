package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/rpc"
)

func TestRPCCommandAgainstErl(t *testing.T) {
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{Cookie: testCookie})
	port := erl.EpmdPort
	ok := []struct {
		args []string
		want string
	}{
		{[]string{"lists", "reverse", "[[1,2,3]]"}, "[3,2,1]"},
		{[]string{"erlang", "node"}, erl.Name},
		{[]string{"erlang", "node", "[]"}, erl.Name},
		{[]string{"erlang", "abs", "[-5]"}, "5"}, // a term starting with '-' inside
		{[]string{"lists", "sum", "[[1,", "2]]"}, "3"},
		{[]string{"erlang", "list_to_binary", `["héllo"]`}, `<<"héllo">>`},
		// A throw is a result for rpc:call: it returns the thrown value.
		{[]string{"erlang", "throw", "[ball]"}, "ball"},
	}
	for _, c := range ok {
		args := cliArgs(port, append([]string{"rpc", erl.Name}, c.args...)...)
		out, stderr, code := runCLI(t, "", args...)
		if code != 0 || strings.TrimSpace(out) != c.want {
			t.Errorf("%v: %q %q exit %d; want %q", args, out, stderr, code, c.want)
		}
	}
	// What raised: exit 1, the reason as rpc:call gives it, on one line.
	failing := []struct {
		args []string
		want string
	}{
		{[]string{"nomod", "nofun", "[1]"}, "distribute: rpc: {badrpc,{'EXIT',{undef,[{nomod,nofun,[1],[]}]}}}"},
		{[]string{"erlang", "exit", "[bye]"}, "distribute: rpc: {badrpc,{'EXIT',bye}}"},
	}
	for _, c := range failing {
		args := cliArgs(port, append([]string{"rpc", erl.Name}, c.args...)...)
		out, stderr, code := runCLI(t, "", args...)
		checkOneLineError(t, args, stderr, code, 1)
		if strings.TrimSpace(stderr) != c.want || out != "" {
			t.Errorf("%v: stdout %q stderr %q; want stderr %q", args, out, stderr, c.want)
		}
	}
	// error:badarg keeps Erlang's stack in the reason.
	args := cliArgs(port, "rpc", erl.Name, "erlang", "atom_to_list", "[1]")
	_, stderr, code := runCLI(t, "", args...)
	checkOneLineError(t, args, stderr, code, 1)
	if !strings.HasPrefix(stderr, "distribute: rpc: {badrpc,{'EXIT',{badarg,[{erlang,atom_to_list,[1],") {
		t.Errorf("badarg: %q", stderr)
	}
	// A deadline on a long call.
	args = cliArgs(port, "rpc", "--timeout", "300ms", erl.Name, "timer", "sleep", "[10000]")
	start := time.Now()
	_, stderr, code = runCLI(t, "", args...)
	checkOneLineError(t, args, stderr, code, 1)
	if strings.TrimSpace(stderr) != "distribute: rpc: {badrpc,timeout}" {
		t.Errorf("timeout: %q", stderr)
	}
	if el := time.Since(start); el > distributetest.Scale(5*time.Second) {
		t.Errorf("timeout took %v", el)
	}
}

func TestRPCCommandAgainstGo(t *testing.T) {
	port := distributetest.StartEpmd(t)
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
	defer cancel()
	n, err := distribute.Start(ctx, distribute.Config{Name: "rpcgo@localhost", Cookie: testCookie, EpmdPort: port})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop(context.Background())
	s, err := rpc.Start(ctx, n, rpc.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	s.Register("calc", "add", 2, func(_ context.Context, a []etf.Term) (etf.Term, error) {
		x, ok1 := a[0].(int64)
		y, ok2 := a[1].(int64)
		if !ok1 || !ok2 {
			return nil, rpc.ErrBadArg
		}
		return x + y, nil
	})
	out, stderr, code := runCLI(t, "", cliArgs(port, "rpc", "rpcgo@localhost", "calc", "add", "[40,2]")...)
	if code != 0 || out != "42\n" {
		t.Fatalf("add: %q %q exit %d", out, stderr, code)
	}
	args := cliArgs(port, "rpc", "rpcgo@localhost", "calc", "add", "[x,2]")
	_, stderr, code = runCLI(t, "", args...)
	checkOneLineError(t, args, stderr, code, 1)
	if want := "distribute: rpc: {badrpc,{'EXIT',{badarg,[{calc,add,[x,2],[]}]}}}"; strings.TrimSpace(stderr) != want {
		t.Errorf("badarg: %q; want %q", stderr, want)
	}
	args = cliArgs(port, "rpc", "rpcgo@localhost", "calc", "sub", "[1,2]")
	_, stderr, code = runCLI(t, "", args...)
	checkOneLineError(t, args, stderr, code, 1)
	if want := "distribute: rpc: {badrpc,{'EXIT',{undef,[{calc,sub,[1,2],[]}]}}}"; strings.TrimSpace(stderr) != want {
		t.Errorf("undef: %q; want %q", stderr, want)
	}
}

func TestRPCCommandErrors(t *testing.T) {
	port := distributetest.StartEpmd(t)
	usage := [][]string{
		{"rpc", "nonode@localhost", "m"},          // too few arguments
		{"rpc", "bad name", "m", "f"},             // bad node name
		{"rpc", "n@localhost", "m", "f", "{a}"},   // not a list
		{"rpc", "n@localhost", "m", "f", "[1,"},   // unparsable
		{"rpc", "n@localhost", "m", "f", "[a|b]"}, // improper list
	}
	for _, a := range usage {
		args := cliArgs(port, a...)
		_, stderr, code := runCLI(t, "", args...)
		checkOneLineError(t, args, stderr, code, 2)
	}
	// Nobody there: exit 1 at once.
	args := cliArgs(port, "rpc", "nobody@localhost", "erlang", "node")
	start := time.Now()
	_, stderr, code := runCLI(t, "", args...)
	checkOneLineError(t, args, stderr, code, 1)
	if strings.TrimSpace(stderr) != "distribute: rpc: {badrpc,nodedown}" {
		t.Errorf("unreachable: %q", stderr)
	}
	if el := time.Since(start); el > distributetest.Scale(4*time.Second) {
		t.Errorf("unreachable took %v", el)
	}
}
