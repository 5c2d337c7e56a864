package etf

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"unicode/utf8"
)

// Unmarshaler is implemented by types that read themselves from a term.
// UnmarshalETF receives the term as decoded; it must copy any Binary it
// keeps if the term may alias input bytes (UnmarshalOptions.AliasBinaries).
type Unmarshaler interface {
	UnmarshalETF(Term) error
}

// UnmarshalOptions configures Unmarshal and FromTerm. The zero value is
// ready to use and is what the package-level functions use.
type UnmarshalOptions struct {
	// NilAtom is the atom that sets a pointer to nil. Zero means undefined;
	// use Nil for Elixir. Any other term allocates the pointer and is
	// stored in what it points to.
	NilAtom Atom
	// Limits bound the decoding of untrusted bytes; they are passed to the
	// Decoder. The zero value means the Decoder's defaults.
	Limits Limits
	// AliasBinaries lets decoded binaries ([]byte, Binary and binaries
	// inside a Term) share memory with the input instead of being copied.
	// The caller must then keep the input unchanged while they are in use.
	AliasBinaries bool
}

// ErrUnhashableKey is wrapped by an *UnmarshalTypeError when a map key
// holds a term that no Go map can use as a key (a tuple, a list, a map, a
// bit string or a fun stored in an interface). Decode such maps into Map
// (or Term) instead.
var ErrUnhashableKey = errors.New("etf: map key has no Go hash (use etf.Map)")

// ErrRange is wrapped by an *UnmarshalTypeError when a number does not fit
// the Go type it is stored in.
var ErrRange = errors.New("etf: number out of range")

// UnmarshalTypeError reports a term that cannot be stored in a Go value.
type UnmarshalTypeError struct {
	Kind  string       // the kind of term: "atom NAME", "integer", "float", "binary", "list", "empty list", "tuple", "map", ...
	Type  reflect.Type // the Go type it could not be stored in
	Field string       // path from the root to the value, such as "address.zip" or "items[2]"; empty at the root
	Err   error        // optional detail, such as one wrapping ErrRange
}

func (e *UnmarshalTypeError) Error() string {
	msg := "etf: cannot unmarshal " + e.Kind + " into Go "
	if e.Field != "" {
		msg += "field " + e.Field + " of type "
	} else {
		msg += "value of type "
	}
	msg += e.Type.String()
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *UnmarshalTypeError) Unwrap() error { return e.Err }

// InvalidUnmarshalError reports an argument to Unmarshal or FromTerm that
// is not a non-nil pointer.
type InvalidUnmarshalError struct {
	Type reflect.Type
}

func (e *InvalidUnmarshalError) Error() string {
	if e.Type == nil {
		return "etf: Unmarshal(nil)"
	}
	if e.Type.Kind() != reflect.Pointer {
		return "etf: Unmarshal(non-pointer " + e.Type.String() + ")"
	}
	return "etf: Unmarshal(nil " + e.Type.String() + ")"
}

// Unmarshal decodes data, which must hold exactly one term starting with
// the version byte 131 (a compressed term included, as Decode accepts
// it), and stores it in the value v points to as FromTerm does. Decoding
// errors are *DecodeError (bytes after the term wrap ErrTrailingData);
// storing errors are those of FromTerm. Binaries stored in v are copies of
// data.
//
// Unmarshal into a *[]byte or *Binary of a binary term reads the bytes
// directly, allocating only their copy.
func Unmarshal(data []byte, v any) error { return UnmarshalOptions{}.Unmarshal(data, v) }

// Unmarshal decodes data into v; see the package-level Unmarshal. With
// AliasBinaries, binaries stored in v share memory with data.
func (o UnmarshalOptions) Unmarshal(data []byte, v any) error {
	d := Decoder{Limits: o.Limits, AliasBinaries: o.AliasBinaries, Compressed: true}
	if len(data) > 1 && data[0] == VersionByte && data[1] == TagBinary {
		switch p := v.(type) {
		case *[]byte:
			if p != nil {
				b, err := decodeWholeBinary(&d, data)
				if err == nil {
					*p = b
				}
				return err
			}
		case *Binary:
			if p != nil {
				b, err := decodeWholeBinary(&d, data)
				if err == nil {
					*p = b
				}
				return err
			}
		}
	}
	if rv := reflect.ValueOf(v); rv.Kind() != reflect.Pointer || rv.IsNil() {
		return &InvalidUnmarshalError{Type: reflect.TypeOf(v)}
	}
	t, n, err := d.Decode(data)
	if err != nil {
		return err
	}
	if n != len(data) {
		return &DecodeError{Offset: n, Tag: data[n], Err: ErrTrailingData}
	}
	return o.FromTerm(t, v)
}

