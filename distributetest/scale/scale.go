package scale

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/internal/epmd"
)

// Kind is which implementation a cluster runs.
type Kind string

// The two kinds of cluster.
const (
	Go     Kind = "go"     // `distribute node` processes
	Erlang Kind = "erlang" // plain `erl -name` nodes running scale_node.erl
)

// ErlangModule is the source of scale_node, the module every Erlang node
// of an Erlang run loads (an inbox, node event lines, and the runtime
// control functions a Go node exports in module distribute).
//
//go:embed scale_node.erl
var ErlangModule string

// Config configures one Run: one cluster of one Kind and size.
type Config struct {
	// Kind is the implementation. Default Go.
	Kind Kind

	// Nodes is the cluster's size; at least 2 (one is killed at the end).
	Nodes int

	// Binary is the distribute command that runs the Go nodes; required
	// for Kind Go.
	Binary string

	// Erl is the erl command for Kind Erlang. Default $DISTRIBUTE_ERL,
	// else erl from PATH.
	Erl string

	// Profile is the Go nodes' --profile (membership and Raft timings):
	// "lan" or "local". Default "lan", the production default.
	Profile string

	// Expect is the number of Raft voters, every election node's
	// --expect. Default 3 (or Nodes when smaller).
	Expect int

	// ElectionNodes is how many Go nodes run --election, the first ones
	// by index. Default all of them: the first Expect bootstrap the
	// voters and the rest join the election's configuration as the
	// election package adds them. Every election node must agree on the
	// leader for the cluster to count as converged.
	ElectionNodes int

	// Settle is a pause between convergence and the idle window, so that
	// the window measures the steady state. Default 5 s.
	Settle time.Duration

	// Idle is the window over which idle CPU is measured (nothing is
	// asked of the nodes meanwhile). Default 60 s.
	Idle time.Duration

	// Names is how many global registrations are measured. Default 100.
	Names int

	// Joins is how many pg joins are measured. Default 100.
	Joins int

	// Broadcasts is how many broadcasts to every node's inbox are
	// measured. Default 20.
	Broadcasts int

	// Timeout bounds each wait: for the nodes to start and converge, for
	// a name or group to reach every node, for a kill to be detected.
	// Default 2 min plus 1 s per node.
	Timeout time.Duration

	// LogLevel is the Go nodes' --log-level (debug, info, warn, error).
	// Default warn. With Dir set, info shows what membership and the
	// node did to connections (a dead member disconnected, a node down).
	LogLevel string

	// Dir keeps each node's stdout, stderr and data directory. Default: a
	// temporary directory removed when Run returns.
	Dir string

	// Logf receives progress lines. Default: none.
	Logf func(format string, args ...any)
}

func (c Config) withDefaults() (Config, error) {
	if c.Kind == "" {
		c.Kind = Go
	}
	if c.Nodes < 2 {
		return c, fmt.Errorf("scale: Nodes = %d: need at least 2", c.Nodes)
	}
	switch c.Kind {
	case Go:
		if c.Binary == "" {
			return c, errors.New("scale: Binary (the distribute command) is required for Go nodes")
		}
	case Erlang:
		if c.Erl == "" {
			c.Erl = os.Getenv("DISTRIBUTE_ERL")
		}
		if c.Erl == "" {
			erl, err := exec.LookPath("erl")
			if err != nil {
				return c, fmt.Errorf("scale: Erlang nodes need erl: %w", err)
			}
			c.Erl = erl
		}
	default:
		return c, fmt.Errorf("scale: Kind %q: want %q or %q", c.Kind, Go, Erlang)
	}
	if c.Profile == "" {
		c.Profile = "lan"
	}
	if c.Expect <= 0 {
		c.Expect = min(3, c.Nodes)
	}
	if c.ElectionNodes <= 0 || c.ElectionNodes > c.Nodes {
		c.ElectionNodes = c.Nodes
	}
	if c.ElectionNodes < c.Expect {
		return c, fmt.Errorf("scale: ElectionNodes = %d is fewer than Expect = %d voters", c.ElectionNodes, c.Expect)
	}
	if c.Settle == 0 {
		c.Settle = 5 * time.Second
	}
	if c.Idle <= 0 {
		c.Idle = 60 * time.Second
	}
	if c.Names <= 0 {
		c.Names = 100
	}
	if c.Joins <= 0 {
		c.Joins = 100
	}
	if c.Broadcasts <= 0 {
		c.Broadcasts = 20
	}
	if c.Timeout <= 0 {
		c.Timeout = 2*time.Minute + time.Duration(c.Nodes)*time.Second
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c, nil
}

// Result is one Run's measurements. Metrics maps a key of Metrics to its
// value; a metric that was not measured (a phase that failed, or one that
// does not apply to the Kind) is absent.
type Result struct {
	Kind    Kind               `json:"kind"`
	Nodes   int                `json:"nodes"`
	Time    time.Time          `json:"time"`
	Version string             `json:"version"` // distribute's version, or the OTP release
	Params  Params             `json:"params"`
	Metrics map[string]float64 `json:"metrics"`
	Error   string             `json:"error,omitempty"`
}

// Params are the settings a Result was measured with.
type Params struct {
	Profile       string  `json:"profile,omitempty"`
	Voters        int     `json:"voters,omitempty"`
	ElectionNodes int     `json:"election_nodes,omitempty"`
	IdleS         float64 `json:"idle_s"`
	Names         int     `json:"names"`
	Joins         int     `json:"joins"`
	Broadcasts    int     `json:"broadcasts"`
}

// Run starts a cluster of cfg.Nodes nodes of cfg.Kind on loopback, with a
// private epmd, measures it (see the package documentation for the
// phases) and stops every process it started, by pid, before it returns,
// also when ctx ends or a phase fails. On error the Result holds what was
// measured before the failure.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Result{Kind: cfg.Kind, Nodes: cfg.Nodes, Time: time.Now().UTC(), Metrics: map[string]float64{},
		Params: Params{IdleS: cfg.Idle.Seconds(), Names: cfg.Names, Joins: cfg.Joins, Broadcasts: cfg.Broadcasts}}
	if cfg.Kind == Go {
		r.Version = distribute.Version
		r.Params.Profile = cfg.Profile
		r.Params.Voters = cfg.Expect
		r.Params.ElectionNodes = cfg.ElectionNodes
	}
	h := &harness{cfg: cfg, r: r}
	if err := h.run(ctx); err != nil {
		r.Error = err.Error()
		return r, err
	}
	return r, nil
}

