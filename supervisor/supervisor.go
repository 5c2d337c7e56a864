// Package supervisor runs supervision trees as Erlang's supervisor does:
// a supervisor is a process that starts its children in order, links to
// them, traps exits, restarts a child that exits as its strategy and the
// child's restart type say, and stops its children in reverse order when
// it stops. Too many restarts within a period stop the supervisor itself
// (its children first), so a fault climbs the tree instead of looping.
//
// Children are processes (ProcessChild), typed actors (ActorChild) or
// other supervisors (SupervisorChild), all on the supervisor's node:
//
//	sup, err := supervisor.Start(ctx, node, supervisor.Spec{
//		Strategy: supervisor.OneForOne,
//		Children: []supervisor.ChildSpec{
//			supervisor.ProcessChild("worker", work),
//			supervisor.ActorChild("cache", cache),
//		},
//	})
//	if err != nil { ... }
//	defer sup.Stop(ctx)
//
// The package is built on the distribute package's public API only.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
)

// Strategy is how a supervisor restarts its children.
type Strategy int

// The strategies of Erlang's supervisor.
const (
	// OneForOne restarts only the child that exited.
	OneForOne Strategy = 1
	// OneForAll stops the other children (in reverse start order) and
	// starts them all again (in order) when one exits.
	OneForAll Strategy = 2
)

// RestartType says which exits of a child its supervisor restarts.
type RestartType int

// The restart types of Erlang's child specs.
const (
	// Permanent children are always restarted.
	Permanent RestartType = 1
	// Transient children are restarted after an abnormal exit: any reason
	// but normal, shutdown and {shutdown, _}.
	Transient RestartType = 2
	// Temporary children are never restarted (and are forgotten when they
	// exit, or when OneForAll stops them).
	Temporary RestartType = 3
)

// ChildSpec describes one child of a supervisor.
type ChildSpec struct {
	// ID names the child in the supervisor, unique among its children.
	ID string
	// Start starts the child on n and returns its process once it runs.
	// ctx is canceled when the supervisor exits. The supervisor links to
	// the process; it must be a process of n.
	Start func(ctx context.Context, n *distribute.Node) (*distribute.Process, error)
	// Restart is the restart type; zero means Permanent.
	Restart RestartType
	// Shutdown is how long the supervisor waits, after sending the child
	// an exit signal shutdown, before it kills it. Zero means 5 s;
	// negative means kill at once (Erlang's brutal_kill).
	Shutdown time.Duration
}

// DefaultShutdown is the wait for a child to stop when ChildSpec.Shutdown
// is zero, as Erlang's default for workers.
const DefaultShutdown = 5 * time.Second

// ActorChild is the child spec of an actor: each (re)start runs a.Start.
func ActorChild[S, M, R any](id string, a *distribute.Actor[S, M, R]) ChildSpec {
	return ChildSpec{ID: id, Start: func(ctx context.Context, n *distribute.Node) (*distribute.Process, error) {
		h, err := a.Start(ctx, n)
		if err != nil {
			return nil, err
		}
		return h.Process(), nil
	}}
}

// ProcessChild is the child spec of a plain process running fn (see
// distribute.Node.Spawn for how its return becomes the exit reason).
func ProcessChild(id string, fn func(ctx context.Context, p *distribute.Process) error) ChildSpec {
	return ChildSpec{ID: id, Start: func(ctx context.Context, n *distribute.Node) (*distribute.Process, error) {
		return n.Spawn(fn)
	}}
}

// SupervisorChild is the child spec of a supervisor, for supervision
// trees. Its Shutdown is an hour: it stops its own children first.
func SupervisorChild(id string, spec Spec) ChildSpec {
	return ChildSpec{ID: id, Shutdown: time.Hour, Start: func(ctx context.Context, n *distribute.Node) (*distribute.Process, error) {
		s, err := Start(ctx, n, spec)
		if err != nil {
			return nil, err
		}
		return s.Process(), nil
	}}
}

