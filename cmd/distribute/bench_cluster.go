package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/distribute-go/distribute/distributetest/scale"
	"github.com/spf13/cobra"
)

// `distribute bench cluster`: the scale harness (package
// distributetest/scale) from the command line.

func newBenchClusterCmd() *cobra.Command {
	var (
		nodes      string
		withErlang bool
		erlangMax  int
		cfg        scale.Config
		out        string
		logs       string
	)
	cmd := &cobra.Command{
		Use:   "cluster --nodes N[,N...] [--erlang] [--idle D] [--out DIR]",
		Short: "Start N local nodes with every service and measure what the cluster costs",
		Long: "Start N `distribute node` processes on loopback (membership joined to the first,\n" +
			"pg, global, election with --expect voters), with a private epmd, and measure:\n" +
			"the time until every node sees N alive members, N-1 connections and one leader;\n" +
			"RSS, threads, descriptors and goroutines per node and idle CPU over --idle; the\n" +
			"time until a global name (--names of them) and a pg join (--joins) reach every\n" +
			"node; a broadcast to every node's inbox; and, after a SIGKILL of the last node,\n" +
			"the time until every other node prints nodedown and sees it dead. Then it stops\n" +
			"them all. With --erlang, the same with plain erl nodes (connect_all, pg, global)\n" +
			"at each N, so each figure has a Go/Erlang ratio. Prints a table; with --out,\n" +
			"writes results.json, results.csv and SVG plots of each cost against N there\n" +
			"(merged with the results of earlier runs in DIR). Progress goes to stderr.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			sizes, err := parseSizes(nodes)
			if err != nil {
				return err
			}
			if cfg.Profile != "lan" && cfg.Profile != "local" {
				return usageError("bench cluster: --profile %q: want lan or local", cfg.Profile)
			}
			if cfg.Idle <= 0 {
				return usageError("bench cluster: --idle must be positive")
			}
			if cfg.Expect < 0 || cfg.Names < 1 || cfg.Joins < 1 || cfg.Broadcasts < 1 || cfg.ElectionNodes < 0 {
				return usageError("bench cluster: --expect, --names, --joins and --broadcasts must be positive")
			}
			for _, n := range sizes {
				voters, electing := cfg.Expect, cfg.ElectionNodes
				if voters == 0 {
					voters = min(3, n)
				}
				if electing == 0 || electing > n {
					electing = n
				}
				if voters > electing {
					return usageError("bench cluster: N = %d: %d voters but %d election nodes", n, voters, electing)
				}
			}
			kinds := []scale.Kind{scale.Go}
			if withErlang {
				if _, err := exec.LookPath("erl"); err != nil && os.Getenv("DISTRIBUTE_ERL") == "" {
					return usageError("bench cluster: --erlang needs erl on the PATH")
				}
				kinds = append(kinds, scale.Erlang)
			}
			if cfg.Binary, err = os.Executable(); err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			cfg.Logf = func(format string, args ...any) {
				fmt.Fprintf(stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			var results []scale.Result
			var failed []error
			for _, n := range sizes {
				for _, k := range kinds {
					if k == scale.Erlang && erlangMax > 0 && n > erlangMax {
						continue
					}
					c := cfg
					c.Kind, c.Nodes = k, n
					if logs != "" {
						c.Dir = filepath.Join(logs, fmt.Sprintf("%s-%d", k, n))
						os.RemoveAll(c.Dir)
					}
					r, err := scale.Run(ctx, c)
					if ctx.Err() != nil {
						break // an interrupted run is not a result
					}
					if r != nil {
						results = append(results, *r)
					}
					if err != nil {
						cfg.Logf("%v", err)
						failed = append(failed, err)
					}
				}
				if ctx.Err() != nil {
					break
				}
			}
			if err := scale.WriteTable(cmd.OutOrStdout(), results); err != nil {
				return err
			}
			if out != "" && len(results) > 0 {
				if _, err := scale.WriteResults(out, results); err != nil {
					return remoteError(fmt.Errorf("bench cluster: --out %s: %w", out, err))
				}
				cfg.Logf("results in %s (results.json, results.csv, scale.svg)", out)
			}
			if ctx.Err() != nil {
				return remoteError(errors.New("bench cluster: interrupted; every node started was stopped"))
			}
			if len(failed) > 0 {
				return remoteError(fmt.Errorf("bench cluster: %d of %d runs failed; first: %w", len(failed), len(results), failed[0]))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&nodes, "nodes", "", "cluster sizes: N, or a comma-separated list (10,25,50,100) run one after the other (required)")
	f.BoolVar(&withErlang, "erlang", false, "also run each size with plain Erlang nodes (needs erl)")
	f.IntVar(&erlangMax, "erlang-max", 0, "with --erlang: only the sizes up to N (default all)")
	f.DurationVar(&cfg.Idle, "idle", 60*time.Second, "the idle window over which CPU is measured")
	f.DurationVar(&cfg.Settle, "settle", 5*time.Second, "the pause between convergence and the idle window")
	f.StringVar(&out, "out", "", "write results.json, results.csv and SVG plots to DIR (merged with earlier runs there)")
	f.StringVar(&logs, "logs", "", "keep each run's node output and data in DIR/KIND-N (default: a temporary directory, removed)")
	f.StringVar(&cfg.Profile, "profile", "lan", "the Go nodes' membership and Raft timings: lan or local")
	f.StringVar(&cfg.LogLevel, "node-log-level", "warn", "the Go nodes' --log-level (debug, info, warn or error); their logs are kept with --logs")
	f.IntVar(&cfg.Expect, "expect", 0, "Raft voters, every election node's --expect (default 3, or N when smaller)")
	f.IntVar(&cfg.ElectionNodes, "election-nodes", 0, "how many Go nodes (the first ones) run --election (default all)")
	f.IntVar(&cfg.Names, "names", 100, "global registrations measured")
	f.IntVar(&cfg.Joins, "joins", 100, "pg joins measured")
	f.IntVar(&cfg.Broadcasts, "broadcasts", 20, "broadcasts measured")
	f.DurationVar(&cfg.Timeout, "wait", 0, "the bound on each wait: start and convergence, each propagation, the kill's detection (default 2m plus 1s per node)")
	return cmd
}

// parseSizes reads --nodes.
func parseSizes(s string) ([]int, error) {
	if s == "" {
		return nil, usageError("bench cluster: --nodes is required")
	}
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			return nil, usageError("bench cluster: --nodes %q: want sizes of at least 2, comma-separated", s)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}
