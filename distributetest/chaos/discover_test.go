package chaos

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// peersName is the DNS name whose A records list the nodes, as a
// Kubernetes headless service does.
const peersName = "peers.disco.test"

// erlDiscoverEval is the -eval that makes an Erlang node find a
// distribute cluster by DNS (erl has no flag for it): every IPv4 address
// of the name is a node app@IP, connected again every second (docs:
// DEPLOY.md shows it with a 5 s period). inet_res reads the system's
// /etc/resolv.conf.
const erlDiscoverEval = `Discover = fun Loop() ->
    [net_kernel:connect_node(list_to_atom("app@" ++ inet:ntoa(IP)))
     || IP <- inet_res:lookup("` + peersName + `", in, a)],
    timer:sleep(1000),
    Loop()
end,
spawn(Discover).`

// waitAllAlive waits until every node in among has printed an `event
// member OTHER alive` line for every other node in among (its last line
// about it).
func waitAllAlive(t *testing.T, c *Cluster, among []int) {
	t.Helper()
	deadline := time.Now().Add(c.opts.Bound)
	for {
		var missing []string
		for _, i := range among {
			for _, j := range among {
				if i != j && c.nodes[i].MemberState(c.nodes[j].Name) != "alive" {
					missing = append(missing, fmt.Sprintf("%s sees %s %q", c.nodes[i].Name, c.nodes[j].Name, c.nodes[i].MemberState(c.nodes[j].Name)))
				}
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not one cluster within %v:\n  %s", c.opts.Bound, strings.Join(missing, "\n  "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitMemberState waits until every node in among last printed state for
// the member named name.
func waitMemberState(t *testing.T, c *Cluster, among []int, name, state string) {
	t.Helper()
	deadline := time.Now().Add(c.opts.Bound)
	for {
		var wrong []string
		for _, i := range among {
			if got := c.nodes[i].MemberState(name); got != state {
				wrong = append(wrong, fmt.Sprintf("%s sees %s %q", c.nodes[i].Name, name, got))
			}
		}
		if len(wrong) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not %s everywhere within %v:\n  %s", name, state, c.opts.Bound, strings.Join(wrong, "\n  "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func without(s []int, v int) []int {
	return slices.DeleteFunc(slices.Clone(s), func(x int) bool { return x == v })
}

// TestDiscoverByDNS: five nodes in their own namespaces, with their own
// addresses, find each other through a DNS server (the A records of one
// name, as a headless service gives them), looked up by the system
// resolver of each namespace, form one cluster and elect a leader; a
// sixth record is added and its node joins; an Erlang node joins the
// same cluster through the same records; a record removed from DNS
// leaves its node a member (discovery never cuts); the leader's record
// is removed and its node killed: the cluster shrinks and elects again.
func TestDiscoverByDNS(t *testing.T) {
	erl := distributetest.RequireErl(t)
	epmd, err := exec.LookPath("epmd")
	if err != nil {
		t.Skip("no epmd")
	}
	// Go's own resolver reads /etc/resolv.conf, which `ip netns exec`
	// bind-mounts from /etc/netns/NS. A cgo build may hand lookups to
	// libc and its NSS modules instead when /etc/nsswitch.conf names
	// ones Go does not know (nss-resolve then asks systemd-resolved,
	// outside the namespace's resolv.conf); on this project's machine
	// (files mdns4_minimal [NOTFOUND=return] dns) it picks its own
	// resolver anyway. netdns=go makes that certain, as a CGO_ENABLED=0
	// build (the container image) always is.
	t.Setenv("GODEBUG", "netdns=go")
	c := New(t, Options{
		Nodes: 6, Spare: 1, Election: true, Expect: 5, Alive: "app", NoJoin: true,
		Args: []string{"--discover", "dns:" + peersName, "--discover-interval", "500ms"},
	})
	dns := distributetest.StartDNS(t, net.JoinHostPort(c.BridgeIP(), "53"))
	c.SetNameserver(c.BridgeIP())
	var ips []string
	for _, n := range c.Nodes() {
		ips = append(ips, n.IP)
	}
	five := []int{0, 1, 2, 3, 4}
	dns.SetAddrs(peersName, ips[:5]...)

	// The five start together: no order, no seed named.
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for _, i := range five {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.start(i, false)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	waitAllAlive(t, c, five)
	for _, i := range five {
		if dns.Queries(ips[i]) == 0 {
			t.Fatalf("%s asked the DNS server nothing: its resolver is not the namespace's", c.nodes[i].Name)
		}
	}
	leader, term, err := c.WaitLeader(five)
	if err != nil {
		t.Fatal(err)
	}
	c.Logf("five nodes, one cluster; %s leads term %d", c.nodes[leader].Name, term)

	// A sixth record, and its node joins.
	dns.SetAddrs(peersName, ips...)
	c.Start(5)
	six := []int{0, 1, 2, 3, 4, 5}
	waitAllAlive(t, c, six)

	// An Erlang node joins the same cluster by DNS: it has its own epmd
	// in its namespace, and connects to app@IP for every A record.
	ns, erlIP := c.Spare(0)
	erlName := "erl@" + erlIP
	ep := c.Command(ns, epmd, "-port", "4369")
	if err := ep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Process.Kill(); ep.Wait() })
	var erlOut bytes.Buffer
	en := c.Command(ns, erl, "-noshell", "-name", erlName, "-setcookie", c.opts.Cookie, "-start_epmd", "false", "-eval", erlDiscoverEval)
	en.Env = append(en.Environ(), "ERL_EPMD_PORT=4369", "ERL_CRASH_DUMP_SECONDS=0")
	en.Stdout, en.Stderr = &erlOut, &erlOut
	if err := en.Start(); err != nil {
		t.Fatal(err)
	}
	erlDone := make(chan struct{})
	go func() { en.Wait(); close(erlDone) }()
	t.Cleanup(func() { en.Process.Signal(syscall.SIGKILL); <-erlDone })
	for _, i := range six {
		if _, ok := c.nodes[i].WaitLine(0, c.opts.Bound, func(s string) bool { return s == "event nodeup "+erlName }); !ok {
			t.Fatalf("%s printed no `event nodeup %s`; erl's output:\n%s", c.nodes[i].Name, erlName, erlOut.String())
		}
	}
	if dns.Queries(erlIP) == 0 {
		t.Fatal("the Erlang node asked the DNS server nothing")
	}
	out, stderr, code := c.Exec(0, "rpc", erlName, "erlang", "nodes")
	for _, i := range six {
		if code != 0 || !strings.Contains(out, c.nodes[i].Name) {
			t.Fatalf("erlang:nodes() on %s = %q (%s, exit %d); want every Go node", erlName, out, stderr, code)
		}
	}

	// A record removed while its node runs: after every node has polled
	// DNS twice more, it is still a member everywhere.
	stay := (leader + 1) % 6
	rest := slices.DeleteFunc(slices.Clone(ips), func(ip string) bool { return ip == ips[stay] })
	dns.SetAddrs(peersName, rest...)
	before := make([]int, 6)
	marks := make([]int, 6)
	for _, i := range six {
		before[i] = dns.Queries(ips[i])
		marks[i] = c.nodes[i].Mark()
	}
	deadline := time.Now().Add(c.opts.Bound)
	for _, i := range six {
		// Each poll asks A and AAAA: four questions are two polls.
		for dns.Queries(ips[i]) < before[i]+4 {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not poll DNS again within %v", c.nodes[i].Name, c.opts.Bound)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitAllAlive(t, c, six)
	for _, i := range without(six, stay) {
		for _, l := range c.nodes[i].Lines()[marks[i]:] {
			if strings.HasPrefix(l.Text, "event nodedown "+c.nodes[stay].Name+" ") {
				t.Fatalf("%s lost %s after its record went: %s", c.nodes[i].Name, c.nodes[stay].Name, l.Text)
			}
		}
	}

	// The leader's record removed and its node killed: the others see it
	// dead, and elect another leader in a higher term.
	old := leader
	rest = slices.DeleteFunc(slices.Clone(rest), func(ip string) bool { return ip == ips[old] })
	dns.SetAddrs(peersName, rest...)
	c.Kill(old)
	others := without(six, old)
	waitMemberState(t, c, others, c.nodes[old].Name, "dead")
	leader, term2, err := c.WaitLeader(others)
	if err != nil {
		t.Fatal(err)
	}
	if leader == old || term2 <= term {
		t.Fatalf("after killing %s (term %d): %s leads term %d; want another node, a higher term", c.nodes[old].Name, term, c.nodes[leader].Name, term2)
	}
	waitAllAlive(t, c, others)
	c.Logf("after the kill: %s leads term %d among %d nodes", c.nodes[leader].Name, term2, len(others))
	c.CheckSafety(t)
}

// TestDiscoverBySRV: three voters named after host names (app@hK.disco.test,
// as a StatefulSet's pods are through their headless service) find each
// other through SRV records whose targets are those names, resolved, like
// the nodes' own names, by the namespaces' system resolver; they elect a
// leader; SIGTERM to the leader: it exits 0, the others see it left (not
// dead) and elect another.
func TestDiscoverBySRV(t *testing.T) {
	t.Setenv("GODEBUG", "netdns=go") // see TestDiscoverByDNS
	const srvName = "_epmd._tcp.app.disco.test"
	c := New(t, Options{
		Nodes: 3, Election: true, Alive: "app", NoJoin: true,
		Host: func(i int) string { return fmt.Sprintf("h%d.disco.test", i+1) },
		Args: []string{"--discover", "srv:" + srvName + ".", "--discover-interval", "500ms"},
	})
	dns := distributetest.StartDNS(t, net.JoinHostPort(c.BridgeIP(), "53"))
	c.SetNameserver(c.BridgeIP())
	var recs []distributetest.SRVRecord
	for _, n := range c.Nodes() {
		dns.SetAddrs(n.Host, n.IP)
		recs = append(recs, distributetest.SRVRecord{Target: n.Host, Port: EpmdPort})
	}
	dns.SetSRV(srvName, recs...)
	all := []int{0, 1, 2}
	var wg sync.WaitGroup
	errs := make([]error, len(all))
	for _, i := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.start(i, false)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	waitAllAlive(t, c, all)
	leader, term, err := c.WaitLeader(all)
	if err != nil {
		t.Fatal(err)
	}
	if code := c.Term(leader); code != 0 {
		t.Fatalf("%s exited %d after SIGTERM; want 0", c.nodes[leader].Name, code)
	}
	others := without(all, leader)
	waitMemberState(t, c, others, c.nodes[leader].Name, "left")
	next, term2, err := c.WaitLeader(others)
	if err != nil {
		t.Fatal(err)
	}
	if next == leader || term2 <= term {
		t.Fatalf("after SIGTERM to %s (term %d): %s leads term %d", c.nodes[leader].Name, term, c.nodes[next].Name, term2)
	}
	for _, i := range others {
		for _, l := range c.nodes[i].Lines() {
			if l.Text == fmt.Sprintf("event member %s dead", c.nodes[leader].Name) || strings.HasPrefix(l.Text, fmt.Sprintf("event member %s dead ", c.nodes[leader].Name)) {
				t.Errorf("%s saw %s dead after a graceful stop: %s", c.nodes[i].Name, c.nodes[leader].Name, l.Text)
			}
		}
	}
	c.CheckSafety(t)
}
