package distribute

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// A spawn handler that computes M:F(Args) for lists:reverse/1 only, and
// otherwise exits with a reason naming what it got.
func testSpawnHandler(ctx context.Context, p *Process, req SpawnRequest) Term {
	if req.Module == "lists" && req.Function == "reverse" && len(req.Args) == 1 {
		l, _ := listElems(req.Args[0])
		out := make(etf.List, len(l))
		for i, e := range l {
			out[len(l)-1-i] = e
		}
		return etf.Tuple{Atom("result"), out}
	}
	return etf.Tuple{Atom("unknown"), req.Module, req.Function, int64(len(req.Args))}
}

func TestSpawnRequestGoToGo(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := startNode(t, port)
	b := startNode(t, port)
	b.HandleSpawn(testSpawnHandler)
	ctx := testCtx(t)
	p, _ := a.NewProcess()
	ref, err := p.SpawnRequest(ctx, b.Name(), "lists", "reverse", []Term{etf.List{int64(1), int64(2), int64(3)}}, SpawnOptions{Monitor: true})
	if err != nil {
		t.Fatal(err)
	}
	r := receiveWithin(t, p, func(m any) bool { _, ok := m.(SpawnReply); return ok }).(SpawnReply)
	if r.Ref != ref || r.Err != nil || r.Pid.Node != b.Name() {
		t.Fatalf("spawn reply %+v", r)
	}
	d := receiveWithin(t, p, func(m any) bool { _, ok := m.(Down); return ok }).(Down)
	want := etf.Tuple{Atom("result"), etf.List{int64(3), int64(2), int64(1)}}
	if d.Ref != ref || d.Pid != r.Pid || !etf.Equal(d.Reason, want) {
		t.Fatalf("Down %+v; want reason %s", d, etf.Format(want))
	}
	// Without a handler: refused with notsup.
	c := startNode(t, port)
	ref, _ = p.SpawnRequest(ctx, c.Name(), "m", "f", nil, SpawnOptions{Monitor: true})
	r = receiveWithin(t, p, func(m any) bool { _, ok := m.(SpawnReply); return ok }).(SpawnReply)
	if r.Ref != ref || !errors.Is(r.Err, ErrSpawnRefused) {
		t.Fatalf("spawn without handler: %+v; want ErrSpawnRefused", r)
	}
	if n := p.MailboxLen(); n != 0 {
		t.Fatalf("%d stray messages after a refused spawn", n)
	}
}

func TestErlangSpawnsOnGo(t *testing.T) {
	erl, g := erlPair(t)
	g.HandleSpawn(testSpawnHandler)
	// spawn_request with monitor from Erlang: the DOWN carries the result.
	got := erl.Eval(t, fmt.Sprintf(`begin R = erlang:spawn_request('%s', lists, reverse, [[1,2,3]], [monitor]), receive {spawn_reply, R, ok, P} -> receive {'DOWN', R, process, P, Why} -> Why after 30000 -> no_down end; Other -> Other after 30000 -> no_reply end end`, g.Name()))
	if got != "{result,[3,2,1]}" {
		t.Fatalf("spawn_request result = %s", got)
	}
	// With link and monitor.
	got = erl.Eval(t, fmt.Sprintf(`begin R = erlang:spawn_request('%s', lists, reverse, [[1]], [monitor, link]), receive {spawn_reply, R, ok, P} -> receive {'DOWN', R, process, P, Why} -> Why after 30000 -> no_down end; Other -> Other after 30000 -> no_reply end end`, g.Name()))
	if got != "{result,[1]}" {
		t.Fatalf("spawn_request with link = %s", got)
	}
}

// TestSpawnReplyToExitedRequester: a requester that exits before its spawn
// request is answered must not leave the new process linked to, or
// monitored by, a dead pid: the link gets the requester's exit signal (so
// the new process, which does not trap exits, ends) and the monitor goes.
func TestSpawnReplyToExitedRequester(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a := startNode(t, port)
	b := startNode(t, port)
	spawned := make(chan *Process, 2)
	b.HandleSpawn(func(ctx context.Context, p *Process, req SpawnRequest) Term {
		spawned <- p
		<-ctx.Done()
		return ReasonNormal
	})
	ctx := testCtx(t)
	for _, opts := range []SpawnOptions{{Link: true}, {Monitor: true}} {
		t.Run(fmt.Sprintf("link=%v,monitor=%v", opts.Link, opts.Monitor), func(t *testing.T) {
			p, _ := a.NewProcess()
			if _, err := p.SpawnRequest(ctx, b.Name(), "m", "f", nil, opts); err != nil {
				t.Fatal(err)
			}
			p.Exit(Atom("gone"))
			var q *Process
			select {
			case q = <-spawned:
			case <-ctx.Done():
				t.Fatal("no process spawned")
			}
			if opts.Link {
				select {
				case <-q.Done():
				case <-ctx.Done():
					t.Fatalf("the spawned process %v still runs, linked to %v, which exited before the reply", q.Pid(), p.Pid())
				}
				if r := q.Reason(); r != Atom("gone") && r != ReasonNoProc {
					t.Fatalf("spawned process exited with %s; want gone or noproc", etf.Format(r))
				}
				return
			}
			distributetest.WaitFor(t, "the monitor of the exited requester to go", func() bool {
				q.mu.Lock()
				defer q.mu.Unlock()
				return len(q.rels().watchers) == 0
			})
			q.Exit(ReasonNormal)
		})
	}
}
