package election

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/membership"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

const testCookie = "election-test-cookie"

var seq atomic.Int64

// logRecorder is a slog handler that keeps every message (and passes
// them to stderr with ELECTION_TEST_LOG set).
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
	out  slog.Handler
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(ctx context.Context, rec slog.Record) error {
	r.add(rec)
	if r.out != nil {
		return r.out.Handle(ctx, rec)
	}
	return nil
}
func (r *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	if r.out == nil {
		return r
	}
	return &logChild{r, r.out.WithAttrs(as)}
}
func (r *logRecorder) WithGroup(string) slog.Handler { return r }

// logChild shares its parent's message list.
type logChild struct {
	r   *logRecorder
	out slog.Handler
}

func (c *logChild) Enabled(context.Context, slog.Level) bool { return true }
func (c *logChild) Handle(ctx context.Context, rec slog.Record) error {
	c.r.add(rec)
	return c.out.Handle(ctx, rec)
}
func (c *logChild) WithAttrs(as []slog.Attr) slog.Handler { return &logChild{c.r, c.out.WithAttrs(as)} }
func (c *logChild) WithGroup(string) slog.Handler         { return c }

// add keeps the message, then its attributes.
func (r *logRecorder) add(rec slog.Record) {
	var b strings.Builder
	b.WriteString(rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	r.msgs = append(r.msgs, b.String())
	r.mu.Unlock()
}

// dump logs the recorded messages (for a failing test).
func (r *logRecorder) dump(t testing.TB, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		t.Logf("%s: %s", name, m)
	}
}

func (r *logRecorder) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

func newRecorder(name string) *logRecorder {
	r := &logRecorder{}
	if os.Getenv("ELECTION_TEST_LOG") != "" {
		r.out = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}).WithAttrs([]slog.Attr{slog.String("n", name)})
	}
	return r
}

// member is one node of a test cluster: distribution, membership, election.
type member struct {
	t      testing.TB
	name   string
	dir    string
	expect int
	epmd   int
	tls    *tls.Config // the distribution's, which Raft travels over
	grace  time.Duration
	timing Timing // default Local()
	lan    bool   // membership.LAN() instead of Local()
	meters metric.MeterProvider
	log    *logRecorder
	node   *distribute.Node
	ms     *membership.Membership
	el     *Election
	down   bool
}

func newName(prefix string) string {
	return fmt.Sprintf("%s%d_%d@localhost", prefix, os.Getpid(), seq.Add(1))
}

// start starts (or restarts) m and joins it to the gossip address seeds.
func (m *member) start(seeds ...string) {
	t := m.t
	t.Helper()
	ctx := context.Background()
	m.log = newRecorder(m.name)
	logger := slog.New(m.log)
	n, err := distribute.Start(ctx, distribute.Config{Name: m.name, Cookie: testCookie, EpmdPort: m.epmd, ListenAddr: "127.0.0.1:0", MeterProvider: m.meters, TLS: m.tls})
	if err != nil {
		t.Fatal(err)
	}
	profile := membership.Local()
	if m.lan {
		profile = membership.LAN()
	}
	ms, err := membership.Start(ctx, n, membership.Config{Cookie: testCookie, Profile: profile})
	if err != nil {
		n.Stop(ctx)
		t.Fatal(err)
	}
	if len(seeds) > 0 {
		if _, err := ms.Join(ctx, seeds...); err != nil {
			ms.Stop(ctx)
			n.Stop(ctx)
			t.Fatal(err)
		}
	}
	timing := Local()
	if m.timing != (Timing{}) {
		timing = m.timing
	}
	el, err := Start(ctx, n, Config{Expect: m.expect, DataDir: m.dir, Membership: ms, Timing: timing, Logger: logger, RemoveGrace: m.grace})
	if err != nil {
		ms.Stop(ctx)
		n.Stop(ctx)
		t.Fatal(err)
	}
	m.node, m.ms, m.el, m.down = n, ms, el, false
}

// stop stops m: gracefully (leadership transfer), or as close to a crash
// as one process allows (Raft and its transport shut down without a
// transfer, then the node).
func (m *member) stop(graceful bool) {
	if m.down {
		return
	}
	ctx := context.Background()
	var err error
	if graceful {
		err = m.el.Stop(ctx)
	} else {
		err = m.el.stop(ctx, false)
	}
	if err != nil {
		m.t.Errorf("%s: election stop: %v", m.name, err)
	}
	m.ms.Stop(ctx)
	m.node.Stop(ctx)
	m.down = true
}

