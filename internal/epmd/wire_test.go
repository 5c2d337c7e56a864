package epmd

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Golden bytes captured from real OTP 25 (erl -sname h1, section 1.2 E28) and
// from real epmd on this machine.
func TestAlive2RequestGolden(t *testing.T) {
	golden := unhex(t, "000f 78 b70b 4d 00 0006 0005 0002 6831 0000")
	want := Alive2Request{Port: 46859, NodeType: NodeTypeNormal, Protocol: ProtocolTCP,
		High: 6, Low: 5, Name: "h1"}
	got, err := AppendAlive2Request(nil, want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, golden) {
		t.Fatalf("encode: got %x; want %x", got, golden)
	}
	r, err := ParseAlive2Request(golden[2:])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("parse: got %v; want %v", r, want)
	}
	req, err := ParseRequest(golden[2:])
	if err != nil || req.Code != ReqAlive2 || !reflect.DeepEqual(req.Alive2, want) {
		t.Fatalf("ParseRequest: %v %v", req, err)
	}
	body, err := ReadRequest(bytes.NewReader(golden), DefaultMaxRequestSize)
	if err != nil || !bytes.Equal(body, golden[2:]) {
		t.Fatalf("ReadRequest: %x %v", body, err)
	}
	// With extra bytes.
	want.Extra = []byte{1, 2, 3}
	enc, _ := AppendAlive2Request(nil, want)
	r, err = ParseAlive2Request(enc[2:])
	if err != nil || !reflect.DeepEqual(r, want) {
		t.Fatalf("extra round trip: %v %v", r, err)
	}
}

func TestAlive2ResponseGolden(t *testing.T) {
	for _, tc := range []struct {
		hex  string
		want Alive2Response
	}{
		{"76 00 6b07769b", Alive2Response{Code: RespAlive2X, Result: 0, Creation: 0x6b07769b}}, // real epmd
		{"79 00 0002", Alive2Response{Code: RespAlive2, Result: 0, Creation: 2}},               // real epmd, Highest 5
		{"76 01 00000000", Alive2Response{Code: RespAlive2X, Result: 1}},
	} {
		b := unhex(t, tc.hex)
		got, err := ParseAlive2Response(b)
		if err != nil || got != tc.want {
			t.Errorf("parse %s: got %v, %v; want %v", tc.hex, got, err, tc.want)
		}
		if enc := AppendAlive2Response(nil, tc.want); !bytes.Equal(enc, b) {
			t.Errorf("encode %v: got %x; want %x", tc.want, enc, b)
		}
	}
}

func TestPort2ResponseGolden(t *testing.T) {
	for _, tc := range []struct {
		hex  string
		want NodeInfo
	}{
		// Section 1.3, E1.
		{"77 00 270f 4d 00 0006 0005 0006 676f70686572 0000",
			NodeInfo{Name: "gopher", Port: 9999, Type: NodeTypeNormal, High: 6, Low: 5}},
		// Real epmd, hidden registration.
		{"77 00 270f 48 00 0006 0005 0002 6162 0000",
			NodeInfo{Name: "ab", Port: 9999, Type: NodeTypeHidden, High: 6, Low: 5}},
		{"77 00 0001 4d 00 0006 0005 0001 61 0002 beef",
			NodeInfo{Name: "a", Port: 1, Type: NodeTypeNormal, High: 6, Low: 5, Extra: []byte{0xbe, 0xef}}},
	} {
		b := unhex(t, tc.hex)
		got, err := ParsePort2Response(b)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parse %s: got %v, %v; want %v", tc.hex, got, err, tc.want)
		}
		enc, err := AppendPort2Response(nil, tc.want)
		if err != nil || !bytes.Equal(enc, b) {
			t.Errorf("encode %v: got %x, %v; want %x", tc.want, enc, err, b)
		}
	}
	if _, err := ParsePort2Response([]byte{119, 1}); !errors.Is(err, ErrNotFound) {
		t.Errorf("not found: got %v; want ErrNotFound", err)
	}
	if got := AppendPort2NotFound(nil); !bytes.Equal(got, []byte{119, 1}) {
		t.Errorf("not found encode: %x", got)
	}
}

func TestNamesResponseGolden(t *testing.T) {
	b := append(unhex(t, "00001111"), "name gopher at port 9999\n"...)
	port, names, err := ParseNamesResponse(b)
	want := []NameEntry{{"gopher", 9999}}
	if err != nil || port != 4369 || !reflect.DeepEqual(names, want) {
		t.Fatalf("got %d %v %v", port, names, err)
	}
	if enc := AppendNamesResponse(nil, 4369, want); !bytes.Equal(enc, b) {
		t.Fatalf("encode: got %q; want %q", enc, b)
	}
	// Junk lines and an unterminated line are skipped, as erl_epmd does.
	junk := append(unhex(t, "00001111"),
		"name a at port 1\ngarbage\nname b at port x\nname c at port 70000\nname  at port 3\nname d at port 4\nname e at port 5"...)
	_, names, err = ParseNamesResponse(junk)
	want = []NameEntry{{"a", 1}, {"d", 4}}
	if err != nil || !reflect.DeepEqual(names, want) {
		t.Fatalf("junk: got %v %v; want %v", names, err, want)
	}
}

