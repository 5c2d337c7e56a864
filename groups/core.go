package groups

import (
	"github.com/distribute-go/distribute"

	"maps"

	"github.com/distribute-go/distribute/etf"
)

// Protocol atoms of OTP's pg scope (see doc.go).
const (
	atomDiscover distribute.Atom = "discover"
	atomSync     distribute.Atom = "sync"
	atomJoin     distribute.Atom = "join"
	atomLeave    distribute.Atom = "leave"
	atomGenCast  distribute.Atom = "$gen_cast"
)

// effectOp is what the scope process must do after the core changed.
type effectOp uint8

const (
	effSend      effectOp = 1 // send msg to the peer scope pid to
	effSendName  effectOp = 2 // send msg to {scope, node}
	effMonitor   effectOp = 3 // monitor pid (a local member or a peer scope)
	effDemonitor effectOp = 4 // end the monitor of the local member pid
)

// effect is one piece of I/O the core asks for. The core itself does none.
type effect struct {
	op   effectOp
	to   distribute.Pid
	node distribute.Atom
	msg  distribute.Term
}

// group is one group's row of the table: every member, and the local ones.
// A pid appears once per join, as in pg.
type group struct {
	name  distribute.Term
	all   []distribute.Pid
	local []distribute.Pid
	// counts holds how often each pid is in all; dups is the number of
	// entries of all beyond the first of their pid, so a broadcast knows
	// without a search whether it must skip repeats.
	counts map[distribute.Pid]int32
	dups   int
}

// add appends pids to the row (to all, and to local when local is set).
func (g *group) add(pids []distribute.Pid, local bool) {
	if g.counts == nil {
		g.counts = make(map[distribute.Pid]int32, len(pids))
	}
	for _, p := range pids {
		n := g.counts[p]
		if n > 0 {
			g.dups++
		}
		g.counts[p] = n + 1
	}
	g.all = append(g.all, pids...)
	if local {
		g.local = append(g.local, pids...)
	}
}

// remove deletes one occurrence of p from all (and from local when local
// is set).
func (g *group) remove(p distribute.Pid, local bool) {
	var ok bool
	if g.all, ok = removeOne(g.all, p); ok {
		switch n := g.counts[p]; {
		case n > 1:
			g.counts[p] = n - 1
			g.dups--
		default:
			delete(g.counts, p)
		}
	}
	if local {
		g.local, _ = removeOne(g.local, p)
	}
}

// localMember is a local process that joined at least one group: the keys
// of its groups, once per join.
type localMember struct {
	groups []string
}

// peerScope is a discovered scope process on another node, with the members
// it announced (group key → pids).
type peerScope struct {
	groups map[string][]distribute.Pid
}

// core is the deterministic state machine of a scope: the group table, the
// local members and the peer scopes. It does no I/O: every change appends
// the messages and monitors it needs to out, and reports membership changes
// through notify. One goroutine at a time drives it (the Scope holds its
// lock); it never panics on any input.
type core struct {
	scope  distribute.Atom
	self   distribute.Pid
	groups map[string]*group
	local  map[distribute.Pid]*localMember
	peers  map[distribute.Pid]*peerScope
	out    []effect
	notify func(key string, c Change)
}

func newCore(scope distribute.Atom, self distribute.Pid) *core {
	return &core{
		scope:  scope,
		self:   self,
		groups: make(map[string]*group),
		local:  make(map[distribute.Pid]*localMember),
		peers:  make(map[distribute.Pid]*peerScope),
	}
}

// takeEffects returns the pending effects and clears them.
func (c *core) takeEffects() []effect {
	out := c.out
	c.out = nil
	return out
}

func (c *core) emit(e effect) { c.out = append(c.out, e) }

func (c *core) changed(key string, name distribute.Term, kind ChangeKind, pids []distribute.Pid) {
	if c.notify != nil && len(pids) > 0 {
		c.notify(key, Change{Kind: kind, Group: name, Pids: append([]distribute.Pid(nil), pids...)})
	}
}

// broadcast queues msg to every known peer scope.
func (c *core) broadcast(msg distribute.Term) {
	for p := range c.peers {
		c.emit(effect{op: effSend, to: p, msg: msg})
	}
}

// pidOrPids is pg's PidOrPids: the bare pid for one, a list otherwise.
func pidOrPids(pids []distribute.Pid) distribute.Term {
	if len(pids) == 1 {
		return pids[0]
	}
	l := make(etf.List, len(pids))
	for i, p := range pids {
		l[i] = p
	}
	return l
}

// row returns the table row of key, creating it.
func (c *core) row(key string, name distribute.Term) *group {
	g := c.groups[key]
	if g == nil {
		g = &group{name: name}
		c.groups[key] = g
	}
	return g
}

