package dist

import (
	"bytes"
	"io"
	"syscall"
	"testing"
)

// TestRawIOBounded: one RawRead or RawWrite moves at most maxRawIO bytes,
// whatever the buffer and the socket hold (the scheduler cannot stop a
// goroutine inside one), and what it moves arrives intact.
func TestRawIOBounded(t *testing.T) {
	server, raw, _ := rawPair(t)
	const size = 4 * maxRawIO
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 13)
	}
	// each moves all of buf through op, one raw call at a time, letting
	// the runtime wait for the socket between them; it fails on a call
	// that moved more than maxRawIO.
	each := func(what string, op func(func(fd uintptr) bool) error, call func(fd uintptr, p []byte) (int, error), buf []byte) {
		t.Helper()
		done := 0
		var err error
		if rerr := op(func(fd uintptr) bool {
			for done < len(buf) {
				var n int
				switch n, err = call(fd, buf[done:]); {
				case err == syscall.EINTR:
					continue
				case err == syscall.EAGAIN:
					return false // wait until the socket is ready
				case err != nil:
					return true
				case n > maxRawIO:
					t.Errorf("one %s moved %d bytes; at most %d", what, n, maxRawIO)
				case n == 0:
					err = io.ErrUnexpectedEOF
					return true
				}
				done += n
			}
			return true
		}); rerr != nil || err != nil {
			t.Fatalf("%s: %d of %d bytes: %v %v", what, done, len(buf), rerr, err)
		}
	}

	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(server, size))
		got <- b
	}()
	each("RawWrite", raw.Write, RawWrite, data)
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("read %d bytes, not the %d written", len(b), size)
	}

	// The other way: the peer writes it all, and each read takes a part.
	go server.Write(data)
	buf := make([]byte, size)
	each("RawRead", raw.Read, RawRead, buf)
	if !bytes.Equal(buf, data) {
		t.Fatal("read bytes differ from those written")
	}
}
