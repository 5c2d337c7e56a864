package dist

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/distribute-go/distribute/etf"
)

// bigFrame is a header-mode REG_SEND of a binary of n bytes, storing
// 'a@h' in slot 5, and its control tuple and message.
func bigFrame(t testing.TB, n int) ([]byte, etf.Tuple, etf.Term) {
	t.Helper()
	ctrl := etf.Tuple{int64(OpRegSend), etf.Pid{Node: "a@h", ID: 1}, etf.Atom(""), etf.Atom("sink")}
	msg := etf.Binary(bytes.Repeat([]byte{7}, n))
	f, err := AppendHeader(nil, HeaderRef{Slot: 5, New: true, Atom: "a@h"})
	if err != nil {
		t.Fatal(err)
	}
	if f, err = etf.AppendTerm(f, ctrl); err != nil {
		t.Fatal(err)
	}
	if f, err = etf.AppendTerm(f, msg); err != nil {
		t.Fatal(err)
	}
	return f, ctrl, msg
}

// TestReassembler: fragments of two sequences, interleaved, come back as
// their whole messages, and the first fragment's cache entries take effect
// at once.
func TestReassembler(t *testing.T) {
	var c HeaderCache
	var r Reassembler
	f1, ctrl, msg := bigFrame(t, 200_000)
	f2, _, msg2 := bigFrame(t, 70_000)
	a, err := AppendFragments(nil, f1, 0x11, 65536)
	if err != nil {
		t.Fatal(err)
	}
	b, err := AppendFragments(nil, f2, 0x22, 65536)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 4 || len(b) != 2 {
		t.Fatalf("%d and %d fragments; want 4 and 2", len(a), len(b))
	}
	// a[0], b[0], a[1], b[1] (b completes), a[2], a[3] (a completes).
	order := [][]byte{a[0], b[0], a[1], b[1], a[2], a[3]}
	var got []etf.Term
	for i, f := range order {
		if i == 1 {
			// a's first fragment stored 'a@h' in slot 5: a later frame may use it.
			old, _ := AppendHeader(nil, HeaderRef{Slot: 5, Atom: "a@h"})
			if refs, _, err := c.ReadHeader(old, nil); err != nil || refs[0] != "a@h" {
				t.Fatalf("slot 5 after a's first fragment: %q, %v", refs, err)
			}
		}
		refs, body, done, err := r.Add(&c, f)
		if err != nil {
			t.Fatalf("fragment %d: %v", i, err)
		}
		if !done {
			continue
		}
		d := etf.Decoder{AtomRefs: refs}
		gotCtrl, m, has, err := ParseBody(&d, body)
		if err != nil || !has || !etf.Equal(gotCtrl, ctrl) {
			t.Fatalf("fragment %d completes %v %v %v", i, gotCtrl, has, err)
		}
		got = append(got, m)
	}
	if len(got) != 2 || !etf.Equal(got[0], msg2) || !etf.Equal(got[1], msg) {
		t.Fatalf("reassembled %d messages, or not the ones sent", len(got))
	}
	if s, n := r.Pending(); s != 0 || n != 0 {
		t.Fatalf("pending %d sequences, %d bytes after both completed", s, n)
	}
	// A sequence's buffer is made once, for the fragments its first one
	// announces.
	if _, _, _, err := r.Add(&c, a[0]); err != nil {
		t.Fatal(err)
	}
	_, off, _ := new(HeaderCache).ReadHeader(f1, nil)
	if _, n := r.Pending(); n < len(f1)-off || n > 4*(len(a[0])-18) {
		t.Fatalf("holds %d bytes after the first of 4 fragments of %d; want room for the %d-byte message", n, len(a[0])-18, len(f1)-off)
	}
	// A message in a single fragment completes at once.
	one, _ := AppendFragments(nil, f2, 0x33, 1<<20)
	if len(one) != 1 || one[0][1] != distFragHeader {
		t.Fatalf("one fragment: %d", len(one))
	}
	if _, _, done, err := r.Add(&c, one[0]); err != nil || !done {
		t.Fatalf("single fragment: done %v, %v", done, err)
	}
}

