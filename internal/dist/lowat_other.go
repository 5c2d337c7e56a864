//go:build !linux

package dist

// setRcvLowat does nothing where the low-water mark does not gate epoll's
// wake-ups the way Linux's does.
func setRcvLowat(fd uintptr, n int) error { return nil }

const hasRcvLowat = false
