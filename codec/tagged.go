package codec

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

const versionSize = 4 // u32, big-endian

// Tagged wraps c in an envelope: u32 tag length, the UTF-8 tag, the u32
// version, then the payload encoded by c (not length-prefixed: it runs to the
// end of the message, or as far as c reads when Tagged is nested).
//
// Decoding checks the tag first, then the version. Another tag is a
// *TagMismatchError (errors.Is ErrTagMismatch: a different message); the
// right tag with another version is a *VersionMismatchError (errors.Is
// ErrVersionMismatch: an older or newer sender). Both arrive wrapped in a
// *DecodeError. Use ParseEnvelope to route on tag and version first.
//
// Tagged panics if tag is not valid UTF-8 or is longer than DefaultMaxBytes.
func Tagged[T any](tag string, version uint32, c Codec[T]) Codec[T] {
	if !utf8.ValidString(tag) {
		panic(fmt.Sprintf("codec: Tagged tag %q is not valid UTF-8", tag))
	}
	if len(tag) > DefaultMaxBytes {
		panic("codec: Tagged tag too long")
	}
	app, dec := lower(c)
	name := "tagged " + tag
	return &codec[T]{
		name: name,
		app: func(dst []byte, v T, l *Limits) ([]byte, error) {
			dst, err := appendPrefix(dst, len(tag), l, name)
			if err != nil {
				return dst, err
			}
			dst = append(dst, tag...)
			dst = binary.BigEndian.AppendUint32(dst, version)
			return app(dst, v, l)
		},
		dec: func(src []byte, l *Limits) (T, []byte, error) {
			var zero T
			got, gotVersion, payload, err := parseEnvelope(src, l, name)
			if err != nil {
				return zero, nil, err
			}
			if string(got) != tag {
				return zero, nil, &DecodeError{Offset: prefixSize, Codec: name, Err: &TagMismatchError{Want: tag, Got: string(got)}}
			}
			at := len(src) - len(payload)
			if gotVersion != version {
				return zero, nil, &DecodeError{Offset: at - versionSize, Codec: name, Err: &VersionMismatchError{Tag: tag, Want: version, Got: gotVersion}}
			}
			v, rest, err := dec(payload, l)
			if err != nil {
				return zero, nil, shift(err, at, name)
			}
			return v, rest, nil
		},
	}
}

// parseEnvelope splits an envelope header; tag aliases src.
func parseEnvelope(src []byte, l *Limits, name string) (tag []byte, version uint32, payload []byte, err error) {
	tag, rest, err := readSlice(src, l, name)
	if err != nil {
		return nil, 0, nil, err
	}
	if !utf8.Valid(tag) {
		return nil, 0, nil, decodeErr(prefixSize, name, ErrInvalid, "tag is not valid UTF-8")
	}
	if len(rest) < versionSize {
		return nil, 0, nil, decodeErr(len(src)-len(rest), name, ErrTruncated, "need a %d-byte version, have %d bytes", versionSize, len(rest))
	}
	return tag, binary.BigEndian.Uint32(rest), rest[versionSize:], nil
}

// ParseEnvelope reads the header of a tagged envelope without knowing what
// it holds, so a receiver can choose a codec by tag and version. payload
// aliases b; tag is a copy. The default limits apply to the tag length.
func ParseEnvelope(b []byte) (tag string, version uint32, payload []byte, err error) {
	t, v, p, err := parseEnvelope(b, &defaultLimits, "envelope")
	if err != nil {
		return "", 0, nil, err
	}
	return string(t), v, p, nil
}

// AppendEnvelope appends an envelope header (u32 tag length, tag, u32
// version) to dst; the payload follows it. It is what Tagged writes before
// the payload, for code that builds payloads by hand.
func AppendEnvelope(dst []byte, tag string, version uint32) ([]byte, error) {
	if !utf8.ValidString(tag) {
		return dst, encodeErr("envelope", fmt.Errorf("%w: tag is not valid UTF-8", ErrInvalid))
	}
	dst, err := appendPrefix(dst, len(tag), &defaultLimits, "envelope")
	if err != nil {
		return dst, err
	}
	dst = append(dst, tag...)
	return binary.BigEndian.AppendUint32(dst, version), nil
}
