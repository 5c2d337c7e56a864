package etf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrSyntax is wrapped by every *TextError that ParseText returns for text
// that is not an Erlang term.
var ErrSyntax = errors.New("etf: term text syntax error")

// TextError describes why ParseText rejected its input.
type TextError struct {
	// Offset is the byte offset in the input where the problem starts.
	Offset int
	// Line and Col locate Offset: both count from 1, Col in characters.
	Line, Col int
	// Msg says what is wrong, such as "unterminated string".
	Msg string
	// Err is ErrSyntax, or ErrTooDeep, ErrTooLarge or ErrAtomBudget when the
	// text is well formed but exceeds a limit.
	Err error
}

func (e *TextError) Error() string {
	return fmt.Sprintf("etf: term text: line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

func (e *TextError) Unwrap() error { return e.Err }

// textMaxIntBits bounds the size of one integer literal (about 315 000
// decimal digits), so that converting it stays cheap: the conversion is
// quadratic in the digits. Every integer ParseText returns prints as a
// literal that ParseText reads back.
const textMaxIntBits = 1 << 20

// textMaxAtomChars is the longest atom Erlang accepts, in characters.
const textMaxAtomChars = 255

// ParseText reads one term written in Erlang syntax, as `distribute` reads
// its TERM arguments: the input holds exactly one term, optionally followed
// by a period, with any whitespace and % comments around. It uses the
// default Limits.
//
// The text means what it means to Erlang: "abc" is a CharList; <<"abc">>
// keeps one byte per character, each truncated to 8 bits, while
// <<"abc"/utf8>> holds the UTF-8 encoding; <<5:3>> is a BitBinary; integers
// of any size are int64 or *big.Int (16#FF, 2#1010, $a and 1_000 work too);
// 1.5, 2.5e-3 and -0.0 are floats; atoms are bare or 'quoted' (true and
// false are atoms); [a|b] is an ImproperList; #{k => v} is a Map, a repeated
// key keeping its last value (a map of more than 32 keys holds its pairs
// in reverse, the order term_to_binary writes them in; see Format);
// adjacent strings concatenate ("ab" "cd"); fun M:F/A is an Export. Pids, references, ports and local funs have no
// text that can be read back.
//
// Every failure is a *TextError wrapping ErrSyntax or a limit sentinel.
func ParseText(s string) (Term, error) { return ParseTextLimits(s, Limits{}) }

// ParseTextLimits is ParseText under the limits l (zero fields mean their
// defaults): MaxDepth bounds the nesting of lists, tuples, maps and
// binaries, MaxSize the bytes of a binary built with bit syntax (such as
// <<0:80000000>>), and MaxAtoms the atoms in the text.
func ParseTextLimits(s string, l Limits) (Term, error) {
	p := &textParser{s: s, lim: l.withDefaults()}
	t, err := p.term()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(p.s) && p.s[p.pos] == '.' {
		p.pos++
		p.skipSpace()
	}
	if p.pos < len(p.s) {
		return nil, p.errorf(p.pos, "unexpected %s after the term", p.describe(p.pos))
	}
	return t, nil
}

type textParser struct {
	s     string
	pos   int
	depth int
	atoms int
	lim   Limits
}

func (p *textParser) fail(off int, sentinel error, msg string) *TextError {
	line, col := 1, 1
	for _, r := range p.s[:min(off, len(p.s))] {
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &TextError{Offset: off, Line: line, Col: col, Msg: msg, Err: sentinel}
}

func (p *textParser) errorf(off int, format string, args ...any) *TextError {
	return p.fail(off, ErrSyntax, fmt.Sprintf(format, args...))
}

// describe names what is at off for an error message.
func (p *textParser) describe(off int) string {
	if off >= len(p.s) {
		return "end of text"
	}
	r, _ := utf8.DecodeRuneInString(p.s[off:])
	return strconv.QuoteRune(r)
}

func (p *textParser) skipSpace() {
	for p.pos < len(p.s) {
		switch c := p.s[p.pos]; {
		case c <= ' ':
			p.pos++
		case c == '%':
			for p.pos < len(p.s) && p.s[p.pos] != '\n' {
				p.pos++
			}
		case c == 0xC2 && p.pos+1 < len(p.s) && p.s[p.pos+1] >= 0x80 && p.s[p.pos+1] <= 0xA0:
			// U+0080..U+00A0, which erl_scan counts as white space, as it
			// does every control character.
			p.pos += 2
		default:
			return
		}
	}
}

// peek returns the next byte without consuming it (0 at the end).
func (p *textParser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

func (p *textParser) expect(tok string) error {
	p.skipSpace()
	if !strings.HasPrefix(p.s[p.pos:], tok) {
		return p.errorf(p.pos, "expected %q, found %s", tok, p.describe(p.pos))
	}
	p.pos += len(tok)
	return nil
}

func (p *textParser) enter(off int) error {
	p.depth++
	// An empty [], {} or #{} adds no level, as in the binary format.
	if p.depth > p.lim.MaxDepth && !(p.depth == p.lim.MaxDepth+1 && p.emptyAt(off)) {
		return p.fail(off, ErrTooDeep, fmt.Sprintf("nesting deeper than %d", p.lim.MaxDepth))
	}
	return nil
}

// emptyAt reports whether the text at off is an empty [], {} or #{}.
func (p *textParser) emptyAt(off int) bool {
	rest := p.s[off:]
	var close byte
	switch {
	case strings.HasPrefix(rest, "["):
		close, rest = ']', rest[1:]
	case strings.HasPrefix(rest, "{"):
		close, rest = '}', rest[1:]
	case strings.HasPrefix(rest, "#{"):
		close, rest = '}', rest[2:]
	default:
		return false
	}
	rest = strings.TrimLeft(rest, " \t\r\n")
	return len(rest) > 0 && rest[0] == close
}

// term parses one term.
func (p *textParser) term() (Term, error) {
	p.skipSpace()
	start := p.pos
	if p.pos >= len(p.s) {
		return nil, p.errorf(p.pos, "expected a term, found end of text")
	}
	switch c := p.s[p.pos]; {
	case c == '-' || c == '+':
		return p.signedNumber()
	case c >= '0' && c <= '9':
		return p.number()
	case c == '$':
		r, err := p.char()
		return int64(r), err
	case c == '\'':
		a, err := p.quoted('\'')
		if err != nil {
			return nil, err
		}
		return p.atom(start, a)
	case c == '"':
		return p.strings()
	case c == '[':
		return p.list()
	case c == '{':
		return p.tuple()
	case c == '#':
		return p.mapTerm()
	case c == '<':
		return p.binary()
	case c == '(':
		return p.paren()
	}
	r, _ := utf8.DecodeRuneInString(p.s[p.pos:])
	switch {
	case textIsAtomStart(r):
		w := p.word()
		if w == "fun" {
			return p.export()
		}
		if textReservedWords[w] {
			return nil, p.errorf(start, "reserved word %s is not an atom (quote it: '%s')", w, w)
		}
		return p.atom(start, w)
	case r == '_' || (r >= 'A' && r <= 'Z') || (r >= 0xC0 && r <= 0xDE && r != 0xD7):
		w := p.word()
		return nil, p.errorf(start, "variable %s in a term (quote it to make an atom: '%s')", w, w)
	}
	return nil, p.errorf(start, "unexpected %s", p.describe(start))
}

// paren parses a parenthesized term.
func (p *textParser) paren() (Term, error) {
	if err := p.enter(p.pos); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.pos++ // (
	t, err := p.term()
	if err != nil {
		return nil, err
	}
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	return t, nil
}

// numberTerm parses a term that must be a number, such as the operand of a
// sign or a binary segment value.
func (p *textParser) numberTerm(what string) (Term, error) {
	p.skipSpace()
	start := p.pos
	var t Term
	var err error
	switch c := p.peek(); {
	case c >= '0' && c <= '9':
		t, err = p.number()
	case c == '$':
		var r rune
		r, err = p.char()
		t = int64(r)
	case c == '-' || c == '+':
		t, err = p.signedNumber()
	case c == '(':
		t, err = p.paren()
		if err == nil {
			switch t.(type) {
			case int64, *big.Int, float64:
			default:
				return nil, p.errorf(start, "%s must be a number, found %s", what, Format(t))
			}
		}
	default:
		return nil, p.errorf(start, "%s must be a number, found %s", what, p.describe(start))
	}
	return t, err
}

// word consumes the characters of a bare atom or variable name.
func (p *textParser) word() string {
	start := p.pos
	for p.pos < len(p.s) {
		r, n := utf8.DecodeRuneInString(p.s[p.pos:])
		if !textIsAtomChar(r) {
			break
		}
		p.pos += n
	}
	return p.s[start:p.pos]
}

// atom checks the length of a and the atom budget.
func (p *textParser) atom(off int, a string) (Term, error) {
	if utf8.RuneCountInString(a) > textMaxAtomChars {
		return nil, p.errorf(off, "atom longer than %d characters", textMaxAtomChars)
	}
	p.atoms++
	if p.lim.MaxAtoms > 0 && p.atoms > p.lim.MaxAtoms {
		return nil, p.fail(off, ErrAtomBudget, fmt.Sprintf("more than %d atoms", p.lim.MaxAtoms))
	}
	return Atom(a), nil
}

// atomTerm parses a bare or quoted atom.
func (p *textParser) atomTerm() (Atom, error) {
	p.skipSpace()
	start := p.pos
	var a string
	switch r, _ := utf8.DecodeRuneInString(p.s[p.pos:]); {
	case r == '\'':
		var err error
		if a, err = p.quoted('\''); err != nil {
			return "", err
		}
	case textIsAtomStart(r):
		a = p.word()
		if textReservedWords[a] {
			return "", p.errorf(start, "reserved word %s is not an atom", a)
		}
	default:
		return "", p.errorf(start, "expected an atom, found %s", p.describe(start))
	}
	t, err := p.atom(start, a)
	if err != nil {
		return "", err
	}
	return t.(Atom), nil
}

// export parses the rest of fun Module:Function/Arity.
func (p *textParser) export() (Term, error) {
	m, err := p.atomTerm()
	if err != nil {
		return nil, err
	}
	if err := p.expect(":"); err != nil {
		return nil, err
	}
	f, err := p.atomTerm()
	if err != nil {
		return nil, err
	}
	if err := p.expect("/"); err != nil {
		return nil, err
	}
	p.skipSpace()
	off := p.pos
	if c := p.peek(); c < '0' || c > '9' {
		return nil, p.errorf(off, "expected an arity after fun %s:%s/", Format(m), Format(f))
	}
	a, err := p.number()
	if err != nil {
		return nil, err
	}
	n, ok := a.(int64)
	if !ok || n < 0 || n > 255 {
		return nil, p.errorf(off, "fun arity must be an integer from 0 to 255")
	}
	return Export{Module: m, Function: f, Arity: uint8(n)}, nil
}

// signedNumber parses one or more unary + and - signs and the number they
// apply to.
func (p *textParser) signedNumber() (Term, error) {
	neg := false
	for {
		p.skipSpace()
		c := p.peek()
		if c != '-' && c != '+' {
			break
		}
		if c == '-' {
			neg = !neg
		}
		p.pos++
	}
	t, err := p.numberTerm("the operand of a sign")
	if err != nil || !neg {
		return t, err
	}
	return textNegate(t), nil
}

func textNegate(t Term) Term {
	switch v := t.(type) {
	case int64:
		if v == math.MinInt64 {
			return new(big.Int).Neg(big.NewInt(v))
		}
		return -v
	case *big.Int:
		return Int(new(big.Int).Neg(v))
	case float64:
		return -v
	}
	return t
}

// digits consumes digits valid in base, with single underscores between
// them, and returns them without the underscores.
func (p *textParser) digits(base int) (string, error) {
	start := p.pos
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if c == '_' && p.pos > start && p.pos+1 < len(p.s) && textDigitVal(p.s[p.pos+1]) < base {
			p.pos++
			continue
		}
		if textDigitVal(c) >= base {
			break
		}
		b.WriteByte(c)
		p.pos++
		// An upper bound of the bits of the digits so far, with a margin
		// for the few bits the estimate may exceed the exact size by.
		if float64(b.Len())*math.Log2(float64(base)) > textMaxIntBits+64 {
			return "", p.fail(start, ErrTooLarge, fmt.Sprintf("number larger than %d bits", textMaxIntBits))
		}
	}
	return b.String(), nil
}

func textDigitVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

// number parses an unsigned integer (decimal or Base#digits) or float.
func (p *textParser) number() (Term, error) {
	start := p.pos
	ds, err := p.digits(10)
	if err != nil {
		return nil, err
	}
	if ds == "" {
		return nil, p.errorf(start, "expected a number, found %s", p.describe(start))
	}
	switch {
	case p.peek() == '#':
		base, err := strconv.Atoi(ds)
		if err != nil || base < 2 || base > 36 || strings.Contains(p.s[start:p.pos], "_") {
			return nil, p.errorf(start, "integer base %s is not from 2 to 36", p.s[start:p.pos])
		}
		p.pos++
		digitsStart := p.pos
		bds, err := p.digits(base)
		if err != nil {
			return nil, err
		}
		if bds == "" {
			return nil, p.errorf(digitsStart, "expected base %d digits, found %s", base, p.describe(digitsStart))
		}
		return p.intTerm(start, bds, base)
	case p.pos+1 < len(p.s) && p.s[p.pos] == '.' && p.s[p.pos+1] >= '0' && p.s[p.pos+1] <= '9':
		p.pos++
		frac, err := p.digits(10)
		if err != nil {
			return nil, err
		}
		text := ds + "." + frac
		if p.pos < len(p.s) && (p.s[p.pos] == 'e' || p.s[p.pos] == 'E') {
			save := p.pos
			p.pos++
			sign := ""
			if c := p.peek(); c == '+' || c == '-' {
				sign = string(c)
				p.pos++
			}
			exp, err := p.digits(10)
			if err != nil {
				return nil, err
			}
			if exp == "" {
				p.pos = save // not an exponent: leave the e for the caller
			} else {
				text += "e" + sign + exp
			}
		}
		f, err := strconv.ParseFloat(text, 64)
		if math.IsInf(f, 0) {
			return nil, p.errorf(start, "float %s out of range", p.s[start:p.pos])
		}
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, p.errorf(start, "bad float %s", p.s[start:p.pos])
		}
		return f, nil
	}
	return p.intTerm(start, ds, 10)
}

// intTerm converts valid digits to an integer term within textMaxIntBits.
func (p *textParser) intTerm(off int, ds string, base int) (Term, error) {
	t := textInt(ds, base)
	if b, ok := t.(*big.Int); ok && b.BitLen() > textMaxIntBits {
		return nil, p.fail(off, ErrTooLarge, fmt.Sprintf("number larger than %d bits", textMaxIntBits))
	}
	return t, nil
}

// textInt converts valid digits to an integer term.
func textInt(ds string, base int) Term {
	if v, err := strconv.ParseInt(ds, base, 64); err == nil {
		return v
	}
	b, _ := new(big.Int).SetString(ds, base)
	return Int(b)
}

// char parses $c.
func (p *textParser) char() (rune, error) {
	start := p.pos
	p.pos++ // $
	if p.pos >= len(p.s) {
		return 0, p.errorf(start, "character literal $ without a character")
	}
	if p.s[p.pos] == '\\' {
		return p.escape()
	}
	r, n := utf8.DecodeRuneInString(p.s[p.pos:])
	if r == utf8.RuneError && n <= 1 {
		return 0, p.errorf(p.pos, "invalid UTF-8")
	}
	p.pos += n
	return r, nil
}

// escape parses an escape sequence starting at the backslash.
func (p *textParser) escape() (rune, error) {
	start := p.pos
	p.pos++ // backslash
	if p.pos >= len(p.s) {
		return 0, p.errorf(start, "unterminated escape sequence")
	}
	c := p.s[p.pos]
	switch c {
	case 'b':
		p.pos++
		return '\b', nil
	case 'd':
		p.pos++
		return 127, nil
	case 'e':
		p.pos++
		return 27, nil
	case 'f':
		p.pos++
		return '\f', nil
	case 'n':
		p.pos++
		return '\n', nil
	case 'r':
		p.pos++
		return '\r', nil
	case 's':
		p.pos++
		return ' ', nil
	case 't':
		p.pos++
		return '\t', nil
	case 'v':
		p.pos++
		return '\v', nil
	case '^':
		p.pos++
		if p.pos >= len(p.s) {
			return 0, p.errorf(start, "unterminated escape sequence")
		}
		r, n := utf8.DecodeRuneInString(p.s[p.pos:])
		if r == utf8.RuneError && n <= 1 {
			return 0, p.errorf(p.pos, "invalid UTF-8")
		}
		p.pos += n
		return r & 31, nil
	case 'x':
		p.pos++
		if p.peek() == '{' {
			p.pos++
			ds := p.pos
			v := 0
			for p.pos < len(p.s) && textDigitVal(p.s[p.pos]) < 16 {
				v = v*16 + textDigitVal(p.s[p.pos])
				p.pos++
				if v > utf8.MaxRune {
					return 0, p.errorf(start, "character code beyond U+10FFFF")
				}
			}
			if p.pos == ds || p.peek() != '}' {
				return 0, p.errorf(start, `bad \x{...} escape`)
			}
			p.pos++
			if v >= 0xD800 && v <= 0xDFFF {
				return 0, p.errorf(start, "surrogate character code %X", v)
			}
			return rune(v), nil
		}
		if p.pos+2 > len(p.s) || textDigitVal(p.s[p.pos]) >= 16 || textDigitVal(p.s[p.pos+1]) >= 16 {
			return 0, p.errorf(start, `\x needs two hex digits or {...}`)
		}
		v := textDigitVal(p.s[p.pos])*16 + textDigitVal(p.s[p.pos+1])
		p.pos += 2
		return rune(v), nil
	}
	if c >= '0' && c <= '7' {
		v := 0
		for i := 0; i < 3 && p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '7'; i++ {
			v = v*8 + int(p.s[p.pos]-'0')
			p.pos++
		}
		return rune(v), nil
	}
	r, n := utf8.DecodeRuneInString(p.s[p.pos:])
	if r == utf8.RuneError && n <= 1 {
		return 0, p.errorf(p.pos, "invalid UTF-8")
	}
	p.pos += n
	return r, nil
}

// quoted parses text between quote characters q ('...' or "...") and
// returns it as UTF-8.
func (p *textParser) quoted(q byte) (string, error) {
	var b strings.Builder
	if err := p.quotedTo(&b, q); err != nil {
		return "", err
	}
	return b.String(), nil
}

// quotedTo parses text between quote characters q and appends it to b.
func (p *textParser) quotedTo(b *strings.Builder, q byte) error {
	start := p.pos
	p.pos++ // opening quote
	for {
		if p.pos >= len(p.s) {
			if q == '\'' {
				return p.errorf(start, "unterminated quoted atom")
			}
			return p.errorf(start, "unterminated string")
		}
		c := p.s[p.pos]
		switch {
		case c == q:
			p.pos++
			return nil
		case c == '\\':
			r, err := p.escape()
			if err != nil {
				return err
			}
			b.WriteRune(r)
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			p.pos++
		default:
			r, n := utf8.DecodeRuneInString(p.s[p.pos:])
			if r == utf8.RuneError && n <= 1 {
				return p.errorf(p.pos, "invalid UTF-8")
			}
			b.WriteString(p.s[p.pos : p.pos+n])
			p.pos += n
		}
	}
}

// stringText parses one or more adjacent string literals.
func (p *textParser) stringText() (string, error) {
	var b strings.Builder
	for {
		if err := p.quotedTo(&b, '"'); err != nil {
			return "", err
		}
		save := p.pos
		p.skipSpace()
		if p.peek() != '"' {
			p.pos = save
			return b.String(), nil
		}
	}
}

func (p *textParser) strings() (Term, error) {
	s, err := p.stringText()
	if err != nil {
		return nil, err
	}
	if s == "" {
		return List{}, nil
	}
	return CharList(s), nil
}

func (p *textParser) list() (Term, error) {
	start := p.pos
	if err := p.enter(start); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.pos++ // [
	p.skipSpace()
	if p.peek() == ']' {
		p.pos++
		return List{}, nil
	}
	var elems []Term
	for {
		e, err := p.term()
		if err != nil {
			return nil, err
		}
		elems = append(elems, e)
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
			continue
		case ']':
			p.pos++
			return List(elems), nil
		case '|':
			p.pos++
			tail, err := p.term()
			if err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			return textConsList(elems, tail), nil
		}
		return nil, p.errorf(p.pos, "expected ',', '|' or ']' in a list, found %s", p.describe(p.pos))
	}
}

// textConsList builds [elems... | tail], flattening a tail that is a list.
func textConsList(elems []Term, tail Term) Term {
	if !textIsListTerm(tail) {
		return ImproperList{Elems: elems, Tail: tail}
	}
	more, t := textFlattenList(tail)
	elems = append(elems, more...)
	if t == nil {
		return List(elems)
	}
	return ImproperList{Elems: elems, Tail: t}
}

func (p *textParser) tuple() (Term, error) {
	start := p.pos
	if err := p.enter(start); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.pos++ // {
	p.skipSpace()
	if p.peek() == '}' {
		p.pos++
		return Tuple{}, nil
	}
	var elems []Term
	for {
		e, err := p.term()
		if err != nil {
			return nil, err
		}
		elems = append(elems, e)
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
			continue
		case '}':
			p.pos++
			return Tuple(elems), nil
		}
		return nil, p.errorf(p.pos, "expected ',' or '}' in a tuple, found %s", p.describe(p.pos))
	}
}