func decodeWholeBinary(d *Decoder, data []byte) ([]byte, error) {
	b, n, err := d.DecodeBinary(data)
	if err != nil {
		return nil, err
	}
	if n != len(data) {
		return nil, &DecodeError{Offset: n, Tag: data[n], Err: ErrTrailingData}
	}
	return b, nil
}

// FromTerm stores a term in the value v points to, with the default options.
// It is the inverse of ToTerm:
//
//	bool                        the atoms true and false
//	int…int64, uint…uint64      an integer that fits (else an error wrapping ErrRange)
//	float32, float64            a float or an integer (float32 must not overflow)
//	string                      a binary, a char list or a list of code points;
//	                            an atom only in a field tagged `etf:",atom"`
//	[]byte                      a binary, or a list of integers 0..255
//	slices                      a list (an empty list gives an empty, non-nil slice)
//	arrays                      a list of exactly the array's length (or a binary, for bytes)
//	maps                        a map, keys and values converted; into an interface key
//	                            type a binary key becomes a string (Go cannot hash a
//	                            Binary), and a tuple, list, map, bit string or fun key
//	                            is an error wrapping ErrUnhashableKey
//	structs                     a map with atom (or binary) keys, a record tuple or an
//	                            Elixir struct, as the struct's tags say; unknown keys are
//	                            ignored and missing ones leave the field unchanged
//	pointers                    NilAtom (undefined) sets nil (UnmarshalETF is not called);
//	                            anything else is stored in a new or existing pointee
//	Term (any)                  the term itself, unchanged
//	other interfaces            a term whose type implements the interface
//	Atom, Binary, … Fun         the same kind of term (CharList and List convert)
//	big.Int, *big.Int           an integer
//	Unmarshaler                 UnmarshalETF, with the term as is
//
// A mismatch is an *UnmarshalTypeError naming the path to the field. Fields
// set before an error keep their values. FromTerm does not copy binaries:
// a []byte or Binary it fills shares memory with t.
func FromTerm(t Term, v any) error { return UnmarshalOptions{}.FromTerm(t, v) }

// FromTerm stores a term in the value v points to; see the package-level FromTerm.
func (o UnmarshalOptions) FromTerm(t Term, v any) error {
	switch p := v.(type) {
	case *Term:
		if p != nil {
			*p = t
			return nil
		}
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return &InvalidUnmarshalError{Type: reflect.TypeOf(v)}
	}
	d := unmarshalState{nilAtom: o.nilAtom()}
	return d.assign(t, rv.Elem(), fieldInfo{})
}

func (o UnmarshalOptions) nilAtom() Atom {
	if o.NilAtom == "" {
		return Undefined
	}
	return o.NilAtom
}

type unmarshalState struct {
	nilAtom Atom
	depth   int
}

// kindOf names the kind of a term for error messages.
func kindOf(t Term) string {
	switch x := t.(type) {
	case Atom:
		return "atom " + string(x)
	case int64, *big.Int:
		return "integer"
	case float64:
		return "float"
	case Binary:
		return "binary"
	case BitBinary:
		return "bitstring"
	case CharList:
		if len(x) == 0 {
			return "empty list"
		}
		return "list"
	case List:
		if len(x) == 0 {
			return "empty list"
		}
		return "list"
	case ImproperList:
		return "improper list"
	case Tuple:
		return "tuple"
	case Map:
		return "map"
	case Pid:
		return "pid"
	case Ref:
		return "reference"
	case Port:
		return "port"
	case Export, Fun:
		return "fun"
	}
	return fmt.Sprintf("Go value %T", t)
}

func (d *unmarshalState) typeError(t Term, typ reflect.Type) error {
	return &UnmarshalTypeError{Kind: kindOf(t), Type: typ}
}

// withPath prefixes the path of a type error with seg, a field name or "[i]".
func withPath(err error, seg string) error {
	var te *UnmarshalTypeError
	if errors.As(err, &te) {
		switch {
		case te.Field == "":
			te.Field = seg
		case te.Field[0] == '[':
			te.Field = seg + te.Field
		default:
			te.Field = seg + "." + te.Field
		}
	}
	return err
}

