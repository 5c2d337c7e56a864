package election

import (
	"cmp"
	"errors"
	"slices"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/membership"
	"github.com/hashicorp/raft"
)

// run is the manager goroutine: it publishes (leader, term) changes Raft
// made without an observation, bootstraps, keeps the cluster identity in
// the membership meta, watches for another Raft cluster, and on the
// leader chooses the cluster identity and reconciles the voters with
// membership. It wakes on every membership change, when the identity is
// set, and every Timing.Check.
func (e *Election) run() {
	defer e.wg.Done()
	t := time.NewTicker(e.cfg.Timing.Check)
	defer t.Stop()
	members := e.cfg.Membership.Watch(e.ctx)
	boot := &bootstrapper{done: e.hadState}
	for {
		e.poll()
		e.publishIdentity(e.ctx)
		e.checkConflicts()
		if !boot.done {
			boot.done = e.tryBootstrap(boot)
		} else if e.raft.State() == raft.Leader && e.ensureIdentity() {
			e.reconcile()
		}
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		case <-e.wake:
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

// electionMembers returns the alive members that run the election, by
// name.
func (e *Election) electionMembers() []membership.Member {
	var out []membership.Member
	for _, m := range e.cfg.Membership.Alive() {
		if m.Election {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b membership.Member) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// voters returns the names of the alive election members, sorted.
func (e *Election) voters() []distribute.Atom {
	var out []distribute.Atom
	for _, m := range e.electionMembers() {
		out = append(out, m.Name)
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
		st, err := e.askStatus(e.ctx, peer)
		if err != nil {
			e.logger.Debug("bootstrap: peer did not answer raft_status", "peer", peer, "error", err)
			return false
		}
		if st.has {
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

// ensureIdentity runs on the leader: when its state machine holds no
// cluster identity once every entry up to this leader's own first one is
// applied (an earlier leader's identity may be among them), it proposes a
// new random one, and reports whether the identity is known. It never
// waits on Raft: the proposal's result shows in the state machine (which
// wakes the manager), and an identity still unknown after IOTimeout is
// proposed again. The first identity entry committed wins (fsm.set), so
// two proposals still leave one identity.
func (e *Election) ensureIdentity() bool {
	if e.fsm.identity() != "" {
		return true
	}
	if e.raft.AppliedIndex() < e.raft.LastIndex() || time.Since(e.proposedAt) < e.cfg.Timing.IOTimeout {
		return false
	}
	id := newIdentity()
	e.raft.Apply([]byte(identityPrefix+id), e.cfg.Timing.IOTimeout) // not waited for: see above
	e.proposedAt = time.Now()
	e.logger.Info("proposed a cluster identity", "cluster", id)
	return false
}

// conflictHold is how long a member seen in another Raft cluster counts
// as a conflict after it was last seen (membership meta is looked at every
// Timing.Check, Raft messages arrive every heartbeat).
func (e *Election) conflictHold() time.Duration {
	return 3 * max(e.cfg.Timing.Check, e.cfg.Timing.HeartbeatTimeout)
}

// checkConflicts records the alive members whose meta names another Raft
// cluster, forgets those not seen for conflictHold, and reports a
// conflict loudly when it appears (error log) and when it ends.
func (e *Election) checkConflicts() {
	ours := e.fsm.identity()
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if ours != "" {
		for _, m := range e.electionMembers() {
			if m.Cluster != "" && m.Cluster != ours && m.Name != e.name {
				e.foreign[m.Name] = foreignMember{cluster: m.Cluster, seen: now.UnixNano()}
			}
		}
	}
	e.reportConflictLocked(ours, now)
	for n, f := range e.foreign {
		if now.Sub(time.Unix(0, f.seen)) > e.conflictHold() {
			delete(e.foreign, n)
		}
	}
}

// reportConflictLocked logs the conflict when it appears and when it
// ends. Every path that records a foreign member calls it before e.mu is
// released, so Conflict never reports a conflict that was not logged.
func (e *Election) reportConflictLocked(ours string, now time.Time) {
	c := conflictOf(ours, e.foreign, now, e.conflictHold())
	switch {
	case c != nil && !e.conflicted:
		e.conflicted = true
		e.logger.Error("split brain: members of another Raft cluster are in sight; IsLeader fails until it is resolved",
			"our_cluster", ours, "nodes", c.Nodes, "their_clusters", c.Others,
			"resolve", "stop the nodes of the smaller side, delete their data dirs, start them again")
	case c == nil && e.conflicted:
		e.conflicted = false
		e.logger.Warn("no member of another Raft cluster is in sight any more", "our_cluster", ours)
	}
}

// reconcile runs on the leader once the cluster identity is known. It
// adds alive election members that are not in the configuration (voters
// up to Expect, non-voters beyond), never a member of another Raft
// cluster nor one with Raft state but no identity; removes a server that
// has been dead or left for RemoveGrace, promoting an alive non-voter in
// place of a voter, and keeping a gone voter when there is none to
// promote (the configuration never falls below Expect voters); promotes
// non-voters while there are fewer than Expect voters; and demotes voters
// beyond Expect (a cluster configured before the cap). Servers are
// addressed by node name, so a member that came back elsewhere needs no
// change.
func (e *Election) reconcile() {
	f := e.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	ours := e.fsm.identity()
	servers := f.Configuration().Servers
	suffrage := make(map[distribute.Atom]raft.ServerSuffrage, len(servers))
	voters := 0
	for _, s := range servers {
		suffrage[distribute.Atom(s.ID)] = s.Suffrage
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	alive := e.electionMembers()
	isAlive := make(map[distribute.Atom]bool, len(alive))
	for _, m := range alive {
		isAlive[m.Name] = true
	}
	timeout := e.cfg.Timing.IOTimeout

	// Add the newcomers.
	for _, m := range alive {
		if _, in := suffrage[m.Name]; in || m.Name == e.name || e.ctx.Err() != nil {
			continue
		}
		if m.Cluster != "" && m.Cluster != ours {
			e.logger.Debug("not adding a member of another Raft cluster", "node", m.Name, "their_cluster", m.Cluster)
			continue // checkConflicts reports it
		}
		if m.Cluster == "" {
			// A node with state but no identity may have bootstrapped a
			// cluster of its own a moment ago: take only those whose
			// state is this cluster's (see joinable).
			st, err := e.askStatus(e.ctx, m.Name)
			if err != nil || !e.joinable(st, ours) {
				e.logger.Debug("not adding a member with Raft state of unknown cluster", "node", m.Name, "has_state", st.has, "log_cluster", st.logCluster, "last_index", st.lastIndex, "term", st.term, "error", err)
				continue
			}
		}
		if voters < e.cfg.Expect {
			if err := e.raft.AddVoter(raft.ServerID(m.Name), raft.ServerAddress(m.Name), 0, timeout).Error(); err != nil {
				e.logger.Warn("add voter failed", "node", m.Name, "error", err)
				return
			}
			e.logger.Info("added voter", "node", m.Name)
			suffrage[m.Name] = raft.Voter
			voters++
			continue
		}
		if err := e.raft.AddNonvoter(raft.ServerID(m.Name), raft.ServerAddress(m.Name), 0, timeout).Error(); err != nil {
			e.logger.Warn("add non-voter failed", "node", m.Name, "error", err)
			return
		}
		e.logger.Info("added non-voter", "node", m.Name)
		suffrage[m.Name] = raft.Nonvoter
	}

	// promote turns an alive non-voter into a voter; false when there is
	// none.
	promote := func() bool {
		for _, m := range alive {
			if suffrage[m.Name] != raft.Nonvoter || e.ctx.Err() != nil {
				continue
			}
			if err := e.raft.AddVoter(raft.ServerID(m.Name), raft.ServerAddress(m.Name), 0, timeout).Error(); err != nil {
				e.logger.Warn("promote non-voter failed", "node", m.Name, "error", err)
				return false
			}
			e.logger.Info("promoted non-voter", "node", m.Name)
			suffrage[m.Name] = raft.Voter
			voters++
			return true
		}
		return false
	}

	// Remove the servers gone for RemoveGrace.
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
		if s.Suffrage == raft.Voter && voters <= e.cfg.Expect && !promote() {
			e.logger.Debug("keeping a gone voter: the configuration is at Expect voters and no non-voter can replace it", "node", n, "gone_since", since)
			continue
		}
		if err := e.raft.RemoveServer(s.ID, 0, timeout).Error(); err != nil {
			e.logger.Warn("remove server failed", "node", n, "error", err)
			return
		}
		e.logger.Info("removed server gone for longer than RemoveGrace", "node", n, "gone_since", since)
		delete(e.goneSince, n)
		if suffrage[n] == raft.Voter {
			voters--
		}
		delete(suffrage, n)
	}

	// Fill up to Expect voters.
	for voters < e.cfg.Expect && promote() {
	}

	// Demote voters beyond Expect: gone ones first, then the last by name;
	// never this node (the leader).
	if voters > e.cfg.Expect {
		var cands []distribute.Atom
		for n, s := range suffrage {
			if s == raft.Voter && n != e.name {
				cands = append(cands, n)
			}
		}
		slices.SortFunc(cands, func(a, b distribute.Atom) int {
			if isAlive[a] != isAlive[b] {
				if isAlive[a] {
					return 1
				}
				return -1
			}
			switch {
			case a > b:
				return -1
			case a < b:
				return 1
			}
			return 0
		})
		for _, n := range cands {
			if voters <= e.cfg.Expect || e.ctx.Err() != nil {
				break
			}
			if err := e.raft.DemoteVoter(raft.ServerID(n), 0, timeout).Error(); err != nil {
				e.logger.Warn("demote voter failed", "node", n, "error", err)
				return
			}
			e.logger.Info("demoted voter beyond Expect", "node", n)
			suffrage[n] = raft.Nonvoter
			voters--
		}
	}
}

// joinable reports whether a peer that applied no cluster identity, whose
// raft_status is st, may join this cluster (identity id): it has no Raft
// state; or its log holds this cluster's identity (a leader replicated
// to it, then lost leadership before its addition committed); or it has
// no log at all, only a term no later than ours (it heard this cluster's
// leader or candidates). A node that bootstrapped a cluster of its own
// has a configuration entry in its log and another identity, or none
// yet, and is left out.
func (e *Election) joinable(st peerStatus, id string) bool {
	switch {
	case !st.has:
		return true
	case id != "" && st.logCluster == id:
		return true
	case st.lastIndex == 0 && st.term <= e.raft.CurrentTerm():
		return true
	}
	return false
}