func (p *textParser) mapTerm() (Term, error) {
	start := p.pos
	if err := p.enter(start); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.pos++ // #
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.peek() == '}' {
		p.pos++
		return Map{}, nil
	}
	var m Map
	for {
		k, err := p.term()
		if err != nil {
			return nil, err
		}
		if err := p.expect("=>"); err != nil {
			return nil, err
		}
		v, err := p.term()
		if err != nil {
			return nil, err
		}
		m = append(m, Pair{Key: k, Value: v})
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
			continue
		case '}':
			p.pos++
			m = textDedupe(m)
			if len(m) > textFlatMapLimit {
				// Keep a large map in wire order, the reverse of its text
				// (see Format).
				slices.Reverse(m)
			}
			return m, nil
		}
		return nil, p.errorf(p.pos, "expected ',' or '}' in a map, found %s", p.describe(p.pos))
	}
}

// textDedupe keeps one pair per key, as Erlang's #{...} does: the value of
// the last occurrence at the position of the first.
func textDedupe(m Map) Map {
	if len(m) < 2 {
		return m
	}
	idx := make([]int, len(m))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return textMapKeyCompare(m[a].Key, m[b].Key) })
	drop := make([]bool, len(m))
	dups := false
	for i := 1; i < len(idx); i++ {
		first, cur := idx[i-1], idx[i]
		if textMapKeyCompare(m[first].Key, m[cur].Key) == 0 {
			// Runs of equal keys are in input order: carry the first
			// position forward and keep the latest value there.
			m[first].Value = m[cur].Value
			drop[cur] = true
			idx[i] = first
			dups = true
		}
	}
	if !dups {
		return m
	}
	out := make(Map, 0, len(m))
	for i, pr := range m {
		if !drop[i] {
			out = append(out, pr)
		}
	}
	return out
}

