package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
	"github.com/spf13/cobra"
)

// `distribute bench`: throughput and latency between two local nodes in
// separate processes: Go to Go (the peer is this binary running the hidden
// `bench-peer` command) and Go to Erlang when erl is installed.

func newBenchCmd() *cobra.Command {
	var (
		n        int
		rounds   int
		noErlang bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput and latency between two local nodes in separate processes",
		Long: "Measure one-way throughput (64 B and 1 KiB binaries), ping-pong latency and\n" +
			"sequential gen_server calls from this node to a Go node in another process, and\n" +
			"to an Erlang node when erl is installed. Prints a table.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if n < 1 || rounds < 1 {
				return usageError("bench: --messages and --round-trips must be positive")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Minute)
			defer cancel()
			return runBench(ctx, cmd.OutOrStdout(), n, rounds, !noErlang)
		},
	}
	f := cmd.Flags()
	f.IntVar(&n, "messages", 500000, "messages per throughput run")
	f.IntVar(&rounds, "round-trips", 20000, "round trips for latency and calls")
	f.BoolVar(&noErlang, "no-erlang", false, "skip the Erlang peer even when erl is installed")
	cmd.AddCommand(newBenchClusterCmd())
	return cmd
}

// newBenchPeerCmd is the Go peer of `distribute bench`: a node with the
// processes sink (counts binaries) and echo (answers messages and calls).
func newBenchPeerCmd() *cobra.Command {
	var c common
	var name string
	cmd := &cobra.Command{
		Use:    "bench-peer --name NAME",
		Hidden: true,
		Args:   exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := c.nodeConfig(name)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			n, err := distribute.Start(ctx, cfg)
			if err != nil {
				return remoteError(err)
			}
			defer n.Stop(context.Background())
			sink, _ := n.NewProcess()
			n.Register("sink", sink.Pid())
			echo, _ := n.SpawnHandler(func(ctx context.Context, p *distribute.Process, m any) error {
				if from, req, ok := distribute.ParseCall(m); ok {
					return p.Reply(ctx, from, req)
				}
				if t, ok := m.(etf.Tuple); ok && len(t) == 2 {
					if from, ok := t[0].(distribute.Pid); ok {
						return p.Send(ctx, from, t[1])
					}
				}
				return nil
			})
			n.Register("echo", echo.Pid())
			fmt.Fprintln(cmd.OutOrStdout(), "started", name)
			return benchSinkLoop(ctx, sink)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "node name")
	c.addFlags(cmd, false)
	return cmd
}

// benchSinkLoop answers {count, From, N}: it counts N binaries, then sends
// {done, Bytes} to From.
func benchSinkLoop(ctx context.Context, p *distribute.Process) error {
	for {
		m, err := p.Receive(ctx)
		if err != nil {
			return nil
		}
		t, ok := m.(etf.Tuple)
		if !ok || len(t) != 3 || t[0] != etf.Atom("count") {
			continue
		}
		from, _ := t[1].(distribute.Pid)
		count, _ := t[2].(int64)
		bytes := int64(0)
		for i := int64(0); i < count; i++ {
			m, err := p.Receive(ctx)
			if err != nil {
				return nil
			}
			if b, ok := m.(etf.Binary); ok {
				bytes += int64(len(b))
			}
		}
		p.Send(ctx, from, etf.Tuple{etf.Atom("done"), bytes})
	}
}

// benchErlModule is the Erlang peer: the same sink and echo.
const benchErlModule = `-module(distribute_bench).
-export([start/0]).
start() ->
    register(sink, spawn(fun sink/0)),
    register(echo, spawn(fun echo/0)),
    io:format("started ~s~n", [node()]).
sink() ->
    receive {count, From, N} -> count(N, 0, From), sink() end.
count(0, Bytes, From) -> From ! {done, Bytes};
count(N, Bytes, From) -> receive B when is_binary(B) -> count(N - 1, Bytes + byte_size(B), From) end.
echo() ->
    receive
        {'$gen_call', {F, T}, Req} -> F ! {T, Req}, echo();
        {F, M} when is_pid(F) -> F ! M, echo()
    end.
`

type benchRow struct {
	peer, what, result string
}

