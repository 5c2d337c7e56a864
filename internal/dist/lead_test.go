package dist

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// leadBox is a stand-in for a process's mailbox: frames are queued under
// a lock, a token is left on ready, and the leader is woken (the order a
// mailbox push follows).
type leadBox struct {
	mu    sync.Mutex
	items [][]byte
	ready chan struct{}
	l     Leader
	// inHandler counts Handler calls under way: never more than one.
	inHandler atomic.Int32
	overlap   atomic.Bool
}

func newLeadBox() *leadBox { return &leadBox{ready: make(chan struct{}, 1)} }

func (b *leadBox) push(f []byte) {
	b.mu.Lock()
	b.items = append(b.items, bytes.Clone(f))
	b.mu.Unlock()
	select {
	case b.ready <- struct{}{}:
	default:
	}
	b.l.Wake()
}

func (b *leadBox) handler(f []byte) error {
	if b.inHandler.Add(1) > 1 {
		b.overlap.Store(true)
	}
	b.push(f)
	b.inHandler.Add(-1)
	return nil
}

// has reports whether a frame equal to want is queued.
func (b *leadBox) has(want string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range b.items {
		if string(f) == want {
			return true
		}
	}
	return false
}

// waitFor waits for want, leading c's reads when it can (as a process
// in a call does), else on ready; it reports how many Leads returned.
func (b *leadBox) waitFor(t *testing.T, ctx context.Context, c *Conn, want string) {
	t.Helper()
	for !b.has(want) {
		if c.Lead(ctx, &b.l, b.ready, time.Time{}, func() bool { return b.has(want) }) {
			continue
		}
		select {
		case <-b.ready:
		case <-ctx.Done():
			t.Fatalf("%q did not arrive: %v", want, ctx.Err())
		}
	}
}

// await waits, without leading, until want is queued: the reader
// goroutine delivers it (what is the failure's subject).
func (b *leadBox) await(t *testing.T, ctx context.Context, want, what string) {
	t.Helper()
	for !b.has(want) {
		select {
		case <-b.ready:
		case <-ctx.Done():
			t.Fatal(what + " not delivered")
		}
	}
}

// echo makes a Handler that answers every frame with "re:" + frame.
func echo(c **Conn) func([]byte) error {
	return func(f []byte) error {
		return (*c).Send(context.Background(), append([]byte("re:"), f...))
	}
}

// leadPair is a connection whose end a queues frames in box and end b
// answers each frame.
func leadPair(t *testing.T, spin time.Duration) (a, b *Conn, box *leadBox) {
	box = newLeadBox()
	var bp *Conn
	a, b = connPair(t, ConnConfig{Handler: box.handler, ReadSpin: spin}, ConnConfig{Handler: echo(&bp)})
	bp = b
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b, box
}

func leadCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestLeadReadsReply: a goroutine that leads while it waits reads the
// answer itself (the frame is counted as led), on plain and spinning
// reads. Each request goes out from the lead's first done, once the
// goroutine holds the role: sent before, the answer could reach the
// reader goroutine first (on a slow machine, all 50 of them did).
func TestLeadReadsReply(t *testing.T) {
	for _, spin := range []time.Duration{0, 100 * time.Microsecond} {
		t.Run(fmt.Sprint("spin=", spin), func(t *testing.T) {
			a, _, box := leadPair(t, spin)
			ctx := leadCtx(t)
			for i := range 50 {
				req := fmt.Sprint("q", i)
				var sendErr error
				sent := false
				for !box.has("re:" + req) {
					a.Lead(ctx, &box.l, box.ready, time.Time{}, func() bool {
						if !sent {
							sent, sendErr = true, a.Send(ctx, []byte(req))
						}
						return sendErr != nil || box.has("re:"+req)
					})
					if sendErr != nil {
						t.Fatal(sendErr)
					}
					if ctx.Err() != nil {
						t.Fatalf("%q did not arrive: %v", "re:"+req, ctx.Err())
					}
				}
			}
			if led := a.Stats().FramesLed; led == 0 {
				t.Fatalf("no frame read by the leader (stats %+v)", a.Stats())
			}
			if box.overlap.Load() {
				t.Fatal("two goroutines ran the Handler at once")
			}
			if err := a.Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLeadWokenByPush: a leader waiting for something that arrives by
// another way (another connection, a local process) is woken by the push.
func TestLeadWokenByPush(t *testing.T) {
	a, _, box := leadPair(t, 100*time.Microsecond)
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		want := fmt.Sprint("local", i)
		go func() {
			time.Sleep(time.Millisecond)
			box.push([]byte(want))
		}()
		// Without the wake the leader would read until ctx's deadline:
		// nothing arrives on its connection.
		box.waitFor(t, ctx, a, want)
	}
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestLeadContextEnds: a leader's deadline and a cancel end its lead;
// the connection stays up and its reader goroutine reads again.
func TestLeadContextEnds(t *testing.T) {
	a, b, box := leadPair(t, 0)
	never := func() bool { return false }
	dctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	if a.Lead(dctx, &box.l, nil, time.Time{}, never) {
		t.Fatal("Lead reported done")
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("Lead returned after %v, before its deadline", d)
	}
	// Only the cancel can end this lead: nothing arrives before the
	// first tick, 15 s away.
	cctx, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel2)
	start = time.Now()
	if a.Lead(cctx, &box.l, nil, time.Time{}, never) {
		t.Fatal("Lead reported done")
	}
	if cctx.Err() == nil {
		t.Fatal("Lead returned before the cancel")
	}
	if d := time.Since(start); d > distributetest.Scale(5*time.Second) {
		t.Fatalf("Lead returned %v after the cancel", d)
	}
	// The reader goroutine reads again.
	if err := b.Send(context.Background(), []byte("after")); err != nil {
		t.Fatal(err)
	}
	box.await(t, leadCtx(t), "after", "frame after a lead")
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestLeadConnectionFails: the connection failing under a leader is
// reported as when the reader goroutine sees it: Done closes, Err says
// why.
func TestLeadConnectionFails(t *testing.T) {
	a, b, box := leadPair(t, 0)
	ctx := leadCtx(t)
	time.AfterFunc(20*time.Millisecond, func() { b.Close() })
	if a.Lead(ctx, &box.l, nil, time.Time{}, func() bool { return false }) {
		t.Fatal("Lead reported done")
	}
	select {
	case <-a.Done():
	case <-ctx.Done():
		t.Fatal("connection not done after the peer closed")
	}
	if err := a.Err(); !errors.Is(err, ErrPeerClosed) {
		t.Fatalf("Err %v, want ErrPeerClosed", err)
	}
	if a.Lead(ctx, &box.l, nil, time.Time{}, func() bool { return false }) {
		t.Fatal("Lead on a closed connection reported done")
	}
}

// TestLeadManyCallers: callers on one connection at once: one leads at a
// time, every answer arrives, in order per caller, and the Handler never
// runs twice at once.
func TestLeadManyCallers(t *testing.T) {
	for _, spin := range []time.Duration{0, 100 * time.Microsecond} {
		t.Run(fmt.Sprint("spin=", spin), func(t *testing.T) {
			a, _, box := leadPair(t, spin)
			ctx := leadCtx(t)
			const callers, calls = 8, 100
			var wg sync.WaitGroup
			for c := range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Each caller has its own box (as each process its
					// mailbox); box gets everything, in order.
					for i := range calls {
						req := fmt.Sprintf("c%d-%d", c, i)
						if err := a.Send(ctx, []byte(req)); err != nil {
							t.Error(err)
							return
						}
						for !box.has("re:" + req) {
							if !a.Lead(ctx, &box.l, nil, time.Time{}, func() bool { return box.has("re:" + req) }) {
								time.Sleep(50 * time.Microsecond) // another leads: poll
							}
							if ctx.Err() != nil {
								t.Errorf("%s: no answer", req)
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			if box.overlap.Load() {
				t.Fatal("two goroutines ran the Handler at once")
			}
			next := make([]int, callers)
			box.mu.Lock()
			for _, f := range box.items {
				var c, i int
				if _, err := fmt.Sscanf(string(f), "re:c%d-%d", &c, &i); err != nil {
					t.Fatalf("frame %q", f)
				}
				if i != next[c] {
					t.Fatalf("caller %d: answer %d after %d", c, i, next[c]-1)
				}
				next[c]++
			}
			box.mu.Unlock()
			if a.Stats().FramesLed == 0 {
				t.Fatal("no frame read by a leader")
			}
		})
	}
}

// TestLeadStaleInterrupt: interrupts nobody waits for (a Wake that comes
// after the leader left) do not fail the connection.
func TestLeadStaleInterrupt(t *testing.T) {
	a, b, box := leadPair(t, 100*time.Microsecond)
	ctx := leadCtx(t)
	for i := range 50 {
		a.interrupt()
		if err := b.Send(ctx, []byte(fmt.Sprint("s", i))); err != nil {
			t.Fatal(err)
		}
		a.interrupt()
		box.await(t, ctx, fmt.Sprint("s", i), fmt.Sprintf("frame %d after interrupts", i))
	}
	// A Leader whose lead ended still points nowhere: Wake is a no-op.
	box.l.Wake()
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestLeadNotPlainTCP: on other transports (TLS, pipes) Lead declines at
// once and the reader goroutine keeps the reads.
func TestLeadNotPlainTCP(t *testing.T) {
	c, s := net.Pipe()
	a := mustConn(t, c)
	defer a.Close()
	defer s.Close()
	var l Leader
	if a.Lead(context.Background(), &l, nil, time.Time{}, func() bool { return true }) {
		t.Fatal("Lead on a pipe")
	}
}

// TestLeadDonePanics: a done function that panics (a receive's match is
// user code) ends the lead with the role handed back: the connection
// goes on reading.
func TestLeadDonePanics(t *testing.T) {
	a, b, box := leadPair(t, 0)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		a.Lead(context.Background(), &box.l, nil, time.Time{}, func() bool { panic("match") })
	}()
	if err := b.Send(context.Background(), []byte("after")); err != nil {
		t.Fatal(err)
	}
	box.await(t, leadCtx(t), "after", "frame after a panicking lead")
}
