package dist

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// TestMessageFramesMatchGeneralEncoding: the writer's message frames are
// the general encoder's bytes in pass-through mode, and decode to the
// same terms in header mode, where the node names and the empty atom are
// atom cache refs stored by the first frame and only referred to by
// later ones.
func TestMessageFramesMatchGeneralEncoding(t *testing.T) {
	from := etf.Pid{Node: "a@h", ID: 1, Serial: 2, Creation: 3}
	to := etf.Pid{Node: "b@h", ID: 4, Serial: 5, Creation: 6}
	other := etf.Pid{Node: "c@h", ID: 7, Serial: 8, Creation: 9}
	msg := etf.Tuple{etf.Atom("x"), etf.Binary("y"), from}
	cases := []struct {
		out   Out
		flags Flags // beyond those of the writer
		ctrl  etf.Tuple
	}{
		{Send(from, to, msg), 0, etf.Tuple{int64(2), etf.Atom(""), to}},
		{Send(from, to, msg), SendSender, etf.Tuple{int64(22), from, to}},
		{Send(from, other, msg), SendSender, etf.Tuple{int64(22), from, other}},
		{RegSend(from, "name", msg), 0, etf.Tuple{int64(6), from, etf.Atom(""), etf.Atom("name")}},
		// A call's request: the message is its envelope around msg.
		{CallOf(from, etf.Pid{}, "name", callRef, msg), 0, etf.Tuple{int64(6), from, etf.Atom(""), etf.Atom("name")}},
		{CallOf(from, to, "", callRef, msg), SendSender, etf.Tuple{int64(22), from, to}},
	}
	payload := func(o Out) etf.Term {
		if o.call {
			return genCall(from, callRef, msg)
		}
		return msg
	}
	for _, tc := range cases {
		w := NewWriter(nil, tc.flags, "a@h", "b@h")
		got, stores, err := w.appendFrame(nil, &tc.out)
		if err != nil || stores {
			t.Fatal(err, stores)
		}
		want, _ := AppendPassThrough(nil, tc.ctrl, payload(tc.out))
		if string(got) != string(want) {
			t.Errorf("%v: %x; want %x", tc.out.Op(), got, want)
		}
	}
	// A peer with only FRAGMENTS: header frames without cache refs.
	for _, tc := range cases {
		w := NewWriter(nil, tc.flags|Fragments, "a@h", "b@h")
		got, stores, err := w.appendFrame(nil, &tc.out)
		if err != nil || stores || string(got[:3]) != "\x83\x44\x00" {
			t.Fatalf("fragments only, %v: %x, %v, stores %v", tc.out.Op(), got, err, stores)
		}
		var d etf.Decoder
		ctrl, m, has, err := ParseHeaderFrame(&d, new(HeaderCache), got)
		if err != nil || !has || !etf.Equal(ctrl, tc.ctrl) || !etf.Equal(m, payload(tc.out)) {
			t.Fatalf("fragments only, %v: %x decodes to %v %v %v", tc.out.Op(), got, ctrl, m, err)
		}
	}
	var cache HeaderCache // the receiver's
	for round := range 2 {
		for _, tc := range cases {
			w := NewWriter(nil, tc.flags|DistHdrAtomCache|Fragments, "a@h", "b@h")
			w.cacheSent.Store(round == 1)
			got, stores, err := w.appendFrame(nil, &tc.out)
			if err != nil || stores != (round == 0) {
				t.Fatalf("round %d %v: %v, stores %v", round, tc.out.Op(), err, stores)
			}
			// The node name's text: in the payload's pid (terms are not
			// cached), and in the header only when it stores the entries.
			inPayload := 1 // from, in msg
			if tc.out.call {
				inPayload = 3 // and the envelope's pid and reference
			}
			if c := bytes.Count(got, []byte("a@h")); c != inPayload+1-round {
				t.Errorf("round %d %v: node name text %d times in %x", round, tc.out.Op(), c, got)
			}
			var d etf.Decoder
			ctrl, m, has, err := ParseHeaderFrame(&d, &cache, got)
			if err != nil || !has || !etf.Equal(ctrl, tc.ctrl) || !etf.Equal(m, payload(tc.out)) {
				t.Fatalf("round %d %v: %x decodes to %v %v %v", round, tc.out.Op(), got, ctrl, m, err)
			}
		}
	}
}

