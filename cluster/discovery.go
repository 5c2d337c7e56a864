package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/membership"
)

// Discovery is a source of peers: the node names of the members this
// node should join. Start polls every source of Config.Discover once
// (the names found are membership seeds: retried in the background until
// one answers) and then again every Config.DiscoverInterval, joining the
// names that are not alive or suspect members. Discovery only proposes
// peers: a name that disappears from every source is not cut off or
// forgotten, SWIM alone judges whether a member is alive.
//
// Implementations: Static (a fixed list), DNS (the A records of a name,
// such as a Kubernetes headless service), SRV (the targets of SRV
// records), File (node names in a file). ParseDiscovery reads the CLI's
// dns:NAME, srv:NAME and file:PATH.
type Discovery interface {
	// Discover returns the node names the source knows now. self is this
	// node's name (sources that build names from addresses take its alive
	// part). It may return names together with an error: the names found,
	// and what went wrong with the rest (a bad line, an address with no
	// node name); the names are used and the error is logged.
	Discover(ctx context.Context, self distribute.Atom) ([]distribute.Atom, error)
}

// ErrDiscovery is wrapped by the errors of discovery: a bad spec or
// configuration, a source that could not be read, a name it gave that is
// not a node name.
var ErrDiscovery = errors.New("cluster: discovery")

// DefaultDiscoverInterval is how often the sources are polled by default.
const DefaultDiscoverInterval = 5 * time.Second

// ParseDiscovery reads a source written as the CLI's --discover takes it:
//
//	dns:NAME   DNS{Name: NAME}: the A records of NAME
//	srv:NAME   SRV{Name: NAME}: the targets of NAME's SRV records
//	file:PATH  File{Path: PATH}: node names in a file, one a line
//
// NAME is a DNS name (a final dot makes it absolute, so no search domain
// is tried). Anything else is an error wrapping ErrDiscovery.
func ParseDiscovery(spec string) (Discovery, error) {
	kind, arg, ok := strings.Cut(spec, ":")
	if !ok || arg == "" {
		return nil, fmt.Errorf("%w: %q: want dns:NAME, srv:NAME or file:PATH", ErrDiscovery, spec)
	}
	switch kind {
	case "dns", "srv":
		if err := checkDNSName(arg); err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrDiscovery, spec, err)
		}
		if kind == "dns" {
			return DNS{Name: arg}, nil
		}
		return SRV{Name: arg}, nil
	case "file":
		return File{Path: arg}, nil
	}
	return nil, fmt.Errorf("%w: %q: unknown kind %q: want dns:NAME, srv:NAME or file:PATH", ErrDiscovery, spec, kind)
}

// checkDNSName checks the syntax of a DNS name: dot-separated labels of
// letters, digits, '_' and '-' (not at a label's ends), at most 63
// characters each and 253 in all, with an optional final dot.
func checkDNSName(name string) error {
	n := strings.TrimSuffix(name, ".")
	if n == "" || len(n) > 253 {
		return errors.New("not a DNS name")
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("not a DNS name: bad label %q", label)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("not a DNS name: %q in label %q", r, label)
			}
		}
	}
	return nil
}

// nameSet collects valid node names, once each, and the reasons others
// were refused.
type nameSet struct {
	names []distribute.Atom
	errs  []error
}

func (s *nameSet) add(name string, where string) {
	if _, _, _, err := distribute.ParseNodeName(name); err != nil {
		s.errs = append(s.errs, fmt.Errorf("%s: %q is not a node name", where, name))
		return
	}
	if !slices.Contains(s.names, distribute.Atom(name)) {
		s.names = append(s.names, distribute.Atom(name))
	}
}

// result returns the names sorted, and the errors wrapped in
// ErrDiscovery (nil when there were none).
func (s *nameSet) result(source fmt.Stringer) ([]distribute.Atom, error) {
	slices.Sort(s.names)
	if len(s.errs) == 0 {
		return s.names, nil
	}
	return s.names, fmt.Errorf("%w: %s: %w", ErrDiscovery, source, errors.Join(s.errs...))
}

// aliveOf returns alive, or else self's alive part.
func aliveOf(alive string, self distribute.Atom) string {
	if alive != "" {
		return alive
	}
	a, _, _ := strings.Cut(string(self), "@")
	return a
}

