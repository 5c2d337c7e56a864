package codec_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/distribute-go/distribute/codec"
)

var sentinels = []error{
	codec.ErrTruncated, codec.ErrTrailing, codec.ErrInvalid, codec.ErrTooLarge,
	codec.ErrTagMismatch, codec.ErrVersionMismatch,
}

// fuzzCodec decodes arbitrary bytes with c. A failure must be a *DecodeError
// wrapping one of the sentinels. A success must re-encode: to the very same
// bytes when the format is canonical for c (every codec but Map, which
// accepts entries in any order), and in any case to bytes that decode and
// re-encode to themselves. The sized form must agree with the strict one.
func fuzzCodec[T any](f *testing.F, c codec.Codec[T], canonical bool, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := codec.Decode(c, in)
		// The sized decoder must accept exactly what the strict one does
		// once the rest is accounted for.
		sv, rest, serr := c.Decode(in)
		if (err == nil) != (serr == nil && len(rest) == 0) {
			t.Fatalf("Decode error %v but sized Decode error %v with %d bytes left", err, serr, len(rest))
		}
		if err != nil {
			var de *codec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v is not a *codec.DecodeError", err, err)
			}
			if de.Offset < 0 || de.Offset > len(in) {
				t.Fatalf("error offset %d outside input of %d bytes: %v", de.Offset, len(in), err)
			}
			known := false
			for _, s := range sentinels {
				known = known || errors.Is(err, s)
			}
			if !known {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			if serr == nil {
				// The sized form read a value and left bytes: it
				// must re-encode to the bytes it consumed.
				used := in[:len(in)-len(rest)]
				b, err := codec.Encode(c, sv)
				if err != nil {
					t.Fatalf("re-encode of sized value: %v", err)
				}
				if canonical && !bytes.Equal(b, used) {
					t.Fatalf("sized value re-encodes to %x; consumed %x", b, used)
				}
			}
			return
		}
		out, err := codec.Encode(c, v)
		if err != nil {
			t.Fatalf("Decode(%x) succeeded but Encode failed: %v", in, err)
		}
		if canonical && !bytes.Equal(out, in) {
			t.Fatalf("Encode(Decode(%x)) = %x", in, out)
		}
		v2, err := codec.Decode(c, out)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(%x))) = %x: %v", in, out, err)
		}
		out2, err := codec.Encode(c, v2)
		if err != nil || !bytes.Equal(out2, out) {
			t.Fatalf("second round trip: %x, %v; want %x", out2, err, out)
		}
	})
}

func hexSeeds(f *testing.F, hs ...string) [][]byte {
	var out [][]byte
	for _, h := range hs {
		out = append(out, unhex(f, h))
	}
	return out
}

func FuzzInt(f *testing.F) {
	fuzzCodec(f, codec.Int, true, hexSeeds(f, "0000000000000001", "ffffffffffffffff", "00", "000000000000000100")...)
}

func FuzzFloat(f *testing.F) {
	fuzzCodec(f, codec.Float, true, hexSeeds(f, "3ff0000000000000", "7ff0000000000000", "7ff8000000000000", "8000000000000000")...)
}

func FuzzString(f *testing.F) {
	fuzzCodec(f, codec.String, true, hexSeeds(f, "00000000", "000000026869", "00000002c3a9", "00000001ff", "ffffffff")...)
}

func FuzzBool(f *testing.F) {
	fuzzCodec(f, codec.Bool, true, hexSeeds(f, "00", "01", "02", "")...)
}

func FuzzBytes(f *testing.F) {
	fuzzCodec(f, codec.Bytes, true, hexSeeds(f, "00000000", "00000002dead", "00000005dead")...)
}

func FuzzNil(f *testing.F) {
	fuzzCodec(f, codec.Nil, true, hexSeeds(f, "", "00")...)
}

func FuzzList(f *testing.F) {
	fuzzCodec(f, codec.List(codec.List(codec.String)), true,
		hexSeeds(f, "00000000", "00000002 00000001 0000000161 00000000", "00002711", "ffffffff")...)
}

func FuzzOption(f *testing.F) {
	fuzzCodec(f, codec.Option(codec.Option(codec.Int)), true, hexSeeds(f, "00", "0100", "01010000000000000005", "02")...)
}

func FuzzResult(f *testing.F) {
	fuzzCodec(f, codec.Result(codec.Int, codec.String), true, hexSeeds(f, "000000000000000007", "010000000178", "02")...)
}

func FuzzMap(f *testing.F) {
	fuzzCodec(f, codec.Map(codec.String, codec.Bool), false, hexSeeds(f,
		"00000000",
		"00000002 00000005 0000000161 01 00000005 0000000162 00",
		"00000002 00000005 0000000162 01 00000005 0000000161 00",
		"00000002 00000005 0000000161 01 00000005 0000000161 00")...)
}

func FuzzTuple2(f *testing.F) {
	fuzzCodec(f, codec.Tuple2(codec.String, codec.List(codec.Int)), true, hexSeeds(f,
		"00000005 0000000161 00000001 0000000000000001",
		"00000006 0000000161ff 00000000",
		"00000009 0000000161")...)
}

func FuzzTuple3(f *testing.F) {
	fuzzCodec(f, codec.Tuple3(codec.Int, codec.String, codec.Bool), true, hexSeeds(f,
		"00000008 0000000000000001 00000005 0000000161 01",
		"00000008 0000000000000001 00000006 000000016100 01")...)
}

func FuzzStruct(f *testing.F) {
	seed, err := codec.Encode(tenCodec, tenValue)
	if err != nil {
		f.Fatal(err)
	}
	fuzzCodec(f, tenCodec, true, seed, seed[:len(seed)/2])
}

func FuzzVariants(f *testing.F) {
	fuzzCodec(f, codec.List(shapeCodec), true, hexSeeds(f,
		"00000003 00 3ff0000000000000 01 4000000000000000 3fe0000000000000 02",
		"00000001 09")...)
}

func FuzzTagged(f *testing.F) {
	inner := codec.Tagged("shape", 7, shapeCodec)
	c := codec.Tagged("user", 2, codec.Tuple2(userCodec, inner))
	seed, err := codec.Encode(c, codec.Pair[User, Shape]{First: User{ID: 1, Name: "a"}, Second: Circle{R: 2}})
	if err != nil {
		f.Fatal(err)
	}
	fuzzCodec(f, c, true, append(hexSeeds(f, "00000004 6f74686572 00000002", "00000004 75736572 00000001"), seed)...)
}

func FuzzParseEnvelope(f *testing.F) {
	for _, s := range hexSeeds(f, "00000004 75736572 00000002 01", "00000001 ff 00000000", "0000") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		tag, version, payload, err := codec.ParseEnvelope(in)
		if err != nil {
			var de *codec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v is not a *codec.DecodeError", err, err)
			}
			return
		}
		hdr, err := codec.AppendEnvelope(nil, tag, version)
		if err != nil {
			t.Fatalf("AppendEnvelope(%q, %d): %v", tag, version, err)
		}
		if !bytes.Equal(append(hdr, payload...), in) {
			t.Fatalf("header %x + payload %x != input %x", hdr, payload, in)
		}
	})
}
