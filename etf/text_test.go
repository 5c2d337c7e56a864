package etf

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/distribute-go/distribute/distributetest"
)

var updateText = flag.Bool("update-text", false, "rewrite testdata/text_golden.txt and testdata/text_floats.txt from erl")

const (
	textGoldenFile = "testdata/text_golden.txt"
	textFloatsFile = "testdata/text_floats.txt"
)

// textGoldenInputs are term texts that erl evaluates and prints with
// io_lib:format("~0p", [T]). Texts that erl rejects are in the table too:
// erl's answer starts with ERROR and ParseText must fail on them as well.
var textGoldenInputs = []string{
	// Integers.
	`0`, `42`, `-1`, `- 7`, `+5`, `255`, `256`, `-256`,
	`2147483647`, `-2147483648`, `9223372036854775807`, `-9223372036854775808`,
	`9223372036854775808`, `-9223372036854775809`, `18446744073709551616`,
	`123456789012345678901234567890123456789012345678901234567890`,
	`-99999999999999999999999999999999999999`,
	`16#FF`, `16#ff_ff`, `-16#7FFFFFFFFFFFFFFFFFFFF`, `2#1010`, `36#Zz`, `8#777`, `1_000_000`,
	`$a`, `$\n`, `$\x{1F600}`, `$\\`, `$ `, `-$a`, `$\^A`, `$\101`, `$é`,
	// Floats.
	`0.0`, `-0.0`, `1.0`, `-1.5`, `0.1`, `0.2`, `3.25`, `100.0`, `1000.0`, `1234.5`,
	`0.3333333333333333`, `0.6666666666666666`, `2.5e-3`, `1.0e-7`, `1.0e-10`, `0.001`, `0.0001`,
	`0.00012`, `1.0e21`, `1.0e22`, `1.0e300`, `-1.0e300`, `1.7976931348623157e308`,
	`5.0e-324`, `2.2250738585072014e-308`, `123456789012345680.0`, `9007199254740992.0`,
	`4503599627370496.0`, `9007199254740993.0`, `1.0e15`, `1.0e16`, `123456.0`, `1.5E3`,
	`6.02214076e23`, `3.141592653589793`, `1.0e-400`, `2.5e1_0`,
	// Atoms.
	`abc`, `ok`, `true`, `false`, `undefined`, `nil`, `'Abc'`, `'hello world'`, `''`,
	`'case'`, `'receive'`, `'fun'`, `'end'`, `'maybe'`, `'else'`, `'spec'`, `'and'`, `'div'`,
	`aB_9@x`, `'_a'`, `'@'`, `'a.b'`, `'a-b'`, `'a\'b'`, `'a\\b'`, `'a"b'`, `'line\nbreak'`,
	`'tab\there'`, `'\x{4E16}\x{754C}'`, `'a世'`, `'héllo'`, `héllo`, `'Ärger'`, `ärger`, `'÷'`,
	`'\000\001\177\200\237\240ÿ'`, `'\e\d\s\b\f\v\r'`, `'\x{1F600}'`, `'node@host'`, `'node@127.0.0.1'`,
	// Strings and char lists.
	`""`, `"abc"`, `"hello world"`, `"ab" "cd"`, `"a\nb\tc"`, `"quote\"d"`, `"back\\slash"`,
	`"it's"`, `"\e\d"`, `"\b\f\v\r"`, `"\101\x42\x{43}"`, `"héllo"`, `"\x{4E16}\x{754C}"`,
	`"\x{1F600}"`, `"nbsp\240"`, `"\200"`, `[97,98,99]`, `[7]`, `[8,9,10,11,12,13,27]`,
	`[127]`, `[160,255]`, `[256]`, `[$a|"bc"]`, `"abc" "" "d"`,
	// Binaries and bit strings.
	`<<>>`, `<<"abc">>`, `<<"a\nb">>`, `<<"a'b\\c\"">>`, `<<1,2,3>>`, `<<0>>`, `<<"abc",0>>`,
	`<<"abc",1>>`, `<<"héllo">>`, `<<"héllo"/utf8>>`, `<<"世">>`, `<<"世"/utf8>>`,
	`<<"\x{1F600}"/utf8>>`, `<<"ab"/utf16>>`, `<<$a/utf32-little>>`, `<<255,254,253>>`,
	`<<5:3>>`, `<<1:1>>`, `<<"abc",1:3>>`, `<<1,2,3:2>>`, `<<0:7>>`, `<<-1:12>>`, `<<1:0>>`,
	`<<1024:16>>`, `<<1024:16/little>>`, `<<-1>>`, `<<300>>`, `<<1:64>>`, `<<-2:72>>`,
	`<<16#123456789ABCDEF0123:80>>`, `<<1.5/float>>`, `<<1.5:32/float>>`, `<<2:4/unit:8>>`,
	`<<"ab":16>>`, `<<160,255,32,126>>`, `<<8,9,10,11,12,13,27>>`, `<<7>>`, `<<127>>`, `<<128>>`,
	// Lists, improper lists, tuples.
	`[]`, `[a]`, `[1,2,3]`, `[a|b]`, `[1,2|3]`, `[a|[b,c]]`, `[[]]`, `[[],[[]]]`, `[1|[]]`,
	`["abc",<<"d">>,[]]`, `[-1,-2.5]`, `[$a|x]`, `[1.0|2.0]`, `{}`, `{a,1}`, `{{}}`,
	`{ok,[1,2],#{}}`, `{error,{badarg,[{lists,seq,2}]}}`, `{-1,[1|-1],#{a => -1.5}}`,
	// Maps.
	`#{}`, `#{a => 1}`, `#{b => 1,a => 2}`, `#{1 => a,1.0 => b,0.5 => c,2 => d}`,
	`#{-100000000000000000000 => a,-1 => b,100000000000000000000 => c,-1.0e30 => e}`,
	`#{{1.0} => a,{2} => b,{0.5} => c}`, `#{[1] => a,[1.0] => b,[0.5] => c,[2] => d}`,
	`#{<<1>> => a,<<1:3>> => b,<<>> => c,<<0,1>> => d}`,
	`#{[] => a,[1|2] => b,"ab" => c,{} => d,#{} => e,#{a => 1} => f,x => g,1 => h}`,
	`#{'B' => 4,a => 2,ab => 3,b => 1}`, `#{a => 1,a => 2}`, `#{1 => x,1.0 => y}`,
	`#{"key" => <<"value">>,nested => #{deep => [1,{2}]}}`,
	`#{#{b => 1} => 1,#{a => 2} => 2,#{a => 1} => 3}`, `#{{a,1.0} => 1,{a,1} => 2}`,
	// Funs, whitespace, comments, periods.
	`fun lists:seq/2`, `fun 'Elixir.Enum':map/2`, `fun erlang:'+'/2`, `fun 'a b':'C'/0`,
	" [ 1 ,\t2 ] . ", "{a, b} % comment", `{a,b}.`, `[1.0].`,
	// Escapes, spacing and other corners of the syntax.
	`"\x4"`, `"\x4g"`, `"\xfF"`, `"\8"`, `"\1234"`, `"\^?\^@\^[\^z"`, `$\x{41}`, `"\x{0041}"`,
	`"\q\'\""`, `'\"\''`, `[-0.0]`, `#{0.0 => a,-0.0 => b}`, `"a" "b" "c"`, `<<"a" "b">>`,
	`<<$a:16/little>>`, `<<-1:16/little-signed>>`, `<<1:3,2:5>>`, `<< 1 : 3 >>`, `# {a => 1}`,
	`fun lists : seq / 2`, `[ ]`, `{ }`, `# { }`, `<< >>`, "\u00a0ok\u00a0", "\x01ok\x1f", "\u0085ok",
	"ok\x7f", `1.5e+3`, `1.5e-0`, `0.5E1`, `007`, `2#0`, `16#-1`, `-16#-1`, `"\x{}"`, `<<1:3/unit:2>>`,
	`<<"é"/utf32>>`, `<<"é":16/little>>`, `<<1.0:16/float>>`, `<<1.0e300:32/float>>`, `<<-1.5/float-little>>`,
	`<<(1)>>`, `<<1:(-1)>>`, `<<1:-1>>`, `<<"a"/utf8:8>>`, `<<1/binary>>`, `<<"a"/native>>`,
	`(1)`, `-(1)`, `-(-(2.5))`, `- (- 3)`, `[(a)]`, `(((x)))`, `({a})`, `-(a)`, `<<1:(8)>>`, `<<(1.5)/float>>`,
	`<<1.5:16/float>>`, `<<65504.0:16/float>>`, `<<65519.0:16/float>>`, `<<65520.0:16/float>>`,
	`<<1.0e-8:16/float>>`, `<<6.0e-8:16/float>>`, `<<3.0e-8:16/float>>`, `<<-0.0:16/float>>`,
	`<<6.1e-5:16/float>>`, `<<0.1:16/float>>`, `<<1:16/native>>`, `<<-1.0e39:32/float>>`,
	// Long texts stay on one line.
	`"` + strings.Repeat("a", 300) + `"`, `<<"` + strings.Repeat("b", 300) + `">>`,
	"[" + strings.Repeat(`"abc\n",`, 50) + "{" + strings.Repeat("1,", 100) + "2}]",
	// Texts erl rejects; ParseText must reject them too.
	`case`, `X`, `_`, `1e5`, `16#`, `37#1`, `1#1`, `[1,2`, `{a b}`, `#{a}`, `#{a := 1}`, `<<1.5>>`,
	`"\x{110000}"`, `"\x{D800}"`, `1.0e400`, `1 2`, `'unterminated`, `"unterminated`,
	`<<"a"/binary>>`, `$`, `fun lists:seq/256`, `[a|b|c]`, `1__000`, `1_`, `a.b`,
	"'" + strings.Repeat("a", 256) + "'", "'" + strings.Repeat("b", 255) + "'",
}

