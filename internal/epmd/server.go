package epmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// ServerConfig configures an embedded epmd server. Every zero field takes
// the documented default.
type ServerConfig struct {
	// Logger receives connection-level diagnostics. Nil: discard.
	Logger *slog.Logger
	// MaxRequestSize bounds a request body. Zero: DefaultMaxRequestSize
	// (1024, real epmd's buffer). A larger announced length closes the
	// connection before anything of the body is read.
	MaxRequestSize int
	// ReadTimeout is the time a client has to deliver one complete request
	// after connecting; a slower (slow-loris) client is dropped. It does not
	// apply to the open registration connection afterwards. Zero: 10 s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one reply. Zero: 10 s.
	WriteTimeout time.Duration
	// MaxConns bounds open connections (registrations included); further
	// connections are closed at once. Zero: 1024.
	MaxConns int
}

func (c *ServerConfig) withDefaults() ServerConfig {
	d := *c
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.MaxRequestSize <= 0 {
		d.MaxRequestSize = DefaultMaxRequestSize
	}
	if d.ReadTimeout <= 0 {
		d.ReadTimeout = 10 * time.Second
	}
	if d.WriteTimeout <= 0 {
		d.WriteTimeout = 10 * time.Second
	}
	if d.MaxConns <= 0 {
		d.MaxConns = 1024
	}
	return d
}

// Server is an embedded epmd. It answers ALIVE2, PORT_PLEASE2, NAMES, DUMP,
// KILL and STOP like OTP 25's epmd (section 1 of the protocol notes).
type Server struct {
	cfg  ServerConfig
	log  *slog.Logger
	ln   net.Listener
	port int

	wg      sync.WaitGroup // Serve and every connection goroutine
	done    chan struct{}  // closed by Close
	closing sync.Once

	mu       sync.Mutex // protects the fields below
	closed   bool
	serving  bool
	conns    map[net.Conn]struct{}
	names    map[string]*entry
	creation uint32 // last creation handed out
	nextID   int
}

type entry struct {
	info NodeInfo
	conn net.Conn
	id   int
}

// Listen binds addr (e.g. ":4369" or "127.0.0.1:4369") with the default
// configuration. If the port is taken, the error wraps ErrAddrInUse: another
// epmd exists and the caller should be its client.
func Listen(ctx context.Context, addr string) (*Server, error) {
	var c ServerConfig
	return c.Listen(ctx, addr)
}

// Listen binds addr with configuration c; see the package-level Listen.
// Nothing is served until Serve is called.
func (c ServerConfig) Listen(ctx context.Context, addr string) (*Server, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%w: %w", ErrAddrInUse, err)
		}
		return nil, fmt.Errorf("epmd: listen %s: %w", addr, err)
	}
	cfg := c.withDefaults()
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		ln:       ln,
		port:     ln.Addr().(*net.TCPAddr).Port,
		done:     make(chan struct{}),
		conns:    make(map[net.Conn]struct{}),
		names:    make(map[string]*entry),
		creation: rand.Uint32(), // random start, +1 per registration, like epmd
	}
	return s, nil
}

// Addr returns the listening address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Port returns the listening port.
func (s *Server) Port() int { return s.port }

// Done is closed when the server has been closed (by Close, by the ctx given
// to Serve, or by an accepted KILL_REQ).
func (s *Server) Done() <-chan struct{} { return s.done }

// Names returns the registered names sorted by name.
func (s *Server) Names() []NameEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.namesLocked()
}

