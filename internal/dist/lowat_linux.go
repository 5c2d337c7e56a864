package dist

import (
	"syscall"
	"unsafe"
)

// setRcvLowat sets the socket's receive low-water mark (SO_RCVLOWAT). On
// Linux (4.18 and later) a TCP socket signals readable to epoll only once
// that many bytes wait, or the stream ended; a non-blocking read still
// returns whatever is there. Like RawRead, a raw syscall: it never blocks,
// and through syscall.SetsockoptInt the first one after the process was
// idle woke the runtime's system monitor into a millisecond of polling.
func setRcvLowat(fd uintptr, n int) error {
	v := int32(n)
	_, _, e := syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, fd, syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, uintptr(unsafe.Pointer(&v)), unsafe.Sizeof(v), 0)
	if e != 0 {
		return e
	}
	return nil
}
