package election

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// listeningPorts returns the TCP ports this process listens on: the
// sockets in LISTEN state of /proc/net/tcp{,6} whose inode is one of this
// process's file descriptors.
func listeningPorts(t testing.TB) []int {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var ports []int
	for _, table := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue // no IPv6
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local rem st tx:rx tr:when retrnsmt uid timeout inode
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 || fs[3] != "0A" || !inodes[fs[9]] {
				continue
			}
			_, hexPort, _ := strings.Cut(fs[1], ":")
			p, err := strconv.ParseUint(hexPort, 16, 16)
			if err == nil && !slices.Contains(ports, int(p)) {
				ports = append(ports, int(p))
			}
		}
		f.Close()
	}
	slices.Sort(ports)
	return ports
}

func portOf(t testing.TB, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNoRaftPort is issue 17's finding 1: an election opened a Raft port
// that anyone could reach and speak Raft to. A bare raft.NewTCPTransport
// client that forges AppendEntries with Term = MaxUint64 must find no
// port to reach: every TCP port the node's process opened for the node,
// membership and the election is the distribution's or the gossip's.
// Each other port found is attacked as the issue did (on the code before
// the fix, the Raft port was found and the forgery took the term to
// MaxUint64).
func TestNoRaftPort(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc to find this process's listening sockets")
	}
	before := listeningPorts(t)
	ms := startCluster(t, 1, 1)
	m := ms[0]
	_, term := agreed(t, ms, 0)
	after := listeningPorts(t)
	known := []int{portOf(t, m.node.ListenAddr().String()), portOf(t, m.ms.GossipAddr()), m.epmd}
	var extra []int
	for _, p := range after {
		if !slices.Contains(before, p) && !slices.Contains(known, p) {
			extra = append(extra, p)
		}
	}
	for _, p := range extra {
		trans, err := raft.NewTCPTransport("127.0.0.1:0", nil, 1, 2*time.Second, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		req := &raft.AppendEntriesRequest{
			RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("forger"), Addr: []byte("forger")},
			Term:      math.MaxUint64,
		}
		var resp raft.AppendEntriesResponse
		err = trans.AppendEntries("forger", raft.ServerAddress(fmt.Sprintf("127.0.0.1:%d", p)), req, &resp)
		trans.Close()
		t.Errorf("port %d is open beside the distribution's and the gossip's; a forged AppendEntries with Term=MaxUint64 got %+v, %v; the node's term is now %d (was %d)",
			p, resp, err, m.el.Status().Term, term)
	}
	if st := m.el.Status(); st.Term != term {
		t.Errorf("term %d after the attempts; was %d", st.Term, term)
	}
}
