//go:build race

package dist

import (
	"runtime"
	"unsafe"
)

// ioSync stands for what a connection's bytes carry between goroutines
// for the race detector: what a goroutine did before it wrote happened
// before what the goroutine that reads those bytes does after (nodes of
// one process talk through the kernel). internal/poll tells the detector
// as much for reads and writes through net.Conn; the raw reads and
// writes (RawRead, RawWrite) bypass it, so Conn tells it itself, on every
// path.
var ioSync byte

// raceReleaseIO is called before a write, raceAcquireIO after a read.
func raceReleaseIO() { runtime.RaceReleaseMerge(unsafe.Pointer(&ioSync)) }
func raceAcquireIO() { runtime.RaceAcquire(unsafe.Pointer(&ioSync)) }
