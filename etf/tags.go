package etf

// VersionByte starts every standalone encoded term.
const VersionByte = 131

// Tag bytes of the External Term Format (see the package documentation for
// their layouts).
const (
	TagNewFloat       = 70  // NEW_FLOAT_EXT
	TagBitBinary      = 77  // BIT_BINARY_EXT
	TagCompressed     = 80  // compressed term, right after the version byte
	TagAtomCacheRef   = 82  // ATOM_CACHE_REF, distribution header mode only
	TagNewPid         = 88  // NEW_PID_EXT
	TagNewPort        = 89  // NEW_PORT_EXT
	TagNewerReference = 90  // NEWER_REFERENCE_EXT
	TagSmallInteger   = 97  // SMALL_INTEGER_EXT
	TagInteger        = 98  // INTEGER_EXT
	TagFloat          = 99  // FLOAT_EXT (decode only)
	TagAtom           = 100 // ATOM_EXT, Latin-1 (decode only)
	TagReference      = 101 // REFERENCE_EXT (decode only)
	TagPort           = 102 // PORT_EXT (decode only)
	TagPid            = 103 // PID_EXT (decode only)
	TagSmallTuple     = 104 // SMALL_TUPLE_EXT
	TagLargeTuple     = 105 // LARGE_TUPLE_EXT
	TagNil            = 106 // NIL_EXT
	TagString         = 107 // STRING_EXT
	TagList           = 108 // LIST_EXT
	TagBinary         = 109 // BINARY_EXT
	TagSmallBig       = 110 // SMALL_BIG_EXT
	TagLargeBig       = 111 // LARGE_BIG_EXT
	TagNewFun         = 112 // NEW_FUN_EXT
	TagExport         = 113 // EXPORT_EXT
	TagNewReference   = 114 // NEW_REFERENCE_EXT (decode only)
	TagSmallAtom      = 115 // SMALL_ATOM_EXT, Latin-1 (decode only)
	TagMap            = 116 // MAP_EXT
	TagFun            = 117 // FUN_EXT (rejected)
	TagAtomUTF8       = 118 // ATOM_UTF8_EXT
	TagSmallAtomUTF8  = 119 // SMALL_ATOM_UTF8_EXT
	TagV4Port         = 120 // V4_PORT_EXT
	TagLocal          = 121 // LOCAL_EXT (rejected)
)

// MaxAtomChars is the most characters an atom may have.
const MaxAtomChars = 255

// MaxStringLen is the most elements a STRING_EXT holds.
const MaxStringLen = 65535
