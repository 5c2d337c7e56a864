// Package cluster is the composition point of distribute: Start starts a
// node together with the cluster services the module offers, and Stop
// stops them in reverse order. The CLI's `distribute node` is a thin shell
// over it.
//
// With Config.Election the node also takes part in leader election (the
// election package: Raft over the distribution, so the cookie and TLS
// protect it and no port of its own is opened; the membership meta and
// distribute:info()'s election field say the node runs it).
//
// A node started here runs SWIM membership (the membership package: members
// are connected in a full mesh, a dead one is disconnected), serves RPC (the rpc package: Erlang's rpc:call,
// erpc:call and spawn reach Go functions), runs the default process-group
// scope pg (the groups package), and exports over RPC, so that
// rpc:call(GoNode, distribute, info, []) works from Erlang too:
//
//	distribute:info()       #{name, creation, hidden, version, gossip, election}
//	distribute:registered() local names
//	distribute:groups()     [{Group, [Pid]}] of the pg scope
//	distribute:members()    [{Node, alive|suspect|dead|left, Incarnation}]
//	distribute:global_names() cluster-wide names (the global registry)
//	distribute:leader()     {ok, Node, Term} or none (with Config.Election)
//	global:whereis_name/1, registered_names/0, and resolve_it/4 (so Erlang's
//	global can resolve a name conflict on a Go pid)
//	erlang:node/0, nodes/0, is_alive/0, registered/0, whereis/1
//
// Join's seeds need not be up: a node whose seeds do not answer starts
// and keeps trying in the background (membership.Config.Seeds). Discover
// adds sources of peers (Discovery: DNS A and SRV records, a file, a
// static list), polled at Start (what they find are seeds too) and again
// every DiscoverInterval, joining what is not a member; a peer that
// disappears from them is left to SWIM. Drain is the graceful half of a
// stop: leave, hand leadership over, unregister this node's global names,
// and let the RPC calls in flight finish, before Stop. DataDir
// keeps the gossip port, so a node restarted under its name is taken back
// at once. The global registry runs with Erlang's
// prevent_overlapping_partitions unless NoPreventOverlappingPartitions is
// set (see that field for the trade).
//
// Services use only the root package's exported API.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/election"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/groups"
	"github.com/distribute-go/distribute/membership"
	"github.com/distribute-go/distribute/registry"
	"github.com/distribute-go/distribute/rpc"
)

// Config configures a cluster member.
type Config struct {
	// Node configures the distribution node (name, cookie, TLS, ...).
	Node distribute.Config

	// NoGroups leaves out the default pg scope. Default false: it runs.
	NoGroups bool

	// NoMembership leaves out SWIM membership. Default false: it runs.
	NoMembership bool

	// Gossip is the membership's gossip address "ip:port". Default: the
	// node's listen IP, and the port kept in DataDir, else any free port.
	Gossip string

	// DataDir keeps what a restarted node needs to come back as itself:
	// the gossip port (membership.Config.DataDir), so a node restarted
	// under its name is taken back by the others at once instead of after
	// its old address has been declared dead. Default: Election.DataDir
	// when election runs, else nothing is kept.
	DataDir string

	// Profile holds the SWIM timings. Default membership.LAN().
	Profile membership.Profile

	// Join lists seed nodes, by distribution name: their gossip address
	// comes from distribute:info() over RPC. Start tries them once; when
	// none answers, it returns anyway and membership keeps trying in the
	// background with backoff (membership.Config.Seeds; Membership().Joining
	// reports it, and health's readiness fails meanwhile). This node's own
	// name is ignored, so every node may be given the same list. Default
	// none.
	Join []distribute.Atom

	// Discover lists sources of peers (see Discovery): Start polls them
	// once and adds what they find to Join's seeds, then a goroutine polls
	// them every DiscoverInterval and joins the names that are not alive
	// or suspect members. A name that disappears from the sources is left
	// to SWIM: discovery never cuts a member off. It needs membership.
	// Default none.
	Discover []Discovery

	// DiscoverInterval is how often Discover's sources are polled, and
	// how long one source may take to answer. Default
	// DefaultDiscoverInterval (5 s).
	DiscoverInterval time.Duration

	// Expected is how many nodes the cluster should have. Start does not
	// use it: it is for the health checks (health.Config.Expected), which
	// judge the cluster and its quorum against it rather than against the
	// membership table, which forgets dead members. Default 0: unknown.
	Expected int

	// NoPreventOverlappingPartitions turns off Erlang's
	// prevent_overlapping_partitions in the global registry. With it on
	// (the default, as in OTP 25 and later) any unrequested nodedown (a
	// tick timeout, a reset, membership disconnecting a member declared
	// dead) makes every node that still sees the lost node drop it, so the
	// cluster splits into fully connected partitions and global's names
	// stay consistent; the price is that a blip between two nodes also
	// cuts healthy links to them, and messages in flight on those links
	// are lost. With it off a blip cuts only the link that failed, but
	// nodes may see overlapping partitions (A sees B and C, B does not see
	// C), where global can hold inconsistent names until the links heal.
	// BEAM peers decide for themselves (their kernel parameter).
	NoPreventOverlappingPartitions bool

	// Election, when set, runs leader election (it needs membership).
	// Start fills its Membership, and its TLS and Logger from Node when
	// they are nil. Expect and DataDir are required (election.Config).
	// Default nil: no election.
	Election *election.Config
}

