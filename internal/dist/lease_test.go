package dist

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// leasePair is leadPair with a lease of its own for a's reader role.
func leasePair(t *testing.T, lease time.Duration, handler func(a **Conn, box *leadBox) func([]byte) error, resume func() error) (a, b *Conn, box *leadBox) {
	box = newLeadBox()
	var ap, bp *Conn
	h := box.handler
	if handler != nil {
		h = handler(&ap, box)
	}
	a, b = connPair(t, ConnConfig{Handler: h, Resume: resume, lease: lease}, ConnConfig{Handler: echo(&bp)})
	ap, bp = a, b
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b, box
}

// leaseOnce asks until a leader reads an answer: the reader goroutine may
// read one before the leader takes over. With a lease the role is then
// leased.
func leaseOnce(t *testing.T, a *Conn, box *leadBox) {
	t.Helper()
	ctx := leadCtx(t)
	for i := 0; a.Stats().FramesLed == 0; i++ {
		req := fmt.Sprint("first.", i)
		if err := a.Send(ctx, []byte(req)); err != nil {
			t.Fatal(err)
		}
		box.waitFor(t, ctx, a, "re:"+req)
	}
}

// TestLeaseKeepsRole: a goroutine that leads for one answer after another
// (a ping-pong) keeps the reader role between them: the reader goroutine
// hands it over once, not twice per answer as without a lease.
func TestLeaseKeepsRole(t *testing.T) {
	for _, tc := range []struct{ lease time.Duration }{
		{time.Minute}, // kept by the leaders while the test runs
		{-1},          // no lease: given and back for every answer
	} {
		t.Run(fmt.Sprint("lease=", tc.lease), func(t *testing.T) {
			a, _, box := leasePair(t, tc.lease, nil, nil)
			ctx := leadCtx(t)
			leaseOnce(t, a, box)
			before := a.Stats()
			for i := range 50 {
				req := fmt.Sprint("q", i)
				if err := a.Send(ctx, []byte(req)); err != nil {
					t.Fatal(err)
				}
				box.waitFor(t, ctx, a, "re:"+req)
			}
			st := a.Stats()
			st.FramesLed -= before.FramesLed
			st.RoleMoves -= before.RoleMoves
			if tc.lease < 0 {
				// Between two leads the reader goroutine has the role
				// and may read an answer itself; each led one cost two
				// moves (the last one back may not be counted yet).
				if st.RoleMoves+1 < 2*st.FramesLed {
					t.Errorf("without a lease, %d moves for %d led answers", st.RoleMoves, st.FramesLed)
				}
				return
			}
			if st.FramesLed != 50 {
				t.Errorf("%d of 50 answers read by the leader", st.FramesLed)
			}
			if st.RoleMoves != 0 {
				t.Errorf("the reader role moved %d times for 50 answers; want it kept by the leader", st.RoleMoves)
			}
		})
	}
}

// TestLeaseTimerNotPerLead: leads in a row renew the lease without
// touching its timer: each Reset of a timer that becomes the runtime's
// earliest wakes a thread to re-arm the poller, and in a ping-pong that
// is a thread wake-up per round trip, on the CPUs the two ends spin on.
// The timer is started when a lease begins and, when it fires, re-armed
// for what is left of a renewed lease.
func TestLeaseTimerNotPerLead(t *testing.T) {
	a, _, box := leasePair(t, time.Minute, nil, nil)
	ctx := leadCtx(t)
	leaseOnce(t, a, box)
	before := a.leaseArms.Load()
	for i := range 50 {
		req := fmt.Sprint("q", i)
		if err := a.Send(ctx, []byte(req)); err != nil {
			t.Fatal(err)
		}
		box.waitFor(t, ctx, a, "re:"+req)
	}
	if st := a.Stats(); st.RoleMoves > 2 {
		t.Fatalf("the role moved %d times; want it kept by the leaders", st.RoleMoves)
	}
	if n := a.leaseArms.Load() - before; n != 0 {
		t.Errorf("50 leads within one lease started its timer %d times; want 0 (it runs from the first lead)", n)
	}
}

// TestLeaseEnds: once the lease runs out with no leader back, the reader
// goroutine reads again: a frame nobody leads for is delivered.
func TestLeaseEnds(t *testing.T) {
	a, b, box := leasePair(t, time.Millisecond, nil, nil)
	ctx := leadCtx(t)
	leaseOnce(t, a, box)
	before := a.Stats()
	if err := b.Send(ctx, []byte("unasked")); err != nil {
		t.Fatal(err)
	}
	box.await(t, ctx, "unasked", "after the lease, a frame nobody leads for")
	// Read by the reader goroutine, which has the role back (the moves
	// are even).
	if st := a.Stats(); st.FramesLed != before.FramesLed || st.RoleMoves%2 != 0 {
		t.Fatalf("stats %+v, before %+v; want the frame read by the reader goroutine, after the role came back", st, before)
	}
}

// TestLeadHandsBack: a Handler that must not run a frame on a leader
// returns ErrHandBack; the lead ends and the reader goroutine resumes
// that frame before it reads the next one, so the order holds.
func TestLeadHandsBack(t *testing.T) {
	var (
		mu      sync.Mutex
		pending []byte
		order   []string // frame, and where it was handled
	)
	handler := func(a **Conn, box *leadBox) func([]byte) error {
		return func(f []byte) error {
			led := (*a).Led()
			if strings.HasPrefix(string(f), "re:sig") && led {
				mu.Lock()
				pending = append([]byte(nil), f...)
				mu.Unlock()
				return ErrHandBack
			}
			mu.Lock()
			order = append(order, fmt.Sprintf("%s led=%v", f, led))
			mu.Unlock()
			return box.handler(f)
		}
	}
	var box *leadBox
	resume := func() error {
		mu.Lock()
		f := pending
		pending = nil
		order = append(order, fmt.Sprintf("%s resumed", f))
		mu.Unlock()
		return box.handler(f)
	}
	a, _, bx := leasePair(t, time.Minute, handler, resume)
	box = bx
	ctx := leadCtx(t)
	// A first answer led leaves the role leased (for a minute): the next
	// answers wait in the socket for the next leader. (The reader
	// goroutine may read an answer before the leader takes over: ask
	// until one is led.)
	leaseOnce(t, a, box)
	mu.Lock()
	order = nil
	mu.Unlock()
	// The leader reads the first, hands back the second, and the reader
	// goroutine takes the third.
	for _, f := range []string{"m1", "sig2", "m3"} {
		if err := a.Send(ctx, []byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	if a.Lead(ctx, &box.l, box.ready, time.Time{}, func() bool { return box.has("re:m3") }) {
		t.Fatal("Lead reported its done after a hand-back")
	}
	box.await(t, ctx, "re:m3", "frames after a hand-back")
	mu.Lock()
	defer mu.Unlock()
	want := []string{"re:m1 led=true", "re:sig2 resumed", "re:m3 led=false"}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("handled %q; want %q", order, want)
	}
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestLeaseEndsWithConnection: a lead that ends because the connection
// failed leaves no lease behind: the reader goroutine ends with the
// connection, not a lease later.
func TestLeaseEndsWithConnection(t *testing.T) {
	a, b, box := leasePair(t, 30*time.Second, nil, nil)
	leaseOnce(t, a, box)
	led := make(chan bool)
	go func() {
		led <- a.Lead(context.Background(), &box.l, nil, time.Time{}, func() bool { return false })
	}()
	b.Close()
	<-led
	select {
	case <-a.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the connection failed under a leader and its reader goroutine still waits for the role")
	}
}
