package election

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/distribute-go/distribute/membership"
)

// Config configures an election member. Expect, DataDir and Membership
// are required; every other field documents its zero-value default.
type Config struct {
	// Expect is the number of voters: the cluster bootstraps with the
	// first Expect election members by name, and the leader keeps Expect
	// voters, adding further members as non-voters (they follow the log
	// but do not vote, so quorum traffic stays the same however many
	// nodes run the election). A voter gone for RemoveGrace is replaced
	// by an alive non-voter; with no non-voter to promote it is kept, so
	// the configuration never falls below Expect voters. Required, ≥ 1.
	Expect int

	// DataDir holds the durable Raft state: the bolt log and stable store
	// (raft.db), snapshots, and the cluster identity (cluster-id), so a
	// restarted node comes back with its term, its vote and its cluster.
	// Required. Wiping it makes the node a newcomer: it never bootstraps
	// a second cluster, it waits for the leader to take it in. (A data dir
	// of a version whose Raft had a TCP port also holds raft-port, now
	// unused.)
	DataDir string

	// Membership says which members are alive and run the election (the
	// Election flag of their meta) and which Raft cluster each belongs to.
	// Election sets this node's flag (SetElection) when it starts.
	// Required.
	Membership *membership.Membership

	// Timing holds Raft's timeouts. Default (zero): LAN().
	Timing Timing

	// RemoveGrace is how long a voter must have been dead or left before
	// the leader removes it from the configuration (never below Expect
	// voters). It must be far longer than SWIM's detection bound, so a
	// slow or partitioned node is not voted out. Default 72 h.
	RemoveGrace time.Duration

	// Logger receives the election's logs, Raft's included. Default nil:
	// discard.
	Logger *slog.Logger
}

// Timing holds Raft's timeouts and the election's own check intervals.
// Raft requires LeaderLeaseTimeout ≤ HeartbeatTimeout ≤ ElectionTimeout.
type Timing struct {
	// Name is "local", "lan" or empty for custom timings (for logs).
	Name string

	// HeartbeatTimeout is how long a follower waits without contact from
	// the leader before it becomes a candidate (raft.Config).
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits before a new election.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader stays leader without
	// reaching a quorum.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout is how often (randomized up to twice that) an idle
	// leader sends each follower an AppendEntries carrying its commit
	// index, besides Raft's heartbeats (which do not carry it): a
	// follower applies a committed entry (the cluster identity) within
	// about two CommitTimeouts. Entries themselves go out at once. It
	// plays no part in failure detection or failover.
	CommitTimeout time.Duration

	// Check is how often the election looks at membership: to bootstrap,
	// and, on the leader, to add and remove voters.
	Check time.Duration
	// Settle is how long the bootstrap set (the first Expect alive
	// election members by name) must stay the same before a node
	// bootstraps with it, so that every node decides on the same set.
	Settle time.Duration
	// ConnectTimeout bounds a call to a peer's status process (the
	// raft_status call of a bootstrap, or of a leader about to add a
	// newcomer).
	ConnectTimeout time.Duration
	// IOTimeout is the deadline of one Raft RPC, token request included.
	IOTimeout time.Duration
}

// LAN returns Raft's own defaults (1 s heartbeat and election timeouts,
// 500 ms lease), for real networks, with one exception: CommitTimeout is
// 500 ms, not Raft's 50 ms. At 50 ms the commit refreshes of an idle
// leader were most of its Raft traffic (20 AppendEntries per follower a
// second instead of about 8); the election's log holds a handful of
// entries, and nothing waits on a follower applying one. (It was
// reverted once, when a 100-node cluster on one 2-core machine did not
// converge with it; the cause was a newcomer left out of the
// configuration for good, since fixed, and with it that cluster
// converged faster at 500 ms than at 50: docs/SCALE.md.)
func LAN() Timing {
	return Timing{
		Name:               "lan",
		HeartbeatTimeout:   1000 * time.Millisecond,
		ElectionTimeout:    1000 * time.Millisecond,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		CommitTimeout:      500 * time.Millisecond,
		Check:              1 * time.Second,
		Settle:             3 * time.Second,
		ConnectTimeout:     3 * time.Second,
		IOTimeout:          10 * time.Second,
	}
}

