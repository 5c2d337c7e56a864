package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/distributetest/gonode"
	"github.com/distribute-go/distribute/membership"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		runChild()
		return
	}
	goleak.VerifyTestMain(gonode.Settled(m)) // memberlist probes in flight end on their own after Shutdown
}

// A child is this test binary re-executed as one member in its own OS
// process (gonode.StartChild), so a test can SIGKILL it: a crash, as
// the others see it (dead, not left). It joins the gossip address in
// childJoinEnv (retrying), prints "ready", and runs until stdin closes.
const (
	childEnv     = "HEALTH_TEST_CHILD"
	childEpmdEnv = "HEALTH_TEST_EPMD"
	childJoinEnv = "HEALTH_TEST_JOIN"
)

func runChild() {
	ctx := context.Background()
	epmd, _ := strconv.Atoi(os.Getenv(childEpmdEnv))
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	n, err := distribute.Start(ctx, distribute.Config{Name: os.Getenv(childEnv), Cookie: cookie, EpmdPort: epmd, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		fail(err)
	}
	m, err := membership.Start(ctx, n, membership.Config{Cookie: cookie, Profile: membership.Local()})
	if err != nil {
		fail(err)
	}
	for {
		jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := m.Join(jctx, os.Getenv(childJoinEnv))
		cancel()
		if err == nil {
			break
		}
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	m.Stop(ctx)
	n.Stop(ctx)
}

const cookie = "health-test-cookie"

var seq atomic.Int64

type member struct {
	node *distribute.Node
	mem  *membership.Membership
}

func start(t *testing.T, epmd int) member {
	t.Helper()
	return startWith(t, epmd, membership.Local())
}

func startWith(t *testing.T, epmd int, prof membership.Profile) member {
	t.Helper()
	return startNamed(t, epmd, fmt.Sprintf("h%d_%d@localhost", os.Getpid(), seq.Add(1)), prof)
}

func startNamed(t *testing.T, epmd int, name string, prof membership.Profile) member {
	t.Helper()
	ctx := context.Background()
	n, err := distribute.Start(ctx, distribute.Config{Name: name, Cookie: cookie, EpmdPort: epmd, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := membership.Start(ctx, n, membership.Config{Cookie: cookie, Profile: prof})
	if err != nil {
		n.Stop(ctx)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Stop(ctx)
		n.Stop(ctx)
	})
	return member{n, m}
}

// joinRetry joins m to addr, retrying until a join succeeds (one push/pull
// can miss its timeout on a loaded machine).
func joinRetry(t *testing.T, m *membership.Membership, addr string) {
	t.Helper()
	distributetest.WaitFor(t, "a join", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
		defer cancel()
		_, err := m.Join(ctx, addr)
		return err == nil
	})
}

func epmdAddr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func get(t *testing.T, h http.Handler) (int, Report) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q; want application/json", ct)
	}
	var r Report
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	return rec.Code, r
}

