package dist

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults for ConnConfig.
const (
	// DefaultTickTime is Erlang's net_ticktime default.
	DefaultTickTime = 60 * time.Second
	// DefaultSendBuffer is Erlang's dist_buf_busy_limit default (1 MiB).
	DefaultSendBuffer = 1 << 20
	// tickIntensity is Erlang's net_tickintensity default: ticks go out every
	// TickTime/4 and a peer silent for 4 intervals is dropped.
	tickIntensity = 4
)

// ErrClosed is the reason of a connection closed by Close or Abort(nil).
// Sends on any closed connection return an error that wraps net.ErrClosed
// and the reason.
var ErrClosed = errors.New("dist: connection closed locally")

// ErrPeerClosed is the reason when the peer closed the connection between
// frames (EOF). It wraps io.EOF.
var ErrPeerClosed = fmt.Errorf("dist: connection closed by peer: %w", io.EOF)

// ConnConfig configures a Conn. Every zero value has a default.
type ConnConfig struct {
	// TickTime is net_ticktime. A tick (an empty frame) is written when
	// nothing was written during an interval of TickTime/4; the connection
	// fails with ErrTickTimeout when nothing was received during 4
	// consecutive intervals (so after TickTime to TickTime*5/4 of silence),
	// or when a write blocks for TickTime. Zero means DefaultTickTime (60 s).
	// All nodes of a cluster should use the same value.
	TickTime time.Duration
	// MaxFrame bounds a received frame in bytes; a larger one fails the
	// connection with a *FrameTooLargeError. Zero means DefaultMaxFrame.
	MaxFrame int
	// SendBuffer bounds the bytes queued by Send and not yet taken by the
	// writer (one more batch may be in the kernel call). Send waits while
	// the queue is over the limit, like a busy Erlang dist port; a single
	// frame larger than the limit is accepted when the queue is empty.
	// Zero means DefaultSendBuffer (1 MiB).
	SendBuffer int
	// ReadSpin: when a read finds no data, the reader polls the socket
	// for this long (yielding to other goroutines between polls) before it
	// sleeps until the socket is readable, as BEAM schedulers busy-wait.
	// On request/response traffic the answer then usually lands while the
	// reader still runs, without a thread wake-up. Costs up to ReadSpin of
	// CPU after each burst of traffic. While it polls, the reader raises
	// the socket's receive low-water mark (see quietLowat). Zero: no
	// polling. Ignored on TLS.
	ReadSpin time.Duration
	// ReadCoalesce: when the connection is only receiving (several reads
	// in a row with data and nothing sent between them, the last within a
	// millisecond: a one-way stream in) and a read finds the socket empty,
	// the reader sleeps this long once before it waits on the socket. The
	// stream's next messages then arrive in one read instead of each
	// waking the reader's thread, which on a VM costs the sender more than
	// the message itself. Adds up to ReadCoalesce of latency to a message
	// that arrives during the sleep; a sleep that gathers little pauses
	// the sleeps (sparse traffic). Zero: no sleep; at most
	// MaxReadCoalesce. Ignored on TLS.
	ReadCoalesce time.Duration
	// SignalReserve is how far beyond SendBuffer Signal may fill the send
	// queue without waiting, so that the replies and signals a node owes
	// its peer (see Signal) do not wait behind a full buffer. Zero means
	// as much as SendBuffer; negative, none.
	SignalReserve int
	// Handler receives every data frame (ticks are not passed) on the
	// reader goroutine, or on the goroutine leading the reads (Lead), one
	// call at a time, in order. The frame is owned by the Conn and is
	// valid only until Handler returns: copy what you keep. A non-nil
	// error closes the connection with that error as its reason. Handler
	// must not call Close (it would wait for itself); it may call Abort and
	// Send. Nil discards frames.
	//
	// On a leader's goroutine (Led reports true) Handler must not wait:
	// for a frame whose handling may wait it keeps what it parsed and
	// returns ErrHandBack; the lead then ends and the reader goroutine
	// calls Resume before it reads the next frame.
	Handler func(frame []byte) error
	// Resume finishes, on the reader goroutine, the frame a Handler
	// handed back (ErrHandBack). A non-nil error closes the connection.
	Resume func() error

	// lease overrides leaseFor (tests); negative: no lease.
	lease time.Duration
}

// ErrHandBack is returned by a Handler running on a leader's goroutine
// (Conn.Led) for a frame it must not handle there: the connection's
// reader goroutine finishes it (ConnConfig.Resume) before the next frame.
var ErrHandBack = errors.New("dist: frame handed back to the reader goroutine")

// MaxReadCoalesce bounds ConnConfig.ReadCoalesce: the sleep delays
// messages and a Close that comes during it.
const MaxReadCoalesce = 10 * time.Millisecond

func (c *ConnConfig) withDefaults() (ConnConfig, error) {
	out := *c
	if out.TickTime == 0 {
		out.TickTime = DefaultTickTime
	}
	if out.MaxFrame == 0 {
		out.MaxFrame = DefaultMaxFrame
	}
	if out.SendBuffer == 0 {
		out.SendBuffer = DefaultSendBuffer
	}
	switch {
	case out.SignalReserve == 0:
		out.SignalReserve = out.SendBuffer
	case out.SignalReserve < 0:
		out.SignalReserve = 0
	}
	if out.lease == 0 {
		out.lease = leaseFor
	}
	if out.TickTime < 4*time.Millisecond || out.MaxFrame < 0 || out.SendBuffer < 0 || out.ReadSpin < 0 || out.ReadCoalesce < 0 || out.ReadCoalesce > MaxReadCoalesce {
		return out, fmt.Errorf("%w: TickTime %v, MaxFrame %d, SendBuffer %d, ReadSpin %v, ReadCoalesce %v", ErrConfig, out.TickTime, out.MaxFrame, out.SendBuffer, out.ReadSpin, out.ReadCoalesce)
	}
	return out, nil
}

