package etf_test

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeSpecVectors decodes the vectors of the protocol notes (6.4) and
// the forms only older encoders produce.
func TestDecodeSpecVectors(t *testing.T) {
	tests := []struct {
		hex  string
		want etf.Term
	}{
		{"83612A", int64(42)},
		{"836200000100", int64(256)},
		{"8362FFFFFFFF", int64(-1)},
		{"836E040000000080", int64(1 << 31)},
		{"836E0901000000000000000001", neg(pow2(64))},
		{"83463FF8000000000000", 1.5},
		{"8377026F6B", etf.OK},
		{"837700", etf.Atom("")},
		{"83770768C3A96C6CC3B6", etf.Atom("héllö")},
		{"836B0003616263", etf.CharList("abc")},
		{"836C00000002610162000007D06A", etf.List{int64(1), int64(2000)}},
		{"836C00000001770161770162", etf.ImproperList{Elems: []etf.Term{etf.Atom("a")}, Tail: etf.Atom("b")}},
		{"836A", etf.List{}},
		{"836D00000003010203", etf.Binary{1, 2, 3}},
		{"834D0000000103A0", etf.BitBinary{Bytes: []byte{0xA0}, Bits: 3}},
		{"8374000000017701616101", etf.Map{{Key: etf.Atom("a"), Value: int64(1)}}},
		{"836800", etf.Tuple{}},
		{"8368027701616101", etf.Tuple{etf.Atom("a"), int64(1)}},
		{"837177056C6973747377037365716102", etf.Export{Module: "lists", Function: "seq", Arity: 2}},
		{"83587705747640766D00000009000000006B07741C", etf.Pid{Node: "tv@vm", ID: 9, Creation: 0x6B07741C}},
		{"835A00037705747640766D6B07741C00035C5DB8400001EBEFC3BC",
			etf.Ref{Node: "tv@vm", Creation: 0x6B07741C, Len: 3, ID: [5]uint32{0x35C5D, 0xB8400001, 0xEBEFC3BC}}},
		{"835000000042789CCB6160601029674C241B650100393811DF", dupList(20, etf.Atom("a"))},
		// Latin-1 atoms (ATOM_EXT, SMALL_ATOM_EXT) become UTF-8.
		{"836400026869", etf.Atom("hi")},
		{"836400026AE9", etf.Atom("jé")},
		{"837302FF41", etf.Atom("ÿA")},
		// STRING_EXT with Latin-1 bytes.
		{"836B000268E9", etf.CharList("hé")},
		// FLOAT_EXT: 31 bytes of "%.20e" text.
		{"8363" + hex.EncodeToString(padFloat("1.50000000000000000000e+00")), 1.5},
		{"8363" + hex.EncodeToString(padFloat("-2.50000000000000000000e-03")), -2.5e-3},
		// Pre-OTP 23 identifiers with 8-bit creations.
		{"8367770161000000010000000203", etf.Pid{Node: "a", ID: 1, Serial: 2, Creation: 3}},
		{"83720002770161030000000100000002", etf.Ref{Node: "a", Creation: 3, Len: 2, ID: [5]uint32{1, 2}}},
		{"8365770161000000070C", etf.Ref{Node: "a", Len: 1, ID: [5]uint32{7}, Creation: 12}},
		{"8366770161000000070C", etf.Port{Node: "a", ID: 7, Creation: 12}},
		{"835977016100000007000000FF", etf.Port{Node: "a", ID: 7, Creation: 255}},
		{"83787701610000000100000002000000FF", etf.Port{Node: "a", ID: 1<<32 | 2, Creation: 255}},
		// Non-canonical integers decode to the smallest Go type.
		{"836E0100FF", int64(255)},
		{"836E08010000000000000080", int64(math.MinInt64)},
		{"836F00000002000100", int64(1)},
		{"836E0101" + "00", int64(0)}, // negative zero
		{"836E0A00" + "01000000000000000000", int64(1)},
		// A list whose tail is a list is the longer proper list.
		{"836C0000000161016C0000000161026A", etf.List{int64(1), int64(2)}},
		{"836C00000001610A6B00026263", etf.List{int64(10), int64('b'), int64('c')}},
		{"836C00000000770161", etf.Atom("a")},
		// A bit string with 8 bits in its last byte is a binary; stray low
		// bits are cleared.
		{"834D000000020801FF", etf.Binary{1, 0xFF}},
		{"834D0000000103BF", etf.BitBinary{Bytes: []byte{0xA0}, Bits: 3}},
		{"834D0000000000", etf.Binary{}},
	}
	for _, tc := range tests {
		got, err := etf.Decode(unhex(t, tc.hex))
		if err != nil {
			t.Errorf("Decode(%s): %v", tc.hex, err)
			continue
		}
		if !etf.Equal(got, tc.want) {
			t.Errorf("Decode(%s) = %#v; want %#v", tc.hex, got, tc.want)
		}
	}
}

func padFloat(s string) []byte {
	b := make([]byte, 31)
	copy(b, s)
	return b
}

