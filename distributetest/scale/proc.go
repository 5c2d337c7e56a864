package scale

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// member is one node of the cluster under test: an OS process and the
// lines it printed on stdout, each with the time the harness read it.
type member struct {
	index  int    // 0-based
	name   string // node name
	inbox  string // its inbox's registered name
	http   string // Go: the --http address serving /metrics
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited and its output is read
	errLog string        // stderr file

	mu     sync.Mutex // protects lines and notify
	lines  []line
	notify chan struct{} // closed and replaced on every new line
}

type line struct {
	at   time.Time
	text string
}

// start runs cmd with stdout read line by line (and copied to logPath)
// and stderr written to errPath. The child is its own process group and
// gets SIGKILL if the harness dies (Pdeathsig), so none outlives it.
func (m *member) start(cmd *exec.Cmd, logPath, errPath string) error {
	m.notify = make(chan struct{})
	m.done = make(chan struct{})
	m.errLog = errPath
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	errFile, err := os.Create(errPath)
	if err != nil {
		return err
	}
	defer errFile.Close() // the child has its own descriptor
	cmd.Stderr = errFile
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("scale: start %s: %w", m.name, err)
	}
	m.cmd = cmd
	go func() {
		defer close(m.done)
		defer logFile.Close()
		m.read(io.TeeReader(stdout, logFile))
		cmd.Wait()
	}()
	return nil
}

func (m *member) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		now := time.Now()
		m.mu.Lock()
		m.lines = append(m.lines, line{now, sc.Text()})
		close(m.notify)
		m.notify = make(chan struct{})
		m.mu.Unlock()
	}
	// Drain what a too-long line left, so the child never blocks on a
	// full pipe.
	io.Copy(io.Discard, r)
}

// mark is the index of the next line: waitLine from it sees only lines
// printed after the mark.
func (m *member) mark() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.lines)
}

// errExited: the process exited while the harness waited for a line.
var errExited = errors.New("scale: node exited")

// waitLine waits for a line at or after index from that satisfies ok and
// returns the time it was read.
func (m *member) waitLine(ctx context.Context, from int, ok func(string) bool) (time.Time, error) {
	for {
		m.mu.Lock()
		for ; from < len(m.lines); from++ {
			if ok(m.lines[from].text) {
				at := m.lines[from].at
				m.mu.Unlock()
				return at, nil
			}
		}
		notify := m.notify
		m.mu.Unlock()
		select {
		case <-notify:
		case <-m.done:
			// Lines read before the exit are already in m.lines.
			m.mu.Lock()
			n := len(m.lines)
			m.mu.Unlock()
			if from >= n {
				return time.Time{}, fmt.Errorf("%w: %s (%s)", errExited, m.name, m.stderrTail())
			}
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("scale: %s: %w", m.name, ctx.Err())
		}
	}
}

// stderrTail is the end of the node's stderr, for error messages.
func (m *member) stderrTail() string {
	b, _ := os.ReadFile(m.errLog)
	s := strings.TrimSpace(string(b))
	if len(s) > 400 {
		s = "..." + s[len(s)-400:]
	}
	if s == "" {
		return "no stderr"
	}
	return strings.ReplaceAll(s, "\n", " | ")
}

func (m *member) pid() int { return m.cmd.Process.Pid }

func (m *member) exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the node's process group (an erl node's helper
// processes with it).
func (m *member) signal(sig syscall.Signal) {
	if m.cmd == nil || m.exited() {
		return
	}
	syscall.Kill(-m.pid(), sig)
}

// stopAll stops the members: SIGTERM (a graceful stop) to each, then
// SIGKILL to any still running after grace; it returns when all have
// exited.
func stopAll(members []*member, grace time.Duration) {
	for _, m := range members {
		m.signal(syscall.SIGTERM)
	}
	timeout := time.After(grace)
	for _, m := range members {
		if m.cmd == nil {
			continue
		}
		select {
		case <-m.done:
			continue
		case <-timeout:
			for _, o := range members {
				o.signal(syscall.SIGKILL)
			}
			timeout = nil // from now on, wait for the exits only
		}
		<-m.done
	}
}

// procStat is what /proc says about a process.
type procStat struct {
	cpuTicks uint64 // utime + stime, in clock ticks
	rssKB    uint64
	threads  int
	fds      int
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// readCPU reads utime + stime from /proc/PID/stat.
func readCPU(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields resume after ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("scale: /proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("scale: /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("scale: /proc/%d/stat: %w", pid, err)
	}
	return ut + st, nil
}

// readProc reads RSS and threads from /proc/PID/status, the open
// descriptors from /proc/PID/fd, and the CPU time.
func readProc(pid int) (procStat, error) {
	var s procStat
	var err error
	if s.cpuTicks, err = readCPU(pid); err != nil {
		return s, err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "VmRSS":
			s.rssKB, _ = strconv.ParseUint(strings.TrimSuffix(v, " kB"), 10, 64)
		case "Threads":
			s.threads, _ = strconv.Atoi(v)
		}
	}
	fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		return s, err
	}
	s.fds = len(fds)
	return s, nil
}
