package fanout

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recv reads one value or fails after a generous deadline.
func recv[T any](t *testing.T, ch <-chan T) (T, bool) {
	t.Helper()
	select {
	case v, ok := <-ch:
		return v, ok
	case <-time.After(10 * time.Second):
		t.Fatal("no value and no close within 10s")
	}
	var zero T
	return zero, false
}

func TestInitialThenPublishedInOrder(t *testing.T) {
	f := New[int](0)
	defer f.Close()
	ch := f.Subscribe(t.Context(), []int{-2, -1}, nil)
	for i := range 100 {
		f.Publish(i)
	}
	for want := -2; want < 100; want++ {
		if got, ok := recv(t, ch); !ok || got != want {
			t.Fatalf("got %d (open %v), want %d", got, ok, want)
		}
	}
}

func TestFilter(t *testing.T) {
	f := New[int](0)
	defer f.Close()
	ch := f.Subscribe(t.Context(), nil, func(v int) bool { return v%2 == 0 })
	for i := range 10 {
		f.Publish(i)
	}
	for want := 0; want < 10; want += 2 {
		if got, _ := recv(t, ch); got != want {
			t.Fatalf("got %d, want %d", got, want)
		}
	}
}

// A reader that does not read never blocks Publish; once it is Limit
// behind it is cut off: it gets exactly the first Limit values, then the
// channel closes.
func TestSlowReaderIsCutOffNotBlocking(t *testing.T) {
	const limit = 8
	f := New[int](limit)
	defer f.Close()
	ch := f.Subscribe(t.Context(), []int{-1}, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10 * limit {
			f.Publish(i)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Publish blocked on a reader that does not read")
	}
	// The pump may hold one value in hand (dequeued, not yet received),
	// which makes room for one more in the queue.
	var got []int
	for v := range ch {
		got = append(got, v)
	}
	if len(got) < limit+1 || len(got) > limit+2 {
		t.Fatalf("got %d values %v, want the initial value and %d or %d published ones", len(got), got, limit, limit+1)
	}
	for i, v := range got {
		if v != i-1 {
			t.Fatalf("value %d is %d, want %d: a gap", i, v, i-1)
		}
	}
	if n := f.Len(); n != 0 {
		t.Fatalf("%d subscriptions after the cut-off, want 0", n)
	}
}

func TestCtxEndClosesChannel(t *testing.T) {
	f := New[int](0)
	defer f.Close()
	ctx, cancel := context.WithCancel(t.Context())
	ch := f.Subscribe(ctx, nil, nil)
	f.Publish(1)
	cancel()
	for range ch { // may or may not see 1; must close
	}
	f.Publish(2) // no subscriber left to block on or leak
	if n := f.Len(); n != 0 {
		t.Fatalf("%d subscriptions after ctx ended, want 0", n)
	}
	// A ctx already ended gives a closed channel.
	if _, ok := recv(t, f.Subscribe(ctx, []int{1}, nil)); ok {
		t.Fatal("Subscribe with an ended ctx gave an open channel")
	}
}

func TestCloseEndsSubscriptions(t *testing.T) {
	f := New[int](0)
	chs := make([]<-chan int, 5)
	for i := range chs {
		chs[i] = f.Subscribe(t.Context(), nil, nil)
	}
	f.Publish(1)
	f.Close() // returns once every pump has ended
	for _, ch := range chs {
		for range ch {
		}
	}
	if _, ok := recv(t, f.Subscribe(t.Context(), nil, nil)); ok {
		t.Fatal("Subscribe after Close gave an open channel")
	}
	f.Publish(2) // after Close: no-op
	f.Close()    // idempotent
}

// Many publishers and subscribers at once; run with -race. Each reader
// sees each publisher's values in that publisher's order.
func TestConcurrent(t *testing.T) {
	f := New[[2]int](1 << 16)
	const pubs, per, readers = 4, 500, 6
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for r := range readers {
		ch := f.Subscribe(ctx, nil, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := make([]int, pubs)
			seen := 0
			for v := range ch {
				if v[1] != next[v[0]] {
					t.Errorf("reader %d: publisher %d sent %d, want %d", r, v[0], v[1], next[v[0]])
					return
				}
				next[v[0]]++
				if seen++; seen == pubs*per {
					return
				}
			}
			t.Errorf("reader %d: channel closed after %d values", r, seen)
		}()
	}
	var pw sync.WaitGroup
	for p := range pubs {
		pw.Add(1)
		go func() {
			defer pw.Done()
			for i := range per {
				f.Publish([2]int{p, i})
			}
		}()
	}
	// Subscribers coming and going while values flow.
	for range 50 {
		c, cl := context.WithCancel(ctx)
		ch := f.Subscribe(c, nil, nil)
		cl()
		for range ch {
		}
	}
	pw.Wait()
	wg.Wait()
	f.Close()
}
