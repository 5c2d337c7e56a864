package distribute

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
)

// Pid identifies a process, on this node or another. Pid values are
// comparable and may be used as map keys.
type Pid = etf.Pid

// Ref is a reference: a value unique in the cluster, used to tag monitors,
// calls and aliases.
type Ref = etf.Ref

// Atom is an Erlang atom.
type Atom = etf.Atom

// Term is any Erlang term (see package etf).
type Term = etf.Term

// Reasons with a meaning to the runtime.
const (
	ReasonNormal       Atom = "normal"
	ReasonKill         Atom = "kill"
	ReasonKilled       Atom = "killed"
	ReasonShutdown     Atom = "shutdown"
	ReasonNoProc       Atom = "noproc"
	ReasonNoConnection Atom = "noconnection"
)

// Down is the message a monitoring process receives when the monitored
// process exits, or the monitor can no longer be kept (Reason noproc when it
// did not exist, noconnection when its node is lost). It is Erlang's
// {'DOWN', Ref, process, Object, Reason}.
type Down struct {
	Ref Ref
	// Pid is the monitored process, zero when the monitor was by name.
	Pid Pid
	// Name and Node are set when the monitor was by registered name.
	Name Atom
	Node Atom
	// Reason is the exit reason.
	Reason Term
}

// Exit is the message a process that traps exits receives for an exit
// signal: Erlang's {'EXIT', From, Reason}.
type Exit struct {
	From   Pid
	Reason Term
}

// Process is a lightweight process: a pid and an unbounded mailbox, with
// links and monitors. A process made by Spawn runs a function in its own
// goroutine and exits when it returns; one made by NewProcess is driven by
// the caller, who must call Exit when done.
//
// Receive may be called by one goroutine at a time. Every other method is
// safe for concurrent use.
type Process struct {
	node *Node
	pid  Pid
	mbox mailbox

	// flags holds flagTrapExit and flagNoConnect.
	flags atomic.Uint32
	// running tells whether the goroutine of a SpawnHandler process is
	// active.
	running atomic.Bool
	// handler is set for processes made by SpawnHandler.
	handler Handler
	// sentTo is the connection of the process's last message to another
	// node: Send, SendName or a Reply (see sendMessage, receiveLead).
	sentTo atomic.Pointer[dist.Conn]

	mu sync.Mutex // protects the fields below
	// ext holds the links, monitors, aliases and names, made on first use
	// (most processes never have any) and dropped at exit. Only
	// relations.go reads or changes it.
	ext *procRels
	// reason is the exit reason, nil while the process lives (see
	// exitedLocked).
	reason Term
	// done holds the chan struct{} Done returns, made on first use (most
	// processes never ask) or set to closedChan by an Exit that came
	// first. It is stored under mu and may be loaded without it.
	done atomic.Value
}

// closedChan is the Done channel of a process that exited before anyone
// asked for one.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// link is one side's state of a link (the UNLINK_ID protocol of OTP 23+).
type link struct {
	// unlinkID is non-zero while an unlink we sent waits for its ack.
	unlinkID uint64
}

// monitorTarget is what a monitor held by this process points at.
type monitorTarget struct {
	pid  Pid  // set for a monitor by pid
	name Atom // set with node for a monitor by name
	node Atom
	// firing: the monitor fired and its Down is being delivered; it
	// leaves the table once the Down is in the mailbox (fireMonitor).
	firing bool
}

// watcher is a monitor another process holds on this one.
type watcher struct {
	by Pid
	// as is how the watcher named us: our name for a monitor by name,
	// empty for a monitor by pid. It is echoed in the DOWN.
	as Atom
}

// Pid returns the process's identifier.
func (p *Process) Pid() Pid { return p.pid }

// Node returns the node the process runs on.
func (p *Process) Node() *Node { return p.node }

// Context returns a context canceled when the process exits, for work the
// process starts that should end with it.
func (p *Process) Context() context.Context { return procContext{p} }

