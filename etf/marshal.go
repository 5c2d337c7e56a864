package etf

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"reflect"
	"unicode/utf8"
)

// Marshaler is implemented by types that build their own term. Marshal and
// ToTerm call MarshalETF and convert what it returns as they would any value.
type Marshaler interface {
	MarshalETF() (Term, error)
}

// MarshalOptions configures Marshal and ToTerm. The zero value is ready to
// use and is what the package-level functions use.
type MarshalOptions struct {
	// NilAtom is the atom a nil pointer or nil interface becomes.
	// Zero means undefined, the Erlang convention; use Nil for Elixir.
	NilAtom Atom
}

// UnsupportedTypeError is returned when a Go value of a type with no term
// mapping (channels, funcs, complex numbers, unsafe pointers) is converted.
type UnsupportedTypeError struct {
	Type reflect.Type
}

func (e *UnsupportedTypeError) Error() string {
	return "etf: unsupported type: " + e.Type.String()
}

// UnsupportedValueError is returned for a value of a supported type that has
// no term: a NaN or infinite float, or a value nested deeper than 10000
// levels (which includes cyclic values).
type UnsupportedValueError struct {
	Value reflect.Value
	Str   string
}

func (e *UnsupportedValueError) Error() string {
	return "etf: unsupported value: " + e.Str
}

// MarshalerError wraps an error returned by a MarshalETF or UnmarshalETF method.
type MarshalerError struct {
	Type   reflect.Type
	Method string // "MarshalETF" or "UnmarshalETF"
	Err    error
}

func (e *MarshalerError) Error() string {
	return fmt.Sprintf("etf: error calling %s for type %v: %v", e.Method, e.Type, e.Err)
}

func (e *MarshalerError) Unwrap() error { return e.Err }

// Marshal returns the External Term Format encoding of v (with the version
// byte 131): the bytes Encode(ToTerm(v)) returns, which are what
// term_to_binary(T, [{minor_version, 2}]) writes for that term. Structs,
// scalars and lists are written without building the term. Errors are those
// of ToTerm and *EncodeError.
//
// # Structs
//
// A struct becomes a map with one atom key per exported field; the key is
// the field name in snake_case (Name → name, UserID → user_id,
// HTTPServer → http_server). Field tags change that:
//
//	Name  string `etf:"name"`           key 'name'
//	Skip  int    `etf:"-"`              never encoded or decoded
//	Dash  int    `etf:"-,"`             key '-'
//	Note  string `etf:",omitempty"`     left out when empty (false, 0, "", nil, length 0)
//	State string `etf:"state,atom"`     the string as an atom
//	Text  string `etf:"text,charlist"`  the string as a char list ("text" in Erlang)
//
// The atom and charlist options also apply to *string, []string, [N]string
// and any nesting of them: each string becomes an atom or a char list.
// Fields of an embedded struct (or pointer to struct) without a tag are
// promoted into the outer map, as encoding/json does; two fields with the
// same key are a *StructTagError.
//
// A blank marker field chooses how the whole struct is encoded:
//
//	_ struct{} `etf:"map"`                   #{name => ..., age => ...} (the default)
//	_ struct{} `etf:"record,person"`         {person, Name, Age}: a record, fields in declaration order
//	_ struct{} `etf:"record"`                the same, tag = snake_case of the type name
//	_ struct{} `etf:"elixir,Elixir.Person"`  %Person{}: the map plus '__struct__' => 'Elixir.Person'
//	_ struct{} `etf:"elixir"`                the same, module = "Elixir." + the type name
//
// A record field that is in a nil embedded pointer is written as the nil
// atom; omitempty is not allowed in a record, whose size is fixed.
func Marshal(v any) ([]byte, error) { return MarshalOptions{}.Marshal(v) }

// Marshal returns the encoding of v; see the package-level Marshal.
func (o MarshalOptions) Marshal(v any) ([]byte, error) {
	return o.Append(make([]byte, 0, 64), v)
}

// Append appends the encoding of v (with the version byte 131) to dst and
// returns the extended slice. On error it returns dst unchanged.
func (o MarshalOptions) Append(dst []byte, v any) ([]byte, error) {
	e := marshalState{nilAtom: o.nilAtom()}
	n := len(dst)
	out, err := e.appendValue(append(dst, VersionByte), reflect.ValueOf(v), fieldInfo{})
	if err != nil {
		return dst[:n], err
	}
	return out, nil
}

