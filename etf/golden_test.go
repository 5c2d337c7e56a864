package etf_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.txt from erl")

const goldenFile = "testdata/golden.txt"

// goldenCase is one term built both by erl and in Go.
type goldenCase struct {
	name string
	// erl is an Erlang expression for the term; its golden bytes are
	// term_to_binary(T, [{minor_version, 2}]). When bin is set, erl is
	// instead an expression for the bytes themselves.
	erl string
	bin bool
	// term is the same term built in Go; nil for terms only erl can make
	// (pids, refs, ports, local funs), which are checked by re-encoding.
	term etf.Term
	// valueOnly: compare by decoded value only (erl's key order of maps
	// above 32 keys follows a hash; compressed input).
	valueOnly bool
	// dynamic: the bytes change between erl runs (pids, refs, ports).
	dynamic bool
	// check inspects the decoded term further.
	check func(t *testing.T, got etf.Term)
}

func pow2(n uint) *big.Int { return new(big.Int).Lsh(big.NewInt(1), n) }

func neg(v *big.Int) *big.Int { return new(big.Int).Neg(v) }

func add(v *big.Int, d int64) *big.Int { return new(big.Int).Add(v, big.NewInt(d)) }

func seqList(from, to int) etf.List {
	var l etf.List
	for i := from; i <= to; i++ {
		l = append(l, int64(i))
	}
	return l
}

func dupList(n int, t etf.Term) etf.List {
	l := make(etf.List, n)
	for i := range l {
		l[i] = t
	}
	return l
}

func seqBytes(n int) etf.Binary {
	b := make(etf.Binary, n)
	for i := range b {
		b[i] = byte(i + 1)
	}
	return b
}

