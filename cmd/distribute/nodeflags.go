package main

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"
)

// checkListenAddr checks a HOST:PORT value: a host (a name, an IP, or
// empty for every interface) and a port number or service name.
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want HOST:PORT: %w", err)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("bad port: %w", err)
	}
	return nil
}

// checkEpmdListen checks --epmd-listen against the epmd port the node
// uses: the embedded epmd must serve the port every node of the host
// looks up.
func checkEpmdListen(addr string, epmdPort int) error {
	if addr == "" {
		return nil
	}
	if err := checkListenAddr(addr); err != nil {
		return usageError("node: --epmd-listen %q: %v", addr, err)
	}
	_, port, _ := net.SplitHostPort(addr)
	if p, err := strconv.Atoi(port); err != nil || p != epmdPort {
		return usageError("node: --epmd-listen %q: the port must be the epmd port, %d (--epmd-port, $ERL_EPMD_PORT)", addr, epmdPort)
	}
	return nil
}

// checkTickTime checks --tick-time.
func checkTickTime(d time.Duration) error {
	if d <= 0 {
		return usageError("node: --tick-time %v: want a positive duration (Erlang's net_ticktime; default 60s)", d)
	}
	return nil
}

// checkInboxFlags checks that every --global and --group has an inbox to
// act on, and that --global has a registry to register in.
func checkInboxFlags(inboxes, globals, groups []string, hidden bool) error {
	for _, g := range globals {
		if !slices.Contains(inboxes, g) {
			return usageError("node: --global %s: no --inbox %s to register", g, g)
		}
	}
	if len(globals) > 0 && hidden {
		return usageError("node: --global needs a visible node (not --hidden)")
	}
	if len(groups) > 0 && len(inboxes) == 0 {
		return usageError("node: --group needs an --inbox to join the group")
	}
	return nil
}
