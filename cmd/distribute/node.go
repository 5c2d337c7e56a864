package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
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
		epmdAddr string
		tickTime time.Duration
		gossip   string
		profile  string
		elect    bool
		expect   int
		dataDir  string
		size     int
		pop      bool
		disc     discoveryFlags
		grace    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "node --name NAME [flags]",
		Short: "Run a node until SIGINT or SIGTERM, then stop gracefully",
		Long: "Run a node until SIGINT or SIGTERM, then stop gracefully.\n\n" +
			"Prints `started NAME` once the node is reachable, then one line per event:\n" +
			"  NAME: TERM                    a message to an --inbox\n" +
			"  event nodeup NODE             a visible peer connected (hidden peers are not reported)\n" +
			"  event nodedown NODE REASON    and lost\n" +
			"  event member NODE alive|suspect|dead|left INCARNATION\n" +
			"                                a membership change\n" +
			"  event leader NODE TERM        with --election: the leader this node knows, and its term\n\n" +
			"With --http HOST:PORT it serves /healthz, /readyz, /metrics (Prometheus text),\n" +
			"/election (this node's Raft view as JSON; {\"enabled\":false} without --election)\n" +
			"and the observer page / with its /api/observer. Only GET and HEAD are served,\n" +
			"and only to requests addressed to the server: Host an IP address, the host\n" +
			"of --http, or localhost when --http is on loopback (against DNS rebinding).\n\n" +
			"The inboxes can change names and groups at runtime, over RPC (each returns ok or\n" +
			"{error, Reason}):\n" +
			"  distribute:register_global(Name)    the inbox Name takes the global name Name\n" +
			"  distribute:unregister_global(Name)  ... and gives it up\n" +
			"  distribute:join(Group, Name)        the inbox Name joins Group (scope pg)\n" +
			"  distribute:leave(Group, Name)       ... and leaves it\n\n" +
			discoverHelp + "\n\n" + stopHelp + "\n\n" + envHelp,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return usageError("node: --name is required")
			}
			if err := checkNodeName(name); err != nil {
				return err
			}
			sources, err := disc.sources()
			if err != nil {
				return err
			}
			if grace < 0 {
				return usageError("node: --shutdown-grace %v: want 0 or more", grace)
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
			if size < 0 {
				return usageError("node: --cluster-size %d: want 0 or more", size)
			}
			if size == 0 && elect {
				size = expect
			}
			// Every flag is checked before the node starts: a bad one is a
			// usage error, and nothing has joined or been written.
			if err := checkInboxFlags(inboxes, globals, groupsIn, hidden); err != nil {
				return err
			}
			if listen != "" {
				if err := checkListenAddr(listen); err != nil {
					return usageError("node: --listen %q: %v", listen, err)
				}
			}
			if err := checkTickTime(tickTime); err != nil {
				return err
			}
			cfg, err := c.nodeConfig(name)
			if err != nil {
				return err
			}
			if err := checkEpmdListen(epmdAddr, cfg.EpmdPort); err != nil {
				return err
			}
			cfg.ListenAddr = listen
			cfg.EpmdListen = epmdAddr
			cfg.TickTime = tickTime
			if hidden {
				cfg.Visibility = distribute.Hidden
			}
			var httpLn net.Listener
			if httpAddr != "" {
				if httpLn, err = listenHTTP(httpAddr); err != nil {
					return usageError("node: --http %s: %v", httpAddr, err)
				}
				defer httpLn.Close()
			}
			ctx, finished := onSignals(cmd.Context(), cmd.ErrOrStderr())
			defer finished()
			startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			ccfg := cluster.Config{Node: cfg, Gossip: gossip, DataDir: dataDir, Profile: prof, Election: ecfg,
				Expected: size, NoPreventOverlappingPartitions: !pop,
				Discover: sources, DiscoverInterval: disc.interval}
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
			pids := make(map[etf.Atom]distribute.Pid, len(inboxes))
			for _, in := range inboxes {
				pid, err := startInbox(n, distribute.Atom(in), out, cfg.Logger)
				if err != nil {
					cl.Stop(context.Background())
					return usageError("node: --inbox %s: %v", in, err)
				}
				pids[etf.Atom(in)] = pid
				for _, g := range globals {
					if g != in {
						continue
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
			if err := registerControl(cl, pids); err != nil {
				cl.Stop(context.Background())
				return remoteError(err)
			}
			for _, peer := range connects {
				wg.Add(1)
				go func() {
					defer wg.Done()
					keepConnected(ctx, n, distribute.Atom(peer))
				}()
			}
			var httpSrv *http.Server
			if httpLn != nil {
				if httpSrv, err = serveHTTP(ctx, cl, httpLn, cfg.EpmdPort, tel); err != nil {
					cl.Stop(context.Background())
					return remoteError(fmt.Errorf("node: --http %s: %v", httpAddr, err))
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
			nodeEvents := newNodeEvents(n, out)
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
					nodeEvents.handle(ev)
					continue
				case <-ctx.Done():
				}
				break
			}
			wg.Wait()
			drain(cl, pids, grace, cfg.Logger)
			stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
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
	f.StringVar(&name, "name", "", "node name ALIVE@HOST (required)")
	f.StringVar(&listen, "listen", "", "listen address HOST:PORT (default: the address NAME's host resolves to, port 0)")
	f.BoolVar(&hidden, "hidden", false, "do not publish the node (default: visible, speaking Erlang's global protocol)")
	f.StringArrayVar(&connects, "connect", nil, "connect to NODE at start and keep reconnecting (repeatable)")
	f.StringArrayVar(&inboxes, "inbox", nil, "a process registered as NAME that prints what it receives, echoes calls and answers sys requests; gen_server:stop ends it (repeatable)")
	f.StringArrayVar(&groupsIn, "group", nil, "the inboxes join process group G, scope pg (repeatable)")
	f.StringArrayVar(&globals, "global", nil, "also register the inbox NAME cluster-wide, in the global registry (repeatable)")
	f.StringArrayVar(&joins, "join", nil, "membership seed NODE; its gossip address comes from distribute:info(); a seed that does not answer is retried in the background, and /readyz fails until one does (repeatable)")
	f.StringVar(&httpAddr, "http", "", "serve on HOST:PORT: the observer page /, /healthz, /readyz, /metrics (Prometheus), /election, /api/observer")
	f.StringVar(&epmdAddr, "epmd-listen", "", "where the embedded epmd listens, HOST:PORT with the epmd port, when no epmd runs (default: every interface, as epmd)")
	f.DurationVar(&tickTime, "tick-time", 60*time.Second, "Erlang's net_ticktime: a silent peer is dropped after about this long; every node of a cluster should use the same")
	f.StringVar(&gossip, "gossip", "", "gossip address IP:PORT, kept across restarts so a restarted node keeps its address (default: the listen IP, and the port kept in --data-dir, else any free port)")
	f.StringVar(&profile, "profile", "lan", "membership timings: lan (memberlist's LAN defaults) or local (fast, for loopback)")
	f.BoolVar(&elect, "election", false, "take part in leader election (Raft over the distribution, no extra port; needs --expect and --data-dir; timings follow --profile)")
	f.IntVar(&expect, "expect", 0, "with --election: the number of voters (the cluster bootstraps with the first N by name; further nodes join as non-voters)")
	f.StringVar(&dataDir, "data-dir", "", "the node's durable state: the gossip port (so a restart keeps the gossip address), and with --election the Raft state (log, term, vote, cluster identity)")
	f.IntVar(&size, "cluster-size", 0, "how many nodes the cluster should have; health (/readyz) judges the cluster and its quorum against it (default: --expect with --election, else the members known)")
	f.BoolVar(&pop, "prevent-overlapping-partitions", true, "Erlang's prevent_overlapping_partitions: on a lost connection every node drops the lost node, so partitions are full meshes and global stays consistent, at the price of cutting healthy links on a blip; false cuts only the failed link")
	disc.addFlags(f)
	f.DurationVar(&grace, "shutdown-grace", defaultShutdownGrace, "on SIGTERM or SIGINT, how long the graceful stop lets calls in flight finish after leaving the cluster, before the node stops (0: no wait)")
	c.addFlags(cmd, false)
	return cmd
}

// startInbox spawns a process registered as name that prints every message
// as "NAME: TERM" and answers gen_server calls with the request. It answers
// OTP's sys requests as a gen_server does, with the state #{name => NAME,
// received => COUNT}; sys:terminate (gen_server:stop) ends it. log gets the
// replies it had to drop.
func startInbox(n *distribute.Node, name distribute.Atom, out *lineWriter, log *slog.Logger) (distribute.Pid, error) {
	p, err := n.Spawn(func(ctx context.Context, p *distribute.Process) error {
		// Replies never make the inbox wait on one caller (see replier).
		replies := newReplier(ctx, p, log)
		defer replies.stop()
		received := int64(0)
		state := func() any {
			return etf.Map{{Key: etf.Atom("name"), Value: name}, {Key: etf.Atom("received"), Value: received}}
		}
		for {
			m, err := p.Receive(ctx)
			if err != nil {
				return nil
			}
			if f, ok := m.(inboxFlush); ok {
				// The node stops: what came before is handled; once the
				// replies are out, say so (see drain).
				replies.wait()
				close(f.done)
				continue
			}
			if ok, err := p.HandleSystem(ctx, m, state); ok {
				if err != nil {
					return err
				}
				continue
			}
			received++
			if from, req, ok := distribute.ParseCall(m); ok {
				out.printf("%s: %s", name, etf.Format(req))
				replies.reply(from, req)
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