// ToTerm converts a Go value to the term model with the default options.
//
// The mapping:
//
//	nil, nil pointer, nil interface   the atom undefined (MarshalOptions.NilAtom)
//	bool                              true / false
//	int, int8 … int64, uint8 … uint64 integer (*big.Int when above int64)
//	float32, float64                  float (NaN and ±Inf are an *UnsupportedValueError)
//	string                            binary (`etf:",atom"` or `etf:",charlist"` on a field changes it)
//	[]byte                            binary
//	other slices, arrays              list ([] for a nil or empty slice)
//	map                               map, keys and values converted
//	struct                            map with atom keys, a record tuple or an Elixir struct
//	                                  (see the struct tags under Marshal)
//	pointer, interface                what they point to
//	*big.Int, big.Int                 integer
//	Atom, Binary, … Fun               themselves: term-model values pass through
//	Marshaler                         what MarshalETF returns, converted
//
// Term-model values inside a List, Tuple, Map or ImproperList are kept
// as they are, and the container is returned unchanged unless an element
// needs converting. Binaries are not copied: a Binary in the result shares
// the memory of the []byte it came from.
func ToTerm(v any) (Term, error) { return MarshalOptions{}.ToTerm(v) }

// ToTerm converts a Go value to the term model; see the package-level ToTerm.
func (o MarshalOptions) ToTerm(v any) (Term, error) {
	e := marshalState{nilAtom: o.nilAtom(), pure: true}
	return e.convert(v)
}

func (o MarshalOptions) nilAtom() Atom {
	if o.NilAtom == "" {
		return Undefined
	}
	return o.NilAtom
}

// marshalState carries the options of one conversion.
type marshalState struct {
	nilAtom Atom
	// pure makes the result hold term-model types only. When false (the
	// Marshal path) a Go string may stay a string, which the encoder writes
	// as a binary, saving a copy.
	pure  bool
	depth int
}

// convert turns an interface value into a term.
func (e *marshalState) convert(v any) (Term, error) {
	if t, ok, err := e.fast(v); ok || err != nil {
		return t, err
	}
	return e.value(reflect.ValueOf(v), fieldInfo{})
}

// fast converts the common dynamic types without reflection. ok is false
// when v needs the reflective path.
func (e *marshalState) fast(v any) (t Term, ok bool, err error) {
	switch x := v.(type) {
	case nil:
		return e.nilAtom, true, nil
	case Atom:
		return x, true, nil
	case int64:
		return x, true, nil
	case int:
		return int64(x), true, nil
	case int32:
		return int64(x), true, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, true, &UnsupportedValueError{Value: reflect.ValueOf(v), Str: fmt.Sprint(x)}
		}
		return x, true, nil
	case string:
		if e.pure {
			return Binary(x), true, nil
		}
		return x, true, nil
	case []byte:
		return Binary(x), true, nil
	case Binary:
		return x, true, nil
	case bool:
		return Bool(x), true, nil
	case *big.Int:
		if x == nil {
			return e.nilAtom, true, nil
		}
		return Int(x), true, nil
	case BitBinary, CharList, Pid, Ref, Port, Export, Fun:
		return x, true, nil
	case List, Tuple, Map, ImproperList:
		t, err := e.container(x)
		return t, true, err
	}
	return nil, false, nil
}

// container converts the elements of a term-model container that are not
// term-model values yet, copying the container only when one is.
func (e *marshalState) container(t Term) (Term, error) {
	if e.depth++; e.depth > maxDepth {
		return nil, &UnsupportedValueError{Value: reflect.ValueOf(t), Str: "nested too deeply (cyclic?)"}
	}
	defer func() { e.depth-- }()
	switch x := t.(type) {
	case List:
		s, err := e.elems(x)
		return List(s), err
	case Tuple:
		s, err := e.elems(x)
		return Tuple(s), err
	case ImproperList:
		s, err := e.elems(x.Elems)
		if err != nil {
			return nil, err
		}
		tail, err := e.convert(x.Tail)
		if err != nil {
			return nil, err
		}
		if sameSlice(s, x.Elems) && sameTerm(tail, x.Tail) {
			return x, nil
		}
		return ImproperList{Elems: s, Tail: tail}, nil
	case Map:
		var out Map
		for i, p := range x {
			k, err := e.convert(p.Key)
			if err != nil {
				return nil, err
			}
			v, err := e.convert(p.Value)
			if err != nil {
				return nil, err
			}
			if out == nil && (!sameTerm(k, p.Key) || !sameTerm(v, p.Value)) {
				out = make(Map, len(x))
				copy(out, x[:i])
			}
			if out != nil {
				out[i] = Pair{Key: k, Value: v}
			}
		}
		if out == nil {
			return x, nil
		}
		return out, nil
	}
	return t, nil
}

