package gleam_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/distributetest/gonode"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/gleam"
)

func TestMain(m *testing.M) { distributetest.VerifyTestMain(m) }

func testCtx(t *testing.T) context.Context {
	return distributetest.Context(t, 20*time.Second)
}

// receiveWithin receives the first message match accepts, failing the
// test after a scaled 10 s.
func receiveWithin(t *testing.T, p *distribute.Process, match func(any) bool) any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
	defer cancel()
	m, err := p.ReceiveMatch(ctx, match)
	if err != nil {
		t.Fatalf("receive on %v: %v", p.Pid(), err)
	}
	return m
}

// gleamPair starts an Erlang node with the root package's
// testdata/gleam_shapes.erl loaded and
// a Go node on the same private epmd.
func gleamPair(t *testing.T) (*distributetest.ErlNode, *distribute.Node) {
	t.Helper()
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{})
	src, err := os.ReadFile("../testdata/gleam_shapes.erl")
	if err != nil {
		t.Fatal(err)
	}
	erl.LoadModule(t, string(src))
	return erl, gonode.Start(t, erl.EpmdPort, "gleam", func(c *distribute.Config) { c.Cookie = erl.Cookie })
}

// The Gleam test messages: a greet request carries its reply subject and a
// name; the greeting is a string.
type greet struct {
	ReplyTo gleam.Subject
	Who     string
}

func greetCodec(version uint32) codec.Codec[greet] {
	return codec.Tagged("greet", version, codec.Struct(
		codec.Field("reply_to", func(g *greet) *gleam.Subject { return &g.ReplyTo }, gleam.SubjectCodec),
		codec.Field("who", func(g *greet) *string { return &g.Who }, codec.String),
	))
}

var (
	greetV1    = greetCodec(1)
	greetingV1 = codec.Tagged("greeting", 1, codec.String)
)