// assign stores t in v, which is settable. f carries the options of the
// struct field v is (zero otherwise).
func (d *unmarshalState) assign(t Term, v reflect.Value, f fieldInfo) error {
	if d.depth++; d.depth > maxDepth {
		return &UnmarshalTypeError{Kind: kindOf(t), Type: v.Type(), Err: errors.New("nested too deeply")}
	}
	defer func() { d.depth-- }()
	t = normalize(t) // plain Go values a caller may have put in t

	typ := v.Type()
	if typ.Kind() == reflect.Pointer {
		if a, ok := t.(Atom); ok && a == d.nilAtom {
			v.SetZero()
			return nil
		}
	}
	ti := cachedTypeInfo(typ)
	if ti.addrUnmarshaler {
		if err := v.Addr().Interface().(Unmarshaler).UnmarshalETF(t); err != nil {
			return &MarshalerError{Type: typ, Method: "UnmarshalETF", Err: err}
		}
		return nil
	}

	switch typ {
	case atomType:
		a, ok := t.(Atom)
		if !ok {
			return d.typeError(t, typ)
		}
		v.SetString(string(a))
		return nil
	case charListType:
		s, ok := stringOf(t, false)
		if !ok {
			return d.typeError(t, typ)
		}
		v.SetString(s)
		return nil
	case listType:
		switch x := t.(type) {
		case List:
			if x == nil {
				x = List{}
			}
			v.Set(reflect.ValueOf(x))
			return nil
		case CharList:
			l := make(List, 0, len(x))
			for _, r := range string(x) {
				l = append(l, int64(r))
			}
			v.Set(reflect.ValueOf(l))
			return nil
		}
		return d.typeError(t, typ)
	case bigIntType:
		switch x := t.(type) {
		case int64:
			v.Addr().Interface().(*big.Int).SetInt64(x)
			return nil
		case *big.Int:
			v.Addr().Interface().(*big.Int).Set(x)
			return nil
		}
		return d.typeError(t, typ)
	case bitBinaryType:
		if b, ok := t.(Binary); ok {
			v.Set(reflect.ValueOf(BitBinary{Bytes: b, Bits: 8}))
			return nil
		}
	}
	if isModelType(typ) || typ == tupleType || typ == mapType || typ == binaryType {
		tv := reflect.ValueOf(t)
		if tv.Type() != typ {
			return d.typeError(t, typ)
		}
		v.Set(tv)
		return nil
	}

	switch typ.Kind() {
	case reflect.Bool:
		switch t {
		case True:
			v.SetBool(true)
		case False:
			v.SetBool(false)
		default:
			return d.typeError(t, typ)
		}
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var n int64
		switch x := t.(type) {
		case int64:
			n = x
		case *big.Int:
			if !x.IsInt64() {
				return &UnmarshalTypeError{Kind: "integer", Type: typ, Err: fmt.Errorf("%w: %v does not fit in %v", ErrRange, x, typ)}
			}
			n = x.Int64()
		default:
			return d.typeError(t, typ)
		}
		if v.OverflowInt(n) {
			return &UnmarshalTypeError{Kind: "integer", Type: typ, Err: fmt.Errorf("%w: %d does not fit in %v", ErrRange, n, typ)}
		}
		v.SetInt(n)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		var n uint64
		switch x := t.(type) {
		case int64:
			if x < 0 {
				return &UnmarshalTypeError{Kind: "integer", Type: typ, Err: fmt.Errorf("%w: %d does not fit in %v", ErrRange, x, typ)}
			}
			n = uint64(x)
		case *big.Int:
			if !x.IsUint64() {
				return &UnmarshalTypeError{Kind: "integer", Type: typ, Err: fmt.Errorf("%w: %v does not fit in %v", ErrRange, x, typ)}
			}
			n = x.Uint64()
		default:
			return d.typeError(t, typ)
		}
		if v.OverflowUint(n) {
			return &UnmarshalTypeError{Kind: "integer", Type: typ, Err: fmt.Errorf("%w: %d does not fit in %v", ErrRange, n, typ)}
		}
		v.SetUint(n)
		return nil
	case reflect.Float32, reflect.Float64:
		var x float64
		switch n := t.(type) {
		case float64:
			x = n
		case int64:
			x = float64(n)
		case *big.Int:
			x, _ = new(big.Float).SetInt(n).Float64()
		default:
			return d.typeError(t, typ)
		}
		if math.IsInf(x, 0) || v.OverflowFloat(x) {
			return &UnmarshalTypeError{Kind: kindOf(t), Type: typ, Err: fmt.Errorf("%w: %v does not fit in %v", ErrRange, t, typ)}
		}
		v.SetFloat(x)
		return nil
	case reflect.String:
		if a, ok := t.(Atom); ok && f.asAtom {
			v.SetString(string(a))
			return nil
		}
		s, ok := stringOf(t, true)
		if !ok {
			return d.typeError(t, typ)
		}
		v.SetString(s)
		return nil
	case reflect.Slice:
		return d.slice(t, v, ti, f.elemOpts())
	case reflect.Array:
		return d.array(t, v, ti, f.elemOpts())
	case reflect.Map:
		return d.mapValue(t, v)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(typ.Elem()))
		}
		return d.assign(t, v.Elem(), f)
	case reflect.Interface:
		if typ.NumMethod() == 0 {
			if t == nil {
				v.SetZero()
			} else {
				v.Set(reflect.ValueOf(t))
			}
			return nil
		}
		if !v.IsNil() {
			if e := v.Elem(); e.Kind() == reflect.Pointer && !e.IsNil() {
				return d.assign(t, e.Elem(), f)
			}
		}
		if t != nil && reflect.TypeOf(t).Implements(typ) {
			v.Set(reflect.ValueOf(t))
			return nil
		}
		return d.typeError(t, typ)
	case reflect.Struct:
		return d.structValue(t, v, ti.st)
	}
	return d.typeError(t, typ)
}

