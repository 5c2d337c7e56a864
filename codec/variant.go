package codec

import "fmt"

// VariantCase is one case of a Variants codec; make it with Case or Unit.
type VariantCase[T any] struct {
	id   byte
	name string
	// match reports whether v belongs to this case; app encodes the
	// payload; dec decodes the payload into a T.
	match func(v T) bool
	app   func(dst []byte, v T, l *Limits) ([]byte, error)
	dec   func(src []byte, l *Limits) (T, []byte, error)
}

// Case is the variant of T whose values have the dynamic type V: typically T
// is an interface (a sum type) and V one of the types implementing it. On the
// wire it is the one-byte id then the payload encoded by c. Encoding picks the
// first case, in the order given to Variants, whose V the value has. V must
// be a concrete (non-interface) type; Case panics if it does not implement T.
func Case[T, V any](id byte, name string, c Codec[V]) VariantCase[T] {
	var zero V
	if _, ok := any(zero).(T); !ok {
		var t T
		panic(fmt.Sprintf("codec: Case %s: %T does not implement %T", name, zero, &t))
	}
	app, dec := lower(c)
	return VariantCase[T]{
		id:   id,
		name: name,
		match: func(v T) bool {
			_, ok := any(v).(V)
			return ok
		},
		app: func(dst []byte, v T, l *Limits) ([]byte, error) {
			return app(dst, any(v).(V), l)
		},
		dec: func(src []byte, l *Limits) (T, []byte, error) {
			p, rest, err := dec(src, l)
			if err != nil {
				var zero T
				return zero, nil, err
			}
			return any(p).(T), rest, nil
		},
	}
}

// Unit is a variant with no payload: only the one-byte id is on the wire. It
// matches values equal (==) to value, which must be of a comparable dynamic
// type; decoding yields value.
func Unit[T any](id byte, name string, value T) VariantCase[T] {
	if !isComparable(value) {
		panic(fmt.Sprintf("codec: Unit %s: value of type %T is not comparable", name, value))
	}
	return VariantCase[T]{
		id:    id,
		name:  name,
		match: func(v T) bool { return any(v) == any(value) },
		app:   func(dst []byte, _ T, _ *Limits) ([]byte, error) { return dst, nil },
		dec:   func(src []byte, _ *Limits) (T, []byte, error) { return value, src, nil },
	}
}

// isComparable reports whether v can be compared with ==: comparing an
// uncomparable dynamic type with itself panics.
func isComparable(v any) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return v == v
}

// Variants encodes a sum type as a one-byte variant id followed by the
// payload of that variant (the layout of a Gleam custom type built with the
// v4 variant builder). Ids and names must be unique; Variants panics
// otherwise. Decoding an id no case has is an error wrapping ErrInvalid;
// encoding a value no case matches is too.
func Variants[T any](cases ...VariantCase[T]) Codec[T] {
	var byID [256]*VariantCase[T]
	cs := append([]VariantCase[T](nil), cases...)
	for i := range cs {
		c := &cs[i]
		if c.match == nil {
			panic("codec: Variants with a zero VariantCase")
		}
		if byID[c.id] != nil {
			panic(fmt.Sprintf("codec: Variants: id %d used by %s and %s", c.id, byID[c.id].name, c.name))
		}
		for _, d := range cs[:i] {
			if d.name == c.name {
				panic("codec: Variants: two cases named " + c.name)
			}
		}
		byID[c.id] = c
	}
	name := "variant"
	return &codec[T]{
		name: name,
		app: func(dst []byte, v T, l *Limits) ([]byte, error) {
			for i := range cs {
				if c := &cs[i]; c.match(v) {
					return c.app(append(dst, c.id), v, l)
				}
			}
			return dst, encodeErr(name, fmt.Errorf("%w: no case for a %T", ErrInvalid, v))
		},
		dec: func(src []byte, l *Limits) (T, []byte, error) {
			var zero T
			if len(src) < 1 {
				return zero, nil, decodeErr(0, name, ErrTruncated, "")
			}
			c := byID[src[0]]
			if c == nil {
				return zero, nil, decodeErr(0, name, ErrInvalid, "unknown variant id %d", src[0])
			}
			v, rest, err := c.dec(src[1:], l)
			if err != nil {
				if de, ok := err.(*DecodeError); ok {
					de.Codec = "variant " + c.name + ": " + de.Codec
				}
				return zero, nil, shift(err, 1, "variant "+c.name)
			}
			return v, rest, nil
		},
	}
}
