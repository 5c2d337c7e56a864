package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/rpc"
	"github.com/spf13/cobra"
)

func newRPCCmd() *cobra.Command {
	var c common
	cmd := &cobra.Command{
		Use:   "rpc NODE MOD FUN [ARGS]",
		Short: "Call MOD:FUN(ARGS...) on NODE (BEAM or Go) and print the result",
		Long: "Call MOD:FUN(ARGS...) on NODE, as erpc:call does, and print the result.\n" +
			"ARGS is an Erlang list of the arguments (default []), e.g. '[[1,2,3]]'.\n" +
			"When the function raises, the command exits 1 and prints the reason the\n" +
			"way rpc:call returns it, e.g. {badrpc,{'EXIT',{undef,[...]}}}. A thrown value\n" +
			"is what rpc:call returns, a result: it is printed and the command exits 0.",
		Args:        minArgs(3),
		Annotations: termArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkNodeName(args[0]); err != nil {
				return err
			}
			var callArgs []etf.Term
			if len(args) > 3 {
				t, err := etf.ParseText(strings.Join(args[3:], " "))
				if err != nil {
					return usageError("rpc: ARGS: %v", err)
				}
				var ok bool
				if callArgs, ok = argList(t); !ok {
					return usageError("rpc: ARGS: %s is not a list", etf.Format(t))
				}
			}
			ctx, cancel := c.withTimeout(cmd.Context())
			defer cancel()
			n, err := c.startClient(ctx, args[0])
			if err != nil {
				return err
			}
			defer stopNode(n)
			v, err := rpc.NewClient(n).Call(ctx, distribute.Atom(args[0]), etf.Atom(args[1]), etf.Atom(args[2]), callArgs...)
			var e *rpc.Error
			switch {
			case errors.As(err, &e) && e.Class == rpc.ClassThrow:
				// rpc:call returns a thrown value as its result
				// (rpc:call(N, erlang, throw, [ball]) is ball).
				v = e.Reason
			case err != nil:
				return remoteError(fmt.Errorf("rpc: %s", describeRPC(err)))
			}
			fmt.Fprintln(cmd.OutOrStdout(), etf.Format(v))
			return nil
		},
	}
	c.addFlags(cmd, true)
	return cmd
}

// argList returns the elements of a proper list term (a char list is a
// list of integers).
func argList(t etf.Term) ([]etf.Term, bool) {
	switch l := t.(type) {
	case etf.List:
		return l, true
	case etf.CharList:
		out := make([]etf.Term, 0, len(l))
		for _, r := range string(l) {
			out = append(out, int64(r))
		}
		return out, true
	case nil:
		return nil, true
	}
	return nil, false
}

// describeRPC is the Erlang-shaped reason of a failed RPC: what rpc:call
// returns ({badrpc, ...}).
func describeRPC(err error) string {
	if t, ok := rpc.BadRPC(err); ok {
		return etf.Format(t)
	}
	return describe(err)
}
