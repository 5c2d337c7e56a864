package dist

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/distribute-go/distribute/etf"
)

// Produced by OTP 25:
//
//	iolist_to_binary([112, term_to_binary({6, list_to_pid("<0.5.0>"), '', sink}, [{minor_version,2}]),
//	                  term_to_binary({hello, 42, <<"bin">>}, [{minor_version,2}])])
var goldenRegSend = mustHex("70836804610658770d6e6f6e6f6465406e6f686f73740000000500000000000000007700770473696e6b836803770568656c6c6f612a6d0000000362696e")

// A MONITOR_P frame from OTP 25 with ATOM_EXT atoms (term_to_binary defaults):
//
//	[112, term_to_binary({19, list_to_pid("<0.7.1>"), net_kernel, make_ref()})]
var goldenMonitorP = mustHex("7083680461135864000d6e6f6e6f6465406e6f686f737400000007000000010000000064000a6e65745f6b65726e656c5a000364000d6e6f6e6f6465406e6f686f73740000000000038eeed86c000209293c03")

func TestPassThroughGolden(t *testing.T) {
	pid := etf.Pid{Node: "nonode@nohost", ID: 5}
	ctrl := Control{Op: OpRegSend, From: pid, To: etf.Atom("sink")}.Tuple()
	msg := etf.Tuple{etf.Atom("hello"), int64(42), etf.Binary("bin")}
	got, err := AppendPassThrough(nil, ctrl, msg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, goldenRegSend) {
		t.Fatalf("encoded\n%x\nwant\n%x", got, goldenRegSend)
	}
	var d etf.Decoder
	c, m, has, err := ParseFrame(&d, goldenRegSend)
	if err != nil || !has {
		t.Fatalf("ParseFrame: %v, has %v", err, has)
	}
	pc, err := ParseControl(c)
	if err != nil {
		t.Fatal(err)
	}
	if pc.Op != OpRegSend || pc.From != pid || pc.To != etf.Atom("sink") {
		t.Errorf("control %v", pc)
	}
	if !reflect.DeepEqual(m, msg) {
		t.Errorf("msg %#v", m)
	}

	c, _, has, err = ParseFrame(&d, goldenMonitorP)
	if err != nil || has {
		t.Fatalf("MONITOR_P: %v, has %v", err, has)
	}
	pc, err = ParseControl(c)
	if err != nil {
		t.Fatal(err)
	}
	if pc.Op != OpMonitorP || pc.To != etf.Atom("net_kernel") || pc.Ref.Len != 3 || pc.From != (etf.Pid{Node: "nonode@nohost", ID: 7, Serial: 1}) {
		t.Errorf("MONITOR_P control %v", pc)
	}
	if s := pc.String(); s == "" || s[:9] != "MONITOR_P" {
		t.Errorf("String() = %q", s)
	}
}

