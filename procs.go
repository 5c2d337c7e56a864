package distribute

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/distribute-go/distribute/etf"
)

// procTable holds a node's live processes and registered names.
type procTable struct {
	mu     sync.RWMutex // protects the maps and nextID
	byID   map[uint32]*Process
	names  map[Atom]*Process
	alias  map[Ref]*Process
	nextID uint32
}

func newProcTable() *procTable {
	return &procTable{
		byID:   make(map[uint32]*Process),
		names:  make(map[Atom]*Process),
		alias:  make(map[Ref]*Process),
		nextID: 1,
	}
}

// NewProcess creates a process driven by the caller: it receives with
// Receive and must end with Exit. Use it for a mailbox in ordinary Go code
// (a client, a test, a bridge); use Spawn for a process that runs on its own.
func (n *Node) NewProcess() (*Process, error) {
	return n.newProcess()
}

func (n *Node) newProcess() (*Process, error) {
	if n.closed.Load() {
		return nil, ErrClosed
	}
	p := &Process{node: n}
	p.mbox.init()
	t := n.procs
	t.mu.Lock()
	for {
		id := t.nextID
		t.nextID++
		if t.nextID == 0 {
			t.nextID = 1
		}
		if _, taken := t.byID[id]; !taken {
			p.pid = Pid{Node: n.name, ID: id, Creation: n.creation}
			t.byID[id] = p
			break
		}
	}
	t.mu.Unlock()
	return p, nil
}

// Spawn starts fn in a new process and returns it. The process exits when
// fn returns: with reason normal for a nil error, the error's Reason for an
// *ExitError, and {error, Text} for any other error. A panic in fn exits the
// process with reason {panic, Text}; it never crashes the node. fn's ctx is
// canceled when the process is killed or the node stops.
func (n *Node) Spawn(fn func(ctx context.Context, p *Process) error) (*Process, error) {
	p, err := n.newProcess()
	if err != nil {
		return nil, err
	}
	n.run(p, fn)
	return p, nil
}

// SpawnLink starts fn in a new process linked to p, as Erlang's
// spawn_link: the link exists before fn runs, so however soon the new
// process exits, p gets its exit signal (Spawn then Link would get
// ErrNoProc from a process that was already gone). It fails with an error
// wrapping ErrClosed when p has exited or the node is stopped.
func (p *Process) SpawnLink(fn func(ctx context.Context, p *Process) error) (*Process, error) {
	child, err := p.node.newProcess()
	if err != nil {
		return nil, err
	}
	if err := p.linkChild(child); err != nil {
		child.Exit(ReasonNoProc)
		return nil, err
	}
	p.node.run(child, fn)
	return child, nil
}

// SpawnMonitor starts fn in a new process monitored by p, as Erlang's
// spawn_monitor: the monitor exists before fn runs, so the Down with the
// returned Ref arrives however soon the new process exits (Spawn then
// Monitor would get a Down with reason noproc from a process that was
// already gone). It fails with an error wrapping ErrClosed when p has
// exited or the node is stopped.
func (p *Process) SpawnMonitor(fn func(ctx context.Context, p *Process) error) (*Process, Ref, error) {
	child, err := p.node.newProcess()
	if err != nil {
		return nil, Ref{}, err
	}
	ref := p.node.MakeRef()
	if err := p.monitorChild(child, ref); err != nil {
		child.Exit(ReasonNoProc)
		return nil, Ref{}, err
	}
	p.node.run(child, fn)
	return child, ref, nil
}

// run starts fn in p's goroutine; p exits when fn returns.
func (n *Node) run(p *Process, fn func(ctx context.Context, p *Process) error) {
	n.wg.Add(1)
	// The goroutine's closure holds p and fn only (p.node is n): 24 bytes.
	go func() {
		defer p.node.wg.Done()
		// After a runtime.Goexit in fn (t.FailNow does one), the only Exit;
		// otherwise a no-op. Exit runs up here, not in a deferred call
		// under fn, to keep the process's stack within 2 KB.
		defer p.Exit(reasonGoexit)
		p.Exit(runProcess(p, fn))
	}()
}