func TestDecodeTypes(t *testing.T) {
	// Decoded integers are int64 whenever they fit, *big.Int otherwise.
	for _, tc := range []struct {
		hex  string
		big  bool
		want string
	}{
		{"836E0800FFFFFFFFFFFFFF7F", false, "9223372036854775807"},
		{"836E08010000000000000080", false, "-9223372036854775808"},
		{"836E08000000000000000080", true, "9223372036854775808"},
		{"836E0900000000000000000001", true, "18446744073709551616"},
		{"836E0801FFFFFFFFFFFFFFFF", true, "-18446744073709551615"},
		{"836F0000000300FFFFFF", false, "16777215"},
	} {
		b := unhex(t, tc.hex)
		got, err := etf.Decode(b)
		if err != nil {
			t.Fatalf("Decode(%X): %v", b, err)
		}
		switch v := got.(type) {
		case int64:
			if tc.big || big.NewInt(v).String() != tc.want {
				t.Errorf("Decode(%X) = int64 %d; want %s (big %v)", b, v, tc.want, tc.big)
			}
		case *big.Int:
			if !tc.big || v.String() != tc.want {
				t.Errorf("Decode(%X) = big %s; want %s", b, v, tc.want)
			}
		default:
			t.Errorf("Decode(%X) = %T", b, got)
		}
	}
	// -0.0 keeps its sign.
	got, err := etf.Decode(unhex(t, "83468000000000000000"))
	if f, ok := got.(float64); err != nil || !ok || !math.Signbit(f) {
		t.Errorf("Decode(-0.0) = %v, %v", got, err)
	}
}

// TestDecodeErrors checks that bad input fails with the right typed error.
func TestDecodeErrors(t *testing.T) {
	big32 := "FFFFFFFF"
	tests := []struct {
		name string
		hex  string
		want error
	}{
		{"empty", "", etf.ErrTruncated},
		{"no version", "612A", etf.ErrBadVersion},
		{"only version", "83", etf.ErrTruncated},
		{"unknown tag", "8301", etf.ErrUnknownTag},
		{"unknown tag 255", "83FF", etf.ErrUnknownTag},
		{"FUN_EXT", "837500000000", etf.ErrUnsupported},
		{"LOCAL_EXT", "8379", etf.ErrUnsupported},
		{"ATOM_CACHE_REF", "835200", etf.ErrUnsupported},
		{"nested compressed", "836801" + "50000000010000", etf.ErrInvalid},
		{"trailing", "836A6A", etf.ErrTrailingData},
		{"list length 2^32-1", "836C" + big32 + "6A", etf.ErrTruncated},
		{"tuple arity 2^32-1", "8369" + big32 + "6A", etf.ErrTruncated},
		{"map arity 2^32-1", "8374" + big32 + "6A6A", etf.ErrTruncated},
		{"binary 2^32-1", "836D" + big32 + "00", etf.ErrTruncated},
		{"bits 2^32-1", "834D" + big32 + "0300", etf.ErrTruncated},
		{"big 2^32-1 digits", "836F" + big32 + "0001", etf.ErrTruncated},
		{"string 65535", "836BFFFF61", etf.ErrTruncated},
		{"fun size 2^32-1", "8370" + big32 + strings.Repeat("00", 30), etf.ErrTruncated},
		{"fun size too small", "837000000004" + strings.Repeat("00", 30), etf.ErrInvalid},
		{"NaN", "83467FF8000000000000", etf.ErrInvalid},
		{"+Inf", "83467FF0000000000000", etf.ErrInvalid},
		{"-Inf", "8346FFF0000000000000", etf.ErrInvalid},
		{"float text", "8363" + hex.EncodeToString(padFloat("bogus")), etf.ErrInvalid},
		{"float text inf", "8363" + hex.EncodeToString(padFloat("inf")), etf.ErrInvalid},
		{"bad utf8 atom", "837702C328", etf.ErrInvalid},
		{"atom of 256 chars", "8376" + "0100" + strings.Repeat("61", 256), etf.ErrInvalid},
		{"latin1 atom of 256", "8364" + "0100" + strings.Repeat("61", 256), etf.ErrInvalid},
		{"duplicate key", "8374000000027701616101770161610" + "2", etf.ErrInvalid},
		{"duplicate key unsorted", "837400000003770162610177016161017701626102", etf.ErrInvalid},
		{"bits 0 with bytes", "834D000000010000", etf.ErrInvalid},
		{"bits 9", "834D000000010900", etf.ErrInvalid},
		{"bits without bytes", "834D0000000003", etf.ErrInvalid},
		{"ref of 6 words", "835A00067701610000000" + "1", etf.ErrInvalid},
		{"ref of 0 words", "835A0000770161" + "00000001", etf.ErrInvalid},
		{"old ref of 0 words", "83720000770161" + "01", etf.ErrInvalid},
		{"pid node not atom", "8358610100000001000000020000000" + "3", etf.ErrInvalid},
		{"export arity big", "8371770161770162620000FFFF", etf.ErrInvalid},
		{"export arity atom", "8371770161770162770163", etf.ErrInvalid},
		{"compressed truncated header", "835000", etf.ErrTruncated},
		{"compressed size 0", "835000000000789C0300000000001", etf.ErrInvalid},
		{"compressed impossible ratio", "8350" + "00100000" + "789C", etf.ErrInvalid},
		{"compressed over MaxSize", "8350" + "FFFFFFFF" + "789C", etf.ErrTooLarge},
		{"compressed garbage", "835000000004" + "0102030405060708", etf.ErrInvalid},
		{"compressed declared larger", "8350" + "00000043" + "789CCB6160601029674C241B650100393811DF", etf.ErrTruncated},
		{"compressed declared smaller", "8350" + "00000041" + "789CCB6160601029674C241B650100393811DF", etf.ErrInvalid},
		{"compressed bad checksum", "835000000042789CCB6160601029674C241B650100393811DE", etf.ErrInvalid},
	}
	for _, tc := range tests {
		h := tc.hex
		if len(h)%2 == 1 {
			h = h[:len(h)-1]
		}
		_, err := etf.Decode(unhex(t, h))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Decode(%s) error = %v; want %v", tc.name, h, err, tc.want)
			continue
		}
		var de *etf.DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%s: error %T is not a *DecodeError", tc.name, err)
		}
	}
}