func (s *Server) namesLocked() []NameEntry {
	out := make([]NameEntry, 0, len(s.names))
	for _, e := range s.names {
		out = append(out, NameEntry{Name: e.info.Name, Port: e.info.Port})
	}
	slices.SortFunc(out, func(a, b NameEntry) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// Serve accepts connections until Close is called or ctx is done, then
// closes the server and returns an error wrapping ErrClosed (and
// net.ErrClosed). It may be called once.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.closed || s.serving {
		s.mu.Unlock()
		return fmt.Errorf("%w: %w", ErrClosed, net.ErrClosed)
	}
	s.serving = true
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	stop := context.AfterFunc(ctx, func() { s.shutdown() })
	defer stop()

	var backoff time.Duration
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return fmt.Errorf("%w: %w", ErrClosed, net.ErrClosed)
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				s.shutdown()
				return fmt.Errorf("%w: %w", ErrClosed, err)
			}
			// Temporary failure (e.g. too many open files): back off.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("epmd: accept", "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.done:
				t.Stop()
			}
			continue
		}
		backoff = 0
		s.mu.Lock()
		switch {
		case s.closed:
			s.mu.Unlock()
			conn.Close()
			continue
		case len(s.conns) >= s.cfg.MaxConns:
			s.mu.Unlock()
			s.log.Warn("epmd: too many connections, dropping", "remote", conn.RemoteAddr(), "max", s.cfg.MaxConns)
			conn.Close()
			continue
		}
		s.conns[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(conn)
	}
}

// shutdown closes the listener and every connection without waiting.
func (s *Server) shutdown() {
	s.closing.Do(func() {
		// Listener first: a client reacting to its registration dropping
		// must find the port closed, not a dying listener.
		s.ln.Close()
		s.mu.Lock()
		s.closed = true
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		close(s.done)
	})
}

// Close stops the server: the listener and every connection (so every
// registration) are closed, and Close waits for all goroutines. It is
// idempotent.
func (s *Server) Close() error {
	s.shutdown()
	s.wg.Wait()
	return nil
}

func (s *Server) handle(conn net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		conn.Close()
	}()
	log := s.log.With("remote", conn.RemoteAddr().String())
	conn.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
	body, err := ReadRequest(conn, s.cfg.MaxRequestSize)
	if err != nil {
		if err != io.EOF {
			log.Debug("epmd: bad request", "err", err)
		}
		return
	}
	req, err := ParseRequest(body)
	if err != nil {
		log.Debug("epmd: bad request", "err", err)
		return
	}
	switch req.Code {
	case ReqAlive2:
		if !localPeer(conn.LocalAddr(), conn.RemoteAddr()) {
			// As real epmd: only this host registers names here, so a
			// remote host cannot squat a node name. No answer.
			log.Warn("epmd: ALIVE2_REQ from a non-local address, refused", "name", req.Alive2.Name)
			return
		}
		s.alive2(conn, log, req.Alive2)
	case ReqPortPlease2:
		s.mu.Lock()
		e := s.names[req.Name]
		var out []byte
		if e == nil {
			out = AppendPort2NotFound(nil)
		} else {
			out, _ = AppendPort2Response(nil, e.info)
		}
		s.mu.Unlock()
		s.write(conn, log, out)
	case ReqNames:
		s.mu.Lock()
		out := AppendNamesResponse(nil, uint32(s.port), s.namesLocked())
		s.mu.Unlock()
		s.write(conn, log, out)
	case ReqDump:
		s.write(conn, log, s.dump())
	case ReqKill:
		s.kill(conn, log)
	case ReqStop:
		// Real epmd only honours STOP with -relaxed_command_check and
		// otherwise closes without an answer; so do we.
		log.Debug("epmd: STOP_REQ refused", "name", req.Name)
	}
}

func (s *Server) write(conn net.Conn, log *slog.Logger, b []byte) bool {
	conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if _, err := conn.Write(b); err != nil {
		log.Debug("epmd: write", "err", err)
		return false
	}
	return true
}

