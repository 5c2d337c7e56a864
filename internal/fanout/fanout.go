// Package fanout delivers the events of one producer to many
// subscribers, each on a channel of its own, without ever blocking the
// producer. It is the one subscription mechanism behind the Watch methods
// of the service packages (groups, membership, election) and of the
// root's Node.WatchNodes.
//
// The policy, which every Watch documents by reference:
//
//   - Publish never blocks: it appends the value to each subscriber's
//     queue and returns.
//   - A subscriber receives its initial values, then every value
//     published after it subscribed (that its filter keeps), in order;
//     nothing is coalesced and nothing is dropped in between.
//   - A queue is bounded: a subscriber with Limit values published but not
//     yet received (its initial values do not count) is cut off. It
//     receives what is queued, then its channel is closed; later values
//     are not queued for it. A reader sees an unbroken prefix of the
//     events, never a gap; to go on, it subscribes again (which gives a
//     fresh snapshot).
//   - The channel is closed when the subscriber's ctx ends, when the
//     fan-out closes, or after a cut-off; values still queued then are
//     dropped (except after a cut-off, which delivers them).
package fanout

import (
	"context"
	"sync"
)

// DefaultLimit is the queue bound of a Fanout made with a limit of 0 or
// less: how many published values a subscriber may fall behind before it
// is cut off.
const DefaultLimit = 4096

// Fanout is one producer's subscriptions. The zero value is not usable;
// make one with New.
type Fanout[T any] struct {
	limit int

	mu     sync.Mutex // protects subs, closed
	subs   map[*sub[T]]struct{}
	closed bool
	done   chan struct{} // closed by Close
	wg     sync.WaitGroup
}

// sub is one subscription: its queue, pumped to out by its own goroutine.
type sub[T any] struct {
	keep func(T) bool

	mu      sync.Mutex // protects queue, pending, cut
	queue   []T
	initial int  // initial values still queued (at the front)
	pending int  // published values queued (initial values excluded)
	cut     bool // fell Limit behind: no more values are queued
	wake    chan struct{}
}

// New returns a Fanout whose subscribers may fall limit published values
// behind (DefaultLimit when limit <= 0).
func New[T any](limit int) *Fanout[T] {
	if limit <= 0 {
		limit = DefaultLimit
	}
	return &Fanout[T]{limit: limit, subs: make(map[*sub[T]]struct{}), done: make(chan struct{})}
}

// Subscribe returns a channel that receives initial, then every value
// published from now on that keep accepts (every value when keep is nil),
// until ctx ends, the fan-out closes or the subscriber is cut off (see the
// package documentation); then it is closed. After Close it returns a
// closed channel.
//
// A caller that publishes under a lock of its own and subscribes under the
// same lock gets a snapshot (initial) and a stream that agree.
func (f *Fanout[T]) Subscribe(ctx context.Context, initial []T, keep func(T) bool) <-chan T {
	out := make(chan T)
	s := &sub[T]{keep: keep, queue: append([]T(nil), initial...), initial: len(initial), wake: make(chan struct{}, 1)}
	f.mu.Lock()
	if f.closed || ctx.Err() != nil {
		f.mu.Unlock()
		close(out)
		return out
	}
	f.subs[s] = struct{}{}
	f.wg.Add(1)
	f.mu.Unlock()
	// Deliver initial. A Publish may have filled wake already (it runs
	// once s is in subs): a blocking send would wait for a pump not
	// started yet.
	select {
	case s.wake <- struct{}{}:
	default:
	}
	go f.pump(ctx, s, out)
	return out
}

// Publish queues v for every subscriber whose filter keeps it. It never
// blocks on a subscriber.
func (f *Fanout[T]) Publish(v T) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		if s.keep != nil && !s.keep(v) {
			continue
		}
		s.mu.Lock()
		if !s.cut {
			if s.pending >= f.limit {
				s.cut = true
			} else {
				s.queue = append(s.queue, v)
				s.pending++
			}
		}
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// Len returns the number of live subscriptions.
func (f *Fanout[T]) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// Close ends every subscription (their channels are closed), makes later
// Subscribe calls return closed channels and waits for the subscribers'
// goroutines to end. It is idempotent.
func (f *Fanout[T]) Close() {
	f.mu.Lock()
	if !f.closed {
		f.closed = true
		close(f.done)
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// pump delivers s's queue to out until ctx ends, the fan-out closes, or s
// is cut off and its queue is empty.
func (f *Fanout[T]) pump(ctx context.Context, s *sub[T], out chan<- T) {
	defer f.wg.Done()
	defer close(out)
	defer func() {
		f.mu.Lock()
		delete(f.subs, s)
		f.mu.Unlock()
	}()
	for {
		select {
		case <-s.wake:
		case <-ctx.Done():
			return
		case <-f.done:
			return
		}
		for {
			s.mu.Lock()
			if len(s.queue) == 0 {
				cut := s.cut
				s.queue = nil // let a long-grown backing array go
				s.mu.Unlock()
				if cut {
					return
				}
				break
			}
			v := s.queue[0]
			var zero T
			s.queue[0] = zero
			s.queue = s.queue[1:]
			if s.initial > 0 {
				s.initial--
			} else {
				s.pending--
			}
			s.mu.Unlock()
			select {
			case out <- v:
			case <-ctx.Done():
				return
			case <-f.done:
				return
			}
		}
	}
}
