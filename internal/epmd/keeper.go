package epmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// KeeperConfig configures a Keeper. Every zero field takes the documented
// default.
type KeeperConfig struct {
	// Host is where epmd is dialled. Empty: "127.0.0.1" (erl registers with
	// the epmd on loopback too).
	Host string
	// Port is the epmd port. Zero: $ERL_EPMD_PORT if set, else 4369.
	Port int
	// ServeAddr is what the embedded server binds when no epmd answers.
	// Empty: ":<Port>" (all interfaces, like epmd, so remote nodes can look
	// this node up).
	ServeAddr string
	// Name is the node name without "@host". Required unless ClientOnly.
	Name string
	// ListenPort is the node's distribution listen port. Required unless
	// ClientOnly.
	ListenPort int
	// Hidden registers node type 72 instead of 77 (informational only).
	Hidden bool
	// Creation is the node's creation, kept across re-registrations. Zero:
	// the creation of the first successful registration (or, ClientOnly, a
	// random non-zero value).
	Creation uint32
	// RetryInterval is the pause between registration attempts after a
	// failure. Zero: 2 s, as OTP 25's erl_epmd.
	RetryInterval time.Duration
	// ClientOnly never registers and never hosts epmd (short-lived CLI
	// commands). Start and Stop do nothing else than fix Creation.
	ClientOnly bool
	// NoHost never starts an embedded server: without epmd, Start fails and
	// the keeper only retries registering.
	NoHost bool
	// Server configures the embedded server. Its Logger defaults to Logger.
	Server ServerConfig
	// Client configures epmd requests (timeouts).
	Client Client
	// Logger receives state changes. Nil: discard.
	Logger *slog.Logger
}

// Keeper keeps a node registered with epmd (DESIGN decision 2): it uses the
// epmd that answers on the port; when none does it binds the port and hosts
// an embedded Server; when its registration connection drops (the process
// hosting epmd died), it races the other nodes to bind the port (one wins and
// serves, the others register with the winner) and re-registers every
// RetryInterval until it succeeds. The node's creation (Creation) never
// changes; EpmdCreation reports what the current epmd assigned.
type Keeper struct {
	cfg  KeeperConfig
	log  *slog.Logger
	addr string // epmd host:port

	creation uint32 // fixed once Start succeeds

	stopOnce sync.Once
	cancel   context.CancelFunc
	stopped  chan struct{} // closed when run returns

	mu      sync.Mutex // protects the fields below
	started bool
	reg     *Registration
	srv     *Server
	srvErr  chan error // Serve's result
	epmdCr  uint32
}

// NewKeeper validates cfg. Nothing starts until Start.
func NewKeeper(cfg KeeperConfig) (*Keeper, error) {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
		if p, err := strconv.Atoi(os.Getenv("ERL_EPMD_PORT")); err == nil && p > 0 && p <= 0xffff {
			cfg.Port = p
		}
	}
	if cfg.Port < 0 || cfg.Port > 0xffff {
		return nil, fmt.Errorf("epmd: keeper: port %d out of range", cfg.Port)
	}
	if cfg.ServeAddr == "" {
		cfg.ServeAddr = ":" + strconv.Itoa(cfg.Port)
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Server.Logger == nil {
		cfg.Server.Logger = cfg.Logger
	}
	if !cfg.ClientOnly {
		if err := validName(cfg.Name); err != nil {
			return nil, fmt.Errorf("epmd: keeper: %w", err)
		}
		if cfg.ListenPort <= 0 || cfg.ListenPort > 0xffff {
			return nil, fmt.Errorf("epmd: keeper: listen port %d out of range", cfg.ListenPort)
		}
	}
	return &Keeper{
		cfg:      cfg,
		log:      cfg.Logger.With("epmd", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)), "name", cfg.Name),
		addr:     net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		creation: cfg.Creation,
		stopped:  make(chan struct{}),
	}, nil
}

// Start registers the node (hosting an embedded epmd if none answers) and
// starts keeping the registration. It fails if the first registration fails,
// e.g. ErrDuplicateName when another node holds the name. In ClientOnly mode
// it only fixes Creation.
func (k *Keeper) Start(ctx context.Context) error {
	k.mu.Lock()
	if k.started {
		k.mu.Unlock()
		return errors.New("epmd: keeper already started")
	}
	k.started = true
	k.mu.Unlock()

	if k.cfg.ClientOnly {
		for k.creation == 0 {
			k.creation = rand.Uint32()
		}
		close(k.stopped)
		return nil
	}
	runCtx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	cr, err := k.attempt(ctx)
	if err != nil {
		cancel()
		k.closeAll()
		close(k.stopped)
		return err
	}
	if k.creation == 0 {
		k.creation = cr
	}
	go k.run(runCtx)
	return nil
}

