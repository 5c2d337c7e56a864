package membership

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestMetaGolden(t *testing.T) {
	// The worked example in doc.go.
	want, _ := hex.DecodeString("010103614068020e3132372e302e302e313a37393436")
	got, err := AppendMeta(nil, Meta{Node: "a@h", Gossip: "127.0.0.1:7946"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendMeta = %x; want %x", got, want)
	}
	m, err := ParseMeta(want)
	if err != nil || m != (Meta{Node: "a@h", Gossip: "127.0.0.1:7946"}) {
		t.Fatalf("ParseMeta = %+v, %v", m, err)
	}
}

// A member running the election carries tag 04 with its Raft cluster
// identity, empty until it knows one (doc.go's second example).
func TestMetaElectionGolden(t *testing.T) {
	for _, tc := range []struct {
		m   Meta
		hex string
	}{
		{Meta{Node: "a@h", Election: true}, "0101036140680400"},
		{Meta{Node: "a@h", Election: true, Cluster: "c1"}, "01010361406804026331"},
	} {
		got, err := AppendMeta(nil, tc.m)
		if err != nil || hex.EncodeToString(got) != tc.hex {
			t.Errorf("AppendMeta(%v) = %x, %v; want %s", tc.m, got, err, tc.hex)
		}
		b, _ := hex.DecodeString(tc.hex)
		if m, err := ParseMeta(b); err != nil || m != tc.m {
			t.Errorf("ParseMeta(%s) = %+v, %v; want %+v", tc.hex, m, err, tc.m)
		}
	}
}

// A meta from a member of an older version carries a Raft address (tag
// 03): it decodes, the address is ignored, and the member does not count
// as running the election (its Raft spoke TCP, not the distribution).
func TestMetaOldRaftAddress(t *testing.T) {
	b, _ := hex.DecodeString("010103614068020e3132372e302e302e313a37393436" + "030e3132372e302e302e313a38333030")
	m, err := ParseMeta(b)
	if err != nil || m != (Meta{Node: "a@h", Gossip: "127.0.0.1:7946"}) {
		t.Fatalf("ParseMeta(old meta) = %+v, %v; want node and gossip only", m, err)
	}
}

func TestMetaRoundTrip(t *testing.T) {
	for _, m := range []Meta{
		{Node: "a@h"},
		{Node: "a@h", Election: true},
		{Node: "node1@host.example.com", Gossip: "10.0.0.1:7946", Election: true, Cluster: "7f3c9a1e5b2d4c6f8a0b1c2d3e4f5a6b"},
		{Node: strings.Repeat("n", 200) + "@h", Gossip: strings.Repeat("g", 255)},
	} {
		b, err := AppendMeta([]byte("prefix"), m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("prefix")) {
			t.Fatal("AppendMeta lost dst")
		}
		got, err := ParseMeta(b[len("prefix"):])
		if err != nil || got != m {
			t.Errorf("round trip of %v = %v, %v", m, got, err)
		}
	}
}

func TestMetaErrors(t *testing.T) {
	if _, err := AppendMeta(nil, Meta{}); !errors.Is(err, ErrMeta) {
		t.Errorf("empty node: %v", err)
	}
	if _, err := AppendMeta(nil, Meta{Node: strings.Repeat("x", 256)}); !errors.Is(err, ErrMeta) {
		t.Errorf("long node: %v", err)
	}
	if _, err := AppendMeta(nil, Meta{Node: "a@h", Cluster: "c"}); !errors.Is(err, ErrMeta) {
		t.Errorf("cluster without election: %v", err)
	}
	if b, err := AppendMeta([]byte{9}, Meta{Node: "a@h", Gossip: strings.Repeat("g", 255), Election: true, Cluster: strings.Repeat("r", 255)}); !errors.Is(err, ErrMeta) || !bytes.Equal(b, []byte{9}) {
		t.Errorf("over 512 bytes: %x, %v; want dst unchanged and ErrMeta", b, err)
	}
	for _, tc := range []struct {
		hex string
		off int
	}{
		{"", 0},
		{"02010161", 0},         // version 2
		{"0101", 1},             // truncated header
		{"01010561", 1},         // truncated value
		{"0102026868", 5},       // no node name
		{"0101016101010162", 4}, // repeated
	} {
		b, err := hex.DecodeString(tc.hex)
		if err != nil {
			continue
		}
		_, err = ParseMeta(b)
		var me *MetaError
		if !errors.As(err, &me) || !errors.Is(err, ErrMeta) {
			t.Errorf("ParseMeta(%s) = %v; want a *MetaError", tc.hex, err)
			continue
		}
		if me.Offset != tc.off {
			t.Errorf("ParseMeta(%s) offset %d; want %d (%v)", tc.hex, me.Offset, tc.off, err)
		}
	}
	// Unknown tags are skipped.
	m, err := ParseMeta([]byte{1, 9, 2, 'x', 'y', 1, 3, 'a', '@', 'h'})
	if err != nil || m.Node != "a@h" {
		t.Errorf("unknown tag: %+v, %v", m, err)
	}
	if _, err := ParseMeta(make([]byte, MaxMetaSize+1)); !errors.Is(err, ErrMeta) {
		t.Errorf("oversized: %v", err)
	}
}

// FuzzMeta decodes, re-encodes and decodes again.
func FuzzMeta(f *testing.F) {
	f.Add([]byte{1, 1, 3, 'a', '@', 'h'})
	g, _ := hex.DecodeString("010103614068020e3132372e302e302e313a37393436")
	f.Add(g)
	f.Add([]byte{1, 9, 2, 'x', 'y', 1, 3, 'a', '@', 'h', 3, 0})
	f.Add([]byte{1, 1, 3, 'a', '@', 'h', 4, 2, 'c', '1'})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMeta(b)
		if err != nil {
			if !errors.Is(err, ErrMeta) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		enc, err := AppendMeta(nil, m)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", m, err)
		}
		m2, err := ParseMeta(enc)
		if err != nil || m2 != m {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", m, m2, err)
		}
	})
}

func BenchmarkParseMeta(b *testing.B) {
	enc, _ := AppendMeta(nil, Meta{Node: "node1@host.example.com", Gossip: "10.0.0.1:7946", Election: true, Cluster: "7f3c9a1e5b2d4c6f8a0b1c2d3e4f5a6b"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseMeta(enc); err != nil {
			b.Fatal(err)
		}
	}
}
