package distribute

import (
	"context"
	"testing"

	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
)

// appendFrame encodes a frame as a peer with p's flags writes it: 112,
// 131 Ctrl [, 131 Msg] in pass-through mode, 131, 68, 0, Ctrl [, Msg] in
// header mode. Tests use it to play a peer; the node's own frames come
// from its dist.Writer.
func appendFrame(dst []byte, p *peer, ctrl etf.Tuple, msg Term, hasMsg bool) ([]byte, error) {
	if !hasMsg {
		msg = nil
	}
	if p.flags.HeaderMode() {
		return dist.AppendHeaderFrame(dst, ctrl, msg)
	}
	return dist.AppendPassThrough(dst, ctrl, msg)
}

// testPeer is a connection of n to name, with flags negotiated, over conn
// (nil for one that only reads), for feeding frames to n's handling
// directly.
func testPeer(n *Node, name Atom, creation uint32, flags dist.Flags, conn *dist.Conn) *peer {
	p := &peer{name: name, creation: creation, flags: flags, conn: conn}
	p.r = dist.NewReader(dist.ReaderConfig{Flags: flags, Local: n.name, Limits: n.cfg.Limits, MaxFrame: n.cfg.MaxFrameSize})
	p.w = dist.NewWriter(conn, flags, n.name, name)
	return p
}

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
