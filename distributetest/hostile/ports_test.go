package hostile

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// Attacks on the node's other ports: its embedded epmd, the gossip port,
// any port besides those, and the HTTP endpoints.

// epmdExchange sends req to the epmd at addr and returns everything it
// answers until it closes the connection.
func epmdExchange(addr string, req []byte) ([]byte, error) {
	c, err := dial(addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(distributetest.Scale(20 * time.Second)))
	if _, err := c.Write(req); err != nil {
		return nil, err
	}
	return io.ReadAll(c)
}

// epmdReq prefixes an epmd request body with its 2-byte length.
func epmdReq(body ...byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(body))), body...)
}

// alive2Req is an ALIVE2_REQ registering name at port.
func alive2Req(name string, port int) []byte {
	b := binary.BigEndian.AppendUint16([]byte{'x'}, uint16(port))
	b = append(b, 77, 0, 0, 6, 0, 5)
	b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
	b = append(b, name...)
	return epmdReq(append(b, 0, 0)...)
}

// epmdNames returns the names an epmd lists (NAMES_REQ).
func epmdNames(t *testing.T, addr string) []string {
	t.Helper()
	resp, err := epmdExchange(addr, epmdReq('n'))
	if err != nil || len(resp) < 4 {
		t.Fatalf("NAMES_REQ: %q %v", resp, err)
	}
	var names []string
	for _, line := range strings.Split(string(resp[4:]), "\n") {
		if f := strings.Fields(line); len(f) == 5 && f[0] == "name" {
			names = append(names, f[1])
		}
	}
	return names
}

// TestHostileEpmdJunk: the node's embedded epmd, bound to loopback with
// --epmd-listen, takes garbage, lying lengths, truncated requests,
// registrations of a taken name and of 100 squatted ones, KILL and STOP,
// and 1,100 idle connections. Bounds: it listens on 127.0.0.1 only; each
// bad connection is closed (a slow one after the 10 s read timeout); at
// most 1,024 connections are held; afterwards the node's name still
// resolves and no squatted name is left.
func TestHostileEpmdJunk(t *testing.T) {
	tg := startTarget(t, options{embeddedEpmd: true, epmdListen: true})
	epmdAddr := fmt.Sprintf("127.0.0.1:%d", tg.epmdPort)
	for _, s := range tg.sockets() {
		if s.proto == "tcp" && s.state == 10 && int(s.local.Port()) == tg.epmdPort && !s.local.Addr().IsLoopback() {
			t.Errorf("the embedded epmd listens on %v; want 127.0.0.1 only (--epmd-listen)", s.local)
		}
	}
	w := tg.begin()

	// Garbage, lying lengths, truncated requests: each closed.
	var probes [][]byte
	probes = append(probes,
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		append([]byte{0xff, 0xff}, randomBytes(300)...),
		[]byte{0x04, 0x01, 'x'}, // 1025 bytes announced, 1 sent
		[]byte{0, 10, 'z', 'a'}, // PORT_PLEASE2 cut short
		epmdReq(0),              // unknown request
		epmdReq('x', 0, 1),      // ALIVE2 cut short
		epmdReq(append([]byte{'z'}, make([]byte, 300)...)...),
	)
	for range 200 {
		probes = append(probes, randomBytes(1+int(random32()%2048)))
	}
	var errs errorList
	forEach(len(probes), 32, func(i int) {
		c, err := dial(epmdAddr)
		if err != nil {
			errs.add("dial: %v", err)
			return
		}
		defer c.Close()
		c.Write(probes[i])
		if err := awaitClosed(c, distributetest.Scale(30*time.Second)); err != nil {
			errs.add("probe %d %q...: %v", i, probes[i][:min(16, len(probes[i]))], err)
		}
	})
	errs.check(t, len(probes), "bad epmd requests closed")

	// The node's own name is taken.
	if resp, err := epmdExchange(epmdAddr, alive2Req(tg.alive, 1)); err != nil || len(resp) < 2 || resp[1] == 0 {
		t.Errorf("ALIVE2_REQ for the node's own name: %x %v; want a refusal", resp, err)
	}
	// KILL is refused while names are registered; STOP is ignored.
	if resp, err := epmdExchange(epmdAddr, epmdReq('k')); err != nil || string(resp) != "NO" {
		t.Errorf("KILL_REQ: %q %v; want NO", resp, err)
	}
	if resp, err := epmdExchange(epmdAddr, epmdReq(append([]byte{'s'}, tg.alive...)...)); err != nil || len(resp) != 0 {
		t.Errorf("STOP_REQ: %q %v; want the connection closed without an answer", resp, err)
	}

	// 100 squatted names from loopback (allowed, as real epmd allows a
	// local registration), and 1,100 idle connections.
	var held []net.Conn
	for i := range 100 {
		c, err := dial(epmdAddr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		c.Write(alive2Req(fmt.Sprintf("squat%d", i), 40000+i))
	}
	for range 1100 {
		if c, err := dial(epmdAddr); err == nil {
			held = append(held, c)
		}
	}
	for start := time.Now(); time.Since(start) < time.Second; {
		w.peakNow()
		time.Sleep(100 * time.Millisecond)
	}
	if peak := w.peakNow(); peak.fds > tg.base.fds+1024+64 {
		t.Errorf("1,200 connections to the embedded epmd: the node's fds peaked at %d (baseline %d); want at most 1,024 connections held", peak.fds, tg.base.fds)
	}
	for _, c := range held {
		c.Close()
	}

	// The epmd still works, and forgot the squatters.
	if port, err := epmdPortPlease(tg.epmdPort, tg.alive); err != nil || port != tg.distPort {
		t.Errorf("PORT_PLEASE2 for the node after the attack: %d %v; want %d", port, err, tg.distPort)
	}
	deadline := time.Now().Add(distributetest.Scale(10 * time.Second))
	for {
		names := epmdNames(t, epmdAddr)
		squat := slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "squat") })
		if !squat && slices.Contains(names, tg.alive) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("epmd names after the attack: %v; want %s and no squat*", names, tg.alive)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	tg.finish(w, settled)
}

