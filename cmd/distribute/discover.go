package main

import (
	"time"

	"github.com/distribute-go/distribute/cluster"
	"github.com/spf13/pflag"
)

// discoveryFlags are node's --discover and --discover-interval.
type discoveryFlags struct {
	specs    []string
	interval time.Duration
}

func (d *discoveryFlags) addFlags(f *pflag.FlagSet) {
	f.StringArrayVar(&d.specs, "discover", nil, "find peers to join: dns:NAME (each IPv4 address of NAME is a peer ALIVE@IP, ALIVE this node's alive part), srv:NAME (each SRV target T is a peer ALIVE@T), or file:PATH (node names, one a line); re-polled every --discover-interval (repeatable)")
	f.DurationVar(&d.interval, "discover-interval", cluster.DefaultDiscoverInterval, "how often --discover's sources are polled (and how long one may take to answer)")
}

// sources parses the --discover specs (a usage error when one is bad)
// and checks the interval.
func (d *discoveryFlags) sources() ([]cluster.Discovery, error) {
	if d.interval <= 0 {
		return nil, usageError("node: --discover-interval %v: want a positive duration", d.interval)
	}
	var out []cluster.Discovery
	for _, spec := range d.specs {
		src, err := cluster.ParseDiscovery(spec)
		if err != nil {
			return nil, usageError("node: --discover %s: %v", spec, describe(err))
		}
		out = append(out, src)
	}
	return out, nil
}

// discoverHelp is what node --help says about discovery.
const discoverHelp = "Peers come from --join (node names, retried until one answers) and from\n" +
	"--discover sources, polled at start and then every --discover-interval (5s):\n" +
	"  dns:NAME    every IPv4 address of NAME (A records; a Kubernetes headless\n" +
	"              service) is a peer ALIVE@IP, ALIVE being this node's alive part:\n" +
	"              for nodes named after their IP, --name app@$(POD_IP)\n" +
	"  srv:NAME    every target T of NAME's SRV records is a peer ALIVE@T (the port\n" +
	"              is not used: epmd on T gives it): for nodes named after a stable\n" +
	"              host name, a StatefulSet's POD.SERVICE.NAMESPACE.svc.cluster.local\n" +
	"  file:PATH   node names in a file, one a line (# starts a comment), read at\n" +
	"              every poll\n" +
	"The names found that are not alive members are joined; one that disappears is\n" +
	"left to SWIM, never cut off. Lookups use the system resolver (/etc/resolv.conf)."