// TestFragmenter: a frame's fragments are at most size bytes, but the
// first holds the header (new short and long entries, an old one) and the
// control term whole even when they are longer; FragIds count down to 1;
// and a Reassembler gives the frame back, whatever the size.
func TestFragmenter(t *testing.T) {
	long := etf.Atom(strings.Repeat("é", 200))
	ctrl := etf.Tuple{int64(OpExit), etf.Pid{Node: "a@h", ID: 1}, etf.Pid{Node: "a@h", ID: 2}, etf.Binary(bytes.Repeat([]byte{1}, 300))}
	msg := etf.Binary(bytes.Repeat([]byte{2}, 5000))
	var c HeaderCache
	store, _ := AppendHeader(nil, HeaderRef{Slot: 9, New: true, Atom: "old"})
	if _, _, err := c.ReadHeader(store, nil); err != nil {
		t.Fatal(err)
	}
	frame, err := AppendHeader(nil, HeaderRef{Slot: 5, New: true, Atom: long}, HeaderRef{Slot: 7, New: true, Atom: "a@h"}, HeaderRef{Slot: 9, Atom: "old"})
	if err != nil {
		t.Fatal(err)
	}
	hdrLen := len(frame)
	if frame, err = etf.AppendTerm(frame, ctrl); err != nil {
		t.Fatal(err)
	}
	ctrlEnd := len(frame)
	if frame, err = etf.AppendTerm(frame, msg); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{19, 20, 64, 100, 1000, 4096, len(frame) + 16, 1 << 20} {
		frags, err := AppendFragments(nil, frame, uint64(size), size)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if got := len(frags[0]) - 18; got < ctrlEnd-2 {
			t.Fatalf("size %d: first fragment carries %d bytes, header and control need %d", size, got, ctrlEnd-2)
		}
		var r Reassembler
		for i, f := range frags {
			if i > 0 && len(f) > size {
				t.Fatalf("size %d: fragment %d is %d bytes", size, i, len(f))
			}
			if id := binary.BigEndian.Uint64(f[10:]); id != uint64(len(frags)-i) || binary.BigEndian.Uint64(f[2:]) != uint64(size) {
				t.Fatalf("size %d: fragment %d has id %d, sequence %d", size, i, id, binary.BigEndian.Uint64(f[2:]))
			}
			refs, body, done, err := r.Add(&c, f)
			if err != nil || done != (i == len(frags)-1) {
				t.Fatalf("size %d: fragment %d of %d: done %v, %v", size, i, len(frags), done, err)
			}
			if done && (!bytes.Equal(body, frame[hdrLen:]) || len(refs) != 3 || refs[0] != long || refs[1] != "a@h" || refs[2] != "old") {
				t.Fatalf("size %d: reassembled %d bytes, refs %q", size, len(body), refs)
			}
		}
	}
	if _, err := AppendFragments(nil, frame, 1, 18); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("size 18: %v; want ErrBadFrame", err)
	}
	if _, err := AppendFragments(nil, frame[:hdrLen+3], 1, 64); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("truncated control: %v; want ErrBadFrame", err)
	}
	if _, err := AppendFragments(nil, frame[:hdrLen-10], 1, 64); !errors.Is(err, ErrAtomCache) {
		t.Fatalf("truncated header: %v; want ErrAtomCache", err)
	}
}