// TestDecodeEveryPrefix cuts every golden term at every length: each cut
// must fail with ErrTruncated (or, for compressed input, another typed
// error), never panic.
func TestDecodeEveryPrefix(t *testing.T) {
	for name, b := range storedGolden(t) {
		if len(b) > 4096 {
			b = b[:4096] // long terms: the prefixes of the first 4 KiB
		}
		for i := 0; i < len(b); i++ {
			// A strict prefix of a term is never a whole term.
			_, err := etf.Decode(b[:i])
			var de *etf.DecodeError
			if !errors.As(err, &de) {
				t.Errorf("%s[:%d]: error %v is not a *DecodeError", name, i, err)
				continue
			}
			if b[1] != etf.TagCompressed && !errors.Is(err, etf.ErrTruncated) {
				t.Errorf("%s[:%d]: error %v; want ErrTruncated", name, i, err)
			}
		}
	}
}

func storedGolden(t *testing.T) map[string][]byte {
	t.Helper()
	data, err := readGoldenFile()
	if err != nil {
		t.Fatal(err)
	}
	return parseGolden(t, data)
}

// TestDecodeHugeLengthsDoNotAllocate: lengths the input cannot back fail
// before anything is allocated for them.
func TestDecodeHugeLengthsDoNotAllocate(t *testing.T) {
	for _, h := range []string{"836CFFFFFFFF6A", "8369FFFFFFFF6A", "8374FFFFFFFF6A6A", "836DFFFFFFFF00", "836FFFFFFFFF0001"} {
		b := unhex(t, h)
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := etf.Decode(b); !errors.Is(err, etf.ErrTruncated) {
				t.Fatalf("Decode(%s) error %v; want ErrTruncated", h, err)
			}
		})
		// The error value itself (DecodeError) is all that may be allocated.
		if allocs > 2 {
			t.Errorf("Decode(%s) allocated %v times", h, allocs)
		}
	}
}

func nestedLists(n int) []byte {
	b := []byte{131}
	for i := 0; i < n; i++ {
		b = append(b, etf.TagList, 0, 0, 0, 1)
	}
	b = append(b, etf.TagNil)
	for i := 0; i < n; i++ {
		b = append(b, etf.TagNil)
	}
	return b
}

func nestedTuples(n int) []byte {
	b := []byte{131}
	for i := 0; i < n; i++ {
		b = append(b, etf.TagSmallTuple, 1)
	}
	return append(b, etf.TagNil)
}

func TestDecodeDepth(t *testing.T) {
	// A million nested lists fail cleanly with the default limits, and
	// with the largest configurable depth.
	deep := nestedLists(1_000_000)
	if _, err := etf.Decode(deep); !errors.Is(err, etf.ErrTooDeep) {
		t.Errorf("1e6 nested lists: %v; want ErrTooDeep", err)
	}
	d := etf.Decoder{Limits: etf.Limits{MaxDepth: math.MaxInt}}
	if _, _, err := d.Decode(deep); !errors.Is(err, etf.ErrTooDeep) {
		t.Errorf("1e6 nested lists, MaxDepth max: %v; want ErrTooDeep", err)
	}
	if _, _, err := d.Decode(nestedTuples(1_000_000)); !errors.Is(err, etf.ErrTooDeep) {
		t.Errorf("1e6 nested tuples: %v; want ErrTooDeep", err)
	}
	// Exactly at the limit is fine, one more is not.
	d = etf.Decoder{Limits: etf.Limits{MaxDepth: 10}}
	if _, _, err := d.Decode(nestedTuples(10)); err != nil {
		t.Errorf("10 nested tuples at MaxDepth 10: %v", err)
	}
	if _, _, err := d.Decode(nestedTuples(11)); !errors.Is(err, etf.ErrTooDeep) {
		t.Errorf("11 nested tuples at MaxDepth 10: %v; want ErrTooDeep", err)
	}
	// A long chain of list cells (a list tail that is a list) is not deep.
	var chain []byte
	chain = append(chain, 131)
	for i := 0; i < 100_000; i++ {
		chain = append(chain, etf.TagList, 0, 0, 0, 1, etf.TagSmallInteger, byte(i))
	}
	chain = append(chain, etf.TagNil)
	got, err := etf.Decode(chain)
	if err != nil {
		t.Fatalf("chain of 1e5 cells: %v", err)
	}
	if l, ok := got.(etf.List); !ok || len(l) != 100_000 || l[99_999] != int64(99_999%256) {
		t.Errorf("chain decoded to %T of wrong shape", got)
	}
}

