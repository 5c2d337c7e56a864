package election

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/membership"
	"github.com/hashicorp/raft"
)

// portFile is the file in DataDir that keeps the Raft port.
const portFile = "raft-port"

// readPort returns the port persisted in dir, 0 when there is none.
func readPort(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, portFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	p, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("election: %s holds %q, not a port", filepath.Join(dir, portFile), b)
	}
	return p, nil
}

// writePort persists port in dir (write then rename, so a crash leaves the
// old file or the new one).
func writePort(dir string, port int) error {
	tmp := filepath.Join(dir, portFile+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, portFile))
}

// resolver maps node names (Raft server IDs and addresses) to "ip:port"
// through membership meta. It keeps the last address seen for each name,
// so a suspect or dead member stays dialable (it may come back).
type resolver struct {
	self     distribute.Atom
	selfAddr string
	ms       *membership.Membership

	mu   sync.Mutex // protects last
	last map[distribute.Atom]string
}

func newResolver(self distribute.Atom, selfAddr string, ms *membership.Membership) *resolver {
	return &resolver{self: self, selfAddr: selfAddr, ms: ms, last: make(map[distribute.Atom]string)}
}

// ServerAddr implements raft.ServerAddressProvider.
func (r *resolver) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	addr, ok := r.lookup(distribute.Atom(id))
	if !ok {
		return "", fmt.Errorf("election: no Raft address known for %s", id)
	}
	return raft.ServerAddress(addr), nil
}

func (r *resolver) lookup(name distribute.Atom) (string, bool) {
	if name == r.self {
		return r.selfAddr, true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.ms.Member(name); ok && m.Raft != "" {
		r.last[name] = m.Raft
		return m.Raft, true
	}
	addr, ok := r.last[name]
	return addr, ok
}

// nameOf returns the node whose Raft address is addr, for TLS ServerName.
func (r *resolver) nameOf(addr string) (distribute.Atom, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for n, a := range r.last {
		if a == addr {
			return n, true
		}
	}
	return "", false
}

// nodeAddr is the net.Addr the stream layer reports: the node name, so
// Raft's local address is the node name, as every server's address in the
// configuration is.
type nodeAddr string

func (a nodeAddr) Network() string { return "tcp" }
func (a nodeAddr) String() string  { return string(a) }

// streamLayer is Raft's transport: TCP, or TLS over it. It keeps every
// connection it accepted or dialled, and Close closes them all: Raft's
// NetworkTransport closes only the listener, and the goroutine serving an
// accepted connection would otherwise wait for the peer to hang up.
type streamLayer struct {
	net.Listener // TCP or TLS listener
	name         distribute.Atom
	res          *resolver
	tls          *tls.Config
	connect      time.Duration

	mu     sync.Mutex // protects conns, closed
	conns  map[*trackedConn]struct{}
	closed bool
}

// trackedConn removes itself from its stream layer when closed.
type trackedConn struct {
	net.Conn
	s    *streamLayer
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

// track registers c, or closes it when the layer is closed.
func (s *streamLayer) track(c net.Conn) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	if s.conns == nil {
		s.conns = make(map[*trackedConn]struct{})
	}
	tc := &trackedConn{Conn: c, s: s}
	s.conns[tc] = struct{}{}
	return tc, nil
}

// Accept implements net.Listener.
func (s *streamLayer) Accept() (net.Conn, error) {
	c, err := s.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return s.track(c)
}

// Close closes the listener and every connection.
func (s *streamLayer) Close() error {
	err := s.Listener.Close()
	s.mu.Lock()
	s.closed = true
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for c := range conns {
		c.Conn.Close()
	}
	return err
}

// Addr reports the node name (see nodeAddr).
func (s *streamLayer) Addr() net.Addr { return nodeAddr(s.name) }

// Dial implements raft.StreamLayer. address is "ip:port" (resolved by the
// provider) or, as a fallback, a node name.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	addr := string(address)
	var name distribute.Atom
	if strings.Contains(addr, "@") {
		name = distribute.Atom(addr)
		a, ok := s.res.lookup(name)
		if !ok {
			return nil, fmt.Errorf("election: no Raft address known for %s", addr)
		}
		addr = a
	}
	if timeout <= 0 || timeout > s.connect {
		timeout = s.connect
	}
	d := &net.Dialer{Timeout: timeout}
	if s.tls == nil {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		return s.track(c)
	}
	cfg := s.tls.Clone()
	if cfg.ServerName == "" {
		if name == "" {
			name, _ = s.res.nameOf(addr)
		}
		if _, host, ok := strings.Cut(string(name), "@"); ok {
			cfg.ServerName = host
		} else if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	td := &tls.Dialer{NetDialer: d, Config: cfg}
	conn, err := td.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return s.track(conn)
}
