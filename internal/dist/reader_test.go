package dist

import (
	"testing"

	"github.com/distribute-go/distribute/etf"
)

// generalRead runs the general (non-fast) path's parsing on frame (in
// header mode if it starts 131, 68), as a Reader of a node named local
// does, and returns what it read.
func generalRead(frame []byte) (In, bool) {
	var d etf.Decoder
	parse := ParseFrame
	if len(frame) > 1 && frame[0] == 131 && frame[1] == 68 {
		parse = func(d *etf.Decoder, f []byte) (etf.Tuple, etf.Term, bool, error) {
			return ParseHeaderFrame(d, new(HeaderCache), f)
		}
	}
	ctrl, msg, has, err := parse(&d, frame)
	if err != nil || !has {
		return In{}, false
	}
	c, err := ParseControl(ctrl)
	if err != nil || !c.Op.HasPayload() {
		return In{}, false
	}
	in := In{Control: c, Payload: msg}
	if in.check() != nil {
		return In{}, false
	}
	return in, true
}

// FuzzReaderFastPath checks the reader's fast path (message frames read
// byte by byte) against the general parser, in both framing modes:
// whatever it accepts, the general path accepts too and reads the same
// operation, destination and message; it never panics.
func FuzzReaderFastPath(f *testing.F) {
	// Frames as the peer would write them to "fuzz@localhost".
	from := etf.Pid{Node: "peer@localhost", ID: 1, Creation: 7}
	box := etf.Pid{Node: "fuzz@localhost", ID: 3, Serial: 1, Creation: 9}
	alias := etf.Ref{Node: "fuzz@localhost", Creation: 9, Len: 3, ID: [etf.MaxRefWords]uint32{1, 2, 3}}
	other := etf.Ref{Node: "peer@localhost", Creation: 7, Len: 1, ID: [etf.MaxRefWords]uint32{4}}
	for _, flags := range []Flags{0, SendSender, SendSender | DistHdrAtomCache | Fragments} {
		w := NewWriter(nil, flags, "peer@localhost", "fuzz@localhost")
		for _, msg := range []etf.Term{etf.Binary("hello"), etf.Tuple{etf.Atom("a"), int64(1)}, etf.List{}, callReply(alias, etf.Atom("ok")), callReply(other, int64(1))} {
			for _, m := range []Out{Send(from, box, msg), RegSend(from, "box", msg), AliasSend(from, alias, msg), AliasSend(from, other, msg)} {
				frame, _, err := w.appendFrame(nil, &m)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(frame)
			}
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		r := NewReader(ReaderConfig{Local: "fuzz@localhost"})
		var in In
		var ok bool
		var err error
		switch {
		case len(frame) > 0 && frame[0] == 112:
			ok, err = r.fast(frame[1:], true, &in)
		case len(frame) > 1 && frame[0] == 131 && frame[1] == 68:
			refs, off, herr := new(HeaderCache).ReadHeader(frame, nil)
			if herr != nil {
				return
			}
			r.dec.AtomRefs = refs
			ok, err = r.fast(frame[off:], false, &in)
		}
		if !ok || err != nil {
			return
		}
		want, wok := generalRead(frame)
		if !wok {
			t.Fatalf("the fast path read %v to %v/%q, the general path nothing, for %x", in.Op, in.ToPid, in.ToName, frame)
		}
		got := in.Payload
		if in.IsReply {
			if in.Payload != nil {
				t.Fatalf("a call's reply read with a payload too: %s", etf.Format(in.Payload))
			}
			got = callReply(in.Alias, in.Reply)
		}
		if in.Op != want.Op || in.ToPid != want.ToPid || in.ToName != want.ToName || in.Alias != want.Alias || !etf.Equal(got, want.Payload) {
			t.Fatalf("fast path read %v to %v/%q/%v: %s; general path %v to %v/%q/%v: %s",
				in.Op, in.ToPid, in.ToName, in.Alias, etf.Format(got), want.Op, want.ToPid, want.ToName, want.Alias, etf.Format(want.Payload))
		}
	})
}

// TestReaderInternsNames: the registered names the fast path reads cost
// no allocation once seen, and the interned names stay bounded.
func TestReaderInternsNames(t *testing.T) {
	w := NewWriter(nil, 0, "peer@h", "me@h")
	from := etf.Pid{Node: "peer@h", ID: 1, Creation: 7}
	m := RegSend(from, "counter", int64(1))
	frame, _, err := w.appendFrame(nil, &m)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(ReaderConfig{Local: "me@h"})
	var in In
	allocs := testing.AllocsPerRun(1000, func() {
		if done, err := r.Read(frame, &in); !done || err != nil || in.ToName != "counter" {
			t.Fatalf("read %+v, %v", in, err)
		}
	})
	if allocs != 0 {
		t.Errorf("reading a REG_SEND of a small integer allocates %v times; want 0", allocs)
	}
	for i := range 2 * maxNames {
		m := RegSend(from, etf.Atom("name"+string(rune('a'+i%26))+string(rune('a'+i/26))), int64(1))
		frame, _, _ := w.appendFrame(nil, &m)
		if _, err := r.Read(frame, &in); err != nil {
			t.Fatal(err)
		}
	}
	if len(r.names) > maxNames {
		t.Errorf("%d names interned; at most %d", len(r.names), maxNames)
	}
}

