package distribute

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// note is the message type of the typed tests: a text, a number and the
// subject a reply goes to.
type note struct {
	Text    string
	N       int64
	ReplyTo replyTo
}

// replyTo is where a reply goes: a pid and the tag the reply carries, as
// the pair {Pid, Tag} (package gleam's Subject has this role in the Gleam
// shapes; the root's tests cannot import it).
type replyTo struct {
	Pid Pid
	Tag Term
}

var replyToCodec = codec.New("reply to",
	func(dst []byte, r replyTo) ([]byte, error) { return etf.Append(dst, etf.Tuple{r.Pid, r.Tag}) },
	func(src []byte) (replyTo, []byte, error) {
		var d etf.Decoder
		v, used, err := d.Decode(src)
		if err != nil {
			return replyTo{}, nil, err
		}
		t, ok := v.(etf.Tuple)
		if !ok || len(t) != 2 {
			return replyTo{}, nil, fmt.Errorf("not {Pid, Tag}: %w", codec.ErrInvalid)
		}
		pid, ok := t[0].(Pid)
		if !ok {
			return replyTo{}, nil, fmt.Errorf("not a pid: %w", codec.ErrInvalid)
		}
		return replyTo{Pid: pid, Tag: t[1]}, src[used:], nil
	})

// replySubject is the subject r stands for.
func replySubject[T any](r replyTo, c codec.Codec[T]) Subject[T] {
	return NewSubject(r.Pid, c).WithTag(r.Tag)
}

func noteCodec(version uint32) codec.Codec[note] {
	return codec.Tagged("note", version, codec.Struct(
		codec.Field("text", func(n *note) *string { return &n.Text }, codec.String),
		codec.Field("n", func(n *note) *int64 { return &n.N }, codec.Int),
		codec.Field("reply_to", func(n *note) *replyTo { return &n.ReplyTo }, replyToCodec),
	))
}

var (
	noteV1 = noteCodec(1)
	noteV2 = noteCodec(2)
	// textV1 is another message type: a tag mismatch for a note reader.
	textV1 = codec.Tagged("text", 1, codec.String)
)

func TestTypedSendReceiveLocal(t *testing.T) {
	n := startNode(t, distributetest.StartEpmd(t))
	ctx := testCtx(t)
	a, _ := n.NewProcess()
	b, _ := n.NewProcess()
	defer a.Exit(ReasonNormal)
	defer b.Exit(ReasonNormal)

	to := NewSubject(b.Pid(), codec.Int)
	// A non-binary message stays queued for the untyped receive.
	a.Send(ctx, b.Pid(), Atom("untyped"))
	for i := int64(1); i <= 3; i++ {
		if err := to.Send(ctx, a, i); err != nil {
			t.Fatal(err)
		}
	}
	// Selective receive takes 2 first and leaves 1 and 3 in order.
	v, err := ReceiveMatch(ctx, b, codec.Int, func(v int64) bool { return v == 2 })
	if err != nil || v != 2 {
		t.Fatalf("ReceiveMatch = %v, %v; want 2", v, err)
	}
	for _, want := range []int64{1, 3} {
		if v, err := Receive(ctx, b, codec.Int); err != nil || v != want {
			t.Fatalf("Receive = %v, %v; want %d", v, err, want)
		}
	}
	if m, err := b.Receive(ctx); err != nil || m != Atom("untyped") {
		t.Fatalf("untyped Receive = %v, %v; want the atom left queued", m, err)
	}

	// A binary a BEAM process would see: the codec bytes.
	to.Send(ctx, a, 42)
	m, _ := b.Receive(ctx)
	if want := (etf.Binary{0, 0, 0, 0, 0, 0, 0, 42}); !etf.Equal(m, want) {
		t.Fatalf("wire message %s; want %s", etf.Format(m), etf.Format(want))
	}

	// A named subject resolves the name at send time.
	n.Register("typed_b", b.Pid())
	if err := NamedSubject("typed_b", "", codec.String).Send(ctx, a, "by name"); err != nil {
		t.Fatal(err)
	}
	if s, err := Receive(ctx, b, codec.String); err != nil || s != "by name" {
		t.Fatalf("Receive = %q, %v", s, err)
	}

	// A tagged subject sends {Tag, Binary} and receives only its own.
	ref := n.MakeRef()
	tagged := NewSubject(b.Pid(), codec.String).WithTag(ref)
	to.Send(ctx, a, 7)
	tagged.Send(ctx, a, "tagged")
	if s, err := tagged.Receive(ctx, b); err != nil || s != "tagged" {
		t.Fatalf("tagged Receive = %q, %v", s, err)
	}
	if v, err := Receive(ctx, b, codec.Int); err != nil || v != 7 {
		t.Fatalf("Receive after tagged = %v, %v; want 7", v, err)
	}

	// ctx ends a typed receive.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := Receive(short, b, codec.Int); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive on empty mailbox: %v; want DeadlineExceeded", err)
	}
	// The zero Subject refuses to send.
	var zero Subject[int64]
	if err := zero.Send(ctx, a, 1); !errors.Is(err, ErrBadName) {
		t.Fatalf("zero Subject Send: %v", err)
	}
}