// startCluster starts n members (named in order) expecting expect voters.
func startCluster(t *testing.T, n, expect int) []*member {
	t.Helper()
	return startClusterWith(t, n, expect, nil)
}

// startClusterWith is startCluster with setup called on each member
// before it starts.
func startClusterWith(t *testing.T, n, expect int, setup func(*member)) []*member {
	t.Helper()
	epmd := distributetest.StartEpmd(t)
	prefix := fmt.Sprintf("e%d", seq.Add(1))
	var ms []*member
	for i := range n {
		m := &member{t: t, name: fmt.Sprintf("%s_%c@localhost", prefix, 'a'+i), dir: t.TempDir(), expect: expect, epmd: epmd}
		if setup != nil {
			setup(m)
		}
		var seeds []string
		if i > 0 {
			seeds = []string{ms[0].ms.GossipAddr()}
		}
		m.start(seeds...)
		ms = append(ms, m)
	}
	t.Cleanup(func() {
		for _, m := range ms {
			m.stop(false)
		}
	})
	return ms
}

// agreed waits until every running member of ms names the same leader
// with the same term, the leader says it is leader, and the term is above
// minTerm; it returns the leader's member and the term.
func agreed(t testing.TB, ms []*member, minTerm uint64) (*member, uint64) {
	t.Helper()
	var leader *member
	var term uint64
	distributetest.WaitFor(t, "one leader all members agree on", func() bool {
		leader, term = nil, 0
		var name distribute.Atom
		for _, m := range ms {
			if m.down {
				continue
			}
			l, tm, ok := m.el.Leader()
			if !ok || tm <= minTerm || (name != "" && (l != name || tm != term)) {
				return false
			}
			name, term = l, tm
		}
		for _, m := range ms {
			if !m.down && distribute.Atom(m.name) == name {
				leader = m
			}
		}
		if leader == nil {
			return false
		}
		st := leader.el.Status()
		return st.Stable && st.State == Leader && st.Term == term
	})
	return leader, term
}

// sameCluster waits until every running member of ms knows the same
// cluster identity, and returns it.
func sameCluster(t testing.TB, ms []*member) string {
	t.Helper()
	var id string
	distributetest.WaitFor(t, "one cluster identity all members know", func() bool {
		id = ""
		for _, m := range ms {
			if m.down {
				continue
			}
			c := m.el.Cluster()
			if c == "" || (id != "" && c != id) {
				return false
			}
			id = c
		}
		return id != ""
	})
	return id
}

// onlyLeader checks that exactly one running member is in state Leader.
func onlyLeader(t testing.TB, ms []*member, want *member) {
	t.Helper()
	for _, m := range ms {
		if m.down {
			continue
		}
		st := m.el.Status()
		if (m == want) != (st.State == Leader) {
			t.Errorf("%s: state %s (term %d); want leader %s", m.name, st.State, st.Term, want.name)
		}
	}
}

func TestThreeVotersElectAndFailOver(t *testing.T) {
	ms := startCluster(t, 3, 3)
	ctx := context.Background()
	leader, term := agreed(t, ms, 0)
	onlyLeader(t, ms, leader)
	cluster := sameCluster(t, ms)
	for _, m := range ms {
		if n := m.log.count("bootstrapped"); n > 1 {
			t.Errorf("%s bootstrapped %d times", m.name, n)
		}
	}

	got, err := leader.el.IsLeader(ctx)
	if err != nil || got != term {
		t.Fatalf("IsLeader on the leader: %d, %v; want %d, nil", got, err, term)
	}
	var follower *member
	for _, m := range ms {
		if m != leader {
			follower = m
		}
	}
	if _, err := follower.el.IsLeader(ctx); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("IsLeader on a follower: %v; want ErrNotLeader", err)
	}

	// The follower's Watch sees the current value first, then the new
	// leader after the old one crashes.
	octx, cancel := context.WithCancel(ctx)
	ch := follower.el.Watch(octx)
	if c := <-ch; c.Leader != distribute.Atom(leader.name) || c.Term != term {
		t.Fatalf("first Watch value %+v; want %s term %d", c, leader.name, term)
	}
	leader.stop(false)
	next, term2 := agreed(t, ms, term)
	if next == leader {
		t.Fatal("the crashed leader is still the leader")
	}
	onlyLeader(t, ms, next)
	deadline := time.After(distributetest.Scale(10 * time.Second))
	for seen := false; !seen; {
		select {
		case c := <-ch:
			if c.Term < term {
				t.Fatalf("Watch went back in term: %+v after term %d", c, term)
			}
			seen = c.Leader == distribute.Atom(next.name) && c.Term == term2
		case <-deadline:
			t.Fatal("Watch did not deliver the new leader")
		}
	}
	cancel()
	for range ch {
	}

	// The crashed node restarts with its data dir: its term and cluster
	// identity kept, and it rejoins.
	leader.start(next.ms.GossipAddr())
	if got := leader.el.Cluster(); got != cluster || got == "" {
		t.Errorf("restarted in cluster %q; was %q", got, cluster)
	}
	if st := leader.el.Status(); st.Term < term {
		t.Errorf("restarted with term %d; want at least %d (persisted)", st.Term, term)
	}
	_, term3 := agreed(t, ms, term2-1)
	if term3 < term2 {
		t.Errorf("term went back to %d after a rejoin", term3)
	}
	if n := leader.log.count("bootstrapped"); n != 0 {
		t.Errorf("a node with state bootstrapped again")
	}
}