// erlTextScript evaluates each line of the file at path and prints the hex
// of the UTF-8 encoding of io_lib:format("~0p", [T]), or of "ERROR ..."
// when the line is not a term.
const erlTextScript = `{ok, B} = file:read_file(%q),
lists:foreach(fun(L) ->
  R = try
    {ok, Ts, _} = erl_scan:string(unicode:characters_to_list(L)),
    Ts1 = case lists:last(Ts) of {dot, _} -> Ts; _ -> Ts ++ [{dot, 1}] end,
    {ok, Es} = erl_parse:parse_exprs(Ts1),
    {value, V, _} = erl_eval:exprs(Es, []),
    unicode:characters_to_binary(io_lib:format("~0p", [V]))
  catch C:E -> unicode:characters_to_binary(io_lib:format("ERROR ~0p:~0p", [C, E]))
  end,
  io:put_chars([binary:encode_hex(R), $\n])
end, binary:split(B, <<"\n">>, [global, trim_all]))`

// erlHexLines runs erl on script (which reads the file holding lines) and
// decodes the hex lines it prints.
func erlHexLines(t *testing.T, script string, lines []string) []string {
	t.Helper()
	in := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := distributetest.EvalErl(t, fmt.Sprintf(script, in))
	var res []string
	for _, h := range strings.Fields(out) {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatalf("erl printed %q: %v", h, err)
		}
		res = append(res, string(b))
	}
	if len(res) != len(lines) {
		t.Fatalf("erl printed %d results for %d inputs:\n%s", len(res), len(lines), out)
	}
	return res
}

// erlWanted reports whether the tests should run erl: it is installed, or
// the environment demands it.
func erlWanted() bool {
	_, err := exec.LookPath("erl")
	return err == nil || distributetest.ErlRequired()
}

