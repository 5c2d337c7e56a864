package chaos

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// ErrNoNetns is returned when network namespaces cannot be used here (not
// root, no `ip`, or the kernel refuses to create one).
var ErrNoNetns = errors.New("chaos: network namespaces unavailable")

// ipPath is the iproute2 binary.
var ipPath = "/usr/sbin/ip"

// subnets in use by this process, so parallel tests never share one.
var (
	subnetMu sync.Mutex
	subnets  = map[[2]int]bool{}
)

// network is a per-test bridge in the root namespace and one namespace per
// node, joined to the bridge by a veth pair. Node i has the address
// 10.A.B.(i+2); the bridge is 10.A.B.1.
type network struct {
	a, b     int
	bridge   string
	ns       []string
	hostVeth []string
	nodeVeth []string

	mu         sync.Mutex
	blackholes map[int][]string // namespace index → blackholed /32 destinations
	resolv     bool             // setNameserver wrote /etc/netns/NS/resolv.conf
}

// netnsEtc is where `ip netns exec NS` finds files to bind-mount over
// /etc inside the namespace (iproute2's convention).
const netnsEtc = "/etc/netns"

// setNameserver points the system resolver of every namespace at ip:
// /etc/netns/NS/resolv.conf, which `ip netns exec` bind-mounts over
// /etc/resolv.conf for the processes it starts (so it must be written
// before they start). close removes the files.
func (nw *network) setNameserver(ip string) error {
	nw.mu.Lock()
	nw.resolv = true
	nw.mu.Unlock()
	conf := fmt.Sprintf("# written by the chaos harness\nnameserver %s\noptions timeout:1 attempts:3\n", ip)
	for _, ns := range nw.ns {
		dir := filepath.Join(netnsEtc, ns)
		var err error
		// Another test binary's cleanup may remove an empty /etc/netns
		// between the two steps: try again.
		for range 3 {
			if err = os.MkdirAll(dir, 0o755); err == nil {
				err = os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(conf), 0o644)
			}
			if !errors.Is(err, fs.ErrNotExist) {
				break
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// removeNetnsEtc removes /etc/netns/NS, and /etc/netns when that leaves
// it empty.
func removeNetnsEtc(ns string) {
	os.RemoveAll(filepath.Join(netnsEtc, ns))
	os.Remove(netnsEtc) // fails, harmlessly, when other namespaces have files there
}

// runIP runs ip with args (and stdin when not empty) and returns an error
// carrying its output.
func runIP(stdin string, args ...string) error {
	cmd := exec.Command(ipPath, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// netnsUsable reports why namespaces cannot be used, or nil.
func netnsUsable() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not root (euid %d)", ErrNoNetns, os.Geteuid())
	}
	if p, err := exec.LookPath(ipPath); err != nil {
		if p, err = exec.LookPath("ip"); err != nil {
			return fmt.Errorf("%w: no ip command", ErrNoNetns)
		}
		ipPath = p
	}
	return nil
}

// pickSubnet reserves a random 10.A.B.0/24 that this process does not use
// and that no interface of the root namespace is on.
func pickSubnet() (int, int, error) {
	out, err := exec.Command(ipPath, "-4", "-o", "addr", "show").CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("%w: ip addr show: %v: %s", ErrNoNetns, err, out)
	}
	subnetMu.Lock()
	defer subnetMu.Unlock()
	for range 1000 {
		a, b := 64+rand.IntN(190), rand.IntN(256)
		if subnets[[2]int{a, b}] || bytes.Contains(out, fmt.Appendf(nil, " 10.%d.%d.", a, b)) {
			continue
		}
		subnets[[2]int{a, b}] = true
		return a, b, nil
	}
	return 0, 0, errors.New("chaos: no free 10.A.B.0/24 subnet")
}

func releaseSubnet(a, b int) {
	subnetMu.Lock()
	delete(subnets, [2]int{a, b})
	subnetMu.Unlock()
}

// newNetwork creates the bridge and n namespaces. On error everything
// created so far is removed.
func newNetwork(n int) (*network, error) {
	if err := netnsUsable(); err != nil {
		return nil, err
	}
	sweepOnce.Do(sweepLeftovers)
	var nw *network
	var lastErr error
	for range 5 {
		a, b, err := pickSubnet()
		if err != nil {
			return nil, err
		}
		tag := fmt.Sprintf("%02x%02x", a, b)
		nw = &network{a: a, b: b, bridge: "chb" + tag, blackholes: map[int][]string{}}
		for i := range n {
			nw.ns = append(nw.ns, fmt.Sprintf("chaos-%s-%d", tag, i))
			nw.hostVeth = append(nw.hostVeth, fmt.Sprintf("chv%s%d", tag, i))
			nw.nodeVeth = append(nw.nodeVeth, fmt.Sprintf("chp%s%d", tag, i))
		}
		// The bridge name is derived from the subnet: if another process
		// uses the subnet, creating the bridge fails and we try another.
		if lastErr = runIP("", "link", "add", nw.bridge, "type", "bridge"); lastErr != nil {
			releaseSubnet(a, b)
			continue
		}
		nw.writeMarker()
		if err := nw.setup(); err != nil {
			nw.close()
			return nil, fmt.Errorf("%w: %v", ErrNoNetns, err)
		}
		return nw, nil
	}
	return nil, fmt.Errorf("%w: %v", ErrNoNetns, lastErr)
}

// setup configures the bridge and the namespaces (the bridge exists).
func (nw *network) setup() error {
	var root strings.Builder
	fmt.Fprintf(&root, "addr add %s/24 dev %s\n", nw.bridgeIP(), nw.bridge)
	fmt.Fprintf(&root, "link set %s up\n", nw.bridge)
	for i, ns := range nw.ns {
		fmt.Fprintf(&root, "netns add %s\n", ns)
		fmt.Fprintf(&root, "link add %s type veth peer name %s netns %s\n", nw.hostVeth[i], nw.nodeVeth[i], ns)
		fmt.Fprintf(&root, "link set %s master %s\n", nw.hostVeth[i], nw.bridge)
		fmt.Fprintf(&root, "link set %s up\n", nw.hostVeth[i])
	}
	if err := runIP(root.String(), "-batch", "-"); err != nil {
		return err
	}
	for i, ns := range nw.ns {
		var b strings.Builder
		fmt.Fprintf(&b, "link set lo up\n")
		fmt.Fprintf(&b, "addr add %s/24 dev %s\n", nw.ip(i), nw.nodeVeth[i])
		fmt.Fprintf(&b, "link set %s up\n", nw.nodeVeth[i])
		if err := runIP(b.String(), "-n", ns, "-batch", "-"); err != nil {
			return err
		}
	}
	return nil
}

func (nw *network) bridgeIP() string { return fmt.Sprintf("10.%d.%d.1", nw.a, nw.b) }

// ip is node i's address.
func (nw *network) ip(i int) string { return fmt.Sprintf("10.%d.%d.%d", nw.a, nw.b, i+2) }

// partition blackholes, in both directions, every pair of nodes in
// different groups (group[i] is node i's group). It first removes the
// routes of an earlier partition.
func (nw *network) partition(group []int) error {
	if err := nw.heal(); err != nil {
		return err
	}
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for i := range nw.ns {
		var b strings.Builder
		var dsts []string
		for j := range nw.ns {
			if group[i] != group[j] {
				fmt.Fprintf(&b, "route add blackhole %s/32\n", nw.ip(j))
				dsts = append(dsts, nw.ip(j))
			}
		}
		if len(dsts) == 0 {
			continue
		}
		if err := runIP(b.String(), "-n", nw.ns[i], "-batch", "-"); err != nil {
			return err
		}
		nw.blackholes[i] = dsts
	}
	return nil
}

// heal removes every blackhole route partition added.
func (nw *network) heal() error {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	var errs []error
	for i, dsts := range nw.blackholes {
		var b strings.Builder
		for _, d := range dsts {
			fmt.Fprintf(&b, "route del blackhole %s/32\n", d)
		}
		if err := runIP(b.String(), "-n", nw.ns[i], "-batch", "-"); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(nw.blackholes, i)
	}
	return errors.Join(errs...)
}

// close deletes the namespaces, the host ends of the veth pairs and the
// bridge. Processes in the namespaces must be gone first.
func (nw *network) close() error {
	var errs []error
	for i, ns := range nw.ns {
		if err := runIP("", "netns", "del", ns); err != nil && !strings.Contains(err.Error(), "No such file") {
			errs = append(errs, err)
		}
		if nw.resolv {
			removeNetnsEtc(ns)
		}
		// Usually gone with the namespace; make sure.
		runIP("", "link", "del", nw.hostVeth[i])
	}
	if err := runIP("", "link", "del", nw.bridge); err != nil {
		errs = append(errs, err)
	}
	releaseSubnet(nw.a, nw.b)
	if len(errs) == 0 {
		os.Remove(filepath.Join(markerDir(), nw.bridge))
	}
	return errors.Join(errs...)
}

// A test binary that dies without its cleanups (killed, or go test's
// -timeout) leaves its namespaces and bridge behind (its nodes die with
// it: Pdeathsig). Each network therefore leaves a marker file naming its
// owner (pid and command name), its bridge and its namespaces; the first
// New of a later test binary deletes the networks of owners that are gone.

var sweepOnce sync.Once

func markerDir() string { return filepath.Join(os.TempDir(), "distribute-chaos-nets") }

func selfComm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

func (nw *network) writeMarker() {
	if err := os.MkdirAll(markerDir(), 0o755); err != nil {
		return
	}
	content := fmt.Sprintf("%d\n%s\n%s\n", os.Getpid(), selfComm(os.Getpid()), strings.Join(nw.ns, " "))
	os.WriteFile(filepath.Join(markerDir(), nw.bridge), []byte(content), 0o644)
}

// ownerGone reports whether the process named in an owner file (pid, then
// command name) is gone.
func ownerGone(content string) bool {
	f := strings.SplitN(content, "\n", 3)
	pid, err := strconv.Atoi(f[0])
	if err != nil || len(f) < 2 {
		return false
	}
	return pid != os.Getpid() && (selfComm(pid) == "" || selfComm(pid) != f[1])
}

// sweepLeftovers deletes the networks and built commands whose owner no
// longer runs.
func sweepLeftovers() {
	if dirs, err := filepath.Glob(filepath.Join(os.TempDir(), "distribute-chaos-bin*")); err == nil {
		for _, d := range dirs {
			if b, err := os.ReadFile(filepath.Join(d, "owner")); err == nil && ownerGone(string(b)) {
				os.RemoveAll(d)
			}
		}
	}
	entries, err := os.ReadDir(markerDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		path := filepath.Join(markerDir(), e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		f := strings.SplitN(string(b), "\n", 4)
		if len(f) < 3 || !strings.HasPrefix(e.Name(), "chb") || !ownerGone(string(b)) {
			continue
		}
		for _, ns := range strings.Fields(f[2]) {
			if !strings.HasPrefix(ns, "chaos-") {
				continue
			}
			// Kill what still runs inside, then delete the namespace.
			if out, err := exec.Command(ipPath, "netns", "pids", ns).Output(); err == nil {
				for _, p := range strings.Fields(string(out)) {
					if v, err := strconv.Atoi(p); err == nil {
						syscall.Kill(v, syscall.SIGKILL)
					}
				}
			}
			runIP("", "netns", "del", ns)
			removeNetnsEtc(ns)
		}
		runIP("", "link", "del", e.Name())
		os.Remove(path)
	}
}
