package distribute

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
)

// fuzzNode is a client-only node with a registered process "box", for
// feeding frames to the dispatcher directly.
func fuzzNode(t testing.TB) (*Node, *Process) {
	ctx := context.Background()
	n, err := Start(ctx, Config{Name: "fuzz@localhost", Cookie: "c", ClientOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop(ctx) })
	box, _ := n.NewProcess()
	n.Register("box", box.Pid())
	return n, box
}

// generalDelivery runs the general (non-fast) path's parsing on frame (in
// header mode if it starts 131, 68) and says which message would reach
// box, if any.
func generalDelivery(n *Node, box *Process, frame []byte) (Term, bool) {
	dec := &etf.Decoder{}
	parse := dist.ParseFrame
	if len(frame) > 1 && frame[0] == 131 && frame[1] == 68 {
		parse = func(d *etf.Decoder, f []byte) (etf.Tuple, etf.Term, bool, error) {
			return dist.ParseHeaderFrame(d, new(dist.HeaderCache), f)
		}
	}
	ctrl, msg, hasMsg, err := parse(dec, frame)
	if err != nil || !hasMsg {
		return nil, false
	}
	c, err := dist.ParseControl(ctrl)
	if err != nil {
		return nil, false
	}
	switch c.Op {
	case dist.OpSend, dist.OpSendSender:
		if pid, ok := c.To.(Pid); ok && pid == box.Pid() {
			return msg, true
		}
	case dist.OpRegSend:
		if c.To == Atom("box") {
			return msg, true
		}
	}
	return nil, false
}

// FuzzFastDispatch checks the hot-path reader against the general parser,
// in both framing modes: whatever it accepts, the general path accepts and
// delivers the same message to the same process; it never panics.
func FuzzFastDispatch(f *testing.F) {
	n, box := fuzzNode(f)
	// Frames as the peer would write them to n: the peer's node is the
	// sender's, n is the receiver's.
	sender := &Node{name: "peer@localhost"}
	from := Pid{Node: "peer@localhost", ID: 1, Creation: 7}
	for _, header := range []bool{false, true} {
		p := &peer{name: n.name}
		if header {
			p.flags = dist.DistHdrAtomCache | dist.Fragments
		}
		for _, op := range []dist.Op{dist.OpSend, dist.OpSendSender, dist.OpRegSend} {
			for _, msg := range []Term{etf.Binary("hello"), etf.Tuple{Atom("a"), int64(1)}, etf.List{}} {
				frame, _, err := sender.appendMessageFrame(nil, p, op, from, box.Pid(), "box", msg)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(frame)
			}
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		for box.MailboxLen() > 0 {
			box.mbox.receive(context.Background(), nil)
		}
		dec := &etf.Decoder{}
		var handled bool
		var err error
		switch {
		case len(frame) > 0 && frame[0] == 112:
			handled, err = n.fastDispatch(dec, frame[1:], true)
		case len(frame) > 1 && frame[0] == 131 && frame[1] == 68:
			refs, off, herr := new(dist.HeaderCache).ReadHeader(frame, nil)
			if herr != nil {
				return
			}
			dec.AtomRefs = refs
			handled, err = n.fastDispatch(dec, frame[off:], false)
		}
		if !handled || err != nil {
			return
		}
		want, ok := generalDelivery(n, box, frame)
		got := box.MailboxLen() == 1
		if ok != got {
			t.Fatalf("fast path delivered %v, general path %v, for %x", got, ok, frame)
		}
		if got {
			m, _ := box.mbox.receive(context.Background(), nil)
			if !etf.Equal(m, want) {
				t.Fatalf("fast path delivered %s, general path %s", etf.Format(m), etf.Format(want))
			}
		}
	})
}

