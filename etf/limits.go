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
	// DefaultMaxDepth bounds the nesting of tuples, lists, maps and funs.
	DefaultMaxDepth = 1000
	// DefaultMaxAtoms bounds the atoms of one term (as many as Erlang's own
	// default atom table holds).
	DefaultMaxAtoms = 1 << 20
	// hardMaxDepth caps MaxDepth so that the recursive decoder and encoder
	// never run the goroutine stack out, whatever the configuration.
	hardMaxDepth = 100_000
)

// Limits bound the work and memory a decoder spends on untrusted input.
// A zero field means its default. Whatever the limits, a decoder never
// allocates more than a small multiple of the input it has actually read.
type Limits struct {
	// MaxSize is the largest term accepted, in bytes from its tag to its
	// end; for a compressed term it also bounds the declared uncompressed
	// size, checked before inflating. Default DefaultMaxSize (64 MiB).
	MaxSize int
	// MaxDepth is the deepest nesting accepted: every tuple, list, map,
	// improper list tail holder and fun adds one level. Default
	// DefaultMaxDepth (1000); values above 100 000 are treated as 100 000.
	MaxDepth int
	// MaxAtoms is the largest number of atoms (each occurrence counts,
	// including the node names inside pids, references and ports) in one
	// term. Default DefaultMaxAtoms (1 048 576).
	MaxAtoms int
}

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
	if l.MaxAtoms <= 0 {
		l.MaxAtoms = DefaultMaxAtoms
	}
	return l
}