// stringOf returns the text of a char list, a list of code points, or, when
// binaries is true, a binary.
func stringOf(t Term, binaries bool) (string, bool) {
	switch x := t.(type) {
	case Binary:
		return string(x), binaries
	case CharList:
		return string(x), true
	case List:
		buf := make([]byte, 0, len(x))
		for _, e := range x {
			r, ok := e.(int64)
			if !ok || r < 0 || r > utf8.MaxRune || (r >= 0xD800 && r <= 0xDFFF) {
				return "", false
			}
			buf = utf8.AppendRune(buf, rune(r))
		}
		return string(buf), true
	}
	return "", false
}

// bytesOf returns the bytes of a binary (shared) or of a list of integers
// 0..255 (new).
func bytesOf(t Term) ([]byte, bool) {
	switch x := t.(type) {
	case Binary:
		if x == nil {
			return []byte{}, true
		}
		return x, true
	case CharList:
		b := make([]byte, 0, len(x))
		for _, r := range string(x) {
			if r > 255 {
				return nil, false
			}
			b = append(b, byte(r))
		}
		return b, true
	case List:
		b := make([]byte, len(x))
		for i, e := range x {
			n, ok := e.(int64)
			if !ok || n < 0 || n > 255 {
				return nil, false
			}
			b[i] = byte(n)
		}
		return b, true
	}
	return nil, false
}

// elemsOf returns the elements of a proper list as terms.
func elemsOf(t Term) ([]Term, bool) {
	switch x := t.(type) {
	case List:
		return x, true
	case CharList:
		l := make([]Term, 0, len(x))
		for _, r := range string(x) {
			l = append(l, int64(r))
		}
		return l, true
	}
	return nil, false
}

func (d *unmarshalState) slice(t Term, v reflect.Value, ti *typeInfo, f fieldInfo) error {
	typ := v.Type()
	if ti.byteSlice {
		b, ok := bytesOf(t)
		if !ok {
			return d.typeError(t, typ)
		}
		v.SetBytes(b)
		return nil
	}
	elems, ok := elemsOf(t)
	if !ok {
		return d.typeError(t, typ)
	}
	s := reflect.MakeSlice(typ, len(elems), len(elems))
	for i, e := range elems {
		if err := d.assign(e, s.Index(i), f); err != nil {
			return withPath(err, "["+strconv.Itoa(i)+"]")
		}
	}
	v.Set(s)
	return nil
}

