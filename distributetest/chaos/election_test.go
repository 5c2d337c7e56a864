package chaos

import (
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

var (
	electionOnce sync.Once
	electionFlag bool
)

// newElectionCluster is New with Election set, after checking that the
// node command has --election (a command without it fails the test).
func newElectionCluster(t testing.TB, opts Options) *Cluster {
	t.Helper()
	RequireNetns(t)
	bin := Binary(t)
	electionOnce.Do(func() {
		out, _ := exec.Command(bin, "node", "--help").CombinedOutput()
		electionFlag = strings.Contains(string(out), "--election")
	})
	if !electionFlag {
		t.Fatalf("%s node --help lists no --election flag", bin)
	}
	opts.Election = true
	return New(t, opts)
}

// mustLeader waits until the nodes among agree on one leader.
func mustLeader(t testing.TB, c *Cluster, among ...int) (int, uint64) {
	t.Helper()
	l, term, err := c.WaitLeader(among)
	if err != nil {
		t.Fatal(err)
	}
	c.CheckSafety(t)
	c.Logf("%s leads term %d, agreed by %s", c.Node(l).Name, term, c.names(among))
	return l, term
}

func all(c *Cluster) []int {
	var s []int
	for i := range c.Len() {
		s = append(s, i)
	}
	return s
}

func others(c *Cluster, skip ...int) []int {
	var s []int
	for i := range c.Len() {
		if !contains(skip, i) {
			s = append(s, i)
		}
	}
	return s
}

// claimsBy returns the terms node claimed at or after since.
func claimsBy(c *Cluster, node string, since time.Time) []uint64 {
	var terms []uint64
	for _, cl := range c.Recorder().Claims() {
		if cl.Node == node && !cl.Time.Before(since) {
			terms = append(terms, cl.Term)
		}
	}
	return terms
}

// TestElectionKillAndPartition: three voters elect one leader and agree
// on it; SIGKILL of the leader elects another in a higher term; a leader
// cut off into a minority steps down while the majority elects a new one
// in a higher term; after healing there is exactly one leader and all
// agree.
func TestElectionKillAndPartition(t *testing.T) {
	c := newElectionCluster(t, Options{Nodes: 3})
	c.StartAll()
	l1, t1 := mustLeader(t, c, all(c)...)
	if t1 == 0 {
		t.Fatalf("leader %s in term 0", c.Node(l1).Name)
	}

	c.Kill(l1)
	l2, t2 := mustLeader(t, c, others(c, l1)...)
	if l2 == l1 || t2 <= t1 {
		t.Fatalf("after SIGKILL of %s (term %d): leader %s term %d; want another node in a higher term", c.Node(l1).Name, t1, c.Node(l2).Name, t2)
	}

	c.Start(l1)
	l3, t3 := mustLeader(t, c, all(c)...)
	if t3 < t2 {
		t.Fatalf("term went back from %d to %d", t2, t3)
	}

	c.Partition([]int{l3})
	s, err := c.WaitNotLeader(l3)
	if err != nil {
		t.Fatal(err)
	}
	c.Logf("%s cut off: now %s in term %d", c.Node(l3).Name, s.State, s.Term)
	l4, t4 := mustLeader(t, c, others(c, l3)...)
	if l4 == l3 || t4 <= t3 {
		t.Fatalf("majority after partition: leader %s term %d; want another node than %s in a term above %d", c.Node(l4).Name, t4, c.Node(l3).Name, t3)
	}
	// Pre-vote: the cut-off node asks for pre-votes, gets none, and keeps
	// its term. Watched for several election timeouts, during which it
	// would raise its term at each one without pre-vote.
	window := distributetest.Scale(3 * time.Second)
	for end := time.Now().Add(window); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if m, err := c.Status(l3); err == nil && m.Term != s.Term {
			t.Fatalf("%s, cut off, moved from term %d to %d: a partitioned minority's term must stay flat (pre-vote)", c.Node(l3).Name, s.Term, m.Term)
		}
	}
	c.Logf("%s stayed at term %d for %v while cut off", c.Node(l3).Name, s.Term, window)

	c.Heal()
	_, t5 := mustLeader(t, c, all(c)...)
	if t5 < t4 {
		t.Fatalf("term went back from %d to %d after heal", t4, t5)
	}
	c.CheckSafety(t)
	t.Logf("terms: first %d, after kill %d, after partition %d, after heal %d; %d observations, %d claims",
		t1, t2, t4, t5, c.Recorder().Observations(), len(c.Recorder().Claims()))
}

