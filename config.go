package distribute

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
	"go.opentelemetry.io/otel/metric"
)

// Visibility decides whether a node is published (visible) to its peers.
// Erlang's nodes() lists only visible nodes, and only visible nodes take
// part in global and pg discovery; hidden nodes can still do everything
// else (send, link, monitor, call, rpc).
type Visibility int

// The zero Visibility is the default: hidden for a bare Node, which runs
// no global registry (a visible node without one makes Erlang's
// global:sync/0 block); cluster.Start, which runs the registry package,
// makes it Visible.
const (
	// Hidden: never published (like erl -hidden and C nodes).
	Hidden Visibility = 1
	// Visible: published. Erlang peers then expect this node to speak the
	// global protocol (run registry.Start, as cluster.Start does); without
	// it, global:sync/0 and global:trans/2 on them block.
	Visible Visibility = 2
)

// Config configures a node. Only Name and Cookie are required; every other
// field documents its zero-value default.
type Config struct {
	// Name is the node name "alive@host". A host with a dot (or an IP) makes
	// a long name (erl -name), otherwise a short name (erl -sname). Required.
	Name string

	// Cookie is the shared secret peers must present. Required. The cookie
	// authenticates; it does not encrypt: use TLS on untrusted networks.
	Cookie string

	// ListenAddr is the "host:port" the node accepts connections on.
	// Default: the address Name's host resolves to, port 0 (any free port).
	ListenAddr string

	// Visibility: Hidden or Visible. Default (zero): hidden for a bare
	// node, visible under cluster.Start.
	Visibility Visibility

	// TLS, when set, runs the distribution over TLS as Erlang's
	// inet_tls_dist does, for both accepted and dialled connections. For
	// mTLS set ClientAuth and ClientCAs (server side) and RootCAs and
	// Certificates (client side). Dialled connections use a clone with
	// ServerName set to the peer's host part unless ServerName is set.
	// Default nil: plain TCP.
	TLS *tls.Config

	// EpmdPort is the port of epmd on every host. Default: $ERL_EPMD_PORT,
	// else 4369.
	EpmdPort int

	// EpmdListen is the address the embedded epmd binds when this node has
	// to host one. Default ":<EpmdPort>", all interfaces, as epmd does, so
	// nodes on other hosts can look this one up; like epmd it takes
	// registrations from this host only. "127.0.0.1:<EpmdPort>" keeps it
	// on loopback.
	EpmdListen string

	// ClientOnly makes a short-lived client node: it never registers with
	// epmd nor hosts one, and accepts no connections. Its creation is
	// random. Default false: the node registers with the epmd that answers
	// on 127.0.0.1:EpmdPort, or hosts an embedded one when none does.
	ClientOnly bool

	// Logger receives the node's logs. Default nil: discard. Wrap its
	// handler with LogHandler to add the correlation id of the context
	// each record is logged with.
	Logger *slog.Logger

	// MeterProvider receives the node's metrics (OpenTelemetry): traffic
	// per peer, connections, processes, mailbox depth and call latency,
	// and the instruments other packages make with Node.Meter. Default
	// nil: otel.GetMeterProvider(), the global provider (a no-op until
	// the program sets one).
	MeterProvider metric.MeterProvider

	// TickTime is Erlang's net_ticktime: a peer silent for about this long
	// is dropped, and ticks are sent every TickTime/4 when idle. All nodes
	// of a cluster should use the same value. Default 60 s.
	TickTime time.Duration

	// HandshakeTimeout bounds each step of a connection handshake (Erlang's
	// net_setuptime). Default 7 s.
	HandshakeTimeout time.Duration

	// MaxPendingHandshakes caps the incoming connections whose peer has
	// not yet proved the cookie (or sent nothing at all). When all are
	// taken, the oldest pending handshake is closed to make room, so
	// connections that never finish a handshake cost at most this many
	// goroutines and cannot lock real peers out. A real peer's handshake
	// takes a round trip or two: 256 serves 100 nodes on one host or
	// behind one NAT connecting at once, with room to spare. Default 256.
	MaxPendingHandshakes int

	// MaxFrameSize bounds one distribution frame (one message with its
	// control term); a peer that announces more loses its connection.
	// Default 128 MiB.
	MaxFrameSize int

	// SendBuffer is how many bytes may wait to be written on one
	// connection before senders block (Erlang's dist_buf_busy_limit).
	// Default 4 MiB.
	SendBuffer int

	// ReadSpin is how long a connection's reader keeps polling its socket
	// after a read found nothing, before it sleeps until data comes (BEAM
	// schedulers busy-wait the same way). A reply that lands within it is
	// read without a thread wake-up, which on machines whose idle CPUs wake
	// slowly (virtual machines above all) cuts a request/response round
	// trip several times; it costs up to ReadSpin of CPU per connection
	// after each burst of traffic. While it polls, the reader raises the
	// socket's receive low-water mark (Linux), so that what it reads
	// itself does not also wake the runtime's network poller; it restores
	// the mark before it sleeps. Not used on TLS. Default 100 µs;
	// negative: no polling.
	ReadSpin time.Duration
	// ReadCoalesce is how long a connection's reader waits, once, when it
	// finds the socket empty in the middle of a one-way stream in (several
	// reads with data in a row and nothing sent between them), before it
	// sleeps until data comes. The sender's next messages then arrive in
	// one read instead of each waking this node's thread; on a VM that
	// wake-up costs the sender more than the message (Erlang to Go 64-byte
	// streams went from about 0.7 to 0.9 M msgs/s here). A message that
	// arrives during the wait is delivered up to ReadCoalesce later (the
	// Go runtime rounds short sleeps of an idle process up to about 1 ms);
	// request/response traffic, which sends between reads, never waits.
	// Not used on TLS. Default 250 µs; negative: no waiting; at most
	// 10 ms.
	ReadCoalesce time.Duration

	// Limits bound the decoding of every term received from peers
	// (size, nesting depth, atoms). Default: etf's defaults (64 MiB,
	// 100 000 levels, atoms not counted). A term over a limit closes the
	// connection it came on, logged at warning.
	Limits etf.Limits

	// tel is the node's metrics state, made by withDefaults.
	tel *telemetry
}

