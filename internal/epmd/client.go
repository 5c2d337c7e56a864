package epmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Client talks to an epmd. The zero value is ready to use with the defaults
// documented on each field; the package-level functions use a zero Client.
type Client struct {
	// Dialer dials epmd. Nil: a zero net.Dialer.
	Dialer *net.Dialer
	// Timeout bounds each request when ctx has no earlier deadline.
	// Zero: 10 s, the time erl_epmd waits for a reply.
	Timeout time.Duration
	// MaxResponseSize bounds a NAMES or DUMP reply. Zero: DefaultMaxResponseSize.
	MaxResponseSize int
}

const defaultClientTimeout = 10 * time.Second

// Lookup asks the epmd at host:port where name (without "@host") listens.
func Lookup(ctx context.Context, host string, port int, name string) (NodeInfo, error) {
	var c Client
	return c.Lookup(ctx, host, port, name)
}

// Names lists the names registered with the epmd at host:port.
func Names(ctx context.Context, host string, port int) ([]NameEntry, error) {
	var c Client
	return c.Names(ctx, host, port)
}

// Register registers name with the epmd at addr ("host:port") as a node
// listening on listenPort, announcing Highest 6 / Lowest 5. hidden sends node
// type 72 ('H') instead of 77 ('M'); erl itself always sends 77 and nobody
// reads the field (visibility is decided in the handshake). The returned
// Registration keeps the connection open; closing it unregisters the name.
func Register(ctx context.Context, addr, name string, listenPort int, hidden bool) (*Registration, error) {
	var c Client
	return c.Register(ctx, addr, name, listenPort, hidden)
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return defaultClientTimeout
}

func (c *Client) maxResponse() int {
	if c.MaxResponseSize > 0 {
		return c.MaxResponseSize
	}
	return DefaultMaxResponseSize
}

// dial connects to addr. A refused connection (nothing listening) wraps
// ErrUnavailable as well as the net error.
func (c *Client) dial(ctx context.Context, addr string) (net.Conn, error) {
	d := c.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("epmd: dial %s: %w", addr, ctx.Err())
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return nil, fmt.Errorf("epmd: dial %s: %w", addr, err)
	}
	return conn, nil
}

// roundTrip sends req on a fresh connection and reads the reply with read
// while ctx (or the client timeout) is live.
func (c *Client) roundTrip(ctx context.Context, host string, port int, req []byte, read func(net.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	conn, err := c.dial(ctx, net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := watch(ctx, conn)
	defer stop()
	if _, err := conn.Write(req); err != nil {
		return ctxErr(ctx, err)
	}
	return ctxErr(ctx, read(conn))
}

// watch applies ctx's deadline to conn and interrupts blocked I/O when ctx is
// cancelled. The returned func stops watching.
func watch(ctx context.Context, conn net.Conn) func() bool {
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	return context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
}

// ctxErr prefers the context's error over the I/O error it caused.
// The connection deadline and the context deadline are the same instant, so
// an I/O timeout at or after the context deadline is reported as
// context.DeadlineExceeded even if the context's timer has not fired yet.
func ctxErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("epmd: %w (%v)", ctx.Err(), err)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			return fmt.Errorf("epmd: %w (%v)", context.DeadlineExceeded, err)
		}
	}
	return err
}

