package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/cluster"
	"github.com/distribute-go/distribute/etf"
)

const (
	// defaultShutdownGrace is --shutdown-grace's default.
	defaultShutdownGrace = 10 * time.Second
	// stopTimeout bounds what follows the grace period: stopping the
	// services, the HTTP server and the node. A graceful stop takes at
	// most the grace period plus this (Kubernetes'
	// terminationGracePeriodSeconds must cover both, and a preStop hook).
	stopTimeout = 5 * time.Second
)

// stopHelp is what node --help says about stopping.
const stopHelp = "SIGTERM or SIGINT stops the node gracefully, and it exits 0: it hands leadership\n" +
	"over (with --election), leaves membership (the others see it left, not dead), so\n" +
	"/readyz fails, and unregisters its global names, staying connected meanwhile;\n" +
	"then it lets the calls in flight finish (RPCs it serves, calls its inboxes had\n" +
	"received) for up to --shutdown-grace, and stops. A second signal exits at once,\n" +
	"with status 1. The whole stop takes at most --shutdown-grace plus 5s."

// exitNow ends the process on a second signal.
var exitNow = os.Exit

// onSignals returns a context canceled by the first SIGTERM or SIGINT
// (the graceful stop begins); a second signal, before finished is
// called, exits at once with status 1.
func onSignals(parent context.Context, stderr io.Writer) (ctx context.Context, finished func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(parent)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-sigs:
			cancel()
		case <-done:
			return
		}
		select {
		case s := <-sigs:
			fmt.Fprintf(stderr, "%snode: second signal (%v): exiting without finishing the graceful stop\n", pkgPrefix, s)
			exitNow(exitRemote)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		wg.Wait()
		cancel()
	}
}

// drain is the graceful part of a node's stop: the cluster leaves and
// waits for its calls in flight (cluster.Cluster.Drain) while every
// inbox answers the messages it had received; both within grace.
func drain(cl *cluster.Cluster, inboxes map[etf.Atom]distribute.Pid, grace time.Duration, log *slog.Logger) {
	if grace <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	log.Info("stopping: leaving the cluster, letting calls in flight finish", "grace", grace)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := cl.Drain(ctx); err != nil {
			log.Warn("graceful stop", "err", err)
		}
	}()
	for name, pid := range inboxes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := flushInbox(ctx, cl.Node(), pid); err != nil {
				log.Warn("graceful stop: an inbox did not answer what it had received", "inbox", name, "err", err)
			}
		}()
	}
	wg.Wait()
}

// inboxFlush asks an inbox to close done once it has handled every
// message it received before it, and sent its replies.
type inboxFlush struct{ done chan struct{} }

// flushInbox waits until the inbox pid has handled what it had received
// (a suspended inbox does not, until resumed), or ctx ends.
func flushInbox(ctx context.Context, n *distribute.Node, pid distribute.Pid) error {
	p, err := n.NewProcess()
	if err != nil {
		return err
	}
	defer p.Exit(distribute.ReasonNormal)
	// An inbox that has exited (gen_server:stop) answers nothing: its
	// monitor says so.
	if _, err := p.Monitor(ctx, pid); err != nil {
		return err
	}
	f := inboxFlush{done: make(chan struct{})}
	if err := p.Send(ctx, pid, f); err != nil {
		return err
	}
	down := make(chan struct{})
	go func() {
		defer close(down)
		p.ReceiveMatch(ctx, func(m any) bool { _, ok := m.(distribute.Down); return ok })
	}()
	defer func() { p.Exit(distribute.ReasonNormal); <-down }()
	select {
	case <-f.done:
		return nil
	case <-down:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
