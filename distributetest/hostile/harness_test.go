package hostile

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// cookie is the cookie of the target, its Erlang peer and our good raw peers.
const cookie = "hostile-suite-cookie"

// memLimit is the target's GOMEMLIMIT: with it the Go collector runs as
// soon as an attack's garbage pushes the heap past it, so the heap read
// from /metrics after an attack is (about) the live heap, not garbage
// that an idle node would keep for the two minutes until a forced GC.
// It is a soft limit: a node that needs more gets more.
const memLimit = "48MiB"

// callTimeout is the healthy peer's gen_server:call timeout: generous,
// liveness only.
var callTimeout = distributetest.Scale(10 * time.Second)

// limits is what a case asserts about the node's resources.
type limits struct {
	// goroutines, fds and heap bound the node's usage once the attack
	// has ended (and the suite has closed its own connections), above
	// the baseline taken before the attack.
	goroutines int
	fds        int
	heap       int64
}

// settled is the bound every case asserts after its attack: what a
// node's own background work (timers, a scrape in flight) can add.
var settled = limits{goroutines: 20, fds: 8, heap: 48 << 20}

// usage is one reading of the node's resources.
type usage struct {
	goroutines int
	heap       int64 // go_memstats_heap_alloc_bytes
	fds        int   // entries of /proc/PID/fd
	rss        int64 // VmRSS, reported only
}

func (u usage) String() string {
	return fmt.Sprintf("goroutines %d, heap %.1f MiB, fds %d, rss %.1f MiB",
		u.goroutines, float64(u.heap)/(1<<20), u.fds, float64(u.rss)/(1<<20))
}

func maxUsage(a, b usage) usage {
	return usage{max(a.goroutines, b.goroutines), max(a.heap, b.heap), max(a.fds, b.fds), max(a.rss, b.rss)}
}

// options configure a target.
type options struct {
	// args are extra flags of `distribute node`.
	args []string
	// embeddedEpmd: no epmd is started; the node hosts its embedded one
	// on the port.
	embeddedEpmd bool
	// epmdListen binds the embedded epmd to 127.0.0.1 (--epmd-listen).
	epmdListen bool
	// erlArgs are extra arguments of the healthy Erlang peer.
	erlArgs []string
}

// target is a `distribute node` under attack, with its healthy Erlang
// peer.
type target struct {
	t        *testing.T
	name     string // the node's name, alive@127.0.0.1
	alive    string
	epmdPort int
	distPort int
	httpPort int
	cmd      *exec.Cmd
	exited   chan struct{}
	stdout   *lineLog
	stderr   *lineLog
	erl      *distributetest.ErlNode
	base     usage
	client   *http.Client
}

var targetSeq atomic.Int64