// callRef is the reference of the calls in these tests.
var callRef = etf.Ref{Node: "a@h", Creation: 3, Len: 3, ID: [etf.MaxRefWords]uint32{7, 8, 9}}

// genCall is the message gen_server:call sends: {'$gen_call', {From,
// [alias|Ref]}, Request}.
func genCall(from etf.Pid, ref etf.Ref, request etf.Term) etf.Tuple {
	return etf.Tuple{etf.Atom("$gen_call"), etf.Tuple{from, aliasTag(ref)}, request}
}

// TestCallPathAllocations: a call's frames, MONITOR_P by name and the
// request (CallOf), and the DEMONITOR_P after it, are made and
// encoded without allocating.
func TestCallPathAllocations(t *testing.T) {
	from := etf.Pid{Node: "a@h", ID: 1, Creation: 3}
	to := etf.Pid{Node: "b@h", ID: 4, Creation: 6}
	buf := make([]byte, 0, 256)
	for _, flags := range []Flags{0, DistHdrAtomCache | Fragments} {
		w := NewWriter(nil, flags, "a@h", "b@h")
		allocs := testing.AllocsPerRun(1000, func() {
			for _, m := range []Out{MonitorPOf(from, etf.Pid{}, "server", callRef), CallOf(from, etf.Pid{}, "server", callRef, int64(1)),
				DemonitorPOf(from, etf.Pid{}, "server", callRef), MonitorPOf(from, to, "", callRef), CallOf(from, to, "", callRef, int64(1))} {
				w.appendFrame(buf[:0], &m)
			}
		})
		if allocs != 0 {
			t.Fatalf("a call's frames (flags %v) allocate %v times; want 0", flags, allocs)
		}
	}
	for _, tc := range []struct {
		out  Out
		ctrl etf.Tuple
	}{
		{MonitorPOf(from, etf.Pid{}, "server", callRef), etf.Tuple{int64(19), from, etf.Atom("server"), callRef}},
		{MonitorPOf(from, to, "", callRef), etf.Tuple{int64(19), from, to, callRef}},
		{DemonitorPOf(from, etf.Pid{}, "server", callRef), etf.Tuple{int64(20), from, etf.Atom("server"), callRef}},
	} {
		got, _, err := NewWriter(nil, 0, "a@h", "b@h").appendFrame(nil, &tc.out)
		want, _ := AppendPassThrough(nil, tc.ctrl, nil)
		if err != nil || string(got) != string(want) {
			t.Errorf("%v: %x, %v; want %x", tc.out.Op(), got, err, want)
		}
	}
}

// TestSendPathAllocations: encoding a message frame allocates nothing,
// whether the payload is a term or a binary appended in place.
func TestSendPathAllocations(t *testing.T) {
	from := etf.Pid{Node: "a@h", ID: 1, Creation: 3}
	var msg etf.Term = etf.Binary(make([]byte, 64))
	raw := make([]byte, 64)
	appendRaw := func(dst []byte) ([]byte, error) { return append(dst, raw...), nil }
	buf := make([]byte, 0, 256)
	for _, flags := range []Flags{0, Fragments, DistHdrAtomCache | Fragments} {
		w := NewWriter(nil, flags, "a@h", "b@h")
		m := RegSend(from, "sink", msg)
		typed := RegSend(from, "sink", nil)
		allocs := testing.AllocsPerRun(1000, func() {
			w.appendFrame(buf[:0], &m)
			w.appendFrameBinary(buf[:0], &typed, appendRaw)
		})
		if allocs != 0 {
			t.Fatalf("encoding a REG_SEND of a 64-byte binary (flags %v) allocates %v times; want 0", flags, allocs)
		}
	}
}

