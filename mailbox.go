package distribute

import (
	"context"
	"sync"
	"time"

	"github.com/distribute-go/distribute/internal/dist"
)

// mailbox is a process's unbounded message queue with selective receive.
// Any goroutine may push; one goroutine at a time receives. A message is
// never dropped while the mailbox is open; after close, pushes are dropped
// (the process is dead, as in Erlang) and receives fail.
type mailbox struct {
	// mu protects items, head, mark and closed. It is private to this
	// file: other files use the methods (a lint test, internal/deptest,
	// checks).
	mu    sync.Mutex
	items []any
	head  int // items[:head] are consumed
	// mark is the index in items of the first message that arrived after
	// setMark, kept up to date as messages are taken and the slice is
	// compacted; -1 when no mark is set. See setMark.
	mark   int
	closed bool

	// ready holds a token while the queue may have changed since the
	// receiver last looked. Capacity 1, so pushes never block.
	ready chan struct{}

	// lead is the receiver's state while it leads a connection's reads
	// (see wait): a push or close wakes it after taking mu, and the
	// leader looks at the queue under mu after it set lead, so one of the
	// two sees the other.
	lead dist.Leader
}

func newMailbox() *mailbox {
	mb := &mailbox{}
	mb.init()
	return mb
}

func (mb *mailbox) init() {
	mb.ready = make(chan struct{}, 1)
	mb.mark = -1
}

// setMark marks the end of the queue, as BEAM's receive marker does for
// a fresh reference: a receive that can only match messages that arrive
// after this point (a reply to a ref made after it, a DOWN for a monitor
// set up after it) passes afterMark to wait or take and scans only those,
// instead of every message already queued. There is one mark; setting it
// again moves it. Only the receiver sets and clears it.
func (mb *mailbox) setMark() {
	mb.mu.Lock()
	mb.mark = len(mb.items)
	mb.mu.Unlock()
}

// clearMark removes the mark.
func (mb *mailbox) clearMark() {
	mb.mu.Lock()
	mb.mark = -1
	mb.mu.Unlock()
}

// dropAfterMark removes every message after the mark that match accepts
// and clears the mark: the end of a call, whose late reply or DOWN is
// dropped (see Process.doCall).
func (mb *mailbox) dropAfterMark(match func(any) bool) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	for from := mb.startLocked(true); ; {
		var ok bool
		// After a take the messages before its index are still
		// rejected, but a compaction may have moved them: start over
		// from the mark, which moves with them.
		if _, ok, _ = mb.takeLocked(match, from); !ok {
			break
		}
		from = mb.startLocked(true)
	}
	mb.mark = -1
}

// startLocked returns the index a scan starts at: the head, or the mark
// when afterMark is set and there is one.
func (mb *mailbox) startLocked(afterMark bool) int {
	if afterMark && mb.mark > mb.head {
		return mb.mark
	}
	return mb.head
}

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
	mb.lead.Wake()
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
	m, ok, _ := mb.takeLocked(match, mb.head)
	return m, ok
}

// takeLocked removes and returns the first message at or after index from
// (never before the head) that match accepts (any message if match is
// nil). When there is none it returns the index a later scan with the
// same match may start at: what is queued now has been looked at.
func (mb *mailbox) takeLocked(match func(any) bool, from int) (m any, ok bool, next int) {
	for i := max(from, mb.head); i < len(mb.items); i++ {
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
			if i < mb.mark {
				mb.mark--
			}
		}
		mb.compactLocked()
		return m, true, 0
	}
	return nil, false, len(mb.items)
}

// compactLocked reclaims the consumed prefix once it dominates the slice.
func (mb *mailbox) compactLocked() {
	switch {
	case mb.head == len(mb.items):
		mb.items = mb.items[:0]
		mb.shiftLocked(mb.head)
	case mb.head > 32 && mb.head*2 > len(mb.items):
		n := copy(mb.items, mb.items[mb.head:])
		clear(mb.items[n:])
		mb.items = mb.items[:n]
		mb.shiftLocked(mb.head)
	}
}

// shiftLocked moves the head and the mark back by n, after the slice was
// moved down by n.
func (mb *mailbox) shiftLocked(n int) {
	mb.head -= n
	if mb.mark >= 0 {
		mb.mark = max(mb.mark-n, 0)
	}
}

// receive waits for the first message match accepts (nil accepts all),
// removes it and returns it. Messages match rejects stay queued, in order.
// It returns errDead once the mailbox is closed, or ctx's error.
func (mb *mailbox) receive(ctx context.Context, match func(any) bool) (any, error) {
	return mb.wait(ctx, nil, match, false, nil, time.Time{})
}

// wait is receive for the mailbox of process own (nil: no process). When
// ctx can only end after own exits (its own context), and so after the
// mailbox closes, the receiver parks on the ready channel alone, which
// costs an idle process one waiting record (sudog) instead of two, and a
// smaller stack than a select. The channel to watch is worked out only
// when the receive has to wait.
//
// A message match rejected once is not shown to it again: each wake
// scans only what arrived since the last scan (match must answer the same
// for the same message, as a receive pattern does), so a receive waiting
// behind N queued messages costs O(N) once, not per arrival. With
// afterMark the first scan starts at the mark (see setMark).
//
// With a connection lc (a call waiting for a reply from lc's node), the
// receiver leads lc's reads while it waits (dist.Conn.Lead): the reply is
// then taken on this goroutine, which read it, instead of being handed
// over by the connection's reader goroutine. Frames for other processes
// are delivered by it as the reader goroutine would. When it cannot lead
// (another receiver does) or stops (ctx ended, until passed, the
// connection failed), it waits as usual.
func (mb *mailbox) wait(ctx context.Context, own *Process, match func(any) bool, afterMark bool, lc *dist.Conn, until time.Time) (any, error) {
	var done <-chan struct{}
	first := true
	from := -1
	for {
		mb.mu.Lock()
		if from < 0 {
			from = mb.startLocked(afterMark)
		}
		// Only this receiver removes messages or moves the slice, so
		// while it waits, the indexes of what it has scanned hold.
		m, ok, next := mb.takeLocked(match, from)
		from = next
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
		if lc != nil {
			m, ok, again := mb.leadOn(ctx, done, lc, until, match, &from)
			if ok {
				return m, nil
			}
			if !again {
				lc = nil
			}
			continue
		}
		if done == nil {
			<-mb.ready
		} else if !mb.waitOr(done) {
			return nil, ctx.Err()
		}
	}
}

// leadOn leads lc's reads until a message match accepts arrives (it
// returns it, taken), the mailbox closes, or the lead ends (see
// dist.Conn.Lead; again says whether the caller may lead again). from is
// wait's scan position. cancel is the channel wait watches besides the
// mailbox: nil when only this process's exit, which closes the mailbox
// and so wakes the leader, ends ctx.
//
//go:noinline
func (mb *mailbox) leadOn(ctx context.Context, cancel <-chan struct{}, lc *dist.Conn, until time.Time, match func(any) bool, from *int) (m any, ok, again bool) {
	lctx := ctx
	if cancel == nil {
		lctx = context.Background()
	}
	again = lc.Lead(lctx, &mb.lead, mb.ready, until, func() bool {
		mb.mu.Lock()
		defer mb.mu.Unlock()
		var next int
		m, ok, next = mb.takeLocked(match, *from)
		if !ok {
			*from = next
		}
		return ok || mb.closed
	})
	return m, ok, again
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
	mb.items, mb.head, mb.mark = nil, 0, -1
	mb.mu.Unlock()
	select {
	case mb.ready <- struct{}{}:
	default:
	}
	mb.lead.Wake()
	return n
}
