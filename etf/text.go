package etf

import (
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"slices"
	"strconv"
	"unicode/utf8"
)

// This file prints terms as Erlang text, the way OTP 25's
// io_lib:format("~0p", [T]) does, written as UTF-8.
//
// The rules, checked against a real OTP 25 (see text_test.go and
// testdata/text_golden.txt):
//
//   - ~0p is the Latin-1 mode of the pretty printer (not ~0tp): a char list
//     prints as "text" only when every element is a printable Latin-1
//     character (32..126, 160..255, or \b \t \n \v \f \r \e); a binary prints
//     as <<"text">> under the same rule applied to its bytes, so the UTF-8
//     binary <<"é"/utf8>> prints as <<"Ã©">> (its two bytes as Latin-1
//     characters). Everything else prints as numbers: [19990], <<1,2,3>>.
//   - An atom is bare when it starts with a lowercase Latin-1 letter, holds
//     only Latin-1 letters, digits, _ and @, and is not a reserved word;
//     otherwise it is quoted. Inside quotes, characters above 255 print as
//     \x{HEX}, other control characters as \b-style or three-digit octal
//     escapes.
//   - Floats print with the fewest digits that read back to the same float
//     (1.0e300, 0.1, -0.0), in plain or exponent form, whichever is shorter,
//     plain on a tie; an integral float of 2^53 or more always uses the
//     exponent form (9.007199254740992e15).
//   - Maps of up to 32 keys print in the order the BEAM keeps them: Erlang
//     term order of the keys, except that every integer sorts before every
//     float (#{1 => a,2 => b,0.5 => c}). Larger maps are hash tries, which
//     ~0p prints in trie order: exactly the reverse of the order
//     term_to_binary writes their pairs in (the trie order depends on
//     hashes Go cannot reproduce, such as atom table indexes). So a larger
//     Map prints its pairs from last to first: a Map holding the pairs in
//     the order term_to_binary wrote them prints exactly as ~0p prints the
//     map. ParseText stores the pairs of a larger map in reverse too, so
//     that Format(ParseText(s)) keeps the order of s.
//   - Pids, references and ports, which ~0p prints relative to the local
//     node, print with the node name: <NODE.ID.SERIAL>, #Ref<NODE.N.N.N>,
//     #Port<NODE.ID>; a local fun prints as #Fun<Module.Index.Uniq>. These
//     forms are for display and ParseText does not read them back.

// Format returns the text of t as OTP 25's io_lib:format("~0p", [t]) prints
// it, encoded as UTF-8, on one line. Its length is that of the whole term:
// to print a term that may come from a peer (in a log line or an error),
// use FormatLimit or LogValue.
func Format(t Term) string { return string(AppendText(nil, t)) }

// AppendText appends the text of t (see Format) to dst and returns the
// extended slice.
func AppendText(dst []byte, t Term) []byte { return appendText(dst, t, -1) }

// FormatLimit returns the text of t as Format prints it, cut to at most
// n bytes: a text that does not fit ends with "..." (within the n bytes).
// Its work is bounded by n, not by the size of t: it reads no more of
// t than it prints (a binary or list, to decide whether it prints as
// "text", is read up to n bytes or elements ahead, so one longer than that
// whose only unprintable elements come later prints as "text..." where
// Format prints numbers), and an integer too long to fit is cut without
// computing its digits. FormatLimit is what to
// use for a term from a peer in a log line or an error.
func FormatLimit(t Term, n int) string {
	return string(AppendTextLimit(make([]byte, 0, min(max(n, 0), 64)), t, n))
}

// AppendTextLimit appends the text of t to dst as FormatLimit prints it,
// at most n bytes of it.
func AppendTextLimit(dst []byte, t Term, n int) []byte {
	return appendText(dst, t, max(n, 0))
}

// LogTextMax is how many bytes of a term LogValue prints.
const LogTextMax = 512

// LogValue returns t as a slog.LogValuer: a handler formats it, cut to
// LogTextMax bytes (see FormatLimit), only when it writes the record, so
// logging a term at a disabled level costs nothing. It also prints itself
// that way with fmt.
func LogValue(t Term) slog.LogValuer { return logText{t} }