// startTarget starts a private epmd (unless o.embeddedEpmd), the node,
// and the healthy Erlang peer calling it every 10 ms, and takes the
// baseline. Everything is stopped by pid when the test ends.
func startTarget(t *testing.T, o options) *target {
	t.Helper()
	distributetest.RequireErl(t)
	tg := &target{
		t:      t,
		exited: make(chan struct{}),
		client: &http.Client{
			Timeout:   distributetest.Scale(10 * time.Second),
			Transport: &http.Transport{DisableKeepAlives: true},
		},
	}
	t.Cleanup(tg.client.CloseIdleConnections)
	if o.embeddedEpmd {
		tg.epmdPort = distributetest.FreePort(t)
	} else {
		tg.epmdPort = distributetest.StartEpmd(t)
	}
	tg.httpPort = distributetest.FreePort(t)
	n := targetSeq.Add(1)
	tg.alive = fmt.Sprintf("hostile%d_%d", os.Getpid(), n)
	tg.name = tg.alive + "@127.0.0.1"
	args := []string{"node", "--name", tg.name, "--cookie", cookie,
		"--epmd-port", strconv.Itoa(tg.epmdPort), "--inbox", "box",
		"--http", fmt.Sprintf("127.0.0.1:%d", tg.httpPort), "--profile", "local"}
	if o.epmdListen {
		args = append(args, "--epmd-listen", fmt.Sprintf("127.0.0.1:%d", tg.epmdPort))
	}
	args = append(args, o.args...)
	cmd := exec.Command(cliBinary, args...)
	cmd.Env = append(os.Environ(), "GOMEMLIMIT="+memLimit, "GOGC=100", "GOTRACEBACK=all")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tg.cmd = cmd
	tg.stdout = newLineLog(stdout)
	tg.stderr = newLineLog(stderr)
	go func() {
		<-tg.stdout.done
		<-tg.stderr.done
		cmd.Wait()
		close(tg.exited)
	}()
	t.Cleanup(tg.stop)
	if !tg.stdout.waitPrefix("started "+tg.name, tg.exited, distributetest.Scale(30*time.Second)) {
		t.Fatalf("node %v did not start; stderr:\n%s", args[1:], tg.stderr.tail(40))
	}
	tg.distPort = tg.lookupPort()

	tg.erl = distributetest.StartErlNode(t, distributetest.ErlOptions{
		Name:     fmt.Sprintf("healthy%d_%d@127.0.0.1", os.Getpid(), n),
		Cookie:   cookie,
		EpmdPort: tg.epmdPort,
		Args:     o.erlArgs,
	})
	tg.erl.LoadModule(t, healthySource)
	if got := tg.erl.Eval(t, fmt.Sprintf("hostile_peer:start('%s', box, %d)", tg.name, callTimeout.Milliseconds())); got != "ok" {
		t.Fatalf("hostile_peer:start: %s", got)
	}
	deadline := time.Now().Add(distributetest.Scale(30 * time.Second))
	for {
		st := tg.healthy()
		if st.ok >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the healthy peer's calls do not succeed before any attack: %+v %s", st, tg.erl.Eval(t, "hostile_peer:errors()"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The baseline, once the Erlang peer's connection (and global's sync
	// over it) is up and the node has settled: the largest of three
	// readings 300 ms apart whose goroutine counts agree within 5.
	var window []usage
	deadline = time.Now().Add(distributetest.Scale(20 * time.Second))
	for {
		u, err := tg.sample()
		if err != nil {
			t.Fatalf("baseline: %v", err)
		}
		window = append(window, u)
		if len(window) > 3 {
			window = window[1:]
		}
		if len(window) == 3 {
			lo, hi := window[0].goroutines, window[0].goroutines
			for _, w := range window {
				lo, hi = min(lo, w.goroutines), max(hi, w.goroutines)
			}
			if hi-lo <= 5 || time.Now().After(deadline) {
				break
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, w := range window {
		tg.base = maxUsage(tg.base, w)
	}
	return tg
}

// stop ends the node: SIGTERM (a graceful stop), SIGKILL after a while.
func (tg *target) stop() {
	select {
	case <-tg.exited:
		return
	default:
	}
	tg.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-tg.exited:
	case <-time.After(distributetest.Scale(10 * time.Second)):
		tg.t.Logf("node did not stop within 10 s of SIGTERM; killed")
		tg.cmd.Process.Kill()
		<-tg.exited
	}
}

// pid returns the node's OS process id.
func (tg *target) pid() int { return tg.cmd.Process.Pid }

// checkAlive fails the test now if the node has exited.
func (tg *target) checkAlive() {
	tg.t.Helper()
	select {
	case <-tg.exited:
		tg.t.Fatalf("the node died (%v); stderr:\n%s", tg.cmd.ProcessState, tg.stderr.tail(60))
	default:
	}
}

// lookupPort asks epmd where the node listens (PORT_PLEASE2_REQ).
func (tg *target) lookupPort() int {
	tg.t.Helper()
	port, err := epmdPortPlease(tg.epmdPort, tg.alive)
	if err != nil {
		tg.t.Fatalf("epmd lookup of %s: %v", tg.alive, err)
	}
	return port
}

// epmdPortPlease asks the epmd on 127.0.0.1:epmdPort where alive listens.
func epmdPortPlease(epmdPort int, alive string) (int, error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", epmdPort), distributetest.Scale(5*time.Second))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(distributetest.Scale(10 * time.Second)))
	req := binary.BigEndian.AppendUint16(nil, uint16(1+len(alive)))
	req = append(append(req, 'z'), alive...)
	if _, err := c.Write(req); err != nil {
		return 0, err
	}
	var resp [4]byte
	if _, err := io.ReadFull(c, resp[:]); err != nil {
		return 0, err
	}
	if resp[0] != 'w' || resp[1] != 0 {
		return 0, fmt.Errorf("PORT2_RESP %x: not registered", resp[:2])
	}
	return int(binary.BigEndian.Uint16(resp[2:])), nil
}

// distAddr is the node's distribution address.
func (tg *target) distAddr() string { return fmt.Sprintf("127.0.0.1:%d", tg.distPort) }

// dial opens a TCP connection to addr.
func dial(addr string) (*net.TCPConn, error) {
	c, err := net.DialTimeout("tcp", addr, distributetest.Scale(10*time.Second))
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// sample reads the node's usage: goroutines and heap from /metrics (the
// Prometheus Go collector), fds and RSS from /proc.
func (tg *target) sample() (usage, error) {
	var u usage
	resp, err := tg.client.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", tg.httpPort))
	if err != nil {
		return u, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return u, err
	}
	if resp.StatusCode != http.StatusOK {
		return u, fmt.Errorf("/metrics: %s", resp.Status)
	}
	var haveG, haveH bool
	for _, line := range strings.Split(string(body), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_goroutines":
			u.goroutines, haveG = int(f), true
		case "go_memstats_heap_alloc_bytes":
			u.heap, haveH = int64(f), true
		}
	}
	if !haveG || !haveH {
		return u, fmt.Errorf("/metrics has no go_goroutines or go_memstats_heap_alloc_bytes")
	}
	if u.fds, err = countFDs(tg.pid()); err != nil {
		return u, err
	}
	u.rss = readRSS(tg.pid())
	return u, nil
}

// metrics returns the node's /metrics text.
func (tg *target) metrics() string {
	tg.t.Helper()
	resp, err := tg.client.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", tg.httpPort))
	if err != nil {
		tg.t.Fatalf("/metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tg.t.Fatalf("/metrics: %v", err)
	}
	return string(b)
}

func countFDs(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents), err
}

func readRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// watcher samples the node's usage every 100 ms while an attack runs and
// keeps the peak.
type watcher struct {
	tg    *target
	start time.Time
	stop  chan struct{}
	done  chan struct{}

	mu     sync.Mutex // protects the fields below
	peak   usage
	n, bad int
}

// begin resets the healthy peer's statistics and starts watching the
// node: the attack starts now.
func (tg *target) begin() *watcher {
	tg.t.Helper()
	if got := tg.erl.Eval(tg.t, "hostile_peer:reset()"); got != "ok" {
		tg.t.Fatalf("hostile_peer:reset(): %s", got)
	}
	w := &watcher{tg: tg, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{}), peak: tg.base}
	go w.run()
	tg.t.Cleanup(w.end)
	return w
}

func (w *watcher) run() {
	defer close(w.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		u, err := w.tg.sample()
		w.mu.Lock()
		if err != nil {
			w.bad++
		} else {
			w.n++
			w.peak = maxUsage(w.peak, u)
		}
		w.mu.Unlock()
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
	}
}

// peakNow returns the peak so far, after one more reading.
func (w *watcher) peakNow() usage {
	if u, err := w.tg.sample(); err == nil {
		w.mu.Lock()
		w.peak = maxUsage(w.peak, u)
		w.mu.Unlock()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peak
}

// end stops the watcher; it is idempotent.
func (w *watcher) end() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// healthyStats are the Erlang peer's calls since the last reset.
type healthyStats struct {
	ok, fail           int
	p50, p99, maxLatMS float64
}

func (tg *target) healthy() healthyStats {
	tg.t.Helper()
	got := tg.erl.Eval(tg.t, "hostile_peer:stats()")
	f := strings.Split(strings.Trim(got, "{}"), ",")
	if len(f) != 5 {
		tg.t.Fatalf("hostile_peer:stats() = %s", got)
	}
	var n [5]int64
	for i, s := range f {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			tg.t.Fatalf("hostile_peer:stats() = %s", got)
		}
		n[i] = v
	}
	return healthyStats{ok: int(n[0]), fail: int(n[1]), p50: float64(n[2]) / 1000, p99: float64(n[3]) / 1000, maxLatMS: float64(n[4]) / 1000}
}

// finish ends an attack: the node must be alive, its usage must come
// back within lim of the baseline, and every call of the healthy peer
// since begin must have succeeded. It logs what was measured.
func (tg *target) finish(w *watcher, lim limits) {
	tg.t.Helper()
	t := tg.t
	tg.checkAlive()
	// Settle: the Erlang peer keeps calling (and so allocating), which
	// lets the collector run under GOMEMLIMIT.
	deadline := time.Now().Add(distributetest.Scale(45 * time.Second))
	var last usage
	var lastErr error
	within := false
	for {
		last, lastErr = tg.sample()
		if lastErr == nil && last.goroutines <= tg.base.goroutines+lim.goroutines &&
			last.fds <= tg.base.fds+lim.fds && last.heap <= tg.base.heap+lim.heap {
			within = true
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	settleTime := time.Since(w.start)
	w.end()
	peak := w.peak
	tg.checkAlive()
	if got := tg.erl.Eval(t, fmt.Sprintf("gen_server:call({box, '%s'}, final_check, %d)", tg.name, callTimeout.Milliseconds())); got != "final_check" {
		t.Errorf("a call after the attack returned %s; want final_check", got)
	}
	st := tg.healthy()
	t.Logf("healthy peer: %d calls ok, %d failed; latency p50 %.1f ms, p99 %.1f ms, max %.1f ms", st.ok, st.fail, st.p50, st.p99, st.maxLatMS)
	t.Logf("node: baseline %v", tg.base)
	t.Logf("node: peak     %v", peak)
	t.Logf("node: end      %v (after %v)", last, settleTime.Round(time.Millisecond))
	t.Logf("MEASURED %s: calls %d ok %d failed, p99 %.1f ms, max %.1f ms; goroutines %d->%d->%d, heap %.1f->%.1f->%.1f MiB, fds %d->%d->%d, rss %.0f->%.0f->%.0f MiB",
		t.Name(), st.ok, st.fail, st.p99, st.maxLatMS,
		tg.base.goroutines, peak.goroutines, last.goroutines,
		mib(tg.base.heap), mib(peak.heap), mib(last.heap),
		tg.base.fds, peak.fds, last.fds,
		mib(tg.base.rss), mib(peak.rss), mib(last.rss))
	if st.fail != 0 {
		t.Errorf("the healthy Erlang peer's calls failed during the attack: %d of %d; first errors: %s",
			st.fail, st.ok+st.fail, tg.erl.Eval(t, "hostile_peer:errors()"))
	}
	if st.ok == 0 {
		t.Errorf("the healthy Erlang peer made no successful call during the attack")
	}
	if !within {
		t.Errorf("the node's usage did not come back within (goroutines +%d, fds +%d, heap +%d MiB) of the baseline:\nbaseline %v\nnow      %v (err %v)",
			lim.goroutines, lim.fds, lim.heap>>20, tg.base, last, lastErr)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// lineLog keeps the lines a child writes to a pipe: each cut to 512
// bytes (an inbox may print a multi-megabyte term), the last 20 000.
type lineLog struct {
	done chan struct{}

	mu     sync.Mutex // protects the fields below
	lines  []string
	total  int
	notify chan struct{} // closed at the next line
}

const (
	maxLineKept = 512
	maxLines    = 20000
)

func newLineLog(r io.Reader) *lineLog {
	l := &lineLog{done: make(chan struct{}), notify: make(chan struct{})}
	go l.read(r)
	return l
}

func (l *lineLog) read(r io.Reader) {
	defer close(l.done)
	br := bufio.NewReaderSize(r, 64<<10)
	var cur []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(cur) < maxLineKept {
			cur = append(cur, chunk[:min(len(chunk), maxLineKept-len(cur))]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(chunk) > 0 || len(cur) > 0 {
			l.add(strings.TrimRight(string(cur), "\n"))
			cur = cur[:0]
		}
		if err != nil {
			return
		}
	}
}

func (l *lineLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total++
	l.lines = append(l.lines, s)
	if len(l.lines) > maxLines {
		l.lines = slices.Delete(l.lines, 0, len(l.lines)-maxLines)
	}
	close(l.notify)
	l.notify = make(chan struct{})
}

// snapshot returns the kept lines and the count of all lines so far.
func (l *lineLog) snapshot() ([]string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines), l.total
}

// waitPrefix waits for a line starting with prefix; false if exited is
// closed or the timeout passes first.
func (l *lineLog) waitPrefix(prefix string, exited <-chan struct{}, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		notify := l.notify
		found := slices.ContainsFunc(l.lines, func(s string) bool { return strings.HasPrefix(s, prefix) })
		l.mu.Unlock()
		if found {
			return true
		}
		select {
		case <-notify:
		case <-exited:
			return false
		case <-deadline:
			return false
		}
	}
}

// tail returns the last n lines as text.
func (l *lineLog) tail(n int) string {
	lines, _ := l.snapshot()
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// sock is one of the node's sockets, from /proc/PID/net/{tcp,tcp6,udp,udp6}.
type sock struct {
	proto         string // tcp or udp
	local, remote netip.AddrPort
	state         int // TCP state (10: LISTEN); 7 (closed) for an unconnected UDP socket
	rxQueue       int // bytes received that the node has not read yet
}

// sockets lists the node's sockets: the socket inodes among its file
// descriptors, looked up in the network namespace's tables.
func (tg *target) sockets() []sock {
	tg.t.Helper()
	pid := tg.pid()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		tg.t.Fatalf("read fds: %v", err)
	}
	inodes := map[string]bool{}
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), e.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var out []sock
	for _, table := range []string{"tcp", "tcp6", "udp", "udp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || !inodes[f[9]] {
				continue
			}
			st, _ := strconv.ParseInt(f[3], 16, 32)
			_, rx, _ := strings.Cut(f[4], ":")
			rxq, _ := strconv.ParseInt(rx, 16, 64)
			out = append(out, sock{
				proto:   strings.TrimSuffix(table, "6"),
				local:   parseProcAddr(f[1]),
				remote:  parseProcAddr(f[2]),
				state:   int(st),
				rxQueue: int(rxq),
			})
		}
	}
	return out
}

// parseProcAddr parses /proc/net/tcp's "0100007F:1F90" (the address in
// host byte order, 32 bits at a time) and its IPv6 form.
func parseProcAddr(s string) netip.AddrPort {
	h, p, _ := strings.Cut(s, ":")
	port, _ := strconv.ParseUint(p, 16, 16)
	raw, err := hex.DecodeString(h)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}
	}
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(raw[i:], binary.LittleEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port))
}