// elems converts a slice of terms, returning s itself when nothing changed.
func (e *marshalState) elems(s []Term) ([]Term, error) {
	var out []Term
	for i, el := range s {
		c, err := e.convert(el)
		if err != nil {
			return nil, err
		}
		if out == nil && !sameTerm(c, el) {
			out = make([]Term, len(s))
			copy(out, s[:i])
		}
		if out != nil {
			out[i] = c
		}
	}
	if out == nil {
		return s, nil
	}
	return out, nil
}

// sameTerm reports whether convert returned its input unchanged. Converted
// values always differ in dynamic type or identity from their source, so
// comparing the kinds that convert may return is enough.
func sameTerm(a, b Term) bool {
	switch x := a.(type) {
	case Atom, int64, float64, Pid, Ref, Port, Export, CharList:
		return a == b
	case *big.Int:
		y, ok := b.(*big.Int)
		return ok && x == y
	case Binary:
		y, ok := b.(Binary)
		return ok && len(x) == len(y) && (len(x) == 0 || &x[0] == &y[0]) && (x == nil) == (y == nil)
	case string:
		y, ok := b.(string)
		return ok && x == y
	case List:
		y, ok := b.(List)
		return ok && sameSlice(x, y)
	case Tuple:
		y, ok := b.(Tuple)
		return ok && sameSlice(x, y)
	case Map:
		y, ok := b.(Map)
		return ok && len(x) == len(y) && (len(x) == 0 || &x[0] == &y[0]) && (x == nil) == (y == nil)
	case ImproperList:
		y, ok := b.(ImproperList)
		return ok && sameSlice(x.Elems, y.Elems) && sameTerm(x.Tail, y.Tail)
	case BitBinary:
		y, ok := b.(BitBinary)
		return ok && x.Bits == y.Bits && len(x.Bytes) == len(y.Bytes) && (len(x.Bytes) == 0 || &x.Bytes[0] == &y.Bytes[0])
	case Fun:
		y, ok := b.(Fun)
		return ok && x.Module == y.Module && x.Index == y.Index && x.Uniq == y.Uniq && x.Arity == y.Arity &&
			len(x.Raw) == len(y.Raw) && (len(x.Raw) == 0 || &x.Raw[0] == &y.Raw[0])
	}
	return false
}

func sameSlice(x, y []Term) bool {
	return len(x) == len(y) && (x == nil) == (y == nil) && (len(x) == 0 || &x[0] == &y[0])
}