// Go calls a Gleam-shaped actor on Erlang, and Erlang calls a Go actor the
// way Gleam distribute does.
func TestShapesBothWays(t *testing.T) {
	erl, g := gleamPair(t)
	ctx := testCtx(t)
	probe, _ := g.NewProcess()
	defer probe.Exit(distribute.ReasonNormal)
	g.Register("probe", probe.Pid())

	// Go -> Gleam: find the actor (the test's stand-in for a global lookup).
	erl.Eval(t, `gleam_shapes:start_actor(<<"greeter">>, {probe, '`+string(g.Name())+`'})`)
	m := receiveWithin(t, probe, nil).(etf.Tuple)
	actorPid := m[2].(distribute.Pid)
	greeter := gleam.Actor(actorPid, "greeter", greetV1)
	if greeter.Tag() == nil || !etf.Equal(greeter.Tag(), etf.Binary("greeter")) {
		t.Fatalf("GleamActor tag %v", greeter.Tag())
	}
	reply, err := gleam.Call(ctx, g, greeter, func(r gleam.Subject) greet { return greet{ReplyTo: r, Who: "gopher"} }, greetingV1)
	if err != nil || reply != "hello, gopher" {
		t.Fatalf("GleamCall = %q, %v", reply, err)
	}
	// A reply of another version is the typed mismatch.
	_, err = gleam.Call(ctx, g, greeter, func(r gleam.Subject) greet { return greet{ReplyTo: r, Who: "old"} }, greetingV1)
	var vm *codec.VersionMismatchError
	if !errors.As(err, &vm) || vm.Tag != "greeting" || vm.Want != 1 || vm.Got != 0 {
		t.Fatalf("old greeting: %v; want VersionMismatchError", err)
	}
	// A request the actor drops: the deadline ends the call.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err = gleam.Call(short, g, gleam.Actor(actorPid, "greeter", greetCodec(2)), func(r gleam.Subject) greet { return greet{ReplyTo: r, Who: "v2"} }, greetingV1)
	if !errors.Is(err, distribute.ErrTimeout) {
		t.Fatalf("v2 request: %v; want distribute.ErrTimeout", err)
	}
	// A dead actor: at once, noproc.
	probe.Send(ctx, actorPid, distribute.Atom("stop"))
	ref, _ := probe.Monitor(ctx, actorPid)
	if d := receiveWithin(t, probe, nil).(distribute.Down); d.Ref != ref {
		t.Fatalf("got %#v", d)
	}
	if _, err := gleam.Call(ctx, g, greeter, func(r gleam.Subject) greet { return greet{ReplyTo: r, Who: "x"} }, greetingV1); !errors.Is(err, distribute.ErrNoProc) {
		t.Fatalf("call to a dead actor: %v; want distribute.ErrNoProc", err)
	}

	// Gleam -> Go: a Go actor with a Gleam name answers through the reply
	// subject the request carries.
	others := make(chan any, 4)
	goGreeter := &distribute.Actor[struct{}, greet, struct{}]{
		Name:      "go_greeter",
		GleamName: "go_greeter",
		Msg:       greetV1,
		HandleMessage: func(ctx context.Context, self *distribute.Process, s struct{}, m greet) (struct{}, error) {
			return s, gleam.ReplySubject(m.ReplyTo, greetingV1).Send(ctx, self, "hello, "+m.Who)
		},
		HandleOther: func(ctx context.Context, self *distribute.Process, s struct{}, m any) (struct{}, error) {
			others <- m
			return s, nil
		},
	}
	h, err := goGreeter.Start(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	target := `{go_greeter, '` + string(g.Name()) + `'}`
	call := func(who string) string {
		return erl.Eval(t, `gleam_shapes:call(`+target+`, <<"go_greeter">>, 1, <<"`+who+`">>, 5000)`)
	}
	if got := call("erlang"); got != `{ok,<<"hello, erlang">>}` {
		t.Fatalf("Gleam-shaped call to Go = %s", got)
	}
	// A request of another version reaches HandleOther as the typed
	// mismatch; the caller times out, as with a Gleam actor.
	if got := erl.Eval(t, `gleam_shapes:call(`+target+`, <<"go_greeter">>, 2, <<"x">>, 200)`); got != "timeout" {
		t.Fatalf("v2 call to Go = %s; want timeout", got)
	}
	select {
	case m := <-others:
		if err, ok := m.(error); !ok || !errors.As(err, &vm) || vm.Want != 1 || vm.Got != 2 {
			t.Fatalf("HandleOther got %#v; want a version mismatch", m)
		}
	case <-ctx.Done():
		t.Fatal("no HandleOther for the v2 request")
	}
	// Another name's messages are not the actor's typed messages.
	erl.Eval(t, target+` ! {<<"someone_else">>, <<1>>}`)
	if m := <-others; !etf.Equal(m.(distribute.Term), etf.Tuple{etf.Binary("someone_else"), etf.Binary{1}}) {
		t.Fatalf("HandleOther got %#v", m)
	}
	if got := call("again"); got != `{ok,<<"hello, again">>}` {
		t.Fatalf("Gleam-shaped call after the bad ones = %s", got)
	}
	if h.Pid().Node != g.Name() {
		t.Fatal("actor on the wrong node")
	}
}

// The Go codec and the Erlang helper agree on a greet request: a reply
// subject made by Erlang (term_to_binary of {subject, Pid, Tag},
// u32-prefixed) decodes in Go, and Go's re-encoding decodes in Erlang to
// the same term. (The bytes differ only in atom tags: OTP 25 writes
// ATOM_EXT where Go writes SMALL_ATOM_UTF8_EXT.)
func TestSubjectBytesMatchErlang(t *testing.T) {
	erl, _ := gleamPair(t)
	// The golden bytes are what erl writes (with UTF-8 atoms).
	inner := base64.StdEncoding.EncodeToString(goldenSubject[4:])
	if got := erl.Eval(t, `B = base64:decode(<<"`+inner+`">>), term_to_binary(binary_to_term(B), [{minor_version, 2}]) =:= B`); got != "true" {
		t.Fatalf("erl re-encodes the golden subject differently: %s", got)
	}
	for _, tag := range []string{`<<"greeter">>`, `make_ref()`, `nil`} {
		got := erl.Eval(t, `put(subj, {subject, self(), `+tag+`}), base64:encode(gleam_shapes:greet_request(1, get(subj), <<"ann">>))`)
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(strings.TrimPrefix(got, `<<"`), `">>`))
		if err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		v, err := codec.Decode(greetV1, raw)
		if err != nil {
			t.Fatalf("decode Erlang's request (tag %s): %v", tag, err)
		}
		if v.Who != "ann" || string(v.ReplyTo.Pid.Node) != erl.Name || v.ReplyTo.Tag == nil {
			t.Fatalf("decoded %+v", v)
		}
		again, err := codec.Encode(greetV1, v)
		if err != nil {
			t.Fatal(err)
		}
		check := `gleam_shapes:parse_greet(base64:decode(<<"` + base64.StdEncoding.EncodeToString(again) + `">>)) =:= {ok, get(subj), <<"ann">>}`
		if got := erl.Eval(t, check); got != "true" {
			t.Fatalf("tag %s: Erlang reads Go's bytes as something else (%s):\n% x", tag, got, again)
		}
	}
}