func TestDecodeLimits(t *testing.T) {
	// MaxSize.
	bin, _ := etf.Encode(make([]byte, 1000))
	d := etf.Decoder{Limits: etf.Limits{MaxSize: 500}}
	if _, _, err := d.Decode(bin); !errors.Is(err, etf.ErrTooLarge) {
		t.Errorf("1000-byte binary with MaxSize 500: %v; want ErrTooLarge", err)
	}
	if _, _, err := d.DecodeBinary(bin); !errors.Is(err, etf.ErrTooLarge) {
		t.Errorf("DecodeBinary 1000 bytes with MaxSize 500: %v; want ErrTooLarge", err)
	}
	d.Limits.MaxSize = 1005
	if _, _, err := d.Decode(bin); err != nil {
		t.Errorf("1000-byte binary with MaxSize 1005: %v", err)
	}
	// Truncated input within the limit is ErrTruncated, not ErrTooLarge.
	if _, _, err := d.Decode(bin[:600]); !errors.Is(err, etf.ErrTruncated) {
		t.Errorf("truncated binary: %v; want ErrTruncated", err)
	}
	// Compressed: the declared size is checked against MaxSize first.
	var zb bytes.Buffer
	zw := zlib.NewWriter(&zb)
	inner, _ := etf.AppendTerm(nil, make([]byte, 100_000))
	zw.Write(inner)
	zw.Close()
	comp := append([]byte{131, 80}, binary.BigEndian.AppendUint32(nil, uint32(len(inner)))...)
	comp = append(comp, zb.Bytes()...)
	d = etf.Decoder{Limits: etf.Limits{MaxSize: 50_000}, Compressed: true}
	if _, _, err := d.Decode(comp); !errors.Is(err, etf.ErrTooLarge) {
		t.Errorf("compressed 100 kB with MaxSize 50 kB: %v; want ErrTooLarge", err)
	}
	got, n, err := (&etf.Decoder{Compressed: true}).Decode(append(comp, 1, 2, 3))
	if err != nil || n != len(comp) || len(got.(etf.Binary)) != 100_000 {
		t.Errorf("compressed 100 kB: n=%d (want %d), %v", n, len(comp), err)
	}
	// Atom budget.
	tup := etf.Tuple{etf.Atom("a"), etf.Atom("b"), etf.Pid{Node: "n"}}
	b, _ := etf.Encode(tup)
	d = etf.Decoder{Limits: etf.Limits{MaxAtoms: 2}}
	if _, _, err := d.Decode(b); !errors.Is(err, etf.ErrAtomBudget) {
		t.Errorf("3 atoms with MaxAtoms 2: %v; want ErrAtomBudget", err)
	}
	d.Limits.MaxAtoms = 3
	if _, _, err := d.Decode(b); err != nil {
		t.Errorf("3 atoms with MaxAtoms 3: %v", err)
	}
	if l := etf.DefaultLimits(); l.MaxSize != etf.DefaultMaxSize || l.MaxDepth != etf.DefaultMaxDepth || l.MaxAtoms != etf.DefaultMaxAtoms {
		t.Errorf("DefaultLimits() = %+v", l)
	}
}

func TestDecoderStream(t *testing.T) {
	a, _ := etf.Encode(etf.Tuple{etf.OK, int64(1)})
	b, _ := etf.Encode(etf.Binary("xyz"))
	data := append(append([]byte{}, a...), b...)
	var d etf.Decoder
	t1, n1, err := d.Decode(data)
	if err != nil || n1 != len(a) {
		t.Fatalf("first: n=%d, %v", n1, err)
	}
	t2, n2, err := d.Decode(data[n1:])
	if err != nil || n2 != len(b) {
		t.Fatalf("second: n=%d, %v", n2, err)
	}
	if !etf.Equal(t1, etf.Tuple{etf.OK, 1}) || !etf.Equal(t2, "xyz") {
		t.Errorf("got %v, %v", t1, t2)
	}
	// DecodeTerm: no version byte.
	tt, n, err := d.DecodeTerm(a[1:])
	if err != nil || n != len(a)-1 || !etf.Equal(tt, t1) {
		t.Errorf("DecodeTerm = %v, %d, %v", tt, n, err)
	}
}

