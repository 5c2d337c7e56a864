package membership

import (
	"errors"
	"fmt"
)

// Meta is what a member tells the others about itself, carried in
// memberlist's node meta: its distribution node name, its gossip address,
// and whether it takes part in the election. See the package
// documentation for the byte layout.
type Meta struct {
	// Node is the distribution node name "alive@host". Required.
	Node string
	// Gossip is the member's gossip address "host:port".
	Gossip string
	// Election is true when the member runs the election package. Its
	// Raft traffic travels over the distribution, addressed by node name,
	// so no Raft address is carried.
	Election bool
	// Cluster is the identity of the Raft cluster the member's election
	// belongs to, empty while it knows none (and always without
	// Election). Two members with different non-empty identities belong
	// to two Raft clusters that were bootstrapped apart.
	Cluster string
}

// Meta encoding constants (wire values; never renumber).
const (
	// MetaVersion is the version byte that starts every meta.
	MetaVersion = 0x01

	metaTagNode   = 0x01
	metaTagGossip = 0x02
	// metaTagRaft (0x03) carried a Raft address "ip:port" until Raft moved
	// onto the distribution; a meta from an older member may still hold
	// it: it is skipped like any unknown tag. Never reuse 0x03.
	metaTagRaft = 0x03
	// metaTagElection is present when the member runs the election; its
	// value is the Raft cluster identity, possibly empty.
	metaTagElection = 0x04

	// MaxMetaSize is memberlist's limit on node meta (memberlist.MetaMaxSize).
	MaxMetaSize = 512
)

// ErrMeta is wrapped by every meta decoding and encoding error.
var ErrMeta = errors.New("membership: bad node meta")

// MetaError is a meta decoding error at an offset.
type MetaError struct {
	Offset int
	Reason string
}

func (e *MetaError) Error() string {
	return fmt.Sprintf("membership: bad node meta at offset %d: %s", e.Offset, e.Reason)
}

// Is makes errors.Is(err, ErrMeta) true.
func (e *MetaError) Is(target error) bool { return target == ErrMeta }

// AppendMeta appends the encoding of m to dst. A field longer than 255
// bytes, an empty Node, a Cluster without Election, or a total over
// MaxMetaSize is an error wrapping ErrMeta.
func AppendMeta(dst []byte, m Meta) ([]byte, error) {
	if m.Node == "" {
		return dst, fmt.Errorf("%w: empty node name", ErrMeta)
	}
	if m.Cluster != "" && !m.Election {
		return dst, fmt.Errorf("%w: a cluster identity without Election", ErrMeta)
	}
	start := len(dst)
	dst = append(dst, MetaVersion)
	for _, f := range [...]struct {
		tag     byte
		v       string
		present bool
	}{{metaTagNode, m.Node, true}, {metaTagGossip, m.Gossip, m.Gossip != ""}, {metaTagElection, m.Cluster, m.Election}} {
		if !f.present {
			continue
		}
		if len(f.v) > 255 {
			return dst[:start], fmt.Errorf("%w: field %d is %d bytes, over 255", ErrMeta, f.tag, len(f.v))
		}
		dst = append(dst, f.tag, byte(len(f.v)))
		dst = append(dst, f.v...)
	}
	if n := len(dst) - start; n > MaxMetaSize {
		return dst[:start], fmt.Errorf("%w: %d bytes, over the %d-byte limit", ErrMeta, n, MaxMetaSize)
	}
	return dst, nil
}

// ParseMeta decodes a meta. Fields with unknown tags are skipped, so a
// later minor revision can add fields; a repeated field, a truncated field,
// a missing node name, another version or more than MaxMetaSize bytes is
// a *MetaError. The result does not alias b.
func ParseMeta(b []byte) (Meta, error) {
	var m Meta
	if len(b) > MaxMetaSize {
		return m, &MetaError{Offset: MaxMetaSize, Reason: fmt.Sprintf("%d bytes, over the %d-byte limit", len(b), MaxMetaSize)}
	}
	if len(b) == 0 {
		return m, &MetaError{Offset: 0, Reason: "empty"}
	}
	if b[0] != MetaVersion {
		return m, &MetaError{Offset: 0, Reason: fmt.Sprintf("version %d, want %d", b[0], MetaVersion)}
	}
	var seen [256]bool
	off := 1
	for off < len(b) {
		if len(b)-off < 2 {
			return m, &MetaError{Offset: off, Reason: "truncated field header"}
		}
		tag, n := b[off], int(b[off+1])
		if len(b)-off-2 < n {
			return m, &MetaError{Offset: off, Reason: fmt.Sprintf("field %d wants %d bytes, %d left", tag, n, len(b)-off-2)}
		}
		if seen[tag] {
			return m, &MetaError{Offset: off, Reason: fmt.Sprintf("field %d repeated", tag)}
		}
		seen[tag] = true
		v := string(b[off+2 : off+2+n])
		switch tag {
		case metaTagNode:
			m.Node = v
		case metaTagGossip:
			m.Gossip = v
		case metaTagElection:
			m.Election, m.Cluster = true, v
		}
		off += 2 + n
	}
	if m.Node == "" {
		return m, &MetaError{Offset: off, Reason: "no node name"}
	}
	return m, nil
}

func (m Meta) String() string {
	s := fmt.Sprintf("meta{node=%s gossip=%s", m.Node, m.Gossip)
	if m.Election {
		s += " election cluster=" + m.Cluster
	}
	return s + "}"
}
