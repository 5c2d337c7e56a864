package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/membership"
)

// Config configures a Checker. Every field documents its zero-value
// default: the zero Config checks the node and its epmd, and judges
// cluster health from the distribution connections.
type Config struct {
	// Membership is the node's membership. Default nil: no membership
	// checks, and cluster health comes from the distribution connections.
	Membership *membership.Membership

	// EpmdAddr is the epmd to check, "host:port". Default: the one the
	// node registered with (127.0.0.1 and its Config.EpmdPort). "-"
	// skips the epmd check (a client-only node).
	EpmdAddr string

	// Expected is how many members the cluster should have: cluster
	// health and the quorum are judged against it, whatever the table
	// holds, so a minority side of a partition stays a minority after it
	// has forgotten the dead (membership reaps them, Profile.ReapTime).
	// With Expected above 1, a node alone is isolated and not ready.
	// Default 0: the members the table knows (left ones excepted), which
	// shrink as the dead are reaped.
	Expected int

	// Quorum reports whether the election knows a quorum (a leader with
	// a majority). Default nil: election is not running and readiness
	// does not check it.
	Quorum func() bool

	// Election reports a condition of the election that makes the node
	// unready: election.(*Election).Conflict, non-nil while members of
	// another Raft cluster are in sight (a split brain an operator must
	// resolve). Default nil: not checked.
	Election func() error

	// Timeout bounds each check that waits (epmd lookup, membership
	// refresh). Default 2 s.
	Timeout time.Duration
}

// DefaultTimeout bounds each waiting check.
const DefaultTimeout = 2 * time.Second

// ErrConfig is wrapped by Config validation errors.
var ErrConfig = errors.New("health: invalid config")

// Checker runs the checks. Safe for concurrent use; it starts no
// goroutine.
type Checker struct {
	node *distribute.Node
	cfg  Config
}

// Start returns a Checker of node. It starts nothing (the checks run when
// asked), so ctx is only checked; it fails with ErrConfig when node is nil
// or cfg has a negative count or timeout.
func Start(ctx context.Context, node *distribute.Node, cfg Config) (*Checker, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if node == nil {
		return nil, fmt.Errorf("%w: no node", ErrConfig)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Timeout < 0 || cfg.Expected < 0 {
		return nil, fmt.Errorf("%w: negative timeout or expected count", ErrConfig)
	}
	return &Checker{node: node, cfg: cfg}, nil
}

// Stop ends the Checker. It has nothing running, so it only returns nil:
// it is here so that every service stops the same way.
func (c *Checker) Stop(ctx context.Context) error { return nil }

// Check is the outcome of one check.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Report is the outcome of a liveness or readiness probe.
type Report struct {
	// OK is true when every check passed.
	OK      bool           `json:"ok"`
	Node    string         `json:"node"`
	Checks  []Check        `json:"checks"`
	Cluster *ClusterHealth `json:"cluster,omitempty"`
}

// Failed returns the checks that failed.
func (r Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

func (r *Report) add(name string, ok bool, detail string) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: detail})
	if !ok {
		r.OK = false
	}
}

// Liveness checks that the node runs (net_kernel is registered) and that
// the membership loop answers within Timeout.
func (c *Checker) Liveness(ctx context.Context) Report {
	r := Report{OK: true, Node: string(c.node.Name())}
	c.live(ctx, &r)
	return r
}

func (c *Checker) live(ctx context.Context, r *Report) {
	if _, ok := c.node.Whereis("net_kernel"); ok {
		r.add("node", true, "")
	} else {
		r.add("node", false, "net_kernel is not running: the node is stopped")
	}
	if m := c.cfg.Membership; m != nil {
		ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		err := m.Refresh(ctx)
		cancel()
		if err != nil {
			r.add("membership", false, err.Error())
		} else {
			r.add("membership", true, "")
		}
	}
}