func runBench(ctx context.Context, out io.Writer, n, rounds int, withErlang bool) error {
	var b [6]byte
	rand.Read(b[:])
	d := &demo{out: io.Discard, cookie: "bench-" + hex.EncodeToString(b[:])}
	defer d.cleanup()
	port, err := freePort()
	if err != nil {
		return err
	}
	d.epmdPort = port
	ctl, err := distribute.Start(ctx, distribute.Config{Name: "bench@localhost", Cookie: d.cookie, EpmdPort: port,
		EpmdListen: fmt.Sprintf("127.0.0.1:%d", port)})
	if err != nil {
		return remoteError(err)
	}
	d.ctl = ctl
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "starting a Go peer node (a separate process)...")
	goPeer, err := d.startChild(ctx, exec.Command(exe, "bench-peer", "--name", "gopeer@localhost", "--cookie", d.cookie,
		"--epmd-port", strconv.Itoa(port)), "gopeer@localhost", "started gopeer@localhost")
	if err != nil {
		return remoteError(err)
	}
	d.children = append(d.children, goPeer)
	peers := []distribute.Atom{goPeer.name}
	if withErlang {
		if erl, err := exec.LookPath("erl"); err == nil {
			fmt.Fprintln(out, "starting an Erlang peer node...")
			dir, err := os.MkdirTemp("", "distribute-bench")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			src := filepath.Join(dir, "distribute_bench.erl")
			if err := os.WriteFile(src, []byte(benchErlModule), 0o644); err != nil {
				return err
			}
			ecmd := exec.Command(erl, "-noshell", "-sname", "erlpeer@localhost", "-setcookie", d.cookie,
				"-start_epmd", "false", "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
				"-eval", fmt.Sprintf(`{ok, M, Bin} = compile:file(%q, [binary]), {module, M} = code:load_binary(M, %q, Bin), distribute_bench:start(), receive stop -> ok end`, src, src))
			ecmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(port))
			c, err := d.startChild(ctx, ecmd, "erlpeer@localhost", "started erlpeer@localhost")
			if err != nil {
				return remoteError(err)
			}
			d.children = append(d.children, c)
			peers = append(peers, c.name)
		}
	}
	p, _ := ctl.NewProcess()
	var rows []benchRow
	for _, peer := range peers {
		if err := ctl.Connect(ctx, peer); err != nil {
			return remoteError(err)
		}
		for _, size := range []int{64, 1024} {
			fmt.Fprintf(out, "  %s: %d x %d-byte binaries...\n", peer, n, size)
			rate, err := benchThroughput(ctx, p, peer, size, n)
			if err != nil {
				return remoteError(err)
			}
			rows = append(rows, benchRow{string(peer), fmt.Sprintf("one-way %d B", size), fmt.Sprintf("%.0f msgs/s (%.1f MB/s)", rate, rate*float64(size)/1e6)})
		}
		fmt.Fprintf(out, "  %s: %d round trips...\n", peer, rounds)
		p50, p99, err := benchPingPong(ctx, p, peer, rounds)
		if err != nil {
			return remoteError(err)
		}
		rows = append(rows, benchRow{string(peer), "ping-pong 64 B", fmt.Sprintf("p50 %.1f µs, p99 %.1f µs", p50, p99)})
		start := time.Now()
		for i := 0; i < rounds; i++ {
			if _, err := p.CallName(ctx, "echo", peer, etf.Atom("ping")); err != nil {
				return remoteError(err)
			}
		}
		rows = append(rows, benchRow{string(peer), "gen_server:call", fmt.Sprintf("%.0f calls/s", float64(rounds)/time.Since(start).Seconds())})
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "peer\tmeasure\tresult")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.peer, r.what, r.result)
	}
	return tw.Flush()
}

func benchThroughput(ctx context.Context, p *distribute.Process, peer distribute.Atom, size, n int) (float64, error) {
	var msg etf.Term = etf.Binary(make([]byte, size))
	start := time.Now()
	if err := p.SendName(ctx, "sink", peer, etf.Tuple{etf.Atom("count"), p.Pid(), int64(n)}); err != nil {
		return 0, err
	}
	for i := 0; i < n; i++ {
		if err := p.SendName(ctx, "sink", peer, msg); err != nil {
			return 0, err
		}
	}
	reply, err := p.Receive(ctx)
	if err != nil {
		return 0, err
	}
	if !etf.Equal(reply, etf.Tuple{etf.Atom("done"), int64(n * size)}) {
		return 0, fmt.Errorf("sink on %s replied %s", peer, etf.Format(reply))
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func benchPingPong(ctx context.Context, p *distribute.Process, peer distribute.Atom, rounds int) (p50, p99 float64, err error) {
	msg := etf.Tuple{p.Pid(), etf.Binary(make([]byte, 64))}
	lat := make([]time.Duration, 0, rounds)
	for i := 0; i < rounds; i++ {
		t0 := time.Now()
		if err := p.SendName(ctx, "echo", peer, msg); err != nil {
			return 0, 0, err
		}
		if _, err := p.Receive(ctx); err != nil {
			return 0, 0, err
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	return us(lat[len(lat)/2]), us(lat[len(lat)*99/100]), nil
}