// textBits accumulates a bit string, most significant bit first.
type textBits struct {
	buf  []byte
	bits int // total bits written
}

func (w *textBits) writeBit(b uint) {
	if w.bits%8 == 0 {
		w.buf = append(w.buf, 0)
	}
	if b != 0 {
		w.buf[len(w.buf)-1] |= 0x80 >> (w.bits % 8)
	}
	w.bits++
}

// writeUint writes the low n (≤ 64) bits of v.
func (w *textBits) writeUint(v uint64, n int) {
	if w.bits%8 == 0 {
		for n >= 8 {
			n -= 8
			w.buf = append(w.buf, byte(v>>n))
			w.bits += 8
		}
	}
	for i := n - 1; i >= 0; i-- {
		w.writeBit(uint(v>>i) & 1)
	}
}

// writeFill writes n copies of one bit.
func (w *textBits) writeFill(one bool, n int) {
	var fill byte
	if one {
		fill = 0xFF
	}
	for n > 0 && w.bits%8 != 0 {
		w.writeBit(uint(fill & 1))
		n--
	}
	for n >= 8 {
		w.buf = append(w.buf, fill)
		w.bits += 8
		n -= 8
	}
	for ; n > 0; n-- {
		w.writeBit(uint(fill & 1))
	}
}