func goldenCases() []goldenCase {
	mixed := etf.Map{
		{Key: int64(1), Value: etf.Atom("a")},
		{Key: etf.Atom("b"), Value: int64(2)},
		{Key: etf.Tuple{etf.Atom("t")}, Value: int64(3)},
		{Key: etf.Binary("bin"), Value: int64(4)},
		{Key: etf.List{etf.Atom("l")}, Value: int64(5)},
		{Key: 1.0, Value: int64(6)},
		{Key: int64(-5), Value: int64(7)},
		{Key: etf.CharList("str"), Value: int64(8)},
		{Key: etf.List{}, Value: int64(9)},
		{Key: etf.Map{}, Value: int64(10)},
		{Key: pow2(70), Value: int64(11)},
		{Key: etf.Export{Module: "lists", Function: "seq", Arity: 2}, Value: int64(12)},
	}
	var squares, forty etf.Map
	for i := int64(1); i <= 32; i++ {
		squares = append(squares, etf.Pair{Key: i, Value: i * i})
	}
	for i := int64(40); i >= 1; i-- {
		forty = append(forty, etf.Pair{Key: i, Value: etf.Tuple{i}})
	}
	var mixed32 etf.Map
	for i := int64(0); i < 8; i++ {
		mixed32 = append(mixed32,
			etf.Pair{Key: i, Value: etf.Atom("int")},
			etf.Pair{Key: etf.Atom(fmt.Sprintf("k%d", i)), Value: etf.Atom("atom")},
			etf.Pair{Key: etf.Tuple{i}, Value: etf.Atom("tuple")},
			etf.Pair{Key: etf.Binary{byte(i)}, Value: etf.Atom("bin")})
	}
	tuple300 := make(etf.Tuple, 300)
	for i := range tuple300 {
		tuple300[i] = int64(i + 1)
	}
	tuple256 := make(etf.Tuple, 256)
	for i := range tuple256 {
		tuple256[i] = etf.Atom("a")
	}
	return []goldenCase{
		// Integers: every boundary of 97 → 98 → 110 → 111.
		{name: "int_0", erl: "0", term: int64(0)},
		{name: "int_42", erl: "42", term: 42},
		{name: "int_255", erl: "255", term: uint8(255)},
		{name: "int_256", erl: "256", term: int64(256)},
		{name: "int_-1", erl: "-1", term: int64(-1)},
		{name: "int_-256", erl: "-256", term: int64(-256)},
		{name: "int_2^31-1", erl: "(1 bsl 31) - 1", term: int64(math.MaxInt32)},
		{name: "int_2^31", erl: "1 bsl 31", term: int64(1 << 31)},
		{name: "int_-2^31", erl: "-(1 bsl 31)", term: int64(math.MinInt32)},
		{name: "int_-2^31-1", erl: "-(1 bsl 31) - 1", term: int64(math.MinInt32 - 1)},
		{name: "int_2^63-1", erl: "(1 bsl 63) - 1", term: int64(math.MaxInt64)},
		{name: "int_2^63", erl: "1 bsl 63", term: uint64(1 << 63)},
		{name: "int_-2^63", erl: "-(1 bsl 63)", term: int64(math.MinInt64)},
		{name: "int_-2^63-1", erl: "-(1 bsl 63) - 1", term: add(neg(pow2(63)), -1)},
		{name: "int_2^64-1", erl: "(1 bsl 64) - 1", term: uint64(math.MaxUint64)},
		{name: "int_2^64", erl: "1 bsl 64", term: pow2(64)},
		{name: "int_-2^64", erl: "-(1 bsl 64)", term: neg(pow2(64))},
		{name: "int_2^2040-1", erl: "(1 bsl 2040) - 1", term: add(pow2(2040), -1)},
		{name: "int_2^2040", erl: "1 bsl 2040", term: pow2(2040)},
		{name: "int_2^2100", erl: "1 bsl 2100", term: pow2(2100)},
		{name: "int_-2^2100", erl: "-(1 bsl 2100)", term: neg(pow2(2100))},
		// Floats.
		{name: "float_0", erl: "0.0", term: 0.0},
		{name: "float_-0", erl: "-0.0", term: math.Copysign(0, -1), check: func(t *testing.T, got etf.Term) {
			if f, ok := got.(float64); !ok || !math.Signbit(f) {
				t.Errorf("got %v; want -0.0", got)
			}
		}},
		{name: "float_1.5", erl: "1.5", term: 1.5},
		{name: "float_-2.75", erl: "-2.75", term: float32(-2.75)},
		{name: "float_1e300", erl: "1.0e300", term: 1.0e300},
		{name: "float_5e-324", erl: "5.0e-324", term: 5.0e-324},
		{name: "float_pi", erl: "math:pi()", term: math.Pi},
		// Atoms.
		{name: "atom_ok", erl: "ok", term: etf.OK},
		{name: "atom_empty", erl: "''", term: etf.Atom("")},
		{name: "atom_true", erl: "true", term: true},
		{name: "atom_hello", erl: `list_to_atom("h\x{e9}ll\x{f6}")`, term: etf.Atom("héllö")},
		{name: "atom_nihon", erl: `list_to_atom("\x{65E5}\x{672C}")`, term: etf.Atom("日本")},
		{name: "atom_elixir", erl: "'Elixir.Foo.Bar'", term: etf.Atom("Elixir.Foo.Bar")},
		{name: "atom_255", erl: "list_to_atom(lists:duplicate(255, $a))", term: etf.Atom(strings.Repeat("a", 255))},
		{name: "atom_255_e_acute", erl: "list_to_atom(lists:duplicate(255, 233))", term: etf.Atom(strings.Repeat("é", 255))},
		{name: "atom_255_cjk", erl: `list_to_atom(lists:duplicate(255, 16#65E5))`, term: etf.Atom(strings.Repeat("日", 255))},
		// Lists.
		{name: "nil", erl: "[]", term: etf.List{}},
		{name: "string_abc", erl: `"abc"`, term: etf.CharList("abc")},
		{name: "string_latin1", erl: `[104, 233]`, term: etf.CharList("hé")},
		{name: "string_ints", erl: "[1,2,3]", term: etf.List{int64(1), 2, uint8(3)}},
		{name: "list_1_2000", erl: "[1,2000]", term: etf.List{int64(1), int64(2000)}},
		{name: "list_unicode", erl: "[1000,2000]", term: etf.CharList("\u03e8\u07d0")},
		{name: "list_nihon", erl: `"\x{65E5}\x{672C}"`, term: etf.CharList("日本")},
		{name: "list_nested", erl: "[a,[b,[c]],[]]", term: etf.List{etf.Atom("a"), etf.List{etf.Atom("b"), etf.List{etf.Atom("c")}}, etf.List{}}},
		{name: "list_seq300", erl: "lists:seq(1, 300)", term: seqList(1, 300)},
		{name: "string_65535", erl: "lists:duplicate(65535, 7)", term: dupList(65535, int64(7))},
		{name: "list_65536", erl: "lists:duplicate(65536, 7)", term: dupList(65536, int64(7))},
		{name: "improper_a_b", erl: "[a|b]", term: etf.ImproperList{Elems: []etf.Term{etf.Atom("a")}, Tail: etf.Atom("b")}},
		{name: "improper_1_2_c", erl: "[1,2|c]", term: etf.ImproperList{Elems: []etf.Term{int64(1), int64(2)}, Tail: etf.Atom("c")}},
		{name: "improper_bin_tail", erl: `[x|<<"y">>]`, term: etf.ImproperList{Elems: []etf.Term{etf.Atom("x")}, Tail: etf.Binary("y")}},
		// Binaries and bit strings.
		{name: "bin_empty", erl: "<<>>", term: etf.Binary{}},
		{name: "bin_123", erl: "<<1,2,3>>", term: []byte{1, 2, 3}},
		{name: "bin_string", erl: `<<"hello">>`, term: "hello"},
		{name: "bin_70000", erl: "list_to_binary([X rem 256 || X <- lists:seq(1, 70000)])", term: seqBytes(70000)},
		{name: "bits_5_3", erl: "<<5:3>>", term: etf.BitBinary{Bytes: []byte{0xA0}, Bits: 3}},
		{name: "bits_1_1", erl: "<<1:1>>", term: etf.BitBinary{Bytes: []byte{0x80}, Bits: 1}},
		{name: "bits_12_3_4", erl: "<<1,2,3:4>>", term: etf.BitBinary{Bytes: []byte{1, 2, 0x30}, Bits: 4}},
		{name: "bits_127_7", erl: "<<127:7>>", term: etf.BitBinary{Bytes: []byte{0xFE}, Bits: 7}},
		// Tuples.
		{name: "tuple_empty", erl: "{}", term: etf.Tuple{}},
		{name: "tuple_a_1", erl: "{a,1}", term: etf.Tuple{etf.Atom("a"), int64(1)}},
		{name: "tuple_ok_bin", erl: `{ok,<<"x">>}`, term: etf.Tuple{etf.OK, etf.Binary("x")}},
		{name: "tuple_bools", erl: "{true,false,undefined,nil}", term: etf.Tuple{true, false, etf.Undefined, etf.Nil}},
		{name: "tuple_256", erl: "list_to_tuple(lists:duplicate(256, a))", term: tuple256},
		{name: "tuple_300", erl: "list_to_tuple(lists:seq(1, 300))", term: tuple300},
		{name: "tuple_nested", erl: "{{{}},[{a,{b}}],#{}}", term: etf.Tuple{etf.Tuple{etf.Tuple{}}, etf.List{etf.Tuple{etf.Atom("a"), etf.Tuple{etf.Atom("b")}}}, etf.Map{}}},
		// Maps.
		{name: "map_empty", erl: "#{}", term: etf.Map{}},
		{name: "map_a_1", erl: "#{a => 1}", term: etf.Map{{Key: etf.Atom("a"), Value: int64(1)}}},
		{name: "map_unsorted_atoms", erl: "#{zeta => 1, alpha => 2, mid => 3}", term: etf.Map{{Key: etf.Atom("zeta"), Value: int64(1)}, {Key: etf.Atom("alpha"), Value: int64(2)}, {Key: etf.Atom("mid"), Value: int64(3)}}},
		{name: "map_nested", erl: "#{a => #{b => #{c => []}}, d => [#{}]}", term: etf.Map{
			{Key: etf.Atom("d"), Value: etf.List{etf.Map{}}},
			{Key: etf.Atom("a"), Value: etf.Map{{Key: etf.Atom("b"), Value: etf.Map{{Key: etf.Atom("c"), Value: etf.List{}}}}}},
		}},
		{name: "map_int_float_keys", erl: "#{1.0 => float, 1 => int, 2 => two, 0.5 => half}", term: etf.Map{
			{Key: 1.0, Value: etf.Atom("float")}, {Key: int64(1), Value: etf.Atom("int")},
			{Key: int64(2), Value: etf.Atom("two")}, {Key: 0.5, Value: etf.Atom("half")},
		}},
		{name: "map_nested_int_float_keys", erl: "#{{1.0} => a, {2} => b, [1.5] => c, [1] => d, {1} => e}", term: etf.Map{
			{Key: etf.Tuple{1.0}, Value: etf.Atom("a")}, {Key: etf.Tuple{int64(2)}, Value: etf.Atom("b")},
			{Key: etf.List{1.5}, Value: etf.Atom("c")}, {Key: etf.List{int64(1)}, Value: etf.Atom("d")},
			{Key: etf.Tuple{int64(1)}, Value: etf.Atom("e")},
		}},
		{name: "map_mixed", erl: `#{1 => a, b => 2, {t} => 3, <<"bin">> => 4, [l] => 5, 1.0 => 6, -5 => 7, "str" => 8, [] => 9, #{} => 10, (1 bsl 70) => 11, fun lists:seq/2 => 12}`, term: mixed},
		{name: "map_32_ints", erl: "maps:from_list([{X, X*X} || X <- lists:seq(1, 32)])", term: squares},
		{name: "map_32_mixed", erl: `maps:from_list(lists:append([[{I, int}, {list_to_atom("k" ++ integer_to_list(I)), atom}, {{I}, tuple}, {<<I>>, bin}] || I <- lists:seq(0, 7)]))`, term: mixed32},
		{name: "map_40", erl: "maps:from_list([{X, {X}} || X <- lists:seq(1, 40)])", term: forty, valueOnly: true},
		// Funs.
		{name: "export_lists_seq", erl: "fun lists:seq/2", term: etf.Export{Module: "lists", Function: "seq", Arity: 2}},
		{name: "export_plus", erl: "fun erlang:'+'/2", term: etf.Export{Module: "erlang", Function: "+", Arity: 2}},
		{name: "fun_local", erl: "fun(X) -> X + 1 end", check: checkFun(1)},
		{name: "fun_free_var", erl: "begin FreeY = 5, fun(X) -> X + FreeY end end", check: checkFun(1)},
		// Identifiers made by erl.
		{name: "pid_self", erl: "self()", dynamic: true, check: func(t *testing.T, got etf.Term) {
			p, ok := got.(etf.Pid)
			if !ok || p.Node != "nonode@nohost" {
				t.Errorf("got %#v; want a pid on nonode@nohost", got)
			}
		}},
		{name: "ref_make_ref", erl: "make_ref()", dynamic: true, check: func(t *testing.T, got etf.Term) {
			r, ok := got.(etf.Ref)
			if !ok || r.Node != "nonode@nohost" || r.Len != 3 {
				t.Errorf("got %#v; want a 3-word ref on nonode@nohost", got)
			}
		}},
		{name: "port_first", erl: "hd(erlang:ports())", dynamic: true, check: func(t *testing.T, got etf.Term) {
			if p, ok := got.(etf.Port); !ok || p.Node != "nonode@nohost" {
				t.Errorf("got %#v; want a port on nonode@nohost", got)
			}
		}},
		{name: "port_open", erl: `open_port({spawn, "true"}, [])`, dynamic: true, check: func(t *testing.T, got etf.Term) {
			if _, ok := got.(etf.Port); !ok {
				t.Errorf("got %#v; want a port", got)
			}
		}},
		{name: "ids_in_tuple", erl: "{self(), make_ref(), [self()], #{self() => make_ref()}}", dynamic: true},
		// Compressed input (decoded, never produced).
		{name: "compressed_a20", erl: "term_to_binary(lists:duplicate(20, a), [compressed])", bin: true, valueOnly: true, term: dupList(20, etf.Atom("a"))},
		{name: "compressed_big", erl: `term_to_binary({lists:seq(1, 1000), binary:copy(<<"abc">>, 1000)}, [compressed, {minor_version, 2}])`, bin: true, valueOnly: true,
			term: etf.Tuple{seqList(1, 1000), etf.Binary(bytes.Repeat([]byte("abc"), 1000))}},
		// Older encodings erl still produces with the default options.
		{name: "default_opts_pid_tuple", erl: "term_to_binary({'h\\x{e9}', self()})", bin: true, dynamic: true, check: func(t *testing.T, got etf.Term) {
			tup, ok := got.(etf.Tuple)
			if !ok || len(tup) != 2 || !etf.Equal(tup[0], etf.Atom("hé")) {
				t.Errorf("got %#v; want {'hé', Pid}", got)
			}
		}},
	}
}

