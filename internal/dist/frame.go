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

// FrameReader reads 4-byte length-prefixed frames (section 4.1).
type FrameReader struct {
	r   *bufio.Reader
	max uint64
	buf []byte
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
// io.ErrUnexpectedEOF; EOF between frames is io.EOF.
func (fr *FrameReader) ReadFrame() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(fr.r, hdr[:]); err != nil {
		return nil, err
	}
	n := uint64(binary.BigEndian.Uint32(hdr[:]))
	if n > fr.max {
		return nil, &FrameTooLargeError{Len: n, Max: fr.max}
	}
	if n == 0 {
		return fr.buf[:0], nil
	}
	if uint64(cap(fr.buf)) >= n {
		fr.buf = fr.buf[:n]
		if _, err := io.ReadFull(fr.r, fr.buf); err != nil {
			return nil, eofUnexpected(err)
		}
		return fr.buf, nil
	}
	// Grow with the data actually received: the buffer starts at one
	// chunk and doubles each time the bytes that arrived fill it, so a
	// frame of n bytes costs about 2n in all (the buffers it outgrows are
	// garbage) and a peer that stalls has made it allocate at most about
	// twice what it sent.
	buf := fr.buf[:0]
	for uint64(len(buf)) < n {
		if len(buf) == cap(buf) {
			c := max(2*uint64(cap(buf)), frameChunk)
			g := make([]byte, len(buf), min(c, n))
			copy(g, buf)
			buf = g
		}
		off := len(buf)
		buf = buf[:cap(buf)]
		if _, err := io.ReadFull(fr.r, buf[off:]); err != nil {
			fr.buf = buf[:0]
			return nil, eofUnexpected(err)
		}
	}
	fr.buf = buf
	return fr.buf, nil
}

// shrink releases the internal buffer if it grew above limit bytes
// (after an occasional huge frame).
func (fr *FrameReader) shrink(limit int) {
	if cap(fr.buf) > limit {
		fr.buf = nil
	}
}

func eofUnexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
