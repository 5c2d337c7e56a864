package codec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
)

// List encodes a slice as a u32 element count followed by the elements, with
// no per-element prefix. The count may not exceed Limits.MaxElements on
// either side. A decoded list is never nil.
func List[T any](elem Codec[T]) Codec[[]T] {
	app, dec := lower(elem)
	name := "list"
	return &codec[[]T]{
		name: name,
		app: func(dst []byte, v []T, l *Limits) ([]byte, error) {
			if len(v) > l.MaxElements {
				return dst, encodeErr(name, fmt.Errorf("%w: %d elements exceed %d", ErrTooLarge, len(v), l.MaxElements))
			}
			dst = binary.BigEndian.AppendUint32(dst, uint32(len(v)))
			var err error
			for i := range v {
				if dst, err = app(dst, v[i], l); err != nil {
					return dst, err
				}
			}
			return dst, nil
		},
		dec: func(src []byte, l *Limits) ([]T, []byte, error) {
			n, rest, err := readCount(src, l, name)
			if err != nil {
				return nil, nil, err
			}
			// Each element takes at least zero bytes, so the count alone
			// cannot justify memory: grow from what the input can hold.
			out := make([]T, 0, min(n, len(rest)))
			for range n {
				var v T
				at := len(src) - len(rest)
				if v, rest, err = dec(rest, l); err != nil {
					return nil, nil, shift(err, at, name)
				}
				out = append(out, v)
			}
			return out, rest, nil
		},
	}
}

// readCount reads a u32 element count and checks it against l.MaxElements.
func readCount(src []byte, l *Limits, name string) (int, []byte, error) {
	if len(src) < prefixSize {
		return 0, nil, decodeErr(0, name, ErrTruncated, "need a %d-byte count, have %d bytes", prefixSize, len(src))
	}
	n := uint64(binary.BigEndian.Uint32(src))
	if n > uint64(l.MaxElements) {
		return 0, nil, decodeErr(0, name, ErrTooLarge, "%d elements exceed %d", n, l.MaxElements)
	}
	return int(n), src[prefixSize:], nil
}

// Option encodes a *T: nil as 0x00, non-nil as 0x01 then the value.
// Decoding a present value allocates the T it points to.
func Option[T any](c Codec[T]) Codec[*T] {
	app, dec := lower(c)
	name := "option"
	return &codec[*T]{
		name: name,
		app: func(dst []byte, v *T, l *Limits) ([]byte, error) {
			if v == nil {
				return append(dst, optionNone), nil
			}
			return app(append(dst, optionSome), *v, l)
		},
		dec: func(src []byte, l *Limits) (*T, []byte, error) {
			if len(src) < 1 {
				return nil, nil, decodeErr(0, name, ErrTruncated, "")
			}
			switch src[0] {
			case optionNone:
				return nil, src[1:], nil
			case optionSome:
				v, rest, err := dec(src[1:], l)
				if err != nil {
					return nil, nil, shift(err, 1, name)
				}
				return &v, rest, nil
			}
			return nil, nil, decodeErr(0, name, ErrInvalid, "byte 0x%02x is not 0x00 or 0x01", src[0])
		},
	}
}

// Outcome is the Go form of Gleam's Result(t, e): Ok when IsErr is false,
// Err when it is true; the other field is ignored.
type Outcome[T, E any] struct {
	Ok    T
	Err   E
	IsErr bool
}

// Result encodes an Outcome: 0x00 then the ok value, or 0x01 then the error
// value.
func Result[T, E any](ok Codec[T], fail Codec[E]) Codec[Outcome[T, E]] {
	okApp, okDec := lower(ok)
	errApp, errDec := lower(fail)
	name := "result"
	return &codec[Outcome[T, E]]{
		name: name,
		app: func(dst []byte, v Outcome[T, E], l *Limits) ([]byte, error) {
			if v.IsErr {
				return errApp(append(dst, resultError), v.Err, l)
			}
			return okApp(append(dst, resultOk), v.Ok, l)
		},
		dec: func(src []byte, l *Limits) (Outcome[T, E], []byte, error) {
			var o Outcome[T, E]
			if len(src) < 1 {
				return o, nil, decodeErr(0, name, ErrTruncated, "")
			}
			var rest []byte
			var err error
			switch src[0] {
			case resultOk:
				o.Ok, rest, err = okDec(src[1:], l)
			case resultError:
				o.IsErr = true
				o.Err, rest, err = errDec(src[1:], l)
			default:
				return o, nil, decodeErr(0, name, ErrInvalid, "byte 0x%02x is not 0x00 or 0x01", src[0])
			}
			if err != nil {
				return Outcome[T, E]{}, nil, shift(err, 1, name)
			}
			return o, rest, nil
		},
	}
}

