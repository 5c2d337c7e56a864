package dist

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func TestFlagConstants(t *testing.T) {
	cases := []struct {
		name      string
		got, want Flags
	}{
		{"Mandatory25", Mandatory25, 0x1070f94},
		{"Mandatory26", Mandatory26, 0x403070f94},
		{"DefaultFlags", DefaultFlags, 0xd07df2fbc},
		{"DefaultFlags|Published", DefaultFlags | Published, 0xd07df2fbd},
		{"Alias", Alias, 1 << 35},
		{"NameMe", NameMe, 1 << 33},
		{"MandatoryDigest25", MandatoryDigest25, 1 << 26},
		{"Spawn", Spawn, 1 << 32},
		{"V4NC", V4NC, 1 << 34},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s = %#x; want %#x", c.name, uint64(c.got), uint64(c.want))
		}
	}
	if got, want := (Published | MandatoryDigest25).String(), "0x4000001[PUBLISHED|MANDATORY_25_DIGEST]"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
	if got, want := Flags(0x8000).String(), "0x8000[0x8000]"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
}

func TestNegotiate(t *testing.T) {
	// Erlang's stock flags against ours.
	got, err := Negotiate(DefaultFlags, 0xd07df7fbd)
	if err != nil {
		t.Fatal(err)
	}
	if got != DefaultFlags {
		t.Errorf("negotiated %v; want %v", got, DefaultFlags)
	}
	// The digest bit stands for all of M25 (E8/E15c).
	got, err = Negotiate(DefaultFlags|Published, Published|UnlinkID|MandatoryDigest25|V4NC)
	if err != nil {
		t.Fatal(err)
	}
	if want := Mandatory26 | MandatoryDigest25 | Published; got != want {
		t.Errorf("negotiated %v; want %v", got, want)
	}
	// M25 minus MAP_TAG is refused, naming the flag.
	_, err = Negotiate(DefaultFlags, Mandatory26&^MapTag)
	var mf *MissingFlagsError
	if !errors.As(err, &mf) || !errors.Is(err, ErrMissingFlags) || mf.Missing != MapTag {
		t.Fatalf("err = %v; want MissingFlagsError{MAP_TAG}", err)
	}
	if got, want := err.Error(), `dist: peer cannot handle ["MAP_TAG"]`; got != want {
		t.Errorf("error %q; want %q", got, want)
	}
	// Only M25 (an OTP 27 node refuses this too).
	_, err = Negotiate(DefaultFlags, Mandatory25)
	if !errors.As(err, &mf) || mf.Missing != V4NC|UnlinkID {
		t.Fatalf("err = %v; want missing V4_NC and UNLINK_ID", err)
	}
	// NameMe never survives.
	got, _ = Negotiate(DefaultFlags|NameMe, DefaultFlags|NameMe)
	if got&NameMe != 0 {
		t.Errorf("NameMe survived negotiation: %v", got)
	}
}

// The send_name captured from e1@vm (OTP 25.2.3), section 2.2.
var goldenSendName = mustHex("4e0000000d07df7fbd6b0766110005653140766d")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestSendNameGolden(t *testing.T) {
	m, err := ParseSendName(goldenSendName)
	if err != nil {
		t.Fatal(err)
	}
	want := SendName{Version: 6, Flags: 0xd07df7fbd, Creation: 0x6b076611, Name: "e1@vm"}
	if m != want {
		t.Fatalf("parsed %+v; want %+v", m, want)
	}
	if got := AppendSendName(nil, m); !bytes.Equal(got, goldenSendName) {
		t.Fatalf("encoded %x; want %x", got, goldenSendName)
	}
	// Trailing bytes are ignored.
	if m2, err := ParseSendName(append(append([]byte{}, goldenSendName...), 1, 2, 3)); err != nil || m2 != want {
		t.Fatalf("with trailing bytes: %+v, %v", m2, err)
	}
	// The old v5 form.
	v5 := append([]byte{'n', 0, 5, 0, 0x7d, 0xf7, 0xfd}, "e1@vm"...)
	m, err = ParseSendName(v5)
	if err != nil || m != (SendName{Version: 5, Flags: 0x7df7fd, Name: "e1@vm"}) {
		t.Fatalf("v5: %+v, %v", m, err)
	}
}

