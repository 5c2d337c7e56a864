package etf_test

import (
	"errors"
	"fmt"
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
