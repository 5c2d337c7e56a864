package main

import (
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// envPrefix starts the environment variable of every node flag.
const envPrefix = "DISTRIBUTE_"

// envName is the environment variable of a flag, by the CLI contract's
// rule: DISTRIBUTE_ and the flag's name in capitals with '_' for '-'
// (--discover-interval is DISTRIBUTE_DISCOVER_INTERVAL).
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// envHelp is what --help says about the environment (the root's and
// node's).
const envHelp = "Every flag can be set from the environment instead: DISTRIBUTE_ and the flag's\n" +
	"name in capitals with _ for - (--name is DISTRIBUTE_NAME, --discover-interval\n" +
	"DISTRIBUTE_DISCOVER_INTERVAL; each flag's line names its variable). A repeatable\n" +
	"flag takes a space-separated list (DISTRIBUTE_INBOX=\"a b\"); a flag given on the\n" +
	"command line wins over its variable, and an empty variable counts as unset."

// documentEnv appends each flag's variable to its help line.
func documentEnv(fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if v := "$" + envName(f.Name); f.Name != "help" && !strings.Contains(f.Usage, v) {
			f.Usage += " [" + v + "]"
		}
	})
}

// applyEnv sets every flag of fs that the command line did not set from
// its environment variable, when that is set and not empty (lookup is
// os.LookupEnv). A repeatable flag (a slice) takes the variable's
// space-separated words. A value the flag refuses is a usage error naming
// the variable.
func applyEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" {
			return
		}
		key := envName(f.Name)
		v, ok := lookup(key)
		if !ok || strings.TrimSpace(v) == "" {
			return
		}
		var err error
		if sv, isSlice := f.Value.(pflag.SliceValue); isSlice {
			err = sv.Replace(strings.Fields(v))
		} else {
			err = f.Value.Set(strings.TrimSpace(v))
		}
		if err != nil {
			errs = append(errs, usageError("%s=%q: %v (it sets --%s)", key, v, err, f.Name))
			return
		}
		f.Changed = true
	})
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// withoutNodeEnv returns env (os.Environ() when nil) without the
// DISTRIBUTE_ variables, for the nodes a command starts as children.
func withoutNodeEnv(env []string) []string {
	if env == nil {
		env = os.Environ()
	}
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, envPrefix) {
			out = append(out, kv)
		}
	}
	return out
}