// Readiness runs the liveness checks, then: the listener is open, epmd
// maps the node's name to its listening port, membership has joined a
// cluster (when it runs: not while it still retries its seeds, nor alone
// when more than one member is expected or known), the Election hook
// reports nothing (when set), and the Quorum hook holds (when set). The
// report carries the cluster health.
func (c *Checker) Readiness(ctx context.Context) Report {
	r := Report{OK: true, Node: string(c.node.Name())}
	c.live(ctx, &r)
	var port int
	if a, ok := c.node.ListenAddr().(*net.TCPAddr); ok && a != nil {
		port = a.Port
		r.add("listener", true, a.String())
	} else {
		r.add("listener", false, "the node does not listen (client-only)")
	}
	if c.cfg.EpmdAddr != "-" {
		alive, _, _ := strings.Cut(string(c.node.Name()), "@")
		ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		got, known, err := c.node.EpmdPort(ctx, c.cfg.EpmdAddr)
		cancel()
		where := c.cfg.EpmdAddr
		if where == "" {
			where = "the node's epmd"
		}
		switch {
		case err != nil:
			r.add("epmd", false, err.Error())
		case !known:
			r.add("epmd", false, fmt.Sprintf("%s does not know the name %s", where, alive))
		case got != port:
			r.add("epmd", false, fmt.Sprintf("%s maps %s to port %d; the node listens on %d", where, alive, got, port))
		default:
			r.add("epmd", true, fmt.Sprintf("%s -> %d", alive, got))
		}
	}
	ch := c.Cluster()
	r.Cluster = &ch
	if m := c.cfg.Membership; m != nil {
		switch {
		case m.Joining():
			r.add("joined", false, "joining: no seed has answered yet")
		case m.Joined():
			r.add("joined", true, fmt.Sprintf("%d alive of %d", ch.Alive, ch.Total))
		case c.cfg.Expected <= 1 && ch.Total <= 1:
			r.add("joined", true, "alone, and no other member is expected")
		default:
			r.add("joined", false, "not joined to a cluster")
		}
	}
	if c.cfg.Election != nil {
		if err := c.cfg.Election(); err != nil {
			r.add("election", false, err.Error())
		} else {
			r.add("election", true, "")
		}
	}
	if c.cfg.Quorum != nil {
		if c.cfg.Quorum() {
			r.add("quorum", true, "")
		} else {
			r.add("quorum", false, "the election knows no quorum")
		}
	}
	return r
}

// ClusterState is the cluster's health as one node sees it.
type ClusterState int

// Cluster states (explicit values).
const (
	Healthy  ClusterState = 1
	Degraded ClusterState = 2
	Isolated ClusterState = 3
)

func (s ClusterState) String() string {
	switch s {
	case Healthy:
		return "healthy"
	case Degraded:
		return "degraded"
	case Isolated:
		return "isolated"
	}
	return "cluster_state(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText writes the state's name.
func (s ClusterState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state's name.
func (s *ClusterState) UnmarshalText(b []byte) error {
	for _, v := range []ClusterState{Healthy, Degraded, Isolated} {
		if string(b) == v.String() {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("health: unknown cluster state %q", b)
}

// ClusterHealth counts the members this node knows, self included.
type ClusterHealth struct {
	State   ClusterState `json:"state"`
	Alive   int          `json:"alive"`
	Suspect int          `json:"suspect"`
	Dead    int          `json:"dead"`
	Left    int          `json:"left"`
	// Total is the cluster size health is judged against: Config.Expected
	// (or the alive and suspect members, when more), or without it the
	// members known (left ones excepted).
	Total int `json:"total"`
	// Quorum is HasQuorum(Alive, Total).
	Quorum bool `json:"quorum"`
}

// HasQuorum reports whether alive members are a strict majority of total.
func HasQuorum(alive, total int) bool { return total > 0 && 2*alive > total }

// Cluster returns the cluster health from the membership table, or from
// the distribution connections without membership.
func (c *Checker) Cluster() ClusterHealth {
	var h ClusterHealth
	if m := c.cfg.Membership; m != nil {
		for _, mb := range m.Members() {
			switch mb.State {
			case membership.StateAlive:
				h.Alive++
			case membership.StateSuspect:
				h.Suspect++
			case membership.StateDead:
				h.Dead++
			case membership.StateLeft:
				h.Left++
			}
		}
	} else {
		h.Alive = 1 + len(c.node.Nodes())
	}
	return Assess(h.Alive, h.Suspect, h.Dead, h.Left, c.cfg.Expected)
}

// Assess computes a ClusterHealth from member counts (self included in
// alive) and the expected cluster size (0: the known members). With an
// expected size the dead do not count toward the total: whether they are
// still in the table or already forgotten changes nothing but the state
// (degraded while a dead member is known).
func Assess(alive, suspect, dead, left, expected int) ClusterHealth {
	h := ClusterHealth{Alive: alive, Suspect: suspect, Dead: dead, Left: left}
	if expected > 0 {
		h.Total = max(expected, alive+suspect)
	} else {
		h.Total = alive + suspect + dead
	}
	h.Quorum = HasQuorum(alive, h.Total)
	switch {
	case alive <= 1 && h.Total > 1:
		h.State = Isolated
	case alive < h.Total || suspect+dead > 0:
		h.State = Degraded
	default:
		h.State = Healthy
	}
	return h
}

// Healthz is the liveness handler: the Liveness report as JSON, status
// 200 when it passes and 503 when not.
func (c *Checker) Healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if methodAllowed(w, r) {
			serve(w, r, c.Liveness(r.Context()))
		}
	})
}

// Readyz is the readiness handler: the Readiness report as JSON, status
// 200 when it passes and 503 when not.
func (c *Checker) Readyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if methodAllowed(w, r) {
			serve(w, r, c.Readiness(r.Context()))
		}
	})
}

// methodAllowed answers 405 to methods other than GET and HEAD, before
// any check runs, and reports whether the request may go on.
func methodAllowed(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

func serve(w http.ResponseWriter, r *http.Request, rep Report) {
	body, err := json.Marshal(rep)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	body = append(body, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if rep.OK {
		w.WriteHeader(http.StatusOK)
	} else {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}
