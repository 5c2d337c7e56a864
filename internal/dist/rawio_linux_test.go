package dist

import (
	"bytes"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// TestRawIOBounded: one RawRead or RawWrite moves at most maxRawIO bytes,
// whatever the buffer and the socket hold (the scheduler cannot stop a
// goroutine inside one), and what it moves arrives intact.
func TestRawIOBounded(t *testing.T) {
	server, _, fd := rawPair(t)
	const size = 4 * maxRawIO
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 13)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(server, size))
		got <- b
	}()
	sent := 0
	deadline := time.Now().Add(distributetest.Scale(10 * time.Second))
	for sent < size {
		n, err := RawWrite(fd, data[sent:])
		switch {
		case err == syscall.EAGAIN || err == syscall.EINTR:
			if time.Now().After(deadline) {
				t.Fatalf("wrote %d of %d bytes", sent, size)
			}
			time.Sleep(time.Millisecond) // the reader drains meanwhile
			continue
		case err != nil:
			t.Fatal(err)
		case n > maxRawIO:
			t.Fatalf("one RawWrite moved %d bytes; at most %d", n, maxRawIO)
		}
		sent += n
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("read %d bytes, not the %d written", len(b), size)
	}

	// The other way: the peer writes it all, and each read takes a part.
	go server.Write(data)
	buf := make([]byte, size)
	read := 0
	for read < size {
		n, err := RawRead(fd, buf[read:])
		switch {
		case err == syscall.EAGAIN || err == syscall.EINTR:
			if time.Now().After(deadline) {
				t.Fatalf("read %d of %d bytes", read, size)
			}
			time.Sleep(time.Millisecond)
			continue
		case err != nil:
			t.Fatal(err)
		case n > maxRawIO:
			t.Fatalf("one RawRead moved %d bytes; at most %d", n, maxRawIO)
		case n == 0:
			t.Fatal("end of stream")
		}
		read += n
	}
	if !bytes.Equal(buf, data) {
		t.Fatal("read bytes differ from those written")
	}
}
