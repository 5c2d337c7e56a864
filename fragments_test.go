package distribute

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
)

// TestFragmentsLetOthersThrough: a message larger than the send buffer
// goes out in fragments, and another process's message sent meanwhile
// goes out between them instead of after the whole message (as one frame,
// it would wait for all of it: the send buffer takes a frame whole). The
// peer end of the connection is read by hand, so the order is exact.
func TestFragmentsLetOthersThrough(t *testing.T) {
	ctx := testCtx(t)
	near, far := net.Pipe()
	conn, err := dist.NewConn(near, &dist.Peer{Name: "peer@localhost", Creation: 7}, nil, dist.ConnConfig{SendBuffer: 200 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer far.Close()
	defer conn.Close()
	w := dist.NewWriter(conn, dist.DistHdrAtomCache|dist.Fragments, "me@localhost", "peer@localhost")
	from := Pid{Node: "me@localhost", ID: 1, Creation: 3}
	to := Pid{Node: "peer@localhost", ID: 1, Creation: 7}
	payload := etf.Binary(bytes.Repeat([]byte{9}, 1<<20))
	bigDone := make(chan error, 1)
	go func() { bigDone <- w.Send(ctx, dist.Send(from, to, payload)) }()
	// The first fragment is being written: the large send has begun.
	var head [4 + 18]byte
	if _, err := io.ReadFull(far, head[:]); err != nil {
		t.Fatal(err)
	}
	if head[4] != 131 || head[5] != 69 {
		t.Fatalf("first frame starts %v; want a first fragment (131, 69)", head[4:6])
	}
	want := binary.BigEndian.Uint64(head[4+10:]) // fragments in all
	if err := w.Send(ctx, dist.Send(from, to, Atom("small"))); err != nil {
		t.Fatal(err)
	}
	// Read the rest: the first fragment, then frames until the last one.
	first := make([]byte, binary.BigEndian.Uint32(head[:4]))
	copy(first, head[4:])
	if _, err := io.ReadFull(far, first[18:]); err != nil {
		t.Fatal(err)
	}
	frames := [][]byte{first}
	for last := false; !last; {
		var l [4]byte
		if _, err := io.ReadFull(far, l[:]); err != nil {
			t.Fatal(err)
		}
		f := make([]byte, binary.BigEndian.Uint32(l[:]))
		if _, err := io.ReadFull(far, f); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
		last = f[1] == 70 && binary.BigEndian.Uint64(f[10:]) == 1
	}
	if err := <-bigDone; err != nil {
		t.Fatal(err)
	}
	// The small message is among the fragments, and they rebuild the
	// large one.
	r := dist.HeaderReader{Fragments: true}
	smallAt, fragments := -1, 0
	for i, f := range frames {
		refs, body, done, err := r.Read(f)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f[1] == 68 { // not a fragment
			d := etf.Decoder{AtomRefs: refs}
			if _, m, _, err := dist.ParseBody(&d, body); err != nil || m != Atom("small") {
				t.Fatalf("frame %d is %.40s (%v); want the small message", i, etf.Format(m), err)
			}
			smallAt = i
			continue
		}
		fragments++
		if done {
			d := etf.Decoder{AtomRefs: refs}
			if _, m, _, err := dist.ParseBody(&d, body); err != nil || !etf.Equal(m, payload) {
				t.Fatalf("the fragments rebuild %d bytes, not the message (%v)", len(body), err)
			}
		}
	}
	if smallAt < 1 || smallAt == len(frames)-1 || uint64(fragments) != want {
		t.Fatalf("small message at %d of %d frames, %d fragments of %d; want it between fragments", smallAt, len(frames), fragments, want)
	}
}

// TestLargeMessagesBetweenGoNodes: messages above dist.FragmentSize go
// out in fragments between two Go nodes and arrive exact: a binary just
// over the size, a long list of tuples, and a call's large reply (a
// control message with a payload, through the general send path).
func TestLargeMessagesBetweenGoNodes(t *testing.T) {
	ctx := testCtx(t)
	port := distributetest.StartEpmd(t)
	a, b := startNode(t, port), startNode(t, port)
	rcv, _ := b.NewProcess()
	server, err := b.SpawnHandler(func(ctx context.Context, p *Process, m any) error {
		if from, req, ok := ParseCall(m); ok {
			p.Reply(ctx, from, etf.Tuple{Atom("reply"), req, etf.Binary(bytes.Repeat([]byte{5}, 300_000))})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	snd, _ := a.NewProcess()
	var list etf.List
	for i := range 20_000 {
		list = append(list, etf.Tuple{int64(i), Atom("x")})
	}
	msgs := []Term{etf.Binary(bytes.Repeat([]byte{1}, dist.FragmentSize+1)), list, etf.Binary(bytes.Repeat([]byte{2}, 3*dist.FragmentSize)), Atom("small")}
	for _, m := range msgs {
		if err := snd.Send(ctx, rcv.Pid(), m); err != nil {
			t.Fatal(err)
		}
	}
	// All received first: a reassembled message's binaries share its
	// buffer, which must not be reused for the next.
	var got []Term
	for range msgs {
		m, err := rcv.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	for i, want := range msgs {
		if !etf.Equal(got[i], want) {
			t.Fatalf("received %.80s; want %.80s", etf.Format(got[i]), etf.Format(want))
		}
	}
	reply, err := snd.Call(ctx, server.Pid(), Atom("big"))
	want := etf.Tuple{Atom("reply"), Atom("big"), etf.Binary(bytes.Repeat([]byte{5}, 300_000))}
	if err != nil || !etf.Equal(reply, want) {
		t.Fatalf("call: %.80s, %v", etf.Format(reply), err)
	}
	toB, toA := a.peerIfConnected(b.Name()), b.peerIfConnected(a.Name())
	if toB == nil || toA == nil {
		t.Fatal("not connected")
	}
	if n, m := toB.w.Sequences(), toA.w.Sequences(); n != 3 || m != 1 {
		t.Fatalf("%d and %d messages went out in fragments; want 3 and 1", n, m)
	}
}
