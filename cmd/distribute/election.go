package main

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/distribute-go/distribute/cluster"
	"github.com/distribute-go/distribute/election"
)

// electionConfig checks node's election flags and returns the election
// config (nil without --election). Timings follow --profile.
func electionConfig(on bool, expect int, dataDir, profile string) (*election.Config, error) {
	if !on {
		if expect != 0 {
			return nil, usageError("node: --expect needs --election")
		}
		return nil, nil
	}
	if expect < 1 {
		return nil, usageError("node: --election needs --expect N (N ≥ 1 voters)")
	}
	if dataDir == "" {
		return nil, usageError("node: --election needs --data-dir DIR")
	}
	timing := election.LAN()
	if profile == "local" {
		timing = election.Local()
	}
	return &election.Config{Expect: expect, DataDir: dataDir, Timing: timing}, nil
}

// observeLeader subscribes to the node's leader changes (nil without
// election) and returns a function that prints them as
// `event leader NODE TERM` (each known leader with its term, once; a node
// that becomes leader prints itself) until ctx ends. Subscribing first and
// printing later loses nothing: changes queue meanwhile.
func observeLeader(ctx context.Context, cl *cluster.Cluster, out *lineWriter) func() {
	e := cl.Election()
	if e == nil {
		return func() {}
	}
	changes := e.Watch(ctx)
	return func() {
		var last election.Change
		for c := range changes {
			if c.Leader == "" || c == last {
				continue
			}
			last = c
			out.printf("event leader %s %d", c.Leader, c.Term)
		}
	}
}

// registerElectionHTTP serves /election: this node's Raft view as JSON,
// a stable read,
//
//	{"node":"n1@host","state":"leader","term":7,"leader":"n1@host","stable":true}
//
// or, when the node runs no election, 200 with {"enabled":false}: the
// endpoint exists and says so (a 404 would look like a wrong URL).
func registerElectionHTTP(mux *http.ServeMux, cl *cluster.Cluster) {
	mux.HandleFunc("GET /election", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		e := cl.Election()
		if e == nil {
			w.Write([]byte(`{"enabled":false}` + "\n"))
			return
		}
		json.NewEncoder(w).Encode(e.Status())
	})
}