type logText struct{ t Term }

func (l logText) LogValue() slog.Value { return slog.StringValue(FormatLimit(l.t, LogTextMax)) }
func (l logText) String() string       { return FormatLimit(l.t, LogTextMax) }

// textCut is what a cut text ends with.
const textCut = "..."

// textWriter prints terms without recursing: the tuples, lists and maps
// being printed are frames on its own stack.
type textWriter struct {
	dst   []byte
	limit int  // the largest len(dst); -1 for no limit
	cut   bool // the text reached the limit and ends with textCut
	start int  // len(dst) before the text
	n     int
	stack [8]textFrame
	more  []textFrame
}

// textFrame is a tuple, list or map being printed.
type textFrame struct {
	kind  byte // '{', '[' or '#'
	i     int  // elements (map pairs) printed so far
	it    listIter
	pairs []Pair
	rev   bool // print pairs from last to first
	val   bool // the value of the current pair comes next
}

func (w *textWriter) push(f textFrame) {
	if w.n < len(w.stack) {
		w.stack[w.n] = f
	} else {
		w.more = append(w.more, f)
	}
	w.n++
}

func (w *textWriter) top() *textFrame {
	if w.n <= len(w.stack) {
		return &w.stack[w.n-1]
	}
	return &w.more[w.n-1-len(w.stack)]
}

func (w *textWriter) pop() {
	w.n--
	if w.n >= len(w.stack) {
		w.more[len(w.more)-1] = textFrame{}
		w.more = w.more[:len(w.more)-1]
	}
}

// room reports how many more bytes fit before the limit.
func (w *textWriter) room() int {
	if w.limit < 0 {
		return math.MaxInt
	}
	return max(w.limit-len(w.dst), 0)
}

// check cuts the text once it passes the limit, and reports whether it is
// cut.
func (w *textWriter) check() bool {
	if w.cut || w.limit < 0 || len(w.dst) <= w.limit {
		return w.cut
	}
	keep := max(w.limit-len(textCut), w.start)
	// Cut on a UTF-8 character boundary.
	for keep > w.start && !utf8.RuneStart(w.dst[keep]) {
		keep--
	}
	w.dst = append(w.dst[:keep], textCut[:min(len(textCut), w.limit-keep)]...)
	w.cut = true
	return true
}

// cutHere ends the text here, with textCut (within the limit).
func (w *textWriter) cutHere() {
	w.dst = append(w.dst, textCut...)
	if !w.check() {
		w.cut = true
	}
}

func appendText(dst []byte, t Term, limit int) []byte {
	w := textWriter{dst: dst, limit: -1}
	if limit >= 0 {
		w.limit = len(dst) + limit
	}
	w.start = len(dst)
	w.run(t)
	return w.dst
}

func (w *textWriter) run(t Term) {
	for {
		w.one(t)
		if w.check() || w.cut {
			return
		}
		// The next term to print, closing the containers that are done.
	next:
		for {
			if w.n == 0 {
				return
			}
			f := w.top()
			switch f.kind {
			case '{':
				e, ok := f.it.next()
				if ok {
					if f.i > 0 {
						w.dst = append(w.dst, ',')
					}
					f.i++
					t = e
					break next
				}
				w.dst = append(w.dst, '}')
			case '[':
				e, ok := f.it.next()
				if ok {
					if f.i > 0 {
						w.dst = append(w.dst, ',')
					}
					f.i++
					t = e
					break next
				}
				if f.it.tail != nil && !isEmptyList(f.it.tail) {
					w.dst = append(w.dst, '|')
					t, f.it.tail = f.it.tail, nil
					break next
				}
				w.dst = append(w.dst, ']')
			case '#':
				if f.i < len(f.pairs) {
					k := f.i
					if f.rev {
						k = len(f.pairs) - 1 - f.i
					}
					if !f.val {
						if f.i > 0 {
							w.dst = append(w.dst, ',')
						}
						t, f.val = f.pairs[k].Key, true
					} else {
						w.dst = append(w.dst, " => "...)
						t, f.val = f.pairs[k].Value, false
						f.i++
					}
					break next
				}
				w.dst = append(w.dst, '}')
			}
			w.pop()
			if w.check() {
				return
			}
		}
	}
}