func TestDecodeAtomRefs(t *testing.T) {
	// {'$gen_cast', Ref0, <<"x">>} with atom cache refs 0 and 1.
	data := unhex(t, "6803 5200 5201 6D0000000178")
	d := etf.Decoder{AtomRefs: []etf.Atom{"$gen_cast", "hello"}}
	got, n, err := d.DecodeTerm(data)
	if err != nil || n != len(data) {
		t.Fatalf("DecodeTerm: %v (n=%d)", err, n)
	}
	want := etf.Tuple{etf.Atom("$gen_cast"), etf.Atom("hello"), etf.Binary("x")}
	if !etf.Equal(got, want) {
		t.Errorf("got %v; want %v", got, want)
	}
	if _, _, err := d.DecodeTerm(unhex(t, "5202")); !errors.Is(err, etf.ErrInvalid) {
		t.Errorf("ref beyond the header: %v; want ErrInvalid", err)
	}
	var plain etf.Decoder
	if _, _, err := plain.DecodeTerm(data); !errors.Is(err, etf.ErrUnsupported) {
		t.Errorf("ref without header: %v; want ErrUnsupported", err)
	}
}

// TestDecodeFunWithAtomRefs: a fun whose atoms come from the atom cache is
// rebuilt with its atoms written out, so it can be sent anywhere.
func TestDecodeFunWithAtomRefs(t *testing.T) {
	golden := storedGolden(t)
	raw := golden["fun_free_var"]
	f0, err := etf.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	fun := f0.(etf.Fun)
	// Replace the module atom (SMALL_ATOM_UTF8 "erl_eval") by cache ref 0.
	mod := append([]byte{etf.TagSmallAtomUTF8, 8}, "erl_eval"...)
	i := bytes.Index(fun.Raw, mod)
	if i < 0 {
		t.Fatalf("module atom not found in %X", fun.Raw)
	}
	cached := append(append(append([]byte{}, fun.Raw[:i]...), etf.TagAtomCacheRef, 0), fun.Raw[i+len(mod):]...)
	binary.BigEndian.PutUint32(cached[1:5], uint32(len(cached)-1))
	d := etf.Decoder{AtomRefs: []etf.Atom{"erl_eval"}}
	got, _, err := d.DecodeTerm(cached)
	if err != nil {
		t.Fatalf("DecodeTerm(fun with cache ref): %v", err)
	}
	if g := got.(etf.Fun); !bytes.Equal(g.Raw, fun.Raw) || g.Module != "erl_eval" {
		t.Errorf("rebuilt fun\n got %X\nwant %X", g.Raw, fun.Raw)
	}
}

func TestDecodeAliasing(t *testing.T) {
	term := etf.Tuple{etf.Binary("hello"), etf.BitBinary{Bytes: []byte{1, 0xE0}, Bits: 3}}
	data, _ := etf.Encode(term)
	var copying etf.Decoder
	aliasing := etf.Decoder{AliasBinaries: true}
	got1, _, err := copying.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	got2, _, err := aliasing.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte("hello"))
	data[i] = 'J'
	if !etf.Equal(got1, term) {
		t.Errorf("copied term changed with its input: %v", got1)
	}
	if b := got2.(etf.Tuple)[0].(etf.Binary); string(b) != "Jello" {
		t.Errorf("aliased binary = %q; want it to share the input", b)
	}
	// An aliased binary cannot be appended into the input.
	b := got2.(etf.Tuple)[0].(etf.Binary)
	if cap(b) != len(b) {
		t.Errorf("aliased binary has spare capacity %d", cap(b)-len(b))
	}
	// DecodeBinary.
	bin, _ := etf.Encode(etf.Binary("abc"))
	c, n, err := copying.DecodeBinary(bin)
	if err != nil || n != len(bin) || string(c) != "abc" || &c[0] == &bin[6] {
		t.Errorf("DecodeBinary copy = %q, %d, %v", c, n, err)
	}
	a, _, err := aliasing.DecodeBinary(bin)
	if err != nil || &a[0] != &bin[6] {
		t.Errorf("DecodeBinary alias does not alias: %v", err)
	}
	if _, _, err := copying.DecodeBinary(unhex(t, "83612A")); !errors.Is(err, etf.ErrNotBinary) {
		t.Errorf("DecodeBinary(42): %v; want ErrNotBinary", err)
	}
	if _, _, err := copying.DecodeBinary(bin[:5]); !errors.Is(err, etf.ErrTruncated) {
		t.Errorf("DecodeBinary(short): %v; want ErrTruncated", err)
	}
	if _, _, err := copying.DecodeBinary(bin[:8]); !errors.Is(err, etf.ErrTruncated) {
		t.Errorf("DecodeBinary(short body): %v; want ErrTruncated", err)
	}
	comp := storedGolden(t)["compressed_a20"]
	if _, _, err := copying.DecodeBinary(comp); !errors.Is(err, etf.ErrCompressed) {
		t.Errorf("DecodeBinary(compressed list) without Compressed: %v; want ErrCompressed", err)
	}
	copying.Compressed = true
	if _, _, err := copying.DecodeBinary(comp); !errors.Is(err, etf.ErrNotBinary) {
		t.Errorf("DecodeBinary(compressed list): %v; want ErrNotBinary", err)
	}
}

