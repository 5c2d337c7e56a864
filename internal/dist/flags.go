package dist

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// Flags is the 64-bit capability word exchanged in the version-6 handshake
// ('N' send_name and 'N' challenge); the bits are OTP's DFLAG_* values.
type Flags uint64

// Capability flags, with their wire values (DFLAG_* in OTP's dist.hrl).
const (
	Published          Flags = 0x1         // node is visible; the connection is visible only if both set it
	AtomCache          Flags = 0x2         // obsolete, never set
	ExtendedReferences Flags = 0x4         // mandatory since OTP 25
	DistMonitor        Flags = 0x8         // MONITOR_P / DEMONITOR_P over the wire
	FunTags            Flags = 0x10        // mandatory since OTP 25
	DistMonitorName    Flags = 0x20        // monitors of {Name, Node}
	HiddenAtomCache    Flags = 0x40        // obsolete
	NewFunTags         Flags = 0x80        // mandatory since OTP 25
	ExtendedPidsPorts  Flags = 0x100       // mandatory since OTP 25
	ExportPtrTag       Flags = 0x200       // mandatory since OTP 25
	BitBinaries        Flags = 0x400       // mandatory since OTP 25
	NewFloats          Flags = 0x800       // mandatory since OTP 25
	UnicodeIO          Flags = 0x1000      // io protocol may carry unicode
	DistHdrAtomCache   Flags = 0x2000      // distribution header with atom cache (changes framing)
	SmallAtomTags      Flags = 0x4000      // SMALL_ATOM_EXT
	UTF8Atoms          Flags = 0x10000     // mandatory since OTP 25
	MapTag             Flags = 0x20000     // mandatory since OTP 25
	BigCreation        Flags = 0x40000     // mandatory since OTP 25
	SendSender         Flags = 0x80000     // SEND_SENDER instead of SEND
	BigSeqtraceLabels  Flags = 0x100000    // seq_trace labels may be any term
	ExitPayload        Flags = 0x400000    // PAYLOAD_EXIT*, PAYLOAD_MONITOR_P_EXIT
	Fragments          Flags = 0x800000    // fragmented messages (changes framing)
	Handshake23        Flags = 0x1000000   // version-6 handshake; mandatory since OTP 25
	UnlinkID           Flags = 0x2000000   // UNLINK_ID / UNLINK_ID_ACK; mandatory since OTP 26
	MandatoryDigest25  Flags = 0x4000000   // 1<<26: shorthand for all of Mandatory25
	Spawn              Flags = 0x100000000 // 1<<32: SPAWN_REQUEST / SPAWN_REPLY
	NameMe             Flags = 0x200000000 // 1<<33: "assign me a name" (a request, not a capability)
	V4NC               Flags = 0x400000000 // 1<<34: 32-bit pid id/serial, 64-bit port ids; mandatory since OTP 26
	Alias              Flags = 0x800000000 // 1<<35: ALIAS_SEND
)

// Mandatory25 is the set OTP 25 refuses to connect without (0x1070f94).
const Mandatory25 = ExtendedReferences | FunTags | ExtendedPidsPorts | UTF8Atoms |
	NewFunTags | BigCreation | NewFloats | MapTag | ExportPtrTag | BitBinaries | Handshake23

// Mandatory26 is the set OTP 26 and 27 refuse to connect without.
const Mandatory26 = Mandatory25 | V4NC | UnlinkID

// DefaultFlags is what this package advertises for a hidden node
// (0xd07df2fbc); add Published for a visible node (0xd07df2fbd). With
// DistHdrAtomCache and Fragments, a connection to a peer that has them too
// (every BEAM node does) is in header mode: frames carry a distribution
// header whose atom cache spares both sides the text of repeated atoms
// (see HeaderCache), and either side may split a large message into
// fragments (see Fragmenter, Reassembler).
const DefaultFlags = Mandatory26 | MandatoryDigest25 | DistMonitor | DistMonitorName | DistHdrAtomCache |
	Fragments | SendSender | ExitPayload | BigSeqtraceLabels | Spawn | Alias