func TestTypedReceiveMismatch(t *testing.T) {
	n := startNode(t, distributetest.StartEpmd(t))
	ctx := testCtx(t)
	a, _ := n.NewProcess()
	b, _ := n.NewProcess()
	defer a.Exit(ReasonNormal)
	defer b.Exit(ReasonNormal)
	reply := replyTo{Pid: a.Pid(), Tag: n.MakeRef()}

	NewSubject(b.Pid(), noteV2).Send(ctx, a, note{Text: "newer", N: 2, ReplyTo: reply})
	NewSubject(b.Pid(), textV1).Send(ctx, a, "another type")
	a.Send(ctx, b.Pid(), etf.Binary{1, 2})
	NewSubject(b.Pid(), noteV1).Send(ctx, a, note{Text: "ok", N: 1, ReplyTo: reply})

	_, err := Receive(ctx, b, noteV1)
	var vm *codec.VersionMismatchError
	if !errors.As(err, &vm) || vm.Want != 1 || vm.Got != 2 || !errors.Is(err, ErrBadMessage) || !errors.Is(err, codec.ErrVersionMismatch) {
		t.Fatalf("v2 message to a v1 reader: %v; want a VersionMismatchError 1/2", err)
	}
	var me *MessageError
	if !errors.As(err, &me) || me.Message == nil {
		t.Fatalf("error %T does not carry the message", err)
	}
	_, err = Receive(ctx, b, noteV1)
	var tm *codec.TagMismatchError
	if !errors.As(err, &tm) || tm.Want != "note" || tm.Got != "text" || !errors.Is(err, codec.ErrTagMismatch) {
		t.Fatalf("text message to a note reader: %v; want a TagMismatchError", err)
	}
	if _, err = Receive(ctx, b, noteV1); !errors.Is(err, codec.ErrTruncated) {
		t.Fatalf("2 stray bytes: %v; want ErrTruncated", err)
	}
	// The receiver goes on serving.
	got, err := Receive(ctx, b, noteV1)
	if err != nil || got.Text != "ok" || got.ReplyTo.Pid != a.Pid() || !etf.Equal(got.ReplyTo.Tag, reply.Tag) {
		t.Fatalf("after the bad ones: %+v, %v", got, err)
	}
}

// The typed child node is this test binary re-executed with
// DISTRIBUTE_TYPED_CHILD set to a node name, running TestTypedChildNode,
// which serves until its standard input closes. It hosts:
//   - typed_relay: an actor that answers a note with a note (N+1, text
//     upper-cased) through the note's reply subject; a note with text
//     "v2" is answered in version 2, and a reply subject with the tag
//     'bare' gets an untagged binary.
//   - typed_counter: an actor with an int64 state; messages and calls add
//     to it, calls return the sum.
//   - typed_sleeper: a process that takes calls and never answers.
const (
	typedChildEnv     = "DISTRIBUTE_TYPED_CHILD"
	typedChildEpmdEnv = "DISTRIBUTE_TYPED_CHILD_EPMD"
)

