package distribute

import (
	"encoding/binary"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
)

// TestPeerThatNeverReads: a peer sends 300,000 LINKs to dead processes,
// each owed a noproc EXIT, and never reads. The node queues the replies in
// bounded memory without a goroutine each, stops reading that peer when
// its queue is full, disconnects it once the queue has stayed full for
// the tick time, and serves another peer all along.
func TestPeerThatNeverReads(t *testing.T) {
	const tick = 2 * time.Second
	const sendBuffer = 64 << 10
	port := distributetest.StartEpmd(t)
	a := startNode(t, port, func(c *Config) {
		c.TickTime = tick
		c.SendBuffer = sendBuffer
	})
	friend := startNode(t, port, func(c *Config) { c.TickTime = tick })
	ctx := testCtx(t)
	if err := friend.Ping(ctx, a.Name()); err != nil {
		t.Fatal(err)
	}
	events := a.WatchNodes(ctx)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap, baseG := ms.HeapAlloc, runtime.NumGoroutine()

	const links = 300_000
	c := handshakeAs(t, a, "flood@localhost")
	from := Pid{Node: "flood@localhost", ID: 1, Creation: 1}
	dead := Pid{Node: a.Name(), ID: 1 << 20, Creation: a.Creation()}
	payload, err := appendFrame(nil, &peer{flags: dist.DistHdrAtomCache}, etf.Tuple{int64(dist.OpLink), from, dead}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	one := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
	one = append(one, payload...)
	batch := []byte(strings.Repeat(string(one), 1000))
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	sent := 0
	go func() {
		defer wg.Done()
		for sent < links {
			// The node stops reading: a write blocks until it is dropped.
			c.SetWriteDeadline(time.Now().Add(distributetest.Scale(30 * time.Second)))
			if _, err := c.Write(batch); err != nil {
				return
			}
			sent += 1000
		}
	}()

	// Sample goroutines and heap until the node drops the peer; the friend
	// pings all along.
	var peakG int
	var peakHeap uint64
	var down NodeEvent
	var downAt time.Time
	tickPing := time.NewTicker(100 * time.Millisecond)
	defer tickPing.Stop()
	limit := time.After(distributetest.Scale(60 * time.Second))
wait:
	for {
		select {
		case ev := <-events:
			if ev.Node == "flood@localhost" && !ev.Up {
				down, downAt = ev, time.Now()
				break wait
			}
		case <-tickPing.C:
			peakG = max(peakG, runtime.NumGoroutine())
			runtime.ReadMemStats(&ms)
			peakHeap = max(peakHeap, ms.HeapAlloc)
			if err := friend.Ping(ctx, a.Name()); err != nil {
				t.Fatalf("the friend's ping during the flood: %v", err)
			}
		case <-limit:
			t.Fatal("the peer that never reads was never disconnected")
		}
	}
	c.Close()
	wg.Wait()
	t.Logf("%d LINKs written; dropped after %v (%s); peak %d goroutines (base %d), heap %d KiB (base %d KiB)",
		sent, downAt.Sub(start).Round(time.Millisecond), down.Reason, peakG, baseG, peakHeap>>10, baseHeap>>10)
	if peakG > baseG+50 {
		t.Errorf("peak of %d goroutines during the flood; base %d", peakG, baseG)
	}
	// What the node holds for the peer: its send queue (SendBuffer plus as
	// much again for replies and signals) and the batch being written,
	// about 4 × SendBuffer; the slack covers the rest of the test's heap.
	if grown := int64(peakHeap) - int64(baseHeap); grown > 4*sendBuffer+16<<20 {
		t.Errorf("heap grew by %d KiB during the flood; want at most %d KiB", grown>>10, (4*sendBuffer+16<<20)>>10)
	}
	if took := downAt.Sub(start); took < tick/2 {
		t.Errorf("dropped after %v, before the tick time %v", took, tick)
	}
	if down.Reason != "net_tick_timeout" {
		t.Errorf("down reason %q; want net_tick_timeout", down.Reason)
	}
	if err := friend.Ping(ctx, a.Name()); err != nil {
		t.Fatalf("the friend's ping after the flood: %v", err)
	}
}