// value converts a reflected value. f carries the options of the struct
// field v came from (zero outside a struct).
func (e *marshalState) value(v reflect.Value, f fieldInfo) (Term, error) {
	if !v.IsValid() {
		return e.nilAtom, nil
	}
	if e.depth++; e.depth > maxDepth {
		return nil, &UnsupportedValueError{Value: v, Str: "nested too deeply (cyclic?)"}
	}
	defer func() { e.depth-- }()

	t := v.Type()
	ti := cachedTypeInfo(t)
	switch {
	case ti.marshaler:
		if (t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface) && v.IsNil() {
			return e.nilAtom, nil
		}
		return e.callMarshaler(v.Interface().(Marshaler), t)
	case ti.addrMarshaler && v.CanAddr():
		return e.callMarshaler(v.Addr().Interface().(Marshaler), t)
	}

	switch t.Kind() {
	case reflect.Bool:
		return Bool(v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return uintTerm(v.Uint()), nil
	case reflect.Float32, reflect.Float64:
		x := v.Float()
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, &UnsupportedValueError{Value: v, Str: fmt.Sprint(x)}
		}
		return x, nil
	case reflect.String:
		s := v.String()
		switch {
		case t == atomType || f.asAtom:
			return Atom(s), nil
		case t == charListType || f.asChars:
			return CharList(s), nil
		case !e.pure:
			return s, nil
		}
		return Binary(s), nil
	case reflect.Slice:
		if ti.byteSlice {
			return Binary(v.Bytes()), nil
		}
		if t == listType || t == tupleType || t == mapType {
			return e.container(v.Interface())
		}
		return e.list(v, f)
	case reflect.Array:
		return e.list(v, f)
	case reflect.Map:
		return e.mapValue(v)
	case reflect.Pointer:
		if v.IsNil() {
			return e.nilAtom, nil
		}
		if t == bigIntPtrType {
			return Int(v.Interface().(*big.Int)), nil
		}
		return e.value(v.Elem(), f)
	case reflect.Interface:
		if v.IsNil() {
			return e.nilAtom, nil
		}
		x := v.Elem()
		if tm, ok, err := e.fast(x.Interface()); ok || err != nil {
			return tm, err
		}
		return e.value(x, f)
	case reflect.Struct:
		switch {
		case t == bigIntType:
			if v.CanAddr() {
				return Int(v.Addr().Interface().(*big.Int)), nil
			}
			b := v.Interface().(big.Int)
			return Int(&b), nil
		case t == improperListType:
			return e.container(v.Interface())
		case isModelType(t):
			return v.Interface(), nil
		}
		return e.structValue(v, ti.st)
	}
	return nil, &UnsupportedTypeError{Type: t}
}

var (
	atomType      = reflect.TypeFor[Atom]()
	charListType  = reflect.TypeFor[CharList]()
	listType      = reflect.TypeFor[List]()
	tupleType     = reflect.TypeFor[Tuple]()
	mapType       = reflect.TypeFor[Map]()
	binaryType    = reflect.TypeFor[Binary]()
	bigIntPtrType = reflect.TypeFor[*big.Int]()
	termType      = reflect.TypeFor[Term]()
	stringType    = reflect.TypeFor[string]()
)

func (e *marshalState) callMarshaler(m Marshaler, t reflect.Type) (Term, error) {
	tm, err := m.MarshalETF()
	if err != nil {
		return nil, &MarshalerError{Type: t, Method: "MarshalETF", Err: err}
	}
	return e.convert(tm)
}

func (e *marshalState) list(v reflect.Value, f fieldInfo) (Term, error) {
	f = f.elemOpts()
	n := v.Len()
	out := make(List, n)
	for i := range n {
		el, err := e.value(v.Index(i), f)
		if err != nil {
			return nil, err
		}
		out[i] = el
	}
	return out, nil
}

func (e *marshalState) mapValue(v reflect.Value) (Term, error) {
	out := make(Map, 0, v.Len())
	it := v.MapRange()
	for it.Next() {
		k, err := e.value(it.Key(), fieldInfo{})
		if err != nil {
			return nil, err
		}
		val, err := e.value(it.Value(), fieldInfo{})
		if err != nil {
			return nil, err
		}
		out = append(out, Pair{Key: k, Value: val})
	}
	return out, nil
}

func (e *marshalState) structValue(v reflect.Value, si *structInfo) (Term, error) {
	if si.err != nil {
		return nil, si.err
	}
	switch si.mode {
	case structRecord:
		out := make(Tuple, 1+len(si.fields))
		out[0] = si.nameTerm
		for i := range si.fields {
			fv, ok := fieldByIndex(v, si.fields[i].index)
			if !ok {
				out[1+i] = e.nilAtom
				continue
			}
			t, err := e.value(fv, si.fields[i])
			if err != nil {
				return nil, err
			}
			out[1+i] = t
		}
		return out, nil
	}
	n := len(si.fields)
	if si.mode == structElixir {
		n++
	}
	// Pairs go in key order, the order encoders write them in.
	out := make(Map, 0, n)
	for j, i := range si.order {
		if j == si.structPos && si.mode == structElixir {
			out = append(out, Pair{Key: structKey, Value: si.nameTerm})
		}
		f := &si.fields[i]
		fv, ok := fieldByIndex(v, f.index)
		if !ok || (f.omitEmpty && isEmptyValue(fv)) {
			continue
		}
		t, err := e.value(fv, *f)
		if err != nil {
			return nil, err
		}
		out = append(out, Pair{Key: f.key, Value: t})
	}
	if si.structPos == len(si.order) && si.mode == structElixir {
		out = append(out, Pair{Key: structKey, Value: si.nameTerm})
	}
	return out, nil
}