func TestSimpleRequestsGolden(t *testing.T) {
	for _, tc := range []struct {
		got  []byte
		want string
	}{
		{AppendNamesRequest(nil), "0001 6e"},
		{AppendDumpRequest(nil), "0001 64"},
		{AppendKillRequest(nil), "0001 6b"},
		{must(AppendPortPlease2Request(nil, "gopher")), "0007 7a 676f70686572"},
		{must(AppendStopRequest(nil, "ab")), "0003 73 6162"},
	} {
		if w := unhex(t, tc.want); !bytes.Equal(tc.got, w) {
			t.Errorf("got %x; want %x", tc.got, w)
		}
		req, err := ParseRequest(tc.got[2:])
		if err != nil {
			t.Errorf("parse %x: %v", tc.got, err)
			continue
		}
		again, err := AppendRequest(nil, req)
		if err != nil || !bytes.Equal(again, tc.got) {
			t.Errorf("re-encode %v: %x %v", req, again, err)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestMalformed(t *testing.T) {
	alive := unhex(t, "78 b70b 4d 00 0006 0005 0002 6831 0000")
	for i := 0; i < len(alive); i++ {
		if _, err := ParseAlive2Request(alive[:i]); !errors.Is(err, ErrMalformed) {
			t.Errorf("truncated ALIVE2_REQ at %d: got %v; want ErrMalformed", i, err)
		}
	}
	if _, err := ParseAlive2Request(append(alive, 0)); !errors.Is(err, ErrMalformed) {
		t.Errorf("trailing byte: %v", err)
	}
	// Name length 0 is rejected (real epmd closes the connection).
	if _, err := ParseAlive2Request(unhex(t, "78 b70b 4d 00 0006 0005 0000 0000")); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty name: %v", err)
	}
	port2 := unhex(t, "77 00 270f 4d 00 0006 0005 0006 676f70686572 0000")
	for i := 0; i < len(port2); i++ {
		_, err := ParsePort2Response(port2[:i])
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("truncated PORT2_RESP at %d: got %v; want ErrMalformed", i, err)
		}
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("truncated PORT2_RESP at %d: %T is not *DecodeError", i, err)
		}
	}
	for _, b := range [][]byte{nil, {0x75}, {RespAlive2X, 0, 0}, {RespAlive2, 0, 0, 0, 0}} {
		if _, err := ParseAlive2Response(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("ALIVE2 response %x: %v", b, err)
		}
	}
	if _, _, err := ParseNamesResponse([]byte{0, 0, 1}); !errors.Is(err, ErrMalformed) {
		t.Errorf("short NAMES: %v", err)
	}
	for _, b := range [][]byte{nil, {ReqPortPlease2}, {ReqNames, 0}, {ReqKill, 1}} {
		if _, err := ParseRequest(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("request %x: %v", b, err)
		}
	}
	if _, err := ParseRequest([]byte{'Q'}); !errors.Is(err, ErrUnknownRequest) {
		t.Errorf("unknown request: %v", err)
	}
	if _, err := AppendAlive2Request(nil, Alive2Request{}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("empty name encode: %v", err)
	}
	if _, err := AppendPortPlease2Request(nil, strings.Repeat("a", MaxNameLen+1)); !errors.Is(err, ErrInvalidName) {
		t.Errorf("long name encode: %v", err)
	}
}

func TestReadRequestLimits(t *testing.T) {
	if _, err := ReadRequest(bytes.NewReader([]byte{0xff, 0xff, 1}), 1024); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
	if _, err := ReadRequest(bytes.NewReader([]byte{0, 0}), 1024); !errors.Is(err, ErrMalformed) {
		t.Errorf("zero length: %v", err)
	}
	if _, err := ReadRequest(bytes.NewReader([]byte{0, 5, 1}), 1024); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated: %v", err)
	}
	if _, err := ReadRequest(bytes.NewReader([]byte{0}), 1024); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated length: %v", err)
	}
}

func TestStrings(t *testing.T) {
	for _, s := range []string{
		Alive2Request{Name: "a"}.String(),
		Alive2Response{Code: RespAlive2}.String(),
		NodeInfo{Name: "a"}.String(),
		Request{Code: ReqNames}.String(),
		Request{Code: ReqPortPlease2, Name: "x"}.String(),
	} {
		if s == "" {
			t.Error("empty String()")
		}
	}
}
