package dist

import (
	"syscall"
	"unsafe"
)

// RawRead and RawWrite are read(2) and write(2) on a connection's socket,
// which the Go runtime keeps non-blocking: they return at once, with what
// there is or EAGAIN, so they are made without telling the scheduler
// (RawSyscall). Through syscall.Read a syscall is announced to the
// scheduler as one that may block: entering it wakes the system monitor
// thread when that sleeps (it then polls every 20 µs for a millisecond),
// and a P seen in one may be handed to another thread. A reader that polls
// its socket makes dozens of reads per answer, on the CPUs a ping-pong
// runs on. Exported for the floor benchmarks, which read and write as a
// connection does.
//
// The scheduler cannot stop a goroutine inside such a call (a
// stop-the-world waits for it), so each moves at most maxRawIO bytes: a
// copy of tens of microseconds, not of a whole socket buffer.
func RawRead(fd uintptr, p []byte) (int, error) { return rawIO(syscall.SYS_READ, fd, p) }

// RawWrite: see RawRead.
func RawWrite(fd uintptr, p []byte) (int, error) { return rawIO(syscall.SYS_WRITE, fd, p) }

// rawIO is read(2) or write(2) (trap) of at most maxRawIO bytes of p.
func rawIO(trap, fd uintptr, p []byte) (int, error) {
	p = p[:min(len(p), maxRawIO)]
	n, _, e := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// maxRawIO bounds the bytes one RawRead or RawWrite moves.
const maxRawIO = 256 << 10
