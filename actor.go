package distribute

import (
	"context"
	"errors"
	"fmt"

	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/etf"
)

// Actor describes a typed server process, the Go counterpart of an Erlang
// gen_server or a gleam_otp actor: state S, messages M, and replies R to
// calls. One Actor value may be started many times (a supervisor restarts
// it from the same description); each start runs Init afresh.
//
// A running actor handles, one at a time and in mailbox order:
//   - a binary message (Subject[M].Send, or a BEAM process sending a
//     binary), and a gen_server cast whose request is a binary: decoded
//     with Msg and given to HandleMessage;
//   - a gen_server call whose request is a binary (Call, or
//     gen_server:call from Erlang): decoded with Msg and given to
//     HandleCall, whose R is encoded with Reply and sent back;
//   - with GleamName set, {GleamName as a binary, Payload}: the message a
//     Gleam distribute actor receives (see package gleam), given to
//     HandleMessage;
//   - OTP's system messages ({system, From, Request}, from sys:get_state,
//     sys:suspend, GenServer.stop and the like): answered as a gen_server
//     answers them (see Process.HandleSystem), with the state as StateTerm
//     renders it; while suspended the actor handles nothing else (a call
//     waits), and Stop still stops it; a terminate request stops it as a
//     handler's error does, with the requested reason;
//   - anything else (Down, Exit when trapping exits, other terms, and a
//     *MessageError for a typed message that did not decode): given to
//     HandleOther, or dropped when it is nil. A call whose request does not
//     decode, or is not a binary, is answered {error, {bad_request, Text}},
//     so its caller gets ErrBadRequest (or, from Erlang, that tuple) at
//     once; HandleOther then gets the *MessageError.
//
// A handler that returns an error stops the actor: Terminate runs, then the
// process exits with the error's reason (an *ExitError's Reason, or
// {error, Text}), which links and monitors see. Return
// &ExitError{Reason: ReasonNormal} to stop normally.
type Actor[S, M, R any] struct {
	// Name, if set, registers the actor under it before Init runs; Start
	// fails (wrapping ErrNameTaken) when the name is in use.
	Name Atom
	// GleamName, if set, also accepts {<<GleamName>>, Payload} messages.
	GleamName string
	// Msg decodes messages and call requests. Required.
	Msg codec.Codec[M]
	// Reply encodes call replies. Required when HandleCall is set.
	Reply codec.Codec[R]

	// Init returns the initial state. Start returns once it has; an error
	// makes Start fail and the process exit with its reason. Nil: the
	// zero S.
	Init func(ctx context.Context, self *Process) (S, error)
	// HandleMessage handles a message. Nil: messages are dropped.
	HandleMessage func(ctx context.Context, self *Process, state S, msg M) (S, error)
	// HandleCall answers a call; ctx carries the caller's correlation id,
	// if it sent one (CorrelationID). Nil: calls are handled as other
	// messages (and their callers wait until their deadline).
	HandleCall func(ctx context.Context, self *Process, state S, req M) (R, S, error)
	// HandleOther handles every other message. Nil: they are dropped.
	HandleOther func(ctx context.Context, self *Process, state S, msg any) (S, error)
	// Terminate runs when the actor stops because a handler returned an
	// error or Stop was called (not when an exit signal kills it: set
	// self.TrapExit(true) in Init to receive those as Exit messages).
	Terminate func(ctx context.Context, self *Process, state S, reason Term)
}

// ActorHandle is a started actor.
type ActorHandle[M, R any] struct {
	p     *Process
	msg   codec.Codec[M]
	reply codec.Codec[R]
}

// Process returns the actor's process.
func (h *ActorHandle[M, R]) Process() *Process { return h.p }

// Pid returns the actor's pid.
func (h *ActorHandle[M, R]) Pid() Pid { return h.p.pid }

// Subject returns the subject to send the actor messages.
func (h *ActorHandle[M, R]) Subject() Subject[M] { return NewSubject(h.p.pid, h.msg) }

// Send sends the actor a message from the process from.
func (h *ActorHandle[M, R]) Send(ctx context.Context, from *Process, msg M) error {
	return h.Subject().Send(ctx, from, msg)
}

// Call calls the actor from the process from, as Call does.
func (h *ActorHandle[M, R]) Call(ctx context.Context, from *Process, req M) (R, error) {
	return Call(ctx, from, h.Subject(), req, h.reply)
}

// Done is closed when the actor has exited.
func (h *ActorHandle[M, R]) Done() <-chan struct{} { return h.p.Done() }