func TestGracefulStopTransfersLeadership(t *testing.T) {
	ms := startCluster(t, 3, 3)
	leader, term := agreed(t, ms, 0)
	leader.stop(true)
	if leader.log.count("leadership transferred at stop") != 1 {
		t.Fatal("Stop of the leader did not transfer leadership")
	}
	next, _ := agreed(t, ms, term)
	onlyLeader(t, ms, next)
}

func TestResign(t *testing.T) {
	ms := startCluster(t, 3, 3)
	ctx := context.Background()
	leader, term := agreed(t, ms, 0)
	for _, m := range ms {
		if m != leader {
			if err := m.el.Resign(ctx); !errors.Is(err, ErrNotLeader) {
				t.Errorf("Resign on a follower: %v; want ErrNotLeader", err)
			}
			break
		}
	}
	// Every member observes; the one that becomes leader sees itself.
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	chans := map[*member]<-chan Change{}
	for _, m := range ms {
		chans[m] = m.el.Watch(octx)
	}
	if err := leader.el.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	next, term2 := agreed(t, ms, term)
	if next == leader {
		t.Fatal("the leader that resigned leads again in a higher term at once")
	}
	deadline := time.After(distributetest.Scale(10 * time.Second))
	for seen := false; !seen; {
		select {
		case c := <-chans[next]:
			seen = c == Change{Leader: distribute.Atom(next.name), Term: term2}
		case <-deadline:
			t.Fatal("the new leader's Watch did not name itself")
		}
	}
	cancel()
	for _, ch := range chans {
		for range ch {
		}
	}
}

func TestSingleVoter(t *testing.T) {
	ms := startCluster(t, 1, 1)
	leader, term := agreed(t, ms, 0)
	got, err := leader.el.IsLeader(context.Background())
	if err != nil || got != term {
		t.Fatalf("IsLeader: %d, %v; want %d, nil", got, err, term)
	}
	ms[0].stop(true)
	// Stop is idempotent, and the API answers after it.
	if err := ms[0].el.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := ms[0].el.IsLeader(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("IsLeader after Stop: %v; want ErrClosed", err)
	}
	if err := ms[0].el.Resign(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Resign after Stop: %v; want ErrClosed", err)
	}
	if st := ms[0].el.Status(); st.State != Shutdown {
		t.Fatalf("Status after Stop: %+v; want state shutdown", st)
	}
	if _, ok := <-ms[0].el.Watch(context.Background()); ok {
		t.Fatal("Watch after Stop delivered a value")
	}
}

func TestWipedDataDirRejoinsWithoutBootstrap(t *testing.T) {
	ms := startCluster(t, 3, 3)
	leader, term := agreed(t, ms, 0)
	var f *member
	for _, m := range ms {
		if m != leader {
			f = m
			break
		}
	}
	f.stop(false)
	f.dir = t.TempDir() // wiped
	f.start(leader.ms.GossipAddr())
	_, term2 := agreed(t, ms, 0)
	if term2 < term {
		t.Fatalf("term %d after the rejoin; was %d", term2, term)
	}
	if n := f.log.count("bootstrapped"); n != 0 {
		t.Fatal("a node with a wiped data dir bootstrapped")
	}
	// The leader's log brings the configuration back.
	distributetest.WaitFor(t, "the rejoined node to have the 3-server configuration", func() bool {
		return len(servers(t, f)) == 3
	})
	if n := f.log.count("bootstrapped"); n != 0 {
		t.Fatal("a node with a wiped data dir bootstrapped")
	}
}

