package registry

import (
	"github.com/distribute-go/distribute"

	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/distribute-go/distribute/etf"
)

// checkCore verifies the core's internal consistency: every name and lock
// holder has its own monitor, every monitor watches exactly one of them,
// no lock is empty or held twice by one pid, every row is under its key,
// and this node is never a peer.
func checkCore(c *core) error {
	used := make(map[monID]bool, len(c.mons))
	for k, e := range c.names {
		if keyOf(e.name) != k {
			return fmt.Errorf("name %s under the wrong key", etf.Format(e.name))
		}
		if u, ok := c.mons[e.mon]; !ok || !u.isName || u.name != k {
			return fmt.Errorf("name %s without its monitor", etf.Format(e.name))
		}
		if used[e.mon] {
			return fmt.Errorf("monitor %d used twice", e.mon)
		}
		used[e.mon] = true
	}
	for k, l := range c.locks {
		if keyOf(l.resource) != k {
			return fmt.Errorf("lock %s under the wrong key", etf.Format(l.resource))
		}
		if len(l.holders) == 0 {
			return fmt.Errorf("empty lock %s", etf.Format(l.resource))
		}
		pids := make(map[distribute.Pid]bool, len(l.holders))
		for _, h := range l.holders {
			if pids[h.pid] {
				return fmt.Errorf("lock %s held twice by %v", etf.Format(l.resource), h.pid)
			}
			pids[h.pid] = true
			if u, ok := c.mons[h.mon]; !ok || u.isName || u.resource != k {
				return fmt.Errorf("holder %v of %s without its monitor", h.pid, etf.Format(l.resource))
			}
			if used[h.mon] {
				return fmt.Errorf("monitor %d used twice", h.mon)
			}
			used[h.mon] = true
		}
	}
	if len(used) != len(c.mons) {
		return fmt.Errorf("%d monitors for %d names and holders", len(c.mons), len(used))
	}
	for id := range c.mons {
		if id > c.monSeq {
			return fmt.Errorf("monitor %d beyond the last id %d", id, c.monSeq)
		}
	}
	if c.known[c.me] != 0 || c.attempts[c.me] != nil || c.synced[c.me] {
		return fmt.Errorf("this node is its own peer")
	}
	for n, v := range c.known {
		if v < 1 {
			return fmt.Errorf("known node %s with version %d", n, v)
		}
	}
	if len(c.lost) > maxLost {
		return fmt.Errorf("%d lost_connection records", len(c.lost))
	}
	return nil
}

// monTracker follows the monitors a core asked for through its effects,
// as the server does, knowing nothing of the core's tables.
type monTracker struct {
	active map[monID]distribute.Pid
	dead   map[distribute.Pid]bool
}

func newMonTracker() *monTracker {
	return &monTracker{active: make(map[monID]distribute.Pid), dead: make(map[distribute.Pid]bool)}
}

// apply records the monitor effects and returns the DOWNs due at once: a
// monitor of a dead pid fires immediately.
func (tr *monTracker) apply(effs []effect) (downs []monID, err error) {
	for _, e := range effs {
		switch e := e.(type) {
		case monitorEff:
			if _, dup := tr.active[e.id]; dup {
				return nil, fmt.Errorf("monitor id %d reused", e.id)
			}
			tr.active[e.id] = e.pid
			if tr.dead[e.pid] {
				downs = append(downs, e.id)
			}
		case demonitorEff:
			if _, ok := tr.active[e.id]; !ok {
				return nil, fmt.Errorf("demonitor of unknown monitor %d", e.id)
			}
			delete(tr.active, e.id)
		}
	}
	return downs, nil
}

// agrees checks the monitors the core holds are exactly the active ones,
// each on the pid of its name or lock holder.
func (tr *monTracker) agrees(c *core) error {
	if len(tr.active) != len(c.mons) {
		return fmt.Errorf("%d active monitors, the core holds %d", len(tr.active), len(c.mons))
	}
	for _, e := range c.names {
		if p, ok := tr.active[e.mon]; !ok || p != e.pid {
			return fmt.Errorf("name %s: monitor %d watches %v, not %v", etf.Format(e.name), e.mon, p, e.pid)
		}
	}
	for _, l := range c.locks {
		for _, h := range l.holders {
			if p, ok := tr.active[h.mon]; !ok || p != h.pid {
				return fmt.Errorf("lock %s: monitor %d watches %v, not %v", etf.Format(l.resource), h.mon, p, h.pid)
			}
		}
	}
	return nil
}

