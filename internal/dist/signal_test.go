package dist

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
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
