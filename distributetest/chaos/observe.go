package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Status is a node's view of the election, as GET /election returns it.
type Status struct {
	Node   string `json:"node"`
	State  string `json:"state"` // follower, candidate, leader, shutdown
	Term   uint64 `json:"term"`
	Leader string `json:"leader"` // "" when no leader is known
	Stable bool   `json:"stable"` // the term did not move during the read
}

// Observation is one recorded view of a node.
type Observation struct {
	Time   time.Time // when the answer came
	Asked  time.Time // when the read was sent (zero for stdout lines)
	Node   string
	Source string // "http" (GET /election) or "stdout" (event leader line)
	Status
}

// Claim is a node claiming leadership of a term.
type Claim struct {
	Node   string
	Term   uint64
	Source string
	Time   time.Time
}

// Recorder keeps every observation (in a file) and every leadership
// claim, and reports a safety violation as soon as two nodes claim the
// same term, a node's term goes back (per node and source: its /election
// reads, its `event leader` lines), or two observations pair one term
// with two different leaders. It is safe for concurrent use.
type Recorder struct {
	path string

	mu         sync.Mutex
	file       *os.File
	claims     map[uint64]map[string]Claim
	terms      map[string]seen      // by node and source: the last term read
	pairs      map[uint64]seen      // by term: the first leader named for it
	forgot     map[string]time.Time // by node: when its data dir was wiped
	violations []string
	events     []string
	count      int
	notify     chan struct{} // closed and replaced on every new claim
}

// seen is one observation kept for the term and pair checks: the node
// held Term (and Leader) at some moment between Asked and Time.
type seen struct {
	Node   string // who said it
	Source string
	Term   uint64
	Leader string
	Asked  time.Time
	Time   time.Time
}

func (s seen) String() string {
	return fmt.Sprintf("%s via %s at %s", s.Node, s.Source, s.Time.Format("15:04:05.000"))
}

func newRecorder(path string) (*Recorder, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &Recorder{path: path, file: f, claims: map[uint64]map[string]Claim{}, terms: map[string]seen{}, pairs: map[uint64]seen{}, forgot: map[string]time.Time{}, notify: make(chan struct{})}, nil
}

func (r *Recorder) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.file.Close()
}

// event appends a line to the harness's event log.
func (r *Recorder) event(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	line := time.Now().Format("15:04:05.000") + " " + msg
	r.events = append(r.events, line)
	fmt.Fprintf(r.file, "%s EVENT %s\n", time.Now().Format("15:04:05.000000"), msg)
}

// Events returns the harness's event log.
func (r *Recorder) Events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

// observe records a stable or unstable read; a stable read of a leader is
// a claim. Every read's term is checked against the node's last one; a
// stable read naming a leader is checked against the pairs seen.
func (r *Recorder) observe(o Observation) {
	r.mu.Lock()
	r.count++
	fmt.Fprintf(r.file, "%s %s %s state=%s term=%d leader=%s stable=%v\n",
		o.Time.Format("15:04:05.000000"), o.Node, o.Source, o.State, o.Term, o.Leader, o.Stable)
	s := seen{Node: o.Node, Source: o.Source, Term: o.Term, Leader: o.Leader, Asked: o.Asked, Time: o.Time}
	if s.Asked.IsZero() {
		s.Asked = s.Time
	}
	r.termLocked(s)
	if o.Stable {
		r.pairLocked(s)
	}
	r.mu.Unlock()
	if o.Stable && o.State == "leader" && o.Node != "" {
		r.claim(o.Node, o.Term, o.Source, o.Time)
	}
}

// leaderLine records a node's `event leader LEADER TERM` line: the
// node's term, and a (leader, term) pair.
func (r *Recorder) leaderLine(node, leader string, term uint64, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := seen{Node: node, Source: "stdout", Term: term, Leader: leader, Asked: at, Time: at}
	r.termLocked(s)
	r.pairLocked(s)
}

// termLocked flags a term lower than one the same node gave earlier
// through the same source: reads that overlap in time (the poller's and
// a test's) may come back in either order, so a lower term counts only
// when it was asked for after the higher one was answered.
func (r *Recorder) termLocked(s seen) {
	if s.Asked.Before(r.forgot[s.Node]) {
		return // read from the process before the wipe
	}
	key := s.Node + " " + s.Source
	last, ok := r.terms[key]
	if ok && s.Term < last.Term && s.Asked.After(last.Time) {
		r.violations = append(r.violations, fmt.Sprintf(
			"%s's term went back from %d (%s) to %d (%s)", s.Node, last.Term, last, s.Term, s))
	}
	if !ok || s.Term > last.Term {
		r.terms[key] = s
	}
}