// The defaults of Config's fields, each documented on its field.
const (
	defaultEpmdPort             = 4369
	defaultTickTime             = 60 * time.Second
	defaultHandshakeTimeout     = 7 * time.Second
	defaultMaxFrameSize         = 128 << 20
	defaultSendBuffer           = 4 << 20
	defaultReadSpin             = 100 * time.Microsecond
	defaultReadCoalesce         = 250 * time.Microsecond
	defaultMaxPendingHandshakes = 256
)

// ErrBadName is returned for a node or process name that is not valid.
var ErrBadName = errors.New("distribute: bad name")

// ErrConfig is wrapped by every error of Config validation.
var ErrConfig = errors.New("distribute: invalid config")

var nodeNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+@[A-Za-z0-9_.-]+$`)

// ParseNodeName checks a node name "alive@host" and splits it. long is
// true when host has a dot (or is an IP address): a long name.
func ParseNodeName(name string) (alive, host string, long bool, err error) {
	if len(name) > 255 || !nodeNameRE.MatchString(name) {
		return "", "", false, fmt.Errorf("%w: node name %q: want alive@host with letters, digits, _ and - (host: also .)", ErrBadName, name)
	}
	alive, host, _ = strings.Cut(name, "@")
	return alive, host, strings.Contains(host, "."), nil
}

// withDefaults returns a validated copy of c with defaults filled in.
func (c Config) withDefaults() (Config, error) {
	if _, _, _, err := ParseNodeName(c.Name); err != nil {
		return c, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if c.Cookie == "" {
		return c, fmt.Errorf("%w: empty cookie", ErrConfig)
	}
	switch c.Visibility {
	case 0, Hidden, Visible:
	default:
		return c, fmt.Errorf("%w: unknown visibility %d", ErrConfig, c.Visibility)
	}
	if c.EpmdPort == 0 {
		c.EpmdPort = defaultEpmdPort
		if s := os.Getenv("ERL_EPMD_PORT"); s != "" {
			p, err := strconv.Atoi(s)
			if err != nil || p <= 0 || p > 65535 {
				return c, fmt.Errorf("%w: ERL_EPMD_PORT=%q", ErrConfig, s)
			}
			c.EpmdPort = p
		}
	}
	if c.EpmdPort < 0 || c.EpmdPort > 65535 {
		return c, fmt.Errorf("%w: epmd port %d", ErrConfig, c.EpmdPort)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.tel = newTelemetry(c.MeterProvider)
	if c.TickTime == 0 {
		c.TickTime = defaultTickTime
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = defaultHandshakeTimeout
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = defaultMaxFrameSize
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = defaultSendBuffer
	}
	if c.MaxPendingHandshakes == 0 {
		c.MaxPendingHandshakes = defaultMaxPendingHandshakes
	}
	switch {
	case c.ReadSpin == 0:
		c.ReadSpin = defaultReadSpin
	case c.ReadSpin < 0:
		c.ReadSpin = 0
	}
	switch {
	case c.ReadCoalesce == 0:
		c.ReadCoalesce = defaultReadCoalesce
	case c.ReadCoalesce < 0:
		c.ReadCoalesce = 0
	}
	if c.TickTime < 0 || c.HandshakeTimeout < 0 || c.MaxFrameSize < 0 || c.SendBuffer < 0 || c.MaxPendingHandshakes < 0 {
		return c, fmt.Errorf("%w: negative duration or size", ErrConfig)
	}
	if c.ReadCoalesce > dist.MaxReadCoalesce {
		return c, fmt.Errorf("%w: ReadCoalesce %v above %v", ErrConfig, c.ReadCoalesce, dist.MaxReadCoalesce)
	}
	return c, nil
}

// visible reports whether the node publishes itself.
func (c Config) visible() bool { return c.Visibility == Visible }