// Stats are a connection's counters. Frames and bytes out count what Send
// queued; bytes include the 4-byte length prefixes; ticks are counted apart.
type Stats struct {
	FramesIn, FramesOut uint64
	BytesIn, BytesOut   uint64
	TicksIn, TicksOut   uint64
	// FramesLed counts the frames of FramesIn read by a leader (Lead)
	// rather than the connection's reader goroutine.
	FramesLed uint64
	// RoleMoves counts the reader role's moves between the connection's
	// reader goroutine and the leaders (each costs a goroutine wake-up);
	// a leader taking the role over from another within the lease is
	// not one.
	RoleMoves uint64
	// HandedBack counts the frames a leader handed back to the reader
	// goroutine (see ErrHandBack).
	HandedBack uint64
}

// Conn is an established distribution connection: one reader goroutine
// delivering frames to the handler and one writer goroutine that batches
// queued frames into as few writes as possible and sends ticks.
type Conn struct {
	nc   net.Conn
	peer Peer
	cfg  ConnConfig
	fr   *FrameReader

	mu      sync.Mutex // protects pending, space, err, queued, written, flushed, closing
	pending []byte     // framed bytes queued by Send
	space   chan struct{}
	queued  uint64        // bytes ever appended to pending
	written uint64        // bytes ever written to the socket
	flushed chan struct{} // closed when written advances or a write ends
	// closing: Shutdown has begun; sends are refused and the writer
	// starts no tick.
	closing bool
	// writing is true while one goroutine (the writer, or a sender writing
	// inline) writes to the socket; scratch is the inline writer's buffer.
	writing  bool
	scratch  []byte
	lastSend time.Time
	// deferred: pending holds only Defer'd frames, for which the writer was
	// not woken; deferTimer wakes it after DeferDelay.
	deferred   bool
	deferTimer *time.Timer
	// inline allows inline writes: not on TLS, where a write that times
	// out breaks the connection.
	inline bool
	// raw is the socket of a plain TCP connection: inline writes use it,
	// and reads when spin is set (ConnConfig.ReadSpin, ReadCoalesce).
	raw  syscall.RawConn
	spin bool
	// wr is an inline write's state (see sendInline; the writing sender's).
	wr struct {
		fn  func(fd uintptr) bool
		buf []byte
		n   int
		err error
	}
	rd struct { // spinRead's state (reader goroutine only)
		fn     func(fd uintptr) bool
		buf    []byte
		n      int
		err    error
		quiet  bool // the low-water mark is raised (raiseMark)
		start  time.Time
		lastIn time.Time // the last read that returned data
		outAt  int64     // lastOut at the previous read that returned data
		streak int       // reads with data in a row with no Send between them
		naps   int       // ReadCoalesce sleeps taken (for tests)
		// judge: a ReadCoalesce sleep was taken and no read with data has
		// followed yet (so this dry spell sleeps no more); that read
		// shows what the sleep gathered.
		judge bool
		// After a sleep that gathered little (sparse traffic, where it only
		// adds latency) sleeps stop until napOff; the pause doubles with
		// each such sleep and resets after one that gathered a stream.
		napOff   time.Time
		napPause time.Duration
		intr     uint64 // c.intr when the read began
	}
	lastOut atomic.Int64 // unix nanoseconds of the last Send, for spinRead
	err     error

	wake    chan struct{} // capacity 1: pending became non-empty
	quit    chan struct{} // closed by fail
	done    chan struct{} // closed when both goroutines have returned
	running atomic.Int32
	seen    atomic.Bool // something was read in the current tick interval
	// inlineWrote tells the tick logic that a sender wrote inline.
	inlineWrote atomic.Bool

	framesIn, framesOut atomic.Uint64
	bytesIn, bytesOut   atomic.Uint64
	ticksIn, ticksOut   atomic.Uint64
	framesLed           atomic.Uint64
	roleMoves           atomic.Uint64
	handedBack          atomic.Uint64

	// The reader role (see Lead): readLoop holds it unless a leader does.
	// lead is leadNone, leadWant (a leader asked; readLoop steps back at
	// its next chance), leadHeld (a leader reads) or leadLeased (the last
	// leader stopped; any leader may take the role over at no cost until
	// the lease timer gives it back). toLeader carries the role from
	// readLoop to the leader, toLoop back.
	leadable bool // plain TCP: reads may be interrupted by a deadline
	lead     atomic.Int32
	toLeader chan struct{}
	toLoop   chan struct{}
	lease    *time.Timer // returns a leased role to readLoop (leaseTimer)
	// leaseAt is when the last lead ended (time since epoch); leaseArmed
	// is set while the lease timer is pending or running. A lead renews
	// the lease by storing leaseAt only; the timer, when it fires early,
	// re-arms itself for what is left (see leaseTimer).
	leaseAt    atomic.Int64
	leaseArmed atomic.Bool
	epoch      time.Time
	// led is true while a leader runs the Handler (see Led); resume is
	// set by a leader that handed a frame back, for readLoop. Both are
	// the role holder's.
	led, resume bool
	// intr counts interrupts: a spinning read stops polling when it
	// changes. interruptFn is interrupt as a func value, made once.
	intr        atomic.Uint64
	interruptFn func()
	// quietEnds counts the parks that lowered the low-water mark (see
	// toPoller; for tests).
	quietEnds atomic.Uint64
	// leaseArms counts the lease timer's starts (for tests).
	leaseArms atomic.Uint64
}

// Reader role states (Conn.lead).
const (
	leadNone = iota
	leadWant
	leadHeld
	leadLeased
)

