package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// churnProc is a `distribute node` process whose stdout lines are kept
// with the time they arrived, and whose stderr is kept too.
type churnProc struct {
	name   string
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []timedLine
	stderr bytes.Buffer // guarded by mu (lockedWriter)
	done   chan struct{}
}

type timedLine struct {
	at   time.Time
	text string
}

type lockedWriter struct{ p *churnProc }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.stderr.Write(b)
}

func startChurnProc(t *testing.T, epmdPort int, name string, args ...string) *churnProc {
	t.Helper()
	full := append([]string{"node", "--name", name, "--cookie", testCookie, "--epmd-port", strconv.Itoa(epmdPort)}, args...)
	p := &churnProc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(binary, full...)
	p.cmd.Stderr = lockedWriter{p}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, timedLine{time.Now(), sc.Text()})
			p.mu.Unlock()
		}
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	distributetest.WaitForWithin(t, 30*time.Second, name+" started", func() bool {
		select {
		case <-p.done:
			t.Fatalf("%s exited: %s", name, p.errText())
		default:
		}
		return p.count(time.Time{}, "started "+name) > 0
	})
	return p
}

// count returns how many lines since from start with prefix.
func (p *churnProc) count(from time.Time, prefix string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := 0
	for _, l := range p.lines {
		if !l.at.Before(from) && strings.HasPrefix(l.text, prefix) {
			k++
		}
	}
	return k
}

// last returns the last line since from that starts with prefix.
func (p *churnProc) last(from time.Time, prefix string) (timedLine, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.lines) - 1; i >= 0; i-- {
		if l := p.lines[i]; !l.at.Before(from) && strings.HasPrefix(l.text, prefix) {
			return l, true
		}
	}
	return timedLine{}, false
}

func (p *churnProc) out() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, l := range p.lines {
		fmt.Fprintf(&b, "%s %s\n", l.at.Format("15:04:05.000"), l.text)
	}
	return b.String()
}

func (p *churnProc) errText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// upAgain is when p first saw node come up after from (the crash's own
// nodedown may arrive after an immediate restart began).
func upAgain(p *churnProc, node string, from time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		if !l.at.Before(from) && l.text == "event nodeup "+node {
			return l.at
		}
	}
	return from
}