// Stop asks the actor to stop with reason (ReasonNormal if nil) after the
// message it is handling: Terminate runs and the process exits with reason.
// Stop waits for the exit until ctx ends. Stopping an actor that has
// already exited returns nil.
func (h *ActorHandle[M, R]) Stop(ctx context.Context, reason Term) error {
	if reason == nil {
		reason = ReasonNormal
	}
	h.p.deliver(actorStop{reason: reason})
	select {
	case <-h.p.Done():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("distribute: stop actor %v: %w", h.p.pid, ctxError(ctx))
	}
}

// actorStop is the local request Stop delivers to an actor.
type actorStop struct{ reason Term }

// Start starts the actor on n and returns once Init has returned. ctx
// bounds the wait for Init only; the actor runs until it stops, is killed,
// or the node stops.
func (a *Actor[S, M, R]) Start(ctx context.Context, n *Node) (*ActorHandle[M, R], error) {
	if a.Msg == nil {
		return nil, errors.New("distribute: Actor.Msg is nil")
	}
	if a.HandleCall != nil && a.Reply == nil {
		return nil, errors.New("distribute: Actor.HandleCall is set and Actor.Reply is nil")
	}
	var state S
	core := &actorCore{
		name:      a.Name,
		gleamName: a.GleamName,
		init: func(ctx context.Context, self *Process) (err error) {
			if a.Init != nil {
				state, err = a.Init(ctx, self)
			}
			return err
		},
		message: func(ctx context.Context, self *Process, b []byte) (bad *MessageError, err error) {
			v, err := codec.Decode(a.Msg, b)
			if err != nil {
				return &MessageError{Message: etf.Binary(b), Err: err}, nil
			}
			if a.HandleMessage != nil {
				state, err = a.HandleMessage(ctx, self, state, v)
			}
			return nil, err
		},
		other: func(ctx context.Context, self *Process, m any) (err error) {
			if a.HandleOther != nil {
				state, err = a.HandleOther(ctx, self, state, m)
			}
			return err
		},
		terminate: func(ctx context.Context, self *Process, reason Term) {
			if a.Terminate != nil {
				a.Terminate(ctx, self, state, reason)
			}
		},
		state: func() any { return state },
	}
	if a.HandleCall != nil {
		core.call = func(ctx context.Context, self *Process, b []byte) (reply []byte, bad *MessageError, err error) {
			v, err := codec.Decode(a.Msg, b)
			if err != nil {
				return nil, &MessageError{Message: etf.Binary(b), Err: err}, nil
			}
			var r R
			r, state, err = a.HandleCall(ctx, self, state, v)
			if err != nil {
				return nil, nil, err
			}
			reply, err = encodeExact(a.Reply, r)
			if err != nil {
				return nil, nil, &ExitError{Reason: etf.Tuple{atomError, etf.Binary("encode reply: " + err.Error())}}
			}
			return reply, nil, nil
		}
	}
	p, err := core.start(ctx, n)
	if err != nil {
		return nil, err
	}
	return &ActorHandle[M, R]{p: p, msg: a.Msg, reply: a.Reply}, nil
}

// actorCore is the non-generic actor loop; the typed Actor binds its state
// and codecs into these functions.
type actorCore struct {
	name      Atom
	gleamName string
	init      func(ctx context.Context, self *Process) error
	// message handles a typed message's bytes; bad reports bytes that did
	// not decode (the actor goes on), err a handler's error (it stops).
	message func(ctx context.Context, self *Process, b []byte) (bad *MessageError, err error)
	// call answers a call's bytes; nil when the actor takes no calls.
	call      func(ctx context.Context, self *Process, b []byte) (reply []byte, bad *MessageError, err error)
	other     func(ctx context.Context, self *Process, m any) error
	terminate func(ctx context.Context, self *Process, reason Term)
	// state returns the state, for sys:get_state and sys:get_status.
	state func() any
}

