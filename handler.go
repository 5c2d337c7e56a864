package distribute

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/distribute-go/distribute/etf"
)

// Handler handles one message of a process started with SpawnHandler. A
// non-nil error ends the process, with the reason reasonOf gives Spawn's
// functions: the *ExitError's Reason, or {error, Text}. When msg is a
// gen_server call whose caller sent a correlation id, ctx carries it
// (CorrelationID).
type Handler func(ctx context.Context, p *Process, msg any) error

// SpawnHandler starts a process that has no goroutine while its mailbox is
// empty: when messages arrive, a goroutine runs h for each, in order, and
// ends when the mailbox is empty again. An idle handler process costs a
// few hundred bytes, so a node can hold millions of them; a Spawn process
// keeps a goroutine (and its stack) for its whole life. Inside h the
// process may Call and ReceiveMatch as usual: messages that arrive
// meanwhile wait their turn. A panic in h exits the process with reason
// {panic, Text}.
func (n *Node) SpawnHandler(h Handler) (*Process, error) {
	p, err := n.newProcess()
	if err != nil {
		return nil, err
	}
	p.handler = h
	return p, nil
}

// activate runs the handler goroutine if it is not running.
func (p *Process) activate() {
	if !p.running.CompareAndSwap(false, true) {
		return
	}
	n := p.node
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			if reason, stop := p.drain(); stop {
				p.Exit(reason)
				return
			}
			p.running.Store(false)
			// A message that arrived after drain looked, but before running
			// was cleared, found the flag set and started nothing: look again.
			if p.mbox.len() == 0 || !p.running.CompareAndSwap(false, true) {
				return
			}
		}
	}()
}

// drain runs the handler on every queued message. stop is true when the
// process must exit with reason.
func (p *Process) drain() (reason Term, stop bool) {
	ctx := p.Context()
	for {
		m, ok := p.mbox.take(nil)
		if !ok {
			return nil, false
		}
		if err := p.handle(ctx, m); err != nil {
			return reasonOf(err), true
		}
		if !p.Alive() {
			return nil, false
		}
	}
}

func (p *Process) handle(ctx context.Context, m any) (err error) {
	returned := false
	defer func() {
		if r := recover(); r != nil {
			p.node.logger.Error("handler panicked", "pid", p.pid, "panic", r, "stack", string(debug.Stack()))
			err = &ExitError{Reason: etf.Tuple{Atom("panic"), etf.Binary(fmt.Sprint(r))}}
		} else if !returned {
			p.Exit(reasonGoexit) // runtime.Goexit: this goroutine ends here
		}
	}()
	if from, _, ok := ParseCall(m); ok {
		// A call's correlation id reaches the handler's ctx.
		ctx = callContext(ctx, from)
	}
	err = p.handler(ctx, p, m)
	returned = true
	return err
}