func TestReadyLiveAndCluster(t *testing.T) {
	epmd := distributetest.StartEpmd(t)
	a, b, c := start(t, epmd), start(t, epmd), start(t, epmd)
	quorum := atomic.Bool{}
	chk, err := Start(context.Background(), a.node, Config{Membership: a.mem, EpmdAddr: epmdAddr(epmd), Expected: 3, Quorum: quorum.Load})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// Alone, with 3 expected: live but not ready, isolated.
	if code, r := get(t, chk.Healthz()); code != 200 || !r.OK {
		t.Fatalf("healthz alone: %d %+v", code, r)
	}
	code, r := get(t, chk.Readyz())
	if code != 503 || r.OK {
		t.Fatalf("readyz alone: %d %+v; want 503", code, r)
	}
	if r.Cluster == nil || r.Cluster.State != Isolated || r.Cluster.Total != 3 || r.Cluster.Quorum {
		t.Errorf("cluster alone: %+v; want isolated of 3 without quorum", r.Cluster)
	}
	names := map[string]bool{}
	for _, f := range r.Failed() {
		names[f.Name] = true
	}
	if !names["joined"] || !names["quorum"] || names["epmd"] || names["listener"] || names["node"] {
		t.Errorf("failed checks %+v; want joined and quorum only", r.Failed())
	}

	for _, m := range []member{b, c} {
		joinRetry(t, m.mem, a.mem.GossipAddr())
	}
	distributetest.WaitFor(t, "healthy", func() bool { return chk.Cluster().State == Healthy })
	quorum.Store(true)
	code, r = get(t, chk.Readyz())
	if code != 200 || !r.OK {
		t.Fatalf("readyz joined: %d %+v", code, r)
	}
	if h := chk.Cluster(); h.Alive != 3 || h.Total != 3 || !h.Quorum {
		t.Errorf("cluster %+v; want 3 alive of 3 with quorum", h)
	}

	// A graceful stop is left: not counted as a failure, but with 3
	// expected members, 2 alive is degraded.
	c.mem.Stop(ctx)
	distributetest.WaitFor(t, "left member excluded", func() bool { h := chk.Cluster(); return h.Left == 1 && h.Alive == 2 })
	if h := chk.Cluster(); h.State != Degraded || !h.Quorum {
		t.Errorf("after a leave: %+v; want degraded with quorum", h)
	}

	// A stopped node is not live.
	b.mem.Stop(ctx)
	a.mem.Stop(ctx)
	a.node.Stop(ctx)
	if code, r := get(t, chk.Healthz()); code != 503 || r.OK {
		t.Errorf("healthz after stop: %d %+v; want 503", code, r)
	}
}

func TestAssess(t *testing.T) {
	for _, tc := range []struct {
		alive, suspect, dead, left, expected int
		want                                 ClusterState
		quorum                               bool
	}{
		{1, 0, 0, 0, 0, Healthy, true},
		{1, 0, 0, 0, 3, Isolated, false},
		{5, 0, 0, 0, 0, Healthy, true},
		{4, 1, 0, 0, 0, Degraded, true},
		{3, 0, 2, 0, 0, Degraded, true},
		{2, 0, 2, 0, 0, Degraded, false},
		{1, 2, 2, 0, 0, Isolated, false},
		{3, 0, 0, 2, 0, Healthy, true},
		{3, 0, 0, 2, 5, Degraded, true},
		// With an expected size, forgetting the dead changes no quorum.
		{1, 0, 2, 0, 3, Isolated, false},
		{2, 0, 1, 0, 3, Degraded, true},
		{2, 0, 0, 0, 3, Degraded, true},
		{2, 0, 3, 0, 5, Degraded, false},
		{2, 0, 0, 0, 5, Degraded, false},
		{3, 0, 1, 0, 3, Degraded, true},
		{5, 0, 0, 0, 3, Healthy, true},
	} {
		h := Assess(tc.alive, tc.suspect, tc.dead, tc.left, tc.expected)
		if h.State != tc.want || h.Quorum != tc.quorum {
			t.Errorf("Assess(%d,%d,%d,%d,%d) = %v quorum %v; want %v quorum %v", tc.alive, tc.suspect, tc.dead, tc.left, tc.expected, h.State, h.Quorum, tc.want, tc.quorum)
		}
	}
}

func TestHasQuorum(t *testing.T) {
	for _, tc := range []struct {
		alive, total int
		want         bool
	}{{0, 0, false}, {1, 1, true}, {1, 2, false}, {2, 3, true}, {2, 4, false}, {3, 4, true}, {3, 5, true}, {2, 5, false}} {
		if got := HasQuorum(tc.alive, tc.total); got != tc.want {
			t.Errorf("HasQuorum(%d, %d) = %v; want %v", tc.alive, tc.total, got, tc.want)
		}
	}
}

