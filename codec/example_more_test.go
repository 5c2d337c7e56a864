package codec_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/distribute-go/distribute/codec"
)

// Convert reuses a codec's bytes for another Go type (Gleam's codec.map):
// a time.Duration travels as an Int of milliseconds, and a decoded value
// can be rejected.
func ExampleConvert() {
	millis := codec.Convert(codec.Int,
		func(ms int64) (time.Duration, error) {
			if ms < 0 {
				return 0, errors.New("negative duration")
			}
			return time.Duration(ms) * time.Millisecond, nil
		},
		func(d time.Duration) int64 { return d.Milliseconds() },
	)
	b, _ := codec.Encode(millis, 1500*time.Millisecond)
	d, err := codec.Decode(millis, b)
	fmt.Printf("% x -> %v %v\n", b, d, err)

	bad, _ := codec.Encode(codec.Int, -1)
	_, err = codec.Decode(millis, bad)
	fmt.Println(errors.Is(err, codec.ErrInvalid))
	// Output:
	// 00 00 00 00 00 00 05 dc -> 1.5s <nil>
	// true
}

// New makes a codec for a type the combinators do not cover: here an
// unsigned 16-bit port number, 2 bytes big-endian. Decode reads one value
// from the front of its input and returns the rest.
func ExampleNew() {
	port := codec.New("port",
		func(dst []byte, p uint16) ([]byte, error) { return append(dst, byte(p>>8), byte(p)), nil },
		func(src []byte) (uint16, []byte, error) {
			if len(src) < 2 {
				return 0, src, &codec.DecodeError{Codec: "port", Err: codec.ErrTruncated}
			}
			return uint16(src[0])<<8 | uint16(src[1]), src[2:], nil
		})
	endpoint := codec.Tuple2(codec.String, port)
	b, _ := codec.Encode(endpoint, codec.Pair[string, uint16]{First: "db", Second: 4369})
	e, err := codec.Decode(endpoint, b)
	fmt.Printf("% x -> %s:%d %v\n", b, e.First, e.Second, err)
	// Output: 00 00 00 06 00 00 00 02 64 62 11 11 -> db:4369 <nil>
}
