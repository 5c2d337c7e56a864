package election

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// suffrages returns m's configuration as name → voter?
func suffrages(t testing.TB, m *member) map[string]bool {
	t.Helper()
	cf := m.el.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, s := range cf.Configuration().Servers {
		out[string(s.ID)] = s.Suffrage == raft.Voter
	}
	return out
}

func describe(conf map[string]bool) string {
	var v, nv []string
	for n, voter := range conf {
		if voter {
			v = append(v, n)
		} else {
			nv = append(nv, n)
		}
	}
	slices.Sort(v)
	slices.Sort(nv)
	return fmt.Sprintf("voters %v non-voters %v", v, nv)
}

// TestVotersCappedAtExpect is issue 21's cap: with five election members
// and Expect 3, the leader keeps three voters and adds the other two as
// non-voters. A voter gone for RemoveGrace is replaced: a non-voter is
// promoted and the gone voter removed, so three voters remain, all alive;
// a gone non-voter is removed.
func TestVotersCappedAtExpect(t *testing.T) {
	ms := startClusterWith(t, 5, 3, func(m *member) { m.grace = time.Millisecond })
	leader, _ := agreed(t, ms, 0)
	sameCluster(t, ms)
	distributetest.WaitFor(t, "five servers: three voters, two non-voters", func() bool {
		conf := suffrages(t, leader)
		voters := 0
		for _, v := range conf {
			if v {
				voters++
			}
		}
		return len(conf) == 5 && voters == 3
	})
	conf := suffrages(t, leader)
	t.Logf("configuration: %s", describe(conf))
	for _, m := range ms[:3] {
		if !conf[m.name] {
			t.Errorf("%s, of the bootstrap set, is not a voter: %s", m.name, describe(conf))
		}
	}

	// A voter other than the leader goes: a non-voter takes its seat.
	var victim *member
	for _, m := range ms {
		if m != leader && conf[m.name] {
			victim = m
			break
		}
	}
	victim.stop(false)
	distributetest.WaitFor(t, "the gone voter replaced by a non-voter", func() bool {
		conf := suffrages(t, leader)
		voters := 0
		for n, v := range conf {
			if v {
				voters++
			}
			if n == victim.name {
				return false
			}
		}
		return len(conf) == 4 && voters == 3
	})
	conf = suffrages(t, leader)
	t.Logf("after %s left: %s", victim.name, describe(conf))
	// The remaining non-voter goes: it is removed, the voters stay.
	var nv *member
	for _, m := range ms {
		if !m.down && !conf[m.name] {
			nv = m
		}
	}
	if nv == nil {
		t.Fatalf("no non-voter left: %s", describe(conf))
	}
	nv.stop(false)
	distributetest.WaitFor(t, "the gone non-voter removed", func() bool {
		conf := suffrages(t, leader)
		_, in := conf[nv.name]
		return !in && len(conf) == 3
	})
	agreed(t, ms, 0)
}

// A cluster whose voters outnumber Expect (bootstrapped with a larger
// Expect, or by a version without the cap) is brought down to Expect
// voters by its leader, which demotes the others to non-voters.
func TestVotersBeyondExpectDemoted(t *testing.T) {
	ms := startCluster(t, 4, 4)
	leader, term := agreed(t, ms, 0)
	distributetest.WaitFor(t, "four voters", func() bool {
		conf := suffrages(t, leader)
		return len(conf) == 4 && !slices.Contains(mapValues(conf), false)
	})
	for _, m := range ms {
		m.stop(true)
	}
	for i, m := range ms {
		m.expect = 2
		var seeds []string
		if i > 0 {
			seeds = []string{ms[0].ms.GossipAddr()}
		}
		m.start(seeds...)
	}
	leader, _ = agreed(t, ms, term)
	distributetest.WaitFor(t, "two voters and two non-voters", func() bool {
		conf := suffrages(t, leader)
		voters := 0
		for _, v := range conf {
			if v {
				voters++
			}
		}
		return len(conf) == 4 && voters == 2
	})
	if conf := suffrages(t, leader); !conf[leader.name] {
		t.Fatalf("the leader demoted itself: %s", describe(conf))
	}
	agreed(t, ms, 0)
}

