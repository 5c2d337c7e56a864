package distribute

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMailboxModel drives the mailbox and a dumb reference model (a plain
// slice) with the same random operations and checks they agree.
func TestMailboxModel(t *testing.T) {
	ctx := context.Background()
	for seed := uint64(0); seed < 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 1))
		mb := newMailbox()
		var model []int
		next := 0
		for op := 0; op < 500; op++ {
			switch r.IntN(3) {
			case 0, 1:
				mb.push(next)
				model = append(model, next)
				next++
			case 2:
				if len(model) == 0 {
					continue
				}
				mod := 1 + r.IntN(4)
				want, wi := -1, -1
				for i, v := range model {
					if v%mod == 0 {
						want, wi = v, i
						break
					}
				}
				if wi < 0 {
					continue
				}
				got, err := mb.receive(ctx, func(m any) bool { return m.(int)%mod == 0 })
				if err != nil || got.(int) != want {
					t.Fatalf("seed %d op %d: receive mod %d = %v, %v; want %d", seed, op, mod, got, err, want)
				}
				model = append(model[:wi], model[wi+1:]...)
			}
			if mb.len() != len(model) {
				t.Fatalf("seed %d op %d: len %d; want %d", seed, op, mb.len(), len(model))
			}
		}
		for _, want := range model {
			got, err := mb.receive(ctx, nil)
			if err != nil || got.(int) != want {
				t.Fatalf("seed %d drain: got %v, %v; want %d", seed, got, err, want)
			}
		}
	}
}

func TestMailboxOrderUnderConcurrentSenders(t *testing.T) {
	mb := newMailbox()
	const senders, per = 8, 5000
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				mb.push([2]int{s, i})
			}
		}()
	}
	last := make([]int, senders)
	for i := range last {
		last[i] = -1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for n := 0; n < senders*per; n++ {
		m, err := mb.receive(ctx, nil)
		if err != nil {
			t.Fatalf("receive %d: %v", n, err)
		}
		v := m.([2]int)
		if v[1] != last[v[0]]+1 {
			t.Fatalf("sender %d: got %d after %d", v[0], v[1], last[v[0]])
		}
		last[v[0]] = v[1]
	}
	wg.Wait()
}

func TestMailboxCloseWakesReceiver(t *testing.T) {
	mb := newMailbox()
	errc := make(chan error, 1)
	go func() {
		_, err := mb.receive(context.Background(), nil)
		errc <- err
	}()
	mb.close()
	if err := <-errc; !errors.Is(err, errDead) {
		t.Fatalf("got %v; want errDead", err)
	}
	if mb.push(1) {
		t.Fatal("push after close reported success")
	}
}

func TestMailboxContext(t *testing.T) {
	mb := newMailbox()
	mb.push("other")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := mb.receive(ctx, func(m any) bool { return m == "wanted" })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v; want context.Canceled", err)
	}
	if mb.len() != 1 {
		t.Fatalf("len %d; the unmatched message must stay", mb.len())
	}
}

func BenchmarkMailboxPushReceive(b *testing.B) {
	b.ReportAllocs()
	mb := newMailbox()
	ctx := context.Background()
	msg := any("m")
	for b.Loop() {
		mb.push(msg)
		mb.receive(ctx, nil)
	}
}

// TestMailboxMarkModel is TestMailboxModel with receive markers: a dumb
// model numbers every message, remembers the number at setMark, and an
// after-mark receive looks only at messages numbered from it.
func TestMailboxMarkModel(t *testing.T) {
	ctx := context.Background()
	for seed := uint64(0); seed < 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 2))
		mb := newMailbox()
		var model []int // message values, which are their numbers
		next, mark := 0, -1
		first := func(mod int, afterMark bool) (int, int) {
			for i, v := range model {
				if v%mod == 0 && (!afterMark || mark < 0 || v >= mark) {
					return v, i
				}
			}
			return -1, -1
		}
		for op := 0; op < 600; op++ {
			switch r.IntN(8) {
			case 0, 1, 2:
				mb.push(next)
				model = append(model, next)
				next++
			case 3:
				mb.setMark()
				mark = next
			case 4:
				mb.clearMark()
				mark = -1
			case 5, 6:
				mod := 1 + r.IntN(4)
				afterMark := r.IntN(2) == 0
				want, wi := first(mod, afterMark)
				if wi < 0 {
					continue
				}
				got, err := mb.wait(ctx, nil, func(m any) bool { return m.(int)%mod == 0 }, afterMark, nil, time.Time{})
				if err != nil || got.(int) != want {
					t.Fatalf("seed %d op %d: wait mod %d afterMark %v = %v, %v; want %d", seed, op, mod, afterMark, got, err, want)
				}
				model = append(model[:wi], model[wi+1:]...)
			case 7:
				mod := 1 + r.IntN(4)
				mb.dropAfterMark(func(m any) bool { return m.(int)%mod == 0 })
				kept := model[:0]
				for _, v := range model {
					if v%mod != 0 || mark >= 0 && v < mark {
						kept = append(kept, v)
					}
				}
				model, mark = kept, -1
			}
			if mb.len() != len(model) {
				t.Fatalf("seed %d op %d: len %d; want %d", seed, op, mb.len(), len(model))
			}
		}
		for _, want := range model {
			got, err := mb.receive(ctx, nil)
			if err != nil || got.(int) != want {
				t.Fatalf("seed %d drain: got %v, %v; want %d", seed, got, err, want)
			}
		}
	}
}

