package etf_test

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/distribute-go/distribute/etf"
)

// listOf is a LIST_EXT of n copies of the encoded element elem.
func listOf(n int, elem []byte) []byte {
	b := []byte{131, etf.TagList}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = append(b, bytes.Repeat(elem, n)...)
	return append(b, etf.TagNil)
}

// nestedFuns is depth NEW_FUN_EXTs, each the one free variable of the next;
// with refs, their module and pid node are ATOM_CACHE_REF 0.
func nestedFuns(depth int, refs bool) []byte {
	body := append([]byte{0}, make([]byte, 16)...) // arity, uniq
	body = append(body, 0, 0, 0, 0, 0, 0, 0, 1)    // index, numfree
	atom := []byte{etf.TagSmallAtomUTF8, 1, 'm'}
	if refs {
		atom = []byte{etf.TagAtomCacheRef, 0}
	}
	body = append(body, atom...)
	body = append(body, etf.TagSmallInteger, 0, etf.TagSmallInteger, 0, etf.TagNewPid)
	body = append(body, atom...)
	body = append(body, make([]byte, 12)...)
	level := 5 + len(body)
	b := make([]byte, 0, depth*level+1)
	for k := depth; k > 0; k-- {
		b = binary.BigEndian.AppendUint32(append(b, etf.TagNewFun), uint32(k*level)) // through the NIL at the end
		b = append(b, body...)
	}
	return append(b, etf.TagNil)
}

// hostileInputs are encodings that make a decoder allocate the most per
// byte: long lists of the smallest elements, deep nesting, maps to sort,
// funs inside funs.
func hostileInputs() map[string][]byte {
	const n = 1 << 19
	in := map[string][]byte{
		"small integers":       listOf(n, []byte{etf.TagSmallInteger, 7}),
		"nils":                 listOf(n, []byte{etf.TagNil}),
		"empty tuples":         listOf(n, []byte{etf.TagSmallTuple, 0}),
		"tuples of a nil":      listOf(n, []byte{etf.TagSmallTuple, 1, etf.TagNil}),
		"empty atoms":          listOf(n, []byte{etf.TagSmallAtomUTF8, 0}),
		"one-letter atoms":     listOf(n, []byte{etf.TagSmallAtomUTF8, 1, 'a'}),
		"latin-1 atoms":        listOf(n, []byte{etf.TagSmallAtom, 2, 'a', 0xE9}),
		"empty maps":           listOf(n, []byte{etf.TagMap, 0, 0, 0, 0}),
		"empty binaries":       listOf(n, []byte{etf.TagBinary, 0, 0, 0, 0}),
		"one-char strings":     listOf(n, []byte{etf.TagString, 0, 1, 0xE9}),
		"improper lists":       listOf(n, []byte{etf.TagList, 0, 0, 0, 1, etf.TagNil, etf.TagSmallInteger, 1}),
		"one-element lists":    listOf(n, []byte{etf.TagList, 0, 0, 0, 1, etf.TagNil, etf.TagNil}),
		"exports":              listOf(n, []byte{etf.TagExport, etf.TagSmallAtomUTF8, 0, etf.TagSmallAtomUTF8, 0, etf.TagSmallInteger, 1}),
		"bit strings":          listOf(n, []byte{etf.TagBitBinary, 0, 0, 0, 1, 1, 0x80}),
		"small maps unsorted":  listOf(n/8, []byte{etf.TagMap, 0, 0, 0, 2, etf.TagSmallInteger, 2, etf.TagNil, etf.TagSmallInteger, 1, etf.TagNil}),
		"nested funs":          append([]byte{131}, nestedFuns(20_000, false)...),
		"nested tuples":        append(append([]byte{131}, bytes.Repeat([]byte{etf.TagSmallTuple, 1}, etf.DefaultMaxDepth)...), etf.TagNil),
		"nested maps":          append(append([]byte{131}, bytes.Repeat([]byte{etf.TagMap, 0, 0, 0, 1, etf.TagNil}, etf.DefaultMaxDepth)...), etf.TagNil),
		"chained list cells":   append(append([]byte{131}, bytes.Repeat([]byte{etf.TagList, 0, 0, 0, 1, etf.TagNil}, n)...), etf.TagNil),
		"nested lists":         append(append(append([]byte{131}, bytes.Repeat([]byte{etf.TagList, 0, 0, 0, 1}, etf.DefaultMaxDepth)...), etf.TagNil), bytes.Repeat([]byte{etf.TagNil}, etf.DefaultMaxDepth)...),
		"large map unsorted":   nil,
		"improper tail tuples": nil,
	}
	m := []byte{131, etf.TagMap}
	m = binary.BigEndian.AppendUint32(m, n)
	for i := range n {
		m = append(m, etf.TagInteger)
		m = binary.BigEndian.AppendUint32(m, uint32(n-i))
		m = append(m, etf.TagNil)
	}
	in["large map unsorted"] = m
	// [a|{[a|{...}]}]: lists whose tails are tuples holding lists.
	it := []byte{131}
	for range etf.DefaultMaxDepth / 2 {
		it = append(it, etf.TagList, 0, 0, 0, 1, etf.TagNil, etf.TagSmallTuple, 1)
	}
	in["improper tail tuples"] = append(it, etf.TagNil)
	return in
}

// TestDecodeMemoryBudget: whatever the input, the term a decode returns
// takes at most MemoryPerByte bytes per input byte, and the decode
// allocates at most twice that in all (the term, its stack of open
// containers, the copies it sorts maps in).
func TestDecodeMemoryBudget(t *testing.T) {
	const slack = 64 << 10
	check := func(name string, b []byte, d etf.Decoder, decode func(*etf.Decoder, []byte) (etf.Term, int, error)) {
		runtime.GC()
		var before, after, live runtime.MemStats
		runtime.ReadMemStats(&before)
		t0 := time.Now()
		term, n, err := decode(&d, b)
		took := time.Since(t0)
		runtime.ReadMemStats(&after)
		runtime.GC()
		runtime.ReadMemStats(&live)
		if err != nil || n != len(b) {
			t.Fatalf("%s: %d of %d bytes, %v", name, n, len(b), err)
		}
		total := after.TotalAlloc - before.TotalAlloc
		kept := int64(live.HeapAlloc) - int64(before.HeapAlloc)
		runtime.KeepAlive(term)
		t.Logf("%-22s %9d bytes: allocated %5.1f per byte, kept %5.1f (%v)", name, len(b), float64(total)/float64(len(b)), float64(kept)/float64(len(b)), took)
		if total > uint64(2*etf.MemoryPerByte*len(b)+slack) {
			t.Errorf("%s: %d bytes allocated for %d bytes of input; budget %d per byte", name, total, len(b), 2*etf.MemoryPerByte)
		}
		if kept > int64(etf.MemoryPerByte*len(b)+slack) {
			t.Errorf("%s: the term takes %d bytes for %d bytes of input; budget %d per byte", name, kept, len(b), etf.MemoryPerByte)
		}
	}
	for name, b := range hostileInputs() {
		check(name, b, etf.Decoder{}, (*etf.Decoder).Decode)
	}
	// Header mode: atoms as 2-byte cache references, and funs whose
	// references are written out.
	refs := []etf.Atom{"a_node_name_of_a_common_length@some-host.example.com"}
	hdr := etf.Decoder{AtomRefs: refs}
	check("cache-ref atoms", listOf(1<<19, []byte{etf.TagAtomCacheRef, 0})[1:], hdr, (*etf.Decoder).DecodeTerm)
	check("nested funs, cache refs", nestedFuns(20_000, true), hdr, (*etf.Decoder).DecodeTerm)
}
