package codec

import (
	"fmt"
	"math"
)

// Codec turns values of type T into bytes and back.
//
// Append appends the encoding of v to dst and returns the extended slice, in
// the manner of strconv.AppendInt. On error the returned slice is
// unspecified; callers keep their own dst.
//
// Decode reads one value from the front of src and returns it with the bytes
// that follow it (sized decoding); it never retains src unless the codec says
// so (see [BytesView]). Errors are [*DecodeError] values whose Offset counts
// from the start of src. Use the package-level [Decode] for a whole message:
// it rejects trailing bytes.
//
// The codecs of this package are immutable and safe for concurrent use.
type Codec[T any] interface {
	Append(dst []byte, v T) ([]byte, error)
	Decode(src []byte) (v T, rest []byte, err error)
}

// Default limits, as in the Gleam distribute library v4
// (max_decoded_list_elements and max_payload_size_bytes).
const (
	DefaultMaxElements = 10_000
	DefaultMaxBytes    = 4 << 20 // 4 MiB
)

// maxU32 is the largest length a u32 prefix can carry.
const maxU32 = math.MaxUint32

// Limits bound what one encode or decode may produce or accept. They apply on
// both sides, so a codec never emits bytes it would refuse to read.
type Limits struct {
	// MaxElements caps the element count of every List and Map.
	// Zero means DefaultMaxElements (10,000).
	MaxElements int
	// MaxBytes caps a whole message passed to Encode or Decode and every
	// u32 length prefix (string, bytes, tuple slices, envelope tag).
	// Zero means DefaultMaxBytes (4 MiB).
	MaxBytes int
}