// one prints a term that holds no others, or opens a container, printing
// its opening bracket and pushing a frame for its elements.
func (w *textWriter) one(t Term) {
	dst := w.dst
	if w.n >= hardMaxDepth {
		deeper := false
		switch v := t.(type) {
		case Tuple:
			deeper = len(v) > 0
		case List:
			deeper = len(v) > 0
		case Map:
			deeper = len(v) > 0
		case ImproperList:
			deeper = true
		}
		if deeper {
			// Deeper than any decoder accepts: a cyclic term.
			w.dst = append(dst, textCut...)
			return
		}
	}
	switch v := normalize(t).(type) {
	case Atom:
		dst = textAppendAtom(dst, string(v))
	case int64:
		dst = strconv.AppendInt(dst, v, 10)
	case *big.Int:
		switch {
		case v == nil:
			dst = append(dst, '0')
		case w.limit >= 0 && float64(v.BitLen())*math.Log10(2) > float64(w.room()+1):
			// Its digits would not fit: cut here rather than compute
			// them (decimal conversion is superlinear).
			w.dst = dst
			w.cutHere()
			return
		default:
			dst = v.Append(dst, 10)
		}
	case float64:
		dst = textAppendFloat(dst, v)
	case Binary:
		dst = textAppendBinary(dst, v, w.room())
	case BitBinary:
		dst = textAppendBitBinary(dst, v, w.room())
	case CharList, List, ImproperList:
		w.dst = dst
		w.list(v)
		return
	case Tuple:
		dst = append(dst, '{')
		if len(v) == 0 {
			dst = append(dst, '}')
		} else {
			w.push(textFrame{kind: '{', it: listIter{elems: v}})
		}
	case Map:
		dst = append(dst, "#{"...)
		if len(v) == 0 {
			dst = append(dst, '}')
			break
		}
		f := textFrame{kind: '#', pairs: v}
		if len(v) > textFlatMapLimit {
			f.rev = true
		} else if !slices.IsSortedFunc(f.pairs, textPairOrder) {
			f.pairs = slices.Clone(f.pairs)
			slices.SortStableFunc(f.pairs, textPairOrder)
		}
		w.push(f)
	case Pid:
		dst = append(dst, '<')
		dst = append(dst, v.Node...)
		dst = append(dst, '.')
		dst = strconv.AppendUint(dst, uint64(v.ID), 10)
		dst = append(dst, '.')
		dst = strconv.AppendUint(dst, uint64(v.Serial), 10)
		dst = append(dst, '>')
	case Ref:
		dst = append(dst, "#Ref<"...)
		dst = append(dst, v.Node...)
		n := min(int(v.Len), MaxRefWords)
		for i := n - 1; i >= 0; i-- {
			dst = append(dst, '.')
			dst = strconv.AppendUint(dst, uint64(v.ID[i]), 10)
		}
		dst = append(dst, '>')
	case Port:
		dst = append(dst, "#Port<"...)
		dst = append(dst, v.Node...)
		dst = append(dst, '.')
		dst = strconv.AppendUint(dst, v.ID, 10)
		dst = append(dst, '>')
	case Export:
		dst = append(dst, "fun "...)
		dst = textAppendAtom(dst, string(v.Module))
		dst = append(dst, ':')
		dst = textAppendAtom(dst, string(v.Function))
		dst = append(dst, '/')
		dst = strconv.AppendUint(dst, uint64(v.Arity), 10)
	case Fun:
		dst = append(dst, "#Fun<"...)
		dst = append(dst, v.Module...)
		dst = append(dst, '.')
		dst = strconv.AppendUint(dst, uint64(v.Index), 10)
		dst = append(dst, '.')
		dst = strconv.AppendUint(dst, uint64(v.Uniq), 10)
		dst = append(dst, '>')
	default:
		// Not a term: say what it is rather than print nothing.
		dst = append(dst, "#Invalid<"...)
		dst = append(dst, textTypeName(t)...)
		dst = append(dst, '>')
	}
	w.dst = dst
}