func checkFun(arity uint8) func(t *testing.T, got etf.Term) {
	return func(t *testing.T, got etf.Term) {
		f, ok := got.(etf.Fun)
		if !ok || f.Module != "erl_eval" || f.Arity != arity || len(f.Raw) == 0 || f.Raw[0] != etf.TagNewFun {
			t.Errorf("got %#v; want an erl_eval fun of arity %d", got, arity)
		}
	}
}

// erlProgram prints "name hex" for every case.
func erlProgram(cases []goldenCase) string {
	var b strings.Builder
	for i, c := range cases {
		if i > 0 {
			b.WriteString(",\n")
		}
		bin := c.erl
		if !c.bin {
			bin = "term_to_binary(" + c.erl + ", [{minor_version, 2}])"
		}
		fmt.Fprintf(&b, `io:format("~s ~s~n", [%q, binary:encode_hex(%s)])`, c.name, bin)
	}
	return b.String()
}

func parseGolden(t *testing.T, text string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hx, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("bad golden line %q", line)
		}
		b, err := hex.DecodeString(hx)
		if err != nil {
			t.Fatalf("golden %s: %v", name, err)
		}
		out[name] = b
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func formatGolden(cases []goldenCase, got map[string][]byte) string {
	var b strings.Builder
	b.WriteString("# name hex(term_to_binary(T, [{minor_version, 2}])) from erl (OTP 25); regenerate with go test ./etf -run TestGoldenErl -update\n")
	for _, c := range cases {
		fmt.Fprintf(&b, "%s %X\n", c.name, got[c.name])
	}
	return b.String()
}

