package main

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/cluster"
	"github.com/distribute-go/distribute/etf"
)

// The observer page: a live picture of the cluster as this node sees it,
// in the spirit of Erlang's observer. The page is static (observer/, no
// framework, no CDN: it works offline); its script polls /api/observer
// every second and builds the tables with textContent only, so no name
// from the cluster can inject markup.
//
//	GET /                  the page (observer/index.html)
//	GET /observer/...      its script and stylesheet
//	GET /api/observer      the JSON snapshot (observerView)
//
// A sampler goroutine, ended by the context given to registerObserver,
// takes Node.Connections() every second and keeps a minute of message and
// byte rates, per peer and in total, for the page's chart.

//go:embed observer
var observerAssets embed.FS

// Limits on what one snapshot carries, so that a node with a million
// processes or names still answers with a page-sized document. Each list
// reports its full length next to the capped one.
const (
	observerMaxProcs        = 200
	observerMaxGlobals      = 500
	observerMaxGroups       = 200
	observerMaxGroupMembers = 100
	// observerHistory is how many samples the chart keeps: one a second,
	// a minute in all.
	observerHistory  = 60
	observerInterval = time.Second
)

// registerObserver serves the observer page, its assets and its JSON
// endpoint on mux, and samples connection rates until ctx ends.
func registerObserver(ctx context.Context, mux *http.ServeMux, cl *cluster.Cluster) {
	o := newObserver(cl, observerHistory, observerInterval)
	go o.run(ctx)
	o.register(mux)
}

// observer builds the page's snapshots from a cluster.
type observer struct {
	cl      *cluster.Cluster
	sampler *sampler
	now     func() time.Time
}

// newObserver keeps history samples taken every interval.
func newObserver(cl *cluster.Cluster, history int, interval time.Duration) *observer {
	return &observer{cl: cl, sampler: newSampler(history, interval), now: time.Now}
}

func (o *observer) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", o.servePage)
	mux.Handle("GET /observer/", securityHeaders(http.FileServerFS(observerAssets)))
	mux.HandleFunc("GET /api/observer", o.serveAPI)
}

// run samples the node's connections every interval until ctx ends.
func (o *observer) run(ctx context.Context) {
	o.sampler.add(o.now(), o.cl.Node().Connections())
	t := time.NewTicker(o.sampler.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			o.sampler.add(o.now(), o.cl.Node().Connections())
		}
	}
}

// securityHeaders forbids inline scripts and styles and anything from
// another origin: even a name that slipped past textContent could not run.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w)
		h.ServeHTTP(w, r)
	})
}

func setSecurityHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

