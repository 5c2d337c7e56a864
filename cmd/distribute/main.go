// Command distribute runs, pings and talks to Erlang-distribution nodes, Go and
// BEAM alike, and converts terms between Erlang text and the External Term
// Format. Its names, flags, outputs and exit codes are a stable contract,
// checked by the tests of this package.
//
// Exit codes: 0 success; 1 the remote side gave no result (pang, unreachable,
// refused, timeout, noproc, an RPC that raised); 2 usage or input error.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes of the CLI contract.
const (
	exitOK     = 0
	exitRemote = 1
	exitUsage  = 2
)

// exitError carries the exit code of a failed command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError reports bad flags, arguments or input (exit 2).
func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// remoteError reports that the remote side gave no result (exit 1).
func remoteError(err error) error {
	return &exitError{code: exitRemote, err: err}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the CLI with args and returns the exit code. Errors are
// printed to stderr as one line.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(termArgsLast(root, args))
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	code := exitUsage // cobra's own errors are about flags and arguments
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " ")
	fmt.Fprintf(stderr, "%s%s\n", pkgPrefix, strings.TrimPrefix(msg, pkgPrefix))
	return code
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "distribute",
		Short:         "Erlang-style distributed computing for Go: nodes, processes, terms",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%s: %v (see %s --help)", c.CommandPath(), err, c.CommandPath())
	})
	root.AddCommand(newTermCmd(), newNodeCmd(), newPingCmd(), newNamesCmd(), newSendCmd(), newCallCmd(), newRPCCmd(), newDemoCmd(), newBenchCmd(), newBenchPeerCmd())
	// Every flag of every command can come from the environment
	// (DISTRIBUTE_ + its name): applied before the command runs, named in
	// each flag's help line.
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		return applyEnv(c.Flags(), os.LookupEnv)
	}
	var document func(c *cobra.Command)
	document = func(c *cobra.Command) {
		documentEnv(c.Flags())
		for _, sub := range c.Commands() {
			document(sub)
		}
	}
	document(root)
	root.Long = "Erlang-style distributed computing for Go: nodes, processes, terms.\n\n" + envHelp
	return root
}

// termArgsLast lets positional terms start with '-' (distribute term encode
// -1): for the command args select, it moves every token that is a flag of
// that command (with its value) before a "--", and every other token after
// it, so pflag never reads a term as a flag. A "--" the user typed is
// dropped.
func termArgsLast(root *cobra.Command, args []string) []string {
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root || cmd.Annotations["termArgs"] != "true" {
		return args
	}
	// The command path occupies the tokens of args that are not in rest.
	path := args[:len(args)-len(rest)]
	// The help flag is added at execution; add it now so --help is a flag.
	cmd.InitDefaultHelpFlag()
	fs := cmd.Flags()
	fs.AddFlagSet(cmd.InheritedFlags())
	var flags, positional []string
	for i := 0; i < len(rest); i++ {
		tok := rest[i]
		if tok == "--" {
			// Accepted and dropped: terms need no "--" before them, and
			// no term starts with "--", so the command's flags may still
			// follow it (call NODE NAME -- -1 --timeout 1s).
			continue
		}
		name, hasValue := flagName(tok)
		var f = fs.Lookup(name)
		if f == nil && len(name) == 1 {
			f = fs.ShorthandLookup(name)
		}
		if f == nil {
			positional = append(positional, tok)
			continue
		}
		flags = append(flags, tok)
		if !hasValue && f.NoOptDefVal == "" && i+1 < len(rest) {
			i++
			flags = append(flags, rest[i])
		}
	}
	out := append(append([]string{}, path...), flags...)
	out = append(out, "--")
	return append(out, positional...)
}

// flagName returns the flag name of a "--name[=v]" or "-n" token, or "".
func flagName(tok string) (name string, hasValue bool) {
	switch {
	case strings.HasPrefix(tok, "--") && len(tok) > 2:
		name = tok[2:]
	case strings.HasPrefix(tok, "-") && len(tok) == 2:
		name = tok[1:]
	default:
		return "", false
	}
	if i := strings.IndexByte(name, '='); i >= 0 {
		return name[:i], true
	}
	return name, false
}
