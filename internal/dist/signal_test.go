package dist

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// TestConnSignal: with the send buffer full (a peer that does not read),
// Signal queues without waiting up to SignalReserve beyond it, while Send
// waits; past the reserve Signal waits, and when the queue stays full for
// TickTime the connection fails with ErrTickTimeout. Once the peer reads,
// everything arrives in order.
func TestConnSignal(t *testing.T) {
	c, s := tcpPair(t)
	const buf = 64 << 10
	tick := distributetest.Scale(time.Second)
	conn, err := NewConn(c, &Peer{Name: "b@h"}, nil, ConnConfig{SendBuffer: buf, TickTime: tick})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Fill the socket buffers and the send queue with numbered frames.
	seq := uint32(0)
	frame := func(size int) []byte {
		seq++
		f := make([]byte, size)
		binary.BigEndian.PutUint32(f, seq)
		return f
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := conn.Send(ctx, frame(8<<10))
		cancel()
		if err != nil {
			seq-- // not queued
			break
		}
	}
	// Signals go on, without waiting, for about SignalReserve bytes.
	signals := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := conn.Signal(ctx, frame(100))
		cancel()
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Signal on a full reserve: %v; want DeadlineExceeded", err)
			}
			seq--
			break
		}
		signals++
	}
	if signals < buf/104/2 || signals > 2*buf/104 {
		t.Fatalf("%d signals of 100 bytes queued beyond a full buffer; want about %d", signals, buf/104)
	}
	// Read it all back: every frame, in order.
	want := seq
	got := uint32(0)
	done := make(chan error, 1)
	go func() {
		hdr := make([]byte, 4)
		for got < want {
			if _, err := io.ReadFull(s, hdr); err != nil {
				done <- err
				return
			}
			n := binary.BigEndian.Uint32(hdr)
			if n == 0 {
				continue // a tick
			}
			b := make([]byte, n)
			if _, err := io.ReadFull(s, b); err != nil {
				done <- err
				return
			}
			if id := binary.BigEndian.Uint32(b); id != got+1 {
				done <- errors.New("out of order")
				return
			}
			got++
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatalf("after %d of %d frames: %v", got, want, err)
	}
}

// TestConnSignalStall: a peer that never reads, asked for ever more
// replies: Signal waits once the reserve is full, and the connection
// fails with ErrTickTimeout after TickTime.
func TestConnSignalStall(t *testing.T) {
	c, _ := tcpPair(t)
	tick := distributetest.Scale(500 * time.Millisecond)
	conn, err := NewConn(c, &Peer{Name: "b@h"}, nil, ConnConfig{SendBuffer: 16 << 10, TickTime: tick * 4})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	reply := bytes.Repeat([]byte{1}, 60)
	start := time.Now()
	var sigErr error
	for n := 0; n < 10_000_000; n++ {
		if sigErr = conn.Signal(context.Background(), reply); sigErr != nil {
			break
		}
	}
	if !errors.Is(sigErr, net.ErrClosed) || !errors.Is(sigErr, ErrTickTimeout) {
		t.Fatalf("Signal to a peer that never reads: %v; want net.ErrClosed and ErrTickTimeout", sigErr)
	}
	if !errors.Is(conn.Err(), ErrTickTimeout) {
		t.Fatalf("connection failed with %v; want ErrTickTimeout", conn.Err())
	}
	if el := time.Since(start); el < tick*4/2 {
		t.Errorf("failed after %v, before half the tick time %v", el, tick*4)
	}
}

// TestConnSignalSlowReader: a peer that reads, slowly but steadily,
// while more signals wait for room than its reads let through in a tick
// time. The queue never stays full for TickTime (each read lets the
// writer take a batch), so no signal fails and the connection stays up;
// a Signal that waited longer in all, behind others that took the room
// first, is no reason to fail it.
func TestConnSignalSlowReader(t *testing.T) {
	c, s := tcpPair(t)
	// Small socket buffers: each read of the peer's lets a blocked write
	// go on (a large one wakes the writer only after a large part of it
	// is read, which at this rate takes longer than the tick time).
	if err := c.(*net.TCPConn).SetWriteBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	if err := s.(*net.TCPConn).SetReadBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	tick := distributetest.Scale(time.Second)
	conn, err := NewConn(c, &Peer{Name: "b@h"}, nil, ConnConfig{SendBuffer: 8 << 10, TickTime: tick})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stop := make(chan struct{})
	var peer sync.WaitGroup
	defer peer.Wait()
	defer close(stop)
	// The peer ticks, so our side hears from it.
	peer.Add(1)
	go func() {
		defer peer.Done()
		tk := time.NewTicker(tick / 8)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				if _, err := s.Write([]byte{0, 0, 0, 0}); err != nil {
					return
				}
			}
		}
	}()
	// Fill the socket buffers and the send queue.
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := conn.Send(ctx, make([]byte, 8<<10))
		cancel()
		if err != nil {
			break
		}
	}
	// The peer reads 16 KiB every tick/20: about 320 KiB per tick time.
	peer.Add(1)
	go func() {
		defer peer.Done()
		buf := make([]byte, 16<<10)
		for {
			select {
			case <-stop:
				return
			case <-time.After(tick / 20):
			}
			if _, err := io.ReadFull(s, buf); err != nil {
				return
			}
		}
	}()
	// 400 signals of 1000 bytes wait at once: more than a tick time of
	// reads lets through (on loopback, with these buffers, the reads
	// take a few tick times).
	const signals = 400
	errs := make(chan error, signals)
	for range signals {
		go func() { errs <- conn.Signal(context.Background(), make([]byte, 1000)) }()
	}
	for range signals {
		if err := <-errs; err != nil {
			t.Fatalf("Signal to a peer that reads: %v", err)
		}
	}
	if err := conn.Err(); err != nil {
		t.Fatalf("connection failed: %v", err)
	}
}
