package etf_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/distribute-go/distribute/etf"
)

// FuzzDecode decodes arbitrary bytes. When they decode, the term must
// re-encode, decode again to an equal term, and re-encode to the same
// bytes (encoding is canonical). Failures must be typed errors.
func FuzzDecode(f *testing.F) {
	data, err := readGoldenFile()
	if err != nil {
		f.Fatal(err)
	}
	var t testing.T
	for _, b := range parseGolden(&t, data) {
		if len(b) <= 2048 {
			f.Add(b)
		}
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		b, err := etf.Encode(randTerm(r, 3))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"\x83", "\x83\x6c\xff\xff\xff\xff\x6a", "\x83\x50\x00\x00\x00\x42\x78\x9c\xcb\x61\x60\x60\x10\x29\x67\x4c\x24\x1b\x65\x01\x00\x39\x38\x11\xdf",
		"\x83\x63" + "1.50000000000000000000e+00\x00\x00\x00\x00\x00",
		"\x83\x64\x00\x02\x68\xe9", "\x83\x67\x77\x01\x61\x00\x00\x00\x01\x00\x00\x00\x02\x03",
		"\x83\x72\x00\x01\x77\x01\x61\x03\x00\x00\x00\x01", "\x83\x65\x77\x01\x61\x00\x00\x00\x07\x0c",
		"\x83\x66\x77\x01\x61\x00\x00\x00\x07\x0c", "\x83\x6c\x00\x00\x00\x01\x61\x01\x6c\x00\x00\x00\x01\x61\x02\x6a",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, alias := range []bool{false, true} {
			d := etf.Decoder{AliasBinaries: alias, Limits: etf.Limits{MaxSize: 1 << 20}}
			term, n, err := d.Decode(data)
			if err != nil {
				var de *etf.DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("error %v is not a *DecodeError", err)
				}
				return
			}
			if n <= 0 || n > len(data) {
				t.Fatalf("consumed %d of %d bytes", n, len(data))
			}
			enc, err := etf.Encode(term)
			if err != nil {
				t.Fatalf("Encode(decoded %#v): %v", term, err)
			}
			again, err := etf.Decode(enc)
			if err != nil {
				t.Fatalf("Decode(Encode(t)) failed: %v\n bytes %X", err, enc)
			}
			if !etf.Equal(again, term) {
				t.Fatalf("Decode(Encode(t)) = %#v; want %#v", again, term)
			}
			enc2, err := etf.Encode(again)
			if err != nil || !bytes.Equal(enc, enc2) {
				t.Fatalf("encoding is not canonical:\n%X\n%X (%v)", enc, enc2, err)
			}
		}
	})
}
