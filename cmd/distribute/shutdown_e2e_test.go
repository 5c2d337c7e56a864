package main

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// exitCode waits up to d (scaled) for p to exit and returns its code.
func (p *churnProc) exitCode(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(distributetest.Scale(d)):
		t.Fatalf("%s did not exit within %v; stderr:\n%s", p.name, distributetest.Scale(d), p.errText())
	}
	return -1
}

func (p *churnProc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// memberLines returns the states p printed for member node, in order.
func (p *churnProc) memberStates(node string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, l := range p.lines {
		if f := strings.Fields(l.text); len(f) == 5 && f[0] == "event" && f[1] == "member" && f[2] == node {
			out = append(out, f[3])
		}
	}
	return out
}

// TestSIGTERMLeaderHandsOverAndLeaves: SIGTERM to the leader of three
// voters (separate processes): it exits 0, another node sees it left,
// never dead, and a new leader, in a higher term.
func TestSIGTERMLeaderHandsOverAndLeaves(t *testing.T) {
	port := distributetest.StartEpmd(t)
	names := []string{"st1@localhost", "st2@localhost", "st3@localhost"}
	var procs []*churnProc
	for i, name := range names {
		args := []string{"--election", "--expect", "3", "--data-dir", t.TempDir(), "--profile", "local", "--shutdown-grace", "30s"}
		if i > 0 {
			args = append(args, "--join", names[0])
		}
		procs = append(procs, startChurnProc(t, port, name, args...))
	}
	var leader string
	var term int
	distributetest.WaitForWithin(t, 30*time.Second, "a leader known to all three", func() bool {
		var seen []string
		for _, p := range procs {
			l, ok := p.last(time.Time{}, "event leader ")
			if !ok {
				return false
			}
			seen = append(seen, l.text)
		}
		if seen[0] != seen[1] || seen[1] != seen[2] {
			return false
		}
		_, err := fmt.Sscanf(seen[0], "event leader %s %d", &leader, &term)
		return err == nil
	})
	var lp *churnProc
	var others []*churnProc
	for _, p := range procs {
		if p.name == leader {
			lp = p
		} else {
			others = append(others, p)
		}
	}
	sent := time.Now()
	lp.cmd.Process.Signal(syscall.SIGTERM)
	if code := lp.exitCode(t, 30*time.Second); code != 0 {
		t.Fatalf("the leader exited %d after SIGTERM; want 0; stderr:\n%s", code, lp.errText())
	}
	for _, o := range others {
		distributetest.WaitForWithin(t, 30*time.Second, o.name+" to see "+leader+" left and a new leader", func() bool {
			l, ok := o.last(sent, "event leader ")
			if !ok {
				return false
			}
			var nl string
			var nt int
			fmt.Sscanf(l.text, "event leader %s %d", &nl, &nt)
			states := o.memberStates(leader)
			return nl != leader && nt > term && len(states) > 0 && states[len(states)-1] == "left"
		})
		if states := o.memberStates(leader); strings.Contains(strings.Join(states, " "), "dead") {
			t.Errorf("%s saw %s %v; a graceful stop must never show dead", o.name, leader, states)
		}
	}
}

// suspendedCall makes the inbox box on node busy: erl suspends it
// (sys:suspend) and a process of erl calls it, so the call waits, in
// flight, until erl resumes it. It returns the expression that reads the
// call's reply.
func suspendedCall(t *testing.T, erl *distributetest.ErlNode, node string) string {
	t.Helper()
	if got := erl.Eval(t, fmt.Sprintf("sys:suspend({box, '%s'})", node)); got != "ok" {
		t.Fatalf("sys:suspend = %s", got)
	}
	// The call must be in the box's mailbox before the test goes on (a
	// SIGTERM's flush that overtook it would end the node first): once
	// the caller waits, its request is on the connection, and a ping's
	// answer on that same connection comes after the node has read it.
	got := erl.Eval(t, fmt.Sprintf(`begin Self = self(), P = spawn(fun() -> Self ! {call_reply, catch gen_server:call({box, '%s'}, in_flight, infinity)} end), W = fun Wait(0) -> gave_up; Wait(K) -> case process_info(P, status) of {status, waiting} -> ok; _ -> timer:sleep(5), Wait(K - 1) end end, ok = W(6000), net_adm:ping('%s') end`, node, node))
	if got != "pong" {
		t.Fatalf("the call to box on %s is not under way: %s", node, got)
	}
	return "receive {call_reply, R} -> R after 0 -> no_reply_yet end"
}

// stillUp checks, for a second, that g (stopping, with a call in flight)
// keeps running and answers erl's pings: its stop waits for the call. A
// stop that does not wait ends in about a tenth of that.
func stillUp(t *testing.T, erl *distributetest.ErlNode, g *churnProc) {
	t.Helper()
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if !g.running() {
			t.Fatalf("%s exited with a call in flight; stderr:\n%s", g.name, g.errText())
		}
		if got := erl.Eval(t, fmt.Sprintf("net_adm:ping('%s')", g.name)); got != "pong" {
			t.Fatalf("%s, stopping with a call in flight, does not answer a ping: %s", g.name, got)
		}
	}
}

