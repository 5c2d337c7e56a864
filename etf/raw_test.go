package etf

import (
	"bytes"
	"testing"
)

func TestRawWritesItsEncoding(t *testing.T) {
	msg := Tuple{Atom("hello"), Binary("world"), int64(1 << 40)}
	raw, err := EncodeRaw(msg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Encode(Tuple{Atom("wrap"), raw})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Encode(Tuple{Atom("wrap"), msg})
	if !bytes.Equal(got, want) {
		t.Fatalf("with Raw: %x; want %x", got, want)
	}
	if !Equal(raw, msg) || Format(raw) != Format(msg) {
		t.Fatalf("Raw compares or prints unlike its term: %s", Format(raw))
	}
	if _, err := Encode(Raw{}); err == nil {
		t.Fatal("an empty Raw encoded without error")
	}
	var boxed Term = raw
	if allocs := testing.AllocsPerRun(100, func() { AppendTerm(got[:0], boxed) }); allocs != 0 {
		t.Fatalf("appending a Raw allocates %v times", allocs)
	}
}
