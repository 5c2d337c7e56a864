package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

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

// envHelp is what node --help says about the environment.
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

// expandName completes a --name without a host (just ALIVE) with this
// host's IP address, as `hostname -i` finds it: a long name ALIVE@IP
// that peers can reach, for containers without a shell to compute it. A
// name with a host is returned as it is.
func expandName(name string) (string, error) {
	if name == "" || strings.Contains(name, "@") {
		return name, nil
	}
	ip, err := hostIP()
	if err != nil {
		return "", usageError("node: --name %s: no host given, and %v", name, err)
	}
	return name + "@" + ip.String(), nil
}

// hostIP is this host's address for a name without a host: the first
// IPv4 address its host name resolves to (through the system resolver,
// so /etc/hosts first, as in a container) that is not loopback, else the
// first IPv4 address, not loopback nor link-local, of an interface that
// is up.
func hostIP() (netip.Addr, error) {
	if h, err := os.Hostname(); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ips, _ := net.DefaultResolver.LookupNetIP(ctx, "ip4", h)
		cancel()
		for _, ip := range ips {
			if ip = ip.Unmap(); ip.Is4() && !ip.IsLoopback() && !ip.IsUnspecified() {
				return ip, nil
			}
		}
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("listing interfaces: %w", err)
	}
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if ip = ip.Unmap(); ok && ip.Is4() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
				return ip, nil
			}
		}
	}
	return netip.Addr{}, errors.New("this host has no IPv4 address besides loopback (give --name ALIVE@HOST)")
}