// Spec describes a supervisor.
type Spec struct {
	// Name, if set, registers the supervisor under it.
	Name distribute.Atom
	// Strategy; zero means OneForOne.
	Strategy Strategy
	// MaxRestarts and Period are the restart intensity: more than
	// MaxRestarts restarts within Period stop the supervisor (its
	// children first) with reason ReasonMaxRestarts. Zero MaxRestarts
	// means 1 and zero Period 5 s, Erlang's defaults; a negative
	// MaxRestarts allows no restart at all.
	MaxRestarts int
	Period      time.Duration
	// Children are started in this order and stopped in the reverse.
	Children []ChildSpec
	// Logger receives the supervisor's logs: a child that exited and is
	// restarted (Info), a restart that failed, the restart intensity
	// reached (Error). Default nil: discard.
	Logger *slog.Logger
}

// ReasonMaxRestarts is the exit reason of a supervisor whose children
// restarted more often than its intensity allows:
// {shutdown, reached_max_restart_intensity}.
var ReasonMaxRestarts distribute.Term = etf.Tuple{distribute.ReasonShutdown, etf.Atom("reached_max_restart_intensity")}

// Supervisor is a running supervisor: a process that starts its children,
// links to them, traps exits, restarts children as its strategy says, and
// stops them in reverse order when it stops. An exit signal from any other
// process (its own supervisor's shutdown, say) stops it with that reason.
type Supervisor struct {
	p *distribute.Process
}

// ChildInfo describes a child of a running supervisor.
type ChildInfo struct {
	ID string
	// Pid is the running child, the zero Pid when it is not running (a
	// transient child that exited normally).
	Pid distribute.Pid
}

// Process returns the supervisor's process.
func (s *Supervisor) Process() *distribute.Process { return s.p }

// Pid returns the supervisor's pid.
func (s *Supervisor) Pid() distribute.Pid { return s.p.Pid() }

// Done is closed when the supervisor has exited.
func (s *Supervisor) Done() <-chan struct{} { return s.p.Done() }

// Stop stops the children in reverse start order, then the supervisor with
// reason shutdown; it waits until ctx ends. Stopping a supervisor that has
// exited returns nil.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.p.Send(ctx, s.p.Pid(), supStop{})
	select {
	case <-s.p.Done():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("supervisor: stop %v: %w", s.p.Pid(), ctxError(ctx))
	}
}

// Children returns the supervisor's children in start order.
func (s *Supervisor) Children(ctx context.Context) ([]ChildInfo, error) {
	reply := make(chan []ChildInfo, 1)
	if !s.p.Alive() {
		return nil, fmt.Errorf("supervisor: %v: %w", s.p.Pid(), distribute.ErrNoProc)
	}
	s.p.Send(ctx, s.p.Pid(), supWhich{reply: reply})
	select {
	case c := <-reply:
		return c, nil
	case <-s.p.Done():
		return nil, fmt.Errorf("supervisor: %v: %w", s.p.Pid(), distribute.ErrNoProc)
	case <-ctx.Done():
		return nil, fmt.Errorf("supervisor: %v: %w", s.p.Pid(), ctxError(ctx))
	}
}

// Local requests to a supervisor's mailbox.
type (
	supStop  struct{}
	supWhich struct{ reply chan []ChildInfo }
)