// Pair is a 2-tuple.
type Pair[A, B any] struct {
	First  A
	Second B
}

// Triple is a 3-tuple.
type Triple[A, B, C any] struct {
	First  A
	Second B
	Third  C
}

// appendFramed appends a u32 length, then v encoded by app, patching the
// length in afterwards.
func appendFramed[T any](dst []byte, v T, l *Limits, app appendFunc[T], name string) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst, err := app(dst, v, l)
	if err != nil {
		return dst, err
	}
	n := len(dst) - start - prefixSize
	if n > maxU32 || n > l.MaxBytes {
		return dst, encodeErr(name, fmt.Errorf("%w: element of %d bytes exceeds %d", ErrTooLarge, n, min(maxU32, l.MaxBytes)))
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(n))
	return dst, nil
}

// decodeFramed reads a u32 length and decodes exactly one value from the
// bytes it announces: bytes left inside the frame are ErrTrailing.
func decodeFramed[T any](src []byte, l *Limits, dec decodeFunc[T], name string) (T, []byte, error) {
	var zero T
	body, rest, err := readSlice(src, l, name)
	if err != nil {
		return zero, nil, err
	}
	v, left, err := dec(body, l)
	if err != nil {
		return zero, nil, shift(err, prefixSize, name)
	}
	if len(left) != 0 {
		return zero, nil, decodeErr(prefixSize+len(body)-len(left), name, ErrTrailing, "%d bytes left inside a length-prefixed element", len(left))
	}
	return v, rest, nil
}

// Tuple2 encodes a Pair as u32 len(first), first, second. Only the first
// element is framed, as in the v4 format.
func Tuple2[A, B any](a Codec[A], b Codec[B]) Codec[Pair[A, B]] {
	aApp, aDec := lower(a)
	bApp, bDec := lower(b)
	name := "tuple2"
	return &codec[Pair[A, B]]{
		name: name,
		app: func(dst []byte, v Pair[A, B], l *Limits) ([]byte, error) {
			dst, err := appendFramed(dst, v.First, l, aApp, name)
			if err != nil {
				return dst, err
			}
			return bApp(dst, v.Second, l)
		},
		dec: func(src []byte, l *Limits) (Pair[A, B], []byte, error) {
			var p Pair[A, B]
			var rest []byte
			var err error
			if p.First, rest, err = decodeFramed(src, l, aDec, name); err != nil {
				return Pair[A, B]{}, nil, err
			}
			at := len(src) - len(rest)
			if p.Second, rest, err = bDec(rest, l); err != nil {
				return Pair[A, B]{}, nil, shift(err, at, name)
			}
			return p, rest, nil
		},
	}
}

