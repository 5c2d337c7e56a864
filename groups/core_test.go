package groups

import (
	"github.com/distribute-go/distribute"

	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/distribute-go/distribute/etf"
)

// pidCmp orders pids totally, for multiset comparison.
func pidCmp(a, b distribute.Pid) int {
	return cmp.Or(
		cmp.Compare(a.Node, b.Node),
		cmp.Compare(a.ID, b.ID),
		cmp.Compare(a.Serial, b.Serial),
		cmp.Compare(a.Creation, b.Creation),
	)
}

func sortedPids(p []distribute.Pid) []distribute.Pid {
	s := slices.Clone(p)
	slices.SortFunc(s, pidCmp)
	return s
}

func sameMultiset(a, b []distribute.Pid) bool {
	return slices.Equal(sortedPids(a), sortedPids(b))
}

// checkCore verifies the core's internal consistency: each row is the
// union of its local column and every peer's list, the local column
// matches the local members' groups, and nothing empty is kept.
func checkCore(c *core) error {
	want := make(map[string][]distribute.Pid)
	local := make(map[string][]distribute.Pid)
	for p, m := range c.local {
		if len(m.groups) == 0 {
			return fmt.Errorf("local member %v with no groups", p)
		}
		for _, k := range m.groups {
			local[k] = append(local[k], p)
			want[k] = append(want[k], p)
		}
	}
	for peer, ps := range c.peers {
		for k, pids := range ps.groups {
			if len(pids) == 0 {
				return fmt.Errorf("peer %v keeps an empty group", peer)
			}
			want[k] = append(want[k], pids...)
		}
	}
	if len(want) != len(c.groups) {
		return fmt.Errorf("%d rows, want %d", len(c.groups), len(want))
	}
	for k, g := range c.groups {
		if !sameMultiset(g.all, want[k]) {
			return fmt.Errorf("row %s: all %v, want %v", etf.Format(g.name), g.all, want[k])
		}
		if !sameMultiset(g.local, local[k]) {
			return fmt.Errorf("row %s: local %v, want %v", etf.Format(g.name), g.local, local[k])
		}
		counts := make(map[distribute.Pid]int32)
		dups := 0
		for _, p := range g.all {
			if counts[p] > 0 {
				dups++
			}
			counts[p]++
		}
		if dups != g.dups || len(counts) != len(g.counts) {
			return fmt.Errorf("row %s: dups %d counts %v, want %d %v", etf.Format(g.name), g.dups, g.counts, dups, counts)
		}
		for p, n := range counts {
			if g.counts[p] != n {
				return fmt.Errorf("row %s: count of %v is %d, want %d", etf.Format(g.name), p, g.counts[p], n)
			}
		}
		if gk, err := groupKey(g.name); err != nil || gk != k {
			return fmt.Errorf("row %s under the wrong key", etf.Format(g.name))
		}
	}
	return nil
}

// model is the dumb reference: lists of (group, pid) memberships per
// origin.
type membership struct {
	group distribute.Atom
	pid   distribute.Pid
}

type model struct {
	local []membership
	peers map[distribute.Pid][]membership // known peers
}

func removeMembership(l []membership, m membership) ([]membership, bool) {
	for i, x := range l {
		if x == m {
			return append(l[:i:i], l[i+1:]...), true
		}
	}
	return l, false
}

func (m *model) members(g distribute.Atom) (all, local []distribute.Pid) {
	for _, x := range m.local {
		if x.group == g {
			all = append(all, x.pid)
			local = append(local, x.pid)
		}
	}
	for _, l := range m.peers {
		for _, x := range l {
			if x.group == g {
				all = append(all, x.pid)
			}
		}
	}
	return all, local
}

// pidsTerm is pg's PidOrPids.
func pidsTerm(pids []distribute.Pid, asList bool) distribute.Term {
	if !asList && len(pids) == 1 {
		return pids[0]
	}
	l := make(etf.List, len(pids))
	for i, p := range pids {
		l[i] = p
	}
	return l
}

// TestCoreAgainstModel drives the core with random local and peer
// operations and compares every group with the reference model after each
// step. A second core, the observer, is one of the peers: everything the
// core sends it is delivered (and its answers back), and the observer's
// view of the core's members must equal the core's local members.
func TestCoreAgainstModel(t *testing.T) {
	for seed := range uint64(60) {
		runModel(t, seed)
	}
}

func runModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 77))
	self := distribute.Pid{Node: "a@h", ID: 1}
	c := newCore(DefaultScope, self)
	obsPid := distribute.Pid{Node: "o@h", ID: 1}
	obs := newCore(DefaultScope, obsPid)

	// Replaying the notifications must give the same table.
	mirror := make(map[string][]distribute.Pid)
	c.notify = func(key string, ch Change) {
		switch ch.Kind {
		case Joined:
			mirror[key] = append(mirror[key], ch.Pids...)
		case Left:
			for _, p := range ch.Pids {
				var ok bool
				if mirror[key], ok = removeOne(mirror[key], p); !ok {
					t.Fatalf("seed %d: leave of non-member %v", seed, p)
				}
			}
		}
	}

	m := &model{peers: make(map[distribute.Pid][]membership)}
	groups := []distribute.Atom{"g0", "g1", "g2"}
	localPids := []distribute.Pid{{Node: "a@h", ID: 10}, {Node: "a@h", ID: 11}, {Node: "a@h", ID: 12}}
	peers := []distribute.Pid{{Node: "b@h", ID: 1}, {Node: "b@h", ID: 2}, {Node: "c@h", ID: 1}}
	pidsOf := func(peer distribute.Pid) []distribute.Pid {
		return []distribute.Pid{{Node: peer.Node, ID: 100}, {Node: peer.Node, ID: 101}}
	}
	pick := func(from []distribute.Pid) []distribute.Pid {
		n := 1 + rng.IntN(3)
		if rng.IntN(5) == 0 {
			n = 1 + rng.IntN(12) // big enough for the one-pass removals
		}
		out := make([]distribute.Pid, n)
		for i := range out {
			out[i] = from[rng.IntN(len(from))]
		}
		return out
	}
	// deliver routes effects between the core and the observer.
	deliver := func() {
		for range 10 {
			effs := c.takeEffects()
			oeffs := obs.takeEffects()
			if len(effs) == 0 && len(oeffs) == 0 {
				return
			}
			for _, e := range effs {
				if e.op == effSend && e.to == obsPid || e.op == effSendName && e.node == obsPid.Node {
					obs.handle(e.msg)
				}
			}
			for _, e := range oeffs {
				if e.op == effSend && e.to == self || e.op == effSendName && e.node == self.Node {
					if c.handle(e.msg) {
						if _, ok := m.peers[obsPid]; !ok {
							m.peers[obsPid] = nil
						}
					}
				}
			}
		}
	}

	for step := range 300 {
		g := groups[rng.IntN(len(groups))]
		key, _ := groupKey(g)
		var op string
		switch rng.IntN(10) {
		case 0, 1:
			op = "join"
			pids := pick(localPids)
			c.join(key, g, pids)
			for _, p := range pids {
				m.local = append(m.local, membership{g, p})
			}
		case 2:
			op = "leave"
			pids := pick(localPids)
			c.leave(key, pids)
			for _, p := range pids {
				m.local, _ = removeMembership(m.local, membership{g, p})
			}
		case 3:
			op = "localDown"
			p := localPids[rng.IntN(len(localPids))]
			c.localDown(p)
			m.local = slices.DeleteFunc(m.local, func(x membership) bool { return x.pid == p })
		case 4:
			op = "discover"
			peer := peers[rng.IntN(len(peers))]
			if rng.IntN(2) == 0 {
				c.handle(etf.Tuple{distribute.Atom("discover"), peer})
			} else {
				c.handle(etf.Tuple{distribute.Atom("discover"), peer, int64(1)})
			}
			if _, ok := m.peers[peer]; !ok {
				m.peers[peer] = nil
			}
		case 5:
			op = "sync"
			peer := peers[rng.IntN(len(peers))]
			var list etf.List
			var ms []membership
			for _, sg := range groups {
				if rng.IntN(2) == 0 {
					continue
				}
				pids := pick(pidsOf(peer))
				list = append(list, etf.Tuple{sg, pidsTerm(pids, true)})
				for _, p := range pids {
					ms = append(ms, membership{sg, p})
				}
			}
			if list == nil {
				list = etf.List{}
			}
			c.handle(etf.Tuple{distribute.Atom("$gen_cast"), etf.Tuple{distribute.Atom("sync"), peer, list}})
			m.peers[peer] = ms
		case 6, 7:
			op = "remoteJoin"
			peer := peers[rng.IntN(len(peers))]
			pids := pick(pidsOf(peer))
			c.handle(etf.Tuple{distribute.Atom("join"), peer, g, pidsTerm(pids, rng.IntN(2) == 0)})
			if l, ok := m.peers[peer]; ok {
				for _, p := range pids {
					l = append(l, membership{g, p})
				}
				m.peers[peer] = l
			}
		case 8:
			op = "remoteLeave"
			peer := peers[rng.IntN(len(peers))]
			pids := pick(pidsOf(peer))
			gs := etf.List{g}
			if rng.IntN(2) == 0 {
				gs = append(gs, groups[rng.IntN(len(groups))])
			}
			c.handle(etf.Tuple{distribute.Atom("leave"), peer, pidsTerm(pids, rng.IntN(2) == 0), gs})
			if l, ok := m.peers[peer]; ok {
				for _, gt := range gs {
					for _, p := range pids {
						l, _ = removeMembership(l, membership{gt.(distribute.Atom), p})
					}
				}
				m.peers[peer] = l
			}
		case 9:
			op = "peerDown"
			peer := peers[rng.IntN(len(peers))]
			c.peerDown(peer)
			delete(m.peers, peer)
		}
		if step == 0 || rng.IntN(4) == 0 {
			// The observer discovers us now and then.
			c.handle(etf.Tuple{distribute.Atom("discover"), obsPid})
			if _, ok := m.peers[obsPid]; !ok {
				m.peers[obsPid] = nil
			}
		}
		deliver()
		if err := checkCore(c); err != nil {
			t.Fatalf("seed %d step %d (%s): %v", seed, step, op, err)
		}
		for _, g := range groups {
			key, _ := groupKey(g)
			wantAll, wantLocal := m.members(g)
			var all, local []distribute.Pid
			if row := c.groups[key]; row != nil {
				all, local = row.all, row.local
			}
			if !sameMultiset(all, wantAll) || !sameMultiset(local, wantLocal) {
				t.Fatalf("seed %d step %d (%s): group %s: all %v local %v; want %v %v",
					seed, step, op, g, all, local, wantAll, wantLocal)
			}
			if !sameMultiset(mirror[key], wantAll) {
				t.Fatalf("seed %d step %d (%s): notifications give %v, want %v", seed, step, op, mirror[key], wantAll)
			}
			// The observer sees exactly our local members (once it knows us).
			if _, known := obs.peers[self]; known {
				var seen []distribute.Pid
				if row := obs.groups[key]; row != nil {
					seen = row.all
				}
				if !sameMultiset(seen, wantLocal) {
					t.Fatalf("seed %d step %d (%s): observer sees %v in %s, want %v", seed, step, op, seen, g, wantLocal)
				}
			}
		}
	}
}

