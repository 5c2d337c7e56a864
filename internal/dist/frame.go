package dist

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
)

// DefaultMaxFrame is the default largest accepted frame (128 MiB).
const DefaultMaxFrame = 128 << 20

// frameChunk is the first buffer a large frame is read into; it then
// doubles as bytes arrive, so a peer announcing a huge (but allowed) frame
// and then stalling costs at most about twice what it sent.
const frameChunk = 64 << 10

// AppendFrame appends the 4-byte length and payload to dst. An empty
// payload makes a tick.
func AppendFrame(dst, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

// FrameReader reads 4-byte length-prefixed frames (section 4.1). A read
// that fails with a timeout (a read deadline, which is how a connection's
// reads are handed from one goroutine to another) may be retried: the
// reader keeps what it had read of the frame and resumes where it was.
type FrameReader struct {
	r   *bufio.Reader
	max uint64
	buf []byte
	// The frame being read: hdr holds nh bytes of its length; once all 4
	// are in, size is the length and got the payload bytes in buf.
	hdr  [4]byte
	nh   int
	size uint64
	got  uint64
}

// NewFrameReader returns a reader of frames from r that first consumes
// leftover (the bytes Accept or Dial read past the handshake). max bounds
// the frame length; 0 means DefaultMaxFrame.
func NewFrameReader(r io.Reader, leftover []byte, max int) *FrameReader {
	if len(leftover) > 0 {
		r = io.MultiReader(bytes.NewReader(leftover), r)
	}
	if max <= 0 {
		max = DefaultMaxFrame
	}
	return &FrameReader{r: bufio.NewReaderSize(r, 64<<10), max: uint64(max)}
}

// ReadFrame returns the next frame's payload; an empty (non-nil error-free,
// zero-length) payload is a tick. The returned slice is owned by the
// FrameReader and valid only until the next call. A length above the
// maximum is a *FrameTooLargeError; EOF inside a frame is
// io.ErrUnexpectedEOF; EOF between frames is io.EOF. After any other
// error (a timeout) a new call resumes the frame where the failed one
// stopped.
func (fr *FrameReader) ReadFrame() ([]byte, error) {
	if fr.nh < 4 {
		for fr.nh < 4 {
			k, err := fr.r.Read(fr.hdr[fr.nh:])
			fr.nh += k
			if err != nil && fr.nh < 4 {
				if err == io.EOF && fr.nh > 0 {
					err = io.ErrUnexpectedEOF
				}
				return nil, err
			}
		}
		n := uint64(binary.BigEndian.Uint32(fr.hdr[:]))
		if n > fr.max {
			return nil, &FrameTooLargeError{Len: n, Max: fr.max}
		}
		fr.size, fr.got = n, 0
		if uint64(cap(fr.buf)) >= n {
			fr.buf = fr.buf[:n]
		} else {
			fr.buf = fr.buf[:0]
		}
	}
	n := fr.size
	// Grow with the data actually received: the buffer starts at one
	// chunk and doubles each time the bytes that arrived fill it, so a
	// frame of n bytes costs about 2n in all (the buffers it outgrows are
	// garbage) and a peer that stalls has made it allocate at most about
	// twice what it sent.
	for fr.got < n {
		if fr.got == uint64(len(fr.buf)) {
			c := max(2*uint64(cap(fr.buf)), frameChunk)
			g := make([]byte, fr.got, min(c, n))
			copy(g, fr.buf)
			fr.buf = g[:cap(g)]
		}
		k, err := fr.r.Read(fr.buf[fr.got:])
		fr.got += uint64(k)
		if err != nil && fr.got < n {
			if errors.Is(err, io.EOF) {
				fr.buf = fr.buf[:0]
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	fr.nh = 0
	return fr.buf[:n], nil
}

// shrink releases the internal buffer if it grew above limit bytes
// (after an occasional huge frame).
func (fr *FrameReader) shrink(limit int) {
	if cap(fr.buf) > limit {
		fr.buf = nil
	}
}
