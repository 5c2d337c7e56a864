package distribute

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distribute-go/distribute/internal/dist"
)

// The floor benchmarks measure what this machine and Go's runtime give
// without any of this library, so that our numbers can be read against
// them: a raw TCP ping-pong and a raw TCP stream between two OS processes,
// and the memory of a bare parked goroutine.

// BenchmarkTCPPingPongFloor is a 64-byte ping-pong over loopback TCP
// between this process and a child process, with no protocol at all: the
// floor under BenchmarkPingPong. Both ends read the same way:
//   - netpoll: as net.Conn does (the goroutine parks until the socket is
//     readable);
//   - spin: polling the socket for up to defaultReadSpin first, the way a
//     connection's reader does (ConnConfig.ReadSpin), in the goroutine
//     that answers, and writing with non-blocking writes, as a
//     connection's inline writes do;
//   - handoff: spin, in a reading goroutine that hands each frame through
//     a channel to the goroutine that answers, the way a connection's
//     reader hands messages to a process.
func BenchmarkTCPPingPongFloor(b *testing.B) {
	for _, mode := range []string{"netpoll", "spin", "handoff"} {
		b.Run(mode, func(b *testing.B) {
			addr, echo := startTCPEcho(b, mode)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			rd, wr := floorConnReader(c, mode), floorConnWriter(c, mode)
			buf := make([]byte, 64)
			warm := warmUp(b, echo.Pid, warmRoundTrips, func() error { return floorRoundTrip(wr, rd, buf) })
			lat := latencies(b.N)
			used := startUsage(b, echo.Pid)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if err := floorRoundTrip(wr, rd, buf); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			reportLatency(b, lat, used(), warm)
		})
	}
}

