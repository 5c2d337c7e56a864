package election

import (
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/membership"
	"github.com/hashicorp/raft"
)

func tlsListener(ln net.Listener, cfg *tls.Config) net.Listener { return tls.NewListener(ln, cfg) }

// run is the manager goroutine: it publishes (leader, term) changes Raft
// made without an observation, bootstraps, and on the leader reconciles
// the voters with membership. It wakes on every membership change and
// every Timing.Check.
func (e *Election) run() {
	defer e.wg.Done()
	t := time.NewTicker(e.cfg.Timing.Check)
	defer t.Stop()
	members := e.cfg.Membership.Watch(e.ctx)
	boot := &bootstrapper{done: e.hadState}
	for {
		e.poll()
		if !boot.done {
			boot.done = e.tryBootstrap(boot)
		} else if e.raft.State() == raft.Leader {
			e.reconcile()
		}
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		case _, ok := <-members:
			if !ok {
				members = nil
			}
		}
	}
}

// bootstrapper is the manager's bootstrap progress.
type bootstrapper struct {
	done  bool
	set   []distribute.Atom // the bootstrap set last seen
	since time.Time         // when set was first seen
}

// voters returns the alive election members (Raft meta set), by name.
func (e *Election) voters() []distribute.Atom {
	var out []distribute.Atom
	for _, m := range e.cfg.Membership.Alive() {
		if m.Raft != "" {
			out = append(out, m.Name)
		}
	}
	return out
}

// tryBootstrap bootstraps the cluster when DESIGN decision 9 allows it:
// no Raft state here; at least Expect alive election members, this node
// among the first Expect by name, that set unchanged for Timing.Settle;
// and no alive election member reports Raft state. It reports whether
// bootstrapping is over (done, or not needed: this node has state).
func (e *Election) tryBootstrap(b *bootstrapper) bool {
	if e.hasState() {
		return true
	}
	alive := e.voters()
	if len(alive) < e.cfg.Expect {
		b.set = nil
		return false
	}
	set := alive[:e.cfg.Expect]
	if !slices.Contains(set, e.name) {
		b.set = nil
		return false // wait for the leader to add this node
	}
	now := time.Now()
	if !slices.Equal(set, b.set) {
		b.set, b.since = slices.Clone(set), now
		return false
	}
	if now.Sub(b.since) < e.cfg.Timing.Settle {
		return false
	}
	for _, peer := range alive {
		if peer == e.name {
			continue
		}
		has, err := e.askStatus(e.ctx, peer)
		if err != nil {
			e.logger.Debug("bootstrap: peer did not answer raft_status", "peer", peer, "error", err)
			return false
		}
		if has {
			e.logger.Info("bootstrap: a peer has Raft state; waiting for the leader to add this node", "peer", peer)
			return false
		}
	}
	if e.hasState() {
		return true
	}
	servers := make([]raft.Server, len(set))
	for i, n := range set {
		servers[i] = raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(n), Address: raft.ServerAddress(n)}
	}
	err := e.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
	switch {
	case err == nil:
		e.logger.Info("bootstrapped", "voters", set)
	case errors.Is(err, raft.ErrCantBootstrap):
		e.logger.Info("bootstrap not needed: Raft state appeared")
	default:
		e.logger.Warn("bootstrap failed", "error", err)
		return false
	}
	return true
}

// reconcile runs on the leader: it adds alive election members that are
// not in the configuration as voters, and removes a voter that has been
// dead or left for RemoveGrace, never going below Expect voters. Servers
// are addressed by node name, so a member that came back on another port
// needs no change: the resolver reads its new address from membership.
func (e *Election) reconcile() {
	f := e.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	servers := f.Configuration().Servers
	in := make(map[distribute.Atom]bool, len(servers))
	voters := 0
	for _, s := range servers {
		in[distribute.Atom(s.ID)] = true
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	for _, n := range e.voters() {
		if in[n] || e.ctx.Err() != nil {
			continue
		}
		err := e.raft.AddVoter(raft.ServerID(n), raft.ServerAddress(n), 0, e.cfg.Timing.IOTimeout).Error()
		if err != nil {
			e.logger.Warn("add voter failed", "node", n, "error", err)
			return
		}
		e.logger.Info("added voter", "node", n)
		voters++
	}
	now := time.Now()
	for _, s := range servers {
		n := distribute.Atom(s.ID)
		if n == e.name {
			continue
		}
		m, ok := e.cfg.Membership.Member(n)
		if ok && m.State != membership.StateDead && m.State != membership.StateLeft {
			delete(e.goneSince, n)
			continue
		}
		since, seen := e.goneSince[n]
		if !seen {
			since = now
			if ok && m.Since.Before(now) {
				since = m.Since
			}
			e.goneSince[n] = since
		}
		if now.Sub(since) < e.cfg.RemoveGrace || e.ctx.Err() != nil {
			continue
		}
		if s.Suffrage == raft.Voter && voters <= e.cfg.Expect {
			e.logger.Debug("keeping a gone voter: the configuration is at Expect voters", "node", n, "gone_since", since)
			continue
		}
		if err := e.raft.RemoveServer(s.ID, 0, e.cfg.Timing.IOTimeout).Error(); err != nil {
			e.logger.Warn("remove server failed", "node", n, "error", err)
			return
		}
		e.logger.Info("removed server gone for longer than RemoveGrace", "node", n, "gone_since", since)
		delete(e.goneSince, n)
		if s.Suffrage == raft.Voter {
			voters--
		}
	}
}
