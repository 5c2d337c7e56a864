package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/hashicorp/memberlist"
)

// Profile holds the SWIM timings of a cluster. Every member of a cluster
// should use the same profile. LAN and Local are the two built-in ones.
type Profile struct {
	// Name names the profile in logs ("lan", "local").
	Name string
	// ProbeInterval is how often each member probes one other member.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a direct probe waits for its ack before
	// indirect probes start.
	ProbeTimeout time.Duration
	// IndirectChecks is how many members probe on our behalf after a
	// failed direct probe.
	IndirectChecks int
	// SuspicionMult scales the suspicion timeout: a suspect is declared
	// dead after SuspicionMult × max(1, log10(N)) × ProbeInterval once
	// enough peers confirm the suspicion (Lifeguard).
	SuspicionMult int
	// SuspicionMaxTimeoutMult is the Lifeguard upper bound: without
	// confirmations the timeout starts at this multiple of the minimum.
	SuspicionMaxTimeoutMult int
	// AwarenessMaxMultiplier bounds how far Lifeguard stretches the probe
	// interval when this member itself is slow (missed acks).
	AwarenessMaxMultiplier int
	// GossipInterval, GossipNodes: every GossipInterval, piggybacked
	// updates go to GossipNodes random members.
	GossipInterval time.Duration
	GossipNodes    int
	// RetransmitMult: an update is gossiped RetransmitMult × ceil(log10(N+1))
	// times.
	RetransmitMult int
	// GossipToTheDeadTime is how long dead members keep getting gossip
	// (so a member wrongly declared dead learns it and refutes), and how
	// long they stay in memberlist's table.
	GossipToTheDeadTime time.Duration
	// PushPullInterval is the period of full state exchange (anti-entropy).
	PushPullInterval time.Duration
	// TCPTimeout bounds stream operations (join, push/pull, TCP probes).
	TCPTimeout time.Duration
	// DeadNodeReclaimTime is how long a member must have been dead before
	// its name may come back from another address or port (a node restarted
	// after a crash on a fresh gossip port, a re-created pod). A member
	// that sees such a claim while the old address is still alive or
	// suspect joins the claimant itself once the old one has been dead
	// this long, so the name moves without waiting for the claimant's next
	// push/pull. Zero: never, memberlist's default, under which such a
	// node is refused for good.
	DeadNodeReclaimTime time.Duration
	// ReconnectInterval is how often a member tries to rejoin one dead
	// member at its last gossip address, and ReconnectTimeout how long it
	// keeps trying after the member died. SWIM alone never merges two
	// sides of a partition again once each has declared the other dead
	// (memberlist forgets dead members after GossipToTheDeadTime); this
	// does, as Serf's reconnector does. Zero ReconnectInterval: never.
	ReconnectInterval time.Duration
	ReconnectTimeout  time.Duration
	// ReapTime is how long a dead or left member stays in the status
	// table after its last change; then it is forgotten: it leaves
	// Members, no rejoin is tried, and if it comes back it is new (its
	// first Event has Prev 0). A member memberlist still gossips about
	// is kept. Zero: never forgotten (the table grows with every name
	// that ever joined).
	ReapTime time.Duration
	// DisconnectGrace is how long a member declared dead keeps its
	// distribution connection: long enough for a member that is alive
	// after all (a loaded machine, lost packets) to hear of its death and
	// refute it with a new incarnation, which keeps the connection. A
	// member still dead in the same incarnation at the end is
	// disconnected, so its monitors and links fire with noconnection.
	// Without it every false suspicion cut a healthy connection, and with
	// `global` preventing overlapping partitions each cut spread into a
	// disconnect of that node from the whole cluster. Zero: at once.
	DisconnectGrace time.Duration
}