// NewConn takes over nc after a successful Accept or Dial (peer and
// leftover are what they returned) and starts the reader and writer
// goroutines. Close ends them.
func NewConn(nc net.Conn, peer *Peer, leftover []byte, cfg ConnConfig) (*Conn, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Conn{
		nc:   nc,
		cfg:  cfg,
		wake: make(chan struct{}, 1),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	if peer != nil {
		c.peer = *peer
	}
	_, isTLS := nc.(*tls.Conn)
	c.inline = !isTLS
	_, c.leadable = nc.(*net.TCPConn)
	c.toLeader = make(chan struct{}, 1)
	c.toLoop = make(chan struct{}, 1)
	c.epoch = time.Now()
	c.lease = time.AfterFunc(time.Hour, c.leaseTimer)
	c.lease.Stop()
	c.interruptFn = c.interrupt
	if tc, ok := nc.(*net.TCPConn); ok {
		if raw, err := tc.SyscallConn(); err == nil {
			c.raw = raw
			c.rd.fn = c.spinOnce
			c.wr.fn = c.writeSome
			c.spin = cfg.ReadSpin > 0 || cfg.ReadCoalesce > 0
		}
	}
	c.deferTimer = time.AfterFunc(time.Hour, c.deferTimeout)
	c.deferTimer.Stop()
	c.fr = NewFrameReader(seenReader{c}, leftover, cfg.MaxFrame)
	c.seen.Store(true)
	c.running.Store(2)
	go c.readLoop()
	go c.writeLoop()
	return c, nil
}

// spinWindow: the reader polls only when this connection both sent and
// received something this recently: request/response traffic, where an
// answer is likely on its way. A one-way stream, in or out, is read
// without polling, leaving the CPU to the sender.
const spinWindow = time.Millisecond

// coalesceStreak: the reader coalesces (ConnConfig.ReadCoalesce) only
// after this many reads in a row with data and no Send between them: a
// stream in. A connection that answers what it reads (a ping-pong, calls)
// resets the streak on each answer, so its latency never pays the sleep
// (which the runtime's timers round up to about a millisecond when the
// process is otherwise idle). One-way traffic too sparse to batch (events,
// group joins) pays it rarely: see judgeNap.
const coalesceStreak = 4

// spinRead is Read on the raw socket that polls for ReadSpin before it
// parks the goroutine (see ConnConfig.ReadSpin). Its state lives in the
// Conn (the reader goroutine is its only user), so that a read does not
// allocate.
func (c *Conn) spinRead(p []byte) (int, error) {
	c.rd.buf, c.rd.n, c.rd.err, c.rd.start = p, 0, nil, time.Now()
	c.rd.intr = c.intr.Load()
	err := c.raw.Read(c.rd.fn)
	n, rerr := c.rd.n, c.rd.err
	c.rd.buf = nil
	switch {
	case err != nil:
		return 0, err // deadline or closed: from the runtime's poller
	case rerr != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", rerr)}
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// spinOnce is the raw read function of spinRead: it reads, and on EAGAIN
// polls again while within ReadSpin of the start and the connection sent
// and received something within spinWindow (request/response traffic);
// on a one-way stream in (coalesceStreak), it sleeps ReadCoalesce once
// and reads again; otherwise it lets the runtime park the reader until
// the socket is readable.
func (c *Conn) spinOnce(fd uintptr) bool {
	for {
		c.readOnce(fd)
		switch {
		case c.rd.err == syscall.EAGAIN:
			now := time.Now()
			if c.intr.Load() != c.rd.intr || c.lead.Load() == leadWant {
				// Interrupted (see Lead): to the poller, which sees the
				// deadline.
				c.rd.start = now
				return c.toPoller(fd)
			}
			receiving := now.Sub(c.rd.lastIn) < spinWindow
			sending := now.UnixNano()-c.lastOut.Load() < int64(spinWindow)
			if receiving && sending && now.Sub(c.rd.start) < c.cfg.ReadSpin {
				c.raiseMark(fd)
				runtime.Gosched()
				continue
			}
			if receiving && c.rd.streak >= coalesceStreak && !c.rd.judge && c.cfg.ReadCoalesce > 0 && !now.Before(c.rd.napOff) {
				c.lowerMark(fd) // a stream in: not polling any more
				c.rd.judge = true
				c.rd.naps++
				time.Sleep(c.cfg.ReadCoalesce)
				continue
			}
			c.rd.start = now // the next wake-up may poll again
			return c.toPoller(fd)
		}
		if c.rd.n > 0 {
			c.gotData()
			if c.rd.quiet && c.rd.lastIn.UnixNano()-c.lastOut.Load() >= int64(spinWindow) {
				// Nothing sent lately: this is no longer request/response
				// traffic, and the next dry spell will not poll.
				c.lowerMark(fd)
			}
		}
		return true
	}
}

// readOnce reads the socket into the reader's buffer once (again after
// EINTR).
func (c *Conn) readOnce(fd uintptr) {
	for {
		c.rd.n, c.rd.err = RawRead(fd, c.rd.buf)
		if c.rd.err != syscall.EINTR {
			return
		}
	}
}

// gotData updates the reader's traffic state after a read with data.
func (c *Conn) gotData() {
	c.rd.lastIn = time.Now()
	if c.rd.judge {
		c.judgeNap()
	}
	if out := c.lastOut.Load(); out != c.rd.outAt {
		c.rd.outAt, c.rd.streak = out, 0
	} else {
		c.rd.streak++
	}
}

// quietLowat is the receive low-water mark while a reader polls the
// socket: smaller arrivals (any request or answer) do not make the kernel
// signal the runtime's poller. Without it, each message that lands while
// its reader polls still wakes a runtime thread asleep in epoll_wait for
// nothing (the frame is already taken), and on a machine with few CPUs
// that thread takes the CPU from a reader or a sender: it was the largest
// part of a ping-pong's 99th percentile (see BenchmarkPingPong).
// Larger than a typical frame, and small enough that raising it never
// changes the socket's receive buffer (Linux grows the buffer to hold
// twice the mark).
const quietLowat = 16 << 10

// raiseMark raises the low-water mark while the reader polls (once per
// dry spell).
func (c *Conn) raiseMark(fd uintptr) {
	if !c.rd.quiet && setRcvLowat(fd, quietLowat) == nil {
		c.rd.quiet = true
	}
}

// lowerMark restores the low-water mark of one byte, if raised, when the
// reader stops polling: before it parks, so that the next arrival wakes
// it, and when a stream comes in, because while a mark is unmet Linux
// acknowledges each segment at once, which slows a stream's sender. It
// reports whether the mark was raised.
func (c *Conn) lowerMark(fd uintptr) bool {
	if !c.rd.quiet {
		return false
	}
	c.rd.quiet = false
	setRcvLowat(fd, 1)
	return true
}

// toPoller lets the runtime park the reader (it returns false) after it
// lowers the low-water mark, and reads once more for what came while the
// mark was raised, which signalled nothing: true, with that read's
// result, unless it found the socket empty.
func (c *Conn) toPoller(fd uintptr) bool {
	if !c.lowerMark(fd) {
		return false
	}
	c.quietEnds.Add(1)
	c.readOnce(fd)
	if c.rd.err == syscall.EAGAIN {
		return false
	}
	if c.rd.n > 0 {
		c.gotData()
	}
	return true
}

// judgeNap runs on the first read with data after a ReadCoalesce sleep:
// if the sleep gathered less than coalesceGain bytes, the traffic is too
// sparse to batch, and sleeps pause (1 ms, doubling to 1 s).
func (c *Conn) judgeNap() {
	c.rd.judge = false
	if c.rd.n >= coalesceGain {
		c.rd.napPause = 0
		return
	}
	c.rd.napPause = min(max(2*c.rd.napPause, time.Millisecond), time.Second)
	c.rd.napOff = c.rd.lastIn.Add(c.rd.napPause)
}

// coalesceGain: a ReadCoalesce sleep pays off when the read after it
// returns at least this much (dozens of small messages).
const coalesceGain = 1 << 10

// seenReader marks the current tick interval as "heard from the peer".
type seenReader struct{ c *Conn }

func (r seenReader) Read(p []byte) (int, error) {
	var n int
	var err error
	if r.c.spin {
		n, err = r.c.spinRead(p)
	} else {
		n, err = r.c.nc.Read(p)
	}
	if n > 0 {
		raceAcquireIO()
		r.c.seen.Store(true)
		r.c.bytesIn.Add(uint64(n))
	}
	return n, err
}

// SentWithin reports whether something was sent on the connection in
// the last d: a process that waits right after a send likely waits for
// the answer.
func (c *Conn) SentWithin(d time.Duration) bool {
	return time.Now().UnixNano()-c.lastOut.Load() < int64(d)
}

// Peer returns the peer description from the handshake.
func (c *Conn) Peer() Peer { return c.peer }

// Done is closed when the connection has failed or was closed and both
// goroutines have returned.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended (nil while it is up): ErrClosed,
// ErrPeerClosed, ErrTickTimeout, a *FrameTooLargeError, the Handler's
// error, or a read/write error.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Stats returns a snapshot of the counters.
func (c *Conn) Stats() Stats {
	return Stats{
		FramesIn: c.framesIn.Load(), FramesOut: c.framesOut.Load(),
		BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load(),
		TicksIn: c.ticksIn.Load(), TicksOut: c.ticksOut.Load(),
		FramesLed: c.framesLed.Load(), RoleMoves: c.roleMoves.Load(), HandedBack: c.handedBack.Load(),
	}
}

// Send queues frame payloads (e.g. 112, 131, ctrl..., 131, msg...), in
// order and together (a monitor and the call it guards go out in one
// write); the 4-byte lengths are added here. The bytes are copied before
// Send returns, so the caller may reuse them. Send waits while the send
// buffer is full, until there is room, ctx is done, or the connection
// ends. Frames from one goroutine go out in Send order. An empty frame is
// a tick.
func (c *Conn) Send(ctx context.Context, frames ...[]byte) error {
	return c.send(ctx, sendNow, frames)
}

// Queue is Send that never writes from the calling goroutine: the writer
// goroutine sends the frames, and the caller does not wait for the
// socket.
func (c *Conn) Queue(ctx context.Context, frames ...[]byte) error {
	return c.send(ctx, sendQueue, frames)
}

// Defer is Queue for frames nobody waits for (a demonitor after a call):
// they go out with the next Send's write, or after DeferDelay when no Send
// comes first. Order is kept: frames sent later go out after them. On
// request/response traffic this saves a write and a writer wake-up per
// deferred frame.
func (c *Conn) Defer(ctx context.Context, frames ...[]byte) error {
	return c.send(ctx, sendDefer, frames)
}

// DeferDelay bounds how long a deferred frame waits for a Send to carry it.
const DeferDelay = 500 * time.Microsecond

// Signal is Send for the frames a node owes its peer and must never drop
// nor reorder: replies to the peer's control messages (a noproc EXIT for
// a LINK to a dead process, a DOWN for a MONITOR_P, an UNLINK_ID_ACK) and
// the exit signals and DOWNs of local processes. It does not wait while
// the send buffer is full: it may fill the queue up to SignalReserve bytes
// beyond SendBuffer, so the reader goroutine answering the peer's frames,
// and an exiting process, go on without a goroutine per frame. Past that
// (a peer that asks for more than it reads) Signal waits for room, until
// ctx ends or the queue has stayed that full for TickTime; then the
// connection fails with ErrTickTimeout. So a connection holds at most
// about 2 × (SendBuffer + SignalReserve) bytes: its queue and the batch
// being written.
func (c *Conn) Signal(ctx context.Context, frames ...[]byte) error {
	return c.send(ctx, sendNow|sendSignal, frames)
}

// send modes: one of sendNow, sendQueue and sendDefer, with sendSignal
// or not.
const (
	sendNow    = 0 // inline when the connection is idle, else queued
	sendQueue  = 1 // for the writer
	sendDefer  = 2 // for the next write, or the writer after DeferDelay
	sendSignal = 4 // may use SignalReserve; a stall of TickTime fails the connection
)

func (c *Conn) send(ctx context.Context, mode int, frames [][]byte) error {
	need := 0
	for _, frame := range frames {
		if uint64(len(frame)) > math.MaxUint32 {
			return fmt.Errorf("%w: cannot send %d bytes", ErrFrameTooLarge, len(frame))
		}
		need += 4 + len(frame)
	}
	limit := c.cfg.SendBuffer
	signal := mode&sendSignal != 0
	if signal {
		limit += c.cfg.SignalReserve
		mode &^= sendSignal
	}
	var stalled *time.Timer
	c.mu.Lock()
	for {
		if c.err != nil || c.closing {
			err := c.err
			if err == nil {
				err = ErrClosed
			}
			c.mu.Unlock()
			stopTimer(stalled)
			return fmt.Errorf("dist: send: %w (%w)", net.ErrClosed, err)
		}
		if len(c.pending) == 0 || len(c.pending)+need <= limit {
			break
		}
		if c.space == nil {
			c.space = make(chan struct{})
		}
		space := c.space
		c.mu.Unlock()
		var stall <-chan time.Time
		if signal {
			if stalled == nil {
				stalled = time.NewTimer(c.cfg.TickTime)
			}
			stall = stalled.C
		}
		select {
		case <-space:
			// The queue was taken: the peer reads. What counts is a
			// queue that stays full, not how long this Signal waited in
			// all behind others that took the room first.
			stopTimer(stalled)
			stalled = nil
		case <-ctx.Done():
			stopTimer(stalled)
			return ctx.Err()
		case <-stall:
			err := fmt.Errorf("%w: %s reads less than it asks for: its send queue stayed full for %v", ErrTickTimeout, c.peer.Name, c.cfg.TickTime)
			c.fail(err)
			return fmt.Errorf("dist: send: %w (%w)", net.ErrClosed, err)
		}
		c.mu.Lock()
	}
	stopTimer(stalled)
	now := time.Now()
	c.lastOut.Store(now.UnixNano())
	if mode == sendNow && c.inline && (len(c.pending) == 0 || c.deferred) && !c.writing && now.Sub(c.lastSend) > inlineGap {
		c.lastSend = now
		return c.sendInline(frames, need)
	}
	wasEmpty := len(c.pending) == 0
	c.pending = appendFrames(c.pending, frames)
	c.queued += uint64(need)
	wake := false
	if mode == sendDefer {
		// Not a send for the inline gap: the next Send may still go inline
		// and carry these frames.
		if wasEmpty {
			c.deferred = true
			c.deferTimer.Reset(DeferDelay)
		}
	} else {
		c.lastSend = now
		wake = wasEmpty || c.deferred
		c.deferred = false
	}
	c.mu.Unlock()
	c.countOut(frames, need)
	if wake {
		c.wakeWriter()
	}
	return nil
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

func (c *Conn) wakeWriter() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// deferTimeout hands deferred frames that no Send carried to the writer.
func (c *Conn) deferTimeout() {
	c.mu.Lock()
	wake := c.deferred
	c.deferred = false
	c.mu.Unlock()
	if wake {
		c.wakeWriter()
	}
}

// inlineGap: a Send that finds the connection idle, and no other Send in
// this long, writes its frame itself instead of waking the writer
// goroutine. That saves a goroutine hand-off (a thread wake-up on an idle
// machine) on request/response traffic, while a stream of sends still
// goes through the writer and its batching.
const inlineGap = 10 * time.Microsecond

// inlineWriteTimeout bounds an inline write where the socket cannot be
// written without waiting (TLS aside, a connection that is not TCP); the
// rest is queued.
const inlineWriteTimeout = 200 * time.Microsecond

// sendInline writes frames from the sending goroutine, after the deferred
// frames waiting in pending. c.mu is held on entry and released on return.
func (c *Conn) sendInline(frames [][]byte, need int) error {
	c.writing = true
	c.scratch = appendFrames(append(c.scratch[:0], c.pending...), frames)
	c.pending = c.pending[:0]
	c.deferred = false
	if c.space != nil {
		close(c.space)
		c.space = nil
	}
	c.queued += uint64(need)
	buf := c.scratch
	c.mu.Unlock()
	// A sender must not sit in a write the peer is not draining (Send
	// waits are ctx-aware only in the queue): it writes what the socket
	// takes now, and the rest goes to the front of the queue for the
	// writer.
	n, err := c.writeNow(buf)
	c.mu.Lock()
	c.writing = false
	if err == nil {
		if rest := buf[n:]; len(rest) > 0 {
			q := make([]byte, 0, len(rest)+len(c.pending))
			c.pending = append(append(q, rest...), c.pending...)
		}
		c.written += uint64(n)
		if c.flushed != nil {
			close(c.flushed)
			c.flushed = nil
		}
	}
	if cap(c.scratch) > 64<<10 {
		c.scratch = nil
	}
	more := len(c.pending) > 0
	c.mu.Unlock()
	if err != nil {
		c.fail(err)
		return fmt.Errorf("dist: send: %w", err)
	}
	c.countOut(frames, need)
	c.inlineWrote.Store(true)
	if more {
		// Others queued while we wrote: the writer takes it from here.
		c.wakeWriter()
	}
	return nil
}

// writeNow writes what the socket takes of b without waiting: n <
// len(b), with no error, when it took no more. On TCP that is
// non-blocking writes, which arm no timer: a write deadline per Send
// would reset a runtime timer per message, and each Reset that makes it
// the earliest timer wakes a thread. Elsewhere, a short deadline.
func (c *Conn) writeNow(b []byte) (n int, err error) {
	raceReleaseIO()
	if c.raw == nil {
		if err = c.nc.SetWriteDeadline(time.Now().Add(inlineWriteTimeout)); err == nil {
			n, err = c.nc.Write(b)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = nil
		}
		return n, err
	}
	c.wr.buf, c.wr.n, c.wr.err = b, 0, nil
	err = c.raw.Write(c.wr.fn)
	n, werr := c.wr.n, c.wr.err
	c.wr.buf = nil
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The writer goroutine's write deadline stays on the socket, and
		// once it has passed the runtime refuses this write before it
		// starts: the writer takes the bytes, with a deadline of its own.
		return 0, nil
	case err != nil:
		return n, err // closed
	case werr == syscall.EAGAIN:
		return n, nil
	case werr != nil:
		return n, &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", werr)}
	}
	return n, nil
}

// writeSome is writeNow's raw write function: it writes until the socket
// takes no more (EAGAIN) or all is written, and never waits.
func (c *Conn) writeSome(fd uintptr) bool {
	for c.wr.n < len(c.wr.buf) {
		m, err := RawWrite(fd, c.wr.buf[c.wr.n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			c.wr.err = err
			break
		}
		c.wr.n += m
	}
	return true
}

// appendFrames appends each frame with its 4-byte length.
func appendFrames(dst []byte, frames [][]byte) []byte {
	for _, f := range frames {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(f)))
		dst = append(dst, f...)
	}
	return dst
}

// countOut updates the counters for frames sent (need bytes in all).
func (c *Conn) countOut(frames [][]byte, need int) {
	for _, f := range frames {
		if len(f) == 0 {
			c.ticksOut.Add(1)
		} else {
			c.framesOut.Add(1)
		}
	}
	c.bytesOut.Add(uint64(need))
}

// Flush waits until every frame queued by Send before the call has been
// written to the socket, ctx ends, or the connection fails.
func (c *Conn) Flush(ctx context.Context) error {
	return c.flush(ctx, false)
}

// flush is Flush; idle also waits until no write is under way (a tick).
func (c *Conn) flush(ctx context.Context, idle bool) error {
	c.mu.Lock()
	if c.deferred {
		c.deferred = false
		c.mu.Unlock()
		c.wakeWriter()
		c.mu.Lock()
	}
	target := c.queued
	for c.written < target || (idle && c.writing) {
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return fmt.Errorf("dist: flush: %w (%w)", net.ErrClosed, err)
		}
		if c.flushed == nil {
			c.flushed = make(chan struct{})
		}
		ch := c.flushed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-c.quit:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
	}
	c.mu.Unlock()
	return nil
}

// Shutdown closes the connection in order, for a graceful stop: sends
// are refused from now on, what was queued is written, the write side is
// closed (a TCP FIN; on TLS a close_notify first), and what the peer still
// sends is read and handled until it closes its side too, or ctx ends;
// then the connection closes. Close instead would lose data: closing a
// socket with data still arriving makes the kernel answer with a reset,
// and a reset makes the peer's kernel discard what it had received but
// its reader had not yet taken, so the last frames sent never arrive.
// Shutdown returns ctx's error when the peer did not close in time (the
// connection is closed anyway), nil otherwise.
func (c *Conn) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		<-c.done
		return nil
	}
	c.closing = true
	c.mu.Unlock()
	err := c.flush(ctx, true)
	if err == nil {
		err = c.closeWrite()
	}
	if err == nil {
		select {
		case <-c.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	c.fail(ErrClosed)
	<-c.done
	if errors.Is(err, errNoHalfClose) || errors.Is(err, net.ErrClosed) {
		// Nothing more to wait for: a transport without half-close (a
		// pipe), or a connection that ended on its own meanwhile.
		err = nil
	}
	return err
}

// errNoHalfClose: the transport cannot close only its write side.
var errNoHalfClose = errors.New("dist: the transport has no half-close")

// closeWrite closes the write side of the transport: the peer reads the
// end of the stream after the last frame.
func (c *Conn) closeWrite() error {
	type halfCloser interface{ CloseWrite() error }
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := tc.CloseWrite(); err != nil {
			return err
		}
		if hc, ok := tc.NetConn().(halfCloser); ok {
			return hc.CloseWrite()
		}
		return nil
	}
	if hc, ok := c.nc.(halfCloser); ok {
		return hc.CloseWrite()
	}
	return errNoHalfClose
}