// TestCoreIgnoresJunk feeds messages that are close to the protocol but
// wrong: none may change the state or be reported as understood.
func TestCoreIgnoresJunk(t *testing.T) {
	self := distribute.Pid{Node: "a@h", ID: 1}
	peer := distribute.Pid{Node: "b@h", ID: 1}
	c := newCore(DefaultScope, self)
	if !c.handle(etf.Tuple{distribute.Atom("discover"), peer}) {
		t.Fatal("discover not understood")
	}
	c.takeEffects()
	other := distribute.Pid{Node: "c@h", ID: 5}
	junk := []distribute.Term{
		nil, distribute.Atom("discover"), etf.Tuple{}, etf.Tuple{distribute.Atom("discover")},
		etf.Tuple{distribute.Atom("discover"), distribute.Atom("x")},
		etf.Tuple{distribute.Atom("discover"), self}, // ourselves
		etf.Tuple{distribute.Atom("discover"), distribute.Pid{Node: "a@h", ID: 9}},
		etf.Tuple{distribute.Atom("discover"), peer, 1, 2},
		etf.Tuple{distribute.Atom("join"), peer, distribute.Atom("g")},
		etf.Tuple{distribute.Atom("join"), peer, distribute.Atom("g"), other},                          // pid of another node
		etf.Tuple{distribute.Atom("join"), peer, distribute.Atom("g"), etf.List{distribute.Atom("x")}}, // not pids
		etf.Tuple{distribute.Atom("join"), peer, distribute.Atom("g"), etf.ImproperList{Elems: []distribute.Term{distribute.Pid{Node: "b@h", ID: 2}}, Tail: distribute.Atom("t")}},
		etf.Tuple{distribute.Atom("join"), distribute.Atom("peer"), distribute.Atom("g"), distribute.Pid{Node: "b@h", ID: 2}},
		etf.Tuple{distribute.Atom("join"), peer, distribute.Atom("g"), distribute.Pid{Node: "b@h", ID: 2}, 5},
		etf.Tuple{distribute.Atom("leave"), peer, distribute.Pid{Node: "b@h", ID: 2}, distribute.Atom("g")}, // groups not a list
		etf.Tuple{distribute.Atom("leave"), peer, distribute.Atom("x"), etf.List{distribute.Atom("g")}},
		etf.Tuple{distribute.Atom("$gen_cast"), etf.Tuple{distribute.Atom("sync"), peer, distribute.Atom("x")}},
		etf.Tuple{distribute.Atom("$gen_cast"), etf.Tuple{distribute.Atom("sync"), peer, etf.List{distribute.Atom("x")}}},
		etf.Tuple{distribute.Atom("$gen_cast"), etf.Tuple{distribute.Atom("sync"), peer, etf.List{etf.Tuple{distribute.Atom("g"), distribute.Pid{Node: "b@h", ID: 2}}}}},
		etf.Tuple{distribute.Atom("$gen_cast"), etf.Tuple{distribute.Atom("sync"), peer, etf.List{etf.Tuple{distribute.Atom("g"), etf.List{other}}}}},
		etf.Tuple{distribute.Atom("$gen_cast"), etf.Tuple{distribute.Atom("sync"), distribute.Atom("p"), etf.List{}}},
		etf.Tuple{distribute.Atom("$gen_cast"), distribute.Atom("sync")},
		etf.Tuple{distribute.Atom("$gen_call"), etf.Tuple{peer, distribute.Atom("tag")}, distribute.Atom("x")},
		etf.Tuple{distribute.Atom("join"), peer, etf.Tuple{distribute.Atom("bad"), "not a term? no: a string is a binary"}, etf.List{}},
	}
	for _, j := range junk {
		if c.handle(j) {
			// The last one is valid (an empty join); everything else must be rejected.
			if tup, ok := j.(etf.Tuple); ok && len(tup) == 4 && tup[0] == distribute.Atom("join") {
				if l, ok := tup[3].(etf.List); ok && len(l) == 0 {
					continue
				}
			}
			t.Errorf("junk %v understood", etf.Format(j))
		}
		if len(c.groups) != 0 {
			t.Fatalf("junk %v changed the table", etf.Format(j))
		}
		if err := checkCore(c); err != nil {
			t.Fatal(err)
		}
	}
	if effs := c.takeEffects(); len(effs) != 0 {
		t.Fatalf("junk caused effects: %v", effs)
	}
	// A join or leave from a scope that never discovered us is ignored.
	stranger := distribute.Pid{Node: "d@h", ID: 1}
	c.handle(etf.Tuple{distribute.Atom("join"), stranger, distribute.Atom("g"), distribute.Pid{Node: "d@h", ID: 2}})
	if len(c.groups) != 0 {
		t.Fatal("join from an unknown scope accepted")
	}
}

