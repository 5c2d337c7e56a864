package gonode_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/distributetest/gonode"
)

func TestMain(m *testing.M) {
	if name := os.Getenv("GONODE_TEST_CHILD"); name != "" {
		runChild(name)
		return
	}
	distributetest.VerifyTestMain(m)
}

// runChild is the child role: a node named name on the epmd in
// GONODE_TEST_EPMD, until its stdin closes.
func runChild(name string) {
	port, _ := strconv.Atoi(os.Getenv("GONODE_TEST_EPMD"))
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
	n, err := distribute.Start(ctx, distribute.Config{Name: name, Cookie: gonode.Cookie, EpmdPort: port})
	cancel()
	if err != nil {
		fmt.Println("start:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n')
	n.Stop(context.Background())
}

func TestStartN(t *testing.T) {
	nodes := gonode.StartN(t, 3, distributetest.StartEpmd(t), "mesh")
	seen := map[distribute.Atom]bool{}
	for _, n := range nodes {
		if seen[n.Name()] {
			t.Fatalf("two nodes named %s", n.Name())
		}
		seen[n.Name()] = true
		if !strings.HasPrefix(string(n.Name()), "mesh") {
			t.Errorf("node name %s; want the prefix mesh", n.Name())
		}
	}
	for _, n := range nodes[1:] {
		if err := nodes[0].Ping(context.Background(), n.Name()); err != nil {
			t.Fatal(err)
		}
	}
	distributetest.WaitFor(t, "the others to see the first", func() bool {
		for _, n := range nodes[1:] {
			if !n.IsConnected(nodes[0].Name()) {
				return false
			}
		}
		return true
	})
}

// A node in a child process answers a ping from a node in this one, and
// the child goes away at cleanup.
func TestStartChild(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := gonode.Start(t, port, "parent")
	name := distribute.Atom(fmt.Sprintf("child%d@localhost", os.Getpid()))
	c := gonode.StartChild(t, "GONODE_TEST_CHILD="+string(name), "GONODE_TEST_EPMD="+strconv.Itoa(port))
	if c.Cmd.Process == nil {
		t.Fatal("no child process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
	defer cancel()
	if err := a.Ping(ctx, name); err != nil {
		t.Fatalf("ping the child: %v", err)
	}
}
