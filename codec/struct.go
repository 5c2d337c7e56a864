package codec

// StructField is one field of a Struct codec; make it with Field.
type StructField[S any] interface {
	fieldName() string
	appendField(dst []byte, s *S, l *Limits) ([]byte, error)
	decodeField(src []byte, s *S, l *Limits) ([]byte, error)
}

type field[S, F any] struct {
	name string
	ref  func(*S) *F
	app  appendFunc[F]
	dec  decodeFunc[F]
}

func (f *field[S, F]) fieldName() string { return f.name }

func (f *field[S, F]) appendField(dst []byte, s *S, l *Limits) ([]byte, error) {
	return f.app(dst, *f.ref(s), l)
}

func (f *field[S, F]) decodeField(src []byte, s *S, l *Limits) ([]byte, error) {
	v, rest, err := f.dec(src, l)
	if err != nil {
		return nil, err
	}
	*f.ref(s) = v
	return rest, nil
}

// Field describes one field of a struct S: its name (used in errors only,
// it is not on the wire), a function that returns a pointer to the field
// inside an S (used both to read it when encoding and to set it when
// decoding), and the field's codec.
//
//	codec.Field("name", func(u *User) *string { return &u.Name }, codec.String)
func Field[S, F any](name string, ref func(*S) *F, c Codec[F]) StructField[S] {
	if ref == nil {
		panic("codec: Field " + name + " with a nil ref")
	}
	app, dec := lower(c)
	return &field[S, F]{name: name, ref: ref, app: app, dec: dec}
}

// Struct encodes the fields of S one after the other in the given order,
// with no names, counts or prefixes between them: the layout of a Gleam
// record encoded field by field. Adding, removing or reordering fields
// changes the format; put the struct in a Tagged envelope and bump its
// version when you do. Fields of S not listed are left zero on decode.
func Struct[S any](fields ...StructField[S]) Codec[S] {
	fs := append([]StructField[S](nil), fields...)
	for i, f := range fs {
		if f == nil {
			panic("codec: Struct with a nil field")
		}
		for _, g := range fs[:i] {
			if g.fieldName() == f.fieldName() {
				panic("codec: Struct with two fields named " + f.fieldName())
			}
		}
	}
	return &codec[S]{
		name: "struct",
		app: func(dst []byte, v S, l *Limits) ([]byte, error) {
			var err error
			for _, f := range fs {
				if dst, err = f.appendField(dst, &v, l); err != nil {
					return dst, err
				}
			}
			return dst, nil
		},
		dec: func(src []byte, l *Limits) (S, []byte, error) {
			var s S
			rest := src
			var err error
			for _, f := range fs {
				at := len(src) - len(rest)
				if rest, err = f.decodeField(rest, &s, l); err != nil {
					var zero S
					if de, ok := err.(*DecodeError); ok {
						de.Codec = "struct field " + f.fieldName() + ": " + de.Codec
					}
					return zero, nil, shift(err, at, "struct field "+f.fieldName())
				}
			}
			return s, rest, nil
		},
	}
}