// TestMailboxSelectiveReceiveKeepsOrder checks that a selective receive
// finds matching messages queued before it began, first one first, and
// leaves the others queued in their order.
func TestMailboxSelectiveReceiveKeepsOrder(t *testing.T) {
	ctx := testCtx(t)
	mb := newMailbox()
	for _, m := range []string{"a1", "b1", "a2", "b2", "a3"} {
		mb.push(m)
	}
	isB := func(m any) bool { return m.(string)[0] == 'b' }
	for _, want := range []string{"b1", "b2"} {
		if got, err := mb.receive(ctx, isB); err != nil || got != want {
			t.Fatalf("receive b = %v, %v; want %s", got, err, want)
		}
	}
	// A receive that waits: b3 comes after more non-matching messages.
	got := make(chan any, 1)
	go func() {
		m, err := mb.receive(ctx, isB)
		if err != nil {
			m = err
		}
		got <- m
	}()
	mb.push("a4")
	mb.push("b3")
	mb.push("b4")
	if m := <-got; m != "b3" {
		t.Fatalf("waiting receive got %v; want b3", m)
	}
	for _, want := range []string{"a1", "a2", "a3", "a4", "b4"} {
		if m, err := mb.receive(ctx, nil); err != nil || m != want {
			t.Fatalf("drain got %v, %v; want %s", m, err, want)
		}
	}
}

// TestMailboxWaitScansOnlyArrivals checks that a receive waiting behind
// queued messages it does not match looks at each message once, not at
// the whole queue on every arrival: a count of match calls, not a time.
func TestMailboxWaitScansOnlyArrivals(t *testing.T) {
	ctx := testCtx(t)
	mb := newMailbox()
	const queued, arrivals = 1000, 50
	for i := 0; i < queued; i++ {
		mb.push(i)
	}
	var calls atomic.Int64
	got := make(chan any, 1)
	go func() {
		m, err := mb.receive(ctx, func(m any) bool {
			calls.Add(1)
			return m == "wanted"
		})
		if err != nil {
			m = err
		}
		got <- m
	}()
	// Let the receive scan the queue and wait, then send it messages it
	// rejects one at a time, each a wake.
	waitCalls := func(n int64) {
		for calls.Load() < n {
			if ctx.Err() != nil {
				t.Fatalf("match called %d times; want %d", calls.Load(), n)
			}
			runtime.Gosched()
		}
	}
	waitCalls(queued)
	for i := 0; i < arrivals; i++ {
		mb.push(-1)
		waitCalls(int64(queued + i + 1))
	}
	mb.push("wanted")
	if m := <-got; m != "wanted" {
		t.Fatalf("got %v; want wanted", m)
	}
	if got, want := calls.Load(), int64(queued+arrivals+1); got != want {
		t.Fatalf("match called %d times; want %d (each message once)", got, want)
	}
}

// TestMailboxAfterMarkSkipsQueued checks that a receive after a mark
// never looks at what was queued before it (a call's reply cannot be
// there), and still finds what came after, in order.
func TestMailboxAfterMarkSkipsQueued(t *testing.T) {
	ctx := testCtx(t)
	mb := newMailbox()
	for i := 0; i < 100; i++ {
		mb.push(i)
	}
	mb.setMark()
	mb.push("r1")
	mb.push("r2")
	var looked []any
	m, err := mb.wait(ctx, nil, func(m any) bool {
		looked = append(looked, m)
		return m == "r2"
	}, true, nil, time.Time{})
	if err != nil || m != "r2" {
		t.Fatalf("got %v, %v; want r2", m, err)
	}
	if len(looked) != 2 || looked[0] != "r1" {
		t.Fatalf("match looked at %v; want [r1 r2]", looked)
	}
	mb.dropAfterMark(func(m any) bool { return m == "r1" })
	if n := mb.len(); n != 100 {
		t.Fatalf("len %d after dropAfterMark; want 100", n)
	}
	if m, _ := mb.receive(ctx, nil); m != 0 {
		t.Fatalf("head %v; want 0", m)
	}
}

// TryReceive takes the first message match accepts without waiting,
// leaves the others queued in order, and reports false when none matches
// or the process has exited.
func TestProcessTryReceive(t *testing.T) {
	n := startNode(t, 0, func(c *Config) { c.ClientOnly = true })
	p, err := n.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := p.TryReceive(nil); ok {
		t.Fatalf("empty mailbox: got %v; want nothing", m)
	}
	for _, m := range []Term{Atom("a"), int64(1), Atom("b"), int64(2)} {
		if err := p.Send(testCtx(t), p.Pid(), m); err != nil {
			t.Fatal(err)
		}
	}
	isInt := func(m any) bool { _, ok := m.(int64); return ok }
	if m, ok := p.TryReceive(isInt); !ok || m != int64(1) {
		t.Fatalf("got %v, %v; want 1, true", m, ok)
	}
	if m, ok := p.TryReceive(func(m any) bool { return m == Atom("zzz") }); ok {
		t.Fatalf("no match: got %v", m)
	}
	if m, ok := p.TryReceive(nil); !ok || m != Atom("a") {
		t.Fatalf("got %v, %v; want a, true (the order kept)", m, ok)
	}
	if got := p.MailboxLen(); got != 2 {
		t.Fatalf("mailbox holds %d; want 2", got)
	}
	p.Exit(ReasonNormal)
	if m, ok := p.TryReceive(nil); ok {
		t.Fatalf("exited process: got %v; want nothing", m)
	}
}
