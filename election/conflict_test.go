package election

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
)

// TestSplitBrainDetected is issue 23's item 5, election half: two groups
// of election nodes started apart each bootstrap a Raft cluster. When
// they meet, every node reports the conflict (Conflict, an error log),
// IsLeader fails on both leaders, and neither leader takes the other
// side's members in. The operator's fix, wiping the smaller side's data
// dirs, ends it: those nodes join the other cluster as newcomers.
func TestSplitBrainDetected(t *testing.T) {
	epmd := distributetest.StartEpmd(t)
	prefix := fmt.Sprintf("s%d", seq.Add(1))
	var all []*member
	group := func(letters string) []*member {
		var g []*member
		for i, c := range letters {
			m := &member{t: t, name: fmt.Sprintf("%s_%c@localhost", prefix, c), dir: t.TempDir(), expect: 2, epmd: epmd}
			var seeds []string
			if i > 0 {
				seeds = []string{g[0].ms.GossipAddr()}
			}
			m.start(seeds...)
			g = append(g, m)
			all = append(all, m)
		}
		return g
	}
	t.Cleanup(func() {
		for _, m := range all {
			m.stop(false)
		}
	})
	x := group("ab")
	xl, _ := agreed(t, x, 0)
	xid := sameCluster(t, x)
	y := group("cd")
	yl, _ := agreed(t, y, 0)
	yid := sameCluster(t, y)
	if xid == yid {
		t.Fatalf("two clusters bootstrapped apart share the identity %s", xid)
	}

	// They meet.
	if _, err := y[0].ms.Join(context.Background(), x[0].ms.GossipAddr()); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitFor(t, "every node to report the conflict with both nodes of the other side", func() bool {
		for _, m := range all {
			var ce *ConflictError
			if !errors.As(m.el.Conflict(), &ce) || len(ce.Nodes) != 2 {
				return false
			}
		}
		return true
	})
	var ce *ConflictError
	if err := x[0].el.Conflict(); !errors.As(err, &ce) || ce.Cluster != xid || !slices.Equal(ce.Nodes, []distribute.Atom{distribute.Atom(y[0].name), distribute.Atom(y[1].name)}) || ce.Others[0] != yid {
		t.Fatalf("Conflict() on %s = %v; want %s and %s in %s", x[0].name, err, y[0].name, y[1].name, yid)
	}
	for _, m := range all {
		if m.log.count("split brain") != 1 {
			t.Errorf("%s logged the conflict %d times; want once", m.name, m.log.count("split brain"))
		}
	}
	ctx := context.Background()
	for _, l := range []*member{xl, yl} {
		if _, err := l.el.IsLeader(ctx); !errors.Is(err, ErrNotLeader) || !errors.Is(err, ErrConflict) {
			t.Errorf("IsLeader on %s during the conflict: %v; want ErrNotLeader and ErrConflict", l.name, err)
		}
	}
	// Neither leader takes the other side in: each refuses at every
	// reconcile round.
	for _, l := range []*member{xl, yl} {
		distributetest.WaitFor(t, l.name+" to refuse the other side twice", func() bool {
			return l.log.count("not adding a member of another Raft cluster") >= 4
		})
	}
	for _, g := range [][]*member{x, y} {
		for _, m := range g {
			if got := servers(t, m); len(got) != 2 {
				t.Errorf("%s's configuration %v; want its own two servers", m.name, got)
			}
		}
	}

	// The operator wipes the smaller side (here: the one named after).
	for _, m := range y {
		m.stop(false)
		if err := os.RemoveAll(m.dir); err != nil {
			t.Fatal(err)
		}
		m.dir = filepath.Join(t.TempDir(), "wiped")
	}
	for _, m := range y {
		m.start(x[0].ms.GossipAddr())
	}
	distributetest.WaitFor(t, "the wiped nodes to join the other cluster", func() bool {
		for _, m := range all {
			if m.el.Cluster() != xid || m.el.Conflict() != nil {
				return false
			}
		}
		return len(servers(t, xl)) == 4
	})
	l, term := agreed(t, all, 0)
	if got, err := l.el.IsLeader(ctx); err != nil || got != term {
		t.Fatalf("IsLeader after the fix: %d, %v", got, err)
	}
	for _, m := range y {
		if m.log.count("bootstrapped") != 0 {
			t.Errorf("wiped %s bootstrapped again", m.name)
		}
	}
}

// TestConflictLoggedWhenFirstSeen: the conflict is logged by the time
// Conflict reports it, whichever path saw the foreign member first (here
// a refused Raft message, which the manager's next round would only have
// logged later; CI once read Conflict before that round and found no log).
func TestConflictLoggedWhenFirstSeen(t *testing.T) {
	log := newRecorder("x")
	e := &Election{
		cfg:     Config{Timing: Local()},
		logger:  slog.New(log),
		fsm:     &fsm{id: "ours"},
		foreign: make(map[distribute.Atom]foreignMember),
	}
	e.foreignSeen("y@localhost", "theirs")
	if e.Conflict() == nil {
		t.Fatal("Conflict() = nil after a refused message from another Raft cluster")
	}
	if n := log.count("split brain"); n != 1 {
		t.Fatalf("logged the conflict %d times when Conflict first reported it; want once", n)
	}
	e.foreignSeen("z@localhost", "theirs")
	if n := log.count("split brain"); n != 1 {
		t.Fatalf("logged the conflict %d times after a second foreign member; want once", n)
	}
}
