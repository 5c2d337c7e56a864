package epmd

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestAlive2FromAnotherHostRefused registers a name from another network
// namespace (another host, as far as IP goes): like real epmd, the server
// neither answers nor registers, while the same request from this host
// registers. Needs root and iproute2; skipped otherwise unless
// DISTRIBUTE_REQUIRE_NETNS=1.
func TestAlive2FromAnotherHostRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root for a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		skipOrFail(t, "needs iproute2 (ip)")
	}
	k := rand.IntN(200) + 20
	ns := fmt.Sprintf("dtepmd%d", k)
	host, peer := fmt.Sprintf("dteh%d", k), fmt.Sprintf("dtep%d", k)
	hostIP, peerIP := fmt.Sprintf("10.251.%d.1", k), fmt.Sprintf("10.251.%d.2", k)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			skipOrFail(t, fmt.Sprintf("ip %s: %v: %s", strings.Join(args, " "), err, out))
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	ip("link", "add", host, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { exec.Command("ip", "link", "del", host).Run() })
	ip("link", "set", peer, "netns", ns)
	ip("addr", "add", hostIP+"/30", "dev", host)
	ip("link", "set", host, "up")
	ip("-n", ns, "addr", "add", peerIP+"/30", "dev", peer)
	ip("-n", ns, "link", "set", peer, "up")
	ip("-n", ns, "link", "set", "lo", "up")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, err := Listen(ctx, hostIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go srv.Serve(ctx)

	req, err := AppendAlive2Request(nil, Alive2Request{Port: 4000, NodeType: NodeTypeNormal, Protocol: ProtocolTCP, High: 6, Low: 5, Name: "squatter"})
	if err != nil {
		t.Fatal(err)
	}
	var esc strings.Builder
	for _, b := range req {
		fmt.Fprintf(&esc, `\x%02x`, b)
	}
	// From the other namespace: send the request, print how many bytes came back.
	script := fmt.Sprintf(`exec 3<>/dev/tcp/%s/%d; printf '%s' >&3; timeout 2 head -c 4 <&3 | wc -c`, hostIP, srv.Port(), esc.String())
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "bash", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("remote ALIVE2_REQ: %v: %s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "0" {
		t.Fatalf("a remote ALIVE2_REQ got %s bytes of answer; want none", got)
	}
	if names := srv.Names(); len(names) != 0 {
		t.Fatalf("a remote host registered %v", names)
	}

	// The same request from this host registers.
	var c Client
	reg, err := c.Register(ctx, fmt.Sprintf("%s:%d", hostIP, srv.Port()), "local", 4000, false)
	if err != nil {
		t.Fatalf("local ALIVE2_REQ: %v", err)
	}
	defer reg.Close()
	if names := srv.Names(); len(names) != 1 || names[0].Name != "local" {
		t.Fatalf("names after a local registration: %v", names)
	}
}

func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("DISTRIBUTE_REQUIRE_NETNS") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}
