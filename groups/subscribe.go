package groups

import (
	"context"

	"github.com/distribute-go/distribute"
)

// notifyLocked fans a change out to the Watch subscriptions; s.mu is held
// for writing, so a subscription's snapshot and its changes agree.
func (s *Scope) notifyLocked(key string, c Change) {
	s.fan.Publish(c)
}

// Watch returns a channel of the changes to the named groups (to every
// group of the scope when none is named): first, for each such group that
// has members now, a Joined change listing them all; then every later
// join and leave, in order, until ctx ends or the scope stops; then the
// channel is closed. It is pg:monitor(Scope, Group), or
// pg:monitor_scope/1 with no group. A group that is not a valid group
// term (see Join) has no members and matches nothing.
//
// Watch never blocks the scope: changes queue for a slow reader, and a
// reader 4096 changes behind is cut off (it receives what is queued, then
// its channel is closed; Watch again for a fresh snapshot).
func (s *Scope) Watch(ctx context.Context, groups ...any) <-chan Change {
	var keys map[string]bool
	if len(groups) > 0 {
		keys = make(map[string]bool, len(groups))
		for _, g := range groups {
			if _, key, err := groupTerm(g); err == nil {
				keys[key] = true
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var initial []Change
	var keep func(Change) bool
	for key, g := range s.c.groups {
		if (keys == nil || keys[key]) && len(g.all) > 0 {
			initial = append(initial, Change{Kind: Joined, Group: g.name, Pids: append([]distribute.Pid(nil), g.all...)})
		}
	}
	if keys != nil {
		keep = func(c Change) bool {
			key, err := groupKey(c.Group)
			return err == nil && keys[key]
		}
	}
	if s.stopped {
		return s.fan.Subscribe(canceled(), nil, nil)
	}
	return s.fan.Subscribe(ctx, initial, keep)
}

// canceled returns a context that has ended.
func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