// TestReaderAliasSendFast: an ALIAS_SEND to a local alias (a call's
// reply) is read without decoding its control tuple: no allocation for a
// small integer, in both framings; one to another node's alias takes the
// general path and reads the same.
func TestReaderAliasSendFast(t *testing.T) {
	from := etf.Pid{Node: "peer@h", ID: 1, Creation: 7}
	alias := etf.Ref{Node: "me@h", Creation: 9, Len: 3, ID: [etf.MaxRefWords]uint32{1, 2, 3}}
	other := etf.Ref{Node: "peer@h", Creation: 7, Len: 5, ID: [etf.MaxRefWords]uint32{1, 2, 3, 4, 5}}
	for _, flags := range []Flags{SendSender, SendSender | DistHdrAtomCache | Fragments} {
		w := NewWriter(nil, flags, "peer@h", "me@h")
		r := NewReader(ReaderConfig{Flags: flags, Local: "me@h"})
		for _, ref := range []etf.Ref{alias, other} {
			m := AliasSend(from, ref, int64(1))
			frame, _, err := w.appendFrame(nil, &m)
			if err != nil {
				t.Fatal(err)
			}
			var in In
			if done, err := r.Read(frame, &in); !done || err != nil || in.Op != OpAliasSend || in.Alias != ref || in.Payload != int64(1) {
				t.Fatalf("%v: read %+v, %v, %v; want ALIAS_SEND to %v", flags, in, done, err, ref)
			}
			if ref != alias {
				continue
			}
			allocs := testing.AllocsPerRun(1000, func() { r.Read(frame, &in) })
			if allocs != 0 {
				t.Errorf("%v: reading an ALIAS_SEND of a small integer allocates %v times; want 0", flags, allocs)
			}
		}
	}
}

// callReply is what gen_server:reply sends to a call's alias:
// {[alias|Ref], Reply}.
func callReply(ref etf.Ref, reply etf.Term) etf.Tuple {
	return etf.Tuple{aliasTag(ref), reply}
}

// aliasTag is a call's tag, [alias|Ref], in its request and its reply.
func aliasTag(ref etf.Ref) etf.ImproperList {
	return etf.ImproperList{Elems: []etf.Term{etf.Atom("alias")}, Tail: ref}
}

// TestReaderCallReplyFast: an ALIAS_SEND whose message is the reply to
// that alias's call, {[alias|Alias], Reply}, is read as In.Reply without
// making terms of the tag: no allocation for a small integer, in both
// framings. A tag for another reference is an ordinary message.
func TestReaderCallReplyFast(t *testing.T) {
	from := etf.Pid{Node: "peer@h", ID: 1, Creation: 7}
	alias := etf.Ref{Node: "me@h", Creation: 9, Len: 3, ID: [etf.MaxRefWords]uint32{1, 2, 3}}
	stale := etf.Ref{Node: "me@h", Creation: 9, Len: 3, ID: [etf.MaxRefWords]uint32{1, 2, 4}}
	for _, flags := range []Flags{SendSender, SendSender | DistHdrAtomCache | Fragments} {
		w := NewWriter(nil, flags, "peer@h", "me@h")
		r := NewReader(ReaderConfig{Flags: flags, Local: "me@h"})
		m := AliasSend(from, alias, callReply(alias, int64(7)))
		frame, _, err := w.appendFrame(nil, &m)
		if err != nil {
			t.Fatal(err)
		}
		var in In
		if done, err := r.Read(frame, &in); !done || err != nil || !in.IsReply || in.Reply != int64(7) || in.Payload != nil || in.Alias != alias {
			t.Fatalf("%v: read %+v, %v, %v; want the reply 7 to %v", flags, in, done, err, alias)
		}
		if allocs := testing.AllocsPerRun(1000, func() { r.Read(frame, &in) }); allocs != 0 {
			t.Errorf("%v: reading a call's reply of a small integer allocates %v times; want 0", flags, allocs)
		}
		m = AliasSend(from, alias, callReply(stale, int64(7)))
		if frame, _, err = w.appendFrame(nil, &m); err != nil {
			t.Fatal(err)
		}
		in = In{}
		if done, err := r.Read(frame, &in); !done || err != nil || in.IsReply || !etf.Equal(in.Payload, callReply(stale, int64(7))) {
			t.Fatalf("%v: read %+v, %v, %v; want a message tagged with another reference", flags, in, done, err)
		}
	}
}