// pairLocked flags a term named with two different leaders.
func (r *Recorder) pairLocked(s seen) {
	if s.Leader == "" {
		return
	}
	first, ok := r.pairs[s.Term]
	if !ok {
		r.pairs[s.Term] = s
		return
	}
	if first.Leader != s.Leader {
		r.violations = append(r.violations, fmt.Sprintf(
			"term %d paired with two leaders: %s (%s) and %s (%s)", s.Term, first.Leader, first, s.Leader, s))
		r.pairs[s.Term] = s // report each further flip once
	}
}

// forgetNode forgets node's last terms: its data dir was wiped, and it
// starts over from term 0.
func (r *Recorder) forgetNode(node string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key := range r.terms {
		if strings.HasPrefix(key, node+" ") {
			delete(r.terms, key)
		}
	}
	r.forgot[node] = time.Now()
	fmt.Fprintf(r.file, "%s FORGET %s (data dir wiped: its terms start over)\n", time.Now().Format("15:04:05.000000"), node)
}

// claim records that node claimed leadership of term.
func (r *Recorder) claim(node string, term uint64, source string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if source == "stdout" {
		fmt.Fprintf(r.file, "%s %s stdout event leader %s %d\n", at.Format("15:04:05.000000"), node, node, term)
	}
	byNode := r.claims[term]
	if byNode == nil {
		byNode = map[string]Claim{}
		r.claims[term] = byNode
	}
	if _, ok := byNode[node]; ok {
		return
	}
	c := Claim{Node: node, Term: term, Source: source, Time: at}
	for _, other := range byNode {
		r.violations = append(r.violations, fmt.Sprintf(
			"term %d has two leaders: %s (%s at %s) and %s (%s at %s)", term,
			other.Node, other.Source, other.Time.Format("15:04:05.000"),
			node, source, at.Format("15:04:05.000")))
	}
	byNode[node] = c
	close(r.notify)
	r.notify = make(chan struct{})
}

// WaitClaim waits up to d for a claim (already recorded or new) for which
// match is true, and returns the earliest such claim seen.
func (r *Recorder) WaitClaim(d time.Duration, match func(Claim) bool) (Claim, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		var best Claim
		found := false
		r.mu.Lock()
		for _, byNode := range r.claims {
			for _, c := range byNode {
				if match(c) && (!found || c.Time.Before(best.Time)) {
					best, found = c, true
				}
			}
		}
		ch := r.notify
		r.mu.Unlock()
		if found {
			return best, true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return Claim{}, false
		}
	}
}

// Reset forgets the claims, terms and pairs (not the violations): call it
// when every node's data dir was wiped, since a new cluster starts its
// terms over.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.claims = map[uint64]map[string]Claim{}
	r.terms = map[string]seen{}
	r.pairs = map[uint64]seen{}
	fmt.Fprintf(r.file, "%s RESET (a new cluster: claims forgotten)\n", time.Now().Format("15:04:05.000000"))
}

// Violations returns the safety violations seen so far: terms claimed by
// two different nodes, terms that went back, terms paired with two
// leaders.
func (r *Recorder) Violations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.violations...)
}

// Claims returns every claim, by term then node.
func (r *Recorder) Claims() []Claim {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Claim
	for _, byNode := range r.claims {
		for _, c := range byNode {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Term != out[j].Term {
			return out[i].Term < out[j].Term
		}
		return out[i].Node < out[j].Node
	})
	return out
}

// Observations is how many reads were recorded.
func (r *Recorder) Observations() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}

// poll reads node n's /election every PollInterval while it is live,
// until the cluster is cleaned up.
func (c *Cluster) poll(n *Node) {
	defer c.wg.Done()
	tick := time.NewTicker(c.opts.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tick.C:
		}
		if c.Live(n.Index) {
			c.status(n)
		}
	}
}

// Status reads node i's /election once (and records it).
func (c *Cluster) Status(i int) (Status, error) { return c.status(c.nodes[i]) }