// Abort starts closing the connection with reason (ErrClosed if nil)
// without waiting; it may be called from the Handler. Later calls keep the
// first reason.
func (c *Conn) Abort(reason error) {
	if reason == nil {
		reason = ErrClosed
	}
	c.fail(reason)
}

// Close closes the connection (reason ErrClosed unless it had already
// failed), and waits for both goroutines. Queued frames not yet written are
// dropped, as when an Erlang node disconnects. It is idempotent.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	<-c.done
	return nil
}

func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	if c.space != nil {
		close(c.space)
		c.space = nil
	}
	c.mu.Unlock()
	c.deferTimer.Stop()
	close(c.quit)
	c.nc.Close()
	c.leaseEnd() // a leased role goes back to readLoop, which then sees the close
}

func (c *Conn) exit() {
	if c.running.Add(-1) == 0 {
		close(c.done)
	}
}

func (c *Conn) readLoop() {
	defer c.exit()
	for {
		if c.lead.Load() == leadWant {
			c.stepBack()
			if c.resume {
				c.resume = false
				if err := c.cfg.Resume(); err != nil {
					c.fail(err)
					return
				}
			}
			continue
		}
		f, err := c.fr.ReadFrame()
		if err != nil {
			if c.retry(err) {
				// An interrupt for a leader (or a late one): clear the
				// deadline and look again.
				c.nc.SetReadDeadline(time.Time{})
				continue
			}
			c.failRead(err)
			return
		}
		if err := c.handle(f); err != nil {
			c.fail(err)
			return
		}
	}
}

