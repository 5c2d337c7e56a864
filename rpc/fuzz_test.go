package rpc

import (
	"context"
	"testing"

	"github.com/distribute-go/distribute/etf"
)

// Whatever terms a peer sends as the module, function and arguments of a
// request, or as the exit reason of a call, the server and the client
// answer with a term or an error and never panic.
func FuzzRequestTerms(f *testing.F) {
	ref := etf.Ref{Node: "a@h", Creation: 1, Len: 3, ID: [5]uint32{7}}
	seeds := []etf.Term{
		etf.List{ref, etf.Atom("m"), etf.Atom("echo"), etf.List{int64(1)}},
		etf.List{etf.Atom("m"), etf.Atom("echo"), etf.ImproperList{Elems: []etf.Term{int64(1)}, Tail: int64(2)}},
		etf.Tuple{ref, etf.Atom("return"), int64(3)},
		etf.Tuple{ref, etf.Atom("error"), etf.Atom("undef"), etf.List{}},
		etf.Tuple{ref, etf.Atom("error"), etf.Tuple{etf.Atom("erpc"), etf.Atom("badarg")}},
		etf.CharList("abc"),
		etf.Atom("noconnection"),
	}
	for _, s := range seeds {
		b, err := etf.Encode(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	s := &Server{funcs: map[funcKey]Handler{}}
	s.funcs[funcKey{"m", "echo", 1}] = func(_ context.Context, a []etf.Term) (etf.Term, error) { return a[0], nil }
	s.funcs[funcKey{"m", "any", AnyArity}] = func(_ context.Context, a []etf.Term) (etf.Term, error) { return int64(len(a)), nil }
	f.Fuzz(func(t *testing.T, data []byte) {
		var d etf.Decoder
		term, _, err := d.Decode(data)
		if err != nil {
			return
		}
		ctx := context.Background()
		if l, ok := term.(etf.List); ok && len(l) >= 3 {
			o := s.apply(ctx, l[len(l)-3], l[len(l)-2], l[len(l)-1])
			_ = catchResult(o)
			_ = s.spawnExit(o, l[0], l[1], l[2])
		}
		o := s.apply(ctx, etf.Atom("m"), etf.Atom("any"), term)
		_ = catchResult(o)
		v, err := callResult("n@h", ref, term)
		if v != nil && err != nil || v == nil && err == nil {
			t.Fatalf("callResult gave both %v and %v", v, err)
		}
		if err != nil {
			_ = err.Error()
			_, _ = BadRPC(err)
		}
	})
}
