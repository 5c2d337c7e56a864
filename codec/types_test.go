package codec_test

import (
	"github.com/distribute-go/distribute/codec"
)

// User is the struct of the golden tests and of the doc.go example.
type User struct {
	ID    int64
	Name  string
	Admin bool
}

var userCodec = codec.Struct(
	codec.Field("id", func(u *User) *int64 { return &u.ID }, codec.Int),
	codec.Field("name", func(u *User) *string { return &u.Name }, codec.String),
	codec.Field("admin", func(u *User) *bool { return &u.Admin }, codec.Bool),
)

// Shape is a sum type for the variant tests.
type Shape interface{ area() float64 }

type Circle struct{ R float64 }

type Rect struct{ W, H float64 }

type Empty struct{}

func (c Circle) area() float64 { return 3 * c.R * c.R }
func (r Rect) area() float64   { return r.W * r.H }
func (Empty) area() float64    { return 0 }

var shapeCodec = codec.Variants(
	codec.Case[Shape](0, "circle", codec.Struct(
		codec.Field("r", func(c *Circle) *float64 { return &c.R }, codec.Float),
	)),
	codec.Case[Shape](1, "rect", codec.Struct(
		codec.Field("w", func(r *Rect) *float64 { return &r.W }, codec.Float),
		codec.Field("h", func(r *Rect) *float64 { return &r.H }, codec.Float),
	)),
	codec.Unit[Shape](2, "empty", Empty{}),
)

// Ten is the 10-field struct of the benchmarks and fuzz targets.
type Ten struct {
	A, B, C int64
	D, E    string
	F, G    bool
	H       float64
	I       []byte
	J       []int64
}

var tenCodec = codec.Struct(
	codec.Field("a", func(t *Ten) *int64 { return &t.A }, codec.Int),
	codec.Field("b", func(t *Ten) *int64 { return &t.B }, codec.Int),
	codec.Field("c", func(t *Ten) *int64 { return &t.C }, codec.Int),
	codec.Field("d", func(t *Ten) *string { return &t.D }, codec.String),
	codec.Field("e", func(t *Ten) *string { return &t.E }, codec.String),
	codec.Field("f", func(t *Ten) *bool { return &t.F }, codec.Bool),
	codec.Field("g", func(t *Ten) *bool { return &t.G }, codec.Bool),
	codec.Field("h", func(t *Ten) *float64 { return &t.H }, codec.Float),
	codec.Field("i", func(t *Ten) *[]byte { return &t.I }, codec.Bytes),
	codec.Field("j", func(t *Ten) *[]int64 { return &t.J }, codec.List(codec.Int)),
)

var tenValue = Ten{
	A: 1, B: -2, C: 1 << 40,
	D: "hello", E: "wörld",
	F: true, G: false,
	H: 3.25,
	I: []byte{1, 2, 3},
	J: []int64{4, 5, 6},
}