// TestReassemblerBad: out-of-order, unknown, restarted and oversized
// sequences are typed errors.
func TestReassemblerBad(t *testing.T) {
	f, _, _ := bigFrame(t, 10_000)
	frags, _ := AppendFragments(nil, f, 9, 2048)
	if len(frags) < 4 {
		t.Fatalf("%d fragments", len(frags))
	}
	cont := func(seq, id uint64) []byte {
		b := binary.BigEndian.AppendUint64([]byte{131, 70}, seq)
		return binary.BigEndian.AppendUint64(b, id)
	}
	// A first fragment whose header refers to an empty cache slot.
	badFirst := binary.BigEndian.AppendUint64([]byte{131, 69}, 3)
	badFirst = append(binary.BigEndian.AppendUint64(badFirst, 2), 1, 0, 5)
	cases := map[string]struct {
		frames [][]byte
		max    int
		want   error
	}{
		"skipped fragment": {[][]byte{frags[0], frags[2]}, 0, ErrFragment},
		"unknown sequence": {[][]byte{cont(1, 1)}, 0, ErrFragment},
		"started twice":    {[][]byte{frags[0], frags[0]}, 0, ErrFragment},
		"fragment id 0":    {[][]byte{cont(9, 0)}, 0, ErrFragment},
		"too short":        {[][]byte{{131, 69, 0}}, 0, ErrBadFrame},
		"bad header":       {[][]byte{badFirst}, 0, ErrAtomCache},
		"above Max, first": {[][]byte{frags[0]}, 100, nil},
		"above Max, later": {frags, 5000, nil},
	}
	for name, tc := range cases {
		var c HeaderCache
		r := Reassembler{Max: tc.max}
		var err error
		for _, f := range tc.frames {
			if _, _, _, err = r.Add(&c, f); err != nil {
				break
			}
		}
		var tooLarge *FrameTooLargeError
		switch {
		case tc.max > 0:
			if !errors.As(err, &tooLarge) {
				t.Errorf("%s: %v; want *FrameTooLargeError", name, err)
			}
		case tc.want != nil:
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: %v; want %v", name, err, tc.want)
			}
		}
	}
	// A first fragment announcing ever so many more: its buffer grows
	// with what arrives (at most ReassemblyFactor times it), not with
	// what it announces.
	huge := append([]byte(nil), frags[0]...)
	binary.BigEndian.PutUint64(huge[10:], 1<<62)
	r := Reassembler{Max: 5000}
	if _, _, _, err := r.Add(new(HeaderCache), huge); err != nil {
		t.Fatalf("first of 2^62 fragments: %v", err)
	}
	if _, held := r.Pending(); held > ReassemblyFactor*(len(huge)-18) {
		t.Fatalf("holds %d bytes for a sequence announcing 2^62 fragments after %d bytes; want at most %d", held, len(huge)-18, ReassemblyFactor*(len(huge)-18))
	}
	// The case: 43 bytes announcing 2^62 fragments, default Max.
	tiny := binary.BigEndian.AppendUint64([]byte{131, 69}, 7)
	tiny = binary.BigEndian.AppendUint64(tiny, 1<<62)
	tiny = append(tiny, 0) // no atom cache refs
	tiny = append(tiny, make([]byte, 43-len(tiny))...)
	r = Reassembler{}
	if _, _, _, err := r.Add(new(HeaderCache), tiny); err != nil {
		t.Fatalf("43-byte first of 2^62 fragments: %v", err)
	}
	if _, held := r.Pending(); held > ReassemblyFactor*(43-18) {
		t.Fatalf("holds %d bytes after a 43-byte first fragment announcing 2^62; want at most %d", held, ReassemblyFactor*(43-18))
	}
	// At most MaxFragmentSequences at once.
	var c HeaderCache
	r = Reassembler{}
	var err error
	for seq := uint64(0); seq <= MaxFragmentSequences && err == nil; seq++ {
		s, _ := AppendFragments(nil, f, seq, 2048)
		_, _, _, err = r.Add(&c, s[0])
	}
	if !errors.Is(err, ErrFragment) {
		t.Fatalf("sequence %d: %v; want ErrFragment", MaxFragmentSequences+1, err)
	}
}

