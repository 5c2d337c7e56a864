//go:build !linux

package dist

import "errors"

// setRcvLowat is unsupported where the low-water mark does not gate
// epoll's wake-ups the way Linux's does: the reader then never raises it.
func setRcvLowat(fd uintptr, n int) error { return errors.ErrUnsupported }
