package distribute

import (
	"slices"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
)

func TestConnectionsCountTraffic(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := startNode(t, port)
	b := startNode(t, port)
	ctx := testCtx(t)
	if got := a.Connections(); len(got) != 0 {
		t.Fatalf("connections before any traffic: %v", got)
	}
	rx, err := b.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Register("rx", rx.Pid()); err != nil {
		t.Fatal(err)
	}
	if got := rx.Names(); !slices.Equal(got, []Atom{"rx"}) {
		t.Fatalf("Names = %v, want [rx]", got)
	}
	tx, err := a.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := range n {
		if err := tx.SendName(ctx, "rx", b.Name(), i); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		if _, err := rx.Receive(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := a.Connections()
	if len(got) != 1 || got[0].Node != b.Name() {
		t.Fatalf("a.Connections() = %+v, want one connection to %s", got, b.Name())
	}
	c := got[0]
	if c.MessagesOut < n || c.BytesOut < n*10 || c.Since.IsZero() {
		t.Fatalf("a's counters after %d sends: %+v", n, c)
	}
	in := b.Connections()
	if len(in) != 1 || in[0].MessagesIn < n || in[0].BytesIn < n*10 {
		t.Fatalf("b.Connections() = %+v after a sent %+v", in, c)
	}
}