// removeMany is remove for each of pids, in one pass over the row.
func (g *group) removeMany(pids []distribute.Pid, local bool) {
	want := make(map[distribute.Pid]int32, len(pids))
	for _, p := range pids {
		want[p]++
	}
	// Only what is there can be removed; the counts say how much that is.
	for p, n := range want {
		have := g.counts[p]
		if n > have {
			n = have
			want[p] = n
		}
		switch {
		case n == 0:
			delete(want, p)
		case n == have:
			g.dups -= int(have - 1)
			delete(g.counts, p)
		default:
			g.dups -= int(n)
			g.counts[p] = have - n
		}
	}
	if local {
		g.local = filterFirst(g.local, maps.Clone(want))
	}
	g.all = filterFirst(g.all, want)
}

// filterFirst removes from s the first want[p] occurrences of each p,
// keeping the order of the rest. It consumes want.
func filterFirst(s []distribute.Pid, want map[distribute.Pid]int32) []distribute.Pid {
	out := s[:0]
	for _, p := range s {
		if n := want[p]; n > 0 {
			want[p] = n - 1
			continue
		}
		out = append(out, p)
	}
	clear(s[len(out):])
	return out
}

// removeOne deletes the first occurrence of p from s, reporting whether it
// was there.
func removeOne(s []distribute.Pid, p distribute.Pid) ([]distribute.Pid, bool) {
	for i, x := range s {
		if x == p {
			copy(s[i:], s[i+1:])
			return s[:len(s)-1], true
		}
	}
	return s, false
}

// bulkRemove is the number of pids from which a removal is done in one
// pass over the row instead of one search per pid.
const bulkRemove = 8

// dropFromRow removes one occurrence of each pid from the row of key (and
// from its local column when local), deleting an empty row.
func (c *core) dropFromRow(key string, pids []distribute.Pid, local bool) {
	g := c.groups[key]
	if g == nil {
		return
	}
	if len(pids) < bulkRemove {
		for _, p := range pids {
			g.remove(p, local)
		}
	} else {
		g.removeMany(pids, local)
	}
	if len(g.all) == 0 {
		delete(c.groups, key)
	}
}

// join adds local pids to a group and announces them to the peers.
func (c *core) join(key string, name distribute.Term, pids []distribute.Pid) {
	if len(pids) == 0 {
		return
	}
	for _, p := range pids {
		m := c.local[p]
		if m == nil {
			m = &localMember{}
			c.local[p] = m
			c.emit(effect{op: effMonitor, to: p})
		}
		m.groups = append(m.groups, key)
	}
	g := c.row(key, name)
	g.add(pids, true)
	c.changed(key, g.name, Joined, pids)
	c.broadcast(etf.Tuple{atomJoin, c.self, g.name, pidOrPids(pids)})
}

// leave removes one membership of each local pid in a group and returns
// the pids that were members.
func (c *core) leave(key string, pids []distribute.Pid) []distribute.Pid {
	g := c.groups[key]
	if g == nil {
		return nil
	}
	name := g.name
	var removed []distribute.Pid
	for _, p := range pids {
		m := c.local[p]
		if m == nil {
			continue
		}
		i := indexString(m.groups, key)
		if i < 0 {
			continue
		}
		m.groups = append(m.groups[:i], m.groups[i+1:]...)
		if len(m.groups) == 0 {
			delete(c.local, p)
			c.emit(effect{op: effDemonitor, to: p})
		}
		removed = append(removed, p)
	}
	if len(removed) == 0 {
		return nil
	}
	c.dropFromRow(key, removed, true)
	c.changed(key, name, Left, removed)
	c.broadcast(etf.Tuple{atomLeave, c.self, pidOrPids(removed), etf.List{name}})
	return removed
}

func indexString(s []string, x string) int {
	for i, y := range s {
		if y == x {
			return i
		}
	}
	return -1
}

// localDown removes a local member that exited from all its groups.
func (c *core) localDown(p distribute.Pid) {
	m := c.local[p]
	if m == nil {
		return
	}
	delete(c.local, p)
	names := make(etf.List, 0, len(m.groups))
	for _, key := range m.groups {
		g := c.groups[key]
		if g == nil {
			continue
		}
		names = append(names, g.name)
		c.dropFromRow(key, []distribute.Pid{p}, true)
		c.changed(key, g.name, Left, []distribute.Pid{p})
	}
	c.broadcast(etf.Tuple{atomLeave, c.self, p, names})
}

