package membership

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
)

const testCookie = "membership-test-cookie"

var seq atomic.Int64

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("MEMBERSHIP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// startMember starts a distribution node and a member on it.
func startMember(t testing.TB, epmdPort int, cookie string) *Membership {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("m%d_%d@localhost", os.Getpid(), seq.Add(1))
	n, err := distribute.Start(ctx, distribute.Config{Name: name, Cookie: cookie, EpmdPort: epmdPort, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Start(ctx, Config{Node: n, Cookie: cookie, Profile: Local(), Logger: testLogger(t)})
	if err != nil {
		n.Stop(ctx)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Stop(ctx)
		n.Stop(ctx)
	})
	return m
}

// waitFor polls cond until it holds or the (scaled) deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(distributetest.Scale(d))
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", distributetest.Scale(d), what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func states(m *Membership) map[distribute.Atom]State {
	out := make(map[distribute.Atom]State)
	for _, mb := range m.Members() {
		out[mb.Name] = mb.State
	}
	return out
}

func TestInProcessJoinAndLeave(t *testing.T) {
	port := distributetest.StartEpmd(t)
	ms := []*Membership{startMember(t, port, testCookie), startMember(t, port, testCookie), startMember(t, port, testCookie)}
	ctx := context.Background()
	for _, m := range ms[1:] {
		if _, err := m.Join(ctx, ms[0].GossipAddr()); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range ms {
		waitFor(t, 10*time.Second, "3 alive at "+string(m.Name()), func() bool { return len(m.Alive()) == 3 })
	}
	// full mesh
	for _, m := range ms {
		for _, o := range ms {
			if o != m {
				waitFor(t, 10*time.Second, "connected", func() bool { return m.node.IsConnected(o.Name()) })
			}
		}
	}
	if l, _ := ms[0].Leader(); l != ms[2].Name() {
		t.Errorf("leader %s; want %s", l, ms[2].Name())
	}
	ms[2].Stop(ctx)
	for _, m := range ms[:2] {
		waitFor(t, 10*time.Second, "left", func() bool { return states(m)[ms[2].Name()] == StateLeft })
	}
}