// LAN is memberlist.DefaultLANConfig's timings: probe every second,
// suspicion 4 × log10(N) s to 24 × log10(N) s, suited to a real network.
// A dead member's name may come back from a new address 2 s after it was
// declared dead: long enough for the dead message to reach every member
// of a cluster of up to 99 (RetransmitMult × ⌈log10(N+1)⌉ gossip rounds of
// 200 ms), so they all move the name together; short next to detection.
// Dead and left members are forgotten after 24 h, when rejoining them
// stops (ReconnectTimeout), as Serf does. A dead member keeps its
// connection 5 s, time for a member wrongly declared dead to hear of it
// and refute (DisconnectGrace).
func LAN() Profile {
	c := memberlist.DefaultLANConfig()
	p := profileOf("lan", c)
	p.DeadNodeReclaimTime = 2 * time.Second
	p.ReconnectInterval = 10 * time.Second
	p.ReconnectTimeout = 24 * time.Hour
	p.ReapTime = 24 * time.Hour
	p.DisconnectGrace = 5 * time.Second
	return p
}

// Local is a fast profile for loopback tests and demos: probe every
// 200 ms with a 100 ms timeout, suspicion 0.8 s to 2.4 s (N < 10). It
// detects a dead node in about a tenth of LAN's time; on a loaded or real
// network it suspects healthy members far too eagerly. A dead member's
// name may come back from a new address after 1 s; dead and left members
// are forgotten after an hour.
func Local() Profile {
	c := memberlist.DefaultLANConfig()
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.SuspicionMult = 4
	c.SuspicionMaxTimeoutMult = 3
	c.GossipInterval = 50 * time.Millisecond
	c.GossipToTheDeadTime = 10 * time.Second
	c.PushPullInterval = 2 * time.Second
	c.TCPTimeout = 2 * time.Second
	p := profileOf("local", c)
	p.DeadNodeReclaimTime = time.Second
	p.ReconnectInterval = time.Second
	p.ReconnectTimeout = time.Hour
	p.ReapTime = time.Hour
	p.DisconnectGrace = time.Second
	return p
}

func profileOf(name string, c *memberlist.Config) Profile {
	return Profile{
		Name:                    name,
		ProbeInterval:           c.ProbeInterval,
		ProbeTimeout:            c.ProbeTimeout,
		IndirectChecks:          c.IndirectChecks,
		SuspicionMult:           c.SuspicionMult,
		SuspicionMaxTimeoutMult: c.SuspicionMaxTimeoutMult,
		AwarenessMaxMultiplier:  c.AwarenessMaxMultiplier,
		GossipInterval:          c.GossipInterval,
		GossipNodes:             c.GossipNodes,
		RetransmitMult:          c.RetransmitMult,
		GossipToTheDeadTime:     c.GossipToTheDeadTime,
		PushPullInterval:        c.PushPullInterval,
		TCPTimeout:              c.TCPTimeout,
		DeadNodeReclaimTime:     c.DeadNodeReclaimTime,
	}
}

// SuspicionTimeout returns the Lifeguard suspicion timeout range for a
// cluster of n members: min = SuspicionMult × max(1, log10(n)) ×
// ProbeInterval, reached with SuspicionMult-2 independent confirmations;
// max = SuspicionMaxTimeoutMult × min, taken with none.
func (p Profile) SuspicionTimeout(n int) (min, max time.Duration) {
	scale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	min = time.Duration(float64(p.SuspicionMult) * scale * float64(p.ProbeInterval))
	return min, time.Duration(p.SuspicionMaxTimeoutMult) * min
}

// DetectionBound is how long after a member dies every healthy member of
// a cluster of n has marked it dead, at worst:
//
//	ProbeInterval                     some member probes it (each of the n-1
//	                                  others probes one member per interval)
//	+ ProbeInterval                   direct probe, indirect probes, TCP probe
//	+ SuspicionMaxTimeoutMult × SuspicionMult × max(1, log10 n) × ProbeInterval
//	                                  Lifeguard suspicion timeout, unconfirmed
//	+ (RetransmitMult × ceil(log10(n+1)) + 1) × GossipInterval
//	                                  the dead message reaches everyone
//	+ statusInterval                  our table reads memberlist's
//
// The typical time is much shorter: with n ≥ SuspicionMult+1 members
// confirmations shrink the suspicion timeout toward its minimum. A member
// that is itself overloaded stretches its probe interval up to
// AwarenessMaxMultiplier times (Lifeguard), which this bound excludes.
func (p Profile) DetectionBound(n int, statusInterval time.Duration) time.Duration {
	_, max := p.SuspicionTimeout(n)
	rounds := p.RetransmitMult*int(math.Ceil(math.Log10(float64(n+1)))) + 1
	return 2*p.ProbeInterval + max + time.Duration(rounds)*p.GossipInterval + statusInterval
}