// writeInt writes the low n bits of v in two's complement.
func (w *textBits) writeInt(v Term, n int) {
	switch x := v.(type) {
	case int64:
		if n > 64 {
			w.writeFill(x < 0, n-64)
			n = 64
		}
		w.writeUint(uint64(x), n)
	case *big.Int:
		m := min(n, x.BitLen()+1)
		w.writeFill(x.Sign() < 0, n-m)
		mask := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(m)), big.NewInt(1))
		low := new(big.Int).And(x, mask) // two's complement for negatives
		b := low.FillBytes(make([]byte, (m+7)/8))
		if r := m % 8; r != 0 {
			w.writeUint(uint64(b[0]), r)
			b = b[1:]
		}
		for _, c := range b {
			w.writeUint(uint64(c), 8)
		}
	}
}

// textSegment is one segment of a binary being built.
type textSegment struct {
	off    int
	val    Term // int64, *big.Int, float64 or string (a string literal)
	size   int64
	hasSz  bool
	typ    string // integer, float, utf8, utf16, utf32
	little bool
	unit   int64
}

func (p *textParser) binary() (Term, error) {
	start := p.pos
	if !strings.HasPrefix(p.s[p.pos:], "<<") {
		return nil, p.errorf(start, "unexpected %s", p.describe(start))
	}
	// A binary adds no level (its segments nest only through
	// parentheses, which do).
	p.pos += 2
	var w textBits
	p.skipSpace()
	if strings.HasPrefix(p.s[p.pos:], ">>") {
		p.pos += 2
		return Binary{}, nil
	}
	for {
		seg, err := p.segment()
		if err != nil {
			return nil, err
		}
		if err := p.build(&w, seg); err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.peek() == ',' {
			p.pos++
			continue
		}
		if strings.HasPrefix(p.s[p.pos:], ">>") {
			p.pos += 2
			break
		}
		return nil, p.errorf(p.pos, "expected ',' or '>>' in a binary, found %s", p.describe(p.pos))
	}
	if w.bits%8 == 0 {
		return Binary(w.buf), nil
	}
	return BitBinary{Bytes: w.buf, Bits: uint8(w.bits % 8)}, nil
}

