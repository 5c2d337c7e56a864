package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/cluster"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/election"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/membership"
)

// evilName is a name that would run script if the page put it in as markup.
const evilName = `<img src=x onerror="window.__pwned=1">&"'`

func conn(node string, since time.Time, msgIn, msgOut, bytesIn, bytesOut uint64) distribute.ConnectionStats {
	return distribute.ConnectionStats{
		Node: distribute.Atom(node), Visible: true, Since: since,
		MessagesIn: msgIn, MessagesOut: msgOut, BytesIn: bytesIn, BytesOut: bytesOut,
	}
}

func closeTo(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func checkRates(t *testing.T, what string, got, want rates) {
	t.Helper()
	if !closeTo(got.MsgIn, want.MsgIn) || !closeTo(got.MsgOut, want.MsgOut) ||
		!closeTo(got.BytesIn, want.BytesIn) || !closeTo(got.BytesOut, want.BytesOut) {
		t.Errorf("%s: got %+v; want %+v", what, got, want)
	}
}

func TestSamplerRates(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	upA := t0.Add(-time.Minute)
	s := newSampler(3, time.Second)

	// The first snapshot is only a baseline.
	s.add(t0, []distribute.ConnectionStats{conn("a@h", upA, 10, 20, 1000, 2000)})
	if latest, h := s.snapshot(); len(h.Times) != 0 || len(latest.Peers) != 0 {
		t.Fatalf("after one snapshot: latest %+v, history %+v; want none", latest, h)
	}

	// Two seconds later: a's differences over 2s. b came up in between:
	// everything it carried belongs to this interval. c was already up
	// but missing from the baseline: no rate for it yet.
	t1 := t0.Add(2 * time.Second)
	s.add(t1, []distribute.ConnectionStats{
		conn("a@h", upA, 30, 24, 3000, 2400),
		conn("b@h", t0.Add(time.Second), 4, 6, 400, 600),
		conn("c@h", upA, 1000, 1000, 1000, 1000),
	})
	latest, h := s.snapshot()
	if !latest.At.Equal(t1) {
		t.Errorf("latest at %v; want %v", latest.At, t1)
	}
	checkRates(t, "a", latest.Peers["a@h"], rates{10, 2, 1000, 200})
	checkRates(t, "b", latest.Peers["b@h"], rates{2, 3, 200, 300})
	if r, ok := latest.Peers["c@h"]; ok {
		t.Errorf("c has rate %+v without a baseline", r)
	}
	checkRates(t, "total", latest.Total, rates{12, 5, 1200, 500})

	// A snapshot not later than the last one replaces the baseline and
	// adds no sample.
	s.add(t1, []distribute.ConnectionStats{
		conn("a@h", upA, 30, 24, 3000, 2400),
		conn("b@h", t0.Add(time.Second), 4, 6, 400, 600),
		conn("c@h", upA, 1000, 1000, 1000, 1000),
	})
	if _, h := s.snapshot(); len(h.Times) != 1 {
		t.Fatalf("history has %d samples after a same-time snapshot; want 1", len(h.Times))
	}

	// a reconnected (new Since, counters restarted): only its new
	// counters count. b is gone. c now has a baseline.
	t2 := t1.Add(time.Second)
	s.add(t2, []distribute.ConnectionStats{
		conn("a@h", t1.Add(500*time.Millisecond), 5, 5, 50, 50),
		conn("c@h", upA, 1001, 1003, 1010, 1030),
	})
	latest, _ = s.snapshot()
	checkRates(t, "reconnected a", latest.Peers["a@h"], rates{5, 5, 50, 50})
	checkRates(t, "c", latest.Peers["c@h"], rates{1, 3, 10, 30})
	if _, ok := latest.Peers["b@h"]; ok {
		t.Error("b has a rate after it went away")
	}

	// A counter that went back (it cannot, but the sampler must not
	// wrap around to 2^64) counts zero.
	t3 := t2.Add(time.Second)
	s.add(t3, []distribute.ConnectionStats{conn("c@h", upA, 1000, 1004, 1010, 1031)})
	latest, _ = s.snapshot()
	checkRates(t, "c going back", latest.Peers["c@h"], rates{0, 1, 0, 1})

	// The history holds the last 3 samples, oldest first, each peer's
	// series aligned with Times (zero where the peer had no rate).
	t4 := t3.Add(time.Second)
	s.add(t4, []distribute.ConnectionStats{conn("c@h", upA, 1002, 1004, 1010, 1031)})
	_, h = s.snapshot()
	wantTimes := []int64{t2.UnixMilli(), t3.UnixMilli(), t4.UnixMilli()}
	if fmt.Sprint(h.Times) != fmt.Sprint(wantTimes) {
		t.Fatalf("times %v; want %v", h.Times, wantTimes)
	}
	if h.Capacity != 3 || len(h.Total) != 3 || h.IntervalMS != 1000 {
		t.Fatalf("capacity %d, %d totals, interval %d ms; want 3, 3, 1000", h.Capacity, len(h.Total), h.IntervalMS)
	}
	if _, ok := h.Peers["b@h"]; ok {
		t.Error("b still in the history after its samples aged out")
	}
	a := h.Peers["a@h"]
	if len(a) != 3 {
		t.Fatalf("a's series has %d points; want 3", len(a))
	}
	checkRates(t, "a[0]", a[0], rates{5, 5, 50, 50})
	checkRates(t, "a[1]", a[1], rates{})
	checkRates(t, "a[2]", a[2], rates{})
	c := h.Peers["c@h"]
	checkRates(t, "c[2]", c[2], rates{2, 0, 0, 0})
	checkRates(t, "total[0]", h.Total[0], rates{6, 8, 60, 80})
	checkRates(t, "total[2]", h.Total[2], rates{2, 0, 0, 0})
}

// startObserverCluster starts an in-process cluster node joined to join.
func startObserverCluster(t *testing.T, epmdPort int, name string, join ...distribute.Atom) *cluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(20*time.Second))
	defer cancel()
	cl, err := cluster.Start(ctx, cluster.Config{
		Node:    distribute.Config{Name: name, Cookie: testCookie, EpmdPort: epmdPort},
		Profile: membership.Local(),
		Join:    join,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
		defer cancel()
		cl.Stop(ctx)
	})
	return cl
}

