package codec_test

import (
	"errors"
	"fmt"

	"github.com/distribute-go/distribute/codec"
)

func ExampleList() {
	c := codec.List(codec.Int)
	b, _ := codec.Encode(c, []int64{1, -1})
	fmt.Printf("% x\n", b)
	v, err := codec.Decode(c, b)
	fmt.Println(v, err)
	// Output:
	// 00 00 00 02 00 00 00 00 00 00 00 01 ff ff ff ff ff ff ff ff
	// [1 -1] <nil>
}

func ExampleStruct() {
	type Point struct {
		X, Y  float64
		Label string
	}
	// Field takes a function returning a pointer to the field: it reads
	// the field when encoding and sets it when decoding.
	point := codec.Struct(
		codec.Field("x", func(p *Point) *float64 { return &p.X }, codec.Float),
		codec.Field("y", func(p *Point) *float64 { return &p.Y }, codec.Float),
		codec.Field("label", func(p *Point) *string { return &p.Label }, codec.String),
	)
	b, _ := codec.Encode(point, Point{X: 1, Y: -2.5, Label: "a"})
	fmt.Printf("% x\n", b)
	p, _ := codec.Decode(point, b)
	fmt.Printf("%+v\n", p)
	// Output:
	// 3f f0 00 00 00 00 00 00 c0 04 00 00 00 00 00 00 00 00 00 01 61
	// {X:1 Y:-2.5 Label:a}
}

func ExampleTagged() {
	// The worked example of doc.go.
	type User struct {
		ID    int64
		Name  string
		Admin bool
	}
	user := codec.Struct(
		codec.Field("id", func(u *User) *int64 { return &u.ID }, codec.Int),
		codec.Field("name", func(u *User) *string { return &u.Name }, codec.String),
		codec.Field("admin", func(u *User) *bool { return &u.Admin }, codec.Bool),
	)
	v2 := codec.Tagged("user", 2, user)
	b, _ := codec.Encode(v2, User{ID: 42, Name: "ann", Admin: true})
	fmt.Printf("% x\n", b)

	// A receiver that expects version 3 of the same message is told it is
	// talking to an older sender, not that the message is wrong.
	v3 := codec.Tagged("user", 3, user)
	_, err := codec.Decode(v3, b)
	var vm *codec.VersionMismatchError
	fmt.Println(errors.Is(err, codec.ErrVersionMismatch), errors.As(err, &vm) && vm.Got == 2)

	// A receiver that expects another message altogether gets a tag
	// mismatch.
	_, err = codec.Decode(codec.Tagged("order", 1, user), b)
	fmt.Println(err)
	// Output:
	// 00 00 00 04 75 73 65 72 00 00 00 02 00 00 00 00 00 00 00 2a 00 00 00 03 61 6e 6e 01
	// true true
	// codec: decode tagged order at offset 4: codec: tag mismatch: want "order", got "user"
}

func ExampleParseEnvelope() {
	b, _ := codec.Encode(codec.Tagged("ping", 1, codec.String), "hi")
	tag, version, payload, _ := codec.ParseEnvelope(b)
	fmt.Println(tag, version)
	switch {
	case tag == "ping" && version == 1:
		s, err := codec.Decode(codec.String, payload)
		fmt.Println(s, err)
	}
	// Output:
	// ping 1
	// hi <nil>
}

type Command interface{ isCommand() }

type Increment struct{ By int64 }
type Rename struct{ To string }
type Reset struct{}

func (Increment) isCommand() {}
func (Rename) isCommand()    {}
func (Reset) isCommand()     {}

func ExampleVariants() {
	command := codec.Variants(
		codec.Case[Command](0, "increment", codec.Struct(
			codec.Field("by", func(i *Increment) *int64 { return &i.By }, codec.Int))),
		codec.Case[Command](1, "rename", codec.Struct(
			codec.Field("to", func(r *Rename) *string { return &r.To }, codec.String))),
		codec.Unit[Command](2, "reset", Reset{}),
	)
	for _, c := range []Command{Increment{By: 3}, Rename{To: "x"}, Reset{}} {
		b, _ := codec.Encode(command, c)
		back, _ := codec.Decode(command, b)
		fmt.Printf("% x -> %#v\n", b, back)
	}
	// Output:
	// 00 00 00 00 00 00 00 00 03 -> codec_test.Increment{By:3}
	// 01 00 00 00 01 78 -> codec_test.Rename{To:"x"}
	// 02 -> codec_test.Reset{}
}

func ExampleMap() {
	c := codec.Map(codec.String, codec.Bool)
	// Entries are sorted by encoded key, so equal maps encode equally.
	b, _ := codec.Encode(c, map[string]bool{"b": false, "a": true})
	fmt.Printf("% x\n", b)
	// Output:
	// 00 00 00 02 00 00 00 05 00 00 00 01 61 01 00 00 00 05 00 00 00 01 62 00
}

func ExampleOption() {
	c := codec.Option(codec.String)
	none, _ := codec.Encode(c, nil)
	name := "x"
	some, _ := codec.Encode(c, &name)
	fmt.Printf("% x | % x\n", none, some)
	// Output:
	// 00 | 01 00 00 00 01 78
}

func ExampleResult() {
	c := codec.Result(codec.Int, codec.String)
	ok, _ := codec.Encode(c, codec.Outcome[int64, string]{Ok: 1})
	bad, _ := codec.Encode(c, codec.Outcome[int64, string]{Err: "no", IsErr: true})
	fmt.Printf("% x | % x\n", ok, bad)
	// Output:
	// 00 00 00 00 00 00 00 00 01 | 01 00 00 00 02 6e 6f
}

func ExampleTuple2() {
	c := codec.Tuple2(codec.String, codec.Int)
	b, _ := codec.Encode(c, codec.Pair[string, int64]{First: "a", Second: 1})
	fmt.Printf("% x\n", b)
	// Output:
	// 00 00 00 05 00 00 00 01 61 00 00 00 00 00 00 00 01
}

func ExampleWithLimits() {
	// Accept lists of up to 100,000 elements instead of 10,000.
	big := codec.WithLimits(codec.List(codec.Bool), codec.Limits{MaxElements: 100_000})
	b, _ := codec.Encode(big, make([]bool, 20_000))
	_, err := codec.Decode(big, b)
	fmt.Println(err)
	_, err = codec.Decode(codec.List(codec.Bool), b)
	fmt.Println(errors.Is(err, codec.ErrTooLarge))
	// Output:
	// <nil>
	// true
}

func ExampleDecode() {
	_, err := codec.Decode(codec.Int, []byte{0, 0, 0, 0, 0, 0, 0, 1, 0xff})
	fmt.Println(err)
	// Output:
	// codec: decode int at offset 8: codec: trailing bytes: 1 left after the value
}