func TestTypedChildNode(t *testing.T) {
	name := os.Getenv(typedChildEnv)
	if name == "" {
		t.Skip("the typed child node of TestTypedAcrossProcesses")
	}
	port, _ := strconv.Atoi(os.Getenv(typedChildEpmdEnv))
	ctx := context.Background()
	n, err := Start(ctx, Config{Name: name, Cookie: benchCookie, EpmdPort: port})
	if err != nil {
		fmt.Fprintln(os.Stderr, "typed child:", err)
		os.Exit(1)
	}
	relay := &Actor[struct{}, note, struct{}]{
		Name: "typed_relay",
		Msg:  noteV1,
		HandleMessage: func(ctx context.Context, self *Process, s struct{}, m note) (struct{}, error) {
			out := note{Text: strings.ToUpper(m.Text), N: m.N + 1, ReplyTo: replyTo{Pid: self.Pid(), Tag: Atom("relay")}}
			switch {
			case m.Text == "v2":
				return s, replySubject(m.ReplyTo, noteV2).Send(ctx, self, out)
			case m.ReplyTo.Tag == Atom("bare"):
				return s, NewSubject(m.ReplyTo.Pid, noteV1).Send(ctx, self, out)
			}
			return s, replySubject(m.ReplyTo, noteV1).Send(ctx, self, out)
		},
	}
	if _, err := relay.Start(ctx, n); err != nil {
		fmt.Fprintln(os.Stderr, "typed child:", err)
		os.Exit(1)
	}
	if _, err := counterActor("typed_counter").Start(ctx, n); err != nil {
		fmt.Fprintln(os.Stderr, "typed child:", err)
		os.Exit(1)
	}
	sleeper, _ := n.Spawn(func(ctx context.Context, p *Process) error {
		for {
			if _, err := p.Receive(ctx); err != nil {
				return err
			}
		}
	})
	n.Register("typed_sleeper", sleeper.Pid())
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// counterActor adds what it is sent to its state; a call answers the sum.
func counterActor(name Atom) *Actor[int64, int64, int64] {
	return &Actor[int64, int64, int64]{
		Name:  name,
		Msg:   codec.Int,
		Reply: codec.Int,
		HandleMessage: func(ctx context.Context, self *Process, sum int64, v int64) (int64, error) {
			return sum + v, nil
		},
		HandleCall: func(ctx context.Context, self *Process, sum int64, v int64) (int64, int64, error) {
			return sum + v, sum + v, nil
		},
	}
}

// startTypedChild starts the typed child node on epmd port and returns its
// name; it stops when the test ends.
func startTypedChild(t testing.TB, port int) Atom {
	t.Helper()
	name := fmt.Sprintf("typed%d_%d@localhost", os.Getpid(), nodeSeq.Add(1))
	cmd := exec.Command(os.Args[0], "-test.run=^TestTypedChildNode$")
	cmd.Env = append(os.Environ(), typedChildEnv+"="+name, typedChildEpmdEnv+"="+strconv.Itoa(port))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	line, err := r.ReadString('\n')
	exited := make(chan struct{})
	go func() {
		io.Copy(io.Discard, r)
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(distributetest.Scale(10 * time.Second)):
			cmd.Process.Kill()
			<-exited
		}
	})
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("typed child did not start: %q %v", line, err)
	}
	return Atom(name)
}

