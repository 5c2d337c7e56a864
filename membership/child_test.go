package membership

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
)

// The multi-process tests run each member in its own OS process: this
// test binary re-executed with MEMBERSHIP_TEST_CHILD set to the node
// name. A child prints "ready <gossip addr>" and then answers one
// command per stdin line with one stdout line:
//
//	status        -> JSON childStatus
//	join ADDR     -> "ok N" or "err TEXT"
//	leave         -> stops membership and node, prints "bye", exits 0
//
// It exits when stdin closes.
const (
	childEnv        = "MEMBERSHIP_TEST_CHILD"
	childEpmdEnv    = "MEMBERSHIP_TEST_EPMD"
	childCookieEnv  = "MEMBERSHIP_TEST_COOKIE"
	childGossipEnv  = "MEMBERSHIP_TEST_GOSSIP"
	childProfileEnv = "MEMBERSHIP_TEST_PROFILE"
)

// histEntry is one change a child's table went through.
type histEntry struct {
	State State  `json:"state"`
	Inc   uint32 `json:"inc"`
	At    int64  `json:"at"` // unix ns
}

type childMember struct {
	Name  string `json:"name"`
	State State  `json:"state"`
	Inc   uint32 `json:"inc"`
	Since int64  `json:"since"`
}

type childStatus struct {
	Members   []childMember          `json:"members"`
	History   map[string][]histEntry `json:"history"`
	Connected []string               `json:"connected"`
	Dropped   uint64                 `json:"dropped"`
	Gossip    string                 `json:"gossip"`
	Bound     time.Duration          `json:"bound"`
}

func profileByName(s string) Profile {
	if s == "lan" {
		return LAN()
	}
	return Local()
}

func runChild(name string) {
	ctx := context.Background()
	epmd, _ := strconv.Atoi(os.Getenv(childEpmdEnv))
	cookie := os.Getenv(childCookieEnv)
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child", name, err)
		os.Exit(2)
	}
	n, err := distribute.Start(ctx, distribute.Config{Name: name, Cookie: cookie, EpmdPort: epmd, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		fail(err)
	}
	var logger = testLogger(nil)
	m, err := Start(ctx, n, Config{Cookie: cookie, GossipAddr: os.Getenv(childGossipEnv), Profile: profileByName(os.Getenv(childProfileEnv)), Logger: logger})
	if err != nil {
		fail(err)
	}
	var mu sync.Mutex
	hist := make(map[string][]histEntry)
	go func() {
		for ev := range m.Watch(ctx) {
			mu.Lock()
			k := string(ev.Member.Name)
			hist[k] = append(hist[k], histEntry{ev.Member.State, ev.Member.Incarnation, ev.Member.Since.UnixNano()})
			mu.Unlock()
		}
	}()
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready", m.GossipAddr())
	out.Flush()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "status":
			st := childStatus{Gossip: m.GossipAddr(), Dropped: m.Stats().Dropped, Bound: m.DetectionBound()}
			for _, mb := range m.Members() {
				st.Members = append(st.Members, childMember{string(mb.Name), mb.State, mb.Incarnation, mb.Since.UnixNano()})
			}
			for _, c := range n.Nodes() {
				st.Connected = append(st.Connected, string(c))
			}
			mu.Lock()
			st.History = make(map[string][]histEntry, len(hist))
			for k, v := range hist {
				st.History[k] = append([]histEntry(nil), v...)
			}
			mu.Unlock()
			b, _ := json.Marshal(st)
			out.Write(b)
			out.WriteByte('\n')
		case "join":
			jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			k, err := m.Join(jctx, arg)
			cancel()
			if err != nil {
				fmt.Fprintln(out, "err", strings.ReplaceAll(err.Error(), "\n", " "))
			} else {
				fmt.Fprintln(out, "ok", k)
			}
		case "leave":
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			m.Stop(sctx)
			n.Stop(sctx)
			cancel()
			fmt.Fprintln(out, "bye")
			out.Flush()
			os.Exit(0)
		default:
			fmt.Fprintln(out, "err unknown command")
		}
		out.Flush()
	}
	os.Exit(0)
}

// child is a member running in another OS process.
type child struct {
	name   distribute.Atom
	gossip string
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	exited chan struct{}
}

type cluster struct {
	t        *testing.T
	epmd     int
	cookie   string
	profile  string
	children []*child
}

func newCluster(t *testing.T, profile string) *cluster {
	return &cluster{t: t, epmd: distributetest.StartEpmd(t), cookie: testCookie, profile: profile}
}

// start starts a child; gossip is its "ip:port" ("" for any port).
func (c *cluster) start(name distribute.Atom, gossip, cookie string) *child {
	t := c.t
	t.Helper()
	if gossip == "" {
		gossip = "127.0.0.1:0"
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		childEnv+"="+string(name),
		childEpmdEnv+"="+strconv.Itoa(c.epmd),
		childCookieEnv+"="+cookie,
		childGossipEnv+"="+gossip,
		childProfileEnv+"="+c.profile,
	)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := &child{name: name, cmd: cmd, in: in, out: bufio.NewReader(outp), exited: make(chan struct{})}
	go func() { cmd.Wait(); close(ch.exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		<-ch.exited
	})
	line, err := ch.out.ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 2 || f[0] != "ready" {
		t.Fatalf("child %s did not start: %q %v", name, line, err)
	}
	ch.gossip = f[1]
	return ch
}

func (ch *child) call(t testing.TB, cmd string) string {
	t.Helper()
	if _, err := io.WriteString(ch.in, cmd+"\n"); err != nil {
		t.Fatalf("child %s: %s: %v", ch.name, cmd, err)
	}
	line, err := ch.out.ReadString('\n')
	if err != nil {
		t.Fatalf("child %s: %s: %v", ch.name, cmd, err)
	}
	return strings.TrimSpace(line)
}

// join makes the child join the member at addr, retrying as join does:
// on a loaded machine one push/pull can miss the profile's TCPTimeout
// (a loaded run failed so: "read tcp ...: i/o timeout").
func (ch *child) join(t testing.TB, addr string) {
	t.Helper()
	distributetest.WaitForWithin(t, 30*time.Second, fmt.Sprintf("%s to join %s", ch.name, addr), func() bool {
		r := ch.call(t, "join "+addr)
		if !strings.HasPrefix(r, "ok") {
			t.Logf("%s join %s: %s (retrying)", ch.name, addr, r)
		}
		return strings.HasPrefix(r, "ok")
	})
}

func (ch *child) status(t testing.TB) childStatus {
	t.Helper()
	var st childStatus
	if err := json.Unmarshal([]byte(ch.call(t, "status")), &st); err != nil {
		t.Fatalf("child %s: status: %v", ch.name, err)
	}
	return st
}

func (st childStatus) member(name distribute.Atom) (childMember, bool) {
	for _, m := range st.Members {
		if m.Name == string(name) {
			return m, true
		}
	}
	return childMember{}, false
}

func (st childStatus) alive() int {
	k := 0
	for _, m := range st.Members {
		if m.State == StateAlive {
			k++
		}
	}
	return k
}

func (st childStatus) connected(name distribute.Atom) bool {
	for _, c := range st.Connected {
		if c == string(name) {
			return true
		}
	}
	return false
}