// TestRestartUnderSameName is the churn issue's reproduction, at CLI
// level, on the default LAN profile: three nodes (r2 and r3 join r1), r3
// is killed with SIGKILL and restarted with the same flags, before or
// after the others have declared the old incarnation dead; on the same
// gossip address (--gossip, or the port kept in --data-dir) or on a new
// one (a re-created pod). In every
// case r3 must become a member again with its links up, and no healthy
// link may be cut: r1–r2 never goes down, no connection is closed to
// prevent overlapping partitions, the others see the new r3 come up at
// most once and never go down, and the new r3 loses no link. The times are
// logged, not asserted.
func TestRestartUnderSameName(t *testing.T) {
	if testing.Short() {
		t.Skip("LAN-profile restarts take tens of seconds")
	}
	for _, tc := range []struct {
		name        string
		sameAddress bool
		afterDead   bool
	}{
		{"same address, before dead", true, false},
		{"same address, after dead", true, true},
		{"new address, before dead", false, false},
		{"new address, after dead", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			epmd := distributetest.StartEpmd(t)
			r1n, r2n, r3n := "r1@127.0.0.1", "r2@127.0.0.1", "r3@127.0.0.1"
			r1 := startChurnProc(t, epmd, r1n)
			r2 := startChurnProc(t, epmd, r2n, "--join", r1n)
			r3args := []string{"--join", r1n}
			switch {
			case tc.sameAddress && tc.afterDead:
				r3args = append(r3args, "--gossip", fmt.Sprintf("127.0.0.1:%d", distributetest.FreePort(t)))
			case tc.sameAddress:
				r3args = append(r3args, "--data-dir", t.TempDir()) // the port kept there
			}
			r3 := startChurnProc(t, epmd, r3n, r3args...)
			all := []*churnProc{r1, r2, r3}
			// (A node prints no nodeup for a peer it connected to while
			// starting; erlang:nodes() tells.)
			connected := func(p *churnProc, others ...string) bool {
				out, _, code := runCLI(t, "", cliArgs(epmd, "rpc", p.name, "erlang", "nodes")...)
				for _, o := range others {
					if code != 0 || !strings.Contains(out, "'"+o+"'") {
						return false
					}
				}
				return true
			}
			for _, p := range all {
				for _, o := range all {
					if o == p {
						continue
					}
					distributetest.WaitForWithin(t, 60*time.Second, p.name+" sees "+o.name+" alive and connected", func() bool {
						return p.count(time.Time{}, "event member "+o.name+" alive ") > 0 && connected(p, o.name)
					})
				}
			}
			killed := time.Now()
			r3.cmd.Process.Kill()
			<-r3.done
			if tc.afterDead {
				for _, p := range []*churnProc{r1, r2} {
					distributetest.WaitForWithin(t, 90*time.Second, p.name+" sees the old r3 dead", func() bool {
						return p.count(killed, "event member "+r3n+" dead ") > 0
					})
				}
			}
			restarted := time.Now()
			r3 = startChurnProc(t, epmd, r3n, r3args...)
			// A member again, everywhere: the newest membership line about
			// r3 says alive (a new address is taken only after the old one
			// died: dead, then alive), and the connection to the new r3
			// is up.
			again := func(p *churnProc) bool {
				l, ok := p.last(killed, "event member "+r3n+" ")
				switch {
				case ok && !strings.HasPrefix(l.text, "event member "+r3n+" alive "):
					return false
				case !tc.sameAddress && (!ok || p.count(killed, "event member "+r3n+" dead ") == 0):
					return false
				}
				return p.count(restarted, "event nodeup "+r3n) > 0
			}
			var took []string
			for _, p := range []*churnProc{r1, r2} {
				distributetest.WaitForWithin(t, 120*time.Second, r3n+" a member again at "+p.name, func() bool { return again(p) })
				took = append(took, fmt.Sprintf("%s after %v", p.name, time.Since(restarted).Round(100*time.Millisecond)))
			}
			for _, o := range []string{r1n, r2n} {
				distributetest.WaitForWithin(t, 60*time.Second, "the new r3 sees "+o+" alive and connected", func() bool {
					return r3.count(time.Time{}, "event member "+o+" alive ") > 0 && connected(r3, o)
				})
			}
			t.Logf("%s: r3 a member again (measured from the restart; killed %v before it): %s",
				tc.name, restarted.Sub(killed).Round(100*time.Millisecond), strings.Join(took, ", "))
			// Settle: every node lists the other two alive in
			// distribute:members(), over RPC through each node in turn.
			old3 := all[2]
			all = []*churnProc{r1, r2, r3}
			for _, p := range all {
				distributetest.WaitForWithin(t, 60*time.Second, p.name+"'s members all alive, a full mesh", func() bool {
					out, _, code := runCLI(t, "", cliArgs(epmd, "rpc", p.name, "distribute", "members")...)
					if code != 0 || strings.Count(out, ",alive,") != 3 {
						return false
					}
					var others []string
					for _, o := range all {
						if o != p {
							others = append(others, o.name)
						}
					}
					return connected(p, others...)
				})
			}
			var problems []string
			for _, c := range []struct {
				p      *churnProc
				prefix string
				from   time.Time
				max    int
			}{
				{r1, "event nodedown " + r2n, time.Time{}, 0},
				{r2, "event nodedown " + r1n, time.Time{}, 0},
				{r1, "event nodeup " + r3n, restarted, 1},
				{r2, "event nodeup " + r3n, restarted, 1},
				{r1, "event nodedown " + r3n, upAgain(r1, r3n, restarted), 0},
				{r2, "event nodedown " + r3n, upAgain(r2, r3n, restarted), 0},
				{r3, "event nodedown " + r1n, time.Time{}, 0},
				{r3, "event nodedown " + r2n, time.Time{}, 0},
			} {
				if k := c.p.count(c.from, c.prefix); k > c.max {
					problems = append(problems, fmt.Sprintf("%s printed %q %d times; want at most %d", c.p.name, c.prefix, k, c.max))
				}
			}
			for _, p := range append(all, old3) {
				if k := strings.Count(p.errText(), "disconnecting to prevent overlapping partitions"); k > 0 {
					problems = append(problems, fmt.Sprintf("%s closed %d connections to prevent overlapping partitions", p.name, k))
				}
			}
			if len(problems) > 0 {
				for _, p := range all {
					t.Logf("%s stdout:\n%s\n%s stderr:\n%s", p.name, p.out(), p.name, p.errText())
				}
				t.Fatalf("%s:\n%s", tc.name, strings.Join(problems, "\n"))
			}
		})
	}
}

// TestNodeStartsWithoutSeed: a node whose --join seed does not answer
// starts (it used to exit), is live but not ready, and joins once the
// seed comes up; no outside order of starts is needed.
func TestNodeStartsWithoutSeed(t *testing.T) {
	epmd := distributetest.StartEpmd(t)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", distributetest.FreePort(t))
	late := startChurnProc(t, epmd, "late@127.0.0.1", "--profile", "local", "--join", "seed@127.0.0.1", "--http", httpAddr,
		"--cluster-size", "2", "--prevent-overlapping-partitions=false")
	var body []byte
	status := func(path string) int {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			return 0
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("/healthz"); got != 200 {
		t.Fatalf("/healthz before the seed is up: %d; want 200", got)
	}
	if got := status("/readyz"); got != 503 || !strings.Contains(string(body), `"state":"isolated"`) || !strings.Contains(string(body), `"total":2`) {
		t.Fatalf("/readyz before the seed is up: %d %s; want 503, isolated, judged against --cluster-size 2", got, body)
	}
	seed := startChurnProc(t, epmd, "seed@127.0.0.1", "--profile", "local", "--join", "seed@127.0.0.1")
	distributetest.WaitForWithin(t, 60*time.Second, "both members alive to each other", func() bool {
		return late.count(time.Time{}, "event member seed@127.0.0.1 alive ") > 0 && seed.count(time.Time{}, "event member late@127.0.0.1 alive ") > 0
	})
	distributetest.WaitForWithin(t, 30*time.Second, "/readyz 200 once joined", func() bool { return status("/readyz") == 200 })
}