func (o *observer) servePage(w http.ResponseWriter, r *http.Request) {
	page, err := observerAssets.ReadFile("observer/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	setSecurityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(page)
}

func (o *observer) serveAPI(w http.ResponseWriter, r *http.Request) {
	body, err := json.Marshal(o.view())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	setSecurityHeaders(w)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(body)
}

// observerView is the JSON document /api/observer serves. Every string in
// it comes from the cluster and is shown by the page as text.
type observerView struct {
	Node        string        `json:"node"`
	Version     string        `json:"version"`
	Creation    uint32        `json:"creation"`
	Hidden      bool          `json:"hidden"`
	Time        time.Time     `json:"time"`
	Election    electionView  `json:"election"`
	Membership  bool          `json:"membership"`
	Members     []memberView  `json:"members"`
	Globals     globalsView   `json:"globals"`
	Groups      groupsView    `json:"groups"`
	Processes   processesView `json:"processes"`
	Connections []connView    `json:"connections"`
	History     historyView   `json:"history"`
}

type electionView struct {
	// Enabled is false when the node runs no election.
	Enabled bool `json:"enabled"`
	// Leader and Term are the leader this node knows, when HasLeader.
	Leader    string `json:"leader,omitempty"`
	Term      uint64 `json:"term,omitempty"`
	HasLeader bool   `json:"has_leader"`
	// Role is this node's Raft state: follower, candidate or leader.
	Role string `json:"role,omitempty"`
}

type memberView struct {
	Name        string    `json:"name"`
	State       string    `json:"state"`
	Incarnation uint32    `json:"incarnation"`
	Since       time.Time `json:"since"`
	Self        bool      `json:"self"`
	// Connected reports a live distribution connection (true for self).
	Connected bool `json:"connected"`
}

type globalView struct {
	Name string `json:"name"`
	Pid  string `json:"pid"`
	Node string `json:"node"`
}

type globalsView struct {
	Enabled bool         `json:"enabled"`
	Total   int          `json:"total"`
	Names   []globalView `json:"names"`
}

type groupView struct {
	Name    string   `json:"name"`
	Total   int      `json:"total"`
	Members []pidRef `json:"members"`
}

type pidRef struct {
	Pid  string `json:"pid"`
	Node string `json:"node"`
}

type groupsView struct {
	Enabled bool        `json:"enabled"`
	Scope   string      `json:"scope"`
	Total   int         `json:"total"`
	Groups  []groupView `json:"groups"`
}

type procView struct {
	Pid     string   `json:"pid"`
	Names   []string `json:"names"`
	Mailbox int      `json:"mailbox"`
}

type processesView struct {
	Total int        `json:"total"`
	Shown []procView `json:"shown"`
}

type connView struct {
	Node     string    `json:"node"`
	Visible  bool      `json:"visible"`
	Since    time.Time `json:"since"`
	MsgIn    uint64    `json:"msg_in"`
	MsgOut   uint64    `json:"msg_out"`
	BytesIn  uint64    `json:"bytes_in"`
	BytesOut uint64    `json:"bytes_out"`
	// Rate is the rate over the last sampling interval (zero before the
	// sampler has seen the connection twice).
	Rate rates `json:"rate"`
}

// historyView is the last minute of rates, oldest first: Total[i] and
// Peers[node][i] belong to the sample taken at Times[i] (Unix ms). A peer
// with no connection at a sample has a zero there.
type historyView struct {
	IntervalMS int64              `json:"interval_ms"`
	Capacity   int                `json:"capacity"`
	Times      []int64            `json:"times"`
	Total      []rates            `json:"total"`
	Peers      map[string][]rates `json:"peers"`
}

// view takes a snapshot of the cluster for the page.
func (o *observer) view() observerView {
	n := o.cl.Node()
	v := observerView{
		Node:     string(n.Name()),
		Version:  distribute.Version,
		Creation: n.Creation(),
		Hidden:   n.Hidden(),
		Time:     o.now().UTC(),
		Election: o.electionView(),
	}
	v.Membership, v.Members = o.members()
	v.Globals = o.globals()
	v.Groups = o.groups()
	v.Processes = processes(n, observerMaxProcs)
	latest, history := o.sampler.snapshot()
	for _, c := range n.Connections() {
		v.Connections = append(v.Connections, connView{
			Node: string(c.Node), Visible: c.Visible, Since: c.Since,
			MsgIn: c.MessagesIn, MsgOut: c.MessagesOut, BytesIn: c.BytesIn, BytesOut: c.BytesOut,
			Rate: latest.Peers[c.Node],
		})
	}
	if v.Connections == nil {
		v.Connections = []connView{}
	}
	v.History = history
	return v
}

// electionView reports the Raft leader and term this node knows, and its
// own role; Enabled false when the node runs no election.
func (o *observer) electionView() electionView {
	e := o.cl.Election()
	if e == nil {
		return electionView{}
	}
	st := e.Status()
	v := electionView{Enabled: true, Term: st.Term, Role: st.State.String()}
	if leader, term, ok := e.Leader(); ok {
		v.Leader, v.Term, v.HasLeader = string(leader), term, true
	}
	return v
}

func (o *observer) members() (bool, []memberView) {
	out := []memberView{}
	m := o.cl.Membership()
	if m == nil {
		return false, out
	}
	n := o.cl.Node()
	for _, mb := range m.Members() {
		out = append(out, memberView{
			Name: string(mb.Name), State: mb.State.String(), Incarnation: mb.Incarnation,
			Since: mb.Since, Self: mb.Self, Connected: mb.Self || n.IsConnected(mb.Name),
		})
	}
	return true, out
}

func (o *observer) globals() globalsView {
	g := globalsView{Names: []globalView{}}
	r := o.cl.Registry()
	if r == nil {
		return g
	}
	g.Enabled = true
	names := r.RegisteredNames()
	g.Total = len(names)
	for _, name := range names {
		if len(g.Names) == observerMaxGlobals {
			break
		}
		pid, ok := r.Whereis(name)
		if !ok {
			continue // unregistered since RegisteredNames
		}
		g.Names = append(g.Names, globalView{Name: termText(name), Pid: etf.Format(pid), Node: string(pid.Node)})
	}
	return g
}

func (o *observer) groups() groupsView {
	g := groupsView{Groups: []groupView{}}
	s := o.cl.Groups()
	if s == nil {
		return g
	}
	g.Enabled = true
	g.Scope = string(s.Name())
	names := s.WhichGroups()
	slices.SortFunc(names, etf.Compare)
	g.Total = len(names)
	for _, name := range names {
		if len(g.Groups) == observerMaxGroups {
			break
		}
		pids := s.Members(name)
		gv := groupView{Name: termText(name), Total: len(pids), Members: []pidRef{}}
		for _, p := range pids {
			if len(gv.Members) == observerMaxGroupMembers {
				break
			}
			gv.Members = append(gv.Members, pidRef{Pid: etf.Format(p), Node: string(p.Node)})
		}
		g.Groups = append(g.Groups, gv)
	}
	return g
}

// termText shows a name: an atom as itself, other terms in Erlang syntax.
func termText(t etf.Term) string {
	if a, ok := t.(etf.Atom); ok {
		return string(a)
	}
	return etf.Format(t)
}

// processes lists the node's processes with the deepest mailboxes first
// (then by pid), at most limit of them.
func processes(n *distribute.Node, limit int) processesView {
	type proc struct {
		pid distribute.Pid
		v   procView
	}
	ps := n.Processes()
	all := make([]proc, 0, len(ps))
	for _, p := range ps {
		pv := procView{Pid: etf.Format(p.Pid()), Mailbox: p.MailboxLen(), Names: []string{}}
		for _, name := range p.Names() {
			pv.Names = append(pv.Names, string(name))
		}
		slices.Sort(pv.Names)
		all = append(all, proc{p.Pid(), pv})
	}
	slices.SortFunc(all, func(a, b proc) int {
		if c := cmp.Compare(b.v.Mailbox, a.v.Mailbox); c != 0 {
			return c
		}
		if c := cmp.Compare(a.pid.ID, b.pid.ID); c != 0 {
			return c
		}
		return cmp.Compare(a.pid.Serial, b.pid.Serial)
	})
	out := processesView{Total: len(all), Shown: make([]procView, 0, min(limit, len(all)))}
	for _, p := range all[:min(limit, len(all))] {
		out.Shown = append(out.Shown, p.v)
	}
	return out
}

// rates are per-second rates over one sampling interval.
type rates struct {
	MsgIn    float64 `json:"msg_in"`
	MsgOut   float64 `json:"msg_out"`
	BytesIn  float64 `json:"bytes_in"`
	BytesOut float64 `json:"bytes_out"`
}

func (r rates) plus(o rates) rates {
	return rates{r.MsgIn + o.MsgIn, r.MsgOut + o.MsgOut, r.BytesIn + o.BytesIn, r.BytesOut + o.BytesOut}
}

// rateSample is the rates over the interval that ended at At.
type rateSample struct {
	At    time.Time
	Total rates
	Peers map[distribute.Atom]rates
}

// sampler turns successive Connections snapshots into rates: the
// difference of two snapshots over the time between them. Its methods are
// safe for concurrent use.
type sampler struct {
	capacity int
	interval time.Duration // between snapshots, as the page's chart assumes

	mu      sync.Mutex // protects the fields below
	prev    map[distribute.Atom]distribute.ConnectionStats
	prevAt  time.Time
	history []rateSample // oldest first, at most capacity
}

func newSampler(capacity int, interval time.Duration) *sampler {
	return &sampler{capacity: max(capacity, 1), interval: interval}
}

// add records the snapshot conns taken at at. From the second snapshot on,
// it appends the rates since the previous one. A connection that came up
// after the previous snapshot (new, or a reconnection: a new Since) counts
// everything it carried in this interval; one the previous snapshot missed
// although it was already up has no baseline and shows no rate yet. A
// snapshot that is not later than the previous one only replaces it.
func (s *sampler) add(at time.Time, conns []distribute.ConnectionStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := make(map[distribute.Atom]distribute.ConnectionStats, len(conns))
	for _, c := range conns {
		cur[c.Node] = c
	}
	prev, prevAt := s.prev, s.prevAt
	s.prev, s.prevAt = cur, at
	if prevAt.IsZero() || !at.After(prevAt) {
		return
	}
	secs := at.Sub(prevAt).Seconds()
	smp := rateSample{At: at, Peers: make(map[distribute.Atom]rates, len(conns))}
	for _, c := range conns {
		var base distribute.ConnectionStats
		if p, ok := prev[c.Node]; ok && p.Since.Equal(c.Since) {
			base = p
		} else if !c.Since.After(prevAt) {
			continue
		}
		r := rates{
			MsgIn:    float64(delta(c.MessagesIn, base.MessagesIn)) / secs,
			MsgOut:   float64(delta(c.MessagesOut, base.MessagesOut)) / secs,
			BytesIn:  float64(delta(c.BytesIn, base.BytesIn)) / secs,
			BytesOut: float64(delta(c.BytesOut, base.BytesOut)) / secs,
		}
		smp.Peers[c.Node] = r
		smp.Total = smp.Total.plus(r)
	}
	if len(s.history) == s.capacity {
		copy(s.history, s.history[1:])
		s.history = s.history[:len(s.history)-1]
	}
	s.history = append(s.history, smp)
}

// delta is cur-prev for counters that only grow; zero if one went back.
func delta(cur, prev uint64) uint64 {
	if cur < prev {
		return 0
	}
	return cur - prev
}

// snapshot returns the latest sample (zero before the second snapshot)
// and the history as the page wants it.
func (s *sampler) snapshot() (rateSample, historyView) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := historyView{
		IntervalMS: s.interval.Milliseconds(),
		Capacity:   s.capacity,
		Times:      make([]int64, len(s.history)),
		Total:      make([]rates, len(s.history)),
		Peers:      map[string][]rates{},
	}
	for i, smp := range s.history {
		h.Times[i] = smp.At.UnixMilli()
		h.Total[i] = smp.Total
		for node, r := range smp.Peers {
			series, ok := h.Peers[string(node)]
			if !ok {
				series = make([]rates, len(s.history))
				h.Peers[string(node)] = series
			}
			series[i] = r
		}
	}
	var latest rateSample
	if len(s.history) > 0 {
		latest = s.history[len(s.history)-1]
	}
	return latest, h
}
