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
	f.Fuzz(checkDecodeRoundTrip)
}

// checkDecodeRoundTrip is the property FuzzDecode checks.
func checkDecodeRoundTrip(t *testing.T, data []byte) {
	t.Helper()
	defer func() {
		if t.Failed() {
			t.Logf("input %X", prefix(data))
		}
	}()
	// An atom cache changes no result: decoding twice through one (the
	// second time from the cache) gives what a plain decoder gives.
	plain := etf.Decoder{Limits: etf.Limits{MaxSize: 1 << 20}, Compressed: true}
	want, wantN, wantErr := plain.Decode(data)
	cached := etf.Decoder{Limits: etf.Limits{MaxSize: 1 << 20}, Atoms: etf.NewAtomTable(8), Compressed: true}
	for range 2 {
		got, n, err := cached.Decode(data)
		if (err == nil) != (wantErr == nil) || n != wantN || (err == nil && !etf.Equal(got, want)) {
			t.Fatalf("with an atom cache: %#v, %d, %v; without: %#v, %d, %v", got, n, err, want, wantN, wantErr)
		}
	}
	for _, alias := range []bool{false, true} {
		d := etf.Decoder{AliasBinaries: alias, Limits: etf.Limits{MaxSize: 1 << 20}, Compressed: true}
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
}

// TestDecodeMutations runs the fuzz property over random mutations of the
// golden terms on every plain `go test`, not only when fuzzing.
func TestDecodeMutations(t *testing.T) {
	r := newRand(11)
	rounds := 100
	if testing.Short() {
		rounds = 10
	}
	for _, b := range storedGolden(t) {
		if len(b) > 2048 {
			continue
		}
		for range rounds {
			m := append([]byte(nil), b...)
			for range 1 + r.IntN(3) {
				switch i := r.IntN(len(m)); r.IntN(3) {
				case 0:
					m[i] = byte(r.Uint32())
				case 1:
					m[i] ^= 1 << r.IntN(8)
				default:
					m = m[:i+1]
				}
			}
			checkDecodeRoundTrip(t, m) // logs the input if it fails
		}
	}
}

// FuzzDecodeTerm decodes terms in distribution header mode, where
// ATOM_CACHE_REF resolves through AtomRefs. What decodes must re-encode to
// a term without cache references that a plain decoder reads back equal.
func FuzzDecodeTerm(f *testing.F) {
	f.Add([]byte("\x68\x03\x52\x00\x52\x01\x6d\x00\x00\x00\x01\x78"))
	f.Add([]byte("\x58\x52\x01\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03"))
	f.Add([]byte("\x71\x52\x00\x52\x01\x61\x02"))
	data, err := readGoldenFile()
	if err != nil {
		f.Fatal(err)
	}
	var t testing.T
	for name, b := range parseGolden(&t, data) {
		if len(b) <= 2048 && b[1] != etf.TagCompressed {
			f.Add(b[1:])
			if name == "fun_free_var" || name == "pid_self" {
				// The same with its first atom replaced by cache ref 0.
				i := bytes.IndexByte(b, etf.TagSmallAtomUTF8)
				if i > 0 && i+1 < len(b) {
					n := int(b[i+1])
					c := append(append(append([]byte{}, b[1:i]...), etf.TagAtomCacheRef, 0), b[i+2+n:]...)
					f.Add(c)
				}
			}
		}
	}
	refs := []etf.Atom{"erl_eval", "nonode@nohost", "ok", "héllö"}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := etf.Decoder{AtomRefs: refs, Limits: etf.Limits{MaxSize: 1 << 20}}
		term, _, err := d.DecodeTerm(data)
		if err != nil {
			var de *etf.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			return
		}
		enc, err := etf.AppendTerm(nil, term)
		if err != nil {
			t.Fatalf("AppendTerm(decoded %#v): %v", term, err)
		}
		var plain etf.Decoder
		again, n, err := plain.DecodeTerm(enc)
		if err != nil || n != len(enc) {
			t.Fatalf("plain DecodeTerm(AppendTerm(t)) = %v (n=%d of %d)\n bytes %X", err, n, len(enc), enc)
		}
		if !etf.Equal(again, term) {
			t.Fatalf("round trip = %#v; want %#v", again, term)
		}
	})
}