// Lookup sends PORT_PLEASE2_REQ for name to host:port. An unregistered name is
// ErrNotFound; epmd closing without an answer (it does so for bad names) is
// also ErrNotFound.
func (c *Client) Lookup(ctx context.Context, host string, port int, name string) (NodeInfo, error) {
	req, err := AppendPortPlease2Request(make([]byte, 0, 3+len(name)), name)
	if err != nil {
		return NodeInfo{}, err
	}
	var info NodeInfo
	err = c.roundTrip(ctx, host, port, req, func(conn net.Conn) error {
		var hdr [12]byte
		if _, err := io.ReadFull(conn, hdr[:2]); err != nil {
			if err == io.EOF {
				return fmt.Errorf("%w: %s (epmd closed without answer)", ErrNotFound, name)
			}
			return fmt.Errorf("epmd: reading PORT2_RESP: %w", err)
		}
		if hdr[0] != RespPort2 {
			return &DecodeError{What: "PORT2_RESP", Offset: 0, Reason: fmt.Sprintf("code %d", hdr[0])}
		}
		if hdr[1] != 0 {
			return fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		if _, err := io.ReadFull(conn, hdr[2:12]); err != nil {
			return fmt.Errorf("epmd: reading PORT2_RESP: %w", unexpected(err))
		}
		nlen := int(hdr[10])<<8 | int(hdr[11])
		if nlen == 0 || nlen > MaxNameLen {
			return &DecodeError{What: "PORT2_RESP", Offset: 10, Reason: fmt.Sprintf("name length %d", nlen)}
		}
		// name + Elen; then Extra, at most 64 KiB by construction.
		buf := make([]byte, 12+nlen+2, 12+nlen+2+16)
		copy(buf, hdr[:])
		if _, err := io.ReadFull(conn, buf[12:]); err != nil {
			return fmt.Errorf("epmd: reading PORT2_RESP: %w", unexpected(err))
		}
		elen := int(buf[len(buf)-2])<<8 | int(buf[len(buf)-1])
		if elen > 0 {
			buf = append(buf, make([]byte, elen)...)
			if _, err := io.ReadFull(conn, buf[len(buf)-elen:]); err != nil {
				return fmt.Errorf("epmd: reading PORT2_RESP: %w", unexpected(err))
			}
		}
		var err error
		info, err = ParsePort2Response(buf)
		return err
	})
	return info, err
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readAll reads until EOF, failing with ErrTooLarge beyond max bytes.
func readAll(conn net.Conn, max int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(conn, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, fmt.Errorf("%w: reply over %d bytes", ErrTooLarge, max)
	}
	return b, nil
}

// Names sends NAMES_REQ to host:port and parses the reply lines.
func (c *Client) Names(ctx context.Context, host string, port int) ([]NameEntry, error) {
	var names []NameEntry
	err := c.roundTrip(ctx, host, port, AppendNamesRequest(nil), func(conn net.Conn) error {
		b, err := readAll(conn, c.maxResponse())
		if err != nil {
			return fmt.Errorf("epmd: reading NAMES reply: %w", err)
		}
		_, names, err = ParseNamesResponse(b)
		return err
	})
	return names, err
}

// Dump sends DUMP_REQ and returns the text after the 4-byte port (debug
// output; real epmd ends it with a NUL byte, which is removed).
func (c *Client) Dump(ctx context.Context, host string, port int) (string, error) {
	var text string
	err := c.roundTrip(ctx, host, port, AppendDumpRequest(nil), func(conn net.Conn) error {
		b, err := readAll(conn, c.maxResponse())
		if err != nil {
			return fmt.Errorf("epmd: reading DUMP reply: %w", err)
		}
		if len(b) < 4 {
			return short("DUMP reply", len(b))
		}
		b = b[4:]
		if n := len(b); n > 0 && b[n-1] == 0 {
			b = b[:n-1]
		}
		text = string(b)
		return nil
	})
	return text, err
}

// Kill sends KILL_REQ and returns the answer ("OK" or "NO").
func (c *Client) Kill(ctx context.Context, host string, port int) (string, error) {
	var ans string
	err := c.roundTrip(ctx, host, port, AppendKillRequest(nil), func(conn net.Conn) error {
		b, err := readAll(conn, 16)
		ans = string(b)
		return err
	})
	return ans, err
}

// Register registers name with the epmd at addr; see the package function.
// A name already held is ErrDuplicateName; another non-zero result is
// ErrRefused; no epmd listening is ErrUnavailable.
func (c *Client) Register(ctx context.Context, addr, name string, listenPort int, hidden bool) (*Registration, error) {
	if listenPort < 0 || listenPort > 0xffff {
		return nil, fmt.Errorf("epmd: listen port %d out of range", listenPort)
	}
	typ := byte(NodeTypeNormal)
	if hidden {
		typ = NodeTypeHidden
	}
	req, err := AppendAlive2Request(nil, Alive2Request{
		Port: uint16(listenPort), NodeType: typ, Protocol: ProtocolTCP,
		High: VersionHighest, Low: VersionLowest, Name: name,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	conn, err := c.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	stop := watch(ctx, conn)
	resp, err := func() (Alive2Response, error) {
		if _, err := conn.Write(req); err != nil {
			return Alive2Response{}, ctxErr(ctx, err)
		}
		var b [6]byte
		if _, err := io.ReadFull(conn, b[:1]); err != nil {
			if err == io.EOF {
				return Alive2Response{}, fmt.Errorf("%w: epmd closed the connection", ErrRefused)
			}
			return Alive2Response{}, ctxErr(ctx, err)
		}
		n := Alive2ResponseLen(b[0])
		if n == 0 {
			return Alive2Response{}, &DecodeError{What: "ALIVE2 response", Offset: 0, Reason: fmt.Sprintf("code %d", b[0])}
		}
		if _, err := io.ReadFull(conn, b[1:n]); err != nil {
			return Alive2Response{}, ctxErr(ctx, unexpected(err))
		}
		return ParseAlive2Response(b[:n])
	}()
	// Stop watching before clearing the deadline; if the watcher already
	// fired, the context ended and the registration is abandoned.
	if !stop() && err == nil {
		err = fmt.Errorf("epmd: register: %w", ctx.Err())
	}
	if err == nil {
		err = conn.SetDeadline(time.Time{})
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.Result != 0 {
		conn.Close()
		if resp.Result == 1 {
			return nil, fmt.Errorf("%w: %s", ErrDuplicateName, name)
		}
		return nil, fmt.Errorf("%w: %s: result %d", ErrRefused, name, resp.Result)
	}
	r := &Registration{
		conn:     conn,
		name:     name,
		creation: resp.Creation,
		done:     make(chan struct{}),
		exited:   make(chan struct{}),
	}
	go r.watch()
	return r, nil
}

// Registration is a live registration: the open ALIVE2 connection.
type Registration struct {
	conn     net.Conn
	name     string
	creation uint32
	done     chan struct{} // closed when the connection ends
	exited   chan struct{} // closed when watch returns
	once     sync.Once
}

// Name returns the registered name.
func (r *Registration) Name() string { return r.name }

// Creation returns the creation epmd assigned (16-bit values come from an
// old-style ALIVE2_RESP).
func (r *Registration) Creation() uint32 { return r.creation }

// Done is closed when the registration ends: epmd dropped the connection or
// Close was called.
func (r *Registration) Done() <-chan struct{} { return r.done }

// Close unregisters (closes the connection) and waits for the watcher.
func (r *Registration) Close() error {
	var err error
	r.once.Do(func() { err = r.conn.Close() })
	<-r.exited
	return err
}

// watch reads (and discards) until the connection ends.
func (r *Registration) watch() {
	defer close(r.exited)
	defer close(r.done)
	var buf [64]byte
	for {
		if _, err := r.conn.Read(buf[:]); err != nil {
			r.once.Do(func() { r.conn.Close() })
			return
		}
	}
}
