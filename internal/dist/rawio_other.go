//go:build !linux

package dist

import "syscall"

// RawRead and RawWrite are read(2) and write(2) on a connection's
// non-blocking socket (see rawio_linux.go; here through syscall).
func RawRead(fd uintptr, p []byte) (int, error) {
	n, err := syscall.Read(int(fd), p)
	if err != nil {
		return 0, err
	}
	return n, nil
}

// RawWrite: see RawRead.
func RawWrite(fd uintptr, p []byte) (int, error) {
	n, err := syscall.Write(int(fd), p)
	if err != nil {
		return 0, err
	}
	return n, nil
}