// structKey is the key naming an Elixir struct's module.
var structKey Term = Atom("__struct__")

// fieldByIndex follows index through embedded structs for reading; ok is
// false when an embedded pointer on the way is nil.
func fieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	if len(index) == 1 {
		return v.Field(index[0]), true
	}
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64,
		reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// The direct encoder: Marshal writes structs, scalars, strings, byte slices
// and lists of non-integers straight from the Go value, and builds a term
// (then encoded by AppendTerm) only for the rest: Go maps (whose pairs must
// be sorted), term-model values, Marshalers and lists that may hold small
// integers (which the encoder writes as STRING_EXT). The bytes are the same
// as Encode(ToTerm(v)); the tests check it.

var (
	trueBytes      = []byte{TagSmallAtomUTF8, 4, 't', 'r', 'u', 'e'}
	falseBytes     = []byte{TagSmallAtomUTF8, 5, 'f', 'a', 'l', 's', 'e'}
	undefinedBytes = []byte{TagSmallAtomUTF8, 9, 'u', 'n', 'd', 'e', 'f', 'i', 'n', 'e', 'd'}
	nilBytes       = []byte{TagSmallAtomUTF8, 3, 'n', 'i', 'l'}
)

// appendNil appends the nil atom.
func (e *marshalState) appendNil(b []byte) ([]byte, error) {
	switch e.nilAtom {
	case Undefined:
		return append(b, undefinedBytes...), nil
	case Nil:
		return append(b, nilBytes...), nil
	}
	return AppendTerm(b, e.nilAtom)
}

// appendViaTerm converts v to a term and appends its encoding.
func (e *marshalState) appendViaTerm(b []byte, v reflect.Value, f fieldInfo) ([]byte, error) {
	t, err := e.value(v, f)
	if err != nil {
		return b, err
	}
	return AppendTerm(b, t)
}

// appendValue appends the encoding of v, without the version byte.
func (e *marshalState) appendValue(b []byte, v reflect.Value, f fieldInfo) ([]byte, error) {
	if !v.IsValid() {
		return e.appendNil(b)
	}
	if e.depth++; e.depth > maxDepth {
		return b, &UnsupportedValueError{Value: v, Str: "nested too deeply (cyclic?)"}
	}
	defer func() { e.depth-- }()

	t := v.Type()
	ti := cachedTypeInfo(t)
	if ti.marshaler || (ti.addrMarshaler && v.CanAddr()) {
		return e.appendViaTerm(b, v, f)
	}
	switch t.Kind() {
	case reflect.Bool:
		if v.Bool() {
			return append(b, trueBytes...), nil
		}
		return append(b, falseBytes...), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return marshalAppendInt(b, v.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := v.Uint()
		if u <= math.MaxInt64 {
			return marshalAppendInt(b, int64(u)), nil
		}
		return marshalAppendMagnitude(b, u, 0), nil
	case reflect.Float32, reflect.Float64:
		x := v.Float()
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return b, &UnsupportedValueError{Value: v, Str: fmt.Sprint(x)}
		}
		b = append(b, TagNewFloat)
		return binary.BigEndian.AppendUint64(b, math.Float64bits(x)), nil
	case reflect.String:
		s := v.String()
		switch {
		case t == atomType || f.asAtom:
			if len(s) <= 255 && utf8.ValidString(s) {
				b = append(b, TagSmallAtomUTF8, byte(len(s)))
				return append(b, s...), nil
			}
			return AppendTerm(b, Atom(s)) // long or invalid: the encoder decides
		case t == charListType || f.asChars:
			return AppendTerm(b, CharList(s))
		}
		return marshalAppendBinary(b, s)
	case reflect.Slice:
		if ti.byteSlice {
			return marshalAppendBinary(b, v.Bytes())
		}
		if !ti.directList {
			return e.appendViaTerm(b, v, f)
		}
		return e.appendList(b, v, f)
	case reflect.Array:
		if !ti.directList {
			return e.appendViaTerm(b, v, f)
		}
		return e.appendList(b, v, f)
	case reflect.Pointer:
		if v.IsNil() {
			return e.appendNil(b)
		}
		if t == bigIntPtrType {
			return AppendTerm(b, v.Interface())
		}
		return e.appendValue(b, v.Elem(), f)
	case reflect.Interface:
		if v.IsNil() {
			return e.appendNil(b)
		}
		return e.appendViaTerm(b, v, f)
	case reflect.Struct:
		if ti.st == nil {
			return e.appendViaTerm(b, v, f) // big.Int and term-model structs
		}
		return e.appendStruct(b, v, ti.st)
	}
	return e.appendViaTerm(b, v, f) // maps, and the error for unsupported types
}

