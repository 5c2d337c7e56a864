package main

import (
	"context"
	"net/http"

	"github.com/distribute-go/distribute/cluster"
)

// telemetry is the node command's metrics pipeline. (Placeholder: the
// OpenTelemetry work of issue 10 replaces this file.)
type telemetry struct{}

func setupTelemetry(*cluster.Config) (*telemetry, error) { return &telemetry{}, nil }

func (t *telemetry) handler() http.Handler { return nil }

func (t *telemetry) stop(context.Context) {}
