// Package codec turns typed Go values into bytes and back, byte-compatible
// with the v4 wire format of the Gleam distribute library, so a Go node and
// a Gleam node exchange the same messages. Every message has a compile-time
// type: a Codec[T] encodes only T and decodes only into T, and every decode
// failure is an error, never a panic.
//
// # Using it
//
// Primitive codecs are values (Int, Float, String, Bool, Bytes, Nil);
// combinators build the rest (List, Option, Result, Map, Tuple2, Tuple3,
// Struct with Field, Variants with Case and Unit, Tagged). Encode and Decode
// work on whole messages; a Codec's own Append and Decode methods work on a
// prefix (sized decoding: the value plus the bytes after it), so you can
// write codecs of your own with New, or by implementing Codec, and mix them
// with these.
//
//	type User struct {
//		ID   int64
//		Name string
//	}
//	var userV2 = codec.Tagged("user", 2, codec.Struct(
//		codec.Field("id", func(u *User) *int64 { return &u.ID }, codec.Int),
//		codec.Field("name", func(u *User) *string { return &u.Name }, codec.String),
//	))
//	b, err := codec.Encode(userV2, User{ID: 1, Name: "ann"})
//	u, err := codec.Decode(userV2, b)
//
// The main types: Codec[T] (the interface every codec implements),
// Limits, the value types of the combinators (Pair, Triple, Outcome), the
// builders' parts (StructField via Field, VariantCase via Case and Unit),
// and the errors *DecodeError, *TagMismatchError and
// *VersionMismatchError.
//
// # From Gleam
//
// The Gleam library's codec modules map one to one, with the same bytes:
//
//	distribute/codec              string() int() float() bool() bitarray() nil() list(c)
//	                              String   Int   Float   Bool   Bytes      Nil   List(c)
//	                              subject()    gleam.SubjectCodec (package gleam)
//	                              map(c, wrap, unwrap)           Convert(c, to, from)
//	                              encode, decode                 Encode, Decode
//	                              sized decoders                 the Codec's Decode method
//	distribute/codec/composite    option result tuple2 tuple3    Option Result Tuple2 Tuple3
//	distribute/codec/tagged       tagged.codec(tag, version, c)  Tagged(tag, version, c)
//	                              TagMismatch, VersionMismatch   *TagMismatchError, *VersionMismatchError
//	distribute/codec/variant      new |> add |> unit |> build    Variants(Case(...), Unit(...))
//	a record, field by field      (hand-written in Gleam)        Struct(Field(...), ...)
//
// Option decodes to a *T (nil for None), Result to an Outcome, Tuple2 and
// Tuple3 to a Pair and a Triple. Map has no Gleam counterpart (see below).
//
// # Wire format
//
// All integers are big-endian. There are no type tags inside a message: the
// receiver's codec says what comes next, as in the Gleam library. u32 below
// is an unsigned 32-bit length or count.
//
//	Int         8 bytes, two's complement signed 64-bit
//	Float       8 bytes, IEEE 754 binary64; NaN and ±Inf are rejected both
//	            ways (a BEAM float cannot hold them)
//	String      u32 byte length, then that many bytes of UTF-8 (invalid UTF-8
//	            is rejected both ways)
//	Bytes       u32 byte length, then the raw bytes (Gleam BitArray)
//	Bool        1 byte: 0x00 false, 0x01 true; any other byte is rejected
//	Nil         0 bytes
//	List(e)     u32 element count, then the elements back to back, with no
//	            per-element prefix
//	Option(e)   0x00 (None), or 0x01 then the value (Some)
//	Result(o,e) 0x00 then the ok value, or 0x01 then the error value
//	Tuple2(a,b) u32 len(a), a, b
//	Tuple3(a,b,c)
//	            u32 len(a), a, u32 len(b), b, c
//	Struct      the fields in the order given to Struct, back to back, no
//	            names or prefixes (a Gleam record encoded field by field)
//	Variants    1-byte variant id, then that variant's payload
//	Tagged      u32 tag length, the UTF-8 tag, u32 version, then the payload
//	            (not length-prefixed: it runs to the end of the message, or
//	            as far as the payload codec reads when Tagged is nested)
//	Map(k,v)    the List(Tuple2(k, v)) form: u32 entry count, then per entry
//	            u32 len(key), key, value; entries sorted by encoded key bytes
//
// Map is this package's addition: Gleam v4 has no dict codec, and a Gleam
// peer reads the same bytes with list(tuple2(k, v)) and dict.from_list. Its
// encoding is deterministic (sorted by bytes.Compare of the encoded keys);
// its decoder accepts any order but rejects a repeated key.
//
// # Worked example
//
// Tagged("user", 2, Struct{ID int64; Name string; Admin bool}) holding
// {ID: 42, Name: "ann", Admin: true} encodes to 28 bytes (see ExampleTagged):
//
//	00 00 00 04                tag length 4
//	75 73 65 72                tag "user"
//	00 00 00 02                version 2
//	00 00 00 00 00 00 00 2a    ID 42 (Int)
//	00 00 00 03 61 6e 6e       Name "ann" (String)
//	01                         Admin true (Bool)
//
// A receiver built with Tagged("user", 3, …) fails on it with a
// *VersionMismatchError{Tag: "user", Want: 3, Got: 2} (errors.Is
// ErrVersionMismatch: an older sender); one built with Tagged("order", …)
// fails with a *TagMismatchError{Want: "order", Got: "user"} (errors.Is
// ErrTagMismatch: a different message). ParseEnvelope reads the header
// without decoding the payload, to route by tag and version.
//
// # Strictness and limits
//
// Decode rejects bytes left after the top-level value (ErrTrailing), and
// Tuple2/Tuple3 reject bytes left inside a length-prefixed element. Every
// length and count is checked against the input and the limits before
// anything is allocated, so hostile input cannot make a decoder allocate
// much more than its own size. The limits (see Limits and WithLimits) are
// the Gleam defaults: at most 10,000 elements per List or Map, and at most
// 4 MiB per message and per length prefix. They apply when encoding too, so
// a codec never emits what it would refuse to read. Limits set with
// WithLimits reach every codec of this package nested inside; a codec of
// your own that calls another codec's Decode method gives it the defaults.
//
// Errors: a decode failure is a *DecodeError{Offset, Codec, Err}, where
// Offset counts from the start of the input and Err wraps ErrTruncated,
// ErrTrailing, ErrInvalid, ErrTooLarge, a *TagMismatchError or a
// *VersionMismatchError. An encode failure wraps ErrInvalid (NaN, invalid
// UTF-8, a value no variant matches, two map keys encoding alike) or
// ErrTooLarge.
//
// # Ownership
//
// Encode returns a new slice owned by the caller; Append writes only into
// dst (growing it as append does). Decoded values never alias the input,
// with one exception: BytesView returns a sub-slice of the input (capacity
// clipped), valid while the input is, for zero-copy reads; Bytes copies.
// ParseEnvelope's payload aliases its input. A codec never keeps a
// reference to any slice after it returns. Codecs are immutable and safe
// for concurrent use.
package codec