// normalize replaces zero and negative fields by their defaults.
func (l Limits) normalize() Limits {
	if l.MaxElements <= 0 {
		l.MaxElements = DefaultMaxElements
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	return l
}

// defaultLimits is never modified.
var defaultLimits = Limits{}.normalize()

// appendFunc and decodeFunc are the non-generic-shaped cores every built-in
// codec is made of; the limits travel down the codec tree with each call.
type (
	appendFunc[T any] func(dst []byte, v T, l *Limits) ([]byte, error)
	decodeFunc[T any] func(src []byte, l *Limits) (T, []byte, error)
)

// limited is implemented by the codecs of this package: they accept the
// limits of an enclosing WithLimits. A Codec from elsewhere is called through
// its plain methods and uses its own limits.
type limited[T any] interface {
	appendL(dst []byte, v T, l *Limits) ([]byte, error)
	decodeL(src []byte, l *Limits) (T, []byte, error)
}

// codec is the one implementation of Codec in this package.
type codec[T any] struct {
	name string
	app  appendFunc[T]
	dec  decodeFunc[T]
	lim  *Limits // set by WithLimits; nil means the caller's (or default) limits
}

func (c *codec[T]) Append(dst []byte, v T) ([]byte, error) {
	return c.appendL(dst, v, &defaultLimits)
}

func (c *codec[T]) Decode(src []byte) (T, []byte, error) {
	return c.decodeL(src, &defaultLimits)
}

func (c *codec[T]) appendL(dst []byte, v T, l *Limits) ([]byte, error) {
	if c.lim != nil {
		l = c.lim
	}
	return c.app(dst, v, l)
}

func (c *codec[T]) decodeL(src []byte, l *Limits) (T, []byte, error) {
	if c.lim != nil {
		l = c.lim
	}
	return c.dec(src, l)
}

func (c *codec[T]) String() string { return "codec." + c.name }

// lower returns the limit-aware functions of c.
func lower[T any](c Codec[T]) (appendFunc[T], decodeFunc[T]) {
	if c == nil {
		panic("codec: nil Codec")
	}
	if lc, ok := c.(limited[T]); ok {
		return lc.appendL, lc.decodeL
	}
	return func(dst []byte, v T, _ *Limits) ([]byte, error) { return c.Append(dst, v) },
		func(src []byte, _ *Limits) (T, []byte, error) { return c.Decode(src) }
}

// nameOf names c in errors.
func nameOf[T any](c Codec[T]) string {
	if cc, ok := c.(*codec[T]); ok {
		return cc.name
	}
	return fmt.Sprintf("%T", c)
}

// limitsOf returns the limits c applies at top level.
func limitsOf[T any](c Codec[T]) *Limits {
	if cc, ok := c.(*codec[T]); ok && cc.lim != nil {
		return cc.lim
	}
	return &defaultLimits
}

// WithLimits returns c with limits l, which replace the default limits for c
// and every codec of this package nested inside it. Zero fields of l mean the
// defaults.
func WithLimits[T any](c Codec[T], l Limits) Codec[T] {
	app, dec := lower(c)
	nl := l.normalize()
	return &codec[T]{name: nameOf(c), app: app, dec: dec, lim: &nl}
}

// New makes a Codec from an append and a decode function, for types the
// combinators do not cover. decode must follow the Codec contract: read one
// value from the front of src and return the rest. Its errors should be fresh
// *DecodeError values with Offset relative to src: enclosing codecs adjust
// Offset and Codec in place to locate the failure in the whole message.
// A codec made by New does not see the limits of an enclosing WithLimits.
func New[T any](name string, appendFn func(dst []byte, v T) ([]byte, error), decodeFn func(src []byte) (T, []byte, error)) Codec[T] {
	if appendFn == nil || decodeFn == nil {
		panic("codec: New with a nil function")
	}
	return &codec[T]{
		name: name,
		app:  func(dst []byte, v T, _ *Limits) ([]byte, error) { return appendFn(dst, v) },
		dec:  func(src []byte, _ *Limits) (T, []byte, error) { return decodeFn(src) },
	}
}

// Convert adapts a Codec[A] to a Codec[B] with the same bytes: from turns a B
// into the A to encode, to turns a decoded A into a B and may reject it (its
// error is reported as a *DecodeError wrapping ErrInvalid).
func Convert[A, B any](c Codec[A], to func(A) (B, error), from func(B) A) Codec[B] {
	app, dec := lower(c)
	name := nameOf(c)
	return &codec[B]{
		name: name,
		app: func(dst []byte, v B, l *Limits) ([]byte, error) {
			return app(dst, from(v), l)
		},
		dec: func(src []byte, l *Limits) (B, []byte, error) {
			a, rest, err := dec(src, l)
			if err != nil {
				var zero B
				return zero, nil, err
			}
			b, err := to(a)
			if err != nil {
				var zero B
				return zero, nil, &DecodeError{Offset: 0, Codec: name, Err: fmt.Errorf("%w: %w", ErrInvalid, err)}
			}
			return b, rest, nil
		},
	}
}

// Encode returns the encoding of v as a new slice owned by the caller. The
// result may not exceed the MaxBytes limit of c.
func Encode[T any](c Codec[T], v T) ([]byte, error) {
	b, err := c.Append(nil, v)
	if err != nil {
		return nil, err
	}
	if max := limitsOf(c).MaxBytes; len(b) > max {
		return nil, encodeErr(nameOf(c), fmt.Errorf("%w: message of %d bytes exceeds %d", ErrTooLarge, len(b), max))
	}
	return b, nil
}

// Decode decodes exactly one value from b: bytes left after it are an error
// wrapping ErrTrailing, and b may not exceed the MaxBytes limit of c. The
// result does not alias b unless a codec inside c says so (see [BytesView]).
func Decode[T any](c Codec[T], b []byte) (T, error) {
	var zero T
	if max := limitsOf(c).MaxBytes; len(b) > max {
		return zero, &DecodeError{Offset: 0, Codec: nameOf(c), Err: fmt.Errorf("%w: message of %d bytes exceeds %d", ErrTooLarge, len(b), max)}
	}
	v, rest, err := c.Decode(b)
	if err != nil {
		return zero, err
	}
	if len(rest) != 0 {
		return zero, &DecodeError{Offset: len(b) - len(rest), Codec: nameOf(c), Err: fmt.Errorf("%w: %d left after the value", ErrTrailing, len(rest))}
	}
	return v, nil
}
