package dist

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
)

// stutterReader serves data in pieces and fails with a deadline error
// (as a socket read interrupted by SetReadDeadline does) before each cut
// point: cuts are offsets into data, in increasing order. A read never
// crosses a cut, and the error comes once per cut.
type stutterReader struct {
	data []byte
	pos  int
	cuts []int
}

func (s *stutterReader) Read(p []byte) (int, error) {
	if len(s.cuts) > 0 && s.pos == s.cuts[0] {
		s.cuts = s.cuts[1:]
		return 0, os.ErrDeadlineExceeded
	}
	if s.pos == len(s.data) {
		return 0, io.EOF
	}
	end := len(s.data)
	if len(s.cuts) > 0 && s.cuts[0] < end {
		end = s.cuts[0]
	}
	n := copy(p, s.data[s.pos:end])
	s.pos += n
	return n, nil
}

// readAllFrames reads frames until EOF, retrying after every deadline
// error, and returns them re-framed with the final error.
func readAllFrames(fr *FrameReader) ([]byte, error) {
	var out []byte
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil {
			return out, err
		}
		out = AppendFrame(out, f)
	}
}

// resumeStream is a few frames: a tick, small ones, and one larger than
// the reader's buffer.
func resumeStream() []byte {
	var b []byte
	b = AppendFrame(b, nil)
	b = AppendFrame(b, []byte("hello"))
	big := make([]byte, 70<<10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	b = AppendFrame(b, big)
	b = AppendFrame(b, []byte{1})
	b = AppendFrame(b, nil)
	return AppendFrame(b, []byte("end"))
}

// TestFrameReaderResumesAfterTimeout: a read interrupted by a deadline at
// any byte of the stream (a leader taking over the connection's reads)
// loses nothing: retried, the reader returns exactly the frames sent.
func TestFrameReaderResumesAfterTimeout(t *testing.T) {
	stream := resumeStream()
	// Every split point of the small frames, and points around and
	// inside the big one (every byte of 70 KiB is slow under -race).
	var points []int
	for i := 0; i <= len(stream); i++ {
		if i < 64 || i > len(stream)-64 || i%997 == 0 || (i > 64<<10-8 && i < 64<<10+16) {
			points = append(points, i)
		}
	}
	for _, cut := range points {
		fr := NewFrameReader(&stutterReader{data: stream, cuts: []int{cut}}, nil, DefaultMaxFrame)
		out, err := readAllFrames(fr)
		if err != io.EOF {
			t.Fatalf("cut at %d: error %v, want io.EOF", cut, err)
		}
		if !bytes.Equal(out, stream) {
			t.Fatalf("cut at %d: frames differ from those sent (%d bytes, want %d)", cut, len(out), len(stream))
		}
	}
	// Timeouts at every byte of the small frames at once.
	var cuts []int
	for i := 1; i < 40; i++ {
		cuts = append(cuts, i)
	}
	fr := NewFrameReader(&stutterReader{data: stream, cuts: cuts}, nil, DefaultMaxFrame)
	if out, err := readAllFrames(fr); err != io.EOF || !bytes.Equal(out, stream) {
		t.Fatalf("cut at every byte: %v, %d bytes, want %d", err, len(out), len(stream))
	}
}

// TestFrameReaderEOFAfterTimeout: EOF keeps its meaning after a resumed
// read: inside a frame it is io.ErrUnexpectedEOF, also when the header
// was cut.
func TestFrameReaderEOFAfterTimeout(t *testing.T) {
	for _, data := range [][]byte{{0, 0}, {0, 0, 0, 5, 'a'}} {
		fr := NewFrameReader(&stutterReader{data: data, cuts: []int{1}}, nil, DefaultMaxFrame)
		if _, err := readAllFrames(fr); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%v: error %v, want io.ErrUnexpectedEOF", data, err)
		}
	}
}

// FuzzFrameReaderTimeouts reads arbitrary bytes with deadline errors
// injected at arbitrary points: the frames that come out (and the final
// error) are those of the same bytes read without interruption.
func FuzzFrameReaderTimeouts(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 3, 'a', 'b', 'c'}, []byte{1, 5, 9})
	f.Add([]byte{0, 0, 0, 9, 1, 2}, []byte{0, 2, 3})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, []byte{2})
	f.Fuzz(func(t *testing.T, b []byte, cutBytes []byte) {
		const max = 1 << 10
		want, wantErr := readAllFrames(NewFrameReader(bytes.NewReader(b), nil, max))
		var cuts []int
		pos := 0
		for _, c := range cutBytes {
			pos += int(c % 16)
			if pos > len(b) {
				break
			}
			if len(cuts) == 0 || cuts[len(cuts)-1] != pos {
				cuts = append(cuts, pos)
			}
		}
		got, gotErr := readAllFrames(NewFrameReader(&stutterReader{data: b, cuts: cuts}, nil, max))
		if !bytes.Equal(got, want) {
			t.Fatalf("cuts %v: frames differ", cuts)
		}
		if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
			t.Fatalf("cuts %v: error %v, want %v", cuts, gotErr, wantErr)
		}
	})
}
