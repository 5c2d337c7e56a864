package distribute

import (
	"context"
	"sync"
)

// mailbox is a process's unbounded message queue with selective receive.
// Any goroutine may push; one goroutine at a time receives. A message is
// never dropped while the mailbox is open; after close, pushes are dropped
// (the process is dead, as in Erlang) and receives fail.
type mailbox struct {
	// mu protects items, head and closed. It is private to this file:
	// other files use the methods (a lint test, internal/deptest, checks).
	mu     sync.Mutex
	items  []any
	head   int // items[:head] are consumed
	closed bool

	// ready holds a token while the queue may have changed since the
	// receiver last looked. Capacity 1, so pushes never block.
	ready chan struct{}
}

func newMailbox() *mailbox {
	mb := &mailbox{}
	mb.init()
	return mb
}

func (mb *mailbox) init() { mb.ready = make(chan struct{}, 1) }

// push appends m and reports whether the mailbox was open.
func (mb *mailbox) push(m any) bool {
	mb.mu.Lock()
	if mb.closed {
		mb.mu.Unlock()
		return false
	}
	mb.items = append(mb.items, m)
	mb.mu.Unlock()
	select {
	case mb.ready <- struct{}{}:
	default:
	}
	return true
}

// len returns the number of queued messages.
func (mb *mailbox) len() int {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return len(mb.items) - mb.head
}

// take removes and returns the first message match accepts (any message
// if match is nil), without waiting: false when there is none.
func (mb *mailbox) take(match func(any) bool) (any, bool) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return mb.takeLocked(match)
}

// takeLocked removes and returns the first message match accepts (any
// message if match is nil).
func (mb *mailbox) takeLocked(match func(any) bool) (any, bool) {
	for i := mb.head; i < len(mb.items); i++ {
		m := mb.items[i]
		if match != nil && !match(m) {
			continue
		}
		if i == mb.head {
			mb.items[i] = nil
			mb.head++
		} else {
			copy(mb.items[i:], mb.items[i+1:])
			mb.items[len(mb.items)-1] = nil
			mb.items = mb.items[:len(mb.items)-1]
		}
		mb.compactLocked()
		return m, true
	}
	return nil, false
}

// compactLocked reclaims the consumed prefix once it dominates the slice.
func (mb *mailbox) compactLocked() {
	switch {
	case mb.head == len(mb.items):
		mb.items = mb.items[:0]
		mb.head = 0
	case mb.head > 32 && mb.head*2 > len(mb.items):
		n := copy(mb.items, mb.items[mb.head:])
		clear(mb.items[n:])
		mb.items = mb.items[:n]
		mb.head = 0
	}
}

// receive waits for the first message match accepts (nil accepts all),
// removes it and returns it. Messages match rejects stay queued, in order.
// It returns errDead once the mailbox is closed, or ctx's error.
func (mb *mailbox) receive(ctx context.Context, match func(any) bool) (any, error) {
	return mb.wait(ctx, nil, match)
}

// wait is receive for the mailbox of process own (nil: no process). When
// ctx can only end after own exits (its own context), and so after the
// mailbox closes, the receiver parks on the ready channel alone, which
// costs an idle process one waiting record (sudog) instead of two, and a
// smaller stack than a select. The channel to watch is worked out only
// when the receive has to wait.
func (mb *mailbox) wait(ctx context.Context, own *Process, match func(any) bool) (any, error) {
	var done <-chan struct{}
	first := true
	for {
		mb.mu.Lock()
		m, ok := mb.takeLocked(match)
		closed := mb.closed
		mb.mu.Unlock()
		if ok {
			return m, nil
		}
		if closed {
			return nil, errDead
		}
		if first {
			done, first = own.cancelChan(ctx), false
		}
		if done == nil {
			<-mb.ready
		} else if !mb.waitOr(done) {
			return nil, ctx.Err()
		}
	}
}

// waitOr waits for the ready token or for done to close, and reports
// whether it was the token. The select is apart from wait so that an idle
// process, which waits on ready alone, does not carry its frame.
//
//go:noinline
func (mb *mailbox) waitOr(done <-chan struct{}) bool {
	select {
	case <-mb.ready:
		return true
	case <-done:
		return false
	}
}

// close marks the mailbox dead, drops what it holds, and wakes a waiting
// receiver. It returns the number of messages dropped.
func (mb *mailbox) close() int {
	mb.mu.Lock()
	n := len(mb.items) - mb.head
	mb.closed = true
	mb.items, mb.head = nil, 0
	mb.mu.Unlock()
	select {
	case mb.ready <- struct{}{}:
	default:
	}
	return n
}