// procContext is a process's context: done when the process has exited.
// It is a single pointer, so it costs no allocation.
type procContext struct{ p *Process }

func (c procContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c procContext) Done() <-chan struct{}       { return c.p.Done() }
func (c procContext) Value(any) any               { return nil }
func (c procContext) Err() error {
	// No Done channel yet means Exit has not got as far as closing it.
	d, _ := c.p.done.Load().(chan struct{})
	if d == nil {
		return nil
	}
	select {
	case <-d:
		return context.Canceled
	default:
		return nil
	}
}

// Done is closed when the process has exited and its names are free (its
// links and monitors are then being notified).
func (p *Process) Done() <-chan struct{} {
	if d, _ := p.done.Load().(chan struct{}); d != nil {
		return d
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	d, _ := p.done.Load().(chan struct{})
	if d == nil {
		d = make(chan struct{})
		p.done.Store(d)
	}
	return d
}

// closeDone closes the Done channel, or marks it closed if nobody has
// asked for it yet.
func (p *Process) closeDone() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d, _ := p.done.Load().(chan struct{}); d != nil {
		close(d)
		return
	}
	p.done.Store(closedChan)
}

// Reason returns the exit reason once the process has exited, nil before.
func (p *Process) Reason() Term {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reason
}

// Alive reports whether the process has not exited.
func (p *Process) Alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.exitedLocked()
}

// MailboxLen returns the number of messages waiting in the mailbox.
func (p *Process) MailboxLen() int { return p.mbox.len() }

// TrapExit turns exit signals into Exit messages (true) or lets them kill
// the process (false, the default), as process_flag(trap_exit, ...) does.
// It returns the previous setting.
func (p *Process) TrapExit(on bool) bool { return p.setFlag(flagTrapExit, on) }

// AutoConnect sets whether what the process sends to a node this node is
// not connected to sets up the connection first (true, the default, as
// Erlang's dist_auto_connect), or fails at once (false), as a send with
// Erlang's noconnect option does: a message is not sent and the error is
// ErrNodeDown; a monitor or a call gets noconnection; Link returns that
// error and makes no link. It returns the previous setting.
//
// A process that keeps state about other nodes (a name registry, a group
// scope) turns it off, so that a message racing with a lost connection
// does not set that connection up again behind the partition.
func (p *Process) AutoConnect(on bool) bool { return !p.setFlag(flagNoConnect, !on) }

// Process flags.
const (
	flagTrapExit  uint32 = 1 << iota // exit signals become messages
	flagNoConnect                    // sends never set up a connection
)

// setFlag sets or clears flag and returns whether it was set.
func (p *Process) setFlag(flag uint32, on bool) bool {
	if on {
		return p.flags.Or(flag)&flag != 0
	}
	return p.flags.And(^flag)&flag != 0
}

func (p *Process) hasFlag(flag uint32) bool { return p.flags.Load()&flag != 0 }

// peerFor returns the connection to node for what p sends there: set up
// if need be, unless p has AutoConnect off.
func (p *Process) peerFor(ctx context.Context, node Atom) (*peer, error) {
	if !p.hasFlag(flagNoConnect) {
		return p.node.getPeer(ctx, node)
	}
	if pr := p.node.peerIfConnected(node); pr != nil {
		select {
		case <-pr.conn.Done():
		default:
			return pr, nil
		}
	}
	return nil, fmt.Errorf("distribute: %s is not connected (AutoConnect off): %w", node, ErrNodeDown)
}

// sendMessage is sendControl for a message (SEND, REG_SEND, ALIAS_SEND):
// it also records the connection, which a Receive that follows leads
// (see receiveLead).
func (p *Process) sendMessage(ctx context.Context, node Atom, m dist.Out) error {
	pr, err := p.peerFor(ctx, node)
	if err != nil {
		return err
	}
	p.sentTo.Store(pr.conn)
	return pr.sendErr(pr.w.Send(ctx, m))
}