// TestCoreMessagesAreOTPShapes pins the exact terms the core sends.
func TestCoreMessagesAreOTPShapes(t *testing.T) {
	self := distribute.Pid{Node: "a@h", ID: 1}
	peer := distribute.Pid{Node: "b@h", ID: 1}
	c := newCore(DefaultScope, self)
	c.discoverNode("b@h")
	c.handle(etf.Tuple{distribute.Atom("discover"), peer, int64(2)}) // OTP 27's form
	k, _ := groupKey(distribute.Atom("g"))
	p1, p2 := distribute.Pid{Node: "a@h", ID: 7}, distribute.Pid{Node: "a@h", ID: 8}
	c.join(k, distribute.Atom("g"), []distribute.Pid{p1})
	c.join(k, distribute.Atom("g"), []distribute.Pid{p1, p2})
	c.leave(k, []distribute.Pid{p1})
	c.localDown(p1)
	var got []string
	for _, e := range c.takeEffects() {
		switch e.op {
		case effSend:
			got = append(got, fmt.Sprintf("send %v %s", e.to, etf.Format(e.msg)))
		case effSendName:
			got = append(got, fmt.Sprintf("sendname %s %s", e.node, etf.Format(e.msg)))
		case effMonitor:
			got = append(got, fmt.Sprintf("monitor %v", e.to))
		case effDemonitor:
			got = append(got, fmt.Sprintf("demonitor %v", e.to))
		}
	}
	pf := func(p distribute.Pid) string { return etf.Format(p) }
	want := []string{
		"sendname b@h {discover," + pf(self) + "}",
		"send " + pf(peer) + " {'$gen_cast',{sync," + pf(self) + ",[]}}",
		"monitor " + pf(peer),
		"send " + pf(peer) + " {discover," + pf(self) + "}",
		"monitor " + pf(p1),
		"send " + pf(peer) + " {join," + pf(self) + ",g," + pf(p1) + "}",
		"monitor " + pf(p2),
		"send " + pf(peer) + " {join," + pf(self) + ",g,[" + pf(p1) + "," + pf(p2) + "]}",
		"send " + pf(peer) + " {leave," + pf(self) + "," + pf(p1) + ",[g]}",
		"send " + pf(peer) + " {leave," + pf(self) + "," + pf(p1) + ",[g]}",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("effects:\n%s\nwant:\n%s", fmt.Sprint(got), fmt.Sprint(want))
	}
	if row := c.groups[k]; row == nil || !sameMultiset(row.all, []distribute.Pid{p2}) {
		t.Fatalf("row = %+v, want [p2]", row)
	}
	if _, still := c.local[p1]; still {
		t.Fatal("p1 still a local member")
	}
}