// segment parses Value[:Size][/Type-Type...].
func (p *textParser) segment() (textSegment, error) {
	p.skipSpace()
	seg := textSegment{off: p.pos, typ: "integer", unit: 1}
	switch c := p.peek(); {
	case c == '"':
		s, err := p.stringText()
		if err != nil {
			return seg, err
		}
		seg.val = s
	case c == '-' || c == '+' || c == '$' || c == '(' || (c >= '0' && c <= '9'):
		v, err := p.numberTerm("a binary segment value")
		if err != nil {
			return seg, err
		}
		seg.val = v
	default:
		return seg, p.errorf(p.pos, "a binary segment must be a number, a character or a string, found %s", p.describe(p.pos))
	}
	p.skipSpace()
	if p.peek() == ':' {
		p.pos++
		p.skipSpace()
		off := p.pos
		var v Term
		var err error
		switch c := p.peek(); {
		case c >= '0' && c <= '9':
			v, err = p.number()
		case c == '(':
			v, err = p.paren()
		default:
			return seg, p.errorf(off, "a segment size must be a non-negative integer, found %s", p.describe(off))
		}
		if err != nil {
			return seg, err
		}
		n, ok := v.(int64)
		if !ok || n < 0 {
			if b, isBig := v.(*big.Int); isBig && b.Sign() > 0 {
				return seg, p.fail(off, ErrTooLarge, "segment size too large")
			}
			return seg, p.errorf(off, "a segment size must be a non-negative integer, found %s", Format(v))
		}
		seg.size, seg.hasSz = n, true
		p.skipSpace()
	}
	if p.peek() != '/' {
		return seg, nil
	}
	p.pos++
	typeSet := false
	for {
		p.skipSpace()
		off := p.pos
		w := p.word()
		switch w {
		case "integer", "float", "utf8", "utf16", "utf32":
			if typeSet {
				return seg, p.errorf(off, "conflicting segment types")
			}
			seg.typ, typeSet = w, true
		case "signed", "unsigned", "big":
		case "little":
			seg.little = true
		case "native":
			seg.little = textNativeLittle
		case "unit":
			if err := p.expect(":"); err != nil {
				return seg, err
			}
			p.skipSpace()
			uoff := p.pos
			u, err := p.digits(10)
			if err != nil {
				return seg, err
			}
			n, err := strconv.Atoi(u)
			if err != nil || n < 1 || n > 256 {
				return seg, p.errorf(uoff, "a unit must be from 1 to 256")
			}
			seg.unit = int64(n)
		case "binary", "bytes", "bitstring", "bits":
			return seg, p.errorf(off, "segment type %s is not supported in term text", w)
		case "":
			return seg, p.errorf(off, "expected a segment type, found %s", p.describe(off))
		default:
			return seg, p.errorf(off, "unknown segment type %s", w)
		}
		p.skipSpace()
		if p.peek() != '-' {
			return seg, nil
		}
		p.pos++
	}
}