// checkGolden verifies one case against bytes made by erl.
func checkGolden(t *testing.T, c goldenCase, erlBytes []byte) {
	t.Helper()
	got, err := etf.Decode(erlBytes)
	if err != nil {
		t.Fatalf("Decode(erl bytes %X): %v", prefix(erlBytes), err)
	}
	if c.term != nil && !etf.Equal(got, c.term) {
		t.Errorf("Decode(erl bytes) = %s; want %s", short(got), short(c.term))
	}
	if c.check != nil {
		c.check(t, got)
	}
	if c.term != nil && !c.valueOnly {
		enc, err := etf.Encode(c.term)
		if err != nil {
			t.Fatalf("Encode(%s): %v", short(c.term), err)
		}
		if !bytes.Equal(enc, erlBytes) {
			t.Errorf("Encode(%s)\n got %X\nwant %X", short(c.term), prefix(enc), prefix(erlBytes))
		}
	}
	// Re-encoding what erl made gives erl's bytes back (minor_version 2
	// forms only: compressed and default-option terms are re-encoded
	// canonically, so for them only the value is compared).
	re, err := etf.Encode(got)
	if err != nil {
		t.Fatalf("Encode(decoded): %v", err)
	}
	if !c.valueOnly && !c.bin && !bytes.Equal(re, erlBytes) {
		t.Errorf("re-encoding the decoded term\n got %X\nwant %X", prefix(re), prefix(erlBytes))
	}
	back, err := etf.Decode(re)
	if err != nil || !etf.Equal(back, got) {
		t.Errorf("Decode(Encode(decoded)) = %s, %v; want %s", short(back), err, short(got))
	}
}