// Stop unregisters, closes a hosted server and ends every goroutine. It
// returns ctx's error if ctx ends first (the goroutines still end). It is
// idempotent; Stop without Start is a no-op.
func (k *Keeper) Stop(ctx context.Context) error {
	k.mu.Lock()
	started := k.started
	k.mu.Unlock()
	if !started {
		return nil
	}
	k.stopOnce.Do(func() {
		if k.cancel != nil {
			k.cancel()
		}
	})
	select {
	case <-k.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Creation returns the node's creation: cfg.Creation, else the one epmd
// assigned at Start. It does not change on re-registration. Valid after a
// successful Start.
func (k *Keeper) Creation() uint32 { return k.creation }

// EpmdCreation returns the creation the current epmd assigned to the current
// registration (0 while unregistered).
func (k *Keeper) EpmdCreation() uint32 {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.reg == nil {
		return 0
	}
	return k.epmdCr
}

// Registered reports whether the node currently holds a registration.
func (k *Keeper) Registered() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.reg == nil {
		return false
	}
	select {
	case <-k.reg.Done():
		return false
	default:
		return true
	}
}

// Hosting reports whether this keeper currently runs the embedded server.
func (k *Keeper) Hosting() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.srv == nil {
		return false
	}
	select {
	case <-k.srv.Done():
		return false
	default:
		return true
	}
}

// attempt registers once; if no epmd answers it tries to host one and then
// registers (with itself or with whoever won the bind). It returns the
// creation epmd assigned.
func (k *Keeper) attempt(ctx context.Context) (uint32, error) {
	reg, err := k.cfg.Client.Register(ctx, k.addr, k.cfg.Name, k.cfg.ListenPort, k.cfg.Hidden)
	if err != nil && errors.Is(err, ErrUnavailable) && !k.cfg.NoHost {
		hosted, lerr := k.host(ctx)
		if lerr != nil {
			return 0, errors.Join(err, lerr)
		}
		if hosted {
			k.log.Info("epmd: no epmd answered; hosting an embedded epmd", "addr", k.cfg.ServeAddr)
		} else {
			k.log.Debug("epmd: another process bound the epmd port first; registering with it")
		}
		reg, err = k.cfg.Client.Register(ctx, k.addr, k.cfg.Name, k.cfg.ListenPort, k.cfg.Hidden)
	}
	if err != nil {
		return 0, err
	}
	k.mu.Lock()
	k.reg = reg
	k.epmdCr = reg.Creation()
	k.mu.Unlock()
	k.log.Info("epmd: registered", "port", k.cfg.ListenPort, "epmd_creation", reg.Creation(), "creation", k.creation)
	return reg.Creation(), nil
}

// host binds the epmd port and serves. It returns false (and no error) when
// the port is already taken.
func (k *Keeper) host(ctx context.Context) (bool, error) {
	k.mu.Lock()
	if k.srv != nil {
		k.mu.Unlock()
		return false, nil
	}
	k.mu.Unlock()
	srv, err := k.cfg.Server.Listen(ctx, k.cfg.ServeAddr)
	if errors.Is(err, ErrAddrInUse) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	errc := make(chan error, 1)
	k.mu.Lock()
	k.srv, k.srvErr = srv, errc
	k.mu.Unlock()
	go func() { errc <- srv.Serve(context.Background()) }() // ended by closeAll
	return true, nil
}

// closeAll drops the registration and the hosted server, and waits for the
// server's goroutines.
func (k *Keeper) closeAll() {
	k.mu.Lock()
	reg, srv, errc := k.reg, k.srv, k.srvErr
	k.reg, k.srv, k.srvErr = nil, nil, nil
	k.mu.Unlock()
	if reg != nil {
		reg.Close()
	}
	if srv != nil {
		srv.Close()
		<-errc
	}
}

// run is the keeper's only long-lived goroutine (besides a hosted server).
func (k *Keeper) run(ctx context.Context) {
	defer close(k.stopped)
	defer k.closeAll()
	var retry *time.Timer
	var retryC <-chan time.Time
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	schedule := func() {
		if retry == nil {
			retry = time.NewTimer(k.cfg.RetryInterval)
		} else {
			retry.Reset(k.cfg.RetryInterval)
		}
		retryC = retry.C
	}
	try := func() {
		if _, err := k.attempt(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			k.log.Warn("epmd: registration failed; retrying", "err", err, "in", k.cfg.RetryInterval)
			schedule()
		}
	}
	for {
		k.mu.Lock()
		var regDone, srvDone <-chan struct{}
		if k.reg != nil {
			regDone = k.reg.Done()
		}
		if k.srv != nil {
			srvDone = k.srv.Done()
		}
		k.mu.Unlock()

		select {
		case <-ctx.Done():
			return
		case <-srvDone:
			// Our hosted server was closed (KILL_REQ). Release it; the
			// registration it held drops too and is handled below.
			k.log.Warn("epmd: hosted epmd closed")
			k.mu.Lock()
			srv, errc := k.srv, k.srvErr
			k.srv, k.srvErr = nil, nil
			k.mu.Unlock()
			srv.Close()
			<-errc
		case <-regDone:
			k.mu.Lock()
			reg := k.reg
			k.reg = nil
			k.mu.Unlock()
			reg.Close()
			k.log.Warn("epmd: registration connection dropped; re-registering")
			// Race for the port at once: the first keeper to bind serves.
			try()
		case <-retryC:
			retryC = nil
			try()
		}
	}
}