// The epmd check asks the node's own epmd by default (the node's
// Config.EpmdPort, not $ERL_EPMD_PORT's or 4369's), and fails with a
// reason against an epmd that does not know the name.
func TestEpmdCheck(t *testing.T) {
	epmd := distributetest.StartEpmd(t)
	a := start(t, epmd)
	ctx := context.Background()
	epmdCheck := func(cfg Config) Check {
		t.Helper()
		chk, err := Start(ctx, a.node, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range chk.Readiness(ctx).Checks {
			if c.Name == "epmd" {
				return c
			}
		}
		t.Fatalf("no epmd check in the readiness report of %+v", cfg)
		return Check{}
	}
	port := a.node.ListenAddr().(*net.TCPAddr).Port
	for _, addr := range []string{"", epmdAddr(epmd)} {
		if c := epmdCheck(Config{EpmdAddr: addr}); !c.OK || !strings.HasSuffix(c.Detail, "-> "+strconv.Itoa(port)) {
			t.Errorf("EpmdAddr %q: %+v; want ok, the node's port %d", addr, c, port)
		}
	}
	other := distributetest.StartEpmd(t)
	if c := epmdCheck(Config{EpmdAddr: epmdAddr(other)}); c.OK || !strings.Contains(c.Detail, "does not know the name") {
		t.Errorf("an epmd without the name: %+v; want failed, the name unknown", c)
	}
	if got, ok, err := a.node.EpmdPort(ctx, epmdAddr(other)); got != 0 || ok || err != nil {
		t.Errorf("EpmdPort at an epmd without the name = %d, %v, %v; want 0, false, nil", got, ok, err)
	}
	if _, _, err := a.node.EpmdPort(ctx, "127.0.0.1"); err == nil {
		t.Error("EpmdPort accepted an address without a port")
	}
}

func TestHandlerMethods(t *testing.T) {
	epmd := distributetest.StartEpmd(t)
	a := start(t, epmd)
	chk, err := Start(context.Background(), a.node, Config{EpmdAddr: epmdAddr(epmd)})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	chk.Readyz().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d; want 405", rec.Code)
	}
	rec = httptest.NewRecorder()
	chk.Readyz().ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/", nil))
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d body bytes; want 200 and none", rec.Code, rec.Body.Len())
	}
	// Without membership, cluster health is from connections: alone, healthy.
	if code, r := get(t, chk.Readyz()); code != 200 || r.Cluster.State != Healthy || r.Cluster.Alive != 1 {
		t.Errorf("readyz without membership: %d %+v", code, r.Cluster)
	}
	if _, err := Start(context.Background(), nil, Config{}); !errors.Is(err, ErrConfig) {
		t.Errorf("Start without a node: %v; want ErrConfig", err)
	}
}

// TestReapKeepsMinorityMinority: a node whose two peers died (or, as it
// sees it, are on the other side of a partition) is isolated without a
// quorum, before and after membership forgets them.
func TestReapKeepsMinorityMinority(t *testing.T) {
	epmd := distributetest.StartEpmd(t)
	prof := membership.Local()
	prof.GossipToTheDeadTime = 500 * time.Millisecond
	prof.ReapTime = 300 * time.Millisecond
	prof.ReconnectInterval = 0
	a := startWith(t, epmd, prof)
	chk, err := Start(context.Background(), a.node, Config{Membership: a.mem, EpmdAddr: epmdAddr(epmd), Expected: 3})
	if err != nil {
		t.Fatal(err)
	}
	var kids []*gonode.Child
	for range 2 {
		kids = append(kids, gonode.StartChild(t,
			childEnv+"="+fmt.Sprintf("hc%d_%d@localhost", os.Getpid(), seq.Add(1)),
			childEpmdEnv+"="+strconv.Itoa(epmd),
			childJoinEnv+"="+a.mem.GossipAddr()))
	}
	distributetest.WaitFor(t, "healthy", func() bool { h := chk.Cluster(); return h.State == Healthy && h.Alive == 3 })
	for _, k := range kids {
		k.Cmd.Process.Kill()
	}
	// From the kill until membership has forgotten both, every reading
	// with one node alive is a minority of the configured 3. The peers
	// die (and are reaped) at moments of their own, so the test does not
	// wait for a reading with both dead at once: it checks every reading.
	sawDead, checked := 0, 0
	distributetest.WaitFor(t, "both dead and forgotten", func() bool {
		h := chk.Cluster()
		sawDead = max(sawDead, h.Dead)
		if h.Alive == 1 {
			checked++
			if h.State != Isolated || h.Quorum || h.Total != 3 {
				t.Fatalf("minority %+v (%d members known); want isolated, 1 alive of 3, no quorum", h, len(a.mem.Members()))
			}
		}
		return len(a.mem.Members()) == 1
	})
	if h := chk.Cluster(); h.State != Isolated || h.Quorum || h.Total != 3 || h.Alive != 1 {
		t.Errorf("minority after reaping %+v; want isolated, 1 alive of 3, no quorum", h)
	}
	t.Logf("%d readings with one node alive, all a minority; at most %d dead at once", checked, sawDead)
	if _, r := get(t, chk.Readyz()); r.Cluster.State != Isolated || r.Cluster.Quorum {
		t.Errorf("readyz's cluster on the minority: %+v", r.Cluster)
	}
}