// FuzzReassembler: any sequence of frames never panics, errors are typed,
// and the bytes held never exceed Max nor ReassemblyFactor times the
// fragment bytes that arrived.
func FuzzReassembler(f *testing.F) {
	frame, _, _ := bigFrame(f, 3000)
	frags, _ := AppendFragments(nil, frame, 1, 1024)
	f.Add(bytes.Join(frags, []byte{0xff, 0xfe}))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c HeaderCache
		r := Reassembler{Max: 4096}
		arrived := 0 // fragment payload bytes given so far
		for _, fr := range bytes.Split(data, []byte{0xff, 0xfe}) {
			arrived += max(len(fr)-18, 0)
			_, body, done, err := r.Add(&c, fr)
			if err != nil {
				var tooLarge *FrameTooLargeError
				if !errors.Is(err, ErrFragment) && !errors.Is(err, ErrAtomCache) && !errors.Is(err, ErrBadFrame) && !errors.As(err, &tooLarge) {
					t.Fatalf("untyped error %v", err)
				}
				return
			}
			if done && len(body) > len(data) {
				t.Fatalf("a %d-byte body from %d bytes of input", len(body), len(data))
			}
			if _, held := r.Pending(); held > 4096 || held > ReassemblyFactor*arrived {
				t.Fatalf("holds %d bytes after %d arrived, Max 4096", held, arrived)
			}
		}
	})
}

// TestHeaderReader: a HeaderReader reassembles fragments only when
// Fragments was negotiated; otherwise a fragment is ErrBadFrame. Whole
// frames read as ReadHeader reads them.
func TestHeaderReader(t *testing.T) {
	f, ctrl, msg := bigFrame(t, 5000)
	frags, _ := AppendFragments(nil, f, 1, 2048)
	var without HeaderReader
	if _, _, _, err := without.Read(frags[0]); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("a fragment without Fragments: %v; want ErrBadFrame", err)
	}
	for _, frames := range [][][]byte{{f}, frags} {
		h := HeaderReader{Fragments: true}
		for i, fr := range frames {
			refs, body, done, err := h.Read(fr)
			if err != nil || done != (i == len(frames)-1) {
				t.Fatalf("frame %d of %d: done %v, %v", i, len(frames), done, err)
			}
			if !done {
				continue
			}
			d := etf.Decoder{AtomRefs: refs}
			gotCtrl, m, _, err := ParseBody(&d, body)
			if err != nil || !etf.Equal(gotCtrl, ctrl) || !etf.Equal(m, msg) {
				t.Fatalf("%d frames read back as %v, %v", len(frames), gotCtrl, err)
			}
		}
	}
}

// FuzzFragmenter: for any bytes and size, NewFragmenter fails with a typed
// error, or its fragments are at most size bytes but for the first, count
// down to 1, and carry the frame's bytes after 131, 68, in order.
func FuzzFragmenter(f *testing.F) {
	frame, _, _ := bigFrame(f, 300)
	f.Add(frame, 64)
	f.Add(frame[:20], 19)
	f.Fuzz(func(t *testing.T, frame []byte, size int) {
		size = 19 + abs(size)%4096
		frags, err := AppendFragments(nil, frame, 5, size)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) && !errors.Is(err, ErrAtomCache) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		var body []byte
		for i, fr := range frags {
			if i > 0 && len(fr) > size || len(fr) < 18 || binary.BigEndian.Uint64(fr[10:]) != uint64(len(frags)-i) {
				t.Fatalf("fragment %d of %d: %d bytes, id %d, size %d", i, len(frags), len(fr), binary.BigEndian.Uint64(fr[10:]), size)
			}
			body = append(body, fr[18:]...)
		}
		if !bytes.Equal(body, frame[2:]) {
			t.Fatalf("fragments carry %d bytes; the frame has %d after 131, 68", len(body), len(frame)-2)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