// handle counts a frame read and passes it to the Handler.
func (c *Conn) handle(f []byte) error {
	if len(f) == 0 {
		c.ticksIn.Add(1)
		return nil
	}
	c.framesIn.Add(1)
	if h := c.cfg.Handler; h != nil {
		if err := h(f); err != nil {
			return err
		}
	}
	c.fr.shrink(4 * DefaultSendBuffer)
	return nil
}

// retry reports whether a read failed only on its deadline (an
// interrupt, see Lead) while the connection is up: the read is retried.
// The connection's own timeouts are the writer's tick logic, never a
// read deadline.
func (c *Conn) retry(err error) bool {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	select {
	case <-c.quit:
		return false
	default:
		return true
	}
}

// failRead fails the connection after a read error.
func (c *Conn) failRead(err error) {
	if err == io.EOF {
		err = ErrPeerClosed
	}
	c.fail(err)
}

// interrupt makes the current (or next) read of the connection return a
// timeout, so that its reader looks at the reader role and its wake-up
// conditions. A read that was not meant to stop retries.
func (c *Conn) interrupt() {
	c.intr.Add(1)
	c.nc.SetReadDeadline(interruptTime)
}

// interruptTime is a read deadline in the past.
var interruptTime = time.Unix(1, 0)

// stepBack hands the reader role to the leader that asked for it and
// waits until it comes back. The leader always returns it, also when the
// connection fails while it reads (readLoop then finds the error), so
// that no frame is handled once Done is closed.
func (c *Conn) stepBack() {
	if !c.lead.CompareAndSwap(leadWant, leadHeld) {
		return // the leader gave up meanwhile
	}
	c.roleMoves.Add(1)
	c.toLeader <- struct{}{}
	<-c.toLoop
	c.roleMoves.Add(1)
	// Clear the deadline the leader left, then (in readLoop) look at the
	// role again: an interrupt by a new leader that this clears was made
	// after that leader asked, which readLoop then sees.
	c.nc.SetReadDeadline(time.Time{})
}

