package etf

import (
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// This file reads `etf` struct tags once per Go type and caches what it
// learns (in typeCache), so Marshal and Unmarshal of a type they have seen
// do no tag parsing. The tags are documented on Marshal.

// Struct encodings.
const (
	structMap    = 0
	structRecord = 1
	structElixir = 2
)

// maxDepth bounds how deeply ToTerm and FromTerm nest, so a cyclic Go value
// (or a self-referencing term built by hand) is an error, not a stack overflow.
const maxDepth = 10000

// StructTagError reports an `etf` struct tag that cannot be honoured. It is
// returned by Marshal, Unmarshal, ToTerm and FromTerm when they meet the type.
type StructTagError struct {
	Type  reflect.Type // the struct type
	Field string       // the Go field name
	Msg   string
}

func (e *StructTagError) Error() string {
	return fmt.Sprintf("etf: struct %v field %s: %s", e.Type, e.Field, e.Msg)
}

// fieldInfo describes one encoded field of a struct type.
type fieldInfo struct {
	name      string // the key text
	key       Term   // Atom(name), boxed once
	keyBytes  []byte // the encoding of key, without the version byte
	index     []int  // path for reflect.Value.FieldByIndex (embedded structs)
	typ       reflect.Type
	omitEmpty bool
	asAtom    bool
	asChars   bool
}

// structInfo describes how a struct type is encoded.
type structInfo struct {
	mode     int
	name     Atom // record tag or Elixir module
	nameTerm Term // name, boxed once
	fields   []fieldInfo
	byName   map[string]int // key text -> index in fields
	err      error          // a *StructTagError, reported on every use

	// For the map and Elixir encodings: the fields in Erlang term order of
	// their keys (the order encoders write map pairs in), and how many of
	// them sort before the key '__struct__'.
	order     []int
	structPos int
	// nameBytes is the encoding of name, without the version byte.
	nameBytes []byte
}

// typeInfo caches what the converters ask about a Go type.
type typeInfo struct {
	marshaler       bool // the type implements Marshaler
	addrMarshaler   bool // *T implements Marshaler (and T does not)
	addrUnmarshaler bool // *T implements Unmarshaler
	byteSlice       bool // a slice or array of a uint8 kind whose element is not a (Un)Marshaler
	// directList: a slice or array whose elements can never encode as
	// small integers, so Marshal may write LIST_EXT without building a term.
	directList bool
	st         *structInfo
}

var typeCache sync.Map // reflect.Type -> *typeInfo

var (
	marshalerType   = reflect.TypeFor[Marshaler]()
	unmarshalerType = reflect.TypeFor[Unmarshaler]()
	bigIntType      = reflect.TypeFor[big.Int]()
)

// cachedTypeInfo returns the cached description of t, computing it on first use.
func cachedTypeInfo(t reflect.Type) *typeInfo {
	if ti, ok := typeCache.Load(t); ok {
		return ti.(*typeInfo)
	}
	ti := &typeInfo{
		marshaler: t.Implements(marshalerType),
	}
	if t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface {
		pt := reflect.PointerTo(t)
		ti.addrMarshaler = !ti.marshaler && pt.Implements(marshalerType)
		ti.addrUnmarshaler = pt.Implements(unmarshalerType)
	}
	if k := t.Kind(); k == reflect.Slice || k == reflect.Array {
		e := t.Elem()
		ti.byteSlice = e.Kind() == reflect.Uint8 &&
			!e.Implements(marshalerType) && !reflect.PointerTo(e).Implements(marshalerType) &&
			!reflect.PointerTo(e).Implements(unmarshalerType)
	}
	if k := t.Kind(); (k == reflect.Slice || k == reflect.Array) &&
		t != listType && t != tupleType && t != mapType && t != binaryType {
		ti.directList = neverSmallInt(t.Elem())
	}
	if t.Kind() == reflect.Struct && t != bigIntType && !isModelType(t) {
		ti.st = buildStructInfo(t)
	}
	actual, _ := typeCache.LoadOrStore(t, ti)
	return actual.(*typeInfo)
}

// neverSmallInt reports whether no value of t encodes as an integer, so a
// list of them is never STRING_EXT.
func neverSmallInt(t reflect.Type) bool {
	if t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType) {
		return false
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64, reflect.Map, reflect.Slice, reflect.Array:
		return true
	case reflect.Struct:
		return t != bigIntType
	}
	return false
}