// textGolden returns the input/output pairs of testdata/text_golden.txt,
// checked against live erl when it is available.
func textGolden(t *testing.T) (ins, outs []string) {
	t.Helper()
	stored, readErr := readPairs(textGoldenFile)
	if erlWanted() {
		inputs := make([]string, len(textGoldenInputs))
		for i, in := range textGoldenInputs {
			inputs[i] = oneLine(in)
		}
		live := erlHexLines(t, erlTextScript, inputs)
		if *updateText {
			writePairs(t, textGoldenFile, "term texts and what OTP 25's io_lib:format(\"~0p\", [T]) prints for them (ERROR: erl rejects the text)",
				inputs, live)
			return inputs, live
		}
		if readErr != nil {
			t.Fatalf("%v (run go test ./etf -run TestTextGolden -update-text)", readErr)
		}
		if len(stored) != len(inputs) {
			t.Errorf("%s has %d records, the table %d: regenerate with -update-text", textGoldenFile, len(stored), len(inputs))
		}
		for i := range min(len(stored), len(inputs)) {
			if stored[i][0] != inputs[i] || stored[i][1] != live[i] {
				t.Errorf("%s record %d is %q => %q; erl says %q => %q (regenerate with -update-text)",
					textGoldenFile, i, stored[i][0], stored[i][1], inputs[i], live[i])
			}
		}
		return inputs, live
	}
	if readErr != nil {
		t.Fatal(readErr)
	}
	if len(stored) != len(textGoldenInputs) {
		t.Errorf("%s has %d records, the table %d: regenerate with erl and -update-text", textGoldenFile, len(stored), len(textGoldenInputs))
	}
	for i, p := range stored {
		if i < len(textGoldenInputs) && p[0] != oneLine(textGoldenInputs[i]) {
			t.Errorf("%s record %d is for %q, the table says %q", textGoldenFile, i, p[0], textGoldenInputs[i])
		}
		ins = append(ins, p[0])
		outs = append(outs, p[1])
	}
	return ins, outs
}

// oneLine replaces line breaks (outside any quotes in the table) so that each
// input fits on one line of the golden file.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// readPairs reads a golden file: comment lines start with #, then records
// of two lines, "in TEXT" and "out TEXT".
func readPairs(path string) ([][2]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var pairs [][2]string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var in string
	haveIn := false
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#") && !haveIn:
		case strings.HasPrefix(line, "in ") && !haveIn:
			in, haveIn = line[3:], true
		case strings.HasPrefix(line, "out ") && haveIn:
			pairs = append(pairs, [2]string{in, line[4:]})
			haveIn = false
		default:
			return nil, fmt.Errorf("%s:%d: unexpected line %q", path, n, line)
		}
	}
	return pairs, sc.Err()
}

func writePairs(t *testing.T, path, what string, ins, outs []string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "# %s.\n# Generated from erl; regenerate with go test ./etf -run 'TestText' -update-text\n", what)
	for i := range ins {
		fmt.Fprintf(&b, "in %s\nout %s\n", ins[i], outs[i])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTextGolden checks Format against what erl prints for the same text,
// and ParseText against erl's acceptance and its output.
func TestTextGolden(t *testing.T) {
	ins, outs := textGolden(t)
	if len(ins) < 80 {
		t.Fatalf("only %d golden texts", len(ins))
	}
	accepted := 0
	for i, in := range ins {
		want := outs[i]
		got, err := ParseText(in)
		if strings.HasPrefix(want, "ERROR ") {
			if err == nil {
				t.Errorf("ParseText(%q) = %s; erl rejects it (%s)", in, Format(got), want)
			} else if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrTooLarge) {
				t.Errorf("ParseText(%q) error %v does not wrap ErrSyntax", in, err)
			}
			continue
		}
		accepted++
		if err != nil {
			t.Errorf("ParseText(%q): %v; erl reads it as %s", in, err, want)
			continue
		}
		if s := Format(got); s != want {
			t.Errorf("Format(ParseText(%q)) = %s; erl prints %s", in, s, want)
		}
		back, err := ParseText(want)
		if err != nil {
			t.Errorf("ParseText(%q) (erl's output): %v", want, err)
			continue
		}
		if !Equal(back, got) {
			t.Errorf("ParseText(%q) = %s; not Equal to ParseText(%q) = %s", want, Format(back), in, Format(got))
		}
	}
	if accepted < 80 {
		t.Errorf("only %d golden texts that erl accepts", accepted)
	}
}

// textFloatSamples returns float64 values that stress the choice between
// plain and exponent notation and the shortest digits.
func textFloatSamples() []float64 {
	r := rand.New(rand.NewPCG(1, 2))
	var fs []float64
	add := func(f float64) {
		if !math.IsInf(f, 0) && !math.IsNaN(f) {
			fs = append(fs, f)
		}
	}
	for e := -325; e <= 308; e++ {
		p := math.Pow(10, float64(e))
		add(p)
		add(math.Nextafter(p, 0))
		add(math.Nextafter(p, math.Inf(1)))
		add(-1.5 * p)
		add(1.25 * p)
		add(float64(r.IntN(1000)) * p)
	}
	for e := 0; e <= 70; e++ {
		p := math.Ldexp(1, e)
		add(p)
		add(p + 1)
		add(p - 1)
		add(math.Nextafter(p, math.Inf(1)))
		add(math.Nextafter(p, 0))
	}
	for range 1500 {
		add(math.Float64frombits(r.Uint64()))
	}
	for range 500 {
		add(float64(r.Int64N(1<<62)) / math.Pow(10, float64(r.IntN(40))))
		add(float64(r.IntN(100000)) * math.Pow(10, float64(r.IntN(60)-30)))
	}
	return fs
}

