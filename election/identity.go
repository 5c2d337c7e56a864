package election

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/hashicorp/raft"
)

// identityPrefix starts the one kind of entry the election's log holds
// besides Raft's own configuration changes: the cluster identity,
// "distribute-election/cluster-id=" followed by 32 hex digits.
const identityPrefix = "distribute-election/cluster-id="

// identityFile keeps, in DataDir, the identity this node's state machine
// applied: it is committed, so it never changes, and a restarted node
// knows it before a leader brings its log up to date.
const identityFile = "cluster-id"

// newIdentity returns a random cluster identity: 32 hex digits.
func newIdentity() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func validIdentity(id string) bool {
	if len(id) == 0 || len(id) > maxCluster {
		return false
	}
	for _, c := range []byte(id) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// fsm is the election's state machine. It holds one value, the Raft
// cluster identity: the first identity entry the log commits sets it for
// good, so every member of one Raft cluster holds the same, and two
// clusters bootstrapped apart hold different ones.
type fsm struct {
	dir   string
	onSet func(id string) // called in Raft's FSM goroutine when the identity is set

	mu sync.Mutex // protects id
	id string
}

// newFSM reads the identity persisted in dir, when the node has Raft
// state; a node without state has no identity (a leftover file, from a
// data dir only partly wiped, is removed).
func newFSM(dir string, hasState bool, onSet func(string)) (*fsm, error) {
	f := &fsm{dir: dir, onSet: onSet}
	path := filepath.Join(dir, identityFile)
	if !hasState {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("election: %w", err)
		}
		return f, nil
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return f, nil // state from a version without identities: the leader chooses one
	case err != nil:
		return nil, fmt.Errorf("election: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if !validIdentity(id) {
		return nil, fmt.Errorf("election: %s holds %q, not a cluster identity", path, b)
	}
	f.id = id
	return f, nil
}

func (f *fsm) identity() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.id
}

// set persists the identity and then sets it, unless one is set. Raft
// calls Apply and Restore from one goroutine, so two sets never race;
// readers see an identity only once it is on disk.
func (f *fsm) set(id string) {
	if f.identity() != "" {
		return
	}
	// A failed write leaves the identity in memory and in the log: the
	// next start reads it from the log once a leader commits.
	_ = writeFileAtomic(filepath.Join(f.dir, identityFile), []byte(id+"\n"))
	f.mu.Lock()
	f.id = id
	f.mu.Unlock()
	if f.onSet != nil {
		f.onSet(id)
	}
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any {
	if id, ok := identityOf(l); ok {
		f.set(id)
	}
	return nil
}

// identityOf returns the cluster identity entry l holds, if it is one.
func identityOf(l *raft.Log) (string, bool) {
	if l.Type != raft.LogCommand || !bytes.HasPrefix(l.Data, []byte(identityPrefix)) {
		return "", false
	}
	id := string(l.Data[len(identityPrefix):])
	return id, validIdentity(id)
}

// Snapshot implements raft.FSM.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) { return snapshot{id: f.identity()}, nil }

// Restore implements raft.FSM: the snapshot holds the identity (or
// nothing).
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxCluster+1))
	if err != nil {
		return err
	}
	if id := string(b); validIdentity(id) {
		f.set(id)
	}
	return nil
}

type snapshot struct{ id string }

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write([]byte(s.id)); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (snapshot) Release() {}

// writeFileAtomic writes path through a temporary file and a rename, so a
// crash leaves the old file or the new one.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ErrConflict is wrapped by a *ConflictError: this node's Raft cluster met
// another one, bootstrapped apart.
var ErrConflict = errors.New("election: another Raft cluster met this one")

// ConflictError names the members that belong to another Raft cluster
// than this node's: two groups of election nodes that each bootstrapped a
// cluster before they could reach each other. Each side keeps electing
// its own leader; neither takes the other's members in, refuses the
// other's Raft messages, and IsLeader fails on both. An operator resolves
// it: stop the nodes of the smaller side, delete their data dirs, and
// start them again; they join the other side's cluster as newcomers.
type ConflictError struct {
	// Cluster is this node's Raft cluster identity.
	Cluster string
	// Nodes are the members seen in another Raft cluster, by name, and
	// Others those clusters' identities, in the same order.
	Nodes  []distribute.Atom
	Others []string
}

func (e *ConflictError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "election: another Raft cluster met this one (ours %s):", e.Cluster)
	for i, n := range e.Nodes {
		fmt.Fprintf(&b, " %s in %s", n, e.Others[i])
		if i < len(e.Nodes)-1 {
			b.WriteByte(',')
		}
	}
	b.WriteString("; stop the nodes of the smaller side, delete their data dirs and start them again")
	return b.String()
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// foreignMember is a member seen in another Raft cluster.
type foreignMember struct {
	cluster string
	seen    int64 // unix nanos
}

// conflictOf builds the error from the foreign members seen within hold
// of now (nil when none).
func conflictOf(ours string, foreign map[distribute.Atom]foreignMember, now time.Time, hold time.Duration) *ConflictError {
	e := &ConflictError{Cluster: ours}
	for n, f := range foreign {
		if now.Sub(time.Unix(0, f.seen)) <= hold {
			e.Nodes = append(e.Nodes, n)
		}
	}
	if len(e.Nodes) == 0 {
		return nil
	}
	slices.Sort(e.Nodes)
	for _, n := range e.Nodes {
		e.Others = append(e.Others, foreign[n].cluster)
	}
	return e
}
