package dist

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
)

// zeros reads as an endless stream of zero bytes, allocating nothing.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// frameStream is a frame header announcing n bytes followed by sent of
// them (then EOF).
func frameStream(n, sent int) io.Reader {
	hdr := binary.BigEndian.AppendUint32(nil, uint32(n))
	return io.MultiReader(bytes.NewReader(hdr), io.LimitReader(zeros{}, int64(sent)))
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestFrameReaderGrowsGeometrically: a large frame is read into a buffer
// that doubles as bytes arrive: in all, at most 2.5 times the frame is
// allocated (64 KiB, 128 KiB, ... 64 MiB, then the 100 MiB frame: the heap
// peaks at 1.64 times it; 64 KiB appends that copied each time once made it
// peak at 291 MB), and a peer that announces a large frame and sends
// little of it costs at most 4 times what it sent (the buffer it filled,
// the doubled one waiting for more, and the smaller ones before).
func TestFrameReaderGrowsGeometrically(t *testing.T) {
	const n = 100 << 20
	var got []byte
	total := allocated(func() {
		fr := NewFrameReader(frameStream(n, n), nil, DefaultMaxFrame)
		var err error
		if got, err = fr.ReadFrame(); err != nil {
			t.Fatal(err)
		}
	})
	if len(got) != n {
		t.Fatalf("read %d bytes; want %d", len(got), n)
	}
	if budget := uint64(5*n/2 + 256<<10); total > budget {
		t.Errorf("reading a %d MiB frame allocated %d MiB; budget %d MiB", n>>20, total>>20, budget>>20)
	}
	const sent = 1 << 20
	total = allocated(func() {
		fr := NewFrameReader(frameStream(n, sent), nil, DefaultMaxFrame)
		if _, err := fr.ReadFrame(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("truncated frame: %v; want io.ErrUnexpectedEOF", err)
		}
	})
	if budget := uint64(4*sent + 768<<10); total > budget {
		t.Errorf("a %d MiB frame cut after %d KiB allocated %d KiB; budget %d KiB", n>>20, sent>>10, total>>10, budget>>10)
	}
}

// TestFrameReaderReusesItsBuffer: frames no larger than an earlier one
// allocate nothing.
func TestFrameReaderReusesItsBuffer(t *testing.T) {
	var stream bytes.Buffer
	for _, n := range []int{300 << 10, 10, 200 << 10, 0, 300 << 10} {
		stream.Write(binary.BigEndian.AppendUint32(nil, uint32(n)))
		stream.Write(bytes.Repeat([]byte{byte(n)}, n))
	}
	fr := NewFrameReader(&stream, nil, DefaultMaxFrame)
	if f, err := fr.ReadFrame(); err != nil || len(f) != 300<<10 {
		t.Fatalf("first frame: %d bytes, %v", len(f), err)
	}
	for _, n := range []int{10, 200 << 10, 0, 300 << 10} {
		var f []byte
		var err error
		if a := allocated(func() { f, err = fr.ReadFrame() }); a > 1<<10 {
			t.Errorf("frame of %d bytes after a larger one allocated %d bytes", n, a)
		}
		if err != nil || len(f) != n || (n > 0 && f[n-1] != byte(n)) {
			t.Fatalf("frame of %d: %d bytes, %v", n, len(f), err)
		}
	}
}
