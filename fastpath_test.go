package distribute

import (
	"context"
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

// generalDelivery runs the general (non-fast) path's parsing on frame and
// says which message would reach box, if any.
func generalDelivery(n *Node, box *Process, frame []byte) (Term, bool) {
	dec := &etf.Decoder{}
	ctrl, msg, hasMsg, err := dist.ParseFrame(dec, frame)
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

// FuzzFastDispatch checks the hot-path reader against the general parser:
// whatever it accepts, the general path accepts and delivers the same
// message to the same process; it never panics.
func FuzzFastDispatch(f *testing.F) {
	n, box := fuzzNode(f)
	from := Pid{Node: "peer@localhost", ID: 1, Creation: 7}
	for _, op := range []dist.Op{dist.OpSend, dist.OpSendSender, dist.OpRegSend} {
		for _, msg := range []Term{etf.Binary("hello"), etf.Tuple{Atom("a"), int64(1)}, etf.List{}} {
			frame, err := appendMessageFrame(nil, op, from, box.Pid(), "box", msg)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(frame)
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		for box.MailboxLen() > 0 {
			box.mbox.receive(context.Background(), nil)
		}
		handled, err := n.fastDispatch(&etf.Decoder{}, frame)
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

func TestMessageFramesMatchGeneralEncoding(t *testing.T) {
	from := Pid{Node: "a@h", ID: 1, Serial: 2, Creation: 3}
	to := Pid{Node: "b@h", ID: 4, Serial: 5, Creation: 6}
	msg := etf.Tuple{Atom("x"), etf.Binary("y")}
	for _, tc := range []struct {
		op   dist.Op
		ctrl etf.Tuple
	}{
		{dist.OpSend, etf.Tuple{int64(2), Atom(""), to}},
		{dist.OpSendSender, etf.Tuple{int64(22), from, to}},
		{dist.OpRegSend, etf.Tuple{int64(6), from, Atom(""), Atom("name")}},
	} {
		got, err := appendMessageFrame(nil, tc.op, from, to, "name", msg)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := appendFrame(nil, tc.ctrl, msg, true)
		if string(got) != string(want) {
			t.Errorf("%v: %x; want %x", tc.op, got, want)
		}
	}
}

func TestSendPathAllocations(t *testing.T) {
	from := Pid{Node: "a@h", ID: 1, Creation: 3}
	var msg Term = etf.Binary(make([]byte, 64))
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(1000, func() {
		appendMessageFrame(buf[:0], dist.OpRegSend, from, Pid{}, "sink", msg)
	})
	if allocs != 0 {
		t.Fatalf("encoding a REG_SEND of a 64-byte binary allocates %v times; want 0", allocs)
	}
}
