package main

import (
	"net/http"

	"github.com/distribute-go/distribute/cluster"
)

// registerElectionHTTP serves /election. (Placeholder: issue 9 replaces
// this file.)
func registerElectionHTTP(*http.ServeMux, *cluster.Cluster) {}
