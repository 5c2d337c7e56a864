package etf

import (
	"errors"
	"fmt"
)

// Sentinel errors. Decode failures are *DecodeError values and encode
// failures are *EncodeError values that wrap one of these; test for them
// with errors.Is.
var (
	// ErrTruncated: the input ends in the middle of a term.
	ErrTruncated = errors.New("etf: truncated term")
	// ErrBadVersion: the input does not start with the version byte 131.
	ErrBadVersion = errors.New("etf: missing version byte 131")
	// ErrUnknownTag: a tag byte that is not part of the External Term Format.
	ErrUnknownTag = errors.New("etf: unknown tag")
	// ErrUnsupported: a tag this package deliberately refuses (FUN_EXT 117,
	// LOCAL_EXT 121, ATOM_CACHE_REF 82 outside distribution header mode),
	// or a Go value that cannot be encoded (every *EncodeError matches it).
	ErrUnsupported = errors.New("etf: unsupported")
	// ErrInvalid: a structurally wrong term (bad UTF-8 in an atom, a
	// non-finite float, a duplicate map key, inconsistent sizes…).
	ErrInvalid = errors.New("etf: invalid term")
	// ErrTooDeep: nesting beyond Limits.MaxDepth.
	ErrTooDeep = errors.New("etf: term nested too deeply")
	// ErrTooLarge: a term beyond Limits.MaxSize, or a length that does not
	// fit the wire format when encoding.
	ErrTooLarge = errors.New("etf: term too large")
	// ErrAtomBudget: more atoms than Limits.MaxAtoms.
	ErrAtomBudget = errors.New("etf: atom budget exceeded")
	// ErrCompressed: a compressed term (tag 80) given to a Decoder without
	// Decoder.Compressed, as on a distribution connection.
	ErrCompressed = errors.New("etf: compressed term refused")
	// ErrTrailingData: bytes left after the term where none were expected.
	ErrTrailingData = errors.New("etf: trailing data after term")
	// ErrNotBinary: DecodeBinary found a term that is not a binary.
	ErrNotBinary = errors.New("etf: term is not a binary")
)

// DecodeError describes why a term could not be decoded.
type DecodeError struct {
	// Offset is the position in the input of the tag byte of the term that
	// failed (for a compressed term, inside its uncompressed bytes).
	Offset int
	// Tag is the tag byte of that term (0 when the input ended before it).
	Tag byte
	// Err is one of the package's sentinel errors, possibly wrapped with
	// detail.
	Err error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("etf: decode at offset %d (tag %d): %v", e.Offset, e.Tag, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// EncodeError describes a Go value that cannot be encoded. Every
// EncodeError matches ErrUnsupported; most also match the reason: ErrInvalid
// (an atom that is not valid UTF-8 or longer than 255 characters, a bad
// BitBinary, a duplicate map key, a nil *big.Int, a malformed Fun.Raw),
// ErrTooLarge (a length beyond 32 bits) or ErrTooDeep (a cyclic or absurdly
// deep value). NaN, infinities and Go types with no Erlang term match only
// ErrUnsupported.
type EncodeError struct {
	// Type is the Go type of the offending value, as printed by %T.
	Type string
	// Err wraps ErrUnsupported and the reason, with detail.
	Err error
}

func (e *EncodeError) Error() string {
	return fmt.Sprintf("etf: cannot encode %s: %v", e.Type, e.Err)
}

func (e *EncodeError) Unwrap() error { return e.Err }

// encodeErr builds an *EncodeError for v that matches ErrUnsupported and,
// when it is another sentinel, reason.
func encodeErr(v any, reason error, detail string) error {
	var err error
	switch {
	case reason == ErrUnsupported && detail != "":
		err = fmt.Errorf("%w: %s", ErrUnsupported, detail)
	case reason == ErrUnsupported:
		err = ErrUnsupported
	case detail != "":
		err = fmt.Errorf("%w (%w): %s", reason, ErrUnsupported, detail)
	default:
		err = fmt.Errorf("%w (%w)", reason, ErrUnsupported)
	}
	return &EncodeError{Type: fmt.Sprintf("%T", v), Err: err}
}