// A newcomer without state never bootstraps while a peer has Raft state,
// even when nobody can add it yet (no quorum), and the leader adds it
// once there is one.
func TestNoBootstrapWhilePeerHasState(t *testing.T) {
	ms := startCluster(t, 3, 3)
	agreed(t, ms, 0)
	ms[1].stop(false)
	ms[2].stop(false)
	// ms[0] alone: no quorum, no leader can add anyone. A newcomer named
	// before it, expecting a single voter, would bootstrap alone if it did
	// not ask its peers.
	name := ms[0].name
	nc := &member{t: t, name: strings.Replace(name, "_a@", "_0@", 1), dir: t.TempDir(), expect: 1, epmd: ms[0].epmd}
	nc.start(ms[0].ms.GossipAddr())
	t.Cleanup(func() { nc.stop(false) })
	t.Cleanup(func() {
		if t.Failed() {
			nc.log.dump(t, "newcomer")
		}
	})
	// Either it asks and finds a peer with state, or the old leader, not
	// yet stepped down, reached it first with its log (then it has state
	// without having bootstrapped); the check below tells the two apart.
	distributetest.WaitFor(t, "the newcomer to find a peer with state", func() bool {
		return nc.log.count("bootstrap: a peer has Raft state") > 0 || nc.el.hasState()
	})
	if nc.log.count("bootstrapped") != 0 {
		t.Fatal("the newcomer bootstrapped while a peer had Raft state")
	}
	ms[1].start(ms[0].ms.GossipAddr())
	all := append([]*member{nc}, ms...)
	agreed(t, all, 0)
	distributetest.WaitFor(t, "the leader to add the newcomer as a voter", func() bool {
		cf := nc.el.raft.GetConfiguration()
		if cf.Error() != nil {
			return false
		}
		for _, s := range cf.Configuration().Servers {
			if string(s.ID) == nc.name {
				return true
			}
		}
		return false
	})
	if nc.log.count("bootstrapped") != 0 {
		t.Fatal("the newcomer bootstrapped")
	}
}