// TestMessageFramesMatchGeneralEncoding: the hot path's frames are the
// general encoder's bytes in pass-through mode, and decode to the same
// terms in header mode, where the node names and ” are atom cache refs
// stored by the first frame and only referred to by later ones.
func TestMessageFramesMatchGeneralEncoding(t *testing.T) {
	n := &Node{name: "a@h"}
	from := Pid{Node: "a@h", ID: 1, Serial: 2, Creation: 3}
	to := Pid{Node: "b@h", ID: 4, Serial: 5, Creation: 6}
	other := Pid{Node: "c@h", ID: 7, Serial: 8, Creation: 9}
	msg := etf.Tuple{Atom("x"), etf.Binary("y"), from}
	cases := []struct {
		op   dist.Op
		to   Pid
		ctrl etf.Tuple
	}{
		{dist.OpSend, to, etf.Tuple{int64(2), Atom(""), to}},
		{dist.OpSendSender, to, etf.Tuple{int64(22), from, to}},
		{dist.OpSendSender, other, etf.Tuple{int64(22), from, other}},
		{dist.OpRegSend, to, etf.Tuple{int64(6), from, Atom(""), Atom("name")}},
	}
	pass := &peer{name: "b@h"}
	for _, tc := range cases {
		got, stored, err := n.appendMessageFrame(nil, pass, tc.op, from, tc.to, "name", msg)
		if err != nil || stored {
			t.Fatal(err, stored)
		}
		want, _ := appendFrame(nil, pass, tc.ctrl, msg, true)
		if string(got) != string(want) {
			t.Errorf("%v: %x; want %x", tc.op, got, want)
		}
	}
	// A peer with only FRAGMENTS: header frames without cache refs.
	frag := &peer{name: "b@h", flags: dist.Fragments}
	for _, tc := range cases {
		got, stored, err := n.appendMessageFrame(nil, frag, tc.op, from, tc.to, "name", msg)
		if err != nil || stored || string(got[:3]) != "\x83\x44\x00" {
			t.Fatalf("fragments only, %v: %x, %v, stored %v", tc.op, got, err, stored)
		}
		var d etf.Decoder
		ctrl, m, has, err := dist.ParseHeaderFrame(&d, new(dist.HeaderCache), got)
		if err != nil || !has || !etf.Equal(ctrl, tc.ctrl) || !etf.Equal(m, msg) {
			t.Fatalf("fragments only, %v: %x decodes to %v %v %v", tc.op, got, ctrl, m, err)
		}
	}
	hdr := &peer{name: "b@h", flags: dist.DistHdrAtomCache | dist.Fragments}
	var cache dist.HeaderCache // the receiver's
	for round := range 2 {
		for _, tc := range cases {
			got, stored, err := n.appendMessageFrame(nil, hdr, tc.op, from, tc.to, "name", msg)
			if err != nil || stored != (round == 0) {
				t.Fatalf("round %d %v: %v, stored %v", round, tc.op, err, stored)
			}
			// The node name's text: in the payload's pid (terms are not
			// cached), and in the header only when it stores the entries.
			if c := bytes.Count(got, []byte("a@h")); c != 2-round {
				t.Errorf("round %d %v: node name text %d times in %x", round, tc.op, c, got)
			}
			var d etf.Decoder
			ctrl, m, has, err := dist.ParseHeaderFrame(&d, &cache, got)
			if err != nil || !has || !etf.Equal(ctrl, tc.ctrl) || !etf.Equal(m, msg) {
				t.Fatalf("round %d %v: %x decodes to %v %v %v", round, tc.op, got, ctrl, m, err)
			}
		}
		hdr.cacheSent.Store(true)
	}
}

func TestSendPathAllocations(t *testing.T) {
	n := &Node{name: "a@h"}
	from := Pid{Node: "a@h", ID: 1, Creation: 3}
	var msg Term = etf.Binary(make([]byte, 64))
	buf := make([]byte, 0, 256)
	for _, p := range []*peer{{name: "b@h"}, {name: "b@h", flags: dist.Fragments}, {name: "b@h", flags: dist.DistHdrAtomCache | dist.Fragments}} {
		allocs := testing.AllocsPerRun(1000, func() {
			n.appendMessageFrame(buf[:0], p, dist.OpRegSend, from, Pid{}, "sink", msg)
		})
		if allocs != 0 {
			t.Fatalf("encoding a REG_SEND of a 64-byte binary (flags %v) allocates %v times; want 0", p.flags, allocs)
		}
	}
}

// TestWireExample pins the frames of the package documentation's "On the
// wire" example: the connection's first REG_SEND and a later one.
func TestWireExample(t *testing.T) {
	n := &Node{name: "a@h"}
	p := &peer{name: "b@h", flags: dist.DistHdrAtomCache | dist.Fragments}
	from := Pid{Node: "a@h", ID: 1, Creation: 7}
	msg := etf.Binary{0, 0, 0, 0, 0, 0, 0, 42}
	body := "6804610658520100000001000000000000000752007707636f756e746572" + "6d00000008000000000000002a"
	for i, header := range []string{"8344038808000001036140680203624068", "8344030000000102"} {
		want := header + body
		got, stored, err := n.appendMessageFrame(nil, p, dist.OpRegSend, from, Pid{}, "counter", msg)
		if err != nil || fmt.Sprintf("%x", got) != want {
			t.Fatalf("frame %d = %x, %v; want %s", i, got, err, want)
		}
		if stored {
			p.cacheSent.Store(true)
		}
	}
}