func resolver(r *net.Resolver) *net.Resolver {
	if r == nil {
		return net.DefaultResolver
	}
	return r
}

// Static is a fixed list of node names (what Config.Join gives, as a
// source that is polled for ever).
type Static []distribute.Atom

// Discover returns the names, sorted, once each; names that are not node
// names are left out and reported.
func (s Static) Discover(context.Context, distribute.Atom) ([]distribute.Atom, error) {
	var set nameSet
	for _, n := range s {
		set.add(string(n), "static")
	}
	return set.result(s)
}

func (s Static) String() string { return fmt.Sprintf("static:%v", []distribute.Atom(s)) }

// DNS finds peers in the address records of a name: every IPv4 address
// of Name is a peer Alive@ADDRESS. It suits a Kubernetes headless
// service (one A record per pod: set publishNotReadyAddresses, since a
// pod becomes ready only once it has joined) and nodes named after their
// IP address (app@10.1.2.3). Both A and AAAA records are asked for, but
// an IPv6 address cannot be the host of a node name (names allow
// letters, digits, '_', '-' and '.'): such addresses are left out, and
// reported when they are all there is.
type DNS struct {
	// Name is the DNS name looked up. Required.
	Name string
	// Alive is the alive part of the peers' names. Default: this node's.
	Alive string
	// Resolver does the lookups. Default net.DefaultResolver: the
	// system's configuration (/etc/resolv.conf, /etc/hosts).
	Resolver *net.Resolver
}

// Discover looks the name up and returns Alive@IP for each IPv4 address.
func (d DNS) Discover(ctx context.Context, self distribute.Atom) ([]distribute.Atom, error) {
	ips, err := resolver(d.Resolver).LookupNetIP(ctx, "ip", d.Name)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDiscovery, d, err)
	}
	alive := aliveOf(d.Alive, self)
	var set nameSet
	var v6 []string
	for _, ip := range ips {
		ip = ip.Unmap()
		if !ip.Is4() {
			v6 = append(v6, ip.String())
			continue
		}
		set.add(alive+"@"+ip.String(), "address "+ip.String())
	}
	if len(set.names) == 0 && len(v6) > 0 {
		set.errs = append(set.errs, fmt.Errorf("only IPv6 addresses (%s), and a node name cannot have an IPv6 host", strings.Join(v6, ", ")))
	}
	return set.result(d)
}

func (d DNS) String() string { return "dns:" + d.Name }

// SRV finds peers in the SRV records of a name: every target host T is a
// peer Alive@T (without T's final dot). It suits nodes named after a
// stable host name, such as a StatefulSet's pods behind a headless
// service, whose SRV records (_PORT._tcp.SERVICE.NAMESPACE.svc.DOMAIN,
// for a named port of the service) point at POD.SERVICE.NAMESPACE.svc.DOMAIN.
// The records' ports, priorities and weights are not used: as in Erlang,
// a node's distribution port comes from epmd on its host.
type SRV struct {
	// Name is the SRV name looked up, "_service._proto.name". Required.
	Name string
	// Alive is the alive part of the peers' names. Default: this node's.
	Alive string
	// Resolver does the lookups. Default net.DefaultResolver.
	Resolver *net.Resolver
}

// Discover looks the SRV records up and returns Alive@TARGET for each.
func (s SRV) Discover(ctx context.Context, self distribute.Atom) ([]distribute.Atom, error) {
	_, recs, err := resolver(s.Resolver).LookupSRV(ctx, "", "", s.Name)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDiscovery, s, err)
	}
	alive := aliveOf(s.Alive, self)
	var set nameSet
	for _, r := range recs {
		host := strings.TrimSuffix(r.Target, ".")
		set.add(alive+"@"+host, "target "+r.Target)
	}
	return set.result(s)
}

func (s SRV) String() string { return "srv:" + s.Name }

// File finds peers in a file of node names, one a line; blank lines and
// what follows a '#' are ignored. The file is read at every poll, so a
// change is seen within an interval (write a new file and rename it over
// the old one, so no poll reads it half written).
type File struct {
	// Path is the file's path. Required.
	Path string
}

