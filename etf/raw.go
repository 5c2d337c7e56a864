package etf

// Raw is a term encoded once, to be written many times: encoders copy its
// bytes verbatim, so sending the same message to many receivers costs one
// encoding. Make one with EncodeRaw (which checks it); decoders never
// return Raw, and Equal, Compare and Format see it as its decoded term.
type Raw struct {
	b []byte // the term's encoding, without the 131 version byte
}

// EncodeRaw encodes t once for repeated sending.
func EncodeRaw(t Term) (Raw, error) {
	b, err := AppendTerm(nil, t)
	if err != nil {
		return Raw{}, err
	}
	return Raw{b: b}, nil
}

// Bytes returns the encoding (without the 131 version byte). The caller
// must not modify it.
func (r Raw) Bytes() []byte { return r.b }

// Term decodes the encoding back into a term.
func (r Raw) Term() (Term, error) {
	var d Decoder
	t, _, err := d.DecodeTerm(r.b)
	return t, err
}
