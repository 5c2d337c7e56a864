package dist

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/distribute-go/distribute/etf"
)

// goldenHeader is the example of header.go's comment: 'a@h' stored in
// slot 0x105, and slot 3 (holding ”) referred to.
var goldenHeader = mustHex("834402" + "0900" + "0503614068" + "03")

func TestHeaderGolden(t *testing.T) {
	var c HeaderCache
	if _, _, err := c.ReadHeader(goldenHeader, nil); !errors.Is(err, ErrAtomCache) {
		t.Fatalf("a ref to an empty slot: %v; want ErrAtomCache", err)
	}
	// Fill slot 3 with '' first, as an earlier frame would have.
	first, err := AppendHeader(nil, HeaderRef{Slot: 3, New: true, Atom: ""})
	if err != nil {
		t.Fatal(err)
	}
	if want := mustHex("834401" + "08" + "0300"); !bytes.Equal(first, want) {
		t.Fatalf("AppendHeader = %x; want %x", first, want)
	}
	if _, _, err := c.ReadHeader(first, nil); err != nil {
		t.Fatal(err)
	}
	got, err := AppendHeader(nil, HeaderRef{Slot: 0x105, New: true, Atom: "a@h"}, HeaderRef{Slot: 3, Atom: ""})
	if err != nil || !bytes.Equal(got, goldenHeader) {
		t.Fatalf("AppendHeader = %x, %v; want %x", got, err, goldenHeader)
	}
	frame := append(append([]byte{}, goldenHeader...), etf.TagSmallTuple, 2, etf.TagAtomCacheRef, 0, etf.TagAtomCacheRef, 1)
	refs, off, err := c.ReadHeader(frame, nil)
	if err != nil || off != len(goldenHeader) || len(refs) != 2 || refs[0] != "a@h" || refs[1] != "" {
		t.Fatalf("ReadHeader = %q, %d, %v", refs, off, err)
	}
	d := etf.Decoder{AtomRefs: refs}
	term, n, err := d.DecodeTerm(frame[off:])
	if err != nil || n != len(frame)-off || !etf.Equal(term, etf.Tuple{etf.Atom("a@h"), etf.Atom("")}) {
		t.Fatalf("DecodeTerm = %v, %d, %v", term, n, err)
	}
	// The slot keeps its atom for later frames.
	later, _ := AppendHeader(nil, HeaderRef{Slot: 0x105, Atom: "a@h"})
	if refs, _, err := c.ReadHeader(later, nil); err != nil || len(refs) != 1 || refs[0] != "a@h" {
		t.Fatalf("old ref = %q, %v", refs, err)
	}
}

// TestHeaderRoundTrip: headers of 0 to 255 refs, short and long atoms,
// new and old entries, read back to the same atoms.
func TestHeaderRoundTrip(t *testing.T) {
	var c HeaderCache
	long := etf.Atom(strings.Repeat("ü", 255)) // 510 bytes: a long-atom header
	for _, n := range []int{0, 1, 2, 3, 16, 255} {
		for _, withLong := range []bool{false, true} {
			var refs []HeaderRef
			for i := range n {
				a := etf.Atom(strings.Repeat("x", i%40))
				if withLong && i == n-1 {
					a = long
				}
				refs = append(refs, HeaderRef{Slot: (i * 7) % AtomCacheSize, New: true, Atom: a})
			}
			for pass := range 2 { // new entries, then the same slots as old refs
				b, err := AppendHeader(nil, refs...)
				if err != nil {
					t.Fatal(err)
				}
				got, off, err := c.ReadHeader(b, make([]etf.Atom, 3))
				if err != nil || off != len(b) || len(got) != n {
					t.Fatalf("n=%d long=%v pass %d: ReadHeader = %d refs, %d of %d, %v", n, withLong, pass, len(got), off, len(b), err)
				}
				for i := range refs {
					if got[i] != refs[i].Atom {
						t.Fatalf("n=%d pass %d: ref %d = %q; want %q", n, pass, i, got[i], refs[i].Atom)
					}
					refs[i].New = false
				}
			}
		}
	}
	if _, err := AppendHeader(nil, make([]HeaderRef, 256)...); !errors.Is(err, ErrAtomCache) {
		t.Errorf("256 refs: %v; want ErrAtomCache", err)
	}
	if _, err := AppendHeader(nil, HeaderRef{Slot: AtomCacheSize}); !errors.Is(err, ErrAtomCache) {
		t.Errorf("slot 2048: %v; want ErrAtomCache", err)
	}
	if _, err := AppendHeader(nil, HeaderRef{New: true, Atom: etf.Atom(strings.Repeat("a", 256))}); !errors.Is(err, ErrAtomCache) {
		t.Errorf("a 256-character atom: %v; want ErrAtomCache", err)
	}
}