func getObserver(t *testing.T, mux *http.ServeMux) (observerView, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/api/observer", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/observer: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET /api/observer: Content-Type %q", ct)
	}
	var v observerView
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("GET /api/observer: %v in %s", err, rec.Body)
	}
	return v, rec.Body.Bytes()
}

func TestObserverAPI(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := startObserverCluster(t, port, "obsa@localhost")
	b := startObserverCluster(t, port, "obsb@localhost", "obsa@localhost")
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(30*time.Second))
	defer cancel()

	// On a: a process with a deep mailbox, registered locally, globally
	// under a hostile name, and in a group.
	deep, err := a.Node().NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer deep.Exit(distribute.ReasonNormal)
	if err := a.Node().Register("deep", deep.Pid()); err != nil {
		t.Fatal(err)
	}
	if err := a.Registry().Register(ctx, etf.Atom(evilName), deep.Pid()); err != nil {
		t.Fatal(err)
	}
	if err := a.Groups().Join(ctx, etf.Atom("workers"), deep.Pid()); err != nil {
		t.Fatal(err)
	}
	const depth = 57
	sender, err := b.Node().NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Exit(distribute.ReasonNormal)
	for i := range depth {
		if err := sender.Send(ctx, deep.Pid(), int64(i)); err != nil {
			t.Fatal(err)
		}
	}

	o := newObserver(a, 10, 20*time.Millisecond)
	runCtx, stopRun := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		o.run(runCtx)
	}()
	defer func() { stopRun(); <-ran }()
	mux := http.NewServeMux()
	o.register(mux)

	// Wait until a sees b alive and connected, holds the whole mailbox,
	// and has measured traffic from b (b keeps sending while we wait).
	var v observerView
	var body []byte
	for {
		v, body = getObserver(t, mux)
		var bAlive, measured bool
		for _, m := range v.Members {
			bAlive = bAlive || (m.Name == "obsb@localhost" && m.State == "alive" && m.Connected)
		}
		for _, c := range v.Connections {
			measured = measured || (c.Node == "obsb@localhost" && c.Rate.MsgIn > 0)
		}
		full := len(v.Processes.Shown) > 0 && v.Processes.Shown[0].Mailbox >= depth
		if bAlive && measured && full {
			break
		}
		if err := sender.Send(ctx, deep.Pid(), etf.Atom("more")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("observer never showed b alive, traffic and the mailbox; last: %s", body)
		case <-time.After(20 * time.Millisecond):
		}
	}

	if v.Node != "obsa@localhost" || v.Version != distribute.Version || v.Creation != a.Node().Creation() || v.Hidden {
		t.Errorf("header: node %q version %q creation %d hidden %v", v.Node, v.Version, v.Creation, v.Hidden)
	}
	if v.Election.Enabled || v.Election.HasLeader {
		t.Errorf("election %+v; want off", v.Election)
	}
	if !v.Membership || len(v.Members) != 2 {
		t.Fatalf("members %+v; want a and b", v.Members)
	}
	for _, m := range v.Members {
		if m.Self != (m.Name == "obsa@localhost") || m.Incarnation == 0 || m.Since.IsZero() {
			t.Errorf("member %+v", m)
		}
	}

	// The hostile name is in the JSON as data, never as raw markup.
	if bytes.Contains(body, []byte("<img")) {
		t.Errorf("raw markup in the JSON: %s", body)
	}
	want := globalView{Name: evilName, Pid: etf.Format(deep.Pid()), Node: "obsa@localhost"}
	if !v.Globals.Enabled || v.Globals.Total != 1 || len(v.Globals.Names) != 1 || v.Globals.Names[0] != want {
		t.Errorf("globals %+v; want just %+v", v.Globals, want)
	}

	if !v.Groups.Enabled || v.Groups.Scope != "pg" || v.Groups.Total != 1 || len(v.Groups.Groups) != 1 {
		t.Fatalf("groups %+v; want pg with one group", v.Groups)
	}
	g := v.Groups.Groups[0]
	if g.Name != "workers" || g.Total != 1 || len(g.Members) != 1 || g.Members[0] != (pidRef{etf.Format(deep.Pid()), "obsa@localhost"}) {
		t.Errorf("group %+v", g)
	}

	// Processes: the deepest mailbox first, with its names; sorted by depth.
	top := v.Processes.Shown[0]
	if top.Pid != etf.Format(deep.Pid()) || strings.Join(top.Names, ",") != "deep" {
		t.Errorf("top process %+v; want %s named deep", top, etf.Format(deep.Pid()))
	}
	if v.Processes.Total != len(a.Node().Processes()) || len(v.Processes.Shown) != v.Processes.Total {
		t.Errorf("processes: total %d, shown %d; node has %d", v.Processes.Total, len(v.Processes.Shown), len(a.Node().Processes()))
	}
	for i := 1; i < len(v.Processes.Shown); i++ {
		if v.Processes.Shown[i].Mailbox > v.Processes.Shown[i-1].Mailbox {
			t.Errorf("processes not sorted by mailbox: %+v", v.Processes.Shown)
			break
		}
	}
	capped := processes(a.Node(), 2)
	if capped.Total != len(a.Node().Processes()) || len(capped.Shown) != 2 || capped.Shown[0].Pid != top.Pid {
		t.Errorf("processes capped at 2: %+v", capped)
	}

	// Connections and the history the chart draws.
	if len(v.Connections) != 1 || v.Connections[0].Node != "obsb@localhost" || !v.Connections[0].Visible ||
		v.Connections[0].MsgIn < depth || v.Connections[0].BytesIn == 0 {
		t.Errorf("connections %+v; want b with at least %d messages in", v.Connections, depth)
	}
	h := v.History
	if h.Capacity != 10 || h.IntervalMS != 20 || len(h.Times) == 0 || len(h.Times) > 10 || len(h.Total) != len(h.Times) {
		t.Fatalf("history: capacity %d, interval %d ms, %d times, %d totals", h.Capacity, h.IntervalMS, len(h.Times), len(h.Total))
	}
	if series := h.Peers["obsb@localhost"]; len(series) != len(h.Times) || series[len(series)-1] != v.Connections[0].Rate {
		t.Errorf("b's series %+v does not end with its current rate %+v", series, v.Connections[0].Rate)
	}
}