// harness is one Run in progress.
type harness struct {
	cfg     Config
	r       *Result
	dir     string
	cookie  string
	epmd    int
	client  *distribute.Node
	members []*member
	start   time.Time // the first node's start
}

func (h *harness) logf(format string, args ...any) {
	h.cfg.Logf("%s N=%d: "+format, append([]any{h.cfg.Kind, h.cfg.Nodes}, args...)...)
}

func (h *harness) run(ctx context.Context) (err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if h.dir = h.cfg.Dir; h.dir == "" {
		if h.dir, err = os.MkdirTemp("", "distribute-scale"); err != nil {
			return err
		}
		defer os.RemoveAll(h.dir)
	} else if err := os.MkdirAll(h.dir, 0o755); err != nil {
		return err
	}
	var b [8]byte
	rand.Read(b[:])
	h.cookie = "scale" + hex.EncodeToString(b[:])

	// A private epmd on a free loopback port, served by the harness.
	srv, err := epmd.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		return err
	}
	srvDone := make(chan struct{})
	go func() {
		defer close(srvDone)
		srv.Serve(ctx)
	}()
	defer func() {
		srv.Close()
		<-srvDone
	}()
	h.epmd = srv.Port()

	// The hidden client that polls the nodes over RPC: never registered,
	// invisible to nodes() and to nodeup/nodedown.
	h.client, err = distribute.Start(ctx, distribute.Config{
		Name: "scalectl" + hex.EncodeToString(b[:4]) + "@127.0.0.1", Cookie: h.cookie,
		EpmdPort: h.epmd, ClientOnly: true, Visibility: distribute.Hidden,
	})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		h.client.Stop(sctx)
	}()

	defer func() {
		h.logf("stopping the nodes")
		stopAll(h.members, 20*time.Second)
	}()
	phases := []struct {
		name string
		do   func(context.Context) error
	}{
		{"start", h.startNodes},
		{"converge", h.converge},
		{"idle", h.idle},
		{"global", h.global},
		{"pg", h.pg},
		{"broadcast", h.broadcast},
		{"kill", h.kill},
	}
	for _, p := range phases {
		if err := p.do(ctx); err != nil {
			return fmt.Errorf("scale: %s N=%d, %s: %w", h.cfg.Kind, h.cfg.Nodes, p.name, err)
		}
	}
	return nil
}

// startNodes starts the first node, waits until it is reachable, then
// starts all the others at once and waits for each to print `started`.
func (h *harness) startNodes(ctx context.Context) error {
	var ebin string
	if h.cfg.Kind == Erlang {
		var err error
		if ebin, err = h.compileErlang(ctx); err != nil {
			return err
		}
	}
	var httpPorts []int
	if h.cfg.Kind == Go {
		var err error
		if httpPorts, err = freePorts(h.cfg.Nodes); err != nil {
			return err
		}
	}
	// Numbers padded to one width, so that names sort as indexes do: the
	// election's voters (the first Expect by name) are the first nodes,
	// and the last node, the one killed, is not one of them.
	width := len(strconv.Itoa(h.cfg.Nodes))
	for i := range h.cfg.Nodes {
		k := fmt.Sprintf("%0*d", width, i+1)
		m := &member{index: i, inbox: "b" + k}
		if h.cfg.Kind == Go {
			m.name = "g" + k + "@127.0.0.1"
			m.http = fmt.Sprintf("127.0.0.1:%d", httpPorts[i])
		} else {
			m.name = "e" + k + "@127.0.0.1"
		}
		h.members = append(h.members, m)
	}
	h.logf("starting %d nodes", h.cfg.Nodes)
	tctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	h.start = time.Now()
	for i, m := range h.members {
		var cmd *exec.Cmd
		if h.cfg.Kind == Go {
			cmd = h.goCommand(m)
		} else {
			cmd = h.erlCommand(m, ebin)
		}
		base := filepath.Join(h.dir, strings.Split(m.name, "@")[0])
		if err := m.start(cmd, base+".stdout", base+".stderr"); err != nil {
			return err
		}
		if i == 0 {
			// The seed first: the others join it.
			if _, err := m.waitLine(tctx, 0, equals("started "+m.name)); err != nil {
				return err
			}
		}
	}
	for _, m := range h.members {
		if _, err := m.waitLine(tctx, 0, equals("started "+m.name)); err != nil {
			return err
		}
	}
	h.r.Metrics["started_s"] = time.Since(h.start).Seconds()
	h.logf("all started in %.1f s", h.r.Metrics["started_s"])
	return nil
}