func runProcess(p *Process, fn func(ctx context.Context, p *Process) error) (reason Term) {
	defer func() {
		if r := recover(); r != nil {
			p.node.logger.Error("process panicked", "pid", p.pid, "panic", r, "stack", string(debug.Stack()))
			reason = etf.Tuple{Atom("panic"), etf.Binary(fmt.Sprint(r))}
		}
	}()
	return reasonOf(fn(p.Context(), p))
}

// reasonGoexit is the exit reason of a process whose function called
// runtime.Goexit instead of returning.
var reasonGoexit Term = etf.Tuple{Atom("error"), etf.Binary("runtime.Goexit")}

// reasonOf turns a Go error into an exit reason.
func reasonOf(err error) Term {
	var ee *ExitError
	switch {
	case err == nil:
		return ReasonNormal
	case errors.As(err, &ee):
		return ee.Reason
	case errors.Is(err, errDead), errors.Is(err, context.Canceled):
		// The process was killed while waiting; Exit keeps the first reason.
		return ReasonKilled
	}
	return etf.Tuple{etf.Atom("error"), etf.Binary(err.Error())}
}

// lookup returns the live local process with pid, or nil.
func (n *Node) lookup(pid Pid) *Process {
	if pid.Node != n.name || pid.Creation != n.creation {
		return nil
	}
	n.procs.mu.RLock()
	p := n.procs.byID[pid.ID]
	n.procs.mu.RUnlock()
	if p != nil && p.pid != pid {
		return nil
	}
	return p
}

// Whereis returns the pid registered locally under name.
func (n *Node) Whereis(name Atom) (Pid, bool) {
	n.procs.mu.RLock()
	p := n.procs.names[name]
	n.procs.mu.RUnlock()
	if p == nil {
		return Pid{}, false
	}
	return p.pid, true
}

// whereis returns the local process registered under name, or nil.
func (n *Node) whereis(name Atom) *Process {
	n.procs.mu.RLock()
	defer n.procs.mu.RUnlock()
	return n.procs.names[name]
}

// ErrNameTaken is returned by Register when the name is in use, or the
// process already has a name.
var ErrNameTaken = errors.New("distribute: name already registered")

// Register gives a local process a name, as erlang:register/2 does. A
// process has at most one name; the name is freed when it exits.
func (n *Node) Register(name Atom, pid Pid) error {
	if name == "" || name == "undefined" {
		return fmt.Errorf("distribute: register %q: %w", name, ErrBadName)
	}
	p := n.lookup(pid)
	if p == nil {
		return fmt.Errorf("distribute: register %s: %w", name, ErrNoProc)
	}
	t := n.procs
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, taken := t.names[name]; taken {
		return fmt.Errorf("distribute: register %s: %w", name, ErrNameTaken)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitedLocked() {
		return fmt.Errorf("distribute: register %s: %w", name, ErrNoProc)
	}
	if has, ok := p.addNameLocked(name); !ok {
		return fmt.Errorf("distribute: register %s: %v is already %s: %w", name, pid, has, ErrNameTaken)
	}
	t.names[name] = p
	return nil
}

// Unregister removes a local name. It reports whether the name existed.
func (n *Node) Unregister(name Atom) bool {
	t := n.procs
	t.mu.Lock()
	p := t.names[name]
	delete(t.names, name)
	t.mu.Unlock()
	if p == nil {
		return false
	}
	p.dropName(name)
	return true
}

// Registered returns the locally registered names.
func (n *Node) Registered() []Atom {
	n.procs.mu.RLock()
	defer n.procs.mu.RUnlock()
	names := make([]Atom, 0, len(n.procs.names))
	for name := range n.procs.names {
		names = append(names, name)
	}
	return names
}

// Processes returns the node's live processes.
func (n *Node) Processes() []*Process {
	n.procs.mu.RLock()
	defer n.procs.mu.RUnlock()
	ps := make([]*Process, 0, len(n.procs.byID))
	for _, p := range n.procs.byID {
		ps = append(ps, p)
	}
	return ps
}

func removeAtom(s []Atom, a Atom) []Atom {
	for i, x := range s {
		if x == a {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}