func (p Profile) String() string {
	min, max := p.SuspicionTimeout(1)
	return fmt.Sprintf("%s{probe=%v timeout=%v suspicion=%v..%v gossip=%v×%d}", p.Name, p.ProbeInterval, p.ProbeTimeout, min, max, p.GossipInterval, p.GossipNodes)
}

func (p Profile) validate() error {
	if p.ProbeInterval <= 0 || p.ProbeTimeout <= 0 || p.GossipInterval <= 0 || p.PushPullInterval <= 0 || p.TCPTimeout <= 0 || p.GossipToTheDeadTime <= 0 {
		return fmt.Errorf("%w: profile %q has a zero or negative interval", ErrConfig, p.Name)
	}
	if p.DeadNodeReclaimTime < 0 || p.ReconnectInterval < 0 || p.ReconnectTimeout < 0 || p.ReapTime < 0 || p.DisconnectGrace < 0 {
		return fmt.Errorf("%w: profile %q has a negative reclaim, reconnect, reap or disconnect grace time", ErrConfig, p.Name)
	}
	if p.SuspicionMult < 1 || p.SuspicionMaxTimeoutMult < 1 || p.GossipNodes < 1 || p.RetransmitMult < 1 || p.IndirectChecks < 0 || p.AwarenessMaxMultiplier < 1 {
		return fmt.Errorf("%w: profile %q has a multiplier below 1", ErrConfig, p.Name)
	}
	return nil
}

// apply writes the profile into a memberlist config.
func (p Profile) apply(c *memberlist.Config) {
	c.ProbeInterval = p.ProbeInterval
	c.ProbeTimeout = p.ProbeTimeout
	c.IndirectChecks = p.IndirectChecks
	c.SuspicionMult = p.SuspicionMult
	c.SuspicionMaxTimeoutMult = p.SuspicionMaxTimeoutMult
	c.AwarenessMaxMultiplier = p.AwarenessMaxMultiplier
	c.GossipInterval = p.GossipInterval
	c.GossipNodes = p.GossipNodes
	c.RetransmitMult = p.RetransmitMult
	c.GossipToTheDeadTime = p.GossipToTheDeadTime
	c.PushPullInterval = p.PushPullInterval
	c.TCPTimeout = p.TCPTimeout
	c.DeadNodeReclaimTime = p.DeadNodeReclaimTime
}

// Config configures a member. Cookie is required, and Name when Start
// has no node; every other field documents its zero-value default.
type Config struct {
	// node is Start's node argument.
	node *distribute.Node

	// Name is the member's name, its distribution node name. Default
	// the name of Start's node.
	Name distribute.Atom

	// Cookie is the cluster's cookie; the gossip key is derived from it
	// (DeriveKey). Members with another cookie cannot join. Required.
	Cookie string

	// GossipAddr is the "ip:port" gossip listens on (UDP and TCP, same
	// port). Default: the IP of Node's listener (127.0.0.1 without a
	// Node), port 0: the port kept in DataDir, else any free port.
	GossipAddr string

	// DataDir, when set, keeps the gossip port across restarts: with port
	// 0 in GossipAddr, the member binds the port recorded in the file
	// gossip-port there (any free port the first time, or when that one
	// is taken, with a warning) and records the port it bound. A member
	// restarted on its old address is taken back at once; on a new one
	// only after the old address has been declared dead (see
	// DeadNodeReclaimTime). Default empty: nothing is kept.
	DataDir string

	// Seeds are members to join, by distribution node name (resolved
	// with Resolve, which they need). Start tries them once; when none
	// answers, the member starts anyway and keeps trying in the
	// background, with a backoff from ProbeInterval doubling to 30 ×
	// ProbeInterval, until a join succeeds or another member joins it
	// (Serf's retry_join). Joining reports whether it still tries. This
	// member's own name is ignored, so every member may be given the
	// same list. Default none.
	Seeds []distribute.Atom

	// Profile holds the SWIM timings. Default LAN().
	Profile Profile

	// StatusInterval is how often the status table reads memberlist's
	// state (it also reads it at once on every join or leave memberlist
	// reports). Default ProbeInterval/2.
	StatusInterval time.Duration

	// ConnectRetry is how long to wait before dialling an alive member
	// again after a failed connect. Default 1 s.
	ConnectRetry time.Duration

	// LeaveTimeout bounds how long Stop waits for the leave message to go
	// out (Stop's ctx may end it sooner). Default 5 s.
	LeaveTimeout time.Duration

	// Resolve returns the gossip address of a node by its distribution
	// name, for JoinNode and Seeds, and to tell a restarted node from the
	// dead incarnation it replaces; when the node answers without one it
	// returns an error wrapping ErrNoGossip. The cluster package wires it
	// to distribute:info/0 over RPC. Default nil: JoinNode fails with
	// ErrNoResolver.
	Resolve func(ctx context.Context, node distribute.Atom) (gossipAddr string, err error)

	// Logger receives the member's logs, memberlist's included. Default
	// nil: discard.
	Logger *slog.Logger
}