// build appends a segment to w.
func (p *textParser) build(w *textBits, seg textSegment) error {
	if s, ok := seg.val.(string); ok {
		// A string is a shorthand for one segment per character.
		for _, r := range s {
			one := seg
			one.val = int64(r)
			if err := p.build(w, one); err != nil {
				return err
			}
		}
		return nil
	}
	limit := int64(p.lim.MaxSize) * 8
	room := func(n int64) error {
		if n > limit-int64(w.bits) {
			return p.fail(seg.off, ErrTooLarge, fmt.Sprintf("binary larger than %d bytes", p.lim.MaxSize))
		}
		return nil
	}
	switch seg.typ {
	case "integer":
		if _, isFloat := seg.val.(float64); isFloat {
			return p.errorf(seg.off, "a float segment needs /float")
		}
		size := int64(8)
		if seg.hasSz {
			size = seg.size
		}
		if size > limit || seg.unit > limit {
			return p.fail(seg.off, ErrTooLarge, fmt.Sprintf("binary larger than %d bytes", p.lim.MaxSize))
		}
		n := size * seg.unit
		if err := room(n); err != nil {
			return err
		}
		if seg.little {
			if n%8 != 0 {
				return p.errorf(seg.off, "little-endian segments must be whole bytes in term text")
			}
			var tmp textBits
			tmp.writeInt(seg.val, int(n))
			slices.Reverse(tmp.buf)
			for _, c := range tmp.buf {
				w.writeUint(uint64(c), 8)
			}
			return nil
		}
		w.writeInt(seg.val, int(n))
	case "float":
		size := int64(64)
		if seg.hasSz {
			size = seg.size
		}
		var f float64
		switch v := seg.val.(type) {
		case float64:
			f = v
		case int64:
			f = float64(v)
		case *big.Int:
			f, _ = new(big.Float).SetInt(v).Float64()
		}
		if math.IsInf(f, 0) {
			return p.errorf(seg.off, "integer too large for a float")
		}
		var bits uint64
		switch size * seg.unit {
		case 64:
			bits = math.Float64bits(f)
		case 32:
			// Too large for 32 bits: infinity, as Erlang writes it.
			bits = uint64(math.Float32bits(float32(f)))
		case 16:
			bits = uint64(textFloat16(f))
		default:
			return p.errorf(seg.off, "float segments must be 16, 32 or 64 bits")
		}
		n := int(size * seg.unit)
		if err := room(int64(n)); err != nil {
			return err
		}
		if seg.little {
			for i := 0; i < n/8; i++ {
				w.writeUint(bits>>(8*i)&0xFF, 8)
			}
			return nil
		}
		w.writeUint(bits, n)
	default: // utf8, utf16, utf32
		if seg.hasSz || seg.unit != 1 {
			return p.errorf(seg.off, "%s segments take no size or unit", seg.typ)
		}
		c, ok := seg.val.(int64)
		if !ok || c < 0 || c > utf8.MaxRune || (c >= 0xD800 && c <= 0xDFFF) {
			return p.errorf(seg.off, "%s segment needs a Unicode code point", seg.typ)
		}
		var enc []byte
		switch seg.typ {
		case "utf8":
			enc = utf8.AppendRune(nil, rune(c))
		case "utf16":
			if c >= 0x10000 {
				c -= 0x10000
				hi, lo := 0xD800+(c>>10), 0xDC00+(c&0x3FF)
				enc = textUnits(enc, hi, 2, seg.little)
				enc = textUnits(enc, lo, 2, seg.little)
			} else {
				enc = textUnits(enc, c, 2, seg.little)
			}
		case "utf32":
			enc = textUnits(enc, c, 4, seg.little)
		}
		if err := room(int64(len(enc)) * 8); err != nil {
			return err
		}
		for _, b := range enc {
			w.writeUint(uint64(b), 8)
		}
	}
	return nil
}