func (e *marshalState) appendList(b []byte, v reflect.Value, f fieldInfo) ([]byte, error) {
	f = f.elemOpts()
	n := v.Len()
	if n == 0 {
		return append(b, TagNil), nil
	}
	if uint64(n) > math.MaxUint32 {
		return e.appendViaTerm(b, v, f)
	}
	b = append(b, TagList)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	var err error
	for i := range n {
		if b, err = e.appendValue(b, v.Index(i), f); err != nil {
			return b, err
		}
	}
	return append(b, TagNil), nil
}

func (e *marshalState) appendStruct(b []byte, v reflect.Value, si *structInfo) ([]byte, error) {
	if si.err != nil {
		return b, si.err
	}
	var err error
	if si.mode == structRecord {
		n := 1 + len(si.fields)
		if n <= 255 {
			b = append(b, TagSmallTuple, byte(n))
		} else {
			b = append(b, TagLargeTuple)
			b = binary.BigEndian.AppendUint32(b, uint32(n))
		}
		b = append(b, si.nameBytes...)
		for i := range si.fields {
			f := &si.fields[i]
			fv, ok := fieldByIndex(v, f.index)
			if !ok {
				b, err = e.appendNil(b)
			} else {
				b, err = e.appendValue(b, fv, *f)
			}
			if err != nil {
				return b, err
			}
		}
		return b, nil
	}
	b = append(b, TagMap, 0, 0, 0, 0)
	sizeAt := len(b) - 4
	n := 0
	for j, i := range si.order {
		if j == si.structPos && si.mode == structElixir {
			b = append(b, structKeyBytes...)
			b = append(b, si.nameBytes...)
			n++
		}
		f := &si.fields[i]
		fv, ok := fieldByIndex(v, f.index)
		if !ok || (f.omitEmpty && isEmptyValue(fv)) {
			continue
		}
		b = append(b, f.keyBytes...)
		if b, err = e.appendValue(b, fv, *f); err != nil {
			return b, err
		}
		n++
	}
	if si.structPos == len(si.order) && si.mode == structElixir {
		b = append(b, structKeyBytes...)
		b = append(b, si.nameBytes...)
		n++
	}
	binary.BigEndian.PutUint32(b[sizeAt:], uint32(n))
	return b, nil
}

var structKeyBytes = []byte{TagSmallAtomUTF8, 10, '_', '_', 's', 't', 'r', 'u', 'c', 't', '_', '_'}

// marshalAppendInt writes an integer as term_to_binary does: SMALL_INTEGER_EXT,
// INTEGER_EXT or SMALL_BIG_EXT.
func marshalAppendInt(b []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= 255:
		return append(b, TagSmallInteger, byte(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		b = append(b, TagInteger)
		return binary.BigEndian.AppendUint32(b, uint32(int32(v)))
	case v < 0:
		return marshalAppendMagnitude(b, uint64(-v), 1) // -MinInt64 wraps to its magnitude 1<<63
	}
	return marshalAppendMagnitude(b, uint64(v), 0)
}

// marshalAppendMagnitude writes SMALL_BIG_EXT: sign and little-endian magnitude.
func marshalAppendMagnitude(b []byte, mag uint64, sign byte) []byte {
	n := (bits.Len64(mag) + 7) / 8
	b = append(b, TagSmallBig, byte(n), sign)
	for i := range n {
		b = append(b, byte(mag>>(8*i)))
	}
	return b
}

// marshalAppendBinary writes BINARY_EXT.
func marshalAppendBinary[S string | []byte](b []byte, s S) ([]byte, error) {
	if uint64(len(s)) > math.MaxUint32 {
		return AppendTerm(b, Binary(s)) // the encoder's ErrTooLarge
	}
	b = append(b, TagBinary)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...), nil
}
