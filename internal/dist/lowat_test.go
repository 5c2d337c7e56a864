//go:build linux

package dist

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/distribute-go/distribute/distributetest"
)

// TestQuietReaderWakesForLateFrame: a reader that polled its socket with
// the low-water mark raised (raiseMark) and then parked still wakes for
// a small frame that comes after: the mark is back to one byte when it
// parks. Before toPoller lowered it, the frame signalled nothing and
// stayed unread.
func TestQuietReaderWakesForLateFrame(t *testing.T) {
	col := newCollector()
	var bp *Conn
	a, b := connPair(t, ConnConfig{Handler: col.handle, ReadSpin: 500 * time.Microsecond}, ConnConfig{Handler: echo(&bp)})
	bp = b
	ctx := context.Background()
	// A few round trips: a's reader then polls after each answer.
	for range 20 {
		if err := a.Send(ctx, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		col.wait(t, 1)
	}
	// The last poll ends (ReadSpin, or the traffic window) and the reader
	// parks: wait for that, then send one small frame.
	deadline := time.Now().Add(distributetest.Scale(10 * time.Second))
	for a.quietEnds.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the reader never parked after polling with the low-water mark raised")
		}
		time.Sleep(time.Millisecond)
	}
	if err := b.Send(ctx, []byte("late")); err != nil {
		t.Fatal(err)
	}
	frames := col.wait(t, 1)
	if got := string(frames[20]); got != "late" {
		t.Fatalf("frame 21 is %q; want \"late\"", got)
	}
}

// TestQuietReaderReadsWhatCameMeanwhile: what arrived while the mark was
// raised signalled nothing, so toPoller reads it before it lets the reader
// park.
func TestQuietReaderReadsWhatCameMeanwhile(t *testing.T) {
	server, _, fd := rawPair(t)
	c := bareReader()
	c.raiseMark(fd)
	if !c.rd.quiet {
		t.Fatal("raiseMark did not raise the low-water mark")
	}
	if _, err := server.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	// Wait until the kernel holds the 10 bytes on the client's side.
	deadline := time.Now().Add(distributetest.Scale(10 * time.Second))
	for {
		if n := rcvLowat(t, fd); n != quietLowat {
			t.Fatalf("low-water mark %d; want %d", n, quietLowat)
		}
		queued, err := ioctlInq(fd)
		if err != nil {
			t.Fatal(err)
		}
		if queued == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes queued; want 10", queued)
		}
		time.Sleep(time.Millisecond)
	}
	if !c.toPoller(fd) {
		t.Fatal("toPoller parked the reader with 10 bytes waiting")
	}
	if c.rd.n != 10 || string(c.rd.buf[:10]) != "0123456789" {
		t.Fatalf("toPoller read %d bytes %q; want the 10 sent", c.rd.n, c.rd.buf[:max(c.rd.n, 0)])
	}
	if n := rcvLowat(t, fd); n != 1 {
		t.Fatalf("low-water mark after toPoller: %d; want 1", n)
	}
	// Nothing more: now it parks.
	if c.toPoller(fd) {
		t.Fatal("toPoller did not park an empty socket")
	}
}

// rawPair is a loopback TCP pair: the server end, and the client end's
// raw connection and socket (which the pair keeps open).
func rawPair(t *testing.T) (server net.Conn, raw syscall.RawConn, fd uintptr) {
	t.Helper()
	client, server := tcpPair(t)
	raw, err := client.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	raw.Control(func(f uintptr) { fd = f })
	return server, raw, fd
}

// bareReader is a Conn with only what its reader's raw reads use.
func bareReader() *Conn {
	c := &Conn{}
	c.rd.buf = make([]byte, 64)
	return c
}

// rcvLowat returns socket fd's receive low-water mark.
func rcvLowat(t *testing.T, fd uintptr) int {
	t.Helper()
	n, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// ioctlInq returns the bytes queued for reading on socket fd (SIOCINQ).
func ioctlInq(fd uintptr) (int, error) {
	var n int32
	_, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, siocinq, uintptr(unsafe.Pointer(&n)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// siocinq is Linux's SIOCINQ (FIONREAD on a socket).
const siocinq = 0x541B

// TestQuietReaderRestoresMarkOnStream: a reader that takes data while the
// mark is raised and nothing was sent within spinWindow (a stream in, no
// longer request/response) restores the mark even though it never parks:
// Linux acknowledges each segment at once while a mark is unmet, which
// slows a stream's sender. With something sent lately the mark stays up.
func TestQuietReaderRestoresMarkOnStream(t *testing.T) {
	server, raw, fd := rawPair(t)
	for _, tc := range []struct {
		name     string
		sentAgo  time.Duration
		wantMark int
	}{
		{"request/response", 0, quietLowat},
		{"stream in", 10 * spinWindow, 1},
	} {
		c := bareReader()
		c.raiseMark(fd)
		c.lastOut.Store(time.Now().Add(-tc.sentAgo).UnixNano())
		if _, err := server.Write([]byte("data")); err != nil {
			t.Fatal(err)
		}
		// The read blocks in the runtime's poller until the bytes are there.
		if err := raw.Read(c.spinOnce); err != nil {
			t.Fatal(err)
		}
		if c.rd.n != 4 {
			t.Fatalf("%s: read %d bytes, %v; want 4", tc.name, c.rd.n, c.rd.err)
		}
		if got := rcvLowat(t, fd); got != tc.wantMark {
			t.Fatalf("%s: low-water mark %d after a read with data; want %d", tc.name, got, tc.wantMark)
		}
		c.lowerMark(fd)
	}
}
