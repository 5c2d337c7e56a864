package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"
)

// Wire constants of the v4 format.
const (
	boolFalse = 0x00
	boolTrue  = 0x01

	optionNone = 0x00
	optionSome = 0x01

	resultOk    = 0x00
	resultError = 0x01

	intSize    = 8 // signed 64-bit, big-endian
	floatSize  = 8 // IEEE 754 binary64, big-endian
	prefixSize = 4 // u32 length or count, big-endian
)

// The primitive codecs. They hold no state; they are variables so that they
// read like values (codec.List(codec.Int)). Do not reassign them.
var (
	// Int is a signed 64-bit integer, 8 bytes big-endian.
	Int Codec[int64] = &codec[int64]{name: "int", app: appendInt, dec: decodeInt}
	// Float is an IEEE 754 binary64, 8 bytes big-endian. NaN and ±Inf
	// are rejected both ways: a BEAM float cannot hold them.
	Float Codec[float64] = &codec[float64]{name: "float", app: appendFloat, dec: decodeFloat}
	// String is a u32 byte length then UTF-8. Invalid UTF-8 is rejected
	// both ways. Decoding copies (a Go string is immutable).
	String Codec[string] = &codec[string]{name: "string", app: appendString, dec: decodeString}
	// Bool is one byte, 0x00 false or 0x01 true; other bytes are rejected.
	Bool Codec[bool] = &codec[bool]{name: "bool", app: appendBool, dec: decodeBool}
	// Bytes is a u32 length then the raw bytes. Decoding copies: the
	// result never aliases the input. See BytesView for the zero-copy form.
	Bytes Codec[[]byte] = &codec[[]byte]{name: "bytes", app: appendBytes, dec: decodeBytesCopy}
	// BytesView is Bytes without the copy: the decoded slice aliases the
	// input (with its capacity clipped), so it is valid only as long as
	// the input is and must not be modified. Same bytes on the wire.
	BytesView Codec[[]byte] = &codec[[]byte]{name: "bytes", app: appendBytes, dec: decodeBytesView}
	// Nil is Gleam's Nil: zero bytes on the wire.
	Nil Codec[struct{}] = &codec[struct{}]{name: "nil", app: appendNil, dec: decodeNil}
)

func appendInt(dst []byte, v int64, _ *Limits) ([]byte, error) {
	return binary.BigEndian.AppendUint64(dst, uint64(v)), nil
}

func decodeInt(src []byte, _ *Limits) (int64, []byte, error) {
	if len(src) < intSize {
		return 0, nil, decodeErr(0, "int", ErrTruncated, "need %d bytes, have %d", intSize, len(src))
	}
	return int64(binary.BigEndian.Uint64(src)), src[intSize:], nil
}

func appendFloat(dst []byte, v float64, _ *Limits) ([]byte, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return dst, encodeErr("float", fmt.Errorf("%w: %v is not a finite float", ErrInvalid, v))
	}
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(v)), nil
}

func decodeFloat(src []byte, _ *Limits) (float64, []byte, error) {
	if len(src) < floatSize {
		return 0, nil, decodeErr(0, "float", ErrTruncated, "need %d bytes, have %d", floatSize, len(src))
	}
	f := math.Float64frombits(binary.BigEndian.Uint64(src))
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, nil, decodeErr(0, "float", ErrInvalid, "%v is not a finite float", f)
	}
	return f, src[floatSize:], nil
}

func appendBool(dst []byte, v bool, _ *Limits) ([]byte, error) {
	if v {
		return append(dst, boolTrue), nil
	}
	return append(dst, boolFalse), nil
}

func decodeBool(src []byte, _ *Limits) (bool, []byte, error) {
	if len(src) < 1 {
		return false, nil, decodeErr(0, "bool", ErrTruncated, "")
	}
	switch src[0] {
	case boolFalse:
		return false, src[1:], nil
	case boolTrue:
		return true, src[1:], nil
	}
	return false, nil, decodeErr(0, "bool", ErrInvalid, "byte 0x%02x is not 0x00 or 0x01", src[0])
}

func appendNil(dst []byte, _ struct{}, _ *Limits) ([]byte, error) { return dst, nil }

func decodeNil(src []byte, _ *Limits) (struct{}, []byte, error) { return struct{}{}, src, nil }

// appendPrefix appends n as a u32 length prefix after checking it against
// the u32 range and l.MaxBytes.
func appendPrefix(dst []byte, n int, l *Limits, name string) ([]byte, error) {
	if n > maxU32 || n > l.MaxBytes {
		return dst, encodeErr(name, fmt.Errorf("%w: length %d exceeds %d", ErrTooLarge, n, min(maxU32, l.MaxBytes)))
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n)), nil
}

// readSlice reads a u32 length prefix and the bytes it announces, checking
// the length against l.MaxBytes and the input before anything is allocated.
func readSlice(src []byte, l *Limits, name string) (body, rest []byte, err error) {
	if len(src) < prefixSize {
		return nil, nil, decodeErr(0, name, ErrTruncated, "need a %d-byte length prefix, have %d bytes", prefixSize, len(src))
	}
	n := uint64(binary.BigEndian.Uint32(src))
	if n > uint64(l.MaxBytes) {
		return nil, nil, decodeErr(0, name, ErrTooLarge, "length %d exceeds %d", n, l.MaxBytes)
	}
	if n > uint64(len(src)-prefixSize) {
		return nil, nil, decodeErr(prefixSize, name, ErrTruncated, "length %d, have %d bytes", n, len(src)-prefixSize)
	}
	end := prefixSize + int(n)
	return src[prefixSize:end:end], src[end:], nil
}

func appendString(dst []byte, v string, l *Limits) ([]byte, error) {
	if !utf8.ValidString(v) {
		return dst, encodeErr("string", fmt.Errorf("%w: invalid UTF-8", ErrInvalid))
	}
	dst, err := appendPrefix(dst, len(v), l, "string")
	if err != nil {
		return dst, err
	}
	return append(dst, v...), nil
}

func decodeString(src []byte, l *Limits) (string, []byte, error) {
	body, rest, err := readSlice(src, l, "string")
	if err != nil {
		return "", nil, err
	}
	if !utf8.Valid(body) {
		return "", nil, decodeErr(prefixSize, "string", ErrInvalid, "invalid UTF-8")
	}
	return string(body), rest, nil
}

func appendBytes(dst []byte, v []byte, l *Limits) ([]byte, error) {
	dst, err := appendPrefix(dst, len(v), l, "bytes")
	if err != nil {
		return dst, err
	}
	return append(dst, v...), nil
}

func decodeBytesCopy(src []byte, l *Limits) ([]byte, []byte, error) {
	body, rest, err := readSlice(src, l, "bytes")
	if err != nil {
		return nil, nil, err
	}
	return append([]byte{}, body...), rest, nil
}

func decodeBytesView(src []byte, l *Limits) ([]byte, []byte, error) {
	return readSlice(src, l, "bytes")
}
