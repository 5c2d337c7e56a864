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
}