// parsedTag is an `etf` tag split into its name and options.
type parsedTag struct {
	name string
	opts []string
}

func parseTag(tag string) parsedTag {
	parts := strings.Split(tag, ",")
	return parsedTag{name: parts[0], opts: parts[1:]}
}

func buildStructInfo(t reflect.Type) *structInfo {
	si := &structInfo{mode: structMap}
	fail := func(field, msg string) *structInfo {
		si.err = &StructTagError{Type: t, Field: field, Msg: msg}
		return si
	}
	// The marker field, if any, sets the encoding.
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name != "_" {
			continue
		}
		tag, ok := f.Tag.Lookup("etf")
		if !ok {
			continue
		}
		p := parseTag(tag)
		if len(p.opts) > 1 {
			return fail(f.Name, fmt.Sprintf("marker tag %q has more than a mode and a name", tag))
		}
		name := ""
		if len(p.opts) == 1 {
			name = p.opts[0]
		}
		switch p.name {
		case "map":
			if name != "" {
				return fail(f.Name, "the map mode takes no name")
			}
			si.mode = structMap
		case "record":
			si.mode = structRecord
			if name == "" {
				name = snakeCase(t.Name())
			}
		case "elixir":
			si.mode = structElixir
			if name == "" {
				name = "Elixir." + t.Name()
			}
		default:
			return fail(f.Name, fmt.Sprintf("unknown struct mode %q (want map, record or elixir)", p.name))
		}
		if si.mode != structMap {
			if name == "" || name == "Elixir." {
				return fail(f.Name, "an anonymous struct type needs an explicit record or module name")
			}
			if utf8.RuneCountInString(name) > 255 || !utf8.ValidString(name) {
				return fail(f.Name, fmt.Sprintf("name %q is not a valid atom", name))
			}
			si.name = Atom(name)
			si.nameTerm = si.name
		}
		break
	}

	if err := collectFields(si, t, nil, 0); err != nil {
		si.err = err
		return si
	}
	si.byName = make(map[string]int, len(si.fields))
	for i, f := range si.fields {
		if _, dup := si.byName[f.name]; dup {
			return fail(f.index2name(t), fmt.Sprintf("duplicate key %q", f.name))
		}
		if si.mode == structElixir && f.name == "__struct__" {
			return fail(f.index2name(t), "the key __struct__ is reserved in an Elixir struct")
		}
		if si.mode == structRecord && f.omitEmpty {
			return fail(f.index2name(t), "omitempty cannot be used in a record")
		}
		si.byName[f.name] = i
	}
	for i := range si.fields {
		f := &si.fields[i]
		b, err := AppendTerm(nil, f.key)
		if err != nil {
			return fail(f.index2name(t), fmt.Sprintf("key %q is not a valid atom: %v", f.name, err))
		}
		f.keyBytes = b
		si.order = append(si.order, i)
		if f.name < "__struct__" {
			si.structPos++
		}
	}
	// Atoms order by their text, code point by code point, which for UTF-8
	// is byte order.
	slices.SortFunc(si.order, func(a, b int) int { return strings.Compare(si.fields[a].name, si.fields[b].name) })
	if si.mode != structMap {
		b, err := AppendTerm(nil, si.name)
		if err != nil {
			return fail("_", fmt.Sprintf("name %q is not a valid atom: %v", si.name, err))
		}
		si.nameBytes = b
	}
	return si
}