func (d *unmarshalState) array(t Term, v reflect.Value, ti *typeInfo, f fieldInfo) error {
	typ := v.Type()
	if ti.byteSlice {
		if b, ok := t.(Binary); ok {
			if len(b) != typ.Len() {
				return &UnmarshalTypeError{Kind: "binary", Type: typ, Err: fmt.Errorf("%d bytes for %d", len(b), typ.Len())}
			}
			reflect.Copy(v, reflect.ValueOf(b))
			return nil
		}
	}
	elems, ok := elemsOf(t)
	if !ok {
		return d.typeError(t, typ)
	}
	if len(elems) != typ.Len() {
		return &UnmarshalTypeError{Kind: "list", Type: typ, Err: fmt.Errorf("%d elements for %d", len(elems), typ.Len())}
	}
	for i, e := range elems {
		if err := d.assign(e, v.Index(i), f); err != nil {
			return withPath(err, "["+strconv.Itoa(i)+"]")
		}
	}
	return nil
}

func (d *unmarshalState) mapValue(t Term, v reflect.Value) error {
	typ := v.Type()
	m, ok := t.(Map)
	if !ok {
		return d.typeError(t, typ)
	}
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(typ, len(m)))
	}
	kt, et := typ.Key(), typ.Elem()
	for _, p := range m {
		k := reflect.New(kt).Elem()
		if b, ok := p.Key.(Binary); ok && kt.Kind() == reflect.Interface && stringType.Implements(kt) {
			// A Binary cannot be a Go map key: a binary key (every
			// Elixir string key) is stored as a string, which Marshal
			// turns back into the same binary.
			k.Set(reflect.ValueOf(string(b)))
		} else if err := d.assign(p.Key, k, fieldInfo{}); err != nil {
			return withPath(err, "[key "+keyText(p.Key)+"]")
		}
		if !k.Comparable() {
			// A tuple, list, map, bit string or fun in an interface
			// (or in a struct field of one) has no Go hash.
			return &UnmarshalTypeError{Kind: kindOf(p.Key), Type: kt, Field: "[key " + keyText(p.Key) + "]",
				Err: ErrUnhashableKey}
		}
		e := reflect.New(et).Elem()
		if err := d.assign(p.Value, e, fieldInfo{}); err != nil {
			return withPath(err, "["+keyText(p.Key)+"]")
		}
		v.SetMapIndex(k, e)
	}
	return nil
}

// keyText shows a map key in an error path.
func keyText(k Term) string {
	switch x := k.(type) {
	case Atom:
		return string(x)
	case Binary:
		if len(x) <= 64 && utf8.Valid(x) {
			return strconv.Quote(string(x))
		}
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return kindOf(k)
}

func (d *unmarshalState) structValue(t Term, v reflect.Value, si *structInfo) error {
	if si.err != nil {
		return si.err
	}
	typ := v.Type()
	if si.mode == structRecord {
		tup, ok := t.(Tuple)
		if !ok || len(tup) != 1+len(si.fields) || tup[0] != si.nameTerm {
			kind := kindOf(t)
			if ok && len(tup) > 0 {
				if a, isAtom := tup[0].(Atom); isAtom {
					kind = fmt.Sprintf("tuple {%s, ...} of size %d", a, len(tup))
				} else {
					kind = fmt.Sprintf("tuple of size %d", len(tup))
				}
			}
			return &UnmarshalTypeError{Kind: kind, Type: typ,
				Err: fmt.Errorf("want record {%s, ...} of size %d", si.name, 1+len(si.fields))}
		}
		for i := range si.fields {
			f := &si.fields[i]
			if err := d.assign(tup[1+i], fieldForWrite(v, f.index), *f); err != nil {
				return withPath(err, f.name)
			}
		}
		return nil
	}
	m, ok := t.(Map)
	if !ok {
		return d.typeError(t, typ)
	}
	for _, p := range m {
		var name string
		switch k := p.Key.(type) {
		case Atom:
			name = string(k)
		case Binary:
			name = string(k) // no allocation for the lookup
		default:
			continue
		}
		if name == "__struct__" && si.mode == structElixir {
			if p.Value != si.nameTerm {
				return &UnmarshalTypeError{Kind: "map", Type: typ,
					Err: fmt.Errorf("__struct__ is %s, want %s", kindOf(p.Value), si.name)}
			}
			continue
		}
		i, ok := si.byName[name]
		if !ok {
			continue
		}
		f := &si.fields[i]
		if err := d.assign(p.Value, fieldForWrite(v, f.index), *f); err != nil {
			return withPath(err, f.name)
		}
	}
	return nil
}

// fieldForWrite follows index through embedded structs, allocating nil
// embedded pointers on the way.
func fieldForWrite(v reflect.Value, index []int) reflect.Value {
	if len(index) == 1 {
		return v.Field(index[0])
	}
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}
