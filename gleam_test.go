package distribute

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// gleamPair starts an Erlang node with testdata/gleam_shapes.erl loaded and
// a Go node on the same private epmd.
func gleamPair(t *testing.T) (*distributetest.ErlNode, *Node) {
	t.Helper()
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{})
	src, err := os.ReadFile("testdata/gleam_shapes.erl")
	if err != nil {
		t.Fatal(err)
	}
	erl.LoadModule(t, string(src))
	return erl, startNode(t, erl.EpmdPort)
}

// The Gleam test messages: a greet request carries its reply subject and a
// name; the greeting is a string.
type greet struct {
	ReplyTo GleamSubject
	Who     string
}

func greetCodec(version uint32) codec.Codec[greet] {
	return codec.Tagged("greet", version, codec.Struct(
		codec.Field("reply_to", func(g *greet) *GleamSubject { return &g.ReplyTo }, GleamSubjectCodec),
		codec.Field("who", func(g *greet) *string { return &g.Who }, codec.String),
	))
}

var (
	greetV1    = greetCodec(1)
	greetingV1 = codec.Tagged("greeting", 1, codec.String)
)

// Go calls a Gleam-shaped actor on Erlang, and Erlang calls a Go actor the
// way Gleam distribute does.
func TestGleamShapesBothWays(t *testing.T) {
	erl, g := gleamPair(t)
	ctx := testCtx(t)
	probe, _ := g.NewProcess()
	defer probe.Exit(ReasonNormal)
	g.Register("probe", probe.Pid())

	// Go -> Gleam: find the actor (the test's stand-in for a global lookup).
	erl.Eval(t, `gleam_shapes:start_actor(<<"greeter">>, {probe, '`+string(g.Name())+`'})`)
	m := receiveWithin(t, probe, nil).(etf.Tuple)
	actorPid := m[2].(Pid)
	greeter := GleamActor(actorPid, "greeter", greetV1)
	if greeter.Tag() == nil || !etf.Equal(greeter.Tag(), etf.Binary("greeter")) {
		t.Fatalf("GleamActor tag %v", greeter.Tag())
	}
	reply, err := GleamCall(ctx, g, greeter, func(r GleamSubject) greet { return greet{ReplyTo: r, Who: "gopher"} }, greetingV1)
	if err != nil || reply != "hello, gopher" {
		t.Fatalf("GleamCall = %q, %v", reply, err)
	}
	// A reply of another version is the typed mismatch.
	_, err = GleamCall(ctx, g, greeter, func(r GleamSubject) greet { return greet{ReplyTo: r, Who: "old"} }, greetingV1)
	var vm *codec.VersionMismatchError
	if !errors.As(err, &vm) || vm.Tag != "greeting" || vm.Want != 1 || vm.Got != 0 {
		t.Fatalf("old greeting: %v; want VersionMismatchError", err)
	}
	// A request the actor drops: the deadline ends the call.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err = GleamCall(short, g, GleamActor(actorPid, "greeter", greetCodec(2)), func(r GleamSubject) greet { return greet{ReplyTo: r, Who: "v2"} }, greetingV1)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("v2 request: %v; want ErrTimeout", err)
	}
	// A dead actor: at once, noproc.
	probe.Send(ctx, actorPid, Atom("stop"))
	ref, _ := probe.Monitor(ctx, actorPid)
	if d := receiveWithin(t, probe, nil).(Down); d.Ref != ref {
		t.Fatalf("got %#v", d)
	}
	if _, err := GleamCall(ctx, g, greeter, func(r GleamSubject) greet { return greet{ReplyTo: r, Who: "x"} }, greetingV1); !errors.Is(err, ErrNoProc) {
		t.Fatalf("call to a dead actor: %v; want ErrNoProc", err)
	}

	// Gleam -> Go: a Go actor with a Gleam name answers through the reply
	// subject the request carries.
	others := make(chan any, 4)
	goGreeter := &Actor[struct{}, greet, struct{}]{
		Name:      "go_greeter",
		GleamName: "go_greeter",
		Msg:       greetV1,
		HandleMessage: func(ctx context.Context, self *Process, s struct{}, m greet) (struct{}, error) {
			return s, ReplySubject(m.ReplyTo, greetingV1).Send(ctx, self, "hello, "+m.Who)
		},
		HandleOther: func(ctx context.Context, self *Process, s struct{}, m any) (struct{}, error) {
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
	if m := <-others; !etf.Equal(m.(Term), etf.Tuple{etf.Binary("someone_else"), etf.Binary{1}}) {
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
func TestGleamSubjectBytesMatchErlang(t *testing.T) {
	erl, _ := gleamPair(t)
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