// TestWireExample pins the frames of the root package documentation's
// "On the wire" example: the connection's first REG_SEND of a typed
// message (a binary appended in place) and a later one.
func TestWireExample(t *testing.T) {
	w := NewWriter(nil, DistHdrAtomCache|Fragments, "a@h", "b@h")
	from := etf.Pid{Node: "a@h", ID: 1, Creation: 7}
	m := RegSend(from, "counter", nil)
	bin := func(dst []byte) ([]byte, error) { return append(dst, 0, 0, 0, 0, 0, 0, 0, 42), nil }
	body := "6804610658520100000001000000000000000752007707636f756e746572" + "6d00000008000000000000002a"
	for i, header := range []string{"8344038808000001036140680203624068", "8344030000000102"} {
		want := header + body
		got, stores, err := w.appendFrameBinary(nil, &m, bin)
		if err != nil || fmt.Sprintf("%x", got) != want {
			t.Fatalf("frame %d = %x, %v; want %s", i, got, err, want)
		}
		if stores {
			w.cacheSent.Store(true)
		}
	}
}

// TestBuilders: each builder's frame, in both framings, is the control
// tuple OTP sends for its operation, and a Reader reads it back with the
// fields typed.
func TestBuilders(t *testing.T) {
	a := etf.Pid{Node: "a@h", ID: 1, Serial: 2, Creation: 3}
	b := etf.Pid{Node: "b@h", ID: 4, Serial: 5, Creation: 6}
	ref := etf.Ref{Node: "a@h", Creation: 3, Len: 3, ID: [etf.MaxRefWords]uint32{7, 8, 9}}
	reason := etf.Tuple{etf.Atom("error"), etf.Binary("x")}
	cases := []struct {
		out  Out
		ctrl etf.Tuple
		msg  etf.Term // nil: none
		in   In       // the typed fields the reader fills (beyond Control)
	}{
		{Link(a, b), etf.Tuple{int64(1), a, b}, nil, In{FromPid: a, ToPid: b}},
		{Unlink(9, a, b), etf.Tuple{int64(35), int64(9), a, b}, nil, In{FromPid: a, ToPid: b}},
		{UnlinkIDAck(int64(9), b, a), etf.Tuple{int64(36), int64(9), b, a}, nil, In{FromPid: b, ToPid: a}},
		{PayloadExit(a, b, reason), etf.Tuple{int64(24), a, b}, reason, In{FromPid: a, ToPid: b}},
		{PayloadExit2(a, b, etf.Atom("kill")), etf.Tuple{int64(26), a, b}, etf.Atom("kill"), In{FromPid: a, ToPid: b}},
		{MonitorP(a, b, ref), etf.Tuple{int64(19), a, b, ref}, nil, In{FromPid: a, ToPid: b}},
		{MonitorP(a, etf.Atom("srv"), ref), etf.Tuple{int64(19), a, etf.Atom("srv"), ref}, nil, In{FromPid: a, ToName: "srv"}},
		{DemonitorP(a, etf.Atom("srv"), ref), etf.Tuple{int64(20), a, etf.Atom("srv"), ref}, nil, In{FromPid: a, ToName: "srv"}},
		{DemonitorP(a, b, ref), etf.Tuple{int64(20), a, b, ref}, nil, In{FromPid: a, ToPid: b}},
		{PayloadMonitorPExit(etf.Atom("srv"), a, ref, etf.Atom("noproc")), etf.Tuple{int64(28), etf.Atom("srv"), a, ref}, etf.Atom("noproc"), In{ToPid: a}},
		{SpawnRequest(ref, a, a, "m", "f", []etf.Term{int64(1)}, etf.List{etf.Atom("monitor")}),
			etf.Tuple{int64(29), ref, a, a, etf.Tuple{etf.Atom("m"), etf.Atom("f"), int64(1)}, etf.List{etf.Atom("monitor")}}, etf.List{int64(1)}, In{FromPid: a}},
		{SpawnRequest(ref, a, a, "m", "f", nil, nil),
			etf.Tuple{int64(29), ref, a, a, etf.Tuple{etf.Atom("m"), etf.Atom("f"), int64(0)}, etf.List{}}, etf.List{}, In{FromPid: a}},
		{SpawnReply(ref, a, 3, b), etf.Tuple{int64(31), ref, a, int64(3), b}, nil, In{}},
		{AliasSend(a, ref, etf.Atom("hi")), etf.Tuple{int64(33), a, ref}, etf.Atom("hi"), In{Alias: ref}},
		{Send(a, b, etf.Atom("hi")), etf.Tuple{int64(22), a, b}, etf.Atom("hi"), In{ToPid: b}},
		{RegSend(a, "srv", etf.Atom("hi")), etf.Tuple{int64(6), a, etf.Atom(""), etf.Atom("srv")}, etf.Atom("hi"), In{ToName: "srv"}},
	}
	for _, tc := range cases {
		for _, flags := range []Flags{SendSender, SendSender | DistHdrAtomCache | Fragments} {
			w := NewWriter(nil, flags, "a@h", "b@h")
			frame, _, err := w.appendFrame(nil, &tc.out)
			if err != nil {
				t.Fatalf("%v: %v", tc.out.Op(), err)
			}
			var d etf.Decoder
			parse := ParseFrame
			if flags.HeaderMode() {
				parse = func(d *etf.Decoder, f []byte) (etf.Tuple, etf.Term, bool, error) {
					return ParseHeaderFrame(d, new(HeaderCache), f)
				}
			}
			ctrl, msg, has, err := parse(&d, frame)
			if err != nil || !etf.Equal(ctrl, tc.ctrl) || has != (tc.msg != nil) || has && !etf.Equal(msg, tc.msg) {
				t.Errorf("%v (%v): %s %s %v %v; want %s %s", tc.out.Op(), flags, etf.Format(ctrl), etf.Format(msg), has, err, etf.Format(tc.ctrl), etf.Format(tc.msg))
				continue
			}
			// What the peer (here b@h) reads.
			r := NewReader(ReaderConfig{Flags: flags, Local: "b@h"})
			var in In
			if done, err := r.Read(frame, &in); !done || err != nil {
				t.Fatalf("%v (%v): read: %v %v", tc.out.Op(), flags, done, err)
			}
			if in.FromPid != tc.in.FromPid || in.ToPid != tc.in.ToPid || in.ToName != tc.in.ToName || in.Alias != tc.in.Alias || !etf.Equal(in.Payload, tc.msg) {
				t.Errorf("%v (%v): read %+v", tc.out.Op(), flags, in)
			}
		}
	}
}