const erlFloatScript = `{ok, B} = file:read_file(%q),
lists:foreach(fun(L) ->
  <<F:64/float>> = binary:decode_hex(L),
  io:put_chars([binary:encode_hex(unicode:characters_to_binary(io_lib:format("~0p", [F]))), $\n])
end, binary:split(B, <<"\n">>, [global, trim_all]))`

// TestTextFloats checks float printing against erl's output for thousands
// of floats, stored in testdata/text_floats.txt.
func TestTextFloats(t *testing.T) {
	fs := textFloatSamples()
	hexes := make([]string, len(fs))
	for i, f := range fs {
		hexes[i] = fmt.Sprintf("%016X", math.Float64bits(f))
	}
	var want []string
	if erlWanted() {
		want = erlHexLines(t, erlFloatScript, hexes)
		if *updateText {
			writePairs(t, textFloatsFile, "float bits (hex) and what OTP 25's io_lib:format(\"~0p\", [F]) prints", hexes, want)
		}
	}
	stored, err := readPairs(textFloatsFile)
	if err != nil {
		t.Fatal(err)
	}
	if want == nil {
		if len(stored) != len(hexes) {
			t.Fatalf("%s has %d records, want %d: regenerate with erl and -update-text", textFloatsFile, len(stored), len(hexes))
		}
		for i, p := range stored {
			if p[0] != hexes[i] {
				t.Fatalf("%s record %d is for %s, want %s", textFloatsFile, i, p[0], hexes[i])
			}
			want = append(want, p[1])
		}
	} else if len(stored) != len(want) {
		t.Errorf("%s is stale: regenerate with -update-text", textFloatsFile)
	} else {
		for i := range want {
			if stored[i] != [2]string{hexes[i], want[i]} {
				t.Errorf("%s record %d is %v; erl says %s %s", textFloatsFile, i, stored[i], hexes[i], want[i])
			}
		}
	}
	bad := 0
	for i, f := range fs {
		got := Format(f)
		if got != want[i] {
			bad++
			if bad <= 20 {
				t.Errorf("Format(%v) = %s; erl prints %s", f, got, want[i])
			}
		}
		back, err := ParseText(got)
		if err != nil || back != f || math.Signbit(back.(float64)) != math.Signbit(f) {
			t.Errorf("ParseText(%s) = %v, %v; want %v", got, back, err, f)
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d floats differ", bad, len(fs))
	}
}

func TestFormat(t *testing.T) {
	big1, _ := new(big.Int).SetString("-123456789012345678901234567890", 10)
	tests := []struct {
		t    Term
		want string
	}{
		{Atom("ok"), "ok"},
		{Atom("Ok"), "'Ok'"},
		{Atom("a\x00"), `'a\000'`},
		{Atom("世"), `'\x{4E16}'`},
		{int64(-5), "-5"},
		{5, "5"},
		{uint64(math.MaxUint64), "18446744073709551615"},
		{big1, "-123456789012345678901234567890"},
		{true, "true"},
		{"text", `<<"text">>`},
		{[]byte{1, 2}, "<<1,2>>"},
		{nil, "[]"},
		{List(nil), "[]"},
		{CharList(""), "[]"},
		{CharList("abc"), `"abc"`},
		{CharList("a世"), "[97,19990]"},
		{CharList("\x00"), "[0]"},
		{List{int64('h'), 'i', uint8('!')}, `"hi!"`},
		{List{int64(-1)}, "[-1]"},
		{List{int64(1) << 40}, "[1099511627776]"},
		{ImproperList{Elems: []Term{Atom("a")}, Tail: List{Atom("b")}}, "[a,b]"},
		{ImproperList{Elems: []Term{int64('a')}, Tail: CharList("b")}, `"ab"`},
		{ImproperList{Elems: []Term{Atom("a")}, Tail: ImproperList{Elems: []Term{Atom("b")}, Tail: Atom("c")}}, "[a,b|c]"},
		{ImproperList{Elems: []Term{Atom("a")}, Tail: List{}}, "[a]"},
		{BitBinary{Bytes: []byte{0xA0}, Bits: 3}, "<<5:3>>"},
		{BitBinary{Bytes: []byte{'a', 0x80}, Bits: 1}, "<<97,1:1>>"},
		{BitBinary{Bytes: []byte("ab"), Bits: 8}, `<<"ab">>`},
		{Tuple{}, "{}"},
		{Map{{Atom("b"), 1}, {Atom("a"), 2}}, "#{a => 2,b => 1}"},
		{Pid{Node: "a@host", ID: 85, Serial: 2, Creation: 7}, "<a@host.85.2>"},
		{Ref{Node: "a@host", Len: 3, ID: [5]uint32{1, 2, 3}}, "#Ref<a@host.3.2.1>"},
		{Port{Node: "a@host", ID: 9}, "#Port<a@host.9>"},
		{Export{Module: "lists", Function: "seq", Arity: 2}, "fun lists:seq/2"},
		{Fun{Module: "erl_eval", Index: 43, Uniq: 3316493}, "#Fun<erl_eval.43.3316493>"},
		{struct{}{}, "#Invalid<struct {}>"},
		{math.Inf(1), "inf"},
	}
	for _, tt := range tests {
		if got := Format(tt.t); got != tt.want {
			t.Errorf("Format(%#v) = %s; want %s", tt.t, got, tt.want)
		}
	}
	if got := string(AppendText([]byte("x="), Atom("a"))); got != "x=a" {
		t.Errorf("AppendText = %q", got)
	}
	if got := fmt.Sprint(Tuple{Atom("ok"), Pid{Node: "n@h", ID: 1}}); got != "{ok,<n@h.1.0>}" {
		t.Errorf("fmt.Sprint(Tuple) = %s", got)
	}
}

// TestFormatLargeMapKeepsOrder: maps above 32 keys print their pairs from
// last to first, and ParseText stores them reversed, so text keeps its
// order through a round trip.
func TestFormatLargeMapKeepsOrder(t *testing.T) {
	var m Map
	var want strings.Builder
	want.WriteString("#{")
	for i := 1; i <= 33; i++ {
		m = append(m, Pair{int64(i), Atom("v")})
		if i > 1 {
			want.WriteByte(',')
		}
		fmt.Fprintf(&want, "%d => v", 34-i)
	}
	want.WriteString("}")
	if got := Format(m); got != want.String() {
		t.Errorf("Format = %s; want %s", got, want.String())
	}
	back, err := ParseText(want.String())
	if err != nil || !Equal(back, m) || back.(Map)[0].Key != int64(1) {
		t.Errorf("ParseText(%s) = %#v, %v; want the pairs in reverse", want.String(), back, err)
	}
	// One key fewer: a flatmap, sorted.
	if got := Format(m[1:]); !strings.HasPrefix(got, "#{2 => v,3 => v,") {
		t.Errorf("Format(32 keys) = %s; want sorted keys", got)
	}
}

const textDecodedFile = "testdata/text_decoded.txt"

// erlDecodedScript prints, for terms that only the BEAM makes (maps too
// large to be flatmaps, funs, pids, references, ports), the hex of
// term_to_binary(T) and of what ~0p prints.
const erlDecodedScript = `Ts = [maps:from_list([{X, X} || X <- lists:seq(1, 33)]),
  maps:from_list([{X, X} || X <- lists:seq(1, 100)]),
  maps:from_list([{list_to_atom([$a + X rem 26, $a + X div 26]), X} || X <- lists:seq(1, 60)]),
  maps:from_list([{float(X), X} || X <- lists:seq(1, 20)] ++ [{X, a} || X <- lists:seq(1, 20)] ++
    [{[X], {X}} || X <- lists:seq(1, 20)] ++ [{<<X>>, <<"v">>} || X <- lists:seq(1, 20)]),
  fun lists:seq/2, fun(X) -> X + 1 end, self(), make_ref(), hd(erlang:ports()),
  {self(), [make_ref()], #{hd(erlang:ports()) => fun erlang:'+'/2}}],
[io:put_chars([binary:encode_hex(term_to_binary(T)), " ",
  binary:encode_hex(unicode:characters_to_binary(io_lib:format("~0p", [T]))), "\n"]) || T <- Ts]`

// localIDs matches the node index 0 that ~0p prints for local pids, refs
// and ports.
var localIDs = strings.NewReplacer("<0.", "<nonode@nohost.", "#Ref<0.", "#Ref<nonode@nohost.", "#Port<0.", "#Port<nonode@nohost.")

// TestTextDecodedErl: terms decoded from the BEAM print as ~0p prints them
// (pids, references and ports with the node name, nonode@nohost, where ~0p
// prints the local node's index 0), and a large map's text parses back to
// the same pairs in the same order.
func TestTextDecodedErl(t *testing.T) {
	var bins, texts []string
	if erlWanted() {
		f := strings.Fields(distributetest.EvalErl(t, erlDecodedScript))
		for i := 0; i+1 < len(f); i += 2 {
			text, err := hex.DecodeString(f[i+1])
			if err != nil {
				t.Fatal(err)
			}
			bins = append(bins, f[i])
			texts = append(texts, string(text))
		}
		if *updateText {
			writePairs(t, textDecodedFile, "term_to_binary(T) (hex) and what OTP 25's io_lib:format(\"~0p\", [T]) prints, for terms only the BEAM makes", bins, texts)
		}
		// Pids, references, ports and the hash order of atom keys differ
		// between runs, so the stored file is not compared with this run.
		if stored, err := readPairs(textDecodedFile); err != nil || len(stored) != len(bins) {
			t.Errorf("%s is stale (%v): regenerate with -update-text", textDecodedFile, err)
		}
	} else {
		stored, err := readPairs(textDecodedFile)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range stored {
			bins = append(bins, p[0])
			texts = append(texts, p[1])
		}
	}
	if len(bins) < 10 {
		t.Fatalf("only %d terms", len(bins))
	}
	for i, h := range bins {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		term, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(term %d): %v", i, err)
		}
		want := localIDs.Replace(texts[i])
		// What distribute term decode prints: the decoded term, as is.
		if got := Format(term); got != want {
			t.Errorf("Format(Decode(term %d)) = %.200s; erl prints %.200s", i, got, want)
		}
		wire, isMap := wirePairs(t, b)
		if !isMap {
			continue
		}
		// The pairs in the order term_to_binary wrote them (the decoder
		// may hand them out in another order) print as ~0p prints them.
		if got := Format(wire); got != want {
			t.Errorf("Format(map %d in wire order) = %.200s; erl prints %.200s", i, got, want)
		}
		if !Equal(term, wire) {
			t.Errorf("map %d: Decode and the wire pairs differ", i)
		}
		// The text parses back to the wire order, and prints the same.
		back, err := ParseText(texts[i])
		if err != nil {
			t.Fatalf("ParseText(map %d): %v", i, err)
		}
		bm := back.(Map)
		if len(wire) != len(bm) {
			t.Fatalf("map %d: %d pairs parsed, %d on the wire", i, len(bm), len(wire))
		}
		for j := range wire {
			if !Equal(wire[j].Key, bm[j].Key) || !Equal(wire[j].Value, bm[j].Value) {
				t.Fatalf("map %d pair %d: parsed %s => %s, wire %s => %s", i, j,
					Format(bm[j].Key), Format(bm[j].Value), Format(wire[j].Key), Format(wire[j].Value))
			}
		}
		if got := Format(back); got != texts[i] {
			t.Errorf("Format(ParseText(map %d)) = %.200s; want %.200s", i, got, texts[i])
		}
	}
}

