package distribute

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
)

// FuzzHandleFrame feeds frames, as a connected peer would send them, to a
// node's frame handling: every control message, in pass-through framing
// (a frame starting 112) and in header mode (131, 68), where the frames
// also go through the atom cache and fragment reassembly. Whatever the
// bytes, handling returns, and an error is ErrProtocol (which closes only
// that connection); it never panics. The seeds are one well-formed frame
// per control message, aimed at a live process that traps exits, its
// registered name, and a process on the peer; they must all be handled
// without error and reach that process as Erlang would deliver them.
func FuzzHandleFrame(f *testing.F) {
	ctx := context.Background()
	n, box := fuzzNode(f)
	box.TrapExit(true)
	// Replies (noproc exits, spawn refusals, unlink acks) go out on a
	// connection whose far end is drained.
	near, far := net.Pipe()
	go io.Copy(io.Discard, far)
	conn, err := dist.NewConn(near, &dist.Peer{Name: "peer@localhost", Creation: 7}, nil, dist.ConnConfig{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { conn.Close(); far.Close() })
	// The connection as it is read in each framing mode.
	plain := testPeer(n, "peer@localhost", 7, 0, conn)
	header := testPeer(n, "peer@localhost", 7, dist.DistHdrAtomCache|dist.Fragments, conn)
	newBox := func() {
		box, _ = n.NewProcess()
		box.TrapExit(true)
		n.Register("box", box.Pid())
	}
	to := box.Pid()
	from := Pid{Node: "peer@localhost", ID: 77, Creation: 7}
	ref := Ref{Node: "peer@localhost", Creation: 7, Len: 3, ID: [etf.MaxRefWords]uint32{1, 2, 3}}
	token := etf.Tuple{Atom("trace"), int64(1)}
	reason := Atom("shutdown")
	type seed struct {
		ctrl etf.Tuple
		msg  Term // nil: no payload
	}
	op := func(o dist.Op) int64 { return int64(o) }
	seeds := []seed{
		{etf.Tuple{op(dist.OpLink), from, to}, nil},
		{etf.Tuple{op(dist.OpSend), Atom(""), to}, Atom("hello")},
		{etf.Tuple{op(dist.OpExit), from, to, reason}, nil},
		{etf.Tuple{op(dist.OpUnlink), from, to}, nil},
		{etf.Tuple{op(dist.OpNodeLink)}, nil},
		{etf.Tuple{op(dist.OpRegSend), from, Atom(""), Atom("box")}, etf.Binary("hi")},
		{etf.Tuple{op(dist.OpGroupLeader), from, to}, nil},
		{etf.Tuple{op(dist.OpExit2), from, to, reason}, nil},
		{etf.Tuple{op(dist.OpSendTT), Atom(""), to, token}, int64(1)},
		{etf.Tuple{op(dist.OpExitTT), from, to, token, reason}, nil},
		{etf.Tuple{op(dist.OpRegSendTT), from, Atom(""), Atom("box"), token}, int64(2)},
		{etf.Tuple{op(dist.OpExit2TT), from, to, token, reason}, nil},
		{etf.Tuple{op(dist.OpMonitorP), from, to, ref}, nil},
		{etf.Tuple{op(dist.OpMonitorP), from, Atom("box"), ref}, nil},
		{etf.Tuple{op(dist.OpDemonitorP), from, to, ref}, nil},
		{etf.Tuple{op(dist.OpMonitorPExit), from, to, ref, reason}, nil},
		{etf.Tuple{op(dist.OpSendSender), from, to}, etf.List{int64(1), int64(2)}},
		{etf.Tuple{op(dist.OpSendSenderTT), from, to, token}, Atom("x")},
		{etf.Tuple{op(dist.OpPayloadExit), from, to}, reason},
		{etf.Tuple{op(dist.OpPayloadExitTT), from, to, token}, reason},
		{etf.Tuple{op(dist.OpPayloadExit2), from, to}, etf.Tuple{Atom("error"), Atom("x")}},
		{etf.Tuple{op(dist.OpPayloadExit2TT), from, to, token}, reason},
		{etf.Tuple{op(dist.OpPayloadMonitorPExit), from, to, ref}, reason},
		{etf.Tuple{op(dist.OpSpawnRequest), ref, from, from, etf.Tuple{Atom("m"), Atom("f"), int64(1)}, etf.List{}}, etf.List{int64(1)}},
		{etf.Tuple{op(dist.OpSpawnRequestTT), ref, from, from, etf.Tuple{Atom("m"), Atom("f"), int64(0)}, etf.List{Atom("link")}, token}, etf.List{}},
		{etf.Tuple{op(dist.OpSpawnReply), ref, to, int64(0), from}, nil},
		{etf.Tuple{op(dist.OpSpawnReplyTT), ref, to, int64(0), Atom("badarg"), token}, nil},
		{etf.Tuple{op(dist.OpAliasSend), from, ref}, Atom("aliased")},
		{etf.Tuple{op(dist.OpAliasSendTT), from, ref, token}, Atom("aliased")},
		{etf.Tuple{op(dist.OpUnlinkID), int64(9), from, to}, nil},
		{etf.Tuple{op(dist.OpUnlinkIDAck), int64(9), from, to}, nil},
	}
	for _, p := range []*peer{plain, header} {
		for _, s := range seeds {
			frame, err := appendFrame(nil, p, s.ctrl, s.msg, s.msg != nil)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(frame)
			if err := n.handleFrame(p, frame); err != nil {
				f.Fatalf("seed %s: %v", etf.Format(s.ctrl), err)
			}
		}
		// The seeds reach the box: the six messages in order, and five
		// exit signals as messages (EXIT2 in its four forms, and the link
		// EXIT while the link lasts: the three link exits after it are
		// ignored, as Erlang does).
		var data []Term
		exits := 0
		for box.MailboxLen() > 0 {
			m, _ := box.Receive(ctx)
			switch m.(type) {
			case Exit:
				exits++
			case SpawnReply:
			default:
				data = append(data, m)
			}
		}
		want := etf.List{Atom("hello"), etf.Binary("hi"), int64(1), int64(2), etf.List{int64(1), int64(2)}, Atom("x")}
		if !etf.Equal(etf.List(data), want) || exits != 5 {
			f.Fatalf("seeds delivered %s and %d exits; want %s and 5", etf.Format(etf.List(data)), exits, etf.Format(want))
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		p := header
		if len(frame) > 0 && frame[0] == 112 {
			p = plain
		}
		if err := n.handleFrame(p, frame); err != nil && !errors.Is(err, ErrProtocol) {
			t.Fatalf("handleFrame(%x): untyped error %v", frame, err)
		}
		if !box.Alive() { // an exit signal 'kill' ends even a trapping process
			newBox()
		}
		for box.MailboxLen() > 0 {
			box.Receive(ctx)
		}
	})
}