func TestTypedAcrossProcesses(t *testing.T) {
	port := distributetest.StartEpmd(t)
	child := startTypedChild(t, port)
	n := startNode(t, port, func(c *Config) { c.Cookie = benchCookie })
	ctx := testCtx(t)
	p, _ := n.NewProcess()
	defer p.Exit(ReasonNormal)

	// Send to a name on the child; the reply comes back through our subject.
	relay := NamedSubject("typed_relay", child, noteV1)
	mine := replyTo{Pid: p.Pid(), Tag: n.MakeRef()}
	if err := relay.Send(ctx, p, note{Text: "hello", N: 41, ReplyTo: mine}); err != nil {
		t.Fatal(err)
	}
	got, err := replySubject(mine, noteV1).Receive(ctx, p)
	if err != nil || got.Text != "HELLO" || got.N != 42 || got.ReplyTo.Tag != Atom("relay") {
		t.Fatalf("relay reply %+v, %v", got, err)
	}
	// An untagged reply, received with the plain typed receive.
	if err := relay.Send(ctx, p, note{Text: "bare", N: 1, ReplyTo: replyTo{Pid: p.Pid(), Tag: Atom("bare")}}); err != nil {
		t.Fatal(err)
	}
	if got, err := Receive(ctx, p, noteV1); err != nil || got.Text != "BARE" || got.N != 2 {
		t.Fatalf("bare reply %+v, %v", got, err)
	}
	// A version 2 reply to a version 1 reader is a typed mismatch.
	relay.Send(ctx, p, note{Text: "v2", ReplyTo: mine})
	_, err = replySubject(mine, noteV1).Receive(ctx, p)
	var vm *codec.VersionMismatchError
	if !errors.As(err, &vm) || vm.Want != 1 || vm.Got != 2 {
		t.Fatalf("v2 reply: %v; want VersionMismatchError", err)
	}

	// Typed calls, by name and by pid.
	counter := NamedSubject("typed_counter", child, codec.Int)
	counter.Send(ctx, p, 10)
	if sum, err := Call(ctx, p, counter, 5, codec.Int); err != nil || sum != 15 {
		t.Fatalf("Call counter = %d, %v; want 15", sum, err)
	}
	// A reply decoded with the wrong codec is a typed error.
	if _, err := Call(ctx, p, counter, 1, codec.Bool); !errors.Is(err, ErrBadMessage) {
		t.Fatalf("Call with a bool reply codec: %v; want ErrBadMessage", err)
	}
	// A request the server cannot decode: ErrBadRequest, and it goes on.
	if _, err := Call(ctx, p, NamedSubject("typed_counter", child, codec.String), "x", codec.Int); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("Call with a string request: %v; want ErrBadRequest", err)
	}
	if sum, err := Call(ctx, p, counter, 0, codec.Int); err != nil || sum != 16 {
		t.Fatalf("Call counter = %d, %v; want 16", sum, err)
	}

	// A name nobody has: ErrNoProc at once.
	start := time.Now()
	if _, err := Call(ctx, p, NamedSubject("nobody", child, codec.Int), 1, codec.Int); !errors.Is(err, ErrNoProc) {
		t.Fatalf("Call nobody: %v; want ErrNoProc", err)
	}
	// The deadline bounds a call nobody answers.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := Call(short, p, NamedSubject("typed_sleeper", child, codec.Int), 1, codec.Int); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Call sleeper: %v; want ErrTimeout", err)
	}
	if d := time.Since(start); d > distributetest.Scale(5*time.Second) {
		t.Fatalf("failing calls took %v", d)
	}
	// A node that does not exist: ErrNodeDown at once.
	if _, err := Call(ctx, p, NamedSubject("typed_counter", "nosuch@localhost", codec.Int), 1, codec.Int); !errors.Is(err, ErrNodeDown) {
		t.Fatalf("Call on a missing node: %v; want ErrNodeDown", err)
	}
	if err := NamedSubject("typed_counter", "nosuch@localhost", codec.Int).Send(ctx, p, 1); !errors.Is(err, ErrNodeDown) {
		t.Fatalf("Send to a missing node: %v; want ErrNodeDown", err)
	}
	if p.MailboxLen() != 0 {
		t.Fatalf("%d messages left in the caller's mailbox", p.MailboxLen())
	}
}