// Leader is a goroutine's state for Lead: pass the same Leader to every
// Lead of a goroutine (a process), and call Wake after each change that
// may make its done function report true. The zero value is ready.
type Leader struct {
	// reading is the connection the leader is about to read or reads
	// (nil while it handles a frame or does not lead): a Wake interrupts
	// that read.
	reading atomic.Pointer[Conn]
}

// Wake interrupts the leader's read, if it is reading, so that it calls
// its done function again. Call it after the change that done looks at
// (a message queued), synchronized with done by a lock: done either sees
// the change or Wake sees the read. A leader handling a frame calls done
// after it without being woken.
func (l *Leader) Wake() {
	if c := l.reading.Load(); c != nil {
		c.interrupt()
	}
}

// Lead makes the calling goroutine the connection's reader while it waits
// for done to report true: the frames it reads go to the Handler on this
// goroutine, in order, exactly as the connection's reader goroutine
// passes them, and done is called before each read and after each frame.
// An answer that arrives on this connection is then taken by the
// goroutine that read it, without waking another goroutine first.
//
// Lead returns true when done reported true or wake was ready while
// Lead waited for the role (the caller looks at what it waits for and
// may lead again), false when it could not lead (not a plain TCP
// connection, or another goroutine leads), ctx ended (its deadline
// bounds each read and a cancel interrupts it), until passed (zero: no
// bound), or the connection failed
// (Lead fails it with the error the reader goroutine would have, so its
// end is reported as usual). l's Wake interrupts a read for done.
//
// When a lead ends, the role stays with the leaders for a lease (about
// 200 µs): a Lead within it takes the role over at once, without
// interrupting and waking the reader goroutine, so a process in a
// ping-pong, which leads again a few microseconds after its answer, costs
// no goroutine wake-up per round trip. Frames that arrive meanwhile wait
// in the socket for the next leader or the lease's end.
//
// Handler runs on the calling goroutine while it leads: it must be safe
// there (no user code of another goroutine, bounded work, never waiting;
// see ErrHandBack).
func (c *Conn) Lead(ctx context.Context, l *Leader, wake <-chan struct{}, until time.Time, done func() bool) bool {
	if !c.leadable {
		return false
	}
	if !c.lead.CompareAndSwap(leadLeased, leadHeld) {
		if got, again := c.takeRole(ctx, wake); !got {
			return again
		}
	}
	// Deferred: a done that panics (a receive's match is the caller's
	// code) must not leave the connection without a reader.
	defer c.handBack(l)
	return c.leadRead(ctx, l, until, done)
}