// HeaderMode reports whether a connection with these negotiated flags
// frames its data with a distribution header (131, 68, or fragments)
// rather than pass-through (112): DistHdrAtomCache or Fragments is set.
func (f Flags) HeaderMode() bool { return f&(DistHdrAtomCache|Fragments) != 0 }

var flagNames = [...]struct {
	f    Flags
	name string
}{
	{Published, "PUBLISHED"},
	{AtomCache, "ATOM_CACHE"},
	{ExtendedReferences, "EXTENDED_REFERENCES"},
	{DistMonitor, "DIST_MONITOR"},
	{FunTags, "FUN_TAGS"},
	{DistMonitorName, "DIST_MONITOR_NAME"},
	{HiddenAtomCache, "HIDDEN_ATOM_CACHE"},
	{NewFunTags, "NEW_FUN_TAGS"},
	{ExtendedPidsPorts, "EXTENDED_PIDS_PORTS"},
	{ExportPtrTag, "EXPORT_PTR_TAG"},
	{BitBinaries, "BIT_BINARIES"},
	{NewFloats, "NEW_FLOATS"},
	{UnicodeIO, "UNICODE_IO"},
	{DistHdrAtomCache, "DIST_HDR_ATOM_CACHE"},
	{SmallAtomTags, "SMALL_ATOM_TAGS"},
	{UTF8Atoms, "UTF8_ATOMS"},
	{MapTag, "MAP_TAG"},
	{BigCreation, "BIG_CREATION"},
	{SendSender, "SEND_SENDER"},
	{BigSeqtraceLabels, "BIG_SEQTRACE_LABELS"},
	{ExitPayload, "EXIT_PAYLOAD"},
	{Fragments, "FRAGMENTS"},
	{Handshake23, "HANDSHAKE_23"},
	{UnlinkID, "UNLINK_ID"},
	{MandatoryDigest25, "MANDATORY_25_DIGEST"},
	{Spawn, "SPAWN"},
	{NameMe, "NAME_ME"},
	{V4NC, "V4_NC"},
	{Alias, "ALIAS"},
}

// Names returns the names of the set bits in ascending bit order, using
// OTP's spelling ("MAP_TAG"); unknown bits are printed as hex ("0x8000").
func (f Flags) Names() []string {
	var out []string
	for f != 0 {
		bit := Flags(1) << bits.TrailingZeros64(uint64(f))
		f &^= bit
		out = append(out, bit.name())
	}
	return out
}

func (bit Flags) name() string {
	for _, n := range flagNames {
		if n.f == bit {
			return n.name
		}
	}
	return "0x" + strconv.FormatUint(uint64(bit), 16)
}

// String prints the word as hex followed by the flag names, e.g.
// "0x4000001[PUBLISHED|MANDATORY_25_DIGEST]".
func (f Flags) String() string {
	return "0x" + strconv.FormatUint(uint64(f), 16) + "[" + strings.Join(f.Names(), "|") + "]"
}

// Expand applies OTP's MANDATORY_25_DIGEST rule: a word with bit 26 set is
// treated as if it carried every Mandatory25 bit (section 3.3).
func (f Flags) Expand() Flags {
	if f&MandatoryDigest25 != 0 {
		f |= Mandatory25
	}
	return f
}

// MissingFlagsError reports the mandatory flags a peer did not offer.
// It matches ErrMissingFlags with errors.Is.
type MissingFlagsError struct {
	Missing Flags
}

func (e *MissingFlagsError) Error() string {
	return fmt.Sprintf("dist: peer cannot handle %q", e.Missing.Names())
}

// Is reports whether target is ErrMissingFlags or ErrHandshake.
func (e *MissingFlagsError) Is(target error) bool {
	return target == ErrMissingFlags || target == ErrHandshake
}

// Negotiate computes the flags a connection uses: ours & expand(theirs).
// It fails with a *MissingFlagsError when theirs (expanded) lacks any
// bit of Mandatory26, which OTP 26+ require and OTP 25 nodes offer too.
// NameMe is not a capability and never survives negotiation.
func Negotiate(ours, theirs Flags) (Flags, error) {
	theirs = theirs.Expand()
	if missing := Mandatory26 &^ theirs; missing != 0 {
		return 0, &MissingFlagsError{Missing: missing}
	}
	return ours.Expand() & theirs &^ NameMe, nil
}