func TestConfigErrors(t *testing.T) {
	epmd := distributetest.StartEpmd(t)
	ctx := context.Background()
	n, err := distribute.Start(ctx, distribute.Config{Name: newName("cfg"), Cookie: testCookie, EpmdPort: epmd, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop(ctx)
	ms, err := membership.Start(ctx, n, membership.Config{Cookie: testCookie, Profile: membership.Local()})
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Stop(ctx)
	dir := t.TempDir()
	bad := Local()
	bad.LeaderLeaseTimeout = bad.HeartbeatTimeout + 1
	for _, tc := range []struct {
		name string
		node *distribute.Node
		cfg  Config
	}{
		{"nil node", nil, Config{Expect: 1, DataDir: dir, Membership: ms}},
		{"no expect", n, Config{DataDir: dir, Membership: ms}},
		{"no data dir", n, Config{Expect: 1, Membership: ms}},
		{"no membership", n, Config{Expect: 1, DataDir: dir}},
		{"lease above heartbeat", n, Config{Expect: 1, DataDir: dir, Membership: ms, Timing: bad}},
		{"negative grace", n, Config{Expect: 1, DataDir: dir, Membership: ms, RemoveGrace: -1}},
	} {
		e, err := Start(ctx, tc.node, tc.cfg)
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v; want ErrConfig", tc.name, err)
		}
		if e != nil {
			e.Stop(ctx)
		}
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{Follower: "follower", Candidate: "candidate", Leader: "leader", Shutdown: "shutdown", 9: "state(9)"} {
		if got := s.String(); got != want {
			t.Errorf("%d: got %q; want %q", s, got, want)
		}
	}
}

// With TLS on the distribution, Raft travels over it: the cluster elects
// with no port of its own.
func TestRaftOverTLSDistribution(t *testing.T) {
	ca := distributetest.NewCA(t)
	leaf := ca.Issue(t, "localhost", "127.0.0.1")
	ms := startClusterWith(t, 3, 3, func(m *member) { m.tls = ca.MutualTLS(leaf) })
	leader, term := agreed(t, ms, 0)
	if got, err := leader.el.IsLeader(context.Background()); err != nil || got != term {
		t.Fatalf("IsLeader over TLS: %d, %v", got, err)
	}
}

func servers(t testing.TB, m *member) []string {
	t.Helper()
	cf := m.el.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range cf.Configuration().Servers {
		out = append(out, string(s.ID))
	}
	return out
}

// The leader adds a member that was not in the bootstrap set, removes a
// voter gone for RemoveGrace, and never goes below Expect voters.
func TestLeaderAddsAndRemovesVoters(t *testing.T) {
	short := func(m *member) { m.grace = time.Millisecond }
	ms := startClusterWith(t, 3, 3, short)
	leader, _ := agreed(t, ms, 0)
	// A follower may know the leader (a heartbeat) before the entries
	// that carry the configuration reach it.
	for _, m := range ms {
		distributetest.WaitFor(t, m.name+" to hold the 3-server configuration", func() bool { return len(servers(t, m)) == 3 })
	}
	// A fourth member (last by name, so outside the bootstrap set) is
	// added as a voter.
	d := &member{t: t, name: strings.Replace(ms[2].name, "_c@", "_d@", 1), dir: t.TempDir(), expect: 3, epmd: ms[0].epmd, grace: time.Millisecond}
	d.start(leader.ms.GossipAddr())
	t.Cleanup(func() { d.stop(false) })
	all := append(slices.Clone(ms), d)
	distributetest.WaitFor(t, "the leader to add the fourth member", func() bool {
		return slices.Contains(servers(t, leader), d.name)
	})
	if d.log.count("bootstrapped") != 0 {
		t.Fatal("a member outside the bootstrap set bootstrapped")
	}
	leader, _ = agreed(t, all, 0)

	// A follower that left is removed after the grace: 3 voters remain.
	var rest []*member
	for _, m := range all {
		if m != leader {
			rest = append(rest, m)
		}
	}
	victim := rest[0]
	victim.stop(false)
	distributetest.WaitFor(t, "the leader to remove the voter that left", func() bool {
		return !slices.Contains(servers(t, leader), victim.name)
	})
	// At Expect voters, a gone voter is kept.
	victim2 := rest[1]
	victim2.stop(false)
	distributetest.WaitFor(t, "the leader to keep a gone voter at Expect", func() bool {
		return leader.log.count("keeping a gone voter") > 0
	})
	if got := servers(t, leader); len(got) != 3 || !slices.Contains(got, victim2.name) {
		t.Fatalf("configuration %v; want 3 servers with %s", got, victim2.name)
	}
}

func TestRaftLogsRouted(t *testing.T) {
	r := newRecorder("log")
	var levels []slog.Level
	var mu sync.Mutex
	h := &levelSpy{r: r, levels: &levels, mu: &mu}
	l := newHCLog(slog.New(h))
	l.Error("failed to heartbeat to", "peer", "x")
	l.Error("failed to contact quorum of nodes, stepping down")
	l.Named("transport").Info("accepted connection")
	l.StandardLogger(nil).Print("[WARN] from a std logger")
	// Routine at start (before bootstrap) and in every election: Info.
	l.Warn("no known peers, aborting election")
	l.Warn("heartbeat timeout reached, starting election", "last-leader-id", "y")
	want := []slog.Level{slog.LevelDebug, slog.LevelError, slog.LevelInfo, slog.LevelWarn, slog.LevelInfo, slog.LevelInfo}
	if !slices.Equal(levels, want) {
		t.Fatalf("levels %v; want %v", levels, want)
	}
	if r.count("from a std logger") != 1 || r.count("failed to heartbeat to peer=x") != 1 {
		t.Fatalf("messages: %q", r.msgs)
	}
}

// levelSpy records each record's level and passes it to a recorder.
type levelSpy struct {
	r      *logRecorder
	levels *[]slog.Level
	mu     *sync.Mutex
}

func (s *levelSpy) Enabled(context.Context, slog.Level) bool { return true }
func (s *levelSpy) Handle(ctx context.Context, rec slog.Record) error {
	s.mu.Lock()
	*s.levels = append(*s.levels, rec.Level)
	s.mu.Unlock()
	s.r.add(rec)
	return nil
}
func (s *levelSpy) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *levelSpy) WithGroup(string) slog.Handler      { return s }

// TestLeaderChangesMetric: the leader changes a node sees are counted in
// distribute.election.leader_changes, by whether it is the leader.
func TestLeaderChangesMetric(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	ms := startClusterWith(t, 1, 1, func(m *member) { m.meters = mp })
	agreed(t, ms, 0)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var self int64
	found := false
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "distribute.election.leader_changes" {
				continue
			}
			found = true
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				if v, ok := dp.Attributes.Value(attribute.Key("self")); ok && v.AsBool() {
					self += dp.Value
				}
			}
		}
	}
	if !found || self < 1 {
		t.Fatalf("leader_changes found=%v self=%d; want the node's own leadership counted", found, self)
	}
}