// goldenSubject is gleam.Subject{<a@h.1.0> (creation 1), <<"t">>} in the
// subject codec: a u32 length (36), then term_to_binary of
// {subject, Pid, <<"t">>} with UTF-8 atoms.
var goldenSubject = []byte{
	0, 0, 0, 36, // length
	131, 104, 3, // version, SMALL_TUPLE_EXT arity 3
	119, 7, 's', 'u', 'b', 'j', 'e', 'c', 't', // subject
	88, 119, 3, 'a', '@', 'h', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, // NEW_PID_EXT a@h ID 1 serial 0 creation 1
	109, 0, 0, 0, 1, 't', // BINARY_EXT <<"t">>
}

var goldenSubjectValue = gleam.Subject{Pid: distribute.Pid{Node: "a@h", ID: 1, Creation: 1}, Tag: etf.Binary("t")}

func TestSubjectCodecGolden(t *testing.T) {
	got, err := codec.Encode(gleam.SubjectCodec, goldenSubjectValue)
	if err != nil || !bytes.Equal(got, goldenSubject) {
		t.Fatalf("encode = % x, %v\nwant % x", got, err, goldenSubject)
	}
	v, rest, err := gleam.SubjectCodec.Decode(append(goldenSubject[:len(goldenSubject):len(goldenSubject)], 0xAA))
	if err != nil || v.Pid != goldenSubjectValue.Pid || !etf.Equal(v.Tag, goldenSubjectValue.Tag) || !bytes.Equal(rest, []byte{0xAA}) {
		t.Fatalf("decode = %+v, % x, %v", v, rest, err)
	}
	if _, err := codec.Encode(gleam.SubjectCodec, gleam.Subject{Pid: goldenSubjectValue.Pid}); !errors.Is(err, codec.ErrInvalid) {
		t.Fatalf("nil tag: %v; want ErrInvalid", err)
	}
}

func TestSubjectCodecRejects(t *testing.T) {
	term := func(t etf.Term) []byte {
		b, err := etf.Append(nil, t)
		if err != nil {
			panic(err)
		}
		return append([]byte{byte(len(b) >> 24), byte(len(b) >> 16), byte(len(b) >> 8), byte(len(b))}, b...)
	}
	pid := goldenSubjectValue.Pid
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, codec.ErrTruncated},
		{"short length", []byte{0, 0, 1}, codec.ErrTruncated},
		{"length past the end", goldenSubject[:20], codec.ErrTruncated},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, 131}, codec.ErrTooLarge},
		{"not ETF", []byte{0, 0, 0, 2, 1, 2}, codec.ErrInvalid},
		{"bytes after the term", append([]byte{0, 0, 0, 37}, append(goldenSubject[4:len(goldenSubject):len(goldenSubject)], 0)...), codec.ErrTrailing},
		{"wrong record", term(etf.Tuple{distribute.Atom("named_subject"), pid, distribute.Atom("x")}), codec.ErrInvalid},
		{"no pid", term(etf.Tuple{distribute.Atom("subject"), distribute.Atom("nopid"), distribute.Atom("x")}), codec.ErrInvalid},
		{"two elements", term(etf.Tuple{distribute.Atom("subject"), pid}), codec.ErrInvalid},
		{"deep tag", term(etf.Tuple{distribute.Atom("subject"), pid, etf.Tuple{etf.Tuple{etf.Tuple{etf.Tuple{etf.Tuple{etf.Tuple{etf.Tuple{etf.Tuple{int64(1)}}}}}}}}}), codec.ErrInvalid},
	}
	for _, c := range cases {
		_, _, err := gleam.SubjectCodec.Decode(c.in)
		var de *codec.DecodeError
		if !errors.Is(err, c.want) || !errors.As(err, &de) {
			t.Errorf("%s: %v; want a *codec.DecodeError wrapping %v", c.name, err, c.want)
		}
	}
}

// Fuzzgleam.SubjectCodec: whatever decodes re-encodes to bytes that decode
// to the same subject; nothing panics.
func FuzzSubjectCodec(f *testing.F) {
	f.Add(goldenSubject)
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		v, _, err := gleam.SubjectCodec.Decode(in)
		if err != nil {
			return
		}
		b, err := codec.Encode(gleam.SubjectCodec, v)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", v, err)
		}
		w, err := codec.Decode(gleam.SubjectCodec, b)
		if err != nil || w.Pid != v.Pid || !etf.Equal(w.Tag, v.Tag) {
			t.Fatalf("round trip %+v -> %+v, %v", v, w, err)
		}
	})
}
