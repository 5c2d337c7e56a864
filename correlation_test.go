package distribute

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

func TestCorrelationIDContext(t *testing.T) {
	ctx := context.Background()
	if id, ok := CorrelationID(ctx); ok {
		t.Fatalf("CorrelationID(Background) = %q, true", id)
	}
	ctx = WithCorrelationID(ctx, "req-1")
	if id, ok := CorrelationID(ctx); !ok || id != "req-1" {
		t.Fatalf("CorrelationID = %q, %v; want req-1", id, ok)
	}
	if id, ok := CorrelationID(WithCorrelationID(ctx, "")); ok {
		t.Fatalf("an empty id removes it: got %q", id)
	}
	if CorrelationTerm(context.Background()) != nil {
		t.Fatal("CorrelationTerm without an id is not nil")
	}
	if CorrelationTerm(WithCorrelationID(ctx, strings.Repeat("x", MaxCorrelationID+1))) != nil {
		t.Fatal("an id over MaxCorrelationID has a wire form")
	}
}

// logLines parses the JSON lines of buf.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	h := LogHandler(slog.NewJSONHandler(&buf, nil))
	if LogHandler(h) != h {
		t.Error("LogHandler wraps a LogHandler again")
	}
	log := slog.New(h)
	ctx := WithCorrelationID(context.Background(), "abc-1")
	log.InfoContext(ctx, "with", "k", 1)
	log.InfoContext(context.Background(), "without")
	log.With("node", "n1").WithGroup("g").InfoContext(ctx, "grouped", "k", 2)
	log.DebugContext(ctx, "below the level")
	lines := logLines(t, &buf)
	if len(lines) != 3 {
		t.Fatalf("%d lines; want 3:\n%s", len(lines), buf.String())
	}
	if lines[0]["correlation_id"] != "abc-1" || lines[0]["k"] != 1.0 {
		t.Errorf("line 1 = %v; want correlation_id abc-1 and k 1", lines[0])
	}
	if _, ok := lines[1]["correlation_id"]; ok {
		t.Errorf("line 2 = %v; want no correlation_id", lines[1])
	}
	g, _ := lines[2]["g"].(map[string]any)
	if lines[2]["node"] != "n1" || g["correlation_id"] != "abc-1" || g["k"] != 2.0 {
		t.Errorf("line 3 = %v; want node n1 and g.correlation_id abc-1", lines[2])
	}
}

func TestCallTagShapes(t *testing.T) {
	ref := Ref{Node: "a@h", Creation: 1, Len: 3, ID: [etf.MaxRefWords]uint32{1, 2, 3}}
	plain := callTag(context.Background(), ref)
	if got := etf.Format(plain); !strings.HasPrefix(got, "[alias|#Ref<") {
		t.Errorf("tag without id = %s; want [alias|Ref]", got)
	}
	tagged := callTag(WithCorrelationID(context.Background(), "id-9"), ref)
	// Through the wire and back.
	b, err := etf.Encode(tagged)
	if err != nil {
		t.Fatal(err)
	}
	back, err := etf.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := etf.Format(back); !strings.HasPrefix(got, "[[alias|#Ref<") || !strings.HasSuffix(got, `]|{'$correlation_id',<<"id-9">>}]`) {
		t.Errorf("tag with id = %s; want [[alias|Ref]|{'$correlation_id',<<\"id-9\">>}]", got)
	}
	for _, tag := range []Term{plain, back} {
		if r, ok := aliasOf(tag); !ok || !etf.Equal(r, ref) {
			t.Errorf("aliasOf(%s) = %v, %v; want %v", etf.Format(tag), r, ok, ref)
		}
		if !isReplyTo(etf.Tuple{tag, Atom("ok")}, ref) {
			t.Errorf("{%s, ok} is not a reply to the ref", etf.Format(tag))
		}
	}
	if id, ok := (From{Tag: back}).CorrelationID(); !ok || id != "id-9" {
		t.Errorf("From.CorrelationID = %q, %v; want id-9", id, ok)
	}
	if id, ok := (From{Tag: plain}).CorrelationID(); ok {
		t.Errorf("From.CorrelationID of a plain tag = %q", id)
	}
	// Tags that are not ours carry no id.
	for _, tag := range []Term{
		ref,
		etf.ImproperList{Elems: []Term{Atom("x")}, Tail: etf.Tuple{atomCorrelationID, etf.Binary("a")}},
		etf.ImproperList{Elems: []Term{plain}, Tail: etf.Tuple{Atom("other"), etf.Binary("a")}},
		etf.ImproperList{Elems: []Term{plain}, Tail: etf.Tuple{atomCorrelationID, Atom("a")}},
		etf.ImproperList{Elems: []Term{plain}, Tail: etf.Tuple{atomCorrelationID, etf.Binary("")}},
		etf.ImproperList{Elems: []Term{plain}, Tail: etf.Tuple{atomCorrelationID, etf.Binary(strings.Repeat("x", MaxCorrelationID+1))}},
	} {
		if id, ok := (From{Tag: tag}).CorrelationID(); ok {
			t.Errorf("From{%s}.CorrelationID = %q, true", etf.Format(tag), id)
		}
	}
}