// gossipAddr asks the node for its gossip address (distribute:info()).
func (tg *target) gossipAddr() string {
	tg.t.Helper()
	got := tg.erl.Eval(tg.t, fmt.Sprintf("maps:get(gossip, rpc:call('%s', distribute, info, []))", tg.name))
	addr := strings.TrimSuffix(strings.TrimPrefix(got, `<<"`), `">>`)
	if _, _, err := net.SplitHostPort(addr); err != nil {
		tg.t.Fatalf("distribute:info()'s gossip is %s", got)
	}
	return addr
}

// TestHostileGossipJunk: random UDP packets and TCP streams at the
// gossip port, and idle TCP connections. Bounds: junk is dropped before
// memberlist parses it (the key is derived from the cookie); every TCP
// connection is closed by the node (idle ones after the stream timeout);
// membership still works.
func TestHostileGossipJunk(t *testing.T) {
	tg := startTarget(t, options{})
	addr := tg.gossipAddr()
	w := tg.begin()
	u, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		p := randomBytes(1 + int(random32()%1400))
		if i%2 == 0 {
			p[0] = 1 // a plausible version byte
		}
		u.Write(p)
	}
	u.Close()
	var probes [][]byte
	for range 100 {
		probes = append(probes, randomBytes(1+int(random32()%8192)))
	}
	for range 100 {
		probes = append(probes, nil) // idle
	}
	probes = append(probes, []byte{1, 0xff, 0xff, 0xff, 0xff}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	var errs errorList
	forEach(len(probes), 64, func(i int) {
		c, err := dial(addr)
		if err != nil {
			errs.add("dial: %v", err)
			return
		}
		defer c.Close()
		if probes[i] != nil {
			c.Write(probes[i])
		}
		if err := awaitClosed(c, closeBound); err != nil {
			errs.add("probe %d (%d bytes): %v", i, len(probes[i]), err)
		}
	})
	errs.check(t, len(probes), "junk gossip connections closed by the node")
	if got := tg.erl.Eval(t, fmt.Sprintf("rpc:call('%s', distribute, members, [])", tg.name)); !strings.Contains(got, "alive") {
		t.Errorf("distribute:members() after the junk: %s", got)
	}
	tg.finish(w, settled)
}

