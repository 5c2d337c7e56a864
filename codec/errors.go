package codec

import (
	"errors"
	"fmt"
)

// Sentinel errors. Decode failures are *DecodeError values that wrap one of
// them, so callers branch with errors.Is.
var (
	// ErrTruncated: the input ends before the value does.
	ErrTruncated = errors.New("codec: truncated input")
	// ErrTrailing: bytes are left after a top-level value, or inside a
	// length-prefixed slice after the value it holds.
	ErrTrailing = errors.New("codec: trailing bytes")
	// ErrInvalid: bytes or a value the format does not allow: invalid
	// UTF-8, a bool byte other than 0 or 1, a NaN or infinite float, an
	// unknown option/result/variant byte, a duplicate map key.
	ErrInvalid = errors.New("codec: invalid value")
	// ErrTooLarge: a count or size beyond the Limits, or beyond the
	// u32 range of a length prefix.
	ErrTooLarge = errors.New("codec: too large")
	// ErrTagMismatch: an envelope carries another tag (a different
	// message). Matched by errors.Is on a *TagMismatchError.
	ErrTagMismatch = errors.New("codec: tag mismatch")
	// ErrVersionMismatch: an envelope carries the expected tag with
	// another version (an older or newer sender). Matched by errors.Is on
	// a *VersionMismatchError.
	ErrVersionMismatch = errors.New("codec: version mismatch")
)

// DecodeError reports where and in which codec decoding failed.
type DecodeError struct {
	Offset int    // byte offset from the start of the input given to Decode
	Codec  string // the innermost codec that failed, e.g. "string" or "struct field name"
	Err    error  // wraps a sentinel, a *TagMismatchError or a *VersionMismatchError
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("codec: decode %s at offset %d: %v", e.Codec, e.Offset, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// TagMismatchError reports an envelope whose tag is not the expected one.
type TagMismatchError struct {
	Want, Got string
}

func (e *TagMismatchError) Error() string {
	return fmt.Sprintf("codec: tag mismatch: want %q, got %q", e.Want, e.Got)
}

// Is reports whether target is ErrTagMismatch.
func (e *TagMismatchError) Is(target error) bool { return target == ErrTagMismatch }

// VersionMismatchError reports an envelope with the expected tag but another
// version.
type VersionMismatchError struct {
	Tag       string
	Want, Got uint32
}

func (e *VersionMismatchError) Error() string {
	return fmt.Sprintf("codec: version mismatch for tag %q: want %d, got %d", e.Tag, e.Want, e.Got)
}

// Is reports whether target is ErrVersionMismatch.
func (e *VersionMismatchError) Is(target error) bool { return target == ErrVersionMismatch }

// decodeErr builds a *DecodeError wrapping sentinel with a detail.
func decodeErr(off int, name string, sentinel error, format string, args ...any) error {
	if format == "" {
		return &DecodeError{Offset: off, Codec: name, Err: sentinel}
	}
	return &DecodeError{Offset: off, Codec: name, Err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)}
}

// shift moves a child's error to the parent's coordinates: the child's input
// started by bytes into the parent's. Errors from foreign codecs are wrapped.
func shift(err error, by int, name string) error {
	if de, ok := err.(*DecodeError); ok {
		de.Offset += by
		return de
	}
	return &DecodeError{Offset: by, Codec: name, Err: err}
}

// encodeErr wraps an encoding failure.
func encodeErr(name string, err error) error {
	return fmt.Errorf("codec: encode %s: %w", name, err)
}
