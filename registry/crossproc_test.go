package registry

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/distributetest/gonode"
	"github.com/distribute-go/distribute/etf"
)

// A Go-only cluster across OS processes: the children are this test binary
// re-executed with REGISTRY_TEST_CHILD set, each a visible node with a
// Server, driven one command per line on standard input.

func init() {
	if name := os.Getenv("REGISTRY_TEST_CHILD"); name != "" {
		port, _ := strconv.Atoi(os.Getenv("REGISTRY_TEST_EPMD"))
		runChild(name, port)
		os.Exit(0)
	}
}

func runChild(name string, port int) {
	ctx := context.Background()
	n, err := distribute.Start(ctx, distribute.Config{Name: name, Cookie: "distributetest", EpmdPort: port, Visibility: distribute.Visible})
	if err != nil {
		fmt.Println("start:", err)
		os.Exit(1)
	}
	s, err := Start(ctx, n, Config{})
	if err != nil {
		fmt.Println("server:", err)
		os.Exit(1)
	}
	procs := map[string]*distribute.Process{}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		switch f[0] {
		case "connect":
			fmt.Println(errText(n.Connect(cctx, distribute.Atom(f[1]))))
		case "reg":
			p, _ := n.NewProcess()
			if err := s.Register(cctx, distribute.Atom(f[1]), p.Pid()); err != nil {
				p.Exit(distribute.ReasonNormal)
				fmt.Println("no")
			} else {
				procs[f[1]] = p
				fmt.Println("yes")
			}
		case "where":
			if pid, ok := s.Whereis(distribute.Atom(f[1])); ok {
				fmt.Println(etf.Format(pid))
			} else {
				fmt.Println("undefined")
			}
		case "exit":
			procs[f[1]].Exit(distribute.ReasonNormal)
			fmt.Println("ok")
		case "sync":
			fmt.Println(errText(s.Sync(cctx)))
		case "known":
			fmt.Println(len(s.Known()))
		default:
			fmt.Println("?")
		}
		cancel()
	}
	s.Stop(ctx)
	n.Stop(ctx)
}

func errText(err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return "ok"
}

type child struct {
	name distribute.Atom
	mu   sync.Mutex
	in   io.Writer
	out  *bufio.Reader
}

func (c *child) do(t *testing.T, cmd string) string {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintln(c.in, cmd)
	line, err := c.out.ReadString('\n')
	if err != nil {
		t.Errorf("child %s: %s: %v", c.name, cmd, err)
	}
	return strings.TrimSpace(line)
}

func startChild(t *testing.T, port int) *child {
	t.Helper()
	name := distribute.Atom(fmt.Sprintf("rgchild%d_%d@localhost", os.Getpid(), nodeSeq.Add(1)))
	ch := gonode.StartChild(t, "REGISTRY_TEST_CHILD="+string(name), "REGISTRY_TEST_EPMD="+strconv.Itoa(port))
	return &child{name: name, in: ch.In, out: ch.Out}
}

func TestGoClusterAcrossProcesses(t *testing.T) {
	port := distributetest.StartEpmd(t)
	g := startNode(t, port)
	s := startServer(t, g)
	var kids []*child
	for range 4 {
		kids = append(kids, startChild(t, port))
	}
	// A chain: g ← k0 ← k1 ← k2 ← k3; connect_all makes the mesh.
	prev := g.Name()
	for _, k := range kids {
		if got := k.do(t, "connect "+string(prev)); got != "ok" {
			t.Fatalf("connect: %s", got)
		}
		prev = k.name
	}
	distributetest.WaitFor(t, "mesh", func() bool { return len(s.Known()) == 4 })
	for _, k := range kids {
		distributetest.WaitFor(t, "child mesh", func() bool { return k.do(t, "known") == "4" })
		if got := k.do(t, "sync"); got != "ok" {
			t.Fatalf("sync: %s", got)
		}
	}
	syncAll(t, s)
	agree := func(name string) string {
		t.Helper()
		want := "undefined"
		if pid, ok := s.Whereis(distribute.Atom(name)); ok {
			want = etf.Format(pid)
		}
		for _, k := range kids {
			if got := k.do(t, "where "+name); got != want {
				t.Fatalf("%s: %s has %s, %s has %s", name, g.Name(), want, k.name, got)
			}
		}
		return want
	}
	for i, k := range kids {
		if got := k.do(t, fmt.Sprintf("reg k%d", i)); got != "yes" {
			t.Fatalf("reg: %s", got)
		}
	}
	for i := range kids {
		if agree(fmt.Sprintf("k%d", i)) == "undefined" {
			t.Fatalf("k%d missing", i)
		}
	}
	// An exit in one process removes the name in all five.
	kids[2].do(t, "exit k2")
	distributetest.WaitFor(t, "k2 gone", func() bool { _, ok := s.Whereis(distribute.Atom("k2")); return !ok })
	for _, k := range kids {
		distributetest.WaitFor(t, "k2 gone in child", func() bool { return k.do(t, "where k2") == "undefined" })
	}
	// All four children register one name at once: exactly one wins.
	var wg sync.WaitGroup
	results := make([]string, len(kids))
	for i, k := range kids {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = k.do(t, "reg race") }()
	}
	wg.Wait()
	if n := strings.Count(strings.Join(results, " "), "yes"); n != 1 {
		t.Fatalf("race winners: %v", results)
	}
	if agree("race") == "undefined" {
		t.Fatal("race has no owner")
	}
}