// Local returns fast timings for nodes on one machine (tests, demos): a
// leader is elected, and replaced after a crash, within about a second;
// CommitTimeout 20 ms, so that a follower applies an entry at once.
func Local() Timing {
	return Timing{
		Name:               "local",
		HeartbeatTimeout:   400 * time.Millisecond,
		ElectionTimeout:    400 * time.Millisecond,
		LeaderLeaseTimeout: 200 * time.Millisecond,
		CommitTimeout:      20 * time.Millisecond,
		Check:              100 * time.Millisecond,
		Settle:             500 * time.Millisecond,
		ConnectTimeout:     1 * time.Second,
		IOTimeout:          2 * time.Second,
	}
}

func (t Timing) String() string {
	if t.Name != "" {
		return t.Name
	}
	return fmt.Sprintf("heartbeat=%v election=%v lease=%v", t.HeartbeatTimeout, t.ElectionTimeout, t.LeaderLeaseTimeout)
}

func (t Timing) validate() error {
	switch {
	case t.HeartbeatTimeout < 5*time.Millisecond:
		return fmt.Errorf("%w: HeartbeatTimeout %v below 5ms", ErrConfig, t.HeartbeatTimeout)
	case t.ElectionTimeout < t.HeartbeatTimeout:
		return fmt.Errorf("%w: ElectionTimeout %v below HeartbeatTimeout %v", ErrConfig, t.ElectionTimeout, t.HeartbeatTimeout)
	case t.LeaderLeaseTimeout < 5*time.Millisecond || t.LeaderLeaseTimeout > t.HeartbeatTimeout:
		return fmt.Errorf("%w: LeaderLeaseTimeout %v must be within [5ms, HeartbeatTimeout %v]", ErrConfig, t.LeaderLeaseTimeout, t.HeartbeatTimeout)
	case t.CommitTimeout < time.Millisecond:
		return fmt.Errorf("%w: CommitTimeout %v below 1ms", ErrConfig, t.CommitTimeout)
	case t.Check <= 0 || t.Settle < 0 || t.ConnectTimeout <= 0 || t.IOTimeout <= 0:
		return fmt.Errorf("%w: Check, ConnectTimeout and IOTimeout must be positive, Settle not negative", ErrConfig)
	}
	return nil
}

// Errors.
var (
	// ErrConfig is wrapped by every Config validation error.
	ErrConfig = errors.New("election: invalid config")
	// ErrNotLeader is returned by IsLeader (and Resign) when this node is
	// not the leader, or could not confirm it with a quorum.
	ErrNotLeader = errors.New("election: not the leader")
	// ErrClosed is returned after Stop.
	ErrClosed = fmt.Errorf("election: closed: %w", net.ErrClosed)
)

// DefaultRemoveGrace is Config.RemoveGrace's default.
const DefaultRemoveGrace = 72 * time.Hour

func (c Config) withDefaults() (Config, error) {
	switch {
	case c.Expect < 1:
		return c, fmt.Errorf("%w: Expect must be at least 1, got %d", ErrConfig, c.Expect)
	case c.DataDir == "":
		return c, fmt.Errorf("%w: DataDir is required", ErrConfig)
	case c.Membership == nil:
		return c, fmt.Errorf("%w: Membership is required", ErrConfig)
	case c.RemoveGrace < 0:
		return c, fmt.Errorf("%w: RemoveGrace %v is negative", ErrConfig, c.RemoveGrace)
	}
	if c.Timing == (Timing{}) {
		c.Timing = LAN()
	}
	if err := c.Timing.validate(); err != nil {
		return c, err
	}
	if c.RemoveGrace == 0 {
		c.RemoveGrace = DefaultRemoveGrace
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
