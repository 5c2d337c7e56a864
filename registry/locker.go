package registry

import (
	"github.com/distribute-go/distribute"

	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/distribute-go/distribute/etf"
)

// him is a peer the locker should take the cluster lock with.
type him struct {
	node   distribute.Atom
	locker distribute.Pid
	vsn    int
	myTag  distribute.Term
	hisTag distribute.Term
}

// Locker events (the gns ↔ locker messages of global.erl, as Go values).
type (
	lkHis    struct{ h him }
	lkCancel struct {
		node distribute.Atom
		tag  distribute.Term
		then []sendEff // sent before the lock is released
	}
	lkLockSet struct {
		from  distribute.Pid
		isSet bool
		tag   distribute.Term // nil for a 4-tuple lock_set
	}
	lkForget struct{ node distribute.Atom }
)

// locker takes the lock {global, sort([MyLocker, HisLocker])} for each
// connect attempt, as global.erl's locker process does. It runs in one
// goroutine; its multi_calls are made from the locker process, whose pid
// is the lock owner.
type locker struct {
	s       *Server
	mu      sync.Mutex
	queue   []any
	wake    chan struct{}
	pending []*him
	backlog []any
}

func newLocker(s *Server) *locker {
	return &locker{s: s, wake: make(chan struct{}, 1)}
}

func (l *locker) post(ev any) {
	l.mu.Lock()
	l.queue = append(l.queue, ev)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// next returns the next event, or nil when d elapsed (d < 0: wait
// forever). ok is false when ctx ended.
func (l *locker) next(ctx context.Context, d time.Duration) (ev any, ok bool) {
	var timer <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	for {
		l.mu.Lock()
		if len(l.queue) > 0 {
			ev = l.queue[0]
			l.queue = l.queue[1:]
			l.mu.Unlock()
			return ev, true
		}
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, false
		case <-l.wake:
		case <-timer:
			return nil, true
		}
	}
}

// requeue puts deferred events back in front of the queue.
func (l *locker) requeue() {
	if len(l.backlog) == 0 {
		return
	}
	l.mu.Lock()
	l.queue = append(l.backlog, l.queue...)
	l.backlog = nil
	l.mu.Unlock()
}

func (l *locker) findPending(node distribute.Atom) int {
	return slices.IndexFunc(l.pending, func(h *him) bool { return h.node == node })
}

// wait is the locker's pause before trying (global.erl's delay).
func (l *locker) wait() time.Duration {
	n := len(l.s.knownAtoms())
	if n == 0 {
		return 200 * time.Millisecond
	}
	return min(time.Duration(1000+100*n)*time.Millisecond, 3*time.Second)
}

func (l *locker) run(ctx context.Context) {
	delay := time.Duration(-1)
	deadline := time.Time{}
	for {
		d := time.Duration(-1)
		if len(l.pending) > 0 {
			if deadline.IsZero() {
				if delay < 0 {
					delay = l.wait()
				}
				deadline = time.Now().Add(delay)
			}
			d = max(time.Until(deadline), 0)
		} else {
			deadline = time.Time{}
			delay = -1
		}
		ev, ok := l.next(ctx, d)
		if !ok {
			return
		}
		if ev == nil {
			deadline, delay = time.Time{}, -1
			if l.s.globalLockSet() {
				continue
			}
			if l.trySelect(ctx) {
				delay = 0
			}
			l.requeue()
			continue
		}
		switch e := ev.(type) {
		case lkHis:
			if i := l.findPending(e.h.node); i >= 0 {
				l.pending[i] = &e.h
			} else {
				l.pending = append(l.pending, &e.h)
			}
		case lkCancel:
			if i := l.findPending(e.node); i >= 0 && (e.tag == nil || etf.Equal(l.pending[i].myTag, e.tag)) {
				l.pending = slices.Delete(l.pending, i, i+1)
			}
			l.s.sendAll(e.then)
		case lkForget:
			if i := l.findPending(e.node); i >= 0 {
				l.pending = slices.Delete(l.pending, i, i+1)
			}
		case lkLockSet:
			l.spontaneous(ctx, e)
			l.requeue()
		}
	}
}

func (l *locker) lockIDWith(h *him) etf.Tuple {
	a, b := l.s.lockerP.Pid(), h.locker
	if etf.Compare(a, b) > 0 {
		a, b = b, a
	}
	return etf.Tuple{globalResource, etf.List{a, b}}
}

// trySelect picks a pending peer at random and locks with it.
func (l *locker) trySelect(ctx context.Context) bool {
	known := l.s.knownAtoms()
	var cands []*him
	for _, h := range l.pending {
		if !slices.Contains(known, h.node) {
			cands = append(cands, h)
		}
	}
	if len(cands) == 0 {
		return false
	}
	h := cands[rand.IntN(len(cands))]
	id := l.lockIDWith(h)
	nodes, ok := l.lockNodesSafely(ctx, id, []distribute.Atom{h.node})
	if !ok {
		return false
	}
	l.sendLockSet(h, true)
	return l.waitLockSet(ctx, h, id, nodes)
}

func (l *locker) sendLockSet(h *him, isSet bool) {
	known := l.s.knownAtoms()
	known = slices.DeleteFunc(known, func(a distribute.Atom) bool { return a == h.node })
	msg := etf.Tuple{aLockSet, l.s.lockerP.Pid(), etf.Bool(isSet), atomList(known), h.hisTag}
	if h.vsn < 8 {
		msg = msg[:4]
	}
	l.s.sendPlain(h.node, etf.Tuple{aGenCast, msg})
}