func prefix(b []byte) []byte {
	if len(b) > 96 {
		return b[:96]
	}
	return b
}

func short(t etf.Term) string {
	s := fmt.Sprintf("%#v", t)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func readGoldenFile() (string, error) {
	b, err := os.ReadFile(goldenFile)
	return string(b), err
}

// TestGoldenStored checks every case against testdata/golden.txt, made by
// erl; it needs no Erlang installation.
func TestGoldenStored(t *testing.T) {
	data, err := readGoldenFile()
	if err != nil {
		t.Fatal(err)
	}
	golden := parseGolden(t, data)
	cases := goldenCases()
	if len(golden) != len(cases) {
		t.Errorf("golden file has %d terms; the test has %d cases (regenerate with -update)", len(golden), len(cases))
	}
	tags := map[byte]bool{}
	for _, c := range cases {
		b, ok := golden[c.name]
		if !ok {
			t.Errorf("%s: missing from %s", c.name, goldenFile)
			continue
		}
		collectTags(b, tags)
		t.Run(c.name, func(t *testing.T) { checkGolden(t, c, b) })
	}
	// Every tag the encoder can produce turns up in erl's output.
	for _, tag := range []byte{etf.TagSmallInteger, etf.TagInteger, etf.TagSmallBig, etf.TagLargeBig,
		etf.TagNewFloat, etf.TagSmallAtomUTF8, etf.TagAtomUTF8, etf.TagSmallTuple, etf.TagLargeTuple,
		etf.TagMap, etf.TagNil, etf.TagString, etf.TagList, etf.TagBinary, etf.TagBitBinary,
		etf.TagNewPid, etf.TagNewerReference, etf.TagNewPort, etf.TagExport, etf.TagNewFun, etf.TagCompressed, etf.TagAtom} {
		if !tags[tag] {
			t.Errorf("no golden case starts with tag %d", tag)
		}
	}
}

// collectTags records the tag of the top-level term and of the elements
// of top-level tuples, lists and maps (a cheap walk, enough for coverage).
func collectTags(b []byte, tags map[byte]bool) {
	if len(b) < 2 {
		return
	}
	tags[b[1]] = true
	var d etf.Decoder
	t, _, err := d.Decode(b)
	if err != nil {
		return
	}
	var walk func(t etf.Term)
	walk = func(t etf.Term) {
		enc, err := etf.AppendTerm(nil, t)
		if err == nil && len(enc) > 0 {
			tags[enc[0]] = true
		}
		switch v := t.(type) {
		case etf.Tuple:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(t)
	// Atoms in default-option terms are ATOM_EXT (100).
	if bytes.Contains(b, []byte{etf.TagAtom, 0}) {
		tags[etf.TagAtom] = true
	}
}

// TestGoldenErl runs erl now, checks its output as above, and checks that
// the stored golden file still matches it (dynamic terms aside).
func TestGoldenErl(t *testing.T) {
	distributetest.VerifyNoLeaks(t)
	cases := goldenCases()
	out := distributetest.EvalErl(t, erlProgram(cases))
	live := parseGolden(t, out)
	for _, c := range cases {
		if _, ok := live[c.name]; !ok {
			t.Fatalf("erl printed nothing for %s; output:\n%s", c.name, out)
		}
	}
	if *update {
		if err := os.WriteFile(goldenFile, []byte(formatGolden(cases, live)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Clean(goldenFile))
	if err != nil {
		t.Fatal(err)
	}
	stored := parseGolden(t, string(data))
	var stale []string
	for _, c := range cases {
		b := live[c.name]
		t.Run(c.name, func(t *testing.T) { checkGolden(t, c, b) })
		if !c.dynamic && !bytes.Equal(stored[c.name], b) {
			stale = append(stale, c.name)
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("%s is stale for %v (regenerate with -update)", goldenFile, stale)
	}
}

// TestErlDecodesOurEncodings hands erl what Encode writes for terms erl
// cannot build by itself (remote identifiers, V4 ports, 5-word references)
// and for a few hundred random terms and 32-key maps: binary_to_term must
// accept each, and
// term_to_binary(…, [{minor_version, 2}]) must give back exactly our bytes.
func TestErlDecodesOurEncodings(t *testing.T) {
	distributetest.RequireErl(t)
	terms := []etf.Term{
		etf.Port{Node: "a@b", ID: 1<<32 | 2, Creation: 255},
		etf.Port{Node: "a@b", ID: 7, Creation: 0xFFFFFFFF},
		etf.Ref{Node: "a@b", Creation: 7, Len: 5, ID: [5]uint32{1, 2, 3, 4, 5}},
		etf.Ref{Node: "héllö@host", Creation: 1, Len: 3, ID: [5]uint32{0x3FFFF, 0xFFFFFFFF, 9}},
		etf.Pid{Node: "a@b", ID: 1, Serial: 2, Creation: 0xFFFFFFFF},
		etf.Tuple{etf.Pid{Node: "x@y", ID: 5}, etf.Map{{Key: etf.Pid{Node: "x@y", ID: 5}, Value: etf.Ref{Node: "x@y", Len: 3}}}},
		etf.Export{Module: "Elixir.Enum", Function: "map", Arity: 2},
		etf.CharList("日本語 and latin-1 é"),
		etf.Atom(strings.Repeat("日", 255)),
		// Map key order of identifiers: pids by serial, number, node;
		// references by node, then words from the highest, where a longer
		// reference's extra words count only when not zero.
		etf.Map{
			{Key: etf.Pid{Node: "b@h", ID: 1, Serial: 2}, Value: 1}, {Key: etf.Pid{Node: "a@h", ID: 2, Serial: 1}, Value: 2},
			{Key: etf.Pid{Node: "a@h", ID: 1, Serial: 2, Creation: 9}, Value: 3}, {Key: etf.Pid{Node: "z@h", ID: 0}, Value: 4},
		},
		etf.Map{
			{Key: etf.Ref{Node: "a@h", Len: 3, ID: [5]uint32{5, 0, 0}}, Value: 1},
			{Key: etf.Ref{Node: "a@h", Len: 5, ID: [5]uint32{1, 2, 0, 0, 1}}, Value: 2},
			{Key: etf.Ref{Node: "a@h", Len: 5, ID: [5]uint32{9, 1, 0, 0, 0}}, Value: 3},
			{Key: etf.Ref{Node: "a@h", Len: 1, ID: [5]uint32{7}}, Value: 4},
			{Key: etf.Ref{Node: "a@h", Creation: 1, Len: 1, ID: [5]uint32{1}}, Value: 5},
			{Key: etf.Ref{Node: "Z@h", Len: 3, ID: [5]uint32{9, 9, 9}}, Value: 6},
		},
		etf.Map{
			{Key: etf.Port{Node: "a@h", ID: 5}, Value: 1}, {Key: etf.Port{Node: "a@h", ID: 1, Creation: 2}, Value: 2},
			{Key: etf.Port{Node: "b@h", ID: 0}, Value: 3}, {Key: etf.Port{Node: "a@h", ID: 1 << 40}, Value: 4},
		},
	}
	r := newRand(7)
	for range 400 {
		terms = append(terms, randTerm(r, 3))
	}
	// Maps of 32 random keys of every kind: erl writes their keys in
	// term order, so the bytes check our key order.
	for range 50 {
		var m etf.Map
		for len(m) < 32 {
			k := randTerm(r, 2)
			if _, dup := m.Get(k); !dup {
				m = append(m, etf.Pair{Key: k, Value: int64(len(m))})
			}
		}
		terms = append(terms, m)
	}
	var lines strings.Builder
	want := make([][]byte, len(terms))
	for i, term := range terms {
		b, err := etf.Encode(term)
		if err != nil {
			t.Fatalf("Encode(%s): %v", short(term), err)
		}
		want[i] = b
		fmt.Fprintf(&lines, "%X\n", b)
	}
	path := filepath.Join(t.TempDir(), "terms.hex")
	if err := os.WriteFile(path, []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := distributetest.EvalErl(t, fmt.Sprintf(`{ok, Bin} = file:read_file(%q),
		[io:format("~s~n", [case catch binary_to_term(binary:decode_hex(L)) of
				{'EXIT', _} -> "rejected";
				T -> binary:encode_hex(term_to_binary(T, [{minor_version, 2}]))
			end]) || L <- binary:split(Bin, <<"\n">>, [global, trim_all])]`, path))
	got := strings.Fields(out)
	if len(got) != len(terms) {
		t.Fatalf("erl printed %d terms; want %d:\n%s", len(got), len(terms), out)
	}
	for i, h := range got {
		if h == "rejected" {
			t.Errorf("term %d %s: erl's binary_to_term rejects %X", i, short(terms[i]), prefix(want[i]))
			continue
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, want[i]) {
			at, e, u := diffWindow(b, want[i])
			t.Errorf("term %d %s:\nfirst difference at byte %d:\n erl …%X\n  us …%X", i, short(terms[i]), at, e, u)
		}
	}
}

// diffWindow returns the first offset where a and b differ and a few bytes
// of each from just before it.
func diffWindow(a, b []byte) (int, []byte, []byte) {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-8)
	return i, a[from:min(len(a), i+40)], b[from:min(len(b), i+40)]
}