// firstStableStatus polls node i's /election until it gives a stable read.
func firstStableStatus(t testing.TB, c *Cluster, i int) Status {
	t.Helper()
	deadline := time.Now().Add(c.Options().Bound)
	for {
		s, err := c.Status(i)
		if err == nil && s.Stable {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stable read of %s within %v: %+v %v", c.Node(i).Name, c.Options().Bound, s, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestElectionRestartKeepsState: a voter restarted with its data dir
// comes back with its term (not 0, not lower: the term and vote are read
// from disk) and rejoins the same cluster; the whole cluster crashed and
// restarted elects again in a higher term without bootstrapping anew; a
// node whose data dir was wiped (a follower, then the leader) never claims
// leadership of a cluster of its own and joins the existing one.
func TestElectionRestartKeepsState(t *testing.T) {
	c := newElectionCluster(t, Options{Nodes: 3})
	c.StartAll()
	l, term := mustLeader(t, c, all(c)...)

	// A follower restarted with its data dir.
	f := others(c, l)[0]
	before := firstStableStatus(t, c, f)
	c.Restart(f)
	after := firstStableStatus(t, c, f)
	c.Logf("%s: term %d before restart, %d on its first read after", c.Node(f).Name, before.Term, after.Term)
	if after.Term == 0 || after.Term < before.Term {
		t.Fatalf("%s restarted with its data dir: term %d, before %d; want the term kept", c.Node(f).Name, after.Term, before.Term)
	}
	_, t2 := mustLeader(t, c, all(c)...)
	if t2 < term {
		t.Fatalf("term went back from %d to %d", term, t2)
	}

	// Every node crashes; all come back with their data dirs: each keeps
	// its term, and they elect in a higher term (a fresh bootstrap would
	// start over at term 1 and claim terms already claimed).
	var terms []uint64
	for i := range c.Len() {
		terms = append(terms, firstStableStatus(t, c, i).Term)
	}
	for i := range c.Len() {
		c.Kill(i)
	}
	c.StartAll()
	for i := range c.Len() {
		s := firstStableStatus(t, c, i)
		if s.Term == 0 || s.Term < terms[i] {
			t.Fatalf("after a full restart %s reads term %d; before %d", c.Node(i).Name, s.Term, terms[i])
		}
	}
	l3, t3 := mustLeader(t, c, all(c)...)
	if t3 <= t2 {
		t.Fatalf("after a full restart: term %d; want above %d", t3, t2)
	}

	// A follower with a wiped data dir: it must not bootstrap a second
	// cluster; it joins this one (the leader's term, no claim of its own).
	w := others(c, l3)[0]
	since := time.Now()
	c.RestartWiped(w)
	_, t4 := mustLeader(t, c, all(c)...)
	if t4 < t3 {
		t.Fatalf("term went back from %d to %d after a wiped restart", t3, t4)
	}
	if got := claimsBy(c, c.Node(w).Name, since); len(got) > 0 {
		t.Fatalf("%s with a wiped data dir claimed leadership of terms %v", c.Node(w).Name, got)
	}
	s := firstStableStatus(t, c, w)
	if s.Term < t3 {
		t.Fatalf("wiped %s is at term %d; the cluster at %d", c.Node(w).Name, s.Term, t3)
	}

	// The leader crashes and comes back wiped: the other two elect, and
	// it follows them.
	l4, _ := mustLeader(t, c, all(c)...)
	since = time.Now()
	c.Kill(l4)
	l5, t5 := mustLeader(t, c, others(c, l4)...)
	c.RestartWiped(l4)
	l6, t6 := mustLeader(t, c, all(c)...)
	if l6 == l4 {
		// It may only lead after it rejoined and won an election in a
		// term of this cluster: its claims must be above t5.
		for _, term := range claimsBy(c, c.Node(l4).Name, since) {
			if term <= t5 {
				t.Fatalf("wiped %s claimed term %d, not above the cluster's %d", c.Node(l4).Name, term, t5)
			}
		}
	}
	c.CheckSafety(t)
	t.Logf("terms: %d, %d, full restart %d, wiped follower %d, leader %s killed -> %s term %d -> wiped rejoin: %s term %d",
		term, t2, t3, t4, c.Node(l4).Name, c.Node(l5).Name, t5, c.Node(l6).Name, t6)
}

// TestElectionWipedMajorityDoesNotBootstrap: the leader and a follower
// crash and come back with wiped data dirs while the third node keeps its
// state. The two wiped nodes see three alive election members, enough to
// bootstrap by count, but a peer reports Raft state, so they must not
// form a cluster of their own: the first leader after the restart is the
// node with state, in a term above the old one. A wiped node may lead
// later (Raft elects only a candidate whose log is as complete as a
// majority's, so by then it holds the survivor's log); it never leads
// first.
func TestElectionWipedMajorityDoesNotBootstrap(t *testing.T) {
	c := newElectionCluster(t, Options{Nodes: 3})
	c.StartAll()
	l, term := mustLeader(t, c, all(c)...)
	f := others(c, l)
	wiped, survivor := []int{l, f[0]}, f[1]
	since := time.Now()
	for _, i := range wiped {
		c.Kill(i)
		c.Wipe(i)
	}
	for _, i := range wiped {
		c.Start(i)
	}
	l2, t2 := mustLeader(t, c, all(c)...)
	if t2 <= term {
		t.Fatalf("after wiping %s and %s: %s leads term %d; want a term above %d",
			c.Node(wiped[0]).Name, c.Node(wiped[1]).Name, c.Node(l2).Name, t2, term)
	}
	// Claims come sorted by term: the first one after the restart.
	var first *Claim
	for _, cl := range c.Recorder().Claims() {
		if cl.Term > term && !cl.Time.Before(since) {
			first = &cl
			break
		}
	}
	if first == nil || first.Node != c.Node(survivor).Name {
		t.Fatalf("after wiping %s and %s, the first leader was %+v; want %s (the only node with state)",
			c.Node(wiped[0]).Name, c.Node(wiped[1]).Name, first, c.Node(survivor).Name)
	}
	c.CheckSafety(t)
}

// TestElectionGracefulStop: SIGTERM to the leader stops its node
// gracefully (exit 0), handing leadership over (DESIGN decision 13): the
// others agree on a new leader in a higher term, and the node comes back
// as a follower of the same cluster.
func TestElectionGracefulStop(t *testing.T) {
	c := newElectionCluster(t, Options{Nodes: 3})
	c.StartAll()
	l, term := mustLeader(t, c, all(c)...)
	name := c.Node(l).Name
	t0 := time.Now()
	if code := c.Term(l); code != 0 {
		t.Fatalf("%s exited %d after SIGTERM; want 0", name, code)
	}
	exited := time.Since(t0)
	cl, ok := c.Recorder().WaitClaim(c.Options().Bound, func(cl Claim) bool { return cl.Term > term && cl.Node != name })
	if !ok {
		t.Fatalf("no other node claimed a term above %d within %v of stopping %s", term, c.Options().Bound, name)
	}
	l2, t2 := mustLeader(t, c, others(c, l)...)
	if l2 == l || t2 <= term {
		t.Fatalf("after the graceful stop of %s (term %d): %s leads term %d", name, term, c.Node(l2).Name, t2)
	}
	t.Logf("SIGTERM to %s: exited after %v; %s claimed term %d after %v", name, exited.Round(time.Millisecond), cl.Node, cl.Term, cl.Time.Sub(t0).Round(time.Millisecond))
	c.Start(l)
	if _, t3 := mustLeader(t, c, all(c)...); t3 < t2 {
		t.Fatalf("term went back from %d to %d", t2, t3)
	}
}