func TestObserverElection(t *testing.T) {
	port := distributetest.StartEpmd(t)
	var nodes []*cluster.Cluster
	for i, name := range []string{"obse1@localhost", "obse2@localhost", "obse3@localhost"} {
		ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(20*time.Second))
		cfg := cluster.Config{
			Node:     distribute.Config{Name: name, Cookie: testCookie, EpmdPort: port, ListenAddr: "127.0.0.1:0"},
			Profile:  membership.Local(),
			Election: &election.Config{Expect: 3, DataDir: t.TempDir(), Timing: election.Local()},
		}
		if i > 0 {
			cfg.Join = []distribute.Atom{"obse1@localhost"}
		}
		cl, err := cluster.Start(ctx, cfg)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
			defer cancel()
			cl.Stop(ctx)
		})
		nodes = append(nodes, cl)
	}

	// Every node's page names the same leader and term, and the leader's
	// page says it is the leader.
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(30*time.Second))
	defer cancel()
	for {
		var views []electionView
		for _, cl := range nodes {
			views = append(views, newObserver(cl, 1, time.Second).electionView())
		}
		agreed := views[0].HasLeader
		for _, v := range views {
			agreed = agreed && v.Enabled && v.HasLeader && v.Leader == views[0].Leader && v.Term == views[0].Term && v.Term > 0
		}
		if agreed {
			for i, v := range views {
				self := string(nodes[i].Node().Name())
				if want := map[bool]string{true: "leader", false: "follower"}[self == v.Leader]; v.Role != want {
					t.Errorf("%s: role %q; want %q (leader %s)", self, v.Role, want, v.Leader)
				}
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the nodes never agreed on a leader: %+v", views)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestObserverPageAndAssets(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := startObserverCluster(t, port, "obsp@localhost")
	mux := http.NewServeMux()
	newObserver(a, 60, time.Second).register(mux)
	for _, tc := range []struct {
		path, ctype, contains string
		code                  int
	}{
		{"/", "text/html; charset=utf-8", `<script src="observer/app.js"`, 200},
		{"/observer/app.js", "text/javascript; charset=utf-8", "api/observer", 200},
		{"/observer/style.css", "text/css; charset=utf-8", ".state-dead", 200},
		{"/nothing-here", "", "", 404},
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		if rec.Code != tc.code {
			t.Errorf("GET %s: %d; want %d", tc.path, rec.Code, tc.code)
			continue
		}
		if tc.code != 200 {
			continue
		}
		if ct := rec.Header().Get("Content-Type"); ct != tc.ctype {
			t.Errorf("GET %s: Content-Type %q; want %q", tc.path, ct, tc.ctype)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: Content-Security-Policy %q", tc.path, csp)
		}
		if !strings.Contains(rec.Body.String(), tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
	}
	// Nothing on the page comes from another origin: it works offline.
	page, _ := observerAssets.ReadFile("observer/index.html")
	script, _ := observerAssets.ReadFile("observer/app.js")
	for _, b := range [][]byte{page, script} {
		if bytes.Contains(b, []byte("http://")) && !bytes.Contains(b, []byte("http://www.w3.org/2000/svg")) || bytes.Contains(b, []byte("https://")) {
			t.Errorf("an asset refers to another origin")
		}
	}
	if bytes.Contains(script, []byte("innerHTML")) {
		t.Error("app.js uses innerHTML")
	}
}

// chromiumPath finds a Chromium for the browser test: skipped without one,
// unless DISTRIBUTE_REQUIRE_CHROMIUM=1.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("DISTRIBUTE_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("chromium not found and DISTRIBUTE_REQUIRE_CHROMIUM=1 (apt-get install -y chromium)")
	}
	t.Skip("chromium not found: install it (apt-get install -y chromium) to run the observer page's browser test")
	return ""
}

// artifactDir is where tests leave files for people to look at:
// $DISTRIBUTE_ARTIFACT_DIR, else the test's temporary directory.
func artifactDir(t *testing.T) string {
	if d := os.Getenv("DISTRIBUTE_ARTIFACT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestObserverPageInChromium loads the observer page of a three-node
// cluster (three `distribute node` processes with leader election) in
// headless Chromium, waits for the three nodes alive and a leader,
// SIGKILLs one, waits for the page to show it dead (and a leader that is
// not it), and saves a full-page screenshot.
func TestObserverPageInChromium(t *testing.T) {
	chrome := chromiumPath(t)
	port := distributetest.StartEpmd(t)
	addr := fmt.Sprintf("127.0.0.1:%d", distributetest.FreePort(t))
	elect := func() []string {
		return []string{"--profile", "local", "--election", "--expect", "3", "--data-dir", t.TempDir()}
	}
	startNodeProc(t, port, "obs1@localhost", append(elect(), "--http", addr,
		"--inbox", "box", "--group", "workers", "--inbox", evilName, "--global", evilName)...)
	startNodeProc(t, port, "obs2@localhost", append(elect(), "--join", "obs1@localhost", "--inbox", "w", "--group", "workers")...)
	victim := startNodeProc(t, port, "obs3@localhost", append(elect(), "--join", "obs1@localhost")...)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.NoSandbox, // Chromium refuses to run as root with its sandbox
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	// The first Run starts the browser. A timeout on its context would end
	// the browser with it, so a watchdog bounds it instead.
	opened := make(chan error, 1)
	go func() { opened <- chromedp.Do(browser, chromedp.Navigate("http://"+addr+"/")) }()
	select {
	case err := <-opened:
		if err != nil {
			t.Fatalf("open the page: %v", err)
		}
	case <-time.After(distributetest.Scale(60 * time.Second)):
		cancelBrowser()
		<-opened
		t.Fatal("chromium did not open the page within a minute")
	}

	// waitFor polls a JavaScript predicate on the live page (no reload).
	waitFor := func(what, predicate string) {
		t.Helper()
		d := distributetest.Scale(30 * time.Second)
		ctx, cancel := context.WithTimeout(browser, d+5*time.Second)
		defer cancel()
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](predicate,
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(d)))
		if err != nil {
			text, _ := chromedp.Run(browser, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("page never showed %s: %v\npage text:\n%s", what, err, text)
		}
	}
	memberState := func(node string) string {
		return fmt.Sprintf(`(Array.from(document.querySelectorAll("#members tbody tr")).find(r => r.dataset.node === %q) || {dataset: {}}).dataset.state`, node)
	}

	waitFor("the node's name in the header", `document.getElementById("node").textContent === "obs1@localhost"`)
	waitFor("three nodes alive",
		`document.querySelectorAll('#members tbody tr[data-state="alive"]').length === 3 && `+
			memberState("obs3@localhost")+` === "alive"`)
	waitFor("two connections", `document.querySelectorAll("#connections tbody tr[data-node]").length === 2`)
	waitFor("the group with three members",
		`Array.from(document.querySelectorAll("#groups tbody tr")).some(r => r.cells[0].textContent === "workers" && r.cells[1].textContent === "3")`)
	// leaderIs matches the election pill naming a leader with a term.
	leaderIs := func(cond string) string {
		return `(m => m !== null && (` + cond + `))(document.getElementById("election").textContent.match(/^leader (\S+) · term (\d+) · this node: (leader|follower)$/))`
	}
	waitFor("a leader and its term", leaderIs(`m[2] > 0`))
	waitFor("the chart's two lines", `document.querySelectorAll("#chart polyline").length === 2`)

	// The hostile global name shows as text, and nothing ran or rendered.
	waitFor("the hostile global name as text",
		fmt.Sprintf(`Array.from(document.querySelectorAll("#globals tbody td")).some(td => td.textContent === %q)`, evilName))
	injected, err := chromedp.Run(browser, chromedp.Evaluate[bool](`window.__pwned === 1 || document.querySelector("main img") !== null`))
	if err != nil || injected {
		t.Fatalf("markup from a name reached the page (injected %v, err %v)", injected, err)
	}

	victim.cmd.Process.Signal(syscall.SIGKILL)
	waitFor("obs3 dead", memberState("obs3@localhost")+` === "dead"`)
	waitFor("obs3 disconnected and two alive",
		`Array.from(document.querySelectorAll("#members tbody tr")).some(r => r.dataset.node === "obs3@localhost" && r.cells[3].textContent === "no") && `+
			`document.querySelectorAll('#members tbody tr[data-state="alive"]').length === 2 && `+
			`document.querySelectorAll("#connections tbody tr[data-node]").length === 1`)
	// If obs3 led, the other two elect a new leader.
	waitFor("a leader other than obs3", leaderIs(`m[1] !== "obs3@localhost"`))

	ctx, cancel := context.WithTimeout(browser, distributetest.Scale(30*time.Second))
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot is not a PNG (%d bytes)", len(png))
	}
	path := filepath.Join(artifactDir(t), "observer.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("observer page screenshot (obs3 killed, shown dead): %s", path)
}
