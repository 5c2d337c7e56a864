package groups

import (
	"context"
	"sync"
)

// subscriber is one subscription: an unbounded queue of changes pumped to
// its channel by its own goroutine, so the scope never blocks on a slow
// reader and never drops a change.
type subscriber struct {
	key string // group key; all groups when all is set
	all bool

	mu    sync.Mutex // protects queue
	queue []Change
	wake  chan struct{} // capacity 1: a change is queued
}

func (sub *subscriber) push(c Change) {
	sub.mu.Lock()
	sub.queue = append(sub.queue, c)
	sub.mu.Unlock()
	select {
	case sub.wake <- struct{}{}:
	default:
	}
}

// notifyLocked fans a change out to the matching subscriptions; s.mu is
// held for writing, so a subscription's snapshot and its changes agree.
func (s *Scope) notifyLocked(key string, c Change) {
	for sub := range s.subs {
		if sub.all || sub.key == key {
			sub.push(c)
		}
	}
}

// Subscribe returns the current members of group and a channel of every
// later change to it, in order, until ctx ends or the scope stops; then
// the channel is closed. Changes queue without bound while the reader is
// slow; none is lost. It is pg:monitor(Scope, Group).
func (s *Scope) Subscribe(ctx context.Context, group any) ([]Pid, <-chan Change, error) {
	_, key, err := groupTerm(group)
	if err != nil {
		return nil, nil, err
	}
	var members []Pid
	ch, err := s.subscribe(ctx, &subscriber{key: key}, func() {
		if g := s.c.groups[key]; g != nil {
			members = append([]Pid(nil), g.all...)
		}
	})
	return members, ch, err
}

// SubscribeAll is Subscribe for every group of the scope: it returns all
// groups with their members and the changes of all groups, as
// pg:monitor_scope/1.
func (s *Scope) SubscribeAll(ctx context.Context) ([]GroupMembers, <-chan Change, error) {
	var snap []GroupMembers
	ch, err := s.subscribe(ctx, &subscriber{all: true}, func() {
		snap = make([]GroupMembers, 0, len(s.c.groups))
		for _, g := range s.c.groups {
			snap = append(snap, GroupMembers{Group: g.name, Members: append([]Pid(nil), g.all...)})
		}
	})
	return snap, ch, err
}

func (s *Scope) subscribe(ctx context.Context, sub *subscriber, snapshot func()) (<-chan Change, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sub.wake = make(chan struct{}, 1)
	s.mu.Lock()
	if err := s.closedErr(); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	snapshot()
	s.subs[sub] = struct{}{}
	s.subWG.Add(1)
	s.mu.Unlock()
	out := make(chan Change)
	go s.pump(ctx, sub, out)
	return out, nil
}

// pump delivers sub's queue to out until ctx ends or the scope stops.
func (s *Scope) pump(ctx context.Context, sub *subscriber, out chan<- Change) {
	defer s.subWG.Done()
	defer close(out)
	defer func() {
		s.mu.Lock()
		delete(s.subs, sub)
		s.mu.Unlock()
	}()
	for {
		sub.mu.Lock()
		var next Change
		have := len(sub.queue) > 0
		if have {
			next = sub.queue[0]
			sub.queue[0] = Change{}
			sub.queue = sub.queue[1:]
		}
		sub.mu.Unlock()
		if !have {
			select {
			case <-sub.wake:
				continue
			case <-ctx.Done():
				return
			case <-s.loopDone:
				return
			}
		}
		select {
		case out <- next:
		case <-ctx.Done():
			return
		case <-s.loopDone:
			return
		}
	}
}
