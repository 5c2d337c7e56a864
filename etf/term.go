package etf

import (
	"math/big"
)

// Term is any Erlang term. A decoded Term always holds one of these
// dynamic types, and every encoder accepts them:
//
//	Atom                 atoms, including true, false, undefined, nil
//	int64                integers that fit in 64 bits
//	*big.Int             integers beyond int64 (never one that fits int64 after decoding)
//	float64              floats (always finite)
//	Binary               binaries (BINARY_EXT)
//	BitBinary            bit strings whose length is not a multiple of 8
//	CharList             a proper list of characters, as STRING_EXT or printable text
//	List                 a proper list ([] is an empty List, never nil)
//	ImproperList         a list whose tail is not []
//	Tuple                tuples
//	Map                  maps
//	Pid, Ref, Port       identifiers of processes, references and ports
//	Export               external funs (fun M:F/A)
//	Fun                  local funs, kept opaque
//
// Encoders also accept a few plain Go values for convenience: int, int8…int64,
// uint8…uint64 (as integers), float32, bool (as the atoms true and false),
// string (as a binary) and []byte (as a binary). Decoders never return them.
type Term = any

// Atom is an Erlang atom. Its text is UTF-8 and at most 255 characters.
type Atom string

// Common atoms.
const (
	True      Atom = "true"
	False     Atom = "false"
	Undefined Atom = "undefined"
	Nil       Atom = "nil" // Elixir's nil
	OK        Atom = "ok"
	Error     Atom = "error"
)

// Binary is an Erlang binary: a sequence of whole bytes.
type Binary []byte

// BitBinary is a bit string whose length is not a whole number of bytes.
// Bits is the number of significant bits in the last byte of Bytes (1..8),
// counted from the most significant end; the unused low bits are zero.
// A BitBinary with Bits == 8 is the same term as the Binary Bytes.
type BitBinary struct {
	Bytes []byte
	Bits  uint8
}

// CharList is a proper list of Unicode code points held as UTF-8 text, the
// way Erlang's "abc" is the list [97,98,99]. It is the same term as the
// List of its runes as int64. On the wire it is STRING_EXT when every rune is
// at most 255 and there are at most 65535 of them, otherwise LIST_EXT.
type CharList string

// List is a proper list. An empty List (or nil) is the empty list [].
type List []Term

// ImproperList is a list whose tail is not the empty list, such as [a|b].
// Elems has at least one element and Tail is not an empty list.
type ImproperList struct {
	Elems []Term
	Tail  Term
}

// Tuple is an Erlang tuple.
type Tuple []Term

// Map is an Erlang map as a list of pairs. Keys are unique by Erlang's exact
// equality (see Equal). Encoders write the pairs in Erlang term order of the
// keys, which is what term_to_binary does for maps of up to 32 keys.
type Map []Pair

// Pair is a key and a value of a Map.
type Pair struct {
	Key, Value Term
}

// Get returns the value stored under key, compared with Equal.
func (m Map) Get(key Term) (Term, bool) {
	for _, p := range m {
		if Equal(p.Key, key) {
			return p.Value, true
		}
	}
	return nil, false
}

// Pid is an Erlang process identifier. It is comparable and may be used as a
// map key.
type Pid struct {
	Node     Atom
	ID       uint32
	Serial   uint32
	Creation uint32
}

// MaxRefWords is the largest number of ID words a reference has (OTP 24+
// with the V4_NC capability; alias references of OTP 27 use all five).
const MaxRefWords = 5

// Ref is an Erlang reference. It is comparable and may be used as a map key.
// Only the first Len words of ID are significant; the rest are zero.
type Ref struct {
	Node     Atom
	Creation uint32
	Len      uint8
	ID       [MaxRefWords]uint32
}

// Words returns the significant ID words of r.
func (r Ref) Words() []uint32 { return r.ID[:r.Len] }

// Port is an Erlang port identifier.
type Port struct {
	Node     Atom
	ID       uint64
	Creation uint32
}

// Export is an external fun, fun Module:Function/Arity.
type Export struct {
	Module   Atom
	Function Atom
	Arity    uint8
}

// Fun is a local fun (NEW_FUN_EXT). It cannot run outside the BEAM; it is
// kept as its encoded bytes so it can be passed back unchanged.
type Fun struct {
	// Raw is the encoding of the fun from its tag byte (112) to its end.
	Raw []byte
	// Module, Index, Uniq and Arity are read from Raw for display.
	Module Atom
	Index  uint32
	Uniq   uint32
	Arity  uint8
}

// Bool returns the atom true or false.
func Bool(b bool) Atom {
	if b {
		return True
	}
	return False
}

// Int returns the canonical integer term for a big integer: an int64 when it
// fits, a copy of v otherwise.
func Int(v *big.Int) Term {
	if v.IsInt64() {
		return v.Int64()
	}
	return new(big.Int).Set(v)
}