func TestControlRoundTrip(t *testing.T) {
	pid := etf.Pid{Node: "a@h", ID: 1, Creation: 3}
	ref := etf.Ref{Node: "a@h", Creation: 3, Len: 3, ID: [5]uint32{1, 2, 3}}
	for op, info := range ops {
		c := Control{Op: op}
		for _, f := range info.fields {
			switch f {
			case fFrom:
				c.From = pid
			case fTo:
				c.To = etf.Atom("to")
			case fReason:
				c.Reason = etf.Atom("normal")
			case fToken:
				c.Token = etf.Tuple{int64(1)}
			case fRef:
				c.Ref = ref
			case fID:
				c.ID = int64(99)
			case fGroupLeader:
				c.GroupLeader = pid
			case fMFA:
				c.MFA = etf.Tuple{etf.Atom("m"), etf.Atom("f"), int64(1)}
			case fOpts:
				c.Opts = etf.List{etf.Atom("monitor")}
			case fFlags:
				c.Flags = 3
			case fResult:
				c.Result = pid
			}
		}
		var msg etf.Term
		if op.HasPayload() {
			msg = etf.Atom("payload")
		}
		b, err := AppendPassThrough(nil, c.Tuple(), msg)
		if err != nil {
			t.Fatalf("%v: %v", op, err)
		}
		var d etf.Decoder
		tup, m, has, err := ParseFrame(&d, b)
		if err != nil || has != op.HasPayload() || m != msg {
			t.Fatalf("%v: ParseFrame %v has %v msg %v", op, err, has, m)
		}
		got, err := ParseControl(tup)
		if err != nil {
			t.Fatalf("%v: %v", op, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("%v: round trip\n%#v\nwant\n%#v", op, got, c)
		}
		if op.String() != info.name {
			t.Errorf("%v: name %q", op, info.name)
		}
	}
	if len(ops) != 30 {
		t.Errorf("%d operations; want 30 (1-8, 12, 13, 16, 18-36)", len(ops))
	}
}

func TestParseFrameErrors(t *testing.T) {
	var d etf.Decoder
	cases := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"empty", nil, ErrBadFrame},
		{"header mode", []byte{131, 68, 0, 131, 104, 1, 97, 1}, ErrHeaderMode},
		{"fragment", []byte{131, 69, 0}, ErrHeaderMode},
		{"continuation", []byte{131, 70, 0}, ErrHeaderMode},
		{"bad lead", []byte{1, 2}, ErrBadFrame},
		{"not a tuple", []byte{112, 131, 97, 1}, ErrBadFrame},
		{"op not int", []byte{112, 131, 104, 1, 119, 1, 'a'}, ErrBadFrame},
		{"truncated ctrl", []byte{112, 131, 104, 2, 97}, ErrBadFrame},
		{"trailing", []byte{112, 131, 104, 1, 97, 2, 131, 97, 1, 0}, ErrBadFrame},
		{"bad payload", []byte{112, 131, 104, 1, 97, 2, 7}, ErrBadFrame},
	}
	for _, c := range cases {
		if _, _, _, err := ParseFrame(&d, c.frame); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v; want %v", c.name, err, c.want)
		}
	}
	var ue *UnknownOpError
	if _, err := ParseControl(etf.Tuple{int64(37)}); !errors.As(err, &ue) || ue.Op != 37 || !errors.Is(err, ErrUnknownOp) {
		t.Errorf("op 37: %v", err)
	}
	for _, tup := range []etf.Tuple{{}, {etf.Atom("x")}, {int64(1), int64(2)}, {int64(19), int64(1), int64(2), int64(3)}, {int64(31), int64(1), int64(2), etf.Atom("x"), int64(3)}, {int64(29), 1, 2, 3, etf.Tuple{}, 5}} {
		if _, err := ParseControl(tup); !errors.Is(err, ErrBadControl) {
			t.Errorf("ParseControl(%v) = %v; want ErrBadControl", tup, err)
		}
	}
}

func FuzzParseFrame(f *testing.F) {
	f.Add(goldenRegSend)
	f.Add(goldenMonitorP)
	f.Add([]byte{131, 68, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d etf.Decoder
		ctrl, msg, has, err := ParseFrame(&d, b)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) && !errors.Is(err, ErrHeaderMode) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if c, err := ParseControl(ctrl); err == nil {
			c.Tuple()
			_ = c.String()
		} else if !errors.Is(err, ErrUnknownOp) && !errors.Is(err, ErrBadControl) {
			t.Fatalf("ParseControl untyped error %v", err)
		}
		if !has {
			msg = nil
		}
		out, err := AppendPassThrough(nil, ctrl, msg)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		ctrl2, msg2, has2, err := ParseFrame(&d, out)
		if err != nil || has2 != has || !reflect.DeepEqual(ctrl2, ctrl) || !reflect.DeepEqual(msg2, msg) {
			t.Fatalf("round trip: %v %v / %v %v, %v", ctrl, msg, ctrl2, msg2, err)
		}
	})
}