func mapValues(m map[string]bool) []bool {
	var out []bool
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// oldFSM is the state machine of the version whose Raft had a TCP port:
// no state, empty snapshots.
type oldFSM struct{}

func (oldFSM) Apply(*raft.Log) any                 { return nil }
func (oldFSM) Snapshot() (raft.FSMSnapshot, error) { return snapshot{}, nil }
func (oldFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

// A data dir written by the version whose Raft had a TCP port (the same
// bolt store and configuration, node names as addresses, a raft-port
// file, no cluster identity) starts: the node keeps its term, leads, and
// its leader chooses a cluster identity; the raft-port file is ignored.
func TestOldDataDirStarts(t *testing.T) {
	epmd := distributetest.StartEpmd(t)
	name := newName("old")
	dir := t.TempDir()
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_, trans := raft.NewInmemTransport(raft.ServerAddress(name))
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(name)
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	rc.Logger = newHCLog(slog.New(slog.DiscardHandler))
	r, err := raft.NewRaft(rc, oldFSM{}, store, store, snaps, trans)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(name), Address: raft.ServerAddress(name)}}}).Error(); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitFor(t, "the old-layout node to lead", func() bool { return r.State() == raft.Leader })
	oldTerm := r.CurrentTerm()
	if err := r.Shutdown().Error(); err != nil {
		t.Fatal(err)
	}
	store.Close()
	if err := os.WriteFile(filepath.Join(dir, "raft-port"), []byte("41234\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	m := &member{t: t, name: name, dir: dir, expect: 1, epmd: epmd}
	m.start()
	t.Cleanup(func() { m.stop(false) })
	_, term := agreed(t, []*member{m}, oldTerm-1)
	if term < oldTerm {
		t.Fatalf("term %d after the upgrade; was %d", term, oldTerm)
	}
	id := sameCluster(t, []*member{m})
	if b, err := os.ReadFile(filepath.Join(dir, identityFile)); err != nil || strings.TrimSpace(string(b)) != id {
		t.Fatalf("persisted identity %q, %v; want %s", b, err, id)
	}
	if m.log.count("bootstrapped") != 0 {
		t.Fatal("a node with an old data dir bootstrapped")
	}
}

// TestNewcomerHoldingOurLogIsAdded: a node whose Raft log holds entries
// of this cluster but which applied no identity (a leader began to
// replicate to it, then lost leadership before the node's addition was
// committed) is added by the next leader. It answers raft_status with
// HasState true and no cluster; the leader used to take it for a node
// that may have bootstrapped a cluster of its own and skip it for good,
// so at N = 100 one node never learned the leader. Its log shows whose
// it is.
func TestNewcomerHoldingOurLogIsAdded(t *testing.T) {
	// log: it holds the leader's log; term: only the leader's term (it
	// rejected the leader's first append, whose previous entry it lacked,
	// and heard no more).
	for _, copyLog := range []bool{true, false} {
		t.Run(fmt.Sprintf("log=%v", copyLog), func(t *testing.T) {
			ms := startCluster(t, 3, 3)
			leader, _ := agreed(t, ms, 0)
			id := sameCluster(t, ms)

			// The newcomer's data dir holds what such a node keeps, and
			// no identity file.
			d := &member{t: t, name: newName("late"), dir: t.TempDir(), expect: 3, epmd: ms[0].epmd}
			store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(d.dir, "raft.db")})
			if err != nil {
				t.Fatal(err)
			}
			for i := uint64(1); copyLog && i <= leader.el.raft.LastIndex(); i++ {
				var l raft.Log
				if err := leader.el.store.GetLog(i, &l); err != nil {
					t.Fatalf("the leader's log entry %d: %v", i, err)
				}
				if err := store.StoreLog(&l); err != nil {
					t.Fatal(err)
				}
			}
			if err := store.SetUint64([]byte("CurrentTerm"), leader.el.raft.CurrentTerm()); err != nil {
				t.Fatal(err)
			}
			store.Close()

			d.start(ms[0].ms.GossipAddr())
			t.Cleanup(func() { d.stop(false) })
			all := append(slices.Clone(ms), d)
			agreed(t, all, 0)
			if got := sameCluster(t, all); got != id {
				t.Fatalf("cluster %s; want %s", got, id)
			}
		})
	}
}