// wirePairs returns the pairs of the map encoded in b (131, MAP_EXT) in
// the order they are written, decoding each key and value on its own.
func wirePairs(t *testing.T, b []byte) (Map, bool) {
	t.Helper()
	if len(b) < 6 || b[0] != 131 || b[1] != 116 {
		return nil, false
	}
	n := int(b[2])<<24 | int(b[3])<<16 | int(b[4])<<8 | int(b[5])
	pos := 6
	var d Decoder
	next := func() Term {
		v, used, err := d.DecodeTerm(b[pos:])
		if err != nil {
			t.Fatalf("DecodeTerm at %d: %v", pos, err)
		}
		pos += used
		return v
	}
	m := make(Map, n)
	for i := range m {
		m[i].Key = next()
		m[i].Value = next()
	}
	return m, true
}

func TestParseTextTerms(t *testing.T) {
	tests := []struct {
		in   string
		want Term
	}{
		{`"abc"`, CharList("abc")},
		{`""`, List{}},
		{`<<"abc">>`, Binary("abc")},
		{`<<"é世">>`, Binary{0xE9, 0x16}},
		{`<<"é"/utf8>>`, Binary{0xC3, 0xA9}},
		{`<<5:3>>`, BitBinary{Bytes: []byte{0xA0}, Bits: 3}},
		{`<<1:1,0:1,1:1>>`, BitBinary{Bytes: []byte{0xA0}, Bits: 3}},
		{`<<"a",1:9>>`, BitBinary{Bytes: []byte{'a', 0, 0x80}, Bits: 1}},
		{`16#FF`, int64(255)},
		{`-0.0`, math.Copysign(0, -1)},
		{`[a|b]`, ImproperList{Elems: []Term{Atom("a")}, Tail: Atom("b")}},
		{`#{a => 1, a => 2, b => 3}`, Map{{Atom("a"), int64(2)}, {Atom("b"), int64(3)}}},
		{`fun m:f/0`, Export{Module: "m", Function: "f"}},
		{`- - 3`, int64(3)},
		{`--9223372036854775808`, new(big.Int).Lsh(big.NewInt(1), 63)},
		{`<<1.5:32/float-little>>`, Binary{0, 0, 0xC0, 0x3F}},
		{`<<16#1F600/utf16>>`, Binary{0xD8, 0x3D, 0xDE, 0x00}},
		{"\u00a0ok\u00a0", Atom("ok")},
	}
	for _, tt := range tests {
		got, err := ParseText(tt.in)
		if err != nil {
			t.Errorf("ParseText(%q): %v", tt.in, err)
			continue
		}
		if !Equal(got, tt.want) {
			t.Errorf("ParseText(%q) = %s; want %s", tt.in, Format(got), Format(tt.want))
		}
	}
	// "abc" is a CharList, and the map keeps first positions.
	got, _ := ParseText(`#{b => 1, a => 2, b => 3}`)
	if m := got.(Map); len(m) != 2 || m[0].Key != Atom("b") || m[0].Value != int64(3) {
		t.Errorf("duplicate keys: got %#v", m)
	}
	if v, _ := ParseText(`-0.0`); !math.Signbit(v.(float64)) {
		t.Errorf("-0.0 lost its sign")
	}
}