// waitLockSet waits for the peer's lock_set (lock_is_set/5).
func (l *locker) waitLockSet(ctx context.Context, h *him, id etf.Tuple, nodes []distribute.Atom) bool {
	for {
		ev, ok := l.next(ctx, -1)
		if !ok {
			return false
		}
		switch e := ev.(type) {
		case lkLockSet:
			if e.from == h.locker && (e.tag == nil || etf.Equal(e.tag, h.myTag)) {
				if e.isSet {
					l.s.gns.Send(ctx, l.s.gns.Pid(), lockIsSet{node: h.node, tag: h.myTag, lockID: id})
					return l.waitCancel(ctx, h, id, nodes)
				}
				l.delLock(ctx, id, nodes)
				return false
			}
			l.backlog = append(l.backlog, ev)
		case lkCancel:
			if e.node == h.node {
				l.removePending(h)
				l.s.sendAll(e.then)
				l.delLock(ctx, id, nodes)
				return false
			}
			l.backlog = append(l.backlog, ev)
		case lkForget:
			if e.node == h.node {
				l.removePending(h)
				l.delLock(ctx, id, nodes)
				return false
			}
			l.backlog = append(l.backlog, ev)
		default:
			l.backlog = append(l.backlog, ev)
		}
	}
}

// waitCancel holds the lock until the gns has finished the exchange.
func (l *locker) waitCancel(ctx context.Context, h *him, id etf.Tuple, nodes []distribute.Atom) bool {
	for {
		ev, ok := l.next(ctx, -1)
		if !ok {
			return false
		}
		switch e := ev.(type) {
		case lkCancel:
			if e.node == h.node {
				l.removePending(h)
				l.s.sendAll(e.then)
				l.delLock(ctx, id, nodes)
				return true
			}
			l.backlog = append(l.backlog, ev)
		case lkForget:
			if e.node == h.node {
				l.removePending(h)
				l.delLock(ctx, id, nodes)
				return false
			}
			l.backlog = append(l.backlog, ev)
		default:
			l.backlog = append(l.backlog, ev)
		}
	}
}

// sendAll sends msgs plainly, in order.
func (s *Server) sendAll(msgs []sendEff) {
	for _, m := range msgs {
		s.sendPlain(m.node, m.msg)
	}
}

func (l *locker) removePending(h *him) {
	if i := slices.Index(l.pending, h); i >= 0 {
		l.pending = slices.Delete(l.pending, i, i+1)
	}
}

// spontaneous handles a peer's lock_set that arrives while idle.
func (l *locker) spontaneous(ctx context.Context, e lkLockSet) {
	if !e.isSet {
		return
	}
	i := l.findPending(e.from.Node)
	if i < 0 || l.pending[i].locker != e.from {
		l.s.sendPlain(e.from.Node, etf.Tuple{aGenCast, etf.Tuple{aLockSet, l.s.lockerP.Pid(), etf.False, etf.List{}}})
		return
	}
	h := l.pending[i]
	id := l.lockIDWith(h)
	nodes, ok := l.lockNodesSafely(ctx, id, nil)
	l.sendLockSet(h, ok)
	if !ok {
		return
	}
	l.s.gns.Send(ctx, l.s.gns.Pid(), lockIsSet{node: h.node, tag: h.myTag, lockID: id})
	l.waitCancel(ctx, h, id, nodes)
}

// lockNodesSafely locks the boss first, then me and extra, then the rest
// of the known nodes; it returns the nodes locked.
func (l *locker) lockNodesSafely(ctx context.Context, id etf.Tuple, extra []distribute.Atom) ([]distribute.Atom, bool) {
	me := l.s.me
	known := l.s.knownAtoms()
	boss := me
	for _, k := range known {
		if k > boss {
			boss = k
		}
	}
	if boss != me && !l.s.canSetLock(id) {
		return nil, false
	}
	p := l.s.lockerP
	if !setLockOnNodes(ctx, l.s, p, id, []distribute.Atom{boss}) {
		return nil, false
	}
	step2 := without(append([]distribute.Atom{me}, extra...), boss)
	if !setLockOnNodes(ctx, l.s, p, id, step2) {
		delLockOnNodes(ctx, p, id, []distribute.Atom{boss})
		return nil, false
	}
	step3 := without(known, append([]distribute.Atom{boss}, step2...)...)
	if !setLockOnNodes(ctx, l.s, p, id, step3) {
		delLockOnNodes(ctx, p, id, append(step2, boss))
		return nil, false
	}
	return append(append(step2, step3...), boss), true
}

// delLock deletes the lock on every locked node, the boss (last in nodes)
// last.
func (l *locker) delLock(ctx context.Context, id etf.Tuple, nodes []distribute.Atom) {
	if len(nodes) == 0 {
		return
	}
	delLockOnNodes(ctx, l.s.lockerP, id, nodes[:len(nodes)-1])
	delLockOnNodes(ctx, l.s.lockerP, id, nodes[len(nodes)-1:])
}

func without(l []distribute.Atom, drop ...distribute.Atom) []distribute.Atom {
	out := make([]distribute.Atom, 0, len(l))
	for _, a := range l {
		if !slices.Contains(drop, a) && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}
