package registry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/etf"
)

func TestTypedRegisterLookupAcrossNodes(t *testing.T) {
	nodes, servers := goCluster(t, 2)
	ctx := testCtx(t)
	if err := nodes[1].Connect(ctx, nodes[0].Name()); err != nil {
		t.Fatal(err)
	}
	meshed(t, nodes, servers)
	owner := newProc(t, nodes[0])
	subj := distribute.NewSubject(owner.Pid(), codec.Int)
	if err := RegisterTyped(ctx, servers[0], "counter", subj); err != nil {
		t.Fatal(err)
	}
	if _, ok := Lookup(servers[1], "missing", codec.Int); ok {
		t.Fatal("Lookup of a missing name succeeded")
	}
	got, ok := Lookup(servers[1], "counter", codec.Int)
	if !ok || got.Pid() != owner.Pid() {
		t.Fatalf("Lookup = %v %v; want %v", got, ok, owner.Pid())
	}
	sender := newProc(t, nodes[1])
	if err := got.Send(ctx, sender, 42); err != nil {
		t.Fatal(err)
	}
	if v, err := subj.Receive(ctx, owner); err != nil || v != 42 {
		t.Fatalf("Receive = %v, %v; want 42", v, err)
	}
	if names := servers[1].RegisteredNames(); len(names) != 1 {
		t.Fatalf("RegisteredNames = %v", names)
	}
	if err := servers[1].Unregister(ctx, "counter"); err != nil {
		t.Fatal(err)
	}
	if _, ok := servers[0].Whereis("counter"); ok {
		t.Fatal("counter still registered on node 0")
	}
	if err := servers[1].Unregister(ctx, "counter"); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("second Unregister: %v", err)
	}
	if err := servers[0].Register(ctx, 3.5, owner.Pid()); !errors.Is(err, ErrBadName) {
		t.Fatalf("Register of a float name: %v", err)
	}
	if err := servers[0].Send(ctx, sender, "counter", 1); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("Send to a missing name: %v", err)
	}
}

func TestResolveItHandler(t *testing.T) {
	nodes, servers := goCluster(t, 2)
	ctx := testCtx(t)
	if err := nodes[1].Connect(ctx, nodes[0].Name()); err != nil {
		t.Fatal(err)
	}
	mine, other := newProc(t, nodes[0]), newProc(t, nodes[1])
	theirs := other.Pid()
	want := mine.Pid()
	if theirs.Node < want.Node {
		want = theirs
	}
	got, err := servers[0].ResolveIt(ctx, []distribute.Term{NotifyMethod, distribute.Atom("x"), theirs, mine.Pid()})
	if err != nil || got != want {
		t.Fatalf("ResolveIt = %v, %v; want %v (the lower node)", got, err, want)
	}
	loser := mine
	if want == mine.Pid() {
		loser = other
	}
	if m, err := loser.Receive(ctx); err != nil || len(m.(etf.Tuple)) != 2 {
		t.Fatalf("notify message: %v %v", m, err)
	}
	got, err = servers[0].ResolveIt(ctx, []distribute.Term{NotifyAllMethod, distribute.Atom("x"), theirs, mine.Pid()})
	if err != nil || got != distribute.Atom("none") {
		t.Fatalf("ResolveIt notify_all = %v, %v", got, err)
	}
	if m, err := mine.Receive(ctx); err != nil || len(m.(etf.Tuple)) != 3 {
		t.Fatalf("notify_all message: %v %v", m, err)
	}
	if _, err := servers[0].ResolveIt(ctx, []distribute.Term{NotifyMethod}); !errors.Is(err, ErrBadMessage) {
		t.Fatalf("bad args: %v", err)
	}
}

func TestCanceledContext(t *testing.T) {
	nodes, servers := goCluster(t, 2)
	ctx := testCtx(t)
	if err := nodes[1].Connect(ctx, nodes[0].Name()); err != nil {
		t.Fatal(err)
	}
	meshed(t, nodes, servers)
	p := newProc(t, nodes[0])
	// Another owner holds the global lock (taken once the connect released
	// its own): Register retries until ctx ends.
	blocker := newProc(t, nodes[1])
	id := LockID{Resource: distribute.Atom("global"), Requester: blocker.Pid()}
	if ok, err := servers[1].SetLock(ctx, blocker, id, nil, Infinity); !ok || err != nil {
		t.Fatalf("SetLock global: %v %v", ok, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := servers[0].Register(cctx, distribute.Atom("blocked"), p.Pid()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Register under a held lock: %v", err)
	}
	for _, s := range servers {
		if _, ok := s.Whereis(distribute.Atom("blocked")); ok {
			t.Fatal("a failed Register left the name")
		}
	}
	servers[1].DelLock(ctx, blocker, id, nil)
	if err := servers[0].Register(ctx, distribute.Atom("blocked"), p.Pid()); err != nil {
		t.Fatalf("Register after release: %v", err)
	}
	if w, ok := agreeGo(t, servers, "blocked"); !ok || w != p.Pid() {
		t.Fatal("blocked not registered everywhere")
	}
}