// localSync is the sync message telling a peer all our local members.
func (c *core) localSync() distribute.Term {
	groups := make(etf.List, 0, len(c.groups))
	for _, g := range c.groups {
		if len(g.local) == 0 {
			continue
		}
		pids := make(etf.List, len(g.local))
		for i, p := range g.local {
			pids[i] = p
		}
		groups = append(groups, etf.Tuple{g.name, pids})
	}
	return etf.Tuple{atomGenCast, etf.Tuple{atomSync, c.self, groups}}
}

// discoverAll queues {discover, Self} to the scope on node.
func (c *core) discoverNode(node distribute.Atom) {
	if node == c.self.Node {
		return
	}
	c.emit(effect{op: effSendName, node: node, msg: etf.Tuple{atomDiscover, c.self}})
}

// peerDown forgets a peer scope and all its members.
func (c *core) peerDown(peer distribute.Pid) {
	ps := c.peers[peer]
	if ps == nil {
		return
	}
	delete(c.peers, peer)
	for key, pids := range ps.groups {
		name := c.nameOf(key)
		c.dropFromRow(key, pids, false)
		c.changed(key, name, Left, pids)
	}
}

func (c *core) nameOf(key string) distribute.Term {
	if g := c.groups[key]; g != nil {
		return g.name
	}
	return nil
}

// hasPeerOn reports whether a peer scope on node is known.
func (c *core) hasPeerOn(node distribute.Atom) bool {
	for p := range c.peers {
		if p.Node == node {
			return true
		}
	}
	return false
}

// validPeer reports whether t is a pid that may be a peer scope.
func (c *core) validPeer(t distribute.Term) (distribute.Pid, bool) {
	p, ok := t.(distribute.Pid)
	if !ok || p.Node == c.self.Node || p.Node == "" {
		return distribute.Pid{}, false
	}
	return p, true
}

// memberPids parses pg's PidOrPids from peer: a pid or a proper list of
// pids, all on the peer's node.
func memberPids(t distribute.Term, peer distribute.Pid) ([]distribute.Pid, bool) {
	switch v := t.(type) {
	case distribute.Pid:
		if v.Node != peer.Node {
			return nil, false
		}
		return []distribute.Pid{v}, true
	case etf.List:
		pids := make([]distribute.Pid, len(v))
		for i, e := range v {
			p, ok := e.(distribute.Pid)
			if !ok || p.Node != peer.Node {
				return nil, false
			}
			pids[i] = p
		}
		return pids, true
	}
	return nil, false
}

// handle processes one message from the network. Anything that is not
// exactly pg's protocol is ignored (OTP's scope would crash; we must not).
// It reports whether the message was understood.
func (c *core) handle(msg distribute.Term) bool {
	t, ok := msg.(etf.Tuple)
	if !ok || len(t) < 2 {
		return false
	}
	tag, _ := t[0].(distribute.Atom)
	switch {
	case tag == atomDiscover && (len(t) == 2 || len(t) == 3):
		// {discover, Peer} and OTP 26+'s {discover, Peer, ProtocolVersion}.
		peer, ok := c.validPeer(t[1])
		if !ok {
			return false
		}
		c.discover(peer)
		return true
	case tag == atomJoin && len(t) == 4:
		peer, ok := c.validPeer(t[1])
		if !ok {
			return false
		}
		pids, ok := memberPids(t[3], peer)
		if !ok {
			return false
		}
		key, err := groupKey(t[2])
		if err != nil {
			return false
		}
		c.remoteJoin(peer, key, t[2], pids)
		return true
	case tag == atomLeave && len(t) == 4:
		peer, ok := c.validPeer(t[1])
		if !ok {
			return false
		}
		pids, ok := memberPids(t[2], peer)
		if !ok {
			return false
		}
		names, ok := t[3].(etf.List)
		if !ok {
			return false
		}
		keys := make([]string, len(names))
		for i, n := range names {
			k, err := groupKey(n)
			if err != nil {
				return false
			}
			keys[i] = k
		}
		c.remoteLeave(peer, pids, keys)
		return true
	case tag == atomGenCast && len(t) == 2:
		s, ok := t[1].(etf.Tuple)
		if !ok || len(s) != 3 || s[0] != atomSync {
			return false
		}
		peer, ok := c.validPeer(s[1])
		if !ok {
			return false
		}
		entries, ok := parseSync(s[2], peer)
		if !ok {
			return false
		}
		c.sync(peer, entries)
		return true
	}
	return false
}

// syncEntry is one {Group, [Pid]} of a sync message.
type syncEntry struct {
	key  string
	name distribute.Term
	pids []distribute.Pid
}