// StartSupervisor starts a supervisor on n and returns once every child has
// started, in order. If a child fails to start, the ones started are
// stopped in reverse order and the error is returned.
func Start(ctx context.Context, n *distribute.Node, spec Spec) (*Supervisor, error) {
	seen := make(map[string]bool, len(spec.Children))
	for _, c := range spec.Children {
		if c.Start == nil {
			return nil, fmt.Errorf("supervisor: child %q has no Start", c.ID)
		}
		if seen[c.ID] {
			return nil, fmt.Errorf("supervisor: child id %q used twice", c.ID)
		}
		seen[c.ID] = true
	}
	s := &supervisor{spec: spec, n: n, log: spec.Logger, intensity: spec.MaxRestarts, period: spec.Period}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case s.intensity == 0:
		s.intensity = 1
	case s.intensity < 0:
		s.intensity = 0
	}
	if s.period <= 0 {
		s.period = 5 * time.Second
	}
	if s.spec.Strategy == 0 {
		s.spec.Strategy = OneForOne
	}
	for _, c := range spec.Children {
		s.children = append(s.children, &supChild{spec: c})
	}
	initDone := make(chan error, 1)
	p, err := n.Spawn(func(ctx context.Context, self *distribute.Process) error {
		s.p = self
		self.TrapExit(true)
		if spec.Name != "" {
			if err := n.Register(spec.Name, self.Pid()); err != nil {
				initDone <- err
				return &distribute.ExitError{Reason: etf.Tuple{etf.Atom("already_started"), etf.Binary(err.Error())}}
			}
		}
		for _, c := range s.children {
			if err := s.startChild(ctx, c); err != nil {
				s.terminateAll(ctx)
				initDone <- fmt.Errorf("supervisor: start child %q: %w", c.spec.ID, err)
				return &distribute.ExitError{Reason: etf.Tuple{distribute.ReasonShutdown, etf.Tuple{etf.Atom("failed_to_start_child"), etf.Binary(c.spec.ID), etf.Binary(err.Error())}}}
			}
		}
		initDone <- nil
		return s.loop(ctx)
	})
	if err != nil {
		return nil, err
	}
	select {
	case err := <-initDone:
		if err != nil {
			<-p.Done()
			return nil, err
		}
		return &Supervisor{p: p}, nil
	case <-p.Done():
		// A start that failed sent its error before the process exited:
		// when both are ready, the select may pick either.
		select {
		case err := <-initDone:
			if err != nil {
				return nil, err
			}
		default:
		}
		return nil, fmt.Errorf("supervisor: exited while starting: %w", &distribute.ExitError{Reason: p.Reason()})
	case <-ctx.Done():
		p.Exit(distribute.ReasonKilled) // its children die through their links
		return nil, fmt.Errorf("supervisor: start: %w", ctxError(ctx))
	}
}

// ctxError is the error of an operation ctx ended: past a deadline it
// wraps distribute.ErrTimeout and context.DeadlineExceeded; canceled, it
// is context.Canceled.
func ctxError(ctx context.Context) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", distribute.ErrTimeout, err)
	}
	return err
}

// supervisor is the state of a running supervisor, owned by its process.
type supervisor struct {
	spec      Spec
	n         *distribute.Node
	p         *distribute.Process
	log       *slog.Logger
	intensity int
	period    time.Duration
	children  []*supChild
	restarts  []time.Time
}

type supChild struct {
	spec ChildSpec
	proc *distribute.Process // nil when not running
}

func (s *supervisor) loop(ctx context.Context) error {
	for {
		m, err := s.p.Receive(ctx)
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case supStop:
			s.terminateAll(ctx)
			return &distribute.ExitError{Reason: distribute.ReasonShutdown}
		case supWhich:
			info := make([]ChildInfo, len(s.children))
			for i, c := range s.children {
				info[i].ID = c.spec.ID
				if c.proc != nil {
					info[i].Pid = c.proc.Pid()
				}
			}
			m.reply <- info
		case distribute.Exit:
			c := s.childOf(m.From)
			if c == nil {
				if m.Reason == distribute.ReasonNormal {
					continue
				}
				// Its own supervisor (or anyone) told it to stop.
				s.terminateAll(ctx)
				return &distribute.ExitError{Reason: m.Reason}
			}
			c.proc = nil
			if err := s.childExited(ctx, c, m.Reason); err != nil {
				return err
			}
		}
	}
}

func (s *supervisor) childOf(pid distribute.Pid) *supChild {
	for _, c := range s.children {
		if c.proc != nil && c.proc.Pid() == pid {
			return c
		}
	}
	return nil
}

// cleanExit reports the reasons a transient child is not restarted for.
func cleanExit(reason distribute.Term) bool {
	if reason == distribute.ReasonNormal || reason == distribute.ReasonShutdown {
		return true
	}
	t, ok := reason.(etf.Tuple)
	return ok && len(t) == 2 && t[0] == distribute.ReasonShutdown
}

