package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/distribute-go/distribute/cluster"
	"github.com/distribute-go/distribute/health"
)

// listenHTTP binds --http's address, before the node starts, so that an
// address that cannot be served is a usage error found early.
func listenHTTP(addr string) (net.Listener, error) {
	if err := checkListenAddr(addr); err != nil {
		return nil, err
	}
	return net.Listen("tcp", addr)
}

// serveHTTP serves the node's HTTP endpoints on ln: /healthz and /readyz
// (health), /metrics (Prometheus text), /election (this node's Raft view)
// and the observer page at / with /api/observer. Every endpoint answers
// GET and HEAD only (405 before anything is computed), and only requests
// addressed to this server (see hostGuard). What runs in the background
// for them ends with ctx.
func serveHTTP(ctx context.Context, cl *cluster.Cluster, ln net.Listener, epmdPort int, tel *telemetry) (*http.Server, error) {
	hc := health.Config{Membership: cl.Membership(), EpmdAddr: fmt.Sprintf("127.0.0.1:%d", epmdPort), Expected: cl.Expected()}
	if e := cl.Election(); e != nil {
		hc.Election = e.Conflict // a split brain makes the node unready
	}
	chk, err := health.Start(ctx, cl.Node(), hc)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	// A "GET" pattern also serves HEAD; other methods get 405 from the
	// mux, before the handler runs.
	mux.Handle("GET /healthz", chk.Healthz())
	mux.Handle("GET /readyz", chk.Readyz())
	if h := tel.handler(); h != nil {
		mux.Handle("GET /metrics", h)
	}
	registerElectionHTTP(mux, cl)
	registerObserver(ctx, mux, cl)
	guard := newHostGuard(ln.Addr().String(), string(cl.Node().Name()))
	srv := &http.Server{Handler: guard.wrap(mux), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv, nil
}

// hostGuard refuses requests whose Host header names another server, so
// that a page from another origin whose DNS name is rebound to this
// address cannot read the endpoints (its requests carry its own host
// name). Allowed: any IP literal (kubelet probes and Prometheus scrapes
// address a pod by IP), the host --http names, and when that is
// loopback, localhost; when it is every interface, this machine's host
// name and the host of the node's name. Anything else gets 421
// Misdirected Request.
type hostGuard struct {
	names map[string]bool
}

func newHostGuard(bound, nodeName string) *hostGuard {
	g := &hostGuard{names: make(map[string]bool)}
	host, _, _ := net.SplitHostPort(bound)
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		g.add(host)
	case ip.IsLoopback():
		g.add("localhost")
	case ip.IsUnspecified():
		g.add("localhost")
		if h, err := os.Hostname(); err == nil {
			g.add(h)
		}
		if _, h, ok := strings.Cut(nodeName, "@"); ok {
			g.add(h)
		}
	}
	return g
}

func (g *hostGuard) add(name string) {
	if name != "" {
		g.names[strings.ToLower(strings.TrimSuffix(name, "."))] = true
	}
}

// allowed reports whether a request with this Host header is for us.
func (g *hostGuard) allowed(hostHeader string) bool {
	host := hostHeader
	if h, _, err := net.SplitHostPort(hostHeader); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return false
	}
	if net.ParseIP(host) != nil {
		return true
	}
	return g.names[strings.ToLower(strings.TrimSuffix(host, "."))]
}

func (g *hostGuard) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.allowed(r.Host) {
			http.Error(w, "misdirected request: this server does not answer for host "+r.Host, http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}