// reportLatency reports the median and the 99th and 99.9th percentiles of
// lat in µs (nearest rank: lat[n/2], lat[n*99/100], lat[n*999/1000] of the
// sorted round trips, as bench/erlang computes Erlang's), the share of
// round trips slower than twice the median, and what both ends used over
// the round trips, per round trip: CPU time (a design that buys latency
// by spinning shows its cost there) and page faults (per 1,000), and the
// operations the warm-up ran (see warmUp).
func reportLatency(b *testing.B, lat []time.Duration, used usage, warm int) {
	b.ReportMetric(float64(warm), "warm-ops")
	b.ReportMetric(float64(used.cpu.Nanoseconds())/1e3/float64(len(lat)), "cpu-µs/rt")
	b.ReportMetric(1000*float64(used.faults)/float64(len(lat)), "faults/krt")
	slices.Sort(lat)
	p50 := lat[len(lat)/2]
	slow := len(lat) - sort.Search(len(lat), func(i int) bool { return lat[i] > 2*p50 })
	b.ReportMetric(float64(p50.Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
	b.ReportMetric(float64(lat[len(lat)*999/1000].Nanoseconds())/1e3, "p99.9-µs")
	b.ReportMetric(100*float64(slow)/float64(len(lat)), "%>2×p50")
}

// latencies returns room for n round trips' latencies, its memory touched,
// so that the page faults of a fresh allocation are not measured (see
// warmUp).
func latencies(n int) []time.Duration {
	lat := make([]time.Duration, n)
	for i := range lat {
		lat[i] = 1
	}
	return lat[:0]
}

// usage is what two processes, this one and a peer, used together.
type usage struct {
	cpu    time.Duration // user and system time, every thread
	faults int64         // minor page faults
}

// startUsage starts counting what this process and process peer use; the
// function it returns gives the sum used since. The peer's CPU time comes
// from /proc in clock ticks of 10 ms (USER_HZ is 100 on Linux), so a run
// needs seconds of round trips to be read to a percent.
func startUsage(b *testing.B, peer int) func() usage {
	b.Helper()
	u0 := pairUsage(b, peer)
	return func() usage {
		u := pairUsage(b, peer)
		return usage{cpu: u.cpu - u0.cpu, faults: u.faults - u0.faults}
	}
}

// pairUsage returns what this process and process peer have used so far,
// together.
func pairUsage(b *testing.B, peer int) usage {
	b.Helper()
	cpu, faults := selfUsage()
	peerCPU, peerFaults := procStat(b, peer)
	return usage{cpu: cpu + peerCPU, faults: faults + peerFaults}
}

// procStat returns the CPU time (utime and stime, fields 14 and 15) and
// the minor page faults (minflt, field 10) of process pid, from
// /proc/pid/stat.
func procStat(b *testing.B, pid int) (time.Duration, int64) {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("the usage of process %d: %v", pid, err)
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	i := bytes.LastIndexByte(data, ')')
	f := strings.Fields(string(data[i+1:]))
	if i < 0 || len(f) < 13 {
		b.Fatalf("the usage of process %d: /proc/%d/stat is %q", pid, pid, data)
	}
	minflt, err0 := strconv.ParseInt(f[7], 10, 64)
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err0 != nil || err1 != nil || err2 != nil {
		b.Fatalf("the usage of process %d: /proc/%d/stat is %q", pid, pid, data)
	}
	const tick = 10 * time.Millisecond
	return time.Duration(utime+stime) * tick, minflt
}

// warmUp runs rounds of n operations (op once each) until warmQuiet
// rounds in a row have each cost this process and process peer fewer page
// faults together than one per 100 operations, or warmRounds rounds have
// run, and returns how many operations it ran. A Go process's heap grows
// to the size of its first collection goals in its first seconds of
// traffic, and each page it touches for the first time is a page fault: a
// fraction of a µs on bare metal, about 11 µs on a VM with shadow paging,
// where it made 5–7% of round trips slow in a measurement that started
// too soon. The growth pauses while a collection lets the heap reuse its
// pages, hence several quiet rounds. The Erlang baseline (bench/erlang)
// warms up by the same rule.
func warmUp(b *testing.B, peer, n int, op func() error) int {
	b.Helper()
	k, quiet := 0, 0
	for k < warmRounds && quiet < warmQuiet {
		faults0 := pairUsage(b, peer).faults
		for range n {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
		k++
		quiet++
		if pairUsage(b, peer).faults-faults0 >= int64(n/100) {
			quiet = 0
		}
	}
	return k * n
}

// handoffReader reads 64-byte frames in a goroutine of its own and hands
// each to Read through a channel, the way a connection's reader hands
// messages to processes.
type handoffReader struct{ ch chan []byte }

func newHandoffReader(r io.Reader) *handoffReader {
	h := &handoffReader{ch: make(chan []byte, 16)}
	go func() {
		defer close(h.ch)
		for {
			buf := make([]byte, 64)
			if _, err := io.ReadFull(r, buf); err != nil {
				return
			}
			h.ch <- buf
		}
	}()
	return h
}

func (h *handoffReader) Read(p []byte) (int, error) {
	buf, ok := <-h.ch
	if !ok {
		return 0, io.EOF
	}
	return copy(p, buf), nil
}

func floorRoundTrip(wr io.Writer, rd io.Reader, buf []byte) error {
	if _, err := wr.Write(buf); err != nil {
		return err
	}
	_, err := io.ReadFull(rd, buf)
	return err
}

// floorConnReader returns c's reader for a BenchmarkTCPPingPongFloor mode.
func floorConnReader(c net.Conn, mode string) io.Reader {
	r := newFloorReader(c.(*net.TCPConn), mode != "netpoll")
	if mode == "handoff" {
		return newHandoffReader(r)
	}
	return r
}

// floorConnWriter returns c's writer for a BenchmarkTCPPingPongFloor
// mode: in the spin modes, non-blocking writes to the raw socket, as a
// connection's inline writes are (dist.RawWrite).
func floorConnWriter(c net.Conn, mode string) io.Writer {
	if mode == "netpoll" {
		return c
	}
	w := &floorWriter{}
	w.raw, _ = c.(*net.TCPConn).SyscallConn()
	w.fn = w.some
	return w
}

type floorWriter struct {
	raw syscall.RawConn
	buf []byte
	err error
	fn  func(fd uintptr) bool
}

func (w *floorWriter) Write(p []byte) (int, error) {
	w.buf, w.err = p, nil
	if err := w.raw.Write(w.fn); err != nil {
		return 0, err
	}
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

// some writes what the socket takes; false (wait until writable) while
// some is left.
func (w *floorWriter) some(fd uintptr) bool {
	for len(w.buf) > 0 {
		n, err := dist.RawWrite(fd, w.buf)
		switch err {
		case nil:
			w.buf = w.buf[n:]
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			w.err = err
			return true
		}
	}
	return true
}

// floorReader reads a TCP connection either through net.Conn (netpoll) or
// by polling the raw socket with runtime.Gosched between tries for up to
// defaultReadSpin before it lets the runtime park it (spin). While it
// polls, it raises the socket's receive low-water mark as a connection's
// reader does, so that arrivals do not wake the runtime's poller.
type floorReader struct {
	nc    *net.TCPConn
	raw   syscall.RawConn
	spin  bool
	quiet bool // the receive low-water mark is raised while it polls
	buf   []byte
	n     int
	err   error
	start time.Time
	fn    func(fd uintptr) bool
}

func newFloorReader(nc *net.TCPConn, spin bool) *floorReader {
	r := &floorReader{nc: nc, spin: spin}
	if spin {
		r.raw, _ = nc.SyscallConn()
		r.fn = r.once
	}
	return r
}

func (r *floorReader) Read(p []byte) (int, error) {
	if !r.spin {
		return r.nc.Read(p)
	}
	r.buf, r.start = p, time.Now()
	if err := r.raw.Read(r.fn); err != nil {
		return 0, err
	}
	switch {
	case r.err != nil:
		return 0, r.err
	case r.n == 0:
		return 0, io.EOF
	}
	return r.n, nil
}

func (r *floorReader) once(fd uintptr) bool {
	for {
		r.n, r.err = dist.RawRead(fd, r.buf)
		switch r.err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if time.Since(r.start) < defaultReadSpin {
				if !r.quiet {
					r.quiet = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, 16<<10) == nil
				}
				runtime.Gosched()
				continue
			}
			r.start = time.Now()
			if r.quiet {
				// One more read before parking: an arrival while the mark
				// was raised signalled nothing.
				r.quiet = false
				syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, 1)
				for {
					r.n, r.err = dist.RawRead(fd, r.buf)
					if r.err != syscall.EINTR {
						return r.err != syscall.EAGAIN
					}
				}
			}
			return false
		}
		return true
	}
}

// BenchmarkTCPStreamFloor is one-way loopback TCP from this process to a
// child process that discards what it reads, with no protocol at all: the
// ceiling over BenchmarkThroughput64/1K. Each op is one write of 64 B or
// 1 KiB through a 64 KiB bufio.Writer; the clock stops when the child has
// read all b.N of them and its one-byte answer is back.
func BenchmarkTCPStreamFloor(b *testing.B) {
	for _, size := range []int{64, 1024} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			addr, _ := startTCPEcho(b, "sink")
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			w := bufio.NewWriterSize(c, 64<<10)
			chunk := make([]byte, size)
			b.SetBytes(int64(size))
			b.ResetTimer()
			start := time.Now()
			if err := binary.Write(w, binary.BigEndian, int64(b.N*size)); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < b.N; i++ {
				if _, err := w.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, chunk[:1]); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
		})
	}
}

