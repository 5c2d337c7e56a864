package main

import (
	"context"
	"net/http"

	"github.com/distribute-go/distribute/cluster"
)

// registerObserver serves the observer page. (Placeholder: issue 11
// replaces this file.)
func registerObserver(context.Context, *http.ServeMux, *cluster.Cluster) {}
