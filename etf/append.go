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
