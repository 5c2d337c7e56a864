package etf

// MaxBigBytes is the most bytes of digits an integer may have (2^25-64
// bits, about 10 million decimal digits), the largest the BEAM holds:
// OTP's binary_to_term refuses one byte more, and so do the decoder
// (ErrTooLarge) and the encoder.
const MaxBigBytes = (1<<19 - 1) * 8

// Default limits, used for every zero field of Limits.
const (
	// DefaultMaxSize bounds the bytes of one term (64 MiB), including the
	// uncompressed size of a compressed term.
	DefaultMaxSize = 64 << 20
	// DefaultMaxDepth bounds the nesting of tuples, lists, maps and funs:
	// 100 000 levels, the most the encoder writes. No walker of terms in
	// this package recurses per level, so any depth up to it costs no
	// goroutine stack.
	DefaultMaxDepth = 100_000
	// DefaultMaxAtoms is 0: atoms are not counted apart. An atom costs a
	// decode what any element costs, within the memory bound of Limits
	// (a list of a million booleans is a legal term), and Go collects
	// atoms as it collects strings.
	DefaultMaxAtoms = 0
	// hardMaxDepth caps MaxDepth whatever the configuration, and is the
	// deepest value the encoder writes.
	hardMaxDepth = 100_000
)

// Limits bound the work and memory a decoder spends on untrusted input.
// A zero field means its default.
//
// Whatever the limits, decoding never trusts a length: a length is checked
// against the bytes that remain before anything is allocated for it. The
// term a decode returns takes at most MemoryPerByte bytes of memory per
// input byte (its worst case, a one-element tuple nested in another, is 40
// bytes for 2 bytes of input), and the decode needs at most as much again
// while it runs, for the containers it has open (48 bytes each, each at
// least 2 bytes of input) and for sorting maps.
type Limits struct {
	// MaxSize is the largest term accepted, in bytes from its tag to its
	// end; for a compressed term it also bounds the declared uncompressed
	// size, checked before inflating. Default DefaultMaxSize (64 MiB).
	MaxSize int
	// MaxDepth is the deepest nesting accepted: every tuple, list, map,
	// improper list tail holder and fun adds one level. Default
	// DefaultMaxDepth (100 000), which is also the largest value.
	MaxDepth int
	// MaxAtoms, when positive, is the largest number of atoms (each
	// occurrence counts, including the node names inside pids,
	// references and ports) in one term, beyond which decoding fails with
	// ErrAtomBudget. Zero (the default) counts none.
	MaxAtoms int
}

// MemoryPerByte bounds the memory of a decoded term per byte of its
// encoding (see Limits).
const MemoryPerByte = 24

// DefaultLimits returns the limits a zero Limits stands for.
func DefaultLimits() Limits {
	return Limits{MaxSize: DefaultMaxSize, MaxDepth: DefaultMaxDepth, MaxAtoms: DefaultMaxAtoms}
}

// withDefaults replaces zero (or negative) fields by their defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxSize <= 0 {
		l.MaxSize = DefaultMaxSize
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxDepth > hardMaxDepth {
		l.MaxDepth = hardMaxDepth
	}
	if l.MaxAtoms < 0 {
		l.MaxAtoms = 0
	}
	return l
}