func equals(s string) func(string) bool { return func(l string) bool { return l == s } }

func hasPrefix(s string) func(string) bool {
	return func(l string) bool { return strings.HasPrefix(l, s) }
}

// childEnv is the environment of a node: the harness's without the
// variables that would configure the node behind the flags' back (every
// `distribute node` flag has a DISTRIBUTE_ variable) or point it at
// another epmd.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DISTRIBUTE_") || strings.HasPrefix(kv, "ERL_EPMD_PORT=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// goCommand is `distribute node` for m: membership (joined to the first
// node), pg (its inbox in group all), global, election on the first
// ElectionNodes nodes, /metrics over HTTP.
func (h *harness) goCommand(m *member) *exec.Cmd {
	args := []string{"node", "--name", m.name, "--cookie", h.cookie, "--epmd-port", strconv.Itoa(h.epmd),
		"--inbox", m.inbox, "--group", "all", "--http", m.http, "--profile", h.cfg.Profile}
	if h.cfg.LogLevel != "" {
		args = append(args, "--log-level", h.cfg.LogLevel)
	}
	if m.index > 0 {
		args = append(args, "--join", h.members[0].name)
	}
	if m.index < h.cfg.ElectionNodes {
		args = append(args, "--election", "--expect", strconv.Itoa(h.cfg.Expect),
			"--data-dir", filepath.Join(h.dir, strings.Split(m.name, "@")[0]+"-data"))
	}
	cmd := exec.Command(h.cfg.Binary, args...)
	cmd.Env = childEnv()
	cmd.Dir = h.dir
	return cmd
}

// erlCommand is a plain erl node for m: long name on loopback, the
// default connect_all and net_ticktime, global, the pg scope, scale_node
// started with the first node as seed.
func (h *harness) erlCommand(m *member, ebin string) *exec.Cmd {
	cmd := exec.Command(h.cfg.Erl, "-noshell", "-name", m.name, "-setcookie", h.cookie,
		"-start_epmd", "false", "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
		"-kernel", "start_pg", "true", "-pa", ebin,
		"-eval", fmt.Sprintf("scale_node:start(%s, '%s')", m.inbox, h.members[0].name))
	cmd.Env = childEnv("ERL_EPMD_PORT="+strconv.Itoa(h.epmd), "ERL_CRASH_DUMP_SECONDS=0")
	cmd.Dir = h.dir
	return cmd
}

// compileErlang compiles scale_node.erl into DIR/ebin with one erl run,
// which also reports the OTP release.
func (h *harness) compileErlang(ctx context.Context) (string, error) {
	// Absolute: each node runs in h.dir, so a relative directory (the
	// CLI's --logs scale-logs/...) would be looked up inside itself.
	ebin, err := filepath.Abs(filepath.Join(h.dir, "ebin"))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(ebin, 0o755); err != nil {
		return "", err
	}
	src := filepath.Join(ebin, "scale_node.erl")
	if err := os.WriteFile(src, []byte(ErlangModule), 0o644); err != nil {
		return "", err
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, h.cfg.Erl, "-noshell", "-eval", fmt.Sprintf(
		`{ok, _} = compile:file(%q, [{outdir, %q}, report]), io:format("~s~n", [erlang:system_info(otp_release)]), halt().`, src, ebin))
	cmd.Env = childEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("compile scale_node.erl: %w: %s", err, out)
	}
	h.r.Version = "OTP " + strings.TrimSpace(string(out))
	return ebin, nil
}

// freePorts returns n distinct loopback ports that were free a moment
// ago (all held open together, so none repeats), chosen below the
// kernel's ephemeral range: the nodes bind their distribution and gossip
// ports from that range (port 0), so they can never take one of these
// between this check and the node's own bind.
func freePorts(n int) ([]int, error) {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	const from = 10000
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if low-from < 4*n || tries > 100*n {
			return nil, fmt.Errorf("scale: no %d free ports between %d and %d (the ephemeral range starts at %d)", n, from, low, low)
		}
		p := from + mrand.IntN(low-from)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue // taken
		}
		lns = append(lns, ln)
		ports = append(ports, p)
	}
	return ports, nil
}