func TestDecodeErrorFields(t *testing.T) {
	_, err := etf.Decode(unhex(t, "8368026101 FF"))
	var de *etf.DecodeError
	if !errors.As(err, &de) || de.Offset != 5 || de.Tag != 0xFF || !errors.Is(err, etf.ErrUnknownTag) {
		t.Fatalf("error = %#v; want offset 5, tag 255, ErrUnknownTag", err)
	}
	if !strings.Contains(de.Error(), "offset 5") {
		t.Errorf("Error() = %q", de.Error())
	}
}

// nestedKeyMap is a map whose keys are maps, nested d deep, each pair of
// keys differing only in their last leaf: the worst case for sorting map
// keys by term order.
func nestedKeyMap(d int, leaf int64) etf.Term {
	if d == 0 {
		return leaf
	}
	return etf.Map{
		{Key: nestedKeyMap(d-1, 1), Value: int64(0)},
		{Key: nestedKeyMap(d-1, 0), Value: int64(0)},
		{Key: etf.Atom("x"), Value: leaf},
	}
}

// TestNestedMapKeys: maps as keys of maps, 16 levels deep (1 MiB), encode,
// decode and compare in near-linear time. Sorting each nested map anew at
// every comparison took time exponential in the depth (30 s for 14 levels).
func TestNestedMapKeys(t *testing.T) {
	term := nestedKeyMap(16, 0)
	b, err := etf.Encode(term)
	if err != nil {
		t.Fatal(err)
	}
	got, err := etf.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !etf.Equal(got, term) {
		t.Error("decoded nested-key map differs")
	}
	if etf.Equal(got, nestedKeyMap(16, 1)) {
		t.Error("maps differing in one leaf compare equal")
	}
}

// TestDecodeFunSize: the fields of a fun must end exactly at its Size.
func TestDecodeFunSize(t *testing.T) {
	raw := storedGolden(t)["fun_free_var"]
	if _, err := etf.Decode(raw); err != nil {
		t.Fatal(err)
	}
	for _, delta := range []int{-1, 1, -20} {
		b := append([]byte{}, raw...)
		size := int(binary.BigEndian.Uint32(b[2:6]))
		binary.BigEndian.PutUint32(b[2:6], uint32(size+delta))
		if delta > 0 {
			b = append(b, etf.TagNil)
		}
		var d etf.Decoder
		_, _, err := d.Decode(b)
		if !errors.Is(err, etf.ErrInvalid) {
			t.Errorf("fun size %+d: %v; want ErrInvalid", delta, err)
		}
	}
}

// TestDecodeEmptyString: STRING_EXT of length 0 is [], also as a list tail.
func TestDecodeEmptyString(t *testing.T) {
	for _, h := range []string{"836B0000", "836C00000001 6101 6B0000", "836C00000000 6B0000"} {
		got, err := etf.Decode(unhex(t, h))
		if err != nil {
			t.Errorf("Decode(%s): %v", h, err)
			continue
		}
		if _, ok := got.(etf.List); !ok {
			t.Errorf("Decode(%s) = %T; want etf.List", h, got)
		}
	}
}

// TestRefEquality: as in ERTS, high zero words do not tell references apart.
func TestRefEquality(t *testing.T) {
	a := etf.Ref{Node: "a@h", Len: 3, ID: [5]uint32{1, 2, 0}}
	b := etf.Ref{Node: "a@h", Len: 2, ID: [5]uint32{1, 2}}
	c := etf.Ref{Node: "a@h", Len: 5, ID: [5]uint32{5, 0, 0, 0, 1}}
	if !etf.Equal(a, b) || etf.Compare(c, a) <= 0 || etf.Compare(b, c) >= 0 {
		t.Errorf("Equal(a, b) = %v, Compare(c, a) = %d, Compare(b, c) = %d", etf.Equal(a, b), etf.Compare(c, a), etf.Compare(b, c))
	}
}

