package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/cluster"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/membership"
	"github.com/spf13/cobra"
)

// lineWriter serializes the node command's output lines.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", args...)
}

func newNodeCmd() *cobra.Command {
	var (
		c        common
		name     string
		listen   string
		hidden   bool
		connects []string
		inboxes  []string
		groupsIn []string
		joins    []string
		globals  []string
		httpAddr string
		gossip   string
		profile  string
		elect    bool
		expect   int
		dataDir  string
	)
	cmd := &cobra.Command{
		Use:   "node --name NAME [flags]",
		Short: "Run a node until SIGINT or SIGTERM, then stop gracefully",
		Long: "Run a node until SIGINT or SIGTERM, then stop gracefully.\n\n" +
			"Prints `started NAME` once the node is reachable, then one line per event:\n" +
			"  NAME: TERM                    a message to an --inbox\n" +
			"  event nodeup NODE\n" +
			"  event nodedown NODE REASON\n" +
			"  event leader NODE TERM        with --election: the leader this node knows, and its term",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return usageError("node: --name is required")
			}
			if err := checkNodeName(name); err != nil {
				return err
			}
			for _, peer := range append(append([]string{}, connects...), joins...) {
				if err := checkNodeName(peer); err != nil {
					return err
				}
			}
			var prof membership.Profile
			switch profile {
			case "lan":
				prof = membership.LAN()
			case "local":
				prof = membership.Local()
			default:
				return usageError("node: --profile %q: want lan or local", profile)
			}
			ecfg, err := electionConfig(elect, expect, dataDir, profile)
			if err != nil {
				return err
			}
			cfg, err := c.nodeConfig(name)
			if err != nil {
				return err
			}
			cfg.ListenAddr = listen
			if hidden {
				cfg.Visibility = distribute.Hidden
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			ccfg := cluster.Config{Node: cfg, Gossip: gossip, Profile: prof, Election: ecfg}
			for _, j := range joins {
				ccfg.Join = append(ccfg.Join, distribute.Atom(j))
			}
			tel, err := setupTelemetry(&ccfg)
			if err != nil {
				cancel()
				return usageError("node: %v", err)
			}
			defer tel.stop(context.Background())
			cl, err := cluster.Start(startCtx, ccfg)
			cancel()
			if err != nil {
				return remoteError(err)
			}
			n := cl.Node()
			var wg sync.WaitGroup
			out := &lineWriter{w: cmd.OutOrStdout()}
			events := n.WatchNodes(ctx)
			for _, g := range globals {
				if !slices.Contains(inboxes, g) {
					return usageError("node: --global %s: no --inbox %s to register", g, g)
				}
			}
			if len(groupsIn) > 0 && len(inboxes) == 0 {
				cl.Stop(context.Background())
				return usageError("node: --group needs an --inbox to join the group")
			}
			for _, in := range inboxes {
				pid, err := startInbox(n, distribute.Atom(in), out)
				if err != nil {
					cl.Stop(context.Background())
					return usageError("node: --inbox %s: %v", in, err)
				}
				for _, g := range globals {
					if g != in {
						continue
					}
					if cl.Registry() == nil {
						cl.Stop(context.Background())
						return usageError("node: --global needs a visible node (not --hidden)")
					}
					if err := cl.Registry().Register(ctx, etf.Atom(g), pid); err != nil {
						cl.Stop(context.Background())
						return remoteError(fmt.Errorf("node: --global %s: %v", g, err))
					}
				}
				for _, g := range groupsIn {
					if err := cl.Groups().Join(ctx, etf.Atom(g), pid); err != nil {
						cl.Stop(context.Background())
						return remoteError(fmt.Errorf("node: --group %s: %v", g, err))
					}
				}
			}
			for _, peer := range connects {
				wg.Add(1)
				go func() {
					defer wg.Done()
					keepConnected(ctx, n, distribute.Atom(peer))
				}()
			}
			var httpSrv *http.Server
			if httpAddr != "" {
				if httpSrv, err = serveHTTP(ctx, cl, httpAddr, cfg.EpmdPort, tel); err != nil {
					cl.Stop(context.Background())
					return usageError("node: --http %s: %v", httpAddr, err)
				}
			}
			if m := cl.Membership(); m != nil {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for ev := range m.Watch(ctx) {
						if ev.Member.Self {
							continue
						}
						out.printf("event member %s %s %d", ev.Member.Name, ev.Member.State, ev.Member.Incarnation)
					}
				}()
			}
			printLeaders := observeLeader(ctx, cl, out)
			out.printf("started %s", n.Name())
			wg.Add(1)
			go func() {
				defer wg.Done()
				printLeaders()
			}()
			for {
				select {
				case ev, ok := <-events:
					if !ok {
						events = nil
						continue
					}
					if ev.Up {
						out.printf("event nodeup %s", ev.Node)
					} else {
						out.printf("event nodedown %s %s", ev.Node, ev.Reason)
					}
					continue
				case <-ctx.Done():
				}
				break
			}
			wg.Wait()
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if httpSrv != nil {
				httpSrv.Shutdown(stopCtx)
			}
			if err := cl.Stop(stopCtx); err != nil {
				return remoteError(err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "node name alive@host (required)")
	f.StringVar(&listen, "listen", "", "listen address HOST:PORT (default: the address NAME's host resolves to, port 0)")
	f.BoolVar(&hidden, "hidden", false, "do not publish the node (default: visible, speaking Erlang's global protocol)")
	f.StringArrayVar(&connects, "connect", nil, "connect to NODE at start and keep reconnecting (repeatable)")
	f.StringArrayVar(&inboxes, "inbox", nil, "a process registered as NAME that prints what it receives and echoes calls (repeatable)")
	f.StringArrayVar(&groupsIn, "group", nil, "the inboxes join process group G, scope pg (repeatable)")
	f.StringArrayVar(&globals, "global", nil, "also register the inbox NAME cluster-wide, in the global registry (repeatable)")
	f.StringArrayVar(&joins, "join", nil, "membership seed NODE; its gossip address comes from distribute:info() (repeatable)")
	f.StringVar(&httpAddr, "http", "", "serve on HOST:PORT: the observer page /, /healthz, /readyz, /metrics (Prometheus), /election, /api/observer")
	f.StringVar(&gossip, "gossip", "", "gossip address IP:PORT (default: the listen IP, any free port)")
	f.StringVar(&profile, "profile", "lan", "membership timings: lan (memberlist's LAN defaults) or local (fast, for loopback)")
	f.BoolVar(&elect, "election", false, "take part in leader election (Raft over the distribution, no extra port; needs --expect and --data-dir; timings follow --profile)")
	f.IntVar(&expect, "expect", 0, "with --election: the number of voters (the cluster bootstraps with the first N by name; further nodes join as non-voters)")
	f.StringVar(&dataDir, "data-dir", "", "with --election: the directory of the durable Raft state (log, term, vote, cluster identity)")
	c.addFlags(cmd, false)
	return cmd
}

// startInbox spawns a process registered as name that prints every message
// as "NAME: TERM" and answers gen_server calls with the request.
func startInbox(n *distribute.Node, name distribute.Atom, out *lineWriter) (distribute.Pid, error) {
	p, err := n.Spawn(func(ctx context.Context, p *distribute.Process) error {
		for {
			m, err := p.Receive(ctx)
			if err != nil {
				return nil
			}
			if from, req, ok := distribute.ParseCall(m); ok {
				out.printf("%s: %s", name, etf.Format(req))
				p.Reply(ctx, from, req)
				continue
			}
			out.printf("%s: %s", name, formatMessage(m))
		}
	})
	if err != nil {
		return distribute.Pid{}, err
	}
	if err := n.Register(name, p.Pid()); err != nil {
		p.Exit(distribute.ReasonNormal)
		return distribute.Pid{}, err
	}
	return p.Pid(), nil
}

// formatMessage prints a mailbox message: a term, or a Down/Exit signal
// in Erlang's shape.
func formatMessage(m any) string {
	switch v := m.(type) {
	case distribute.Down:
		return etf.Format(etf.Tuple{etf.Atom("DOWN"), v.Ref, etf.Atom("process"), v.Pid, v.Reason})
	case distribute.Exit:
		return etf.Format(etf.Tuple{etf.Atom("EXIT"), v.From, v.Reason})
	}
	return etf.Format(m)
}

// keepConnected connects to peer and reconnects whenever the connection is
// lost, until ctx ends.
func keepConnected(ctx context.Context, n *distribute.Node, peer distribute.Atom) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := n.Connect(cctx, peer)
		cancel()
		if err == nil {
			backoff = 100 * time.Millisecond
			if !waitDisconnected(ctx, n, peer) {
				return
			}
			continue
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// waitDisconnected waits until peer is no longer connected; false if ctx ended.
func waitDisconnected(ctx context.Context, n *distribute.Node, peer distribute.Atom) bool {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := n.WatchNodes(wctx)
	if !n.IsConnected(peer) {
		return true
	}
	for ev := range events {
		if ev.Node == peer && !ev.Up {
			return true
		}
	}
	return ctx.Err() == nil
}