func TestParseTextErrors(t *testing.T) {
	tests := []struct {
		in        string
		sentinel  error
		line, col int
		msg       string
	}{
		{"", ErrSyntax, 1, 1, "expected a term"},
		{"[1,\n  X]", ErrSyntax, 2, 3, "variable X"},
		{"'é' ]", ErrSyntax, 1, 5, "unexpected ']'"},
		{"\"abc", ErrSyntax, 1, 1, "unterminated string"},
		{"<<0:800000000>>", ErrTooLarge, 1, 3, "binary larger than"},
		{"<<0:99999999999999999999>>", ErrTooLarge, 1, 5, "segment size too large"},
		{strings.Repeat("[", 100_002) + strings.Repeat("]", 100_002), ErrTooDeep, 1, 100_001, "nesting deeper"},
		{"\xff", ErrSyntax, 1, 1, "unexpected"},
		{"'\xff'", ErrSyntax, 1, 2, "invalid UTF-8"},
		{"1" + strings.Repeat("0", 400000), ErrTooLarge, 1, 1, "larger than 1048576 bits"},
		{"16#1" + strings.Repeat("0", 262144), ErrTooLarge, 1, 1, "larger than 1048576 bits"},
		{"case", ErrSyntax, 1, 1, "reserved word"},
	}
	for _, tt := range tests {
		_, err := ParseTextLimits(tt.in, Limits{MaxSize: 1 << 20})
		var te *TextError
		if !errors.As(err, &te) {
			t.Errorf("ParseText(%.20q) error = %v; want a *TextError", tt.in, err)
			continue
		}
		if !errors.Is(err, tt.sentinel) || te.Line != tt.line || te.Col != tt.col || !strings.Contains(te.Msg, tt.msg) {
			t.Errorf("ParseText(%.20q) = %v (line %d col %d); want %v at %d:%d containing %q",
				tt.in, err, te.Line, te.Col, tt.sentinel, tt.line, tt.col, tt.msg)
		}
	}
	_, err := ParseTextLimits("[a,b,c]", Limits{MaxAtoms: 2})
	if !errors.Is(err, ErrAtomBudget) {
		t.Errorf("atom budget: got %v", err)
	}
}