// index2name names a field by its Go path for error messages.
func (f fieldInfo) index2name(t reflect.Type) string {
	var names []string
	for _, i := range f.index {
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		sf := t.Field(i)
		names = append(names, sf.Name)
		t = sf.Type
	}
	return strings.Join(names, ".")
}

// collectFields appends the encoded fields of t (and, flattened, of its
// untagged embedded structs) to si.fields in declaration order.
func collectFields(si *structInfo, t reflect.Type, index []int, depth int) error {
	if depth > 16 {
		return &StructTagError{Type: t, Field: "", Msg: "embedded structs nested too deeply"}
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == "_" {
			continue
		}
		tag := f.Tag.Get("etf")
		if tag == "-" {
			continue
		}
		p := parseTag(tag)
		idx := append(append([]int(nil), index...), i)

		if f.Anonymous && p.name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && !isModelType(ft) && ft != bigIntType &&
				!reflect.PointerTo(ft).Implements(marshalerType) && !reflect.PointerTo(ft).Implements(unmarshalerType) {
				if !f.IsExported() && f.Type.Kind() == reflect.Pointer {
					// An unexported embedded pointer cannot be allocated when decoding.
					continue
				}
				if err := collectFields(si, ft, idx, depth+1); err != nil {
					return err
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		fi := fieldInfo{name: p.name, index: idx, typ: f.Type}
		if fi.name == "" {
			fi.name = snakeCase(f.Name)
		}
		if !utf8.ValidString(fi.name) || utf8.RuneCountInString(fi.name) > 255 {
			return &StructTagError{Type: t, Field: f.Name, Msg: fmt.Sprintf("key %q is not a valid atom", fi.name)}
		}
		for _, o := range p.opts {
			switch o {
			case "omitempty":
				fi.omitEmpty = true
			case "atom", "charlist":
				if baseKind(f.Type) != reflect.String {
					return &StructTagError{Type: t, Field: f.Name, Msg: "option " + o + " needs a string field (or a pointer, slice or array of strings)"}
				}
				fi.asAtom = o == "atom"
				fi.asChars = o == "charlist"
			case "":
			default:
				return &StructTagError{Type: t, Field: f.Name, Msg: fmt.Sprintf("unknown option %q", o)}
			}
		}
		fi.key = Atom(fi.name)
		si.fields = append(si.fields, fi)
	}
	return nil
}

// elemOpts returns the options of f that apply to the elements of a slice
// or array field: atom and charlist.
func (f fieldInfo) elemOpts() fieldInfo {
	return fieldInfo{asAtom: f.asAtom, asChars: f.asChars}
}

// baseKind is the kind under any pointers, slices and arrays of t.
func baseKind(t reflect.Type) reflect.Kind {
	for {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			t = t.Elem()
		default:
			return t.Kind()
		}
	}
}

// isModelType reports whether t is one of the term-model struct types that
// pass through Marshal and Unmarshal unchanged.
func isModelType(t reflect.Type) bool {
	switch t {
	case pidType, refType, portType, exportType, funType, bitBinaryType, improperListType:
		return true
	}
	return false
}

var (
	pidType          = reflect.TypeFor[Pid]()
	refType          = reflect.TypeFor[Ref]()
	portType         = reflect.TypeFor[Port]()
	exportType       = reflect.TypeFor[Export]()
	funType          = reflect.TypeFor[Fun]()
	bitBinaryType    = reflect.TypeFor[BitBinary]()
	improperListType = reflect.TypeFor[ImproperList]()
)

// snakeCase converts a Go identifier to the snake_case used for Erlang and
// Elixir keys: Name -> name, UserID -> user_id, HTTPServer -> http_server,
// Field2 -> field2.
func snakeCase(s string) string {
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 {
				prev := rs[i-1]
				nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
				if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
					b.WriteByte('_')
				}
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
