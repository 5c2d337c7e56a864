package dist

import "syscall"

// setRcvLowat sets the socket's receive low-water mark (SO_RCVLOWAT). On
// Linux (4.18 and later) a TCP socket signals readable to epoll only once
// that many bytes wait, or the stream ended; a non-blocking read still
// returns whatever is there.
func setRcvLowat(fd uintptr, n int) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, n)
}