// randTerm builds a random term of the kinds that print and parse back.
func randTerm(r *rand.Rand, depth int) Term {
	n := 12
	if depth <= 0 {
		n = 7
	}
	switch r.IntN(n) {
	case 0:
		return r.Int64N(2000) - 1000
	case 1:
		switch r.IntN(3) {
		case 0:
			return int64(r.Uint64())
		case 1:
			b := new(big.Int).Lsh(big.NewInt(r.Int64()), uint(r.IntN(200)))
			return Int(b)
		}
		return r.Int64N(256)
	case 2:
		switch r.IntN(3) {
		case 0:
			return math.Float64frombits(r.Uint64()&^(0x7FF<<52) | uint64(r.IntN(0x7FF))<<52)
		case 1:
			return float64(r.IntN(10000)) / 100
		}
		return r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
	case 3:
		return Atom(randText(r, 10, r.IntN(4) == 0))
	case 4:
		if r.IntN(4) == 0 {
			return CharList("")
		}
		return CharList(randText(r, 12, r.IntN(3) == 0))
	case 5:
		b := make([]byte, r.IntN(8))
		for i := range b {
			if r.IntN(2) == 0 {
				b[i] = byte(32 + r.IntN(95))
			} else {
				b[i] = byte(r.UintN(256))
			}
		}
		return Binary(b)
	case 6:
		b := make([]byte, 1+r.IntN(4))
		bits := uint8(1 + r.IntN(7))
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		b[len(b)-1] &^= 0xFF >> bits
		return BitBinary{Bytes: b, Bits: bits}
	case 7, 8:
		l := make(List, r.IntN(5))
		for i := range l {
			l[i] = randTerm(r, depth-1)
		}
		return l
	case 9:
		elems := make([]Term, 1+r.IntN(3))
		for i := range elems {
			elems[i] = randTerm(r, depth-1)
		}
		tail := randTerm(r, depth-1)
		if textIsListTerm(tail) {
			tail = Atom("t")
		}
		return ImproperList{Elems: elems, Tail: tail}
	case 10:
		tu := make(Tuple, r.IntN(4))
		for i := range tu {
			tu[i] = randTerm(r, depth-1)
		}
		return tu
	}
	m := Map{}
	if r.IntN(20) == 0 {
		// A map above the flatmap limit, whose pair order matters.
		for _, k := range r.Perm(33 + r.IntN(10)) {
			m = append(m, Pair{int64(k), randTerm(r, 0)})
		}
		return m
	}
	for range r.IntN(5) {
		k := randTerm(r, depth-1)
		if _, dup := m.Get(k); !dup {
			m = append(m, Pair{k, randTerm(r, depth-1)})
		}
	}
	return m
}

func randText(r *rand.Rand, max int, wide bool) string {
	var b strings.Builder
	for range r.IntN(max) {
		switch {
		case wide && r.IntN(3) == 0:
			b.WriteRune(rune(256 + r.IntN(0x10000-256)))
		case r.IntN(5) == 0:
			b.WriteRune(rune(r.IntN(256)))
		default:
			b.WriteByte(byte('a' + r.IntN(26)))
		}
	}
	s := b.String()
	for _, c := range s {
		if c >= 0xD800 && c <= 0xDFFF {
			return "x"
		}
	}
	return s
}

// TestTextRoundTrip: random terms print, parse back and compare Equal.
func TestTextRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	bigMaps := 0
	defer func() {
		if bigMaps == 0 && !t.Failed() {
			t.Errorf("no top-level map above 32 keys was tried")
		}
	}()
	for i := range 20000 {
		term := randTerm(r, 4)
		s := Format(term)
		back, err := ParseText(s)
		if err != nil {
			t.Fatalf("#%d ParseText(Format(%#v)) = ParseText(%s): %v", i, term, s, err)
		}
		if !Equal(back, term) {
			t.Fatalf("#%d ParseText(%s) = %s (%#v); want %#v", i, s, Format(back), back, term)
		}
		if m, ok := term.(Map); ok && len(m) > 32 {
			bigMaps++
			for j, p := range back.(Map) {
				if !Equal(p.Key, m[j].Key) {
					t.Fatalf("#%d map pair %d: key %s, want %s", i, j, Format(p.Key), Format(m[j].Key))
				}
			}
		}
		if s2 := Format(back); s2 != s {
			t.Fatalf("#%d Format changed after a round trip: %s then %s", i, s, s2)
		}
	}
}

func TestTextMapKeyOrder(t *testing.T) {
	keys := []Term{int64(-1), int64(2), new(big.Int).Lsh(big.NewInt(1), 70), -1.5, 0.5, 1.0,
		Atom("a"), Tuple{int64(5)}, Tuple{1.0}, Map{}, List{}, List{int64(1)}, CharList("a"), List{1.0}, Binary("a")}
	for i, a := range keys {
		for j, b := range keys {
			if got, want := textMapKeyCompare(a, b), strconv.Itoa(cmpInts(i, j)); strconv.Itoa(got) != want {
				t.Errorf("textMapKeyCompare(%s, %s) = %d; want %s", Format(a), Format(b), got, want)
			}
		}
	}
}

func cmpInts(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestAppendTextAllocs: printing into a buffer with room allocates nothing
// (maps whose pairs are already in order included).
func TestAppendTextAllocs(t *testing.T) {
	var term Term = Tuple{Atom("ok"), List{int64(1), 2.5, CharList("hello"), Binary("bin"), Binary{1, 2}},
		Map{{Atom("a"), int64(1)}, {Atom("b"), Tuple{Atom("x"), int64(-7)}}}, Atom("Quoted atom")}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = AppendText(buf[:0], term) }); n != 0 {
		t.Errorf("AppendText allocates %v times per call; want 0", n)
	}
}

func BenchmarkFormat(b *testing.B) {
	var term Term = Tuple{Atom("ok"), List{int64(1), 2.5, CharList("hello"), Binary("bin")},
		Map{{Atom("a"), int64(1)}, {Atom("b"), Tuple{Atom("x"), int64(-7)}}}}
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf = AppendText(buf[:0], term)
	}
}