// FuzzCallTag decodes a term, reads it as a call tag, and checks that an
// id read from it survives re-encoding.
func FuzzCallTag(f *testing.F) {
	ref := Ref{Node: "a@h", Creation: 1, Len: 3, ID: [etf.MaxRefWords]uint32{1, 2, 3}}
	for _, id := range []string{"", "x", "req-42"} {
		b, _ := etf.Encode(callTag(WithCorrelationID(context.Background(), id), ref))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tag, err := etf.Decode(b)
		if err != nil {
			return
		}
		aliasOf(tag)
		id, ok := (From{Tag: tag}).CorrelationID()
		if !ok {
			return
		}
		if id == "" || len(id) > MaxCorrelationID {
			t.Fatalf("id %q out of bounds", id)
		}
		b2, err := etf.Encode(tag)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		tag2, err := etf.Decode(b2)
		if err != nil {
			t.Fatalf("decode re-encoded: %v", err)
		}
		if id2, ok := (From{Tag: tag2}).CorrelationID(); !ok || id2 != id {
			t.Fatalf("id %q became %q, %v", id, id2, ok)
		}
	})
}

// seenID is what the test servers answer: the id their ctx carries.
func seenID(ctx context.Context) string {
	if id, ok := CorrelationID(ctx); ok {
		return id
	}
	return "none"
}

func TestCorrelationIDAcrossNodes(t *testing.T) {
	distributetest.VerifyNoLeaks(t)
	port := distributetest.StartEpmd(t)
	a := startNode(t, port)
	b := startNode(t, port)
	ctx := testCtx(t)

	// A handler process, an actor and a ReceiveCall process on b (and the
	// same handler on a, for a local call).
	handler := func(ctx context.Context, p *Process, m any) error {
		if from, _, ok := ParseCall(m); ok {
			p.Reply(ctx, from, etf.Binary(seenID(ctx)))
		}
		return nil
	}
	hb, err := b.SpawnHandler(handler)
	if err != nil {
		t.Fatal(err)
	}
	ha, _ := a.SpawnHandler(handler)
	actor := Actor[struct{}, string, string]{
		Msg: codec.String, Reply: codec.String,
		HandleCall: func(ctx context.Context, _ *Process, s struct{}, _ string) (string, struct{}, error) {
			return seenID(ctx), s, nil
		},
	}
	act, err := actor.Start(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer act.Stop(ctx, nil)
	rc, _ := b.Spawn(func(ctx context.Context, p *Process) error {
		for {
			from, _, err := ReceiveCall(ctx, p, codec.String)
			if err != nil {
				return nil
			}
			id, ok := from.CorrelationID()
			if !ok {
				id = "none"
			}
			Reply(ctx, p, from, codec.String, id)
		}
	})

	caller, _ := a.NewProcess()
	defer caller.Exit(ReasonNormal)
	long := strings.Repeat("x", MaxCorrelationID+1)
	for _, c := range []struct {
		ctx  context.Context
		want string
	}{
		{ctx, "none"},
		{WithCorrelationID(ctx, "req-42"), "req-42"},
		{WithCorrelationID(ctx, long), "none"}, // too long to travel
	} {
		for _, to := range []Pid{hb.Pid(), ha.Pid()} {
			got, err := caller.Call(c.ctx, to, Atom("q"))
			if b, _ := got.(etf.Binary); err != nil || string(b) != c.want {
				t.Errorf("handler %v: Call = %v, %v; want %q", to, got, err, c.want)
			}
		}
		got, err := act.Call(c.ctx, caller, "q")
		if err != nil || got != c.want {
			t.Errorf("actor: Call = %q, %v; want %q", got, err, c.want)
		}
		got, err = Call(c.ctx, caller, NewSubject(rc.Pid(), codec.String), "q", codec.String)
		if err != nil || got != c.want {
			t.Errorf("ReceiveCall: Call = %q, %v; want %q", got, err, c.want)
		}
	}
	rc.Exit(ReasonNormal)
}

// cidServer is a real gen_server: it answers {Request, Tag}, the tag of
// the caller as Erlang saw it, and answers late from another process
// with gen_server:reply/2.
const cidServer = `-module(cid_srv).
-behaviour(gen_server).
-export([start/0, init/1, handle_call/3, handle_cast/2]).
start() -> gen_server:start({local, cid_srv}, ?MODULE, [], []).
init([]) -> {ok, nil}.
handle_call(late, {_, Tag} = From, S) ->
    spawn(fun() -> gen_server:reply(From, {late, Tag}) end),
    {noreply, S};
handle_call(Req, {_Pid, Tag}, S) -> {reply, {Req, Tag}, S}.
handle_cast(_, S) -> {noreply, S}.
`

func TestCorrelationIDToErlangGenServer(t *testing.T) {
	distributetest.VerifyNoLeaks(t)
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{})
	erl.LoadModule(t, cidServer)
	if got := erl.Eval(t, `element(1, cid_srv:start())`); got != "ok" {
		t.Fatalf("cid_srv:start() = %s", got)
	}
	g := startNode(t, erl.EpmdPort)
	ctx := testCtx(t)
	p, _ := g.NewProcess()
	defer p.Exit(ReasonNormal)
	node := Atom(erl.Name)

	for _, req := range []Atom{"hi", "late"} {
		for _, id := range []string{"", "erl-7"} {
			cctx := ctx
			if id != "" {
				cctx = WithCorrelationID(ctx, id)
			}
			reply, err := p.CallName(cctx, "cid_srv", node, req)
			if err != nil {
				t.Fatalf("call %s (id %q): %v", req, id, err)
			}
			r, ok := reply.(etf.Tuple)
			if !ok || len(r) != 2 || r[0] != req {
				t.Fatalf("call %s = %s; want {%s, Tag}", req, etf.Format(reply), req)
			}
			// Erlang saw the tag as sent: alias first, the id after it.
			if _, ok := aliasOf(r[1]); !ok {
				t.Errorf("Erlang saw tag %s; want an alias tag", etf.Format(r[1]))
			}
			got, ok := (From{Tag: r[1]}).CorrelationID()
			if got != id || ok != (id != "") {
				t.Errorf("tag %s carries %q, %v; want %q", etf.Format(r[1]), got, ok, id)
			}
		}
	}
	// Nothing was left over in the caller's mailbox.
	if n := p.mbox.len(); n != 0 {
		t.Errorf("%d messages left in the caller's mailbox", n)
	}
}