// TestDocHexExample pins the worked example of doc.go.
func TestDocHexExample(t *testing.T) {
	self := distribute.Pid{Node: "go@h", ID: 1, Creation: 7}
	member := distribute.Pid{Node: "go@h", ID: 5, Creation: 7}
	c := newCore(DefaultScope, self)
	c.discoverNode("erl@h")
	c.peers[distribute.Pid{Node: "erl@h", ID: 9}] = &peerScope{groups: map[string][]distribute.Pid{}}
	k, _ := groupKey(distribute.Atom("g"))
	c.join(k, distribute.Atom("g"), []distribute.Pid{member})
	var got []string
	for _, e := range c.takeEffects() {
		if e.op == effSend || e.op == effSendName {
			b, err := etf.Encode(e.msg)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("% x", b))
		}
	}
	want := []string{
		"83 68 02 77 08 64 69 73 63 6f 76 65 72 58 77 04 67 6f 40 68 00 00 00 01 00 00 00 00 00 00 00 07",
		"83 68 04 77 04 6a 6f 69 6e 58 77 04 67 6f 40 68 00 00 00 01 00 00 00 00 00 00 00 07 77 01 67 58 77 04 67 6f 40 68 00 00 00 05 00 00 00 00 00 00 00 07",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// TestLookupKeyMatchesGroupKey: the allocation-free lookup key of the
// read path is the key the table is built with.
func TestLookupKeyMatchesGroupKey(t *testing.T) {
	for _, g := range []any{
		distribute.Atom("g"), distribute.Atom(""), distribute.Atom("héllo wörld"), distribute.Atom("a_rather_long_atom_name_that_is_still_under_sixty_bytes_xx"),
		distribute.Atom("an atom that is longer than sixty bytes, which takes the general path"),
		"binary", etf.Binary("binary"), int64(5), 5, etf.Tuple{distribute.Atom("a"), int64(1)}, etf.CharList("chars"),
	} {
		var buf [64]byte
		got, ok := lookupKey(&buf, g)
		_, want, err := groupTerm(g)
		if !ok || err != nil || string(got) != want {
			t.Errorf("%v: lookup key % x, table key % x (%v)", g, got, want, err)
		}
	}
}