// textPairOrder orders map pairs as the BEAM's flatmaps keep them.
func textPairOrder(a, b Pair) int { return textMapKeyCompare(a.Key, b.Key) }

// list prints a list: as "text" when every element is a printable
// character and the list is proper, else element by element.
func (w *textWriter) list(t Term) {
	// How far ahead to look for a non-printable element: everything,
	// or as much as can be printed.
	ahead := w.room()
	if ahead < math.MaxInt {
		ahead++
	}
	if s, ok := t.(CharList); ok && utf8.ValidString(string(s)) {
		if s == "" {
			w.dst = append(w.dst, "[]"...)
			return
		}
		n, printable := 0, true
		for _, r := range string(s) {
			if n++; n > ahead {
				break
			}
			if !textIsPrintable(r) {
				printable = false
				break
			}
		}
		if printable {
			w.quoted(listIter{chars: string(s)})
			return
		}
	}
	it := newListIter(t)
	probe, n, printable := it, 0, true
	for {
		e, ok := probe.next()
		if !ok {
			printable = n > 0 && isEmptyList(probe.tail)
			break
		}
		if n++; n > ahead {
			break // printable as far as it can be printed
		}
		c, isInt := normalize(e).(int64)
		if !isInt || !textIsPrintable(rune(min(max(c, -1), math.MaxInt32))) {
			printable = false
			break
		}
	}
	if printable {
		w.quoted(it)
		return
	}
	if n == 0 && isEmptyList(probe.tail) {
		w.dst = append(w.dst, "[]"...)
		return
	}
	if n == 0 {
		// No elements, only a tail that is not a list: print the tail.
		w.one(probe.tail)
		return
	}
	w.dst = append(w.dst, '[')
	w.push(textFrame{kind: '[', it: it})
}

// quoted prints the characters of a printable list as "text".
func (w *textWriter) quoted(it listIter) {
	w.dst = append(w.dst, '"')
	for {
		e, ok := it.next()
		if !ok {
			break
		}
		c, ok := normalize(e).(int64)
		if !ok {
			// Past what the probe read, so past the limit.
			w.cutHere()
			return
		}
		w.dst = textAppendQuotedChar(w.dst, rune(c), '"')
		if w.check() {
			return
		}
	}
	w.dst = append(w.dst, '"')
}

func textTypeName(t Term) string { return fmt.Sprintf("%T", t) }

// textReservedWords are the words OTP 25's erl_scan:reserved_word/1 reports
// (maybe and else only become reserved with the maybe_expr feature, which
// OTP 25 leaves off, so io_lib prints them bare).
var textReservedWords = map[string]bool{
	"after": true, "and": true, "andalso": true, "band": true, "begin": true,
	"bnot": true, "bor": true, "bsl": true, "bsr": true, "bxor": true,
	"case": true, "catch": true, "cond": true, "div": true, "end": true,
	"fun": true, "if": true, "let": true, "not": true, "of": true, "or": true,
	"orelse": true, "receive": true, "rem": true, "try": true, "when": true,
	"xor": true,
}

// textIsAtomStart reports whether r may start a bare atom: a lowercase Latin-1
// letter.
func textIsAtomStart(r rune) bool {
	return (r >= 'a' && r <= 'z') || (r >= 0xDF && r <= 0xFF && r != 0xF7)
}

// textIsAtomChar reports whether r may follow the first character of a bare
// atom: a Latin-1 letter, a digit, _ or @.
func textIsAtomChar(r rune) bool {
	return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') ||
		r == '_' || r == '@' || (r >= 0xC0 && r <= 0xFF && r != 0xD7 && r != 0xF7)
}