// A cluster node speaks Erlang's global protocol (the registry package), so
// unlike a bare distribute.Node it is visible by default: the zero
// Node.Visibility means Visible here. A Hidden cluster node runs no
// registry (global ignores hidden nodes).

// Cluster is a running node with its services.
type Cluster struct {
	expected   int
	node       *distribute.Node
	rpc        *rpc.Server
	groups     *groups.Scope
	registry   *registry.Server
	membership *membership.Membership
	election   *election.Election
	discoverer *discoverer
}

// Start starts the node and its services. It returns once the node is
// reachable by peers; on error, what was started is stopped.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Node.Visibility == 0 {
		cfg.Node.Visibility = distribute.Visible
	}
	// A bad discovery setting fails before anything starts (no node, no
	// epmd registration that a retry with the same name would meet).
	if err := checkDiscovery(&cfg); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	n, err := distribute.Start(ctx, cfg.Node)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c := &Cluster{node: n, expected: cfg.Expected}
	if err := c.start(ctx, cfg); err != nil {
		c.Stop(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, cfg Config) error {
	var err error
	if c.rpc, err = rpc.Start(ctx, c.node, rpc.Config{}); err != nil {
		return err
	}
	if err := c.rpc.ExportErlang(); err != nil {
		return err
	}
	if cfg.Node.Visibility == distribute.Visible {
		// The registry first: a visible peer's global expects us at once.
		if c.registry, err = registry.Start(ctx, c.node, registry.Config{Logger: cfg.Node.Logger,
			NoPreventOverlappingPartitions: cfg.NoPreventOverlappingPartitions}); err != nil {
			return err
		}
		if err := c.rpc.Register("global", "resolve_it", 4, c.registry.ResolveIt); err != nil {
			return err
		}
		// global:whereis_name/1 and registered_names/0, as an Erlang node answers them.
		err := c.rpc.Register("global", "whereis_name", 1, func(_ context.Context, args []etf.Term) (etf.Term, error) {
			if pid, ok := c.registry.Whereis(args[0]); ok {
				return pid, nil
			}
			return etf.Undefined, nil
		})
		if err == nil {
			err = c.rpc.Register("global", "registered_names", 0, func(context.Context, []etf.Term) (etf.Term, error) {
				return c.globalNames(), nil
			})
		}
		if err != nil {
			return err
		}
	}
	if !cfg.NoGroups {
		if c.groups, err = groups.Start(ctx, c.node, groups.Config{Logger: cfg.Node.Logger}); err != nil {
			return err
		}
	}
	if cfg.NoMembership {
		if cfg.Election != nil {
			return fmt.Errorf("%w: election needs membership", election.ErrConfig)
		}
		return c.exportDistribute()
	}
	dataDir := cfg.DataDir
	if dataDir == "" && cfg.Election != nil {
		dataDir = cfg.Election.DataDir
	}
	seeds := cfg.Join
	if len(cfg.Discover) > 0 {
		c.discoverer = newDiscoverer(c.node.Name(), cfg.Discover, cfg.DiscoverInterval, loggerOf(cfg.Node.Logger))
		seeds = append(slices.Clip(seeds), c.discoverer.poll(ctx)...)
	}
	c.membership, err = membership.Start(ctx, c.node, membership.Config{
		Cookie:     cfg.Node.Cookie,
		GossipAddr: cfg.Gossip,
		DataDir:    dataDir,
		Profile:    cfg.Profile,
		Seeds:      seeds,
		Resolve:    c.resolveGossip,
		Logger:     cfg.Node.Logger,
	})
	if err != nil {
		return err
	}
	if c.discoverer != nil {
		c.discoverer.start(c.membership)
	}
	if cfg.Election != nil {
		ec := *cfg.Election
		ec.Membership = c.membership
		if ec.Logger == nil {
			ec.Logger = cfg.Node.Logger
		}
		if c.election, err = election.Start(ctx, c.node, ec); err != nil {
			return err
		}
	}
	// Last: distribute:info() and the others read the services set above
	// (a peer asking meanwhile, as a joining node does, is told nothing
	// and retries).
	return c.exportDistribute()
}

// resolveGossip asks node for its gossip address with distribute:info().
// A node that answers without one (no distribute:info() yet: it is still
// starting; or gossip undefined) gives an error wrapping
// membership.ErrNoGossip.
func (c *Cluster) resolveGossip(ctx context.Context, node distribute.Atom) (string, error) {
	info, err := c.rpc.Client().Call(ctx, node, "distribute", "info")
	if errors.Is(err, rpc.ErrUndef) {
		return "", fmt.Errorf("cluster: %s exports no distribute:info() yet: %w", node, membership.ErrNoGossip)
	}
	if err != nil {
		return "", err
	}
	m, ok := info.(etf.Map)
	if !ok {
		return "", fmt.Errorf("cluster: distribute:info() on %s returned %s", node, etf.FormatLimit(info, etf.LogTextMax))
	}
	g, _ := m.Get(etf.Atom("gossip"))
	addr, ok := g.(etf.Binary)
	if !ok {
		return "", fmt.Errorf("cluster: %s runs no membership (gossip is %s): %w", node, etf.FormatLimit(g, etf.LogTextMax), membership.ErrNoGossip)
	}
	return string(addr), nil
}

// exportDistribute exports the distribute module's introspection functions.
func (c *Cluster) exportDistribute() error {
	n := c.node
	exports := []struct {
		fun     etf.Atom
		handler rpc.Handler
	}{
		{"info", func(context.Context, []etf.Term) (etf.Term, error) { return c.Info(), nil }},
		{"registered", func(context.Context, []etf.Term) (etf.Term, error) {
			names := n.Registered()
			slices.Sort(names)
			l := etf.List{}
			for _, a := range names {
				l = append(l, a)
			}
			return l, nil
		}},
		{"groups", func(context.Context, []etf.Term) (etf.Term, error) { return c.groupsTerm(), nil }},
		{"members", func(context.Context, []etf.Term) (etf.Term, error) { return c.membersTerm(), nil }},
		{"global_names", func(context.Context, []etf.Term) (etf.Term, error) { return c.globalNames(), nil }},
		{"leader", func(context.Context, []etf.Term) (etf.Term, error) { return c.leaderTerm(), nil }},
	}
	for _, e := range exports {
		if err := c.rpc.Register("distribute", e.fun, 0, e.handler); err != nil {
			return err
		}
	}
	return nil
}

// Info is what distribute:info/0 returns: #{name, creation, hidden,
// version, gossip, election}. gossip is undefined without membership;
// election is true when the node runs the election (its Raft traffic
// travels over the distribution: there is no Raft address to give).
func (c *Cluster) Info() etf.Map {
	n := c.node
	return etf.Map{
		{Key: etf.Atom("name"), Value: n.Name()},
		{Key: etf.Atom("creation"), Value: int64(n.Creation())},
		{Key: etf.Atom("hidden"), Value: etf.Bool(n.Hidden())},
		{Key: etf.Atom("version"), Value: etf.Binary(distribute.Version)},
		{Key: etf.Atom("gossip"), Value: c.gossipTerm()},
		{Key: etf.Atom("election"), Value: etf.Bool(c.election != nil)},
	}
}

// leaderTerm is distribute:leader/0: {ok, Node, Term} when this node
// knows a leader, none otherwise (no election, or no leader known).
func (c *Cluster) leaderTerm() etf.Term {
	if c.election == nil {
		return etf.Atom("none")
	}
	l, term, ok := c.election.Leader()
	if !ok {
		return etf.Atom("none")
	}
	return etf.Tuple{etf.Atom("ok"), l, int64(term)}
}

func (c *Cluster) gossipTerm() etf.Term {
	if c.membership == nil {
		return etf.Undefined
	}
	return etf.Binary(c.membership.GossipAddr())
}

// membersTerm is distribute:members/0: [{Node, alive | suspect | dead |
// left, Incarnation}], self included.
func (c *Cluster) membersTerm() etf.Term {
	out := etf.List{}
	if c.membership == nil {
		return out
	}
	for _, m := range c.membership.Members() {
		out = append(out, etf.Tuple{m.Name, etf.Atom(m.State.String()), int64(m.Incarnation)})
	}
	return out
}

// groupsTerm is distribute:groups/0: [{Group, [Pid]}] in the pg scope.
func (c *Cluster) groupsTerm() etf.Term {
	out := etf.List{}
	if c.groups == nil {
		return out
	}
	for _, g := range c.groups.WhichGroups() {
		pids := etf.List{}
		for _, p := range c.groups.Members(g) {
			pids = append(pids, p)
		}
		out = append(out, etf.Tuple{g, pids})
	}
	return out
}

// Node returns the distribution node.
func (c *Cluster) Node() *distribute.Node { return c.node }

// RPC returns the RPC server, to export more functions.
func (c *Cluster) RPC() *rpc.Server { return c.rpc }

// Groups returns the default process-group scope pg, or nil with NoGroups.
func (c *Cluster) Groups() *groups.Scope { return c.groups }

// globalNames lists the cluster-wide names.
func (c *Cluster) globalNames() etf.List {
	out := etf.List{}
	if c.registry != nil {
		for _, name := range c.registry.RegisteredNames() {
			out = append(out, name)
		}
	}
	return out
}

// Registry returns the global registry, or nil on a hidden node.
func (c *Cluster) Registry() *registry.Server { return c.registry }

// Expected returns Config.Expected: how many nodes the cluster should
// have, for the health checks (0: unknown).
func (c *Cluster) Expected() int { return c.expected }

// Membership returns the SWIM membership, or nil with NoMembership.
func (c *Cluster) Membership() *membership.Membership { return c.membership }

// Election returns the leader election, or nil without Config.Election.
func (c *Cluster) Election() *election.Election { return c.election }

// Drain is the first part of a graceful stop: it does what Stop does
// first (leave, hand leadership over, unregister this node's global
// names), then waits for the RPC calls in flight to finish, until ctx
// ends (it returns ctx's error then). The node stays up and connected
// meanwhile, serving what still arrives; call Stop after it. A graceful
// stop with a grace period G is Drain with a ctx of G, then Stop.
func (c *Cluster) Drain(ctx context.Context) error {
	err := c.leave(ctx)
	if c.rpc != nil {
		err = errors.Join(err, c.rpc.Drain(ctx))
	}
	return err
}

// leave stops discovery, stops the election (handing leadership to
// another voter when this node leads), leaves membership (the others mark
// this node left, not dead) and unregisters the global names of this
// node's processes, while the node stays connected. Each step is done
// once; later calls do nothing more.
func (c *Cluster) leave(ctx context.Context) error {
	var errs []error
	if c.discoverer != nil {
		c.discoverer.stop()
	}
	if c.election != nil {
		errs = append(errs, c.election.Stop(ctx))
	}
	if c.membership != nil {
		errs = append(errs, c.membership.Stop(ctx))
	}
	if c.registry != nil {
		self := c.node.Name()
		for _, name := range c.registry.RegisteredNames() {
			if pid, ok := c.registry.Whereis(name); ok && pid.Node == self {
				if err := c.registry.Unregister(ctx, name); err != nil && !errors.Is(err, registry.ErrNotRegistered) {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Stop stops the services in reverse order: first what Drain does
// without waiting for calls in flight (the election, handing leadership
// to another voter when this node leads; membership, which leaves, so a
// planned stop shows as left, not failed; this node's global names,
// unregistered cluster-wide), then the rest, then the node (see
// distribute.Node.Stop), which ends the calls still running.
func (c *Cluster) Stop(ctx context.Context) error {
	errs := []error{c.leave(ctx)}
	if c.groups != nil {
		errs = append(errs, c.groups.Stop(ctx))
	}
	if c.registry != nil {
		errs = append(errs, c.registry.Stop(ctx))
	}
	if c.rpc != nil {
		errs = append(errs, c.rpc.Stop(ctx))
	}
	errs = append(errs, c.node.Stop(ctx))
	return errors.Join(errs...)
}

// checkDiscovery checks Discover and DiscoverInterval, and fills the
// interval's default.
func checkDiscovery(cfg *Config) error {
	if cfg.DiscoverInterval < 0 {
		return fmt.Errorf("%w: negative DiscoverInterval %v", ErrDiscovery, cfg.DiscoverInterval)
	}
	if cfg.DiscoverInterval == 0 {
		cfg.DiscoverInterval = DefaultDiscoverInterval
	}
	if len(cfg.Discover) > 0 && cfg.NoMembership {
		return fmt.Errorf("%w: Discover needs membership", ErrDiscovery)
	}
	for i, d := range cfg.Discover {
		if d == nil {
			return fmt.Errorf("%w: Discover[%d] is nil", ErrDiscovery, i)
		}
	}
	return nil
}

func loggerOf(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