// childExited applies the restart strategy to a child that exited; an
// error stops the supervisor.
func (s *supervisor) childExited(ctx context.Context, c *supChild, reason distribute.Term) error {
	restart := c.spec.Restart
	if restart == 0 {
		restart = Permanent
	}
	switch {
	case restart == Temporary:
		s.remove(c)
		return nil
	case restart == Transient && cleanExit(reason):
		return nil
	}
	s.log.Info("supervisor: child exited, restarting", "supervisor", s.p.Pid(), "child", c.spec.ID, "reason", etf.LogValue(reason))
	for {
		if !s.addRestart() {
			s.log.Error("supervisor: reached max restart intensity", "supervisor", s.p.Pid(), "child", c.spec.ID)
			s.terminateAll(ctx)
			return &distribute.ExitError{Reason: ReasonMaxRestarts}
		}
		var err error
		if s.spec.Strategy == OneForAll {
			err = s.restartAll(ctx)
		} else {
			err = s.startChild(ctx, c)
		}
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.Error("supervisor: restart failed", "supervisor", s.p.Pid(), "child", c.spec.ID, "err", err)
	}
}

// addRestart records a restart; false when it exceeds the intensity.
func (s *supervisor) addRestart() bool {
	now := time.Now()
	kept := s.restarts[:0]
	for _, t := range s.restarts {
		if now.Sub(t) < s.period {
			kept = append(kept, t)
		}
	}
	s.restarts = append(kept, now)
	return len(s.restarts) <= s.intensity
}

// restartAll stops every running child in reverse order, forgets the
// temporary ones, and starts the rest in order.
func (s *supervisor) restartAll(ctx context.Context) error {
	for i := len(s.children) - 1; i >= 0; i-- {
		c := s.children[i]
		if c.proc != nil {
			s.terminate(ctx, c)
			if c.spec.Restart == Temporary {
				s.remove(c)
			}
		}
	}
	for _, c := range s.children {
		if c.proc == nil {
			if err := s.startChild(ctx, c); err != nil {
				return fmt.Errorf("start child %q: %w", c.spec.ID, err)
			}
		}
	}
	return nil
}

func (s *supervisor) remove(c *supChild) {
	for i, x := range s.children {
		if x == c {
			s.children = append(s.children[:i], s.children[i+1:]...)
			return
		}
	}
}

// startChild starts c and links to it. A child that exits before the link
// is made is seen as an Exit all the same.
func (s *supervisor) startChild(ctx context.Context, c *supChild) error {
	proc, err := c.spec.Start(ctx, s.n)
	if err != nil {
		return err
	}
	if proc == nil || proc.Node() != s.n {
		return errors.New("supervisor: ChildSpec.Start must return a process of the supervisor's node")
	}
	c.proc = proc
	if err := s.p.Link(ctx, proc.Pid()); err != nil {
		if errors.Is(err, distribute.ErrNoProc) {
			// Already gone: deliver its exit as the link would have.
			s.p.Send(ctx, s.p.Pid(), distribute.Exit{From: proc.Pid(), Reason: proc.Reason()})
			return nil
		}
		return err
	}
	return nil
}

// terminateAll stops the running children in reverse start order.
func (s *supervisor) terminateAll(ctx context.Context) {
	for i := len(s.children) - 1; i >= 0; i-- {
		if c := s.children[i]; c.proc != nil {
			s.terminate(ctx, c)
		}
	}
}

// terminate stops one child as Erlang's supervisor does: monitor, unlink,
// exit signal shutdown (or kill), wait for the Down up to the shutdown
// time, then kill.
func (s *supervisor) terminate(ctx context.Context, c *supChild) {
	pid := c.proc.Pid()
	c.proc = nil
	// The process's own ctx may be canceled when the node stops: signals
	// still go out on the node's context.
	sctx := context.WithoutCancel(ctx)
	ref, _ := s.p.Monitor(sctx, pid)
	s.p.Unlink(sctx, pid)
	// An exit that raced with the unlink is not a crash to act on.
	s.p.TryReceive(func(m any) bool {
		e, ok := m.(distribute.Exit)
		return ok && e.From == pid
	})
	wait := c.spec.Shutdown
	if wait == 0 {
		wait = DefaultShutdown
	}
	isDown := func(m any) bool {
		d, ok := m.(distribute.Down)
		return ok && d.Ref == ref
	}
	if wait > 0 {
		s.p.SendExit(sctx, pid, distribute.ReasonShutdown)
		wctx, cancel := context.WithTimeout(sctx, wait)
		_, err := s.p.ReceiveMatch(wctx, isDown)
		cancel()
		if err == nil || errors.Is(err, distribute.ErrClosed) {
			return
		}
	}
	s.p.Kill(sctx, pid)
	s.p.ReceiveMatch(sctx, isDown)
}
