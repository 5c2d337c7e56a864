package etf

import (
	"errors"
	"math/big"
	"strings"
	"testing"
)

// FuzzParseText parses arbitrary text; whatever parses must print, parse
// back to an Equal term and print the same again. Failures must be
// *TextError values.
func FuzzParseText(f *testing.F) {
	for _, s := range textGoldenInputs {
		f.Add(s)
	}
	for _, s := range []string{
		`{ok, #{k => [1, 2.5, "s", <<"b">>, <<1:3>>]}}.`,
		`[a, 'B' | "tail"]`,
		`<<16#FFFF:12/little, 1:100, -5:7, "x"/utf16-little, 1.0:32/float>>`,
		`#{#{a => 1} => {}, [] => 0.0, -0.0 => x}`,
		"% comment\n\t'\\x{10FFFF}' .",
		`-16#` + strings.Repeat("F", 40),
	} {
		f.Add(s)
	}
	lim := Limits{MaxSize: 1 << 16, MaxDepth: 200, MaxAtoms: 1000}
	f.Fuzz(func(t *testing.T, s string) {
		term, err := ParseTextLimits(s, lim)
		if err != nil {
			var te *TextError
			if !errors.As(err, &te) || te.Offset < 0 || te.Offset > len(s) || te.Line < 1 || te.Col < 1 || te.Err == nil {
				t.Fatalf("ParseText(%q): bad error %#v", s, err)
			}
			return
		}
		if b, ok := term.(*big.Int); ok && b.IsInt64() {
			t.Fatalf("ParseText(%q) returned a *big.Int that fits int64", s)
		}
		out := Format(term)
		back, err := ParseTextLimits(out, lim)
		if err != nil {
			t.Fatalf("ParseText(%q) = %s, which does not parse: %v", s, out, err)
		}
		if !Equal(back, term) {
			t.Fatalf("ParseText(%q) = %s, which parses as %s", s, out, Format(back))
		}
		if out2 := Format(back); out2 != out {
			t.Fatalf("ParseText(%q) prints %s, then %s", s, out, out2)
		}
	})
}
