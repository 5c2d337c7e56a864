package distribute

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/internal/dist"
)

// TestLegalBEAMTermsThroughGoEcho: terms the BEAM makes every day pass
// through a Go node with the default limits: erl calls a Go echo with a
// 2000-chunk iolist built as [Acc, Chunk] (nested 2000 deep) and a list of
// 1.1 million booleans, and gets each back equal.
func TestLegalBEAMTermsThroughGoEcho(t *testing.T) {
	erl, g := erlPair(t)
	srv, err := g.SpawnHandler(func(ctx context.Context, p *Process, m Term) error {
		if from, req, ok := ParseCall(m); ok {
			return p.Reply(ctx, from, req)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	g.Register("echo_limits", srv.Pid())
	for _, term := range []string{
		`lists:foldl(fun(_, Acc) -> [Acc, "chunk"] end, [], lists:seq(1, 2000))`,
		`[true || _ <- lists:seq(1, 1100000)]`,
		// Nested as deep as a call allows: the call's {'$gen_call', From,
		// T} and the reply's {Tag, T} add a level to MaxDepth's 100 000.
		`lists:foldl(fun(_, A) -> {A} end, ok, lists:seq(1, 99999))`,
	} {
		// Megabytes each way, decoded and encoded under -race: on a
		// loaded machine that takes a while, so the call and the wait
		// for its answer get minutes, not Eval's default 30 s.
		got, err := erl.EvalErr(fmt.Sprintf(`begin T = %s, T =:= gen_server:call({echo_limits, '%s'}, T, infinity) end`, term, g.Name()), distributetest.Scale(3*time.Minute))
		if err != nil {
			t.Fatalf("echo of %s: %v", term, err)
		}
		if got != "true" {
			t.Errorf("echo of %s: %.300s", term, got)
		}
	}
}

// TestTermOverALimitClosesOnlyThatConnection: a term over a decode limit
// (compressed, too deep, an integer larger than the BEAM's, a term over
// Limits.MaxSize, a frame over MaxFrameSize) closes the connection it came
// on, logged at warning with the peer and the limit; the node lives and
// serves others.
func TestTermOverALimitClosesOnlyThatConnection(t *testing.T) {
	port := distributetest.StartEpmd(t)
	var logs distributetest.LogBuffer
	target := startNode(t, port, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		c.MaxFrameSize = 8 << 20
		c.Limits.MaxSize = 6 << 20
	})
	// One warning per case: the once-a-second limit on these warnings is
	// tested by TestLimitWarningsRateLimited.
	target.limitLog.every = time.Nanosecond
	friend := startNode(t, port)
	box, _ := target.NewProcess()
	target.Register("box", box.Pid())
	// regSend is a header-mode REG_SEND to box whose payload is body (a
	// term without its version byte).
	regSend := func(body []byte) []byte {
		ctrl, err := appendFrame(nil, &peer{flags: dist.DistHdrAtomCache}, etf.Tuple{int64(dist.OpRegSend), Pid{Node: "x@localhost", ID: 1}, Atom(""), Atom("box")}, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		f := append(ctrl, body...)
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(f))), f...)
	}
	passThrough := func(payload []byte) []byte {
		ctrl, err := etf.Encode(etf.Tuple{int64(dist.OpRegSend), Pid{Node: "x@localhost", ID: 1}, Atom(""), Atom("box")})
		if err != nil {
			t.Fatal(err)
		}
		f := append(append([]byte{112}, ctrl...), payload...)
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(f))), f...)
	}
	var zb bytes.Buffer
	zw := zlib.NewWriter(&zb)
	zw.Write([]byte{etf.TagBinary, 0, 0, 16, 0})
	zw.Write(make([]byte, 4096))
	zw.Close()
	compressed := binary.BigEndian.AppendUint32([]byte{131, etf.TagCompressed}, 5+4096)
	compressed = append(compressed, zb.Bytes()...)
	deep := append(bytes.Repeat([]byte{etf.TagSmallTuple, 1}, etf.DefaultMaxDepth+1), etf.TagNil)
	huge := binary.BigEndian.AppendUint32([]byte{etf.TagLargeBig}, etf.MaxBigBytes+1)
	huge = append(append(huge, 0), bytes.Repeat([]byte{1}, etf.MaxBigBytes+1)...)
	large := binary.BigEndian.AppendUint32([]byte{etf.TagBinary}, 7<<20)
	large = append(large, make([]byte, 7<<20)...)
	cases := []struct {
		name, limit string
		flags       dist.Flags
		frame       []byte
	}{
		{"compressed payload", "compressed", dist.DefaultFlags &^ (dist.DistHdrAtomCache | dist.Fragments), passThrough(compressed)},
		{"nested one level too deep", "MaxDepth", dist.DefaultFlags, regSend(deep)},
		{"integer larger than the BEAM's", "MaxBigBytes", dist.DefaultFlags, regSend(huge)},
		{"term over Limits.MaxSize", "MaxSize", dist.DefaultFlags, regSend(large)},
		{"frame over MaxFrameSize", "MaxFrameSize", dist.DefaultFlags, binary.BigEndian.AppendUint32(nil, 9<<20)},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("limits%d@localhost", i)
			c := handshakeWith(t, target, name, tc.flags)
			done := make(chan struct{})
			go func() {
				defer close(done)
				c.Write(tc.frame)
				c.SetReadDeadline(time.Now().Add(distributetest.Scale(10 * time.Second)))
				io.Copy(io.Discard, c)
			}()
			select {
			case <-done:
			case <-time.After(distributetest.Scale(15 * time.Second)):
				t.Fatal("the node did not close the connection")
			}
			if err := friend.Ping(testCtx(t), target.Name()); err != nil {
				t.Fatalf("after %s: %v", tc.name, err)
			}
			distributetest.WaitFor(t, "the warning", func() bool {
				for _, line := range strings.Split(logs.String(), "\n") {
					if strings.Contains(line, "level=WARN") && strings.Contains(line, name) && strings.Contains(line, "limit="+tc.limit) {
						return true
					}
				}
				return false
			})
		})
	}
}

