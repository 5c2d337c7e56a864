package membership

import (
	"context"
	"errors"
	"github.com/distribute-go/distribute/distributetest"
	"testing"
	"time"
)

// SetElection puts the election flag and the Raft cluster identity in the
// member's meta; the others see both in the member's row.
func TestSetElection(t *testing.T) {
	ctx := context.Background()
	a, err := Start(ctx, nil, Config{Name: "ea@localhost", Cookie: testCookie, Profile: Local()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop(ctx)
	b, err := Start(ctx, nil, Config{Name: "eb@localhost", Cookie: testCookie, Profile: Local()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop(ctx)
	if _, err := b.Join(ctx, a.GossipAddr()); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitForWithin(t, 10*time.Second, "b alive at a", func() bool { mb, ok := a.Member("eb@localhost"); return ok && mb.State == StateAlive })
	if mb, _ := a.Member("eb@localhost"); mb.Election || mb.Cluster != "" {
		t.Fatalf("before SetElection a sees %+v", mb)
	}
	// The broadcast may time out on a loaded machine: the meta is set and
	// spreads anyway.
	if err := b.SetElection(ctx, ""); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	distributetest.WaitForWithin(t, 10*time.Second, "b's election flag at a", func() bool { mb, _ := a.Member("eb@localhost"); return mb.Election && mb.Cluster == "" })
	if err := b.SetElection(ctx, "c1"); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	distributetest.WaitForWithin(t, 10*time.Second, "b's cluster identity at a", func() bool { mb, _ := a.Member("eb@localhost"); return mb.Election && mb.Cluster == "c1" })
	if mb, _ := b.Member("eb@localhost"); !mb.Election || mb.Cluster != "c1" || !mb.Self {
		t.Errorf("b's own row %+v", mb)
	}
	b.Stop(ctx)
	if err := b.SetElection(ctx, "c2"); !errors.Is(err, ErrClosed) {
		t.Errorf("SetElection after Stop: %v; want ErrClosed", err)
	}
}