func TestAtomTable(t *testing.T) {
	term := etf.Tuple{etf.Pid{Node: "a@host", ID: 1, Creation: 2}, etf.Atom("tag"), etf.Atom("tag")}
	b, err := etf.Encode(term)
	if err != nil {
		t.Fatal(err)
	}
	d := etf.Decoder{Atoms: etf.NewAtomTable(16)}
	if _, _, err := d.Decode(b); err != nil {
		t.Fatal(err)
	}
	plain := testing.AllocsPerRun(100, func() { etf.Decode(b) })
	cached := testing.AllocsPerRun(100, func() { d.Decode(b) })
	if cached > plain-2 {
		t.Errorf("allocations with a warm atom cache %v, without %v; want two fewer (the node name, tag)", cached, plain)
	}
	// Latin-1 and UTF-8 atoms of the same bytes stay apart.
	lat := []byte{131, 100, 0, 1, 0xe9}    // ATOM_EXT "é" in Latin-1
	utf := []byte{131, 119, 2, 0xc3, 0xa9} // SMALL_ATOM_UTF8_EXT "é"
	odd := []byte{131, 119, 1, 0xe9}       // not UTF-8: an error
	for _, in := range [][]byte{lat, utf, lat} {
		got, _, err := d.Decode(in)
		if err != nil || got != etf.Atom("é") {
			t.Fatalf("Decode(%x) = %#v, %v; want 'é'", in, got, err)
		}
	}
	if _, _, err := d.Decode(odd); err == nil {
		t.Fatal("invalid UTF-8 atom decoded")
	}
	// The cache never grows past its bound.
	small := etf.Decoder{Atoms: etf.NewAtomTable(4)}
	for i := range 100 {
		b, _ := etf.Encode(etf.Atom(fmt.Sprintf("atom%d", i)))
		got, _, err := small.Decode(b)
		if err != nil || got != etf.Atom(fmt.Sprintf("atom%d", i)) {
			t.Fatalf("atom %d: %v, %v", i, got, err)
		}
	}
	if n := small.Atoms.Len(); n > 4 {
		t.Fatalf("cache holds %d atoms; bound 4", n)
	}
}

// floatExtCases are FLOAT_EXT texts and what OTP 25's binary_to_term makes
// of them ("" for badarg), as erl printed them (checked live by
// TestDecodeFloatExtErl when erl is installed): [+-]digits[.,]digits,
// then an optional exponent [eE][+-]digits, then NUL padding; a value
// that overflows is refused, one that underflows is 0.0.
var floatExtCases = []struct{ text, want string }{
	{"1.5", "1.5"}, {"1", ""}, {"1.", ""}, {".5", ""}, {"+1.5", "1.5"}, {"-1.5", "-1.5"},
	{"1.5e10", "1.5e10"}, {"1.5E+10", "1.5e10"}, {"1.5e-3", "0.0015"}, {"1,5", "1.5"},
	{"0x1p3", ""}, {"1_0.5", ""}, {"1.0_5", ""}, {"inf", ""}, {"nan", ""}, {"Infinity", ""},
	{" 1.5", ""}, {"1.5 ", ""}, {"1.5e", ""}, {"1e5", ""}, {"00001.5", "1.5"}, {"1.5e+", ""},
	{"1.5x", ""}, {"1.5e1000", ""}, {"1.5e-1000", "0.0"}, {"-0.0", "-0.0"}, {"1.5\n", ""},
	{"0.0e0", "0.0"}, {"1.5e05", "1.5e5"}, {"1.5e+0005", "1.5e5"},
	{"9.99999999999999999999e+307", "1.0e308"}, {"+.5", ""}, {"-.5e1", ""}, {"1..5", ""},
	{"", ""}, {"1.7976931348623159e308", ""}, {"4.9406564584124654e-324", "5.0e-324"},
	{"1.0e-320", "1.0e-320"}, {"1.5d3", ""}, {"1.5E3", "1.5e3"}, {"0x1.8p1", ""}, {"1.5e1_0", ""},
	{"١.5", ""}, {"1.5\x00junk", "1.5"},
}

// TestDecodeFloatExt: FLOAT_EXT reads exactly Erlang's float syntax, not
// Go's (no hex floats, no underscores, no inf or nan).
func TestDecodeFloatExt(t *testing.T) {
	for _, tc := range floatExtCases {
		b := append([]byte{131, etf.TagFloat}, padFloat(tc.text)...)
		got, err := etf.Decode(b)
		if tc.want == "" {
			if !errors.Is(err, etf.ErrInvalid) {
				t.Errorf("FLOAT_EXT %q = %v, %v; erl refuses it (want ErrInvalid)", tc.text, got, err)
			}
			continue
		}
		if err != nil || etf.Format(got) != tc.want {
			t.Errorf("FLOAT_EXT %q = %v, %v; erl reads %s", tc.text, got, err, tc.want)
		}
	}
	// 31 bytes of text and no NUL: the whole field is the text.
	b := append([]byte{131, etf.TagFloat, '1', '.'}, bytes.Repeat([]byte{'1'}, 29)...)
	if got, err := etf.Decode(b); err != nil || got != 1.1111111111111112 {
		t.Errorf("FLOAT_EXT of 31 digits = %v, %v", got, err)
	}
}

