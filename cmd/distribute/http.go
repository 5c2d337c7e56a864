package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/distribute-go/distribute/cluster"
	"github.com/distribute-go/distribute/health"
)

// serveHTTP serves the node's HTTP endpoints on addr: /healthz and /readyz
// (health), /metrics (Prometheus text), /election (this node's Raft view)
// and the observer page at /. What runs in the background for them ends
// with ctx.
func serveHTTP(ctx context.Context, cl *cluster.Cluster, addr string, epmdPort int, tel *telemetry) (*http.Server, error) {
	hc := health.Config{Node: cl.Node(), Membership: cl.Membership(), EpmdAddr: fmt.Sprintf("127.0.0.1:%d", epmdPort)}
	if e := cl.Election(); e != nil {
		hc.Election = e.Conflict // a split brain makes the node unready
	}
	chk, err := health.New(hc)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/healthz", chk.Healthz())
	mux.Handle("/readyz", chk.Readyz())
	if h := tel.handler(); h != nil {
		mux.Handle("/metrics", h)
	}
	registerElectionHTTP(mux, cl)
	registerObserver(ctx, mux, cl)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv, nil
}