// TestSIGTERMLetsCallsInFlightFinish: after SIGTERM the node leaves the
// cluster (its peer sees it left, its global name gone) and stays up,
// connected, while a call it received is in flight; the call gets its
// answer once the inbox can give it, then the node exits 0.
func TestSIGTERMLetsCallsInFlightFinish(t *testing.T) {
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{Name: "sterl@localhost", Cookie: testCookie})
	httpAddr := fmt.Sprintf("127.0.0.1:%d", distributetest.FreePort(t))
	g := startChurnProc(t, erl.EpmdPort, "stg@localhost", "--inbox", "box", "--global", "box", "--profile", "local", "--shutdown-grace", "2m", "--http", httpAddr)
	h := startChurnProc(t, erl.EpmdPort, "sth@localhost", "--join", "stg@localhost", "--profile", "local")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stderr of stg:\n%s\nstderr of sth:\n%s", g.errText(), h.errText())
		}
	})
	readyz := func() int {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			t.Fatalf("GET /readyz: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	distributetest.WaitForWithin(t, 30*time.Second, "sth to see stg alive, and stg ready", func() bool {
		s := h.memberStates("stg@localhost")
		return len(s) > 0 && s[len(s)-1] == "alive" && readyz() == http.StatusOK
	})
	read := suspendedCall(t, erl, "stg@localhost")
	g.cmd.Process.Signal(syscall.SIGTERM)
	distributetest.WaitForWithin(t, 30*time.Second, "sth to see stg left and the global name box gone", func() bool {
		s := h.memberStates("stg@localhost")
		if len(s) == 0 || s[len(s)-1] != "left" {
			return false
		}
		out, _, code := runCLI(t, "", cliArgs(erl.EpmdPort, "rpc", "sth@localhost", "distribute", "global_names")...)
		return code == 0 && !strings.Contains(out, "box")
	})
	stillUp(t, erl, g)
	if got := readyz(); got != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz on the stopping node = %d; want 503", got)
	}
	if got := erl.Eval(t, read); got != "no_reply_yet" {
		t.Fatalf("the call in flight ended early: %s", got)
	}
	if got := erl.Eval(t, "sys:resume({box, 'stg@localhost'})"); got != "ok" {
		t.Fatalf("sys:resume = %s", got)
	}
	if code := g.exitCode(t, 30*time.Second); code != 0 {
		t.Fatalf("stg exited %d; want 0; stderr:\n%s", code, g.errText())
	}
	if got := erl.Eval(t, "receive {call_reply, R} -> R after 5000 -> no_reply end"); got != "in_flight" {
		t.Fatalf("the call in flight got %s; want in_flight (the inbox's echo)", got)
	}
}

// TestSecondSignalExitsAtOnce: a second SIGTERM during the grace period
// ends the node at once, with status 1.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{Name: "sserl@localhost", Cookie: testCookie})
	g := startChurnProc(t, erl.EpmdPort, "ssg@localhost", "--inbox", "box", "--profile", "local", "--shutdown-grace", "10m")
	h := startChurnProc(t, erl.EpmdPort, "ssh@localhost", "--join", "ssg@localhost", "--profile", "local")
	distributetest.WaitForWithin(t, 30*time.Second, "ssh to see ssg alive", func() bool {
		s := h.memberStates("ssg@localhost")
		return len(s) > 0 && s[len(s)-1] == "alive"
	})
	suspendedCall(t, erl, "ssg@localhost")
	g.cmd.Process.Signal(syscall.SIGTERM)
	distributetest.WaitForWithin(t, 30*time.Second, "ssh to see ssg left", func() bool {
		s := h.memberStates("ssg@localhost")
		return len(s) > 0 && s[len(s)-1] == "left"
	})
	stillUp(t, erl, g)
	g.cmd.Process.Signal(syscall.SIGTERM)
	if code := g.exitCode(t, 10*time.Second); code != 1 {
		t.Fatalf("ssg exited %d after a second signal; want 1", code)
	}
	if !strings.Contains(g.errText(), "second signal") {
		t.Errorf("stderr does not say why it exited:\n%s", g.errText())
	}
}