// TestDecodeFloatExtErl checks floatExtCases against a live erl.
func TestDecodeFloatExtErl(t *testing.T) {
	if _, err := exec.LookPath("erl"); err != nil {
		t.Skip("erl not installed")
	}
	var script strings.Builder
	script.WriteString("[io:format(\"~s~n\", [try binary_to_term(<<131, 99, T/binary, (binary:copy(<<0>>, 31 - byte_size(T)))/binary>>) of V -> io_lib:format(\"~w\", [V]) catch _:_ -> \"badarg\" end]) || T <- [")
	for i, tc := range floatExtCases {
		if i > 0 {
			script.WriteByte(',')
		}
		script.WriteString("<<")
		for j, c := range []byte(tc.text) {
			if j > 0 {
				script.WriteByte(',')
			}
			fmt.Fprintf(&script, "%d", c)
		}
		script.WriteString(">>")
	}
	script.WriteString("]]")
	lines := strings.Fields(distributetest.EvalErl(t, script.String()))
	if len(lines) != len(floatExtCases) {
		t.Fatalf("erl printed %d lines for %d cases: %q", len(lines), len(floatExtCases), lines)
	}
	for i, tc := range floatExtCases {
		want := tc.want
		if want == "" {
			want = "badarg"
		}
		if lines[i] != want {
			t.Errorf("erl reads FLOAT_EXT %q as %s; the table says %s", tc.text, lines[i], want)
		}
	}
}

// TestDecodeBigLimit: integers up to OTP's largest (4 194 296 bytes of
// digits, 2^25-64 bits; binary_to_term refuses one byte more) decode, larger
// ones are ErrTooLarge before anything is allocated for them; the encoder
// refuses them too.
func TestDecodeBigLimit(t *testing.T) {
	bigTerm := func(n int) []byte {
		b := []byte{131, etf.TagLargeBig}
		b = binary.BigEndian.AppendUint32(b, uint32(n))
		b = append(b, 0)
		return append(b, bytes.Repeat([]byte{0xFF}, n)...)
	}
	got, err := etf.Decode(bigTerm(etf.MaxBigBytes))
	if v, ok := got.(*big.Int); err != nil || !ok || v.BitLen() != 8*etf.MaxBigBytes {
		t.Fatalf("integer of %d bytes: %v", etf.MaxBigBytes, err)
	}
	if _, err := etf.Decode(bigTerm(etf.MaxBigBytes + 1)); !errors.Is(err, etf.ErrTooLarge) {
		t.Fatalf("integer of %d bytes: %v; want ErrTooLarge", etf.MaxBigBytes+1, err)
	}
	if _, err := etf.Encode(new(big.Int).Lsh(big.NewInt(1), 8*etf.MaxBigBytes)); !errors.Is(err, etf.ErrTooLarge) {
		t.Errorf("Encode of 2^(8*MaxBigBytes): %v; want ErrTooLarge", err)
	}
}

// TestDecodeCompressedPolicy: a Decoder refuses a compressed term unless
// Compressed is set (distribution connections never carry one); Decode and
// Unmarshal, for stored blobs, accept it; DecodeTerm never does.
func TestDecodeCompressedPolicy(t *testing.T) {
	comp := storedGolden(t)["compressed_a20"]
	var d etf.Decoder
	_, _, err := d.Decode(comp)
	var de *etf.DecodeError
	if !errors.Is(err, etf.ErrCompressed) || !errors.As(err, &de) || de.Offset != 1 || de.Tag != etf.TagCompressed {
		t.Errorf("zero Decoder: %v; want a *DecodeError at offset 1, tag 80, wrapping ErrCompressed", err)
	}
	if _, _, err := d.DecodeTerm(comp[1:]); err == nil {
		t.Error("DecodeTerm accepted a compressed term")
	}
	want := make(etf.List, 20)
	for i := range want {
		want[i] = etf.Atom("a")
	}
	if got, err := etf.Decode(comp); err != nil || !etf.Equal(got, want) {
		t.Errorf("Decode: %v, %v", got, err)
	}
	var atoms []etf.Atom
	if err := etf.Unmarshal(comp, &atoms); err != nil || len(atoms) != 20 {
		t.Errorf("Unmarshal: %v, %v", atoms, err)
	}
	d.Compressed = true
	if got, _, err := d.Decode(comp); err != nil || !etf.Equal(got, want) {
		t.Errorf("Decoder{Compressed: true}: %v, %v", got, err)
	}
}

// TestDecodeCompressedChargesDeclaredSize: a compressed blob declaring more
// than MaxSize is refused before anything is inflated or allocated for it.
func TestDecodeCompressedChargesDeclaredSize(t *testing.T) {
	var zb bytes.Buffer
	zw := zlib.NewWriter(&zb)
	inner, _ := etf.AppendTerm(nil, make([]byte, 4<<20)) // 4 MiB of zeros: a 4 kB blob
	zw.Write(inner)
	zw.Close()
	comp := append([]byte{131, 80}, binary.BigEndian.AppendUint32(nil, uint32(len(inner)))...)
	comp = append(comp, zb.Bytes()...)
	d := etf.Decoder{Compressed: true, Limits: etf.Limits{MaxSize: 1 << 20}}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, _, err := d.Decode(comp); !errors.Is(err, etf.ErrTooLarge) {
		t.Fatalf("%d-byte blob of 4 MiB with MaxSize 1 MiB: %v; want ErrTooLarge", len(comp), err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Errorf("refusing it allocated %d bytes", n)
	}
}