func parseSync(t distribute.Term, peer distribute.Pid) ([]syncEntry, bool) {
	l, ok := t.(etf.List)
	if !ok {
		return nil, false
	}
	entries := make([]syncEntry, 0, len(l))
	for _, e := range l {
		gt, ok := e.(etf.Tuple)
		if !ok || len(gt) != 2 {
			return nil, false
		}
		if _, isList := gt[1].(etf.List); !isList {
			return nil, false
		}
		pids, ok := memberPids(gt[1], peer)
		if !ok {
			return nil, false
		}
		key, err := groupKey(gt[0])
		if err != nil {
			return nil, false
		}
		entries = append(entries, syncEntry{key: key, name: gt[0], pids: pids})
	}
	return entries, true
}

// discover answers a peer scope's discover: our sync, then, for a peer we
// did not know, a monitor and our own discover.
func (c *core) discover(peer distribute.Pid) {
	c.emit(effect{op: effSend, to: peer, msg: c.localSync()})
	if _, known := c.peers[peer]; known {
		return
	}
	c.peers[peer] = &peerScope{groups: make(map[string][]distribute.Pid)}
	c.emit(effect{op: effMonitor, to: peer})
	c.emit(effect{op: effSend, to: peer, msg: etf.Tuple{atomDiscover, c.self}})
}

func (c *core) remoteJoin(peer distribute.Pid, key string, name distribute.Term, pids []distribute.Pid) {
	ps := c.peers[peer]
	if ps == nil || len(pids) == 0 {
		return // not (yet) in the overlay: pg ignores it too
	}
	ps.groups[key] = append(ps.groups[key], pids...)
	g := c.row(key, name)
	g.add(pids, false)
	c.changed(key, g.name, Joined, pids)
}

func (c *core) remoteLeave(peer distribute.Pid, pids []distribute.Pid, keys []string) {
	ps := c.peers[peer]
	if ps == nil {
		return
	}
	for _, key := range keys {
		have := ps.groups[key]
		var removed []distribute.Pid
		for _, p := range pids {
			var ok bool
			if have, ok = removeOne(have, p); ok {
				removed = append(removed, p)
			}
		}
		if len(removed) == 0 {
			continue
		}
		if len(have) == 0 {
			delete(ps.groups, key)
		} else {
			ps.groups[key] = have
		}
		name := c.nameOf(key)
		c.dropFromRow(key, removed, false)
		c.changed(key, name, Left, removed)
	}
}

// sync replaces everything known about peer's members with entries.
func (c *core) sync(peer distribute.Pid, entries []syncEntry) {
	ps := c.peers[peer]
	if ps == nil {
		ps = &peerScope{groups: make(map[string][]distribute.Pid)}
		c.peers[peer] = ps
		c.emit(effect{op: effMonitor, to: peer})
	}
	next := make(map[string][]distribute.Pid, len(entries))
	names := make(map[string]distribute.Term, len(entries))
	for _, e := range entries {
		next[e.key] = append(next[e.key], e.pids...)
		if _, ok := names[e.key]; !ok {
			names[e.key] = e.name
		}
	}
	old := ps.groups
	ps.groups = make(map[string][]distribute.Pid, len(next))
	for key, pids := range next {
		if len(pids) > 0 {
			ps.groups[key] = pids
		}
	}
	for key, oldPids := range old {
		gone := minus(oldPids, next[key])
		if len(gone) > 0 {
			name := c.nameOf(key)
			c.dropFromRow(key, gone, false)
			c.changed(key, name, Left, gone)
		}
	}
	for key, pids := range next {
		added := minus(pids, old[key])
		if len(added) > 0 {
			g := c.row(key, names[key])
			g.add(added, false)
			c.changed(key, g.name, Joined, added)
		}
	}
}

// minus is the multiset difference a -- b.
func minus(a, b []distribute.Pid) []distribute.Pid {
	if len(b) == 0 {
		return append([]distribute.Pid(nil), a...)
	}
	if len(b) >= bulkRemove {
		rest := make(map[distribute.Pid]int32, len(b))
		for _, p := range b {
			rest[p]++
		}
		var out []distribute.Pid
		for _, p := range a {
			if n := rest[p]; n > 0 {
				rest[p] = n - 1
				continue
			}
			out = append(out, p)
		}
		return out
	}
	rest := append([]distribute.Pid(nil), b...)
	var out []distribute.Pid
	for _, p := range a {
		var ok bool
		if rest, ok = removeOne(rest, p); !ok {
			out = append(out, p)
		}
	}
	return out
}

// groupKey is the map key of a group term: its external term format, which
// the encoder writes canonically (map keys sorted, integers and lists in
// their shortest form), so equal terms have equal keys.
func groupKey(t distribute.Term) (string, error) {
	var buf [64]byte
	b, err := etf.Append(buf[:0], t)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