func TestMessageRoundTrips(t *testing.T) {
	ch := Challenge{Flags: 0xf07df7fbc, Challenge: 0xdeadbeef, Creation: 7, Name: "b@h"}
	b := AppendChallenge(nil, ch)
	if len(b) != 19+3 {
		t.Errorf("challenge size %d; want 22", len(b))
	}
	if got, err := ParseChallenge(b); err != nil || got != ch {
		t.Errorf("challenge: %+v, %v", got, err)
	}
	for _, st := range []Status{{Text: StatusOK}, {Text: StatusOKSimultaneous}, {Text: StatusNok}, {Text: StatusNotAllowed}, {Text: StatusAlive}, {Text: StatusTrue}, {Text: StatusFalse}, {Text: StatusNamed, Name: "SBP935OFK7BQ@vm", Creation: 0x1234}} {
		b := AppendStatus(nil, st)
		if got, err := ParseStatus(b); err != nil || got != st {
			t.Errorf("status %+v: %+v, %v", st, got, err)
		}
	}
	if got := AppendStatus(nil, Status{Text: StatusOK}); string(got) != "sok" {
		t.Errorf("status ok = %q", got)
	}
	if got, want := AppendStatus(nil, Status{Text: StatusNamed, Name: "AB@vm", Creation: 1}), append([]byte("snamed:\x00\x05AB@vm"), 0, 0, 0, 1); !bytes.Equal(got, want) {
		t.Errorf("named = %q; want %q", got, want)
	}
	c := Complement{FlagsHigh: 0xd, Creation: 9}
	if got, err := ParseComplement(AppendComplement(nil, c)); err != nil || got != c {
		t.Errorf("complement: %+v, %v", got, err)
	}
	r := ChallengeReply{Challenge: 42, Digest: Digest(42, "c")}
	if b := AppendChallengeReply(nil, r); len(b) != 21 {
		t.Errorf("reply size %d", len(b))
	} else if got, err := ParseChallengeReply(b); err != nil || got != r {
		t.Errorf("reply: %+v, %v", got, err)
	}
	a := ChallengeAck{Digest: Digest(1, "x")}
	if b := AppendChallengeAck(nil, a); len(b) != 17 {
		t.Errorf("ack size %d", len(b))
	} else if got, err := ParseChallengeAck(b); err != nil || got != a {
		t.Errorf("ack: %+v, %v", got, err)
	}
}

func TestDigest(t *testing.T) {
	// md5("cookie" ++ "4294967295"): cookie first, unsigned decimal.
	got := Digest(4294967295, "cookie")
	if want := "de56ff9d11b071905bce597a85d67f4f"; hex.EncodeToString(got[:]) != want {
		t.Fatalf("digest %x; want %s", got, want)
	}
	got = Digest(123, "distributetest")
	if want := "705622f86728a284828ec5304b46cf05"; hex.EncodeToString(got[:]) != want {
		t.Fatalf("digest %x; want %s", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	bad := [][]byte{
		nil, {'N'}, {'x'}, append([]byte{'N'}, make([]byte, 13)...), // short
		append(append([]byte{'N'}, make([]byte, 12)...), 0, 9, 'a'), // name past end
		{'n', 0, 6, 0, 0, 0, 0}, // wrong v5 version
	}
	for _, b := range bad {
		if _, err := ParseSendName(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseSendName(%x) = %v; want ErrMalformed", b, err)
		}
	}
	for _, b := range [][]byte{nil, {'s'}, []byte("s\x00k"), []byte("snamed:\x00"), []byte("snamed:\x00\x05ab")} {
		if _, err := ParseStatus(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseStatus(%q) = %v; want ErrMalformed", b, err)
		}
	}
	if _, err := ParseChallengeReply(make([]byte, 20)); !errors.Is(err, ErrMalformed) {
		t.Error("short reply accepted")
	}
	if _, err := ParseChallengeAck([]byte("a")); !errors.Is(err, ErrMalformed) {
		t.Error("short ack accepted")
	}
	if _, err := ParseChallenge([]byte("N")); !errors.Is(err, ErrMalformed) {
		t.Error("short challenge accepted")
	}
}

func TestValidName(t *testing.T) {
	long := string(bytes.Repeat([]byte("a"), 251)) + "@host"
	for _, n := range []string{"", "a", "@h", "a@", "a@b@c", long, "a\xff@h"} {
		if err := ValidName(n, false); !errors.Is(err, ErrBadName) {
			t.Errorf("ValidName(%q) = %v; want ErrBadName", n, err)
		}
	}
	for _, n := range []string{"a@h", "e1@127.0.0.1", "ünï@cödé"} {
		if err := ValidName(n, false); err != nil {
			t.Errorf("ValidName(%q) = %v", n, err)
		}
	}
	if err := ValidName("vm", true); err != nil {
		t.Errorf("host-only: %v", err)
	}
	if err := ValidName("a@vm", true); err == nil {
		t.Error("host-only accepted a full name")
	}
}

func TestAcceptDecision(t *testing.T) {
	sn := func(name string, f Flags) SendName { return SendName{Version: 6, Flags: f, Name: name} }
	cases := []struct {
		our   string
		sn    SendName
		state PeerState
		want  string
	}{
		{"a@h", sn("b@h", DefaultFlags), PeerUnknown, StatusOK},
		{"a@h", sn("b@h", Mandatory25), PeerUnknown, StatusNotAllowed},
		{"a@h", sn("h", DefaultFlags|NameMe), PeerUnknown, StatusNamed},
		{"a@h", sn("b@h", DefaultFlags), PeerPending, StatusOKSimultaneous}, // b > a: b's attempt wins
		{"b@h", sn("a@h", DefaultFlags), PeerPending, StatusNok},            // a < b: our attempt wins
		{"a@h", sn("b@h", DefaultFlags), PeerConnected, StatusAlive},
	}
	for _, c := range cases {
		if got := AcceptDecision(c.our, c.sn, c.state); got != c.want {
			t.Errorf("AcceptDecision(%s, %s, %d) = %s; want %s", c.our, c.sn.Name, c.state, got, c.want)
		}
	}
	if AliveReply(PeerConnected) != StatusFalse || AliveReply(PeerPending) != StatusTrue || AliveReply(PeerUnknown) != StatusTrue {
		t.Error("AliveReply")
	}
}