// TestReaderChecksFields: a control message whose sender or receiver is
// not of the type its operation requires is an error, as ERTS's
// invalid_message (which closes the connection): a REG_SEND from
// something that is not a pid, a LINK to an atom, an ALIAS_SEND to a pid.
func TestReaderChecksFields(t *testing.T) {
	a := etf.Pid{Node: "a@h", ID: 1, Creation: 3}
	local := etf.Pid{Node: "b@h", ID: 4, Creation: 6}
	bad := []struct {
		ctrl etf.Tuple
		msg  etf.Term
	}{
		{etf.Tuple{int64(OpRegSend), etf.Atom("notapid"), etf.Atom(""), etf.Atom("box")}, etf.Atom("hi")},
		{etf.Tuple{int64(OpRegSend), etf.Binary("x"), etf.Atom(""), etf.Atom("box")}, etf.Atom("hi")},
		{etf.Tuple{int64(OpRegSendTT), int64(1), etf.Atom(""), etf.Atom("box"), etf.Atom("tok")}, etf.Atom("hi")},
		{etf.Tuple{int64(OpRegSend), a, etf.Atom(""), local}, etf.Atom("hi")},
		{etf.Tuple{int64(OpSend), etf.Atom(""), etf.Atom("box")}, etf.Atom("hi")},
		{etf.Tuple{int64(OpLink), a, etf.Atom("box")}, nil},
		{etf.Tuple{int64(OpLink), etf.Atom("x"), local}, nil},
		{etf.Tuple{int64(OpAliasSend), a, local}, etf.Atom("hi")},
		{etf.Tuple{int64(OpMonitorP), a, etf.Tuple{}, etf.Ref{Node: "a@h", Len: 1}}, nil},
		{etf.Tuple{int64(OpPayloadExit), a, etf.Atom("x")}, etf.Atom("normal")},
		{etf.Tuple{int64(OpSpawnRequest), etf.Ref{Node: "a@h", Len: 1}, etf.Atom("x"), a, etf.Tuple{etf.Atom("m"), etf.Atom("f"), int64(0)}, etf.List{}}, etf.List{}},
	}
	for _, flags := range []Flags{0, DistHdrAtomCache | Fragments} {
		for _, tc := range bad {
			var frame []byte
			var err error
			if flags.HeaderMode() {
				frame, err = AppendHeaderFrame(nil, tc.ctrl, tc.msg)
			} else {
				frame, err = AppendPassThrough(nil, tc.ctrl, tc.msg)
			}
			if err != nil {
				t.Fatal(err)
			}
			r := NewReader(ReaderConfig{Flags: flags, Local: "b@h"})
			var in In
			if _, err := r.Read(frame, &in); !errors.Is(err, ErrBadControl) {
				t.Errorf("%s (%v): %v; want ErrBadControl", etf.Format(tc.ctrl), flags, err)
			}
		}
	}
}

