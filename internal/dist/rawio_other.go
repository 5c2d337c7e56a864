//go:build !linux

package dist

import "syscall"

// RawRead and RawWrite are read(2) and write(2) on a connection's
// non-blocking socket (see rawio_linux.go; here through syscall).
func RawRead(fd uintptr, p []byte) (int, error) { return rawResult(syscall.Read(int(fd), p)) }

// RawWrite: see RawRead.
func RawWrite(fd uintptr, p []byte) (int, error) { return rawResult(syscall.Write(int(fd), p)) }

// rawResult reports no bytes on an error, as the Linux versions do
// (syscall.Read and Write return -1 then).
func rawResult(n int, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	return n, nil
}