// junkInt is a 2 MiB integer: legal (the BEAM holds up to 4 MiB), and
// slow to print in decimal (the conversion is superlinear).
func junkInt() Term { return new(big.Int).Lsh(big.NewInt(1), 16<<20) }

// TestJunkCallToNetKernelIsLoggedBounded: a call to net_kernel holding a
// 2 MiB integer is logged (at debug) with its term cut to etf.LogTextMax
// bytes, whose printing is bounded by that size, not by the integer's; a
// ping that follows is answered. (Printed whole, the integer once delayed
// every ping by 3.2 s; BenchmarkPingWithJunk measures it.)
func TestJunkCallToNetKernelIsLoggedBounded(t *testing.T) {
	port := distributetest.StartEpmd(t)
	var logs distributetest.LogBuffer
	target := startNode(t, port, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	friend := startNode(t, port)
	p, err := friend.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Exit(ReasonNormal)
	ctx := testCtx(t)
	call := etf.Tuple{Atom("$gen_call"), etf.Tuple{p.Pid(), Ref{Node: friend.Name(), Len: 3, ID: [etf.MaxRefWords]uint32{1, 2, 3}}}, etf.Tuple{Atom("junk"), junkInt()}}
	if err := p.SendName(ctx, "net_kernel", target.Name(), call); err != nil {
		t.Fatal(err)
	}
	if err := friend.Ping(ctx, target.Name()); err != nil {
		t.Fatalf("ping after the junk call: %v", err)
	}
	distributetest.WaitFor(t, "the junk call in the log", func() bool { return strings.Contains(logs.String(), "net_kernel: unsupported call") })
	for _, line := range strings.Split(logs.String(), "\n") {
		if len(line) > etf.LogTextMax+512 {
			t.Errorf("a log line of %d bytes: %.200s...", len(line), line)
		}
	}
}

// BenchmarkPingWithJunk measures a ping answered while the node logs (at
// debug) a call to net_kernel holding a 2 MiB integer.
func BenchmarkPingWithJunk(b *testing.B) {
	port := distributetest.StartEpmd(b)
	newNode := func(logger *slog.Logger) *Node {
		ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
		defer cancel()
		n, err := Start(ctx, Config{Name: fmt.Sprintf("go%d@localhost", nodeSeq.Add(1)), Cookie: "distributetest", EpmdPort: port, Logger: logger})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Stop(context.Background()) })
		return n
	}
	target := newNode(slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug})))
	friend := newNode(nil)
	p, err := friend.NewProcess()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Exit(ReasonNormal)
	ctx := context.Background()
	call := etf.Tuple{Atom("$gen_call"), etf.Tuple{p.Pid(), Ref{Node: friend.Name(), Len: 3, ID: [etf.MaxRefWords]uint32{1, 2, 3}}}, etf.Tuple{Atom("junk"), junkInt()}}
	if err := friend.Ping(ctx, target.Name()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := p.SendName(ctx, "net_kernel", target.Name(), call); err != nil {
			b.Fatal(err)
		}
		if err := friend.Ping(ctx, target.Name()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLimitWarningsRateLimited: peers dropped for going over a limit are
// logged at warning at most once per interval; the next warning says how
// many were left out (they are logged at info).
func TestLimitWarningsRateLimited(t *testing.T) {
	r := rateLog{every: time.Hour}
	now := time.Now()
	if ok, n := r.allow(now); !ok || n != 0 {
		t.Fatalf("first: %v %d; want true 0", ok, n)
	}
	for range 3 {
		if ok, _ := r.allow(now.Add(time.Minute)); ok {
			t.Fatal("a second line within the interval was allowed")
		}
	}
	if ok, n := r.allow(now.Add(time.Hour)); !ok || n != 3 {
		t.Fatalf("after the interval: %v %d; want true 3", ok, n)
	}
}