// TestWriterQueues: frames go out through the Conn in call order, a large
// one in fragments (each its own frame) when the peer has Fragments, and
// an encoding error queues nothing.
func TestWriterQueues(t *testing.T) {
	c, s := tcpPair(t)
	conn := mustConn(t, c)
	defer conn.Close()
	flags := SendSender | DistHdrAtomCache | Fragments
	w := NewWriter(conn, flags, "a@h", "b@h")
	from := etf.Pid{Node: "a@h", ID: 1, Creation: 3}
	to := etf.Pid{Node: "b@h", ID: 2, Creation: 4}
	big := etf.Binary(bytes.Repeat([]byte{7}, 3*FragmentSize))
	ctx := context.Background()
	if err := w.Send(ctx, Send(from, to, etf.Atom("first"))); err != nil {
		t.Fatal(err)
	}
	if err := w.Send(ctx, Send(from, to, etf.Atom(bytes.Repeat([]byte("a"), 300)))); !errors.Is(err, ErrEncode) {
		t.Fatalf("a message that does not encode: %v; want ErrEncode", err)
	}
	if err := w.SendPair(ctx, MonitorP(from, to, etf.Ref{Node: "a@h", Len: 1}), Send(from, to, big)); err != nil {
		t.Fatal(err)
	}
	if err := w.Signal(ctx, PayloadExit(from, to, etf.Atom("normal"))); err != nil {
		t.Fatal(err)
	}
	if err := w.SignalDeferred(ctx, DemonitorP(from, to, etf.Ref{Node: "a@h", Len: 1})); err != nil {
		t.Fatal(err)
	}
	if w.Sequences() != 1 {
		t.Fatalf("%d fragment sequences; want 1", w.Sequences())
	}
	// The peer reads them in order, the big message reassembled.
	s.SetReadDeadline(time.Now().Add(distributetest.Scale(10 * time.Second)))
	fr := NewFrameReader(s, nil, 0)
	r := NewReader(ReaderConfig{Flags: flags, Local: "b@h"})
	var got []string
	for len(got) < 5 {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("read: %v after %v", err, got)
		}
		if len(f) == 0 {
			continue
		}
		var in In
		done, err := r.Read(f, &in)
		if err != nil {
			t.Fatal(err)
		}
		if !done {
			got = append(got, "fragment")
			continue
		}
		desc := in.Op.String()
		if b, ok := in.Payload.(etf.Binary); ok && !reflect.DeepEqual(b, big) {
			t.Fatalf("the big message arrived as %d bytes", len(b))
		}
		got = append(got, desc)
	}
	want := []string{"SEND_SENDER", "MONITOR_P", "fragment", "fragment", "fragment"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("frames %v; want %v", got, want)
	}
	for _, want := range []string{"SEND_SENDER", "PAYLOAD_EXIT", "DEMONITOR_P"} {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		var in In
		if done, err := r.Read(f, &in); !done || err != nil || in.Op.String() != want {
			t.Fatalf("frame %s (%v, %v); want %s", in.Op, done, err, want)
		}
	}
}