// TestHostileNoOtherListeningPort: a node with every service (election
// included) listens on exactly the distribution port, the gossip port
// (TCP and UDP) and the HTTP port, all on loopback: Raft travels over
// the distribution, so there is no unauthenticated Raft port. Junk to
// every port it listens on leaves it working.
func TestHostileNoOtherListeningPort(t *testing.T) {
	tg := startTarget(t, options{args: []string{"--election", "--expect", "1", "--data-dir", t.TempDir()}})
	gossip := tg.gossipAddr()
	_, gp, _ := net.SplitHostPort(gossip)
	gossipPort, _ := strconv.Atoi(gp)
	wantTCP := []int{tg.distPort, gossipPort, tg.httpPort}
	slices.Sort(wantTCP)
	var gotTCP, gotUDP []int
	for _, s := range tg.sockets() {
		switch {
		case s.proto == "tcp" && s.state == 10:
			gotTCP = append(gotTCP, int(s.local.Port()))
		case s.proto == "udp":
			gotUDP = append(gotUDP, int(s.local.Port()))
		default:
			continue
		}
		if !s.local.Addr().IsLoopback() {
			t.Errorf("the node listens on %s %v; want loopback only for a node named @127.0.0.1", s.proto, s.local)
		}
	}
	slices.Sort(gotTCP)
	slices.Sort(gotUDP)
	if !slices.Equal(gotTCP, wantTCP) {
		t.Errorf("the node listens on TCP ports %v; want exactly %v (distribution %d, gossip %d, HTTP %d); distribute:info() = %s",
			gotTCP, wantTCP, tg.distPort, gossipPort, tg.httpPort, tg.erl.Eval(t, fmt.Sprintf("rpc:call('%s', distribute, info, [])", tg.name)))
	}
	if !slices.Equal(gotUDP, []int{gossipPort}) {
		t.Errorf("the node has UDP sockets on ports %v; want exactly [%d] (gossip)", gotUDP, gossipPort)
	}
	// Junk at every TCP port it listens on (a Raft port included, if
	// there is one).
	w := tg.begin()
	for _, port := range gotTCP {
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		var conns []net.Conn
		forEach(60, 16, func(i int) {
			c, err := dial(addr)
			if err != nil {
				return
			}
			if i%3 != 0 {
				c.Write(randomBytes(1 + int(random32()%4096)))
			}
			c.Close()
		})
		for range 20 {
			if c, err := dial(addr); err == nil {
				conns = append(conns, c)
			}
		}
		for _, c := range conns {
			c.Close()
		}
		tg.checkAlive()
	}
	tg.finish(w, settled)
}

// TestHostileHTTPHostHeader: a DNS-rebinding page reaches the --http
// endpoints under a foreign Host. Bound: only the bound host and IP
// literals (kubelet probes, Prometheus scrapes use the pod IP) are
// served.
func TestHostileHTTPHostHeader(t *testing.T) {
	tg := startTarget(t, options{})
	w := tg.begin()
	get := func(path, host string) int {
		req, err := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d%s", tg.httpPort, path), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := tg.client.Do(req)
		if err != nil {
			t.Fatalf("GET %s (Host %s): %v", path, host, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	port := strconv.Itoa(tg.httpPort)
	for _, path := range []string{"/", "/api/observer", "/metrics", "/healthz", "/readyz"} {
		for _, host := range []string{"rebind.attacker.example:" + port, "rebind.attacker.example", "localhost.attacker.example:" + port} {
			if code := get(path, host); code < 400 || code >= 500 {
				t.Errorf("GET %s with Host %s: %d; want it refused (4xx)", path, host, code)
			}
		}
	}
	for _, path := range []string{"/api/observer", "/metrics"} {
		for _, host := range []string{"127.0.0.1:" + port, "[::1]:" + port, "10.1.2.3:" + port, "10.1.2.3"} {
			if code := get(path, host); code != http.StatusOK {
				t.Errorf("GET %s with Host %s: %d; want 200 (an IP literal)", path, host, code)
			}
		}
	}
	tg.finish(w, settled)
}