// A correlation id in the context is added to every record logged with
// that context, and travels with the calls and RPCs made with it.
func ExampleLogHandler() {
	h := slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{
		// No time, for a stable output.
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	})
	logger := slog.New(LogHandler(h))
	// Config{..., Logger: logger} makes the node log through it.

	ctx := WithCorrelationID(context.Background(), "order-1234")
	logger.InfoContext(ctx, "order placed", "items", 3)
	// Output:
	// {"level":"INFO","msg":"order placed","items":3,"correlation_id":"order-1234"}
}

func ExampleWithCorrelationID() {
	ctx := WithCorrelationID(context.Background(), "req-42")
	// A call made with ctx (p.Call(ctx, ...), Call(ctx, p, subject, ...),
	// rpc.Client.Call(ctx, ...)) carries the id; the handler on the other node
	// finds it in its own ctx.
	id, ok := CorrelationID(ctx)
	fmt.Println(id, ok)
	// Output: req-42 true
}

// The call tag with a correlation id, as real erl (OTP 25) encodes
// [[alias | list_to_ref("#Ref<0.1.2.3>")] | {'$correlation_id', <<"id-9">>}]:
// with term_to_binary/2's {minor_version, 2} (UTF-8 atoms, what Go writes)
// and with OTP 25's default (Latin-1 ATOM_EXT, which Go reads).
const (
	goldenTagUTF8   = "836c000000016c000000017705616c6961735a0003770d6e6f6e6f6465406e6f686f7374000000000000000300000002000000016802770f24636f7272656c6174696f6e5f69646d0000000469642d39"
	goldenTagLatin1 = "836c000000016c00000001640005616c6961735a000364000d6e6f6e6f6465406e6f686f737400000000000000030000000200000001680264000f24636f7272656c6174696f6e5f69646d0000000469642d39"
)

func TestCallTagGolden(t *testing.T) {
	ref := Ref{Node: "nonode@nohost", Len: 3, ID: [etf.MaxRefWords]uint32{3, 2, 1}}
	got, err := etf.Encode(callTag(WithCorrelationID(context.Background(), "id-9"), ref))
	if err != nil {
		t.Fatal(err)
	}
	if h := hex.EncodeToString(got); h != goldenTagUTF8 {
		t.Errorf("callTag encodes to\n%s\nwant (erl)\n%s", h, goldenTagUTF8)
	}
	for _, g := range []string{goldenTagUTF8, goldenTagLatin1} {
		b, _ := hex.DecodeString(g)
		tag, err := etf.Decode(b)
		if err != nil {
			t.Fatalf("decode erl's tag: %v", err)
		}
		if r, ok := aliasOf(tag); !ok || !etf.Equal(r, ref) {
			t.Errorf("aliasOf(erl's tag) = %v, %v; want %v", r, ok, ref)
		}
		if id, ok := (From{Tag: tag}).CorrelationID(); !ok || id != "id-9" {
			t.Errorf("From{erl's tag}.CorrelationID = %q, %v; want id-9", id, ok)
		}
	}
}
