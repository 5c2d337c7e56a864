package rpc_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/distributetest/gonode"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/rpc"
)

// runChild is the child node process: this test binary re-executed with
// RPC_TEST_CHILD set. It serves the test functions, prints "ready", and
// runs until its standard input closes.
func runChild(name string, port int) {
	ctx := context.Background()
	n, err := distribute.Start(ctx, distribute.Config{Name: name, Cookie: cookie, EpmdPort: port})
	if err != nil {
		fmt.Println("start:", err)
		os.Exit(1)
	}
	s, err := rpc.Start(ctx, n, rpc.Config{})
	if err != nil {
		fmt.Println("server:", err)
		os.Exit(1)
	}
	exportTestFuncs(childTB{}, s, nil)
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n')
	s.Stop(ctx)
	n.Stop(ctx)
}

// childTB is the testing.TB the child's registration helper needs.
type childTB struct{ testing.TB }

func (childTB) Helper()                      {}
func (childTB) Fatal(args ...any)            { fmt.Println(args...); os.Exit(1) }
func (childTB) Fatalf(f string, args ...any) { fmt.Printf(f+"\n", args...); os.Exit(1) }

// startChild starts a child node process and returns its name.
func startChild(t testing.TB, port int) etf.Atom {
	t.Helper()
	name := fmt.Sprintf("rpcchild%d_%d@localhost", os.Getpid(), nodeSeq.Add(1))
	gonode.StartChild(t, "RPC_TEST_CHILD="+name, "RPC_TEST_EPMD="+strconv.Itoa(port))
	return etf.Atom(name)
}

func TestGoToGoAcrossProcesses(t *testing.T) {
	port := distributetest.StartEpmd(t)
	child := startChild(t, port)
	a := startNode(t, port)
	ctx := testCtx(t)
	v, err := client(a).Call(ctx, child, "rpctest", "add", int64(20), int64(22))
	if err != nil || v != int64(42) {
		t.Fatalf("add = %v, %v", v, err)
	}
	_, err = client(a).Call(ctx, child, "rpctest", "error_it", tup)
	if e, ok := err.(*rpc.Error); !ok || etf.Format(e.Exception()) != "{exception,{a,1},[{rpctest,error_it,1,[]}]}" {
		t.Fatalf("error_it: %v", err)
	}
	_, err = client(a).Call(ctx, child, "rpctest", "panic_it")
	if e, ok := err.(*rpc.Error); !ok || e.Class != rpc.ClassError {
		t.Fatalf("panic_it: %v", err)
	}
	if v, err := client(a).Call(ctx, child, "rpctest", "echo", tup); err != nil || !etf.Equal(v, tup) {
		t.Fatalf("echo after panic = %v, %v", v, err)
	}
}
