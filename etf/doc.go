// Package etf implements Erlang's External Term Format (ETF), the binary
// encoding of terms used by term_to_binary/1, binary_to_term/1 and the
// distribution protocol, together with the Go model of Erlang terms (see
// Term), Erlang's term order (Compare, Equal), Erlang term text (Format,
// ParseText) and reflection-based Marshal/Unmarshal of Go values.
//
// # Using it
//
// A term is a plain Go value of the types listed under Term (Atom, Tuple,
// List, Map, Binary, int64, float64, Pid, ...), so code reads a decoded
// term with a type switch and builds one with composite literals:
//
//	t, err := etf.Decode(b) // b from term_to_binary/1, or a message payload
//	if err != nil {
//		return err // a *DecodeError with the offset and tag
//	}
//	switch v := t.(type) {
//	case etf.Tuple: // {ok, Value}, {error, Reason}, ...
//		if len(v) == 2 && v[0] == etf.Atom("ok") { ... }
//	case etf.Atom:
//	}
//	b, err = etf.Encode(etf.Tuple{etf.Atom("ok"), int64(1)}) // {ok, 1}
//
// Marshal and Unmarshal (ToTerm and FromTerm for terms already decoded)
// map Go values to terms: a struct to a map with atom keys, or, with a
// struct tag, to a record ({person, Name, Age}) or an Elixir struct; the
// field tags are documented on Marshal. Format prints a term as Erlang's
// io_lib:format("~0p", [T]) does and ParseText reads Erlang term syntax;
// Compare and Equal are Erlang's term order and =:=.
//
// The main types are Term and its dynamic types, Limits (decode bounds),
// Decoder (decoding with limits, from a frame, with aliasing), and the
// errors *DecodeError, *EncodeError, *TextError and Marshal's typed errors.
//
// This comment is the specification of the binary format as this package
// reads and writes it. It was checked byte for byte against Erlang/OTP 25
// (testdata/golden.txt holds the output of erl for every case).
//
// # Envelope
//
// A standalone term starts with the version byte 131 (VersionByte) and is
// followed by exactly one term:
//
//	131, Tag, Body…
//
// Behind a distribution header (frames that start with 131, 68) the terms
// carry no version byte of their own: use AppendTerm and Decoder.DecodeTerm
// for them. A compressed term replaces the term after the version byte:
//
//	131, 80, UncompressedSize:32, zlib(Tag, Body…)
//
// term_to_binary(T, [compressed]) produces it; the distribution never does.
// Decode and Unmarshal decode it, and a Decoder with Compressed set (the
// declared size is checked against Limits.MaxSize and against what the
// compressed bytes can possibly expand to before anything is inflated, and
// must equal the inflated size); a Decoder without refuses it with
// ErrCompressed. This package never produces it.
//
// All integers in the layouts below are big-endian and unsigned unless
// marked signed; N:32 is a 4-byte length.
//
// # Tags
//
//	tag  name                 layout after the tag                               Go value
//	 97  SMALL_INTEGER_EXT    Int:8                                              int64 (0..255)
//	 98  INTEGER_EXT          Int:32 signed                                      int64
//	110  SMALL_BIG_EXT        N:8, Sign:8, N digits (least significant first)    int64 or *big.Int
//	111  LARGE_BIG_EXT        N:32, Sign:8, N digits                             int64 or *big.Int
//	 70  NEW_FLOAT_EXT        IEEE 754 binary64, 8 bytes                         float64
//	 99  FLOAT_EXT            31 bytes of "%.20e" text, NUL padded (decode)      float64
//	119  SMALL_ATOM_UTF8_EXT  Len:8, UTF-8 text                                  Atom
//	118  ATOM_UTF8_EXT        Len:16, UTF-8 text                                 Atom
//	115  SMALL_ATOM_EXT       Len:8, Latin-1 text (decode)                       Atom (as UTF-8)
//	100  ATOM_EXT             Len:16, Latin-1 text (decode)                      Atom (as UTF-8)
//	 82  ATOM_CACHE_REF       Index:8 (header mode, see Decoder.AtomRefs)        Atom
//	104  SMALL_TUPLE_EXT      Arity:8, Elements…                                 Tuple
//	105  LARGE_TUPLE_EXT      Arity:32, Elements…                                Tuple
//	116  MAP_EXT              Arity:32, Key1, Value1, …                          Map
//	106  NIL_EXT              (nothing)                                          List{} (empty)
//	107  STRING_EXT           Len:16, Len bytes, each an element 0..255          CharList
//	108  LIST_EXT             Len:32, Elements…, Tail                            List or ImproperList
//	109  BINARY_EXT           Len:32, Bytes                                      Binary
//	 77  BIT_BINARY_EXT       Len:32, Bits:8 (1..8 used in last), Bytes          BitBinary
//	 88  NEW_PID_EXT          Node, ID:32, Serial:32, Creation:32                Pid
//	103  PID_EXT              Node, ID:32, Serial:32, Creation:8 (decode)        Pid
//	 90  NEWER_REFERENCE_EXT  Len:16 (1..5), Node, Creation:32, Len×ID:32        Ref
//	114  NEW_REFERENCE_EXT    Len:16 (1..5), Node, Creation:8, Len×ID:32 (dec.)  Ref
//	101  REFERENCE_EXT        Node, ID:32, Creation:8 (decode)                   Ref (Len 1)
//	 89  NEW_PORT_EXT         Node, ID:32, Creation:32                           Port
//	120  V4_PORT_EXT          Node, ID:64, Creation:32                           Port
//	102  PORT_EXT             Node, ID:32, Creation:8 (decode)                   Port
//	113  EXPORT_EXT           Module(atom), Function(atom), Arity(integer)       Export
//	112  NEW_FUN_EXT          Size:32, Arity:8, Uniq:16 bytes, Index:32,         Fun (bytes in Raw)
//	                          NumFree:32, Module(atom), OldIndex(integer),
//	                          OldUniq(integer), Pid, NumFree free variables
//	117  FUN_EXT              rejected (ErrUnsupported): gone since OTP 23
//	121  LOCAL_EXT            rejected (ErrUnsupported): private to one node
//
// Node is an atom in any atom encoding (including ATOM_CACHE_REF in header
// mode). FLOAT_EXT text is read as ERTS reads it: [+-]Digits[.,]Digits,
// then optionally [eE][+-]Digits, up to the first NUL (no hex floats, no
// underscores, no inf or nan; a value that overflows is refused). A
// BIT_BINARY_EXT whose Bits is 8 decodes to a Binary. Sign is 0 for positive and anything else for negative (as ERTS reads
// it). Size in NEW_FUN_EXT counts itself and everything after it.
//
// # Canonical encoding
//
// Encode, Append and AppendTerm write exactly what
// term_to_binary(T, [{minor_version, 2}]) writes on OTP 25:
//
//   - integers in the smallest of 97, 98, 110, 111 that holds them;
//   - floats as NEW_FLOAT_EXT (the sign of -0.0 is kept; NaN and infinities
//     have no Erlang value and fail with ErrUnsupported);
//   - atoms as SMALL_ATOM_UTF8_EXT, or ATOM_UTF8_EXT when the UTF-8 text is
//     longer than 255 bytes; an atom must be valid UTF-8 of at most 255
//     characters;
//   - a proper list of 1..65535 integers in 0..255, whether a List or a
//     CharList, as STRING_EXT; any other non-empty list as LIST_EXT; the
//     empty list as NIL_EXT; an ImproperList whose tail is itself a list is
//     written as the flat list it stands for;
//   - maps with their pairs in Erlang's map key order (term order in which
//     every integer sorts before every float, at any depth; pids order by
//     serial, number, then node; references by node, then by their words
//     from the highest), which is erl's order for maps of up to 32 keys;
//     larger maps erl writes in hash order, so their bytes differ from erl's
//     while the value is the same. Duplicate keys fail with ErrInvalid;
//   - pids as NEW_PID_EXT, references as NEWER_REFERENCE_EXT (1 to 5 words:
//     a reference of 0 words crashes OTP 25, so it is refused both ways),
//     ports as NEW_PORT_EXT up to ID 2^28-1 and V4_PORT_EXT above, as
//     term_to_binary does, external funs as EXPORT_EXT, local funs as their
//     Raw bytes unchanged;
//   - a BitBinary with Bits == 8 as BINARY_EXT; the unused low bits of a
//     bit string's last byte are written as zero.
//
// The convenience Go values listed under Term (int, uint64, bool, string,
// []byte, …) encode as the term they stand for; a nil Term encodes as [].
// Any other Go value fails with an *EncodeError wrapping ErrUnsupported.
//
// Decoding accepts every tag of the table, canonical or not: a small
// integer in SMALL_BIG_EXT, a list whose tail is another LIST_EXT or a
// STRING_EXT (merged into one List), ATOM_EXT Latin-1 atoms (converted to
// UTF-8). Integers come back as int64 whenever they fit and as *big.Int
// otherwise; STRING_EXT comes back as a CharList; maps of up to 32 keys come
// back with their pairs in key order, larger maps with their pairs in the
// order of the input (the BEAM's hash order, which Format prints as ~0p
// does). Encode(Decode(b)) is the canonical form of b.
//
// # Worked example
//
// {ok, <<"hi">>, [1,2000], #{a => -1}} encodes as
//
//	83                      version
//	68 04                   SMALL_TUPLE_EXT, arity 4
//	77 02 6F 6B             SMALL_ATOM_UTF8_EXT, 2 bytes, "ok"
//	6D 00 00 00 02 68 69    BINARY_EXT, 2 bytes, "hi"
//	6C 00 00 00 02          LIST_EXT, 2 elements
//	   61 01                  SMALL_INTEGER_EXT 1
//	   62 00 00 07 D0         INTEGER_EXT 2000
//	   6A                     tail: NIL_EXT
//	74 00 00 00 01          MAP_EXT, 1 pair
//	   77 01 61               key: the atom a
//	   62 FF FF FF FF         value: INTEGER_EXT -1
//
// and [1,2,3] as 83 6B 00 03 01 02 03 (STRING_EXT), 2^64 as
// 83 6E 09 00 00 00 00 00 00 00 00 00 01 (SMALL_BIG_EXT, 9 digits, positive),
// <<5:3>> as 83 4D 00 00 00 01 03 A0 (BIT_BINARY_EXT, 1 byte, 3 bits used).
//
// # Limits
//
// Decoding never trusts a length: a length is checked against the bytes
// that remain before anything is allocated for it (every element takes at
// least one byte), so LIST_EXT with 2^32-1 elements and five bytes left
// fails with ErrTruncated at once. A decoded term takes at most
// MemoryPerByte (24) bytes of memory per byte of input (the worst case, a
// one-element tuple nested in another, takes 40 bytes for 2: a 16-byte slot
// and a 24-byte header), and decoding allocates at most twice that in all.
// Limits bound the rest (zero fields mean the defaults):
//
//	MaxSize   64 MiB   bytes of one term, and the declared size of a compressed term
//	MaxDepth  100 000  nesting of tuples, lists, maps and funs (also the most allowed)
//	MaxAtoms  0        atoms in one term, each occurrence counted (0: not counted)
//
// An integer may have at most MaxBigBytes bytes of digits, as in the BEAM.
// A Decoder refuses compressed terms unless Decoder.Compressed is set (the
// distribution never carries one). No walker of terms in this package —
// the decoder, the encoder, Compare and Equal, Format — recurses per level
// of nesting: they keep their own stacks, so depth costs no goroutine
// stack (ToTerm, FromTerm, Marshal and Unmarshal into Go types stop at
// 10 000 levels; ParseText, for local text, recurses up to MaxDepth). A
// long chain of list cells (each LIST_EXT's tail another LIST_EXT) is not
// deep. Untrusted input never makes the decoder panic.
//
// Format prints a whole term, however large; FormatLimit prints at most n
// bytes of it with work bounded by n, and LogValue hands a term to log/slog
// that way, formatted only when the record is written: use them for terms
// from peers in logs and errors.
//
// # Ownership of bytes
//
// Encode returns a new slice. Append and AppendTerm append to dst (which
// may be reallocated, as with append) and keep no reference to dst or to
// the term. On error they return dst with its original length.
//
// Decode and a zero Decoder copy every byte they keep: the input may be
// reused as soon as they return. With Decoder.AliasBinaries set, the Bytes
// of Binary and BitBinary values and the Raw of Fun values are sub-slices of
// the input (with their capacity clipped, so appending to them never writes
// into it); the caller must then leave the input unchanged for as long as it
// uses them. Decoder.DecodeBinary follows the same rule. Atoms are always
// copies. Terms handed to encoders are only read; decoded terms belong to
// the caller.
//
// # Errors
//
// Every decoding failure is a *DecodeError holding the offset and tag byte
// of the term that failed and wrapping one of ErrTruncated, ErrBadVersion,
// ErrUnknownTag, ErrUnsupported, ErrInvalid, ErrTooDeep, ErrTooLarge,
// ErrAtomBudget, ErrCompressed, ErrTrailingData or ErrNotBinary; test them
// with errors.Is.
// Every encoding failure is an *EncodeError naming the Go type; it matches
// ErrUnsupported, and also ErrInvalid (invalid atom text, bad BitBinary,
// duplicate map key, nil *big.Int, malformed Fun.Raw), ErrTooLarge (a length
// beyond 32 bits) or ErrTooDeep (a cyclic or absurdly deep value) when that
// is the reason.
package etf