func BenchmarkParseText(b *testing.B) {
	s := `{ok,[1,2.5,"hello",<<"bin">>],#{a => 1,b => {x,-7}}}`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseText(s); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleFormat() {
	t := Tuple{Atom("ok"), CharList("héllo"), Binary("é"), 0.1, Map{{Atom("b"), int64(2)}, {Atom("a"), 1e21}}}
	fmt.Println(Format(t))
	fmt.Println(Format(List{Atom("Caps"), Atom("case"), CharList("世"), BitBinary{Bytes: []byte{0xA0}, Bits: 3}}))
	// Output:
	// {ok,"héllo",<<"Ã©">>,0.1,#{a => 1.0e21,b => 2}}
	// ['Caps','case',[19990],<<5:3>>]
}

func ExampleParseText() {
	t, err := ParseText(`{ok, [16#FF, $a, -1.5e3 | tail], <<"é"/utf8, 5:3>>, #{"k" => 'V'}}.`)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(Format(t))
	_, err = ParseText("{ok,\n  X}")
	fmt.Println(err, errors.Is(err, ErrSyntax))
	// Output:
	// {ok,[255,97,-1.5e3|tail],<<195,169,5:3>>,#{"k" => 'V'}}
	// etf: term text: line 2, column 3: variable X in a term (quote it to make an atom: 'X') true
}

// TestFormatLimit: FormatLimit prints what Format prints when it fits, and
// otherwise at most max bytes ending in "...", a prefix of Format's text.
func TestFormatLimit(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 3000 {
		term := randTerm(r, 4)
		full := Format(term)
		for _, n := range []int{0, 2, 3, 5, 17, 64, len(full) - 1, len(full), len(full) + 1} {
			if n < 0 {
				continue
			}
			got := FormatLimit(term, n)
			switch {
			case len(full) <= n:
				if got != full {
					t.Fatalf("#%d FormatLimit(%s, %d) = %q; want all of it", i, full, n, got)
				}
			case n < 3:
				if got != "..."[:n] {
					t.Fatalf("#%d FormatLimit(%s, %d) = %q; want %q", i, full, n, got, "..."[:n])
				}
			case len(got) > n || !utf8.ValidString(got) || !strings.HasSuffix(got, "..."):
				t.Fatalf("#%d FormatLimit(%s, %d) = %q: over the limit, invalid UTF-8 or not cut with ...", i, full, n, got)
			case !strings.HasPrefix(full, strings.TrimSuffix(got, "...")):
				// Only allowed difference: a list or binary longer than
				// the limit, printable as far as FormatLimit read it,
				// printed as "text" where Format finds a later element
				// that is not printable and prints numbers.
				c := 0
				for c < len(got) && c < len(full) && got[c] == full[c] {
					c++
				}
				if got[c] != '"' || (full[c] != '[' && (full[c] < '0' || full[c] > '9')) {
					t.Fatalf("#%d FormatLimit(%s, %d) = %q: not a prefix", i, full, n, got)
				}
			}
		}
	}
	// Appending keeps what dst held.
	if got := string(AppendTextLimit([]byte("x="), Tuple{OK, CharList("hello")}, 8)); got != `x={ok,"...` {
		t.Errorf("AppendTextLimit = %q", got)
	}
}

// TestFormatLimitBoundedWork: the work of FormatLimit depends on its limit,
// not on the term: a 2 MiB integer, a 64 MiB binary or char list and a
// term nested 100 000 deep print their first bytes with a few allocations
// of a few kilobytes at most.
func TestFormatLimitBoundedWork(t *testing.T) {
	huge := new(big.Int).Lsh(big.NewInt(3), 16<<20) // 2 MiB of digits
	bin := make(Binary, 64<<20)
	for i := range bin {
		bin[i] = 'a'
	}
	chars := CharList(bin)
	var deep Term = OK
	for range 100_000 {
		deep = List{Tuple{deep}}
	}
	long := make(List, 1<<20)
	for i := range long {
		long[i] = int64('a')
	}
	long[len(long)-1] = Tuple{}
	for _, tc := range []struct {
		name string
		t    Term
		want string
	}{
		{"2 MiB integer", Tuple{Atom("badarith"), huge}, "{badarith,..."},
		{"64 MiB binary", bin, `<<"` + strings.Repeat("a", 64-6) + "..."},
		{"64 MiB char list", chars, `"` + strings.Repeat("a", 64-4) + "..."},
		{"nested 100 000 deep", deep, strings.Repeat("[{", 30) + "[..."},
		{"long list", long, `"` + strings.Repeat("a", 64-4) + "..."},
		{"many tuples", Tuple(long), "{" + strings.Repeat("97,", 20) + "..."},
	} {
		var got string
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		allocs := testing.AllocsPerRun(5, func() { got = FormatLimit(tc.t, 64) })
		runtime.ReadMemStats(&after)
		if got != tc.want {
			t.Errorf("%s: FormatLimit = %q; want %q", tc.name, got, tc.want)
		}
		// 6 calls (AllocsPerRun warms up once); each may allocate its
		// 64-byte result and, for nested terms, a frame per level printed.
		if bytes := (after.TotalAlloc - before.TotalAlloc) / 6; allocs > 16 || bytes > 64<<10 {
			t.Errorf("%s: FormatLimit allocated %v times, %d bytes per call", tc.name, allocs, bytes)
		}
	}
}

// TestLogValue: LogValue prints a term only when a handler writes it, cut
// to LogTextMax bytes.
func TestLogValue(t *testing.T) {
	big := make(Binary, 1<<20)
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})
	log := slog.New(h)
	// At a disabled level nothing is formatted: printing this term would
	// allocate over a megabyte.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		log.Debug("off", "term", LogValue(List{big, big}))
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 10<<10 {
		t.Errorf("10 debug lines, disabled, allocated %d bytes", n)
	}
	log.Info("on", "term", LogValue(big))
	line := buf.String()
	if len(line) > LogTextMax+100 || !strings.Contains(line, "<<0,0,0") || !strings.Contains(line, "...") {
		t.Errorf("logged %d bytes: %.200q", len(line), line)
	}
	if s := fmt.Sprint(LogValue(Tuple{OK})); s != "{ok}" {
		t.Errorf("fmt prints LogValue as %q", s)
	}
}
