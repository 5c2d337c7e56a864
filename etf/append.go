package etf

// Appenders for single values, for hot paths that build frames byte by byte
// (the distribution layer's message headers): they write the same bytes as
// AppendTerm without boxing the value in a Term.

// AppendAtom appends the encoding of a (SMALL_ATOM_UTF8_EXT, or
// ATOM_UTF8_EXT for more than 255 bytes) without the 131 version byte.
func AppendAtom(dst []byte, a Atom) ([]byte, error) { return appendAtom(dst, a) }

// AppendPid appends the encoding of p (NEW_PID_EXT) without the 131
// version byte.
func AppendPid(dst []byte, p Pid) ([]byte, error) {
	dst = append(dst, TagNewPid)
	dst, err := appendAtom(dst, p.Node)
	if err != nil {
		return dst, err
	}
	dst = appendU32(dst, p.ID)
	dst = appendU32(dst, p.Serial)
	return appendU32(dst, p.Creation), nil
}

// AppendRef appends the encoding of r (NEWER_REFERENCE_EXT) without the
// 131 version byte. A reference of 0 or more than MaxRefWords words is an
// *EncodeError, as AppendTerm reports it.
func AppendRef(dst []byte, r Ref) ([]byte, error) {
	n := len(dst)
	out, err := appendRef(dst, r)
	if err != nil {
		return dst[:n], err
	}
	return out, nil
}

func appendRef(b []byte, r Ref) ([]byte, error) {
	if r.Len == 0 || r.Len > MaxRefWords {
		// OTP 25 crashes (segfault) on a reference of 0 words.
		return b, encodeErr(r, ErrInvalid, "a reference has 1 to 5 words")
	}
	b = append(b, TagNewerReference)
	b = appendU16(b, uint16(r.Len))
	b, err := appendAtom(b, r.Node)
	if err != nil {
		return b, err
	}
	b = appendU32(b, r.Creation)
	for _, w := range r.ID[:r.Len] {
		b = appendU32(b, w)
	}
	return b, nil
}
