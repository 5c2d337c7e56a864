package membership

import (
	"context"
	"errors"
	"fmt"
	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
)

// appendStr, appendMapHeader and appendPushPull encode as hashicorp's
// go-msgpack does for memberlist (raw strings for string and []byte).
func appendStr(dst []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		dst = append(dst, 0xa0|byte(n))
	case n < 1<<8:
		dst = append(dst, 0xd9, byte(n))
	case n < 1<<16:
		dst = append(dst, 0xda, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, s...)
}

func appendUint(dst []byte, v uint64) []byte {
	switch {
	case v <= 0x7f:
		return append(dst, byte(v))
	case v <= 0xff:
		return append(dst, 0xcc, byte(v))
	case v <= 0xffff:
		return append(dst, 0xcd, byte(v>>8), byte(v))
	case v <= 0xffffffff:
		return append(dst, 0xce, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return append(dst, 0xcf, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func appendPushPull(recs []nodeRecord) []byte {
	b := []byte{6, 0x83}
	b = appendStr(b, "Nodes")
	b = appendUint(b, uint64(len(recs)))
	b = appendStr(b, "UserStateLen")
	b = appendUint(b, 0)
	b = appendStr(b, "Join")
	b = append(b, 0xc2)
	for _, r := range recs {
		b = append(b, 0x87)
		b = appendStr(appendStr(b, "Name"), r.Name)
		b = appendStr(appendStr(b, "Addr"), string(r.Addr))
		b = appendUint(appendStr(b, "Port"), uint64(r.Port))
		b = appendStr(appendStr(b, "Meta"), string(r.Meta))
		b = appendUint(appendStr(b, "Incarnation"), uint64(r.Incarnation))
		b = appendUint(appendStr(b, "State"), uint64(r.State))
		b = appendStr(appendStr(b, "Vsn"), "\x01\x05\x02\x02\x05\x04")
	}
	return b
}

func gossipOnly(t testing.TB, name string) *Membership {
	t.Helper()
	m, err := Start(context.Background(), nil, Config{Name: distribute.Atom(name), Cookie: testCookie, Profile: Local()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Stop(context.Background()) })
	return m
}

// TestSnapshotFromMemberlist reads the table the way the status table
// does, from the real memberlist, and checks what it decodes.
func TestSnapshotFromMemberlist(t *testing.T) {
	a, b := gossipOnly(t, "snap_a@localhost"), gossipOnly(t, "snap_b@localhost")
	ctx := context.Background()
	join(t, b, a.GossipAddr())
	var raw []byte
	// Both alive: on a loaded machine one may be suspect for a while.
	distributetest.WaitForWithin(t, 20*time.Second, "2 alive members in memberlist's table", func() bool {
		var err error
		raw, err = a.tr.snapshotRaw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := parsePushPull(raw)
		if err != nil || len(recs) != 2 {
			return false
		}
		for _, r := range recs {
			if stateOf(r.State) != StateAlive {
				return false
			}
		}
		return true
	})
	recs, _ := parsePushPull(raw)
	for _, r := range recs {
		meta, err := ParseMeta(r.Meta)
		if err != nil {
			t.Fatalf("%s: meta: %v", r.Name, err)
		}
		want := map[string]string{"snap_a@localhost": a.GossipAddr(), "snap_b@localhost": b.GossipAddr()}[r.Name]
		if meta.Node != r.Name || meta.Gossip != want || fmt.Sprintf("%s:%d", net4(r.Addr), r.Port) != want {
			t.Errorf("record %+v meta %+v; want gossip %s", r, meta, want)
		}
		if stateOf(r.State) != StateAlive || r.Incarnation == 0 {
			t.Errorf("record %s state %d incarnation %d; want alive, incarnation > 0", r.Name, r.State, r.Incarnation)
		}
	}
	// Our test encoder writes what memberlist writes.
	if again := appendPushPull(recs); !reflect.DeepEqual(mustParse(t, again), recs) {
		t.Errorf("re-encoded snapshot decodes differently")
	}
}

func net4(b []byte) string {
	if len(b) == 4 {
		return fmt.Sprintf("%d.%d.%d.%d", b[0], b[1], b[2], b[3])
	}
	return fmt.Sprint(b)
}

func mustParse(t testing.TB, b []byte) []nodeRecord {
	t.Helper()
	r, err := parsePushPull(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParsePushPullErrors(t *testing.T) {
	good := appendPushPull([]nodeRecord{{Name: "a@h", Addr: []byte{127, 0, 0, 1}, Port: 7946, Meta: []byte{1, 1, 3, 'a', '@', 'h'}, Incarnation: 300, State: 1}})
	if _, err := parsePushPull(good); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(good); i++ {
		if _, err := parsePushPull(good[:i]); !errors.Is(err, ErrSnapshot) {
			t.Errorf("truncated at %d: %v; want ErrSnapshot", i, err)
		}
	}
	huge := appendPushPull(nil)
	huge[8] = 0xce // Nodes: u32 follows
	huge = append(huge[:9], append([]byte{0xff, 0xff, 0xff, 0xff}, huge[9:]...)...)
	if _, err := parsePushPull(huge); !errors.Is(err, ErrSnapshot) {
		t.Errorf("4 G nodes: %v; want ErrSnapshot", err)
	}
	if _, err := parsePushPull([]byte{13, 0x80}); !errors.Is(err, ErrSnapshot) {
		t.Errorf("error message: %v; want ErrSnapshot", err)
	}
}

// FuzzParsePushPull decodes, re-encodes and decodes again.
func FuzzParsePushPull(f *testing.F) {
	f.Add(appendPushPull([]nodeRecord{{Name: "a@h", Addr: []byte{127, 0, 0, 1}, Port: 7946, Meta: []byte{1, 1, 3, 'a', '@', 'h'}, Incarnation: 300, State: 1}}))
	f.Add(appendPushPull(nil))
	f.Add([]byte{6, 0x81, 0xa5, 'N', 'o', 'd', 'e', 's', 0x01, 0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := parsePushPull(b)
		if err != nil {
			if !errors.Is(err, ErrSnapshot) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		for i := range recs {
			if recs[i].State < 0 || recs[i].State > 0xffffffff {
				return // outside what the test encoder writes
			}
		}
		again, err := parsePushPull(appendPushPull(recs))
		if err != nil {
			t.Fatalf("re-encoded: %v", err)
		}
		for i := range recs {
			// nil and empty byte strings encode alike.
			if len(recs[i].Addr) == 0 {
				recs[i].Addr, again[i].Addr = nil, nil
			}
			if len(recs[i].Meta) == 0 {
				recs[i].Meta, again[i].Meta = nil, nil
			}
			if len(again[i].Addr) == 0 {
				again[i].Addr = nil
			}
			if len(again[i].Meta) == 0 {
				again[i].Meta = nil
			}
		}
		if !reflect.DeepEqual(recs, again) {
			t.Fatalf("decode(encode(%+v)) = %+v", recs, again)
		}
	})
}

// snapshotVersion is the memberlist release whose push/pull format
// parsePushPull reads (its pushPullHeader and pushNodeState, encoded by
// go-msgpack). The format is memberlist's private wire format: a new
// release may change it without notice, so an upgrade fails here until
// TestSnapshotFromMemberlist and TestSnapshotStatesFromMemberlist have
// been checked against it and this constant moved.
const snapshotVersion = "v0.6.0"

func TestSnapshotFormatPinned(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}{{with .Replace}} => {{.Path}} {{.Version}}{{end}}", "github.com/hashicorp/memberlist").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -m memberlist: %v\n%s", err, out)
	}
	if v := strings.TrimSpace(string(out)); v != snapshotVersion {
		t.Fatalf("memberlist %s is built in; parsePushPull reads the push/pull format of %s: check it against the new release, then move snapshotVersion", v, snapshotVersion)
	}
}

// TestSnapshotStatesFromMemberlist: the states the status table relies on
// (suspect, dead, and left after a Leave) come out of the real
// memberlist's table as parsePushPull reads them.
func TestSnapshotStatesFromMemberlist(t *testing.T) {
	a, b, c := gossipOnly(t, "st_a@localhost"), gossipOnly(t, "st_b@localhost"), gossipOnly(t, "st_c@localhost")
	ctx := context.Background()
	join(t, b, a.GossipAddr())
	join(t, c, a.GossipAddr())
	stateAtA := func(name string) (int, bool) {
		raw, err := a.tr.snapshotRaw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := parsePushPull(raw)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Name == name {
				return r.State, true
			}
		}
		return 0, false
	}
	distributetest.WaitForWithin(t, 20*time.Second, "b and c alive in a's table", func() bool {
		sb, okb := stateAtA("st_b@localhost")
		sc, okc := stateAtA("st_c@localhost")
		return okb && okc && stateOf(sb) == StateAlive && stateOf(sc) == StateAlive
	})
	if err := b.Stop(ctx); err != nil { // leaves
		t.Fatal(err)
	}
	distributetest.WaitForWithin(t, 20*time.Second, "b left in a's table", func() bool {
		s, ok := stateAtA("st_b@localhost")
		return ok && stateOf(s) == StateLeft
	})
	// c stops answering without a Leave: suspect, then dead.
	if err := c.stop(ctx, false); err != nil {
		t.Fatal(err)
	}
	seen := map[State]bool{}
	distributetest.WaitForWithin(t, 30*time.Second, "c dead in a's table", func() bool {
		s, ok := stateAtA("st_c@localhost")
		if ok {
			seen[stateOf(s)] = true
		}
		return ok && stateOf(s) == StateDead
	})
	if !seen[StateSuspect] {
		t.Log("c went from alive to dead between two reads, not seen as suspect")
	}
}