// Discover reads the file and returns the names in it. A line that is
// not a node name is reported (by number); the others are kept.
func (f File) Discover(context.Context, distribute.Atom) ([]distribute.Atom, error) {
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDiscovery, f, err)
	}
	var set nameSet
	sc := bufio.NewScanner(bytes.NewReader(b))
	for i := 1; sc.Scan(); i++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line != "" {
			set.add(line, fmt.Sprintf("line %d", i))
		}
	}
	if err := sc.Err(); err != nil {
		set.errs = append(set.errs, err)
	}
	return set.result(f)
}

func (f File) String() string { return "file:" + f.Path }

// discoverer polls the sources and joins what they find. It runs one
// goroutine, ended by stop.
type discoverer struct {
	self     distribute.Atom
	sources  []Discovery
	interval time.Duration
	m        *membership.Membership
	logger   *slog.Logger

	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex // protects errs, last
	errs map[int]string
	last []distribute.Atom
}

// maxJoins bounds the joins one poll runs at once.
const maxJoins = 4

func newDiscoverer(self distribute.Atom, sources []Discovery, interval time.Duration, logger *slog.Logger) *discoverer {
	return &discoverer{self: self, sources: sources, interval: interval, logger: logger, errs: make(map[int]string)}
}

// poll asks every source, each bounded by the interval, and returns the
// names found, self excepted, sorted and once each. A source's error is
// logged when it changes (and its recovery once).
func (d *discoverer) poll(ctx context.Context) []distribute.Atom {
	var all []distribute.Atom
	for i, src := range d.sources {
		pctx, cancel := context.WithTimeout(ctx, d.interval)
		names, err := src.Discover(pctx, d.self)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		d.mu.Lock()
		prev := d.errs[i]
		switch {
		case err != nil && err.Error() != prev:
			d.errs[i] = err.Error()
			d.logger.Warn("discovery", "source", fmt.Sprint(src), "err", err, "found", len(names))
		case err == nil && prev != "":
			delete(d.errs, i)
			d.logger.Info("discovery works again", "source", fmt.Sprint(src), "found", len(names))
		}
		d.mu.Unlock()
		for _, n := range names {
			if n != d.self {
				all = append(all, n)
			}
		}
	}
	slices.Sort(all)
	all = slices.Compact(all)
	d.mu.Lock()
	if !slices.Equal(all, d.last) {
		d.logger.Info("discovered", "peers", all)
		d.last = all
	}
	d.mu.Unlock()
	return all
}

// start runs the polls against m every interval until stop.
func (d *discoverer) start(m *membership.Membership) {
	d.m = m
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.done = make(chan struct{})
	go d.run(ctx)
}

func (d *discoverer) run(ctx context.Context) {
	defer close(d.done)
	t := time.NewTicker(d.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.join(ctx, d.poll(ctx))
	}
}

// join joins names that are not alive or suspect members, in random
// order, a few at a time, until one join succeeds: the others then come
// through gossip (a join is a full state exchange). Dead and left
// members are tried again: a side of a healed partition, or a node back
// under its name, is joined again that way.
func (d *discoverer) join(ctx context.Context, names []distribute.Atom) {
	var todo []distribute.Atom
	for _, n := range names {
		if mb, ok := d.m.Member(n); ok && (mb.State == membership.StateAlive || mb.State == membership.StateSuspect) {
			continue
		}
		todo = append(todo, n)
	}
	if len(todo) == 0 {
		return
	}
	rand.Shuffle(len(todo), func(i, j int) { todo[i], todo[j] = todo[j], todo[i] })
	var (
		wg     sync.WaitGroup
		sem    = make(chan struct{}, maxJoins)
		joined atomic.Bool
	)
	timeout := d.m.Profile().TCPTimeout
	for _, n := range todo {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil || joined.Load() {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			jctx, cancel := context.WithTimeout(ctx, timeout)
			_, err := d.m.JoinNode(jctx, n)
			cancel()
			if err != nil {
				d.logger.Debug("discovered peer not joined", "peer", n, "err", err)
				return
			}
			if !joined.Swap(true) {
				d.logger.Info("joined a discovered peer", "peer", n)
			}
		}()
	}
	wg.Wait()
}

// stop ends the polls and waits for the one running.
func (d *discoverer) stop() {
	if d.cancel != nil {
		d.cancel()
		<-d.done
	}
}
