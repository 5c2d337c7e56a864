package etf_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"

	"github.com/distribute-go/distribute/etf"
)

// A decoded term is read with a type switch (the guide of the package
// documentation).
func ExampleDecode() {
	b, _ := etf.Encode(etf.Tuple{etf.Atom("ok"), etf.List{int64(1), int64(2)}})
	t, err := etf.Decode(b)
	if err != nil {
		panic(err)
	}
	switch v := t.(type) {
	case etf.Tuple:
		if len(v) == 2 && v[0] == etf.Atom("ok") {
			fmt.Printf("ok: %s (%T)\n", etf.Format(v[1]), v[1])
		}
	case etf.Atom:
		fmt.Println("atom", v)
	}
	// Output: ok: [1,2] (etf.CharList)
}

// Bad input is a *DecodeError with the offset and tag of the term that
// failed, wrapping a sentinel.
func ExampleDecodeError() {
	// {a, <<"xy">>} with the binary's length claiming 1000 bytes.
	_, err := etf.Decode([]byte{131, 104, 2, 119, 1, 'a', 109, 0, 0, 3, 232, 'x', 'y'})
	var de *etf.DecodeError
	fmt.Println(errors.As(err, &de), de.Offset, de.Tag, errors.Is(err, etf.ErrTruncated))
	// Output: true 6 109 true
}

// Compare is Erlang's term order: number < atom < reference < fun < port
// < pid < tuple < map < nil < list < bit string.
func ExampleCompare() {
	terms := []etf.Term{etf.Binary("b"), etf.List{int64(1)}, etf.Tuple{}, etf.Atom("a"), 2.5, int64(3), etf.List{}}
	slices.SortFunc(terms, etf.Compare)
	fmt.Println(etf.Format(etf.List(terms)))
	// 1 and 1.0 are equal in order (==) but not exactly equal (=:=).
	fmt.Println(etf.Compare(int64(1), 1.0), etf.Equal(int64(1), 1.0))
	// Output:
	// [2.5,3,a,{},[],[1],<<"b">>]
	// 0 false
}

// A term from a peer goes into an error or a log line cut to a bound, in
// work bounded by it, however large the term.
func ExampleFormatLimit() {
	reason := etf.Tuple{etf.Atom("badarg"), etf.Binary(make([]byte, 1<<20))}
	fmt.Println(etf.FormatLimit(reason, 24))
	// Output:
	// {badarg,<<0,0,0,0,0,0...
}

// LogValue formats a term for log/slog only when the record is written.
func ExampleLogValue() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level:       slog.LevelInfo,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr { return dropTime(a) },
	}))
	msg := etf.Tuple{etf.Atom("junk"), etf.List{int64(1), int64(2)}}
	logger.Debug("dropped", "msg", etf.LogValue(msg)) // disabled: never formatted
	logger.Info("dropped", "msg", etf.LogValue(msg))
	// Output:
	// level=INFO msg=dropped msg={junk,[1,2]}
}

func dropTime(a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// A Decoder reads compressed terms only when told to: connections refuse
// them, stored blobs (etf.Decode, etf.Unmarshal) accept them.
func ExampleDecoder_compressed() {
	// term_to_binary(lists:duplicate(20, a), [compressed]), from OTP 25.
	blob := []byte{131, 80, 0, 0, 0, 86, 120, 156, 203, 97, 96, 96, 16, 73, 97, 96, 76, 164, 38, 206, 2, 0, 173, 210, 16, 99}
	var conn etf.Decoder
	_, _, err := conn.Decode(blob)
	fmt.Println(errors.Is(err, etf.ErrCompressed))
	t, err := etf.Decode(blob)
	fmt.Println(etf.Format(t), err)
	// Output:
	// true
	// [a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a] <nil>
}