func (c *Cluster) status(n *Node) (Status, error) {
	asked := time.Now()
	req, err := http.NewRequestWithContext(c.ctx, http.MethodGet, "http://"+n.HTTP+"/election", nil)
	if err != nil {
		return Status{}, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return Status{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return Status{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Status{}, fmt.Errorf("chaos: GET %s/election: %s: %s", n.HTTP, resp.Status, strings.TrimSpace(string(body)))
	}
	var s Status
	if err := json.Unmarshal(body, &s); err != nil {
		return Status{}, fmt.Errorf("chaos: GET %s/election: %w: %s", n.HTTP, err, body)
	}
	if s.Node != n.Name {
		return Status{}, fmt.Errorf("chaos: GET %s/election: node %q, want %q", n.HTTP, s.Node, n.Name)
	}
	c.rec.observe(Observation{Time: time.Now(), Asked: asked, Node: n.Name, Source: "http", Status: s})
	return s, nil
}

// WaitLeader waits up to the cluster's bound until the nodes among agree:
// each gives a stable read with the same term and the same leader, the
// leader is one of them, and it is the only one in state leader. It
// returns the leader's index and the term.
func (c *Cluster) WaitLeader(among []int) (int, uint64, error) {
	deadline := time.Now().Add(c.opts.Bound)
	var last []string
	for {
		leader, term, why := c.agreement(among)
		if why == nil {
			return leader, term, nil
		}
		last = why
		if time.Now().After(deadline) {
			return -1, 0, fmt.Errorf("chaos: no agreed leader among %s within %v; last reads:\n  %s",
				c.names(among), c.opts.Bound, strings.Join(last, "\n  "))
		}
		if c.ctx.Err() != nil {
			return -1, 0, c.ctx.Err()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// agreement reads every node in among once; why is nil when they agree.
func (c *Cluster) agreement(among []int) (leader int, term uint64, why []string) {
	leader = -1
	var st []Status
	ok := true
	for _, i := range among {
		s, err := c.Status(i)
		if err != nil {
			why = append(why, fmt.Sprintf("%s: %v", c.nodes[i].Name, err))
			ok = false
			continue
		}
		why = append(why, fmt.Sprintf("%s: state=%s term=%d leader=%s stable=%v", s.Node, s.State, s.Term, s.Leader, s.Stable))
		if !s.Stable {
			ok = false
		}
		st = append(st, s)
	}
	if !ok || len(st) == 0 {
		return -1, 0, why
	}
	leaders := 0
	for _, s := range st {
		if s.Term != st[0].Term || s.Leader != st[0].Leader || s.Leader == "" {
			return -1, 0, why
		}
		if s.State == "leader" {
			leaders++
			if s.Node != s.Leader {
				return -1, 0, why
			}
		}
	}
	li := c.Index(st[0].Leader)
	if leaders != 1 || li < 0 || !contains(among, li) {
		return -1, 0, why
	}
	return li, st[0].Term, nil
}

// WaitNotLeader waits up to the cluster's bound for node i to give a
// stable read in a state other than leader, and returns it.
func (c *Cluster) WaitNotLeader(i int) (Status, error) {
	deadline := time.Now().Add(c.opts.Bound)
	var last string
	for {
		s, err := c.Status(i)
		if err == nil && s.Stable && s.State != "leader" {
			return s, nil
		}
		last = fmt.Sprintf("%+v %v", s, err)
		if time.Now().After(deadline) {
			return s, fmt.Errorf("chaos: %s still leader after %v: %s", c.nodes[i].Name, c.opts.Bound, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Settle checks the liveness property after a fault: when a majority of
// the nodes is live and connected, they agree on one leader within the
// bound. It returns the leader (-1 when no majority is up) and the term.
func (c *Cluster) Settle() (int, uint64, error) {
	side := c.MajoritySide()
	if side == nil {
		c.Logf("settle: no connected majority is up; no leader expected")
		return -1, 0, nil
	}
	start := time.Now()
	l, term, err := c.WaitLeader(side)
	if err == nil {
		c.Logf("settle: %s leads term %d for %s (agreed after %v)", c.nodes[l].Name, term, c.names(side), time.Since(start).Round(time.Millisecond))
	}
	return l, term, err
}

// CheckSafety fails t if two nodes ever claimed leadership of the same
// term (from /election reads or `event leader` lines), a node's term
// went back, or a term was paired with two leaders.
func (c *Cluster) CheckSafety(t testing.TB) {
	t.Helper()
	if v := c.rec.Violations(); len(v) > 0 {
		t.Fatalf("chaos: safety violated:\n%s", strings.Join(v, "\n"))
	}
}

func (c *Cluster) names(idx []int) string {
	var s []string
	for _, i := range idx {
		s = append(s, fmt.Sprintf("n%d", i+1))
	}
	return "{" + strings.Join(s, " ") + "}"
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