// takeRole asks readLoop for the reader role and waits for it. Without
// it, again is what Lead returns: true when wake was ready meanwhile.
func (c *Conn) takeRole(ctx context.Context, wake <-chan struct{}) (got, again bool) {
	if !c.lead.CompareAndSwap(leadNone, leadWant) {
		return false, false // another goroutine leads
	}
	c.interrupt()
	select {
	case <-c.toLeader:
		return true, false
	default:
	}
	select {
	case <-c.toLeader:
		return true, false
	case <-wake:
		return false, c.withdraw(true)
	case <-ctx.Done():
		return false, c.withdraw(false)
	case <-c.quit:
		return false, c.withdraw(false)
	}
}

// handBack ends a lead: the role is leased (see Lead), or goes back to
// readLoop at once when the leader handed a frame back.
func (c *Conn) handBack(l *Leader) {
	l.reading.Store(nil)
	if c.resume || c.cfg.lease < 0 {
		c.lead.Store(leadNone)
		c.toLoop <- struct{}{}
		return
	}
	c.leaseAt.Store(int64(time.Since(c.epoch)))
	c.lead.Store(leadLeased)
	if c.leaseArmed.CompareAndSwap(false, true) {
		c.leaseArms.Add(1)
		c.lease.Reset(c.cfg.lease)
	}
	select {
	case <-c.quit:
		// Closed (fail closes quit, then ends a lease): readLoop ends now.
		c.leaseEnd()
	default:
	}
}

// Led reports whether the frame the Handler is handling was read by a
// leader (see Lead), on whose goroutine the Handler then runs. Call it
// only from the Handler.
func (c *Conn) Led() bool { return c.led }