// textAtomNeedsQuotes reports whether io_lib quotes the atom a.
func textAtomNeedsQuotes(a string) bool {
	if a == "" || textReservedWords[a] {
		return true
	}
	for i, r := range a {
		if r == utf8.RuneError {
			return true
		}
		if i == 0 {
			if !textIsAtomStart(r) {
				return true
			}
		} else if !textIsAtomChar(r) {
			return true
		}
	}
	return false
}

func textAppendAtom(dst []byte, a string) []byte {
	if !textAtomNeedsQuotes(a) {
		return append(dst, a...)
	}
	dst = append(dst, '\'')
	for _, r := range a {
		dst = textAppendQuotedChar(dst, r, '\'')
	}
	return append(dst, '\'')
}

// textAppendQuotedChar appends r as it appears between quote characters q in
// io_lib's Latin-1 output.
func textAppendQuotedChar(dst []byte, r rune, q rune) []byte {
	switch r {
	case q, '\\':
		return append(dst, '\\', byte(r))
	case '\n':
		return append(dst, `\n`...)
	case '\r':
		return append(dst, `\r`...)
	case '\t':
		return append(dst, `\t`...)
	case '\v':
		return append(dst, `\v`...)
	case '\b':
		return append(dst, `\b`...)
	case '\f':
		return append(dst, `\f`...)
	case 27:
		return append(dst, `\e`...)
	case 127:
		return append(dst, `\d`...)
	}
	switch {
	case r < 32 || (r >= 128 && r < 160):
		return append(dst, '\\', byte('0'+r>>6), byte('0'+(r>>3)&7), byte('0'+r&7))
	case r > 255:
		dst = append(dst, `\x{`...)
		dst = strconv.AppendUint(dst, uint64(r), 16)
		textUpperHex(dst[len(dst)-textHexLen(r):])
		return append(dst, '}')
	}
	return utf8.AppendRune(dst, r)
}

func textHexLen(r rune) int {
	n := 1
	for r >= 16 {
		r >>= 4
		n++
	}
	return n
}

func textUpperHex(b []byte) {
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
}

// textIsPrintable reports whether io_lib's Latin-1 printable_list accepts c.
func textIsPrintable(c rune) bool {
	return (c >= 32 && c <= 126) || (c >= 160 && c <= 255) || (c >= '\b' && c <= '\r') || c == 27
}

// textAppendBinary prints b; with room less than its text, only the first
// room bytes of it are read (the text is cut there).
func textAppendBinary(dst []byte, b Binary, room int) []byte {
	if len(b) > room {
		b = b[:room+1]
	}
	printable := len(b) > 0
	for _, c := range b {
		if !textIsPrintable(rune(c)) {
			printable = false
			break
		}
	}
	dst = append(dst, "<<"...)
	if printable {
		dst = append(dst, '"')
		for _, c := range b {
			dst = textAppendQuotedChar(dst, rune(c), '"')
		}
		dst = append(dst, '"')
	} else {
		for i, c := range b {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendUint(dst, uint64(c), 10)
		}
	}
	return append(dst, ">>"...)
}

func textAppendBitBinary(dst []byte, b BitBinary, room int) []byte {
	if b.Bits == 0 || b.Bits >= 8 || len(b.Bytes) == 0 {
		return textAppendBinary(dst, b.Bytes, room)
	}
	dst = append(dst, "<<"...)
	last := len(b.Bytes) - 1
	for i, c := range b.Bytes[:last] {
		if i > room {
			return dst // cut by the caller
		}
		dst = strconv.AppendUint(dst, uint64(c), 10)
		dst = append(dst, ',')
	}
	dst = strconv.AppendUint(dst, uint64(b.Bytes[last]>>(8-b.Bits)), 10)
	dst = append(dst, ':')
	dst = strconv.AppendUint(dst, uint64(b.Bits), 10)
	return append(dst, ">>"...)
}