// hasConnFrom reports whether the node holds a TCP connection whose
// remote end is our local address a.
func (tg *target) hasConnFrom(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	for _, s := range tg.sockets() {
		if s.proto == "tcp" && s.state != 10 && int(s.remote.Port()) == ta.Port {
			return true
		}
	}
	return false
}

// waitRead waits until the node has read everything we sent on conns
// (its sockets' receive queues are empty, and so are our send queues as
// far as they reached it); false after timeout.
func (tg *target) waitRead(conns []net.Conn, timeout time.Duration) bool {
	ports := map[int]bool{}
	for _, c := range conns {
		ports[c.LocalAddr().(*net.TCPAddr).Port] = true
	}
	deadline := time.Now().Add(timeout)
	for {
		pending := 0
		for _, s := range tg.sockets() {
			if s.proto == "tcp" && ports[int(s.remote.Port())] {
				pending += s.rxQueue
			}
		}
		if pending == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitClosedByNode waits until the node no longer holds a connection
// from c's local address; false after timeout.
func (tg *target) waitClosedByNode(c net.Conn, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if !tg.hasConnFrom(c.LocalAddr()) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runCLI runs a one-shot command of the built CLI against the target's
// epmd and returns its stdout and exit error.
func (tg *target) runCLI(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(30*time.Second))
	defer cancel()
	args = append(args, "--cookie", cookie, "--epmd-port", strconv.Itoa(tg.epmdPort))
	cmd := exec.CommandContext(ctx, cliBinary, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%w: %s", err, strings.TrimSpace(errb.String()))
	}
	return out.String(), err
}

// healthySource is the healthy Erlang peer: a process that calls
// {Name, Node} with gen_server:call every 10 ms and counts the results.
const healthySource = `-module(hostile_peer).
-export([start/3, stats/0, errors/0, reset/0]).

start(Node, Name, Timeout) ->
    Pid = spawn(fun() -> loop(#{node => Node, name => Name, timeout => Timeout,
                                n => 0, ok => 0, fail => 0, lat => [], errs => []}) end),
    register(hostile_peer, Pid),
    ok.

ask(Msg) ->
    Ref = make_ref(),
    hostile_peer ! {Msg, self(), Ref},
    receive {Ref, R} -> R end.

stats() -> ask(stats).
errors() -> ask(errors).
reset() -> ask(reset).

loop(S = #{node := Node, name := Name, timeout := T, n := N}) ->
    receive
        {stats, From, Ref} -> From ! {Ref, summary(S)}, loop(S);
        {errors, From, Ref} -> From ! {Ref, lists:reverse(maps:get(errs, S))}, loop(S);
        {reset, From, Ref} -> From ! {Ref, ok}, loop(S#{ok := 0, fail := 0, lat := [], errs := []})
    after 10 ->
        T0 = erlang:monotonic_time(microsecond),
        R = try gen_server:call({Name, Node}, {ping, N}, T) of
                {ping, N} -> ok;
                Other -> {unexpected, Other}
            catch C:E -> {C, E}
            end,
        Us = erlang:monotonic_time(microsecond) - T0,
        S1 = S#{n := N + 1},
        case R of
            ok -> loop(S1#{ok := maps:get(ok, S1) + 1, lat := [Us | maps:get(lat, S1)]});
            _ ->
                Errs = maps:get(errs, S1),
                loop(S1#{fail := maps:get(fail, S1) + 1,
                         errs := case length(Errs) < 5 of true -> [R | Errs]; false -> Errs end})
        end
    end.

summary(#{ok := Ok, fail := Fail, lat := Lat}) ->
    Sorted = lists:sort(Lat),
    Len = length(Sorted),
    P = fun(_Q) when Len =:= 0 -> 0;
           (Q) -> lists:nth(max(1, min(Len, round(Q * Len))), Sorted)
        end,
    Max = case Sorted of [] -> 0; _ -> lists:last(Sorted) end,
    {Ok, Fail, P(0.5), P(0.99), Max}.
`
