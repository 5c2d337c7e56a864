package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/epmd"
	"github.com/spf13/cobra"
)

func newPingCmd() *cobra.Command {
	var c common
	cmd := &cobra.Command{
		Use:   "ping NODE",
		Short: "Check that NODE answers: prints pong (exit 0) or pang (exit 1)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := c.withTimeout(cmd.Context())
			defer cancel()
			n, err := c.startClient(ctx, args[0])
			if err != nil {
				return err
			}
			defer stopNode(n)
			if err := n.Ping(ctx, distribute.Atom(args[0])); err != nil {
				fmt.Fprintln(cmd.OutOrStdout(), "pang")
				return failed("ping "+args[0], err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "pong")
			return nil
		},
	}
	c.addFlags(cmd, true)
	return cmd
}

func newNamesCmd() *cobra.Command {
	var c common
	cmd := &cobra.Command{
		Use:   "names [HOST]",
		Short: "List the names registered with epmd on HOST (default localhost)",
		Args:  maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			host := "localhost"
			if len(args) == 1 {
				host = args[0]
			}
			port, err := c.resolveEpmdPort()
			if err != nil {
				return err
			}
			ctx, cancel := c.withTimeout(cmd.Context())
			defer cancel()
			names, err := epmd.Names(ctx, host, port)
			if err != nil {
				return failed(fmt.Sprintf("names %s: epmd at port %d", host, port), err)
			}
			for _, e := range names {
				fmt.Fprintf(cmd.OutOrStdout(), "name %s at port %d\n", e.Name, e.Port)
			}
			return nil
		},
	}
	// names talks to epmd only: it needs no cookie, TLS or logs. Those
	// flags are still accepted, as on every command, but help does not
	// list them.
	c.addFlags(cmd, true)
	for _, f := range []string{"cookie", "tls-cert", "tls-key", "tls-ca", "log-level", "log-format"} {
		cmd.Flags().MarkHidden(f)
	}
	return cmd
}

func newSendCmd() *cobra.Command {
	var c common
	cmd := &cobra.Command{
		Use:   "send NODE NAME TERM",
		Short: "Send TERM to the process registered as NAME on NODE (no delivery receipt)",
		Long: "Send TERM to the process registered as NAME on NODE, as {NAME, NODE} ! TERM.\n" +
			"Like Erlang's send there is no delivery receipt: the command exits 0 once the\n" +
			"message is handed to the connection.",
		Args:        minArgs(3),
		Annotations: termArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withNamedTarget(cmd, "send", args, func(ctx context.Context, p *distribute.Process, node, name distribute.Atom, msg etf.Term) error {
				// Stopping the client node flushes the connection before it closes.
				return p.SendName(ctx, name, node, msg)
			})
		},
	}
	c.addFlags(cmd, true)
	return cmd
}

func newCallCmd() *cobra.Command {
	var c common
	cmd := &cobra.Command{
		Use:         "call NODE NAME TERM",
		Short:       "Make a gen_server call to NAME on NODE and print the reply",
		Args:        minArgs(3),
		Annotations: termArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withNamedTarget(cmd, "call", args, func(ctx context.Context, p *distribute.Process, node, name distribute.Atom, req etf.Term) error {
				reply, err := p.CallName(ctx, name, node, req)
				if err == nil {
					fmt.Fprintln(cmd.OutOrStdout(), etf.Format(reply))
				}
				return err
			})
		},
	}
	c.addFlags(cmd, true)
	return cmd
}

// withNamedTarget runs the shared part of `send` and `call`: args are
// NODE NAME TERM...; it parses them, starts the client node and a process,
// and runs do, turning its error into exit 1.
func (c *common) withNamedTarget(cmd *cobra.Command, verb string, args []string, do func(ctx context.Context, p *distribute.Process, node, name distribute.Atom, term etf.Term) error) error {
	if err := checkNodeName(args[0]); err != nil {
		return err
	}
	term, err := etf.ParseText(strings.Join(args[2:], " "))
	if err != nil {
		return usageError("%s: TERM: %v", verb, err)
	}
	ctx, cancel := c.withTimeout(cmd.Context())
	defer cancel()
	n, err := c.startClient(ctx, args[0])
	if err != nil {
		return err
	}
	defer stopNode(n)
	p, err := n.NewProcess()
	if err != nil {
		return remoteError(err)
	}
	node, name := distribute.Atom(args[0]), distribute.Atom(args[1])
	if err := do(ctx, p, node, name, term); err != nil {
		return failed(fmt.Sprintf("%s %s on %s", verb, name, node), err)
	}
	return nil
}

// Argument-count checks that report usage errors (exit 2).
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("%s: want %d argument(s), got %d (see --help)", cmd.CommandPath(), n, len(args))
		}
		return nil
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageError("%s: want at least %d arguments, got %d (see --help)", cmd.CommandPath(), n, len(args))
		}
		return nil
	}
}

func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return usageError("%s: want at most %d argument(s), got %d (see --help)", cmd.CommandPath(), n, len(args))
		}
		return nil
	}
}