// nameOK accepts what real epmd accepts (valid UTF-8, at most 255
// characters) minus spaces and control characters, which would corrupt the
// NAMES text format.
func nameOK(n string) bool {
	if !utf8.ValidString(n) || utf8.RuneCountInString(n) > 255 {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

func (s *Server) alive2(conn net.Conn, log *slog.Logger, r Alive2Request) {
	code := byte(RespAlive2X)
	if r.High < 6 {
		code = RespAlive2
	}
	if !nameOK(r.Name) {
		log.Debug("epmd: ALIVE2_REQ with bad name", "name", r.Name)
		s.write(conn, log, AppendAlive2Response(nil, Alive2Response{Code: code, Result: 1}))
		return
	}
	s.mu.Lock()
	if _, taken := s.names[r.Name]; taken || s.closed {
		s.mu.Unlock()
		log.Debug("epmd: ALIVE2_REQ for a registered name", "name", r.Name)
		s.write(conn, log, AppendAlive2Response(nil, Alive2Response{Code: code, Result: 1}))
		return
	}
	s.creation++
	if s.creation == 0 {
		s.creation = 1
	}
	creation := s.creation
	if code == RespAlive2 {
		creation = creation%3 + 1 // 2-bit creations for pre-6 nodes
	}
	s.nextID++
	e := &entry{
		info: NodeInfo{Name: r.Name, Port: int(r.Port), Type: r.NodeType, Protocol: r.Protocol,
			High: r.High, Low: r.Low, Extra: slices.Clone(r.Extra)},
		conn: conn,
		id:   s.nextID,
	}
	s.names[r.Name] = e
	s.mu.Unlock()
	log.Debug("epmd: registered", "name", r.Name, "port", r.Port, "creation", creation)

	defer func() {
		s.mu.Lock()
		if s.names[r.Name] == e {
			delete(s.names, r.Name)
		}
		s.mu.Unlock()
		log.Debug("epmd: unregistered", "name", r.Name)
	}()
	if !s.write(conn, log, AppendAlive2Response(nil, Alive2Response{Code: code, Result: 0, Creation: creation})) {
		return
	}
	// The registration lives as long as the connection: read (and discard)
	// until EOF, an error or Close.
	conn.SetDeadline(time.Time{})
	var buf [64]byte
	for {
		if _, err := conn.Read(buf[:]); err != nil {
			return
		}
	}
}

func (s *Server) dump() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]byte, 0, 64*(1+len(s.names)))
	out = append(out, byte(s.port>>24), byte(s.port>>16), byte(s.port>>8), byte(s.port))
	for _, n := range s.namesLocked() {
		e := s.names[n.Name]
		out = append(out, "active name     <"...)
		out = append(out, n.Name...)
		out = append(out, "> at port "...)
		out = strconv.AppendInt(out, int64(n.Port), 10)
		out = append(out, ", fd = "...)
		out = strconv.AppendInt(out, int64(e.id), 10)
		out = append(out, '\n')
	}
	return append(out, 0) // real epmd ends the dump with a NUL
}

// localPeer reports whether a connection comes from this host: a
// loopback peer, or a peer whose address is the one it reached us on (as
// real epmd decides which peers may register).
func localPeer(local, remote net.Addr) bool {
	ra, ok := remote.(*net.TCPAddr)
	if !ok {
		return false
	}
	if ra.IP.IsLoopback() {
		return true
	}
	la, ok := local.(*net.TCPAddr)
	return ok && la.IP.Equal(ra.IP)
}

// kill answers KILL_REQ like real epmd: "NO" while names are registered,
// otherwise "OK" and the server closes. Only loopback peers may kill.
func (s *Server) kill(conn net.Conn, log *slog.Logger) {
	s.mu.Lock()
	n := len(s.names)
	s.mu.Unlock()
	ta, _ := conn.RemoteAddr().(*net.TCPAddr)
	if n > 0 || ta == nil || !ta.IP.IsLoopback() {
		s.write(conn, log, []byte(KillRefused))
		return
	}
	if s.write(conn, log, []byte(KillOK)) {
		log.Info("epmd: KILL_REQ accepted, closing")
		s.shutdown() // Close would wait for this goroutine
	}
}