// leaseFor is how long the role stays leased after a lead: longer than a
// process takes between an answer and its next request (microseconds),
// short enough that frames nobody leads for wait little for readLoop.
const leaseFor = 200 * time.Microsecond

// leaseTimer runs when the lease timer fires: a lease renewed since it
// was armed re-arms it for what is left, and one not renewed in time goes
// back to readLoop. Not resetting the timer on every lead matters: a
// Reset that makes a timer the runtime's earliest wakes a thread to
// re-arm its poller, which in a ping-pong takes a CPU from the two ends.
//
// Every lease has a pending timer: handBack stores leadLeased, then arms
// the timer unless leaseArmed says it is armed; leaseTimer clears
// leaseArmed before it ends a lease or finds none, so a handBack after
// that arms it again.
func (c *Conn) leaseTimer() {
	if c.lead.Load() == leadLeased {
		left := c.cfg.lease - (time.Since(c.epoch) - time.Duration(c.leaseAt.Load()))
		if left > 0 {
			c.lease.Reset(left)
			return
		}
	}
	c.leaseArmed.Store(false)
	c.leaseEnd()
}

// leaseEnd returns a leased role to readLoop.
func (c *Conn) leaseEnd() {
	if c.lead.CompareAndSwap(leadLeased, leadNone) {
		c.toLoop <- struct{}{}
	}
}

// withdraw cancels a leader's request for the role, handing it back if it
// came meanwhile.
func (c *Conn) withdraw(again bool) bool {
	if !c.lead.CompareAndSwap(leadWant, leadNone) {
		<-c.toLeader
		c.lead.Store(leadNone)
		c.toLoop <- struct{}{}
	}
	return again
}

// leadRead reads and handles frames as the reader role's holder until
// done reports true (it returns true), ctx ends or the connection fails.
func (c *Conn) leadRead(ctx context.Context, l *Leader, until time.Time, done func() bool) bool {
	dl, hasDL := ctx.Deadline()
	if !until.IsZero() && (!hasDL || until.Before(dl)) {
		dl, hasDL = until, true
	}
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, c.interruptFn)
	}
	again := false
	// The deadline first, then reading, then done (see Wake): a Wake
	// after done's look interrupts the read. An interrupt is the only
	// thing that moves the deadline, and the read it stops sets it again.
	setDL := true
	for {
		if setDL {
			if c.nc.SetReadDeadline(dl) != nil {
				break // closed
			}
			setDL = false
		}
		l.reading.Store(c)
		if done() {
			again = true
			break
		}
		if ctx.Err() != nil || hasDL && !time.Now().Before(dl) {
			break
		}
		f, err := c.fr.ReadFrame()
		l.reading.Store(nil)
		if err != nil {
			if c.retry(err) {
				setDL = true
				continue
			}
			c.failRead(err)
			break
		}
		if len(f) > 0 {
			c.framesLed.Add(1)
		}
		c.led = true
		err = c.handle(f)
		c.led = false
		if err == ErrHandBack && c.cfg.Resume != nil {
			c.resume = true // handBack gives readLoop the role at once
			c.handedBack.Add(1)
			break
		}
		if err != nil {
			c.fail(err)
			break
		}
	}
	l.reading.Store(nil)
	if stop != nil {
		stop()
	}
	return again
}

var tickFrame = []byte{0, 0, 0, 0}

func (c *Conn) writeLoop() {
	defer c.exit()
	interval := c.cfg.TickTime / tickIntensity
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var spare []byte
	wrote := false
	silent := 0
	for {
		select {
		case <-c.quit:
			return
		case <-c.wake:
			for {
				c.mu.Lock()
				if c.writing {
					// A sender is writing inline; it wakes us if more is queued.
					c.mu.Unlock()
					break
				}
				buf := c.pending
				c.pending = spare[:0]
				c.deferred = false
				if c.space != nil {
					close(c.space)
					c.space = nil
				}
				c.writing = len(buf) > 0
				c.mu.Unlock()
				if len(buf) == 0 {
					spare = buf
					break
				}
				if err := c.write(buf); err != nil {
					c.fail(err)
					return
				}
				c.mu.Lock()
				c.writing = false
				c.written += uint64(len(buf))
				if c.flushed != nil {
					close(c.flushed)
					c.flushed = nil
				}
				c.mu.Unlock()
				wrote = true
				if cap(buf) > 4*c.cfg.SendBuffer {
					buf = nil
				}
				spare = buf
			}
		case <-ticker.C:
			if c.seen.Swap(false) {
				silent = 0
			} else if silent++; silent >= tickIntensity {
				c.fail(fmt.Errorf("%w: nothing received from %s for %v", ErrTickTimeout, c.peer.Name, time.Duration(silent)*interval))
				return
			}
			if !wrote && !c.inlineWrote.Load() {
				c.mu.Lock()
				idle := !c.writing && len(c.pending) == 0 && !c.closing
				c.writing = c.writing || idle
				c.mu.Unlock()
				if idle {
					err := c.write(tickFrame)
					c.mu.Lock()
					c.writing = false
					if c.flushed != nil {
						close(c.flushed) // a Shutdown may wait for this write
						c.flushed = nil
					}
					more := len(c.pending) > 0
					c.mu.Unlock()
					if err != nil {
						c.fail(err)
						return
					}
					c.ticksOut.Add(1)
					c.bytesOut.Add(4)
					if more {
						select {
						case c.wake <- struct{}{}:
						default:
						}
					}
				}
			}
			wrote = false
			c.inlineWrote.Store(false)
		}
	}
}

func (c *Conn) write(b []byte) error {
	raceReleaseIO()
	if err := c.nc.SetWriteDeadline(time.Now().Add(c.cfg.TickTime)); err != nil {
		return err
	}
	if _, err := c.nc.Write(b); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("%w: write to %s blocked for %v", ErrTickTimeout, c.peer.Name, c.cfg.TickTime)
		}
		return err
	}
	return nil
}