// TestHeaderBad: malformed headers are typed errors and never panic.
func TestHeaderBad(t *testing.T) {
	cases := map[string]struct {
		hex  string
		want error
	}{
		"empty":          {"", ErrAtomCache},
		"pass-through":   {"7083", ErrBadFrame},
		"fragment":       {"834500", ErrBadFrame},
		"continuation":   {"834600", ErrBadFrame},
		"no count":       {"8344", ErrAtomCache},
		"no flags":       {"834402", ErrAtomCache},
		"no ref":         {"8344010800", ErrAtomCache},
		"no length":      {"834401" + "08" + "05", ErrAtomCache},
		"short text":     {"834401" + "08" + "05" + "0361", ErrAtomCache},
		"long no length": {"834401" + "18" + "05" + "00", ErrAtomCache},
		"bad utf-8":      {"834401" + "08" + "05" + "01ff", ErrAtomCache},
		"empty slot":     {"834401" + "00" + "05", ErrAtomCache},
	}
	for name, tc := range cases {
		var c HeaderCache
		if _, _, err := c.ReadHeader(mustHex(tc.hex), nil); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v; want %v", name, err, tc.want)
		}
	}
	// ParseHeaderFrame checks the terms as ParseFrame does, and a ref
	// beyond the header's is a decode error.
	var c HeaderCache
	var d etf.Decoder
	frame := append(mustHex("834400"), etf.TagSmallTuple, 1, etf.TagAtomCacheRef, 0)
	if _, _, _, err := ParseHeaderFrame(&d, &c, frame); !errors.Is(err, ErrBadFrame) {
		t.Errorf("ref 0 of a 0-ref header: %v; want ErrBadFrame", err)
	}
	if d.AtomRefs != nil {
		t.Errorf("ParseHeaderFrame left AtomRefs set")
	}
}

// TestHeaderFrame: AppendHeaderFrame and ParseHeaderFrame round trip a
// control message with and without payload.
func TestHeaderFrame(t *testing.T) {
	var c HeaderCache
	var d etf.Decoder
	ctrl := Control{Op: OpRegSend, From: etf.Pid{Node: "a@h", ID: 1}, To: etf.Atom("sink")}.Tuple()
	for _, msg := range []etf.Term{nil, etf.Tuple{etf.Atom("x"), int64(1)}} {
		b, err := AppendHeaderFrame(nil, ctrl, msg)
		if err != nil {
			t.Fatal(err)
		}
		gotCtrl, gotMsg, has, err := ParseHeaderFrame(&d, &c, b)
		if err != nil || !etf.Equal(gotCtrl, ctrl) || has != (msg != nil) || (msg != nil && !etf.Equal(gotMsg, msg)) {
			t.Fatalf("ParseHeaderFrame = %v, %v, %v, %v", gotCtrl, gotMsg, has, err)
		}
	}
}

// FuzzReadHeader: arbitrary frames never panic; a header that reads is
// re-encoded (all entries new) to one that reads to the same atoms.
func FuzzReadHeader(f *testing.F) {
	f.Add(goldenHeader)
	f.Add(mustHex("834401080300"))
	b, _ := AppendHeader(nil, HeaderRef{Slot: 2047, New: true, Atom: etf.Atom(strings.Repeat("é", 200))}, HeaderRef{Slot: 0, New: true, Atom: "a"})
	f.Add(b)
	f.Fuzz(func(t *testing.T, frame []byte) {
		var c HeaderCache
		refs, off, err := c.ReadHeader(frame, nil)
		if err != nil {
			if !errors.Is(err, ErrAtomCache) && !errors.Is(err, ErrBadFrame) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if off > len(frame) || len(refs) != int(frame[2]) {
			t.Fatalf("offset %d of %d, %d refs for N=%d", off, len(frame), len(refs), frame[2])
		}
		var out []HeaderRef
		for i, a := range refs {
			out = append(out, HeaderRef{Slot: i, New: true, Atom: a})
		}
		again, err := AppendHeader(nil, out...)
		if err != nil {
			t.Fatalf("re-encode %q: %v", refs, err)
		}
		var c2 HeaderCache
		refs2, _, err := c2.ReadHeader(again, nil)
		if err != nil || len(refs2) != len(refs) {
			t.Fatalf("re-read: %v", err)
		}
		for i := range refs {
			if refs[i] != refs2[i] {
				t.Fatalf("ref %d: %q then %q", i, refs[i], refs2[i])
			}
		}
	})
}