// Tuple3 encodes a Triple as u32 len(first), first, u32 len(second),
// second, third.
func Tuple3[A, B, C any](a Codec[A], b Codec[B], c Codec[C]) Codec[Triple[A, B, C]] {
	aApp, aDec := lower(a)
	bApp, bDec := lower(b)
	cApp, cDec := lower(c)
	name := "tuple3"
	return &codec[Triple[A, B, C]]{
		name: name,
		app: func(dst []byte, v Triple[A, B, C], l *Limits) ([]byte, error) {
			dst, err := appendFramed(dst, v.First, l, aApp, name)
			if err != nil {
				return dst, err
			}
			if dst, err = appendFramed(dst, v.Second, l, bApp, name); err != nil {
				return dst, err
			}
			return cApp(dst, v.Third, l)
		},
		dec: func(src []byte, l *Limits) (Triple[A, B, C], []byte, error) {
			var t Triple[A, B, C]
			var rest []byte
			var err error
			if t.First, rest, err = decodeFramed(src, l, aDec, name); err != nil {
				return Triple[A, B, C]{}, nil, err
			}
			at := len(src) - len(rest)
			if t.Second, rest, err = decodeFramed(rest, l, bDec, name); err != nil {
				return Triple[A, B, C]{}, nil, shift(err, at, name)
			}
			at = len(src) - len(rest)
			if t.Third, rest, err = cDec(rest, l); err != nil {
				return Triple[A, B, C]{}, nil, shift(err, at, name)
			}
			return t, rest, nil
		},
	}
}

// Map encodes a Go map as a list of 2-tuples: a u32 entry count, then for
// each entry u32 len(key), key, value (Tuple2 layout), so a Gleam peer reads
// it with list(tuple2(k, v)) and dict.from_list. The v4 library has no dict
// codec of its own; this is that list form.
//
// Encoding is deterministic: entries are sorted by their encoded key bytes
// (bytes.Compare). Decoding accepts any order but rejects a key that occurs
// twice (ErrInvalid), since a map would silently keep only one. The count may
// not exceed Limits.MaxElements.
func Map[K comparable, V any](k Codec[K], v Codec[V]) Codec[map[K]V] {
	kApp, kDec := lower(k)
	vApp, vDec := lower(v)
	name := "map"
	return &codec[map[K]V]{
		name: name,
		app: func(dst []byte, m map[K]V, l *Limits) ([]byte, error) {
			if len(m) > l.MaxElements {
				return dst, encodeErr(name, fmt.Errorf("%w: %d entries exceed %d", ErrTooLarge, len(m), l.MaxElements))
			}
			dst = binary.BigEndian.AppendUint32(dst, uint32(len(m)))
			if len(m) == 0 {
				return dst, nil
			}
			// Encode every entry into one scratch buffer, then copy them out
			// in key order.
			type entry struct{ start, keyEnd, end int }
			var (
				buf     []byte
				entries = make([]entry, 0, len(m))
				err     error
			)
			for key, val := range m {
				e := entry{start: len(buf)}
				if buf, err = appendFramed(buf, key, l, kApp, name); err != nil {
					return dst, err
				}
				e.keyEnd = len(buf)
				if buf, err = vApp(buf, val, l); err != nil {
					return dst, err
				}
				e.end = len(buf)
				entries = append(entries, e)
			}
			slices.SortFunc(entries, func(x, y entry) int {
				return bytes.Compare(buf[x.start+prefixSize:x.keyEnd], buf[y.start+prefixSize:y.keyEnd])
			})
			for i, e := range entries {
				if i > 0 {
					p := entries[i-1]
					if bytes.Equal(buf[p.start:p.keyEnd], buf[e.start:e.keyEnd]) {
						return dst, encodeErr(name, fmt.Errorf("%w: two keys encode to the same bytes", ErrInvalid))
					}
				}
				dst = append(dst, buf[e.start:e.end]...)
			}
			return dst, nil
		},
		dec: func(src []byte, l *Limits) (map[K]V, []byte, error) {
			n, rest, err := readCount(src, l, name)
			if err != nil {
				return nil, nil, err
			}
			// Every entry carries at least its 4-byte key prefix.
			out := make(map[K]V, min(n, len(rest)/prefixSize))
			for range n {
				at := len(src) - len(rest)
				var key K
				if key, rest, err = decodeFramed(rest, l, kDec, name); err != nil {
					return nil, nil, shift(err, at, name)
				}
				if _, dup := out[key]; dup {
					return nil, nil, decodeErr(at, name, ErrInvalid, "duplicate key")
				}
				vat := len(src) - len(rest)
				var val V
				if val, rest, err = vDec(rest, l); err != nil {
					return nil, nil, shift(err, vat, name)
				}
				out[key] = val
			}
			return out, rest, nil
		},
	}
}