// startTCPEcho starts this test binary again as a TCP echo server for
// 64-byte frames (DISTRIBUTE_BENCH_TCPECHO=mode, see runTCPEcho) and
// returns its address; the child is killed at cleanup.
func startTCPEcho(b *testing.B, mode string) (string, *os.Process) {
	b.Helper()
	proc, addr := startTestChild(b, "DISTRIBUTE_BENCH_TCPECHO="+mode)
	return addr, proc
}

// runTCPEcho is the child process of startTCPEcho: it prints its address
// and echoes 64-byte frames on each connection, reading as mode says; in
// mode "sink" it reads an 8-byte big-endian length, discards that many
// bytes and answers with one byte.
func runTCPEcho(mode string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		go func() {
			defer c.Close()
			if mode == "sink" {
				var n int64
				if binary.Read(c, binary.BigEndian, &n) != nil {
					return
				}
				if _, err := io.CopyN(io.Discard, c, n); err == nil {
					c.Write([]byte{1})
				}
				return
			}
			rd, wr := floorConnReader(c, mode), floorConnWriter(c, mode)
			buf := make([]byte, 64)
			for {
				if _, err := io.ReadFull(rd, buf); err != nil {
					return
				}
				if _, err := wr.Write(buf); err != nil {
					return
				}
			}
		}()
	}
}

// BenchmarkIdleGoroutineFloor is the memory of a bare goroutine parked in
// a channel receive, with nothing of ours: the runtime's g, its 2 KB
// starting stack and the waiting record. It is the floor under
// BenchmarkIdleProcess (compare with Erlang's 2.7 KB per idle process).
func BenchmarkIdleGoroutineFloor(b *testing.B) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-stop
		}()
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	reportProcessMemory(b, &before, &after)
	close(stop)
	wg.Wait()
}
