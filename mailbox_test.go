package distribute

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
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
