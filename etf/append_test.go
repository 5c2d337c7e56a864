package etf

import (
	"bytes"
	"testing"
)

func TestAppendersMatchAppendTerm(t *testing.T) {
	for _, a := range []Atom{"", "ok", "héllö", Atom(bytes.Repeat([]byte("a"), 255))} {
		want, _ := AppendTerm(nil, a)
		got, err := AppendAtom(nil, a)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("AppendAtom(%q) = %x, %v; want %x", a, got, err, want)
		}
	}
	p := Pid{Node: "n@h", ID: 7, Serial: 1, Creation: 0x6b07741c}
	want, _ := AppendTerm(nil, p)
	got, err := AppendPid(nil, p)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("AppendPid = %x, %v; want %x", got, err, want)
	}
	if allocs := testing.AllocsPerRun(100, func() { AppendPid(got[:0], p) }); allocs != 0 {
		t.Errorf("AppendPid allocates %v times; want 0", allocs)
	}
	r := Ref{Node: "n@h", Creation: 0x6b07741c, Len: 3, ID: [MaxRefWords]uint32{1, 2, 3}}
	want, _ = AppendTerm(nil, r)
	got, err = AppendRef(nil, r)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("AppendRef = %x, %v; want %x", got, err, want)
	}
	if allocs := testing.AllocsPerRun(100, func() { AppendRef(got[:0], r) }); allocs != 0 {
		t.Errorf("AppendRef allocates %v times; want 0", allocs)
	}
	if got, err := AppendRef([]byte{1}, Ref{Node: "n@h"}); err == nil || !bytes.Equal(got, []byte{1}) {
		t.Errorf("AppendRef of a 0-word ref = %x, %v; want [01] and an error", got, err)
	}
}