// TestCoreConnectShapes drives one core through a whole connect with a
// peer, as a real one answers, and pins every effect: the messages are
// the terms OTP 25's global sends (the tag in init_connect_ack, lock_set,
// exchange and resolved is the receiver's).
func TestCoreConnectShapes(t *testing.T) {
	a, b := distribute.Atom("a@h"), distribute.Atom("b@h")
	la, lb := lockerPidOf(a), lockerPidOf(b)
	c := newCore(a, la, true, 7, func(distribute.Atom) bool { return true })
	mine, his := distribute.Pid{Node: a, ID: 10}, distribute.Pid{Node: b, ID: 10}
	var got []string
	take := func(what string) {
		got = append(got, "-- "+what)
		for _, e := range c.takeEffects() {
			got = append(got, e.String())
		}
	}
	c.call(registrarPidOf(a), etf.Tuple{aRegister, distribute.Atom("x"), mine, DefaultMethod})
	take("register x")
	c.nodeUp(b)
	take("nodeup")
	const hisTag = int64(1000)
	myTag := c.tagSeq
	if err := c.handleCast(etf.Tuple{aInitConnect, etf.Tuple{int64(8), hisTag}, b, etf.Tuple{aLocker, aNoLongerAPid, etf.Map{}, lb}}); err != nil {
		t.Fatal(err)
	}
	take("his init_connect")
	if err := c.handleInfo(etf.Tuple{aInitConnectAck, b, myTag, hisTag}); err != nil {
		t.Fatal(err)
	}
	take("his ack")
	if err := c.handleCast(etf.Tuple{aLockSet, lb, etf.True, etf.List{}, myTag}); err != nil {
		t.Fatal(err)
	}
	take("his lock_set")
	id := etf.Tuple{globalResource, etf.List{la, lb}}
	c.lockIsSet(b, myTag, id)
	take("lock is set")
	if err := c.handleCast(etf.Tuple{aExchange, b, etf.List{etf.Tuple{distribute.Atom("y"), his, DefaultMethod}}, etf.List{}, myTag}); err != nil {
		t.Fatal(err)
	}
	take("his exchange")
	c.exchangeOps(b, myTag, etf.List{insertOp(distribute.Atom("y"), his, DefaultMethod)}, etf.List{})
	take("my ops")
	if err := c.handleCast(etf.Tuple{aResolved, b, etf.List{}, etf.List{etf.Tuple{distribute.Atom("c@h"), int64(8)}}, aUnused, etf.List{}, myTag}); err != nil {
		t.Fatal(err)
	}
	take("his resolved")

	f := etf.Format
	tag := f(myTag)
	want := []string{
		"-- register x",
		"monitor 1 " + f(mine),
		"-- nodeup",
		"send b@h {'$gen_cast',{init_connect,{8," + tag + "},a@h,{locker,no_longer_a_pid,#{}," + f(la) + "}}}",
		"-- his init_connect",
		fmt.Sprintf("locker %+v", lkHis{h: him{node: b, locker: lb, vsn: 8, myTag: myTag, hisTag: hisTag}}),
		"send b@h {init_connect_ack,a@h,1000," + tag + "}",
		"-- his ack",
		"-- his lock_set",
		fmt.Sprintf("locker %+v", lkLockSet{from: lb, isSet: true, tag: myTag}),
		"-- lock is set",
		"send b@h {'$gen_cast',{exchange,a@h,[{x," + f(mine) + ",fun global:random_exit_name/3}],[],1000}}",
		"-- his exchange",
		"resolve b@h " + tag + " (1 against 1 names)",
		"-- my ops",
		"send b@h {'$gen_cast',{resolved,a@h,[],[],unused,[],1000}}",
		"-- his resolved",
		"stop resolve b@h",
		"sync [c@h]",
		"monitor 2 " + f(his),
		fmt.Sprintf("locker %+v", lkCancel{node: b, tag: myTag, then: []sendEff{}}),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("effects:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if k := c.knownAtoms(); !slices.Equal(k, []distribute.Atom{"b@h", "c@h"}) || !c.synced[b] || len(c.attempts) != 0 {
		t.Fatalf("after the connect: known %v, synced %v, attempts %v", k, c.synced, c.attempts)
	}
	if e, ok := c.lookup(distribute.Atom("y")); !ok || e.pid != his {
		t.Fatalf("y = %v %v, want %v", e.pid, ok, his)
	}
}