// TestNotReadyWhileJoining: a node whose seeds do not answer is live but
// not ready, and ready once it has joined.
func TestNotReadyWhileJoining(t *testing.T) {
	epmd := distributetest.StartEpmd(t)
	seedName := distribute.Atom(fmt.Sprintf("hseed%d_%d@localhost", os.Getpid(), seq.Add(1)))
	var seed atomic.Pointer[membership.Membership]
	ctx := context.Background()
	n, err := distribute.Start(ctx, distribute.Config{Name: fmt.Sprintf("h%d_%d@localhost", os.Getpid(), seq.Add(1)), Cookie: cookie, EpmdPort: epmd, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop(ctx) })
	m, err := membership.Start(ctx, n, membership.Config{Cookie: cookie, Profile: membership.Local(), Seeds: []distribute.Atom{seedName},
		Resolve: func(ctx context.Context, node distribute.Atom) (string, error) {
			if s := seed.Load(); s != nil && node == seedName {
				return s.GossipAddr(), nil
			}
			return "", fmt.Errorf("%s is not up", node)
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Stop(ctx) })
	chk, err := Start(context.Background(), n, Config{Membership: m, EpmdAddr: epmdAddr(epmd)})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, chk.Healthz()); code != 200 {
		t.Errorf("healthz while joining: %d; want 200", code)
	}
	code, r := get(t, chk.Readyz())
	if code != 503 {
		t.Fatalf("readyz while joining: %d %+v; want 503", code, r)
	}
	if f := r.Failed(); len(f) != 1 || f[0].Name != "joined" {
		t.Errorf("failed checks %+v; want joined only", f)
	}
	s := startNamed(t, epmd, string(seedName), membership.Local())
	seed.Store(s.mem)
	distributetest.WaitFor(t, "ready once joined", func() bool { code, _ := get(t, chk.Readyz()); return code == 200 })
}

// TestHandlerRefusesMethodBeforeChecking: a POST gets 405 without the
// checks running (here: no connection to the epmd they would query).
func TestHandlerRefusesMethodBeforeChecking(t *testing.T) {
	epmd := distributetest.StartEpmd(t)
	a := start(t, epmd)
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// connected reports whether a check connected to ln: a connect
	// completes in the kernel's backlog before the dialer's call returns,
	// so it is there to accept once the handler has returned.
	connected := func() bool {
		ln.SetDeadline(time.Now().Add(50 * time.Millisecond))
		c, err := ln.Accept()
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	chk, err := Start(context.Background(), a.node, Config{EpmdAddr: ln.Addr().String(), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []http.Handler{chk.Healthz(), chk.Readyz()} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST: %d; want 405", rec.Code)
		}
		if connected() {
			t.Fatal("a POST ran the checks (the epmd check connected) before it was refused")
		}
	}
	// The same handler with GET does run them: the probe above sees it.
	rec := httptest.NewRecorder()
	chk.Readyz().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if !connected() {
		t.Fatal("GET /readyz did not run the epmd check")
	}
}
