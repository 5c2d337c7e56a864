package cluster

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/election"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/membership"
	"github.com/distribute-go/distribute/rpc"
)

// startElection starts a cluster node with election (Local timings).
func startElection(t *testing.T, epmdPort int, name string, join ...distribute.Atom) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(20*time.Second))
	defer cancel()
	c, err := Start(ctx, Config{
		Node:     distribute.Config{Name: name, Cookie: "distributetest", EpmdPort: epmdPort, ListenAddr: "127.0.0.1:0"},
		Profile:  membership.Local(),
		Join:     join,
		Election: &election.Config{Expect: 3, DataDir: t.TempDir(), Timing: election.Local()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	return c
}

func TestElectionExports(t *testing.T) {
	var epmd int
	var erl *distributetest.ErlNode
	if _, err := exec.LookPath("erl"); err == nil || distributetest.ErlRequired() {
		erl = distributetest.StartErlNode(t, distributetest.ErlOptions{})
		epmd = erl.EpmdPort
	} else {
		epmd = distributetest.StartEpmd(t)
	}
	a := startElection(t, epmd, "elec1@localhost")
	b := startElection(t, epmd, "elec2@localhost", "elec1@localhost")
	c := startElection(t, epmd, "elec3@localhost", "elec1@localhost")
	// A node without election answers none.
	plain := startCluster(t, epmd, "elec4@localhost")
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(30*time.Second))
	defer cancel()

	if got, err := rpc.NewClient(a.Node()).Call(ctx, plain.Node().Name(), "distribute", "leader"); err != nil || got != etf.Atom("none") {
		t.Fatalf("distribute:leader() without election = %v, %v; want none", got, err)
	}
	if plain.Election() != nil {
		t.Fatal("Election() without Config.Election is not nil")
	}
	// Every election node answers distribute:leader() with the same leader
	// and term, asked from the plain node.
	var want etf.Term
	for {
		var got []string
		for _, n := range []*Cluster{a, b, c} {
			r, err := rpc.NewClient(plain.Node()).Call(ctx, n.Node().Name(), "distribute", "leader")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, etf.Format(r))
			want = r
		}
		if got[0] == got[1] && got[1] == got[2] && strings.HasPrefix(got[0], "{ok,") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("distribute:leader() never agreed: %v", got)
		case <-time.After(20 * time.Millisecond):
		}
	}
	tup := want.(etf.Tuple)
	leader, term := tup[1].(etf.Atom), tup[2].(int64)
	var lc *Cluster
	for _, n := range []*Cluster{a, b, c} {
		if n.Node().Name() == leader {
			lc = n
		}
	}
	if lc == nil {
		t.Fatalf("leader %s is not one of the election nodes", leader)
	}
	if l, tm, ok := lc.Election().Leader(); !ok || l != leader || int64(tm) != term {
		t.Fatalf("Election().Leader() = %s %d %v; want %s %d", l, tm, ok, leader, term)
	}
	// info() says whether the node runs the election, and has no raft
	// key: there is no Raft address any more.
	info, err := rpc.NewClient(plain.Node()).Call(ctx, b.Node().Name(), "distribute", "info")
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := info.(etf.Map).Get(etf.Atom("election")); r != etf.True {
		t.Fatalf("info() election = %v; want true", r)
	}
	if r, ok := info.(etf.Map).Get(etf.Atom("raft")); ok {
		t.Fatalf("info() has a raft key: %v", r)
	}
	if r, _ := plain.Info().Get(etf.Atom("election")); r != etf.False {
		t.Fatalf("info() election without election = %v; want false", r)
	}
	if erl != nil {
		// What erl gets is what a's election says; under load the
		// leadership may move meanwhile, so the two are compared while it
		// holds still.
		distributetest.WaitFor(t, "erl's distribute:leader() to match a's Election().Leader()", func() bool {
			l, tm, ok := a.Election().Leader()
			got := erl.Eval(t, fmt.Sprintf("rpc:call('%s', distribute, leader, [])", a.Node().Name()))
			l2, tm2, ok2 := a.Election().Leader()
			if !ok || !ok2 || l != l2 || tm != tm2 {
				return false
			}
			if wantS := fmt.Sprintf("{ok,%s,%d}", l, tm); got != wantS {
				t.Logf("from erl: distribute:leader() = %s; a's election says %s", got, wantS)
				return false
			}
			return true
		})
		got := erl.Eval(t, fmt.Sprintf("maps:get(election, rpc:call('%s', distribute, info, []))", a.Node().Name()))
		if got != "true" {
			t.Errorf("from erl: info() election = %s; want true", got)
		}
	}
	// Stopping the leader's cluster node hands leadership over.
	if err := lc.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		var others []*Cluster
		for _, n := range []*Cluster{a, b, c} {
			if n != lc {
				others = append(others, n)
			}
		}
		l0, t0, ok0 := others[0].Election().Leader()
		l1, t1, ok1 := others[1].Election().Leader()
		if ok0 && ok1 && l0 == l1 && t0 == t1 && l0 != leader && int64(t0) > term {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no new leader after the leader stopped: %s %d / %s %d", l0, t0, l1, t1)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestElectionNeedsMembership(t *testing.T) {
	port := distributetest.StartEpmd(t)
	c, err := Start(context.Background(), Config{
		Node:         distribute.Config{Name: "elecnm@localhost", Cookie: "distributetest", EpmdPort: port},
		NoMembership: true,
		Election:     &election.Config{Expect: 1, DataDir: t.TempDir()},
	})
	if err == nil {
		c.Stop(context.Background())
		t.Fatal("Start with Election and NoMembership succeeded")
	}
}