// Errors.
var (
	// ErrConfig is wrapped by every Config validation error.
	ErrConfig = errors.New("membership: invalid config")
	// ErrClosed is returned after Stop.
	ErrClosed = fmt.Errorf("membership: closed: %w", net.ErrClosed)
	// ErrJoin is wrapped when no given member could be joined.
	ErrJoin = errors.New("membership: join failed")
	// ErrNoResolver is returned by JoinNode without Config.Resolve.
	ErrNoResolver = errors.New("membership: no resolver for node names")
	// ErrNoGossip is what a Resolve function wraps when the node answered
	// but has no gossip address: it runs no membership, or not yet (a
	// node still starting). It is a live process, so a member declared
	// dead under its name is not this one (see Membership.Members).
	ErrNoGossip = errors.New("membership: the node has no gossip address")
)

func (c Config) withDefaults() (Config, error) {
	if c.Name == "" && c.node != nil {
		c.Name = c.node.Name()
	}
	if c.Name == "" {
		return c, fmt.Errorf("%w: no Name and no Node", ErrConfig)
	}
	if c.node != nil && c.Name != c.node.Name() {
		return c, fmt.Errorf("%w: Name %s differs from Node's name %s", ErrConfig, c.Name, c.node.Name())
	}
	if c.Cookie == "" {
		return c, fmt.Errorf("%w: empty cookie", ErrConfig)
	}
	if c.GossipAddr == "" {
		ip := "127.0.0.1"
		if c.node != nil {
			if a, ok := c.node.ListenAddr().(*net.TCPAddr); ok && a != nil && !a.IP.IsUnspecified() {
				ip = a.IP.String()
			}
		}
		c.GossipAddr = net.JoinHostPort(ip, "0")
	}
	if c.Profile == (Profile{}) {
		c.Profile = LAN()
	}
	if err := c.Profile.validate(); err != nil {
		return c, err
	}
	if c.StatusInterval == 0 {
		c.StatusInterval = c.Profile.ProbeInterval / 2
	}
	if c.ConnectRetry == 0 {
		c.ConnectRetry = time.Second
	}
	if c.LeaveTimeout == 0 {
		c.LeaveTimeout = 5 * time.Second
	}
	if c.StatusInterval < 0 || c.ConnectRetry < 0 || c.LeaveTimeout < 0 {
		return c, fmt.Errorf("%w: negative duration", ErrConfig)
	}
	var seeds []distribute.Atom
	for _, s := range c.Seeds {
		if s != c.Name && !slices.Contains(seeds, s) {
			seeds = append(seeds, s)
		}
	}
	c.Seeds = seeds
	if len(c.Seeds) > 0 && c.Resolve == nil {
		return c, fmt.Errorf("%w: Seeds without Resolve", ErrConfig)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