// start spawns the actor, registers it and runs init; it returns the
// process once init has returned.
func (c *actorCore) start(ctx context.Context, n *Node) (*Process, error) {
	initDone := make(chan error, 1)
	p, err := n.Spawn(func(pctx context.Context, self *Process) error {
		if err := c.runInit(pctx, self, initDone); err != nil {
			return err
		}
		return c.loop(pctx, self)
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
		return p, nil
	case <-p.Done():
		// Init may have told how it went before the exit: when both
		// are ready, select picks either, and its word wins.
		select {
		case err := <-initDone:
			if err != nil {
				return nil, err
			}
			return p, nil
		default:
		}
		return nil, fmt.Errorf("distribute: actor exited during init: %w", &ExitError{Reason: p.Reason()})
	case <-ctx.Done():
		p.Exit(ReasonKilled)
		return nil, fmt.Errorf("distribute: actor init: %w", ctxError(ctx))
	}
}

// runInit registers the actor and runs init, and tells initDone how it
// went. It is apart from the process function, and stop from loop, so the
// frames an idle actor sits under stay small (see TestIdleProcessStack).
func (c *actorCore) runInit(ctx context.Context, self *Process, initDone chan<- error) error {
	if c.name != "" {
		if err := self.node.Register(c.name, self.pid); err != nil {
			initDone <- err
			return &ExitError{Reason: etf.Tuple{Atom("already_started"), etf.Binary(err.Error())}}
		}
	}
	if err := c.init(ctx, self); err != nil {
		initDone <- fmt.Errorf("distribute: actor init: %w", err)
		return err
	}
	initDone <- nil
	return nil
}

// loop receives and dispatches until a handler fails or a stop arrives.
func (c *actorCore) loop(ctx context.Context, self *Process) error {
	var gleamTag etf.Binary
	if c.gleamName != "" {
		gleamTag = etf.Binary(c.gleamName)
	}
	for {
		m, err := self.Receive(ctx)
		if err != nil {
			return err // the process is exiting already
		}
		if err := c.handle(ctx, self, m, gleamTag); err != nil {
			var rf *receiveFailed
			if errors.As(err, &rf) {
				return rf.err // exiting while suspended: no Terminate
			}
			return c.stop(ctx, self, err)
		}
	}
}

// stop runs terminate for the error a handler returned (or a Stop) and
// returns the process's exit.
func (c *actorCore) stop(ctx context.Context, self *Process, err error) error {
	reason := reasonOf(err)
	var stop *actorStopped
	if errors.As(err, &stop) {
		reason = stop.reason
	}
	c.terminate(ctx, self, reason)
	return &ExitError{Reason: reason}
}

// actorStopped carries a Stop's reason out of handle.
type actorStopped struct{ reason Term }

func (e *actorStopped) Error() string { return "distribute: actor stopped" }

// handle dispatches one message.
func (c *actorCore) handle(ctx context.Context, self *Process, m any, gleamTag etf.Binary) error {
	switch v := m.(type) {
	case etf.Binary:
		return c.typed(ctx, self, v)
	case actorStop:
		return &actorStopped{reason: v.reason}
	case etf.Tuple:
		if from, req, ok := ParseSystem(v); ok {
			return self.handleSystem(ctx, from, req, sysServer{state: c.state, wake: wakeOnStop})
		}
		if from, req, ok := ParseCall(v); ok && c.call != nil {
			b, ok := req.(etf.Binary)
			if !ok {
				// Not a typed request: answered at once, as one that does
				// not decode, so the caller does not wait out its timeout.
				bad := &MessageError{Message: v, Err: etf.ErrNotBinary}
				self.Reply(ctx, from, badRequestReply(bad.Err))
				return c.other(ctx, self, bad)
			}
			ctx := callContext(ctx, from)
			reply, bad, err := c.call(ctx, self, b)
			switch {
			case bad != nil:
				// A failed reply (the caller's node is gone) is dropped,
				// as gen_server drops it; the actor goes on.
				self.Reply(ctx, from, badRequestReply(bad.Err))
				return c.other(ctx, self, bad)
			case err != nil:
				return err
			}
			self.Reply(ctx, from, etf.Binary(reply))
			return nil
		}
		if req, ok := ParseCast(v); ok {
			if b, ok := req.(etf.Binary); ok {
				return c.typed(ctx, self, b)
			}
		}
		if gleamTag != nil && len(v) == 2 {
			if b, ok := binaryOf(v, gleamTag); ok {
				return c.typed(ctx, self, b)
			}
		}
	}
	return c.other(ctx, self, m)
}

// wakeOnStop ends a suspended actor's wait for system messages on a Stop.
func wakeOnStop(m any) (bool, error) {
	if v, ok := m.(actorStop); ok {
		return true, &actorStopped{reason: v.reason}
	}
	return false, nil
}

// typed handles a typed message; one that does not decode goes to other.
func (c *actorCore) typed(ctx context.Context, self *Process, b []byte) error {
	bad, err := c.message(ctx, self, b)
	if bad != nil {
		return c.other(ctx, self, bad)
	}
	return err
}