// sendControl sends a control message from p to node, over peerFor's
// connection. It blocks while the connection's send buffer is full,
// until ctx ends.
func (p *Process) sendControl(ctx context.Context, node Atom, m dist.Out) error {
	pr, err := p.peerFor(ctx, node)
	if err != nil {
		return err
	}
	return pr.sendErr(pr.w.Send(ctx, m))
}

// Receive waits for the next message. It returns ErrClosed (wrapped) once
// the process has exited; when ctx ends, an error wrapping ErrTimeout and
// context.DeadlineExceeded past a deadline, context.Canceled on a cancel.
// Messages are Terms, Down, Exit, or whatever a local sender passed.
func (p *Process) Receive(ctx context.Context) (any, error) {
	return p.ReceiveMatch(ctx, nil)
}

// ReceiveMatch is selective receive: it waits for the first message for
// which match returns true (nil matches any) and leaves the others queued
// in their order. While it waits, match sees each message once: a message
// it rejected is not offered again in the same receive (so a receive
// waiting behind N queued messages costs O(N) once, not per arrival), and
// match must answer the same for the same message, as a receive pattern
// does.
func (p *Process) ReceiveMatch(ctx context.Context, match func(any) bool) (any, error) {
	lc, until := p.receiveLead()
	m, err := p.mbox.wait(ctx, p, match, false, lc, until)
	if err != nil {
		return nil, p.receiveError(ctx, err)
	}
	return m, nil
}

// receiveLead returns the connection a Receive leads while it waits (see
// mailbox.wait) and until when: the one the process sent to last, if it
// sent within receiveLeadWindow: a ping-pong, whose answer then comes on
// it. Nil when the process did not just send to another node.
func (p *Process) receiveLead() (*dist.Conn, time.Time) {
	c := p.sentTo.Load()
	if c == nil || !c.SentWithin(receiveLeadWindow) {
		return nil, time.Time{}
	}
	return c, time.Now().Add(receiveLeadFor)
}

// A Receive leads the connection the process sent to within
// receiveLeadWindow, for at most receiveLeadFor (then it waits as
// usual): long enough for an answer, short enough that a process that
// was not waiting for one does not hold the connection's reads.
const (
	receiveLeadWindow = time.Millisecond
	receiveLeadFor    = 5 * time.Millisecond
)

// TryReceive is selective receive without waiting: it removes and returns
// the first queued message for which match returns true (nil matches any)
// and reports true, or reports false at once when no queued message
// matches or the process has exited. The others stay queued in their
// order. Like Receive, one goroutine at a time may call it.
func (p *Process) TryReceive(match func(any) bool) (any, bool) {
	return p.mbox.take(match)
}

// receiveError wraps ctx's error for a receive that ctx ended (see
// ErrTimeout). It is apart from ReceiveMatch to keep the frame an idle
// process sits in small (see TestIdleProcessStack).
func (p *Process) receiveError(ctx context.Context, err error) error {
	if ctx.Err() != nil && err == ctx.Err() {
		return fmt.Errorf("distribute: receive on %v: %w", p.pid, ctxError(ctx))
	}
	return err
}

// cancelChan returns the channel a receive with ctx must watch besides the
// mailbox: nil when ctx is done only once this process has exited (its own
// Context, or one that shares its Done channel). Exit closes the mailbox
// before it closes Done, so the mailbox alone wakes such a receiver, which
// then returns errDead as it would have. p may be nil (a bare mailbox):
// the channel is then ctx's.
func (p *Process) cancelChan(ctx context.Context) <-chan struct{} {
	if p == nil {
		return ctx.Done()
	}
	if c, ok := ctx.(procContext); ok && c.p == p {
		return nil
	}
	d := ctx.Done()
	if own, _ := p.done.Load().(chan struct{}); d != nil && d == own {
		return nil
	}
	return d
}

// deliver puts a message in the mailbox; it reports false when the process
// is dead (the message is dropped, as Erlang drops messages to dead pids).
func (p *Process) deliver(m any) bool {
	if !p.mbox.push(m) {
		return false
	}
	if p.handler != nil {
		p.activate()
	}
	return true
}
