package distribute

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
)

// fillSendQueue sends messages from a new process of a to to (a process
// of a peer that does not read) until a send waits: 4 KiB ones, then
// empty ones, so that a's send buffer to that peer is full to within the
// size of the smallest message frame.
func fillSendQueue(t *testing.T, a *Node, to Pid) {
	t.Helper()
	filler, err := a.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { filler.Exit(ReasonNormal) })
	deadline := time.Now().Add(distributetest.Scale(60 * time.Second))
	for _, msg := range []Term{etf.Binary(make([]byte, 4<<10)), etf.Binary(nil)} {
		for {
			if time.Now().After(deadline) {
				t.Fatal("the send buffer to the peer that does not read never filled")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			err := filler.Send(ctx, to, msg)
			cancel()
			if errors.Is(err, ErrTimeout) {
				break
			}
			if err != nil {
				t.Fatalf("filling the send buffer: %v", err)
			}
		}
	}
}

// readFramesUntil reads the frames a sends on c (a handshake made with
// flags) until found accepts one, and fails the test after a deadline.
func readFramesUntil(t *testing.T, a *Node, c net.Conn, flags dist.Flags, found func(*dist.In) bool) {
	t.Helper()
	r := dist.NewReader(dist.ReaderConfig{Flags: flags, Local: "raw@localhost", Limits: a.cfg.Limits})
	c.SetReadDeadline(time.Now().Add(distributetest.Scale(60 * time.Second)))
	var size [4]byte
	var frame []byte
	for {
		if _, err := io.ReadFull(c, size[:]); err != nil {
			t.Fatalf("reading the node's frames: %v", err)
		}
		n := binary.BigEndian.Uint32(size[:])
		if n == 0 {
			continue // a tick
		}
		frame = append(frame[:0], make([]byte, n)...)
		if _, err := io.ReadFull(c, frame); err != nil {
			t.Fatalf("reading the node's frames: %v", err)
		}
		var in dist.In
		done, err := r.Read(frame, &in)
		if err != nil {
			t.Fatalf("a frame from the node: %v", err)
		}
		if done && found(&in) {
			return
		}
	}
}

// TestExitingProcessDoesNotWaitForAFullSendBuffer: a process that
// monitors a process of a peer exits while the send buffer to that peer
// is full. Its DEMONITOR_P is a signal the node owes the peer: Exit
// returns without waiting for room, and the DEMONITOR_P still reaches the
// peer, after what was queued before it.
func TestExitingProcessDoesNotWaitForAFullSendBuffer(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := startNode(t, port, func(c *Config) {
		c.SendBuffer = 16 << 10
		c.TickTime = distributetest.Scale(60 * time.Second) // the stalled peer stays connected
	})
	ctx := testCtx(t)
	flags := dist.DefaultFlags
	c := handshakeWith(t, a, "raw@localhost", flags)
	remote := Pid{Node: "raw@localhost", ID: 7, Creation: 1}
	distributetest.WaitFor(t, "the raw peer to be connected", func() bool { return a.peerIfConnected("raw@localhost") != nil })

	watcher, err := a.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := watcher.Monitor(ctx, remote)
	if err != nil {
		t.Fatal(err)
	}
	fillSendQueue(t, a, remote)

	exited := make(chan struct{})
	go func() {
		watcher.Exit(ReasonNormal)
		close(exited)
	}()
	select {
	case <-exited:
	case <-time.After(distributetest.Scale(10 * time.Second)):
		c.Close() // let Exit return, for the leak check
		<-exited
		t.Fatal("Exit waited for room in the full send buffer to end its remote monitor")
	}

	readFramesUntil(t, a, c, flags, func(in *dist.In) bool {
		return in.Op == dist.OpDemonitorP && in.FromPid == watcher.Pid() && in.ToPid == remote && in.Ref == ref
	})
}

// TestNetKernelRepliesDoNotStallOnAPeerThatDoesNotRead: a peer floods
// net_kernel with is_auth calls and never reads the replies. The replies
// go through the connection's signal queue: net_kernel never waits
// forever behind that peer's full send buffer; the node drops the peer
// once its queue has stayed full for the tick time, and net_kernel
// answers another node's ping after that.
func TestNetKernelRepliesDoNotStallOnAPeerThatDoesNotRead(t *testing.T) {
	const tick = 2 * time.Second
	port := distributetest.StartEpmd(t)
	a := startNode(t, port, func(c *Config) {
		c.SendBuffer = 16 << 10
		c.TickTime = tick
	})
	friend := startNode(t, port, func(c *Config) { c.TickTime = tick })
	ctx := testCtx(t)
	if err := friend.Ping(ctx, a.Name()); err != nil {
		t.Fatal(err)
	}
	events := a.WatchNodes(ctx)

	c := handshakeAs(t, a, "raw@localhost")
	from := Pid{Node: "raw@localhost", ID: 1, Creation: 1}
	tag := etf.Ref{Node: "raw@localhost", Creation: 1, Len: 3, ID: [etf.MaxRefWords]uint32{1, 2, 3}}
	call := etf.Tuple{atomGenCall, etf.Tuple{from, tag}, etf.Tuple{Atom("is_auth"), Atom("raw@localhost")}}
	payload, err := appendFrame(nil, &peer{flags: dist.DistHdrAtomCache}, etf.Tuple{int64(dist.OpRegSend), from, Atom(""), Atom("net_kernel")}, call, true)
	if err != nil {
		t.Fatal(err)
	}
	one := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
	one = append(one, payload...)
	batch := []byte(strings.Repeat(string(one), 1000))

	// The peer writes 300 000 calls, then only ticks: it is never silent,
	// so only a full send queue can make the node drop it.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for sent := 0; sent < 300_000; sent += 1000 {
			c.SetWriteDeadline(time.Now().Add(distributetest.Scale(30 * time.Second)))
			if _, err := c.Write(batch); err != nil {
				return
			}
		}
		tk := time.NewTicker(tick / 8)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				if _, err := c.Write([]byte{0, 0, 0, 0}); err != nil {
					return
				}
			}
		}
	}()
	defer func() {
		close(stop)
		c.Close()
		wg.Wait()
	}()

	limit := time.After(distributetest.Scale(60 * time.Second))
	for down := false; !down; {
		select {
		case ev := <-events:
			down = ev.Node == "raw@localhost" && !ev.Up
		case <-limit:
			t.Fatal("the peer that never reads net_kernel's replies was never dropped: net_kernel waits behind its full send buffer")
		}
	}
	pctx, cancel := context.WithTimeout(ctx, distributetest.Scale(10*time.Second))
	defer cancel()
	if err := friend.Ping(pctx, a.Name()); err != nil {
		t.Fatalf("the friend's ping after the flood: %v", err)
	}
}