// textUnits appends v as an n-byte code unit.
func textUnits(dst []byte, v int64, n int, little bool) []byte {
	for i := range n {
		shift := 8 * (n - 1 - i)
		if little {
			shift = 8 * i
		}
		dst = append(dst, byte(v>>shift))
	}
	return dst
}

// textNativeLittle reports whether this machine, whose byte order /native
// segments use, is little-endian.
var textNativeLittle = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// textFloat16 converts f to IEEE 754 half precision, rounding to nearest
// even; values beyond the largest half become infinity.
func textFloat16(f float64) uint16 {
	var sign uint16
	if math.Signbit(f) {
		sign = 0x8000
	}
	a := math.Abs(f)
	const minNormal = 1.0 / (1 << 14)
	if a < minNormal {
		// Subnormal: units of 2^-24. Rounding up to 1024 gives the
		// smallest normal, whose bits are the same.
		return sign | uint16(math.RoundToEven(a*(1<<24)))
	}
	fr, exp := math.Frexp(a) // a = fr * 2^exp, fr in [0.5, 1)
	e := exp - 1 + 15
	if e > 30 {
		return sign | 0x7C00
	}
	m := math.RoundToEven((fr*2 - 1) * 1024)
	h := uint16(e)<<10 + uint16(m) // a carry out of m bumps the exponent
	if h >= 0x7C00 {
		h = 0x7C00
	}
	return sign | h
}
