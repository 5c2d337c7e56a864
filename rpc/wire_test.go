package rpc_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
)

// rawPeer is a hand-driven distribution connection: it sends frames as
// given, so a test can send what no well-behaved node would.
type rawPeer struct {
	t    *testing.T
	name etf.Atom
	nc   net.Conn
	fr   *dist.FrameReader
	// The connection is in header mode (dist.DefaultFlags has the atom
	// cache): the node's atom cache entries, as its frames store them.
	cache dist.HeaderCache
}

func dialRaw(t *testing.T, target *distribute.Node) *rawPeer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
	defer cancel()
	nc, err := net.Dial("tcp", target.ListenAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	name := "raw" + string(target.Name())[3:]
	_, leftover, err := dist.Dial(ctx, nc, dist.HandshakeConfig{Name: name, Creation: 7, Cookie: cookie}, string(target.Name()))
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return &rawPeer{t: t, name: etf.Atom(name), nc: nc, fr: dist.NewFrameReader(nc, leftover, 1<<20)}
}

func (r *rawPeer) pid(id uint32) etf.Pid { return etf.Pid{Node: r.name, ID: id, Creation: 7} }

func (r *rawPeer) send(ctrl etf.Tuple, msg etf.Term) {
	r.t.Helper()
	payload, err := dist.AppendHeaderFrame(nil, ctrl, msg)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.nc.Write(dist.AppendFrame(nil, payload)); err != nil {
		r.t.Fatal(err)
	}
}

// next returns the next control message and payload (skipping ticks), or
// a nil control when the connection closed.
func (r *rawPeer) next() (etf.Tuple, etf.Term) {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(distributetest.Scale(10 * time.Second)))
	var d etf.Decoder
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			return nil, nil
		}
		if len(f) == 0 {
			continue
		}
		ctrl, msg, _, err := dist.ParseHeaderFrame(&d, &r.cache, f)
		if err != nil {
			r.t.Fatalf("bad frame from node: %v", err)
		}
		return ctrl, msg
	}
}

// A malformed SPAWN_REQUEST (arity and argument count disagree, a non-list
// argument list, a bad option list) is refused with SPAWN_REPLY and an
// error atom; the node serves the next request on the same connection.
func TestMalformedSpawnRequestOnTheWire(t *testing.T) {
	port := distributetest.StartEpmd(t)
	b := startNode(t, port)
	serve(t, b, nil)
	r := dialRaw(t, b)
	from := r.pid(1)
	res := b.MakeRef() // any ref serves as ResRef
	mfa := etf.Tuple{etf.Atom("erpc"), etf.Atom("execute_call"), int64(4)}
	bad := []struct {
		name string
		mfa  etf.Tuple
		opts etf.Term
		args etf.Term
	}{
		{"arity 4, 2 args", mfa, etf.List{etf.Atom("monitor")}, etf.List{res, etf.Atom("rpctest")}},
		{"args not a list", mfa, etf.List{etf.Atom("monitor")}, etf.Atom("nope")},
		{"module not an atom", etf.Tuple{int64(1), etf.Atom("f"), int64(0)}, etf.List{}, etf.List{}},
		{"opts not a list", mfa, etf.Atom("monitor"), etf.List{res, etf.Atom("rpctest"), etf.Atom("echo"), etf.List{int64(1)}}},
	}
	for _, c := range bad {
		id := b.MakeRef()
		r.send(etf.Tuple{int64(29), id, from, from, c.mfa, c.opts}, c.args)
		ctrl, _ := r.next()
		if ctrl == nil {
			t.Fatalf("%s: connection closed", c.name)
		}
		if len(ctrl) != 5 || ctrl[0] != int64(31) || !etf.Equal(ctrl[1], id) || ctrl[3] != int64(0) {
			t.Fatalf("%s: got %s; want SPAWN_REPLY with flags 0", c.name, etf.Format(ctrl))
		}
		if _, isAtom := ctrl[4].(etf.Atom); !isAtom {
			t.Fatalf("%s: reply %s; want an error atom", c.name, etf.Format(ctrl[4]))
		}
	}
	// A well-formed call on the same connection.
	id := b.MakeRef()
	r.send(etf.Tuple{int64(29), id, from, from, mfa, etf.List{etf.Atom("monitor")}},
		etf.List{res, etf.Atom("rpctest"), etf.Atom("add"), etf.List{int64(1), int64(2)}})
	ctrl, _ := r.next()
	if len(ctrl) != 5 || ctrl[0] != int64(31) || ctrl[3] != int64(2) {
		t.Fatalf("spawn reply: %s", etf.Format(ctrl))
	}
	newPid := ctrl[4]
	ctrl, reason := r.next()
	want := etf.Tuple{res, etf.Atom("return"), int64(3)}
	if len(ctrl) != 4 || ctrl[0] != int64(28) || !etf.Equal(ctrl[1], newPid) || !etf.Equal(ctrl[3], id) || !etf.Equal(reason, want) {
		t.Fatalf("result: %s %s; want PAYLOAD_MONITOR_P_EXIT with %s", etf.Format(ctrl), etf.Format(reason), etf.Format(want))
	}
	// A control message that breaks the protocol (the MFA is not a
	// 3-tuple) costs the sender its connection; the node serves on.
	r.send(etf.Tuple{int64(29), b.MakeRef(), from, from, etf.Atom("mfa"), etf.List{}}, etf.List{})
	if ctrl, _ := r.next(); ctrl != nil {
		t.Fatalf("after a broken control message: %s; want the connection closed", etf.Format(ctrl))
	}
	// Other nodes were never disturbed.
	a := startNode(t, port)
	if v, err := client(a).Call(context.Background(), b.Name(), "rpctest", "echo", int64(9)); err != nil || v != int64(9) {
		t.Fatalf("echo = %v, %v", v, err)
	}
}