// textFlattenList returns the elements and the tail (nil for a proper list) of
// any list term, following tails that are themselves lists.
func textFlattenList(t Term) (elems []Term, tail Term) {
	for {
		switch v := t.(type) {
		case List:
			if elems == nil {
				return v, nil
			}
			return append(elems, v...), nil
		case CharList:
			for _, r := range string(v) {
				elems = append(elems, int64(r))
			}
			return elems, nil
		case ImproperList:
			if elems == nil && !textIsListTerm(v.Tail) {
				return v.Elems, v.Tail
			}
			elems = append(elems[:len(elems):len(elems)], v.Elems...)
			t = normalize(v.Tail)
			if !textIsListTerm(t) {
				return elems, t
			}
		default:
			return elems, t
		}
	}
}

func textIsListTerm(t Term) bool {
	switch t.(type) {
	case List, CharList, ImproperList, nil:
		return true
	}
	return false
}

// textFlatMapLimit is the largest map the BEAM keeps as a sorted flatmap
// (MAP_SMALL_MAP_LIMIT); larger maps are hash array mapped tries.
const textFlatMapLimit = 32

// textMapKeyCompare orders map keys as the BEAM's flatmaps keep them: Erlang
// term order, except that every integer sorts before every float, at any
// depth, which is the order of exact comparison. It is 0 exactly when the
// keys are equal by =:=.
func textMapKeyCompare(a, b Term) int { return compare(a, b, true) }

// textTwoTo53 is 2^53: from here on every float is an integer and io_lib prints
// integral floats in exponent form.
const textTwoTo53 = 1 << 53

// textAppendFloat appends f in io_lib's shortest round-trip form.
func textAppendFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "nan"...)
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	case f == 0:
		if math.Signbit(f) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}
	if f < 0 {
		dst = append(dst, '-')
		f = -f
	}
	// Shortest digits: "d.ddde±XX".
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	mant, exp := e, 0
	for i, c := range e {
		if c == 'e' {
			mant = e[:i]
			x, _ := strconv.Atoi(string(e[i+1:]))
			exp = x
			break
		}
	}
	var digitsBuf [24]byte
	digits := digitsBuf[:0]
	for _, c := range mant {
		if c != '.' {
			digits = append(digits, c)
		}
	}
	n := len(digits)
	place := exp + 1 // digits before the decimal point in plain form
	expText := strconv.Itoa(exp)
	sciLen := n + 1 + 1 + len(expText)
	if n == 1 {
		sciLen++ // "1.0e5"
	}
	var plainLen int
	switch {
	case place <= 0:
		plainLen = 2 + -place + n
	case place < n:
		plainLen = n + 1
	default:
		plainLen = place + 2
	}
	useSci := sciLen < plainLen
	if place >= n && f >= textTwoTo53 {
		useSci = true
	}
	if useSci {
		dst = append(dst, digits[0], '.')
		if n == 1 {
			dst = append(dst, '0')
		} else {
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		return append(dst, expText...)
	}
	switch {
	case place <= 0:
		dst = append(dst, '0', '.')
		for range -place {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	case place < n:
		dst = append(dst, digits[:place]...)
		dst = append(dst, '.')
		return append(dst, digits[place:]...)
	}
	dst = append(dst, digits...)
	for range place - n {
		dst = append(dst, '0')
	}
	return append(dst, '.', '0')
}

// String returns the term text of p (see Format).
func (p Pid) String() string { return Format(p) }

// String returns the term text of r (see Format).
func (r Ref) String() string { return Format(r) }

// String returns the term text of p (see Format).
func (p Port) String() string { return Format(p) }

// String returns the term text of e, such as fun lists:seq/2.
func (e Export) String() string { return Format(e) }

// String returns the term text of f (see Format).
func (f Fun) String() string { return Format(f) }

// String returns the term text of t (see Format).
func (t Tuple) String() string { return Format(t) }

// String returns the term text of l (see Format).
func (l List) String() string { return Format(l) }

// String returns the term text of l (see Format).
func (l ImproperList) String() string { return Format(l) }

// String returns the term text of m (see Format).
func (m Map) String() string { return Format(m) }

// String returns the term text of b (see Format).
func (b BitBinary) String() string { return Format(b) }
