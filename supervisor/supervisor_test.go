package supervisor_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/codec"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/distributetest/gonode"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/supervisor"
)

func TestMain(m *testing.M) { distributetest.VerifyTestMain(m) }

func startNode(t *testing.T, epmdPort int) *distribute.Node {
	t.Helper()
	return gonode.Start(t, epmdPort, "sup")
}

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

// counterActor adds the Ints it gets and answers a call with the sum.
func counterActor(name distribute.Atom) *distribute.Actor[int64, int64, int64] {
	return &distribute.Actor[int64, int64, int64]{
		Name:  name,
		Msg:   codec.Int,
		Reply: codec.Int,
		HandleMessage: func(ctx context.Context, self *distribute.Process, sum int64, v int64) (int64, error) {
			return sum + v, nil
		},
		HandleCall: func(ctx context.Context, self *distribute.Process, sum int64, v int64) (int64, int64, error) {
			return sum + v, sum + v, nil
		},
	}
}

// worker is a child, an actor, that reports "start ID" from its Init and
// "stop ID" when an exit signal (shutdown) reaches it (it traps exits),
// exits with an error on the message crash and normally on quit.
func worker(id string, events chan<- string) supervisor.ChildSpec {
	return supervisor.ActorChild(id, &distribute.Actor[struct{}, int64, int64]{
		Msg: codec.Int,
		Init: func(ctx context.Context, self *distribute.Process) (struct{}, error) {
			self.TrapExit(true)
			events <- "start " + id
			return struct{}{}, nil
		},
		HandleOther: func(ctx context.Context, self *distribute.Process, s struct{}, m any) (struct{}, error) {
			switch m := m.(type) {
			case distribute.Exit:
				events <- "stop " + id
				return s, &distribute.ExitError{Reason: m.Reason}
			case distribute.Atom:
				switch m {
				case "crash":
					return s, errors.New("asked to crash")
				case "quit":
					return s, &distribute.ExitError{Reason: distribute.ReasonNormal}
				}
			}
			return s, nil
		},
	})
}

// expectEvents reads len(want) events and compares them in order.
func expectEvents(t *testing.T, events <-chan string, want ...string) {
	t.Helper()
	timeout := time.After(distributetest.Scale(10 * time.Second))
	for i, w := range want {
		select {
		case got := <-events:
			if got != w {
				t.Fatalf("event %d = %q; want %q (all: %q)", i, got, w, want)
			}
		case <-timeout:
			t.Fatalf("event %d: none; want %q (all: %q)", i, w, want)
		}
	}
}

func childPid(t *testing.T, s *supervisor.Supervisor, id string) distribute.Pid {
	t.Helper()
	children, err := s.Children(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range children {
		if c.ID == id {
			return c.Pid
		}
	}
	t.Fatalf("no child %q in %v", id, children)
	return distribute.Pid{}
}

func TestSupervisorOneForOne(t *testing.T) {
	distributetest.VerifyNoLeaks(t)
	n := startNode(t, distributetest.StartEpmd(t))
	ctx := testCtx(t)
	p, _ := n.NewProcess()
	defer p.Exit(distribute.ReasonNormal)
	events := make(chan string, 64)
	s, err := supervisor.Start(ctx, n, supervisor.Spec{
		Name:        "sup1",
		Strategy:    supervisor.OneForOne,
		MaxRestarts: 5,
		Period:      time.Minute,
		Children:    []supervisor.ChildSpec{worker("a", events), worker("b", events), worker("c", events)},
	})
	if err != nil {
		t.Fatal(err)
	}
	expectEvents(t, events, "start a", "start b", "start c")
	if pid, _ := n.Whereis("sup1"); pid != s.Pid() {
		t.Fatal("supervisor not registered")
	}
	a, b, c := childPid(t, s, "a"), childPid(t, s, "b"), childPid(t, s, "c")
	p.Send(ctx, b, distribute.Atom("crash"))
	expectEvents(t, events, "start b")
	if b2 := childPid(t, s, "b"); b2 == b || b2 == (distribute.Pid{}) {
		t.Fatalf("b not restarted: %v -> %v", b, b2)
	}
	if childPid(t, s, "a") != a || childPid(t, s, "c") != c {
		t.Fatal("one_for_one restarted a sibling")
	}
	// Killing a child is a crash too.
	p.Kill(ctx, c)
	expectEvents(t, events, "start c")

	// Stop: reverse order, reason shutdown for the supervisor's monitors.
	ref, _ := p.Monitor(ctx, s.Pid())
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, events, "stop c", "stop b", "stop a")
	if d := receiveWithin(t, p, nil).(distribute.Down); d.Ref != ref || d.Reason != distribute.ReasonShutdown {
		t.Fatalf("supervisor distribute.Down %#v; want shutdown", d)
	}
	if _, ok := n.Whereis("sup1"); ok {
		t.Fatal("name outlived the supervisor")
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := s.Children(ctx); !errors.Is(err, distribute.ErrNoProc) {
		t.Fatalf("Children of a stopped supervisor: %v", err)
	}
}

func TestSupervisorOneForAll(t *testing.T) {
	distributetest.VerifyNoLeaks(t)
	n := startNode(t, distributetest.StartEpmd(t))
	ctx := testCtx(t)
	p, _ := n.NewProcess()
	defer p.Exit(distribute.ReasonNormal)
	events := make(chan string, 64)
	temp := worker("temp", events)
	temp.Restart = supervisor.Temporary
	s, err := supervisor.Start(ctx, n, supervisor.Spec{
		Strategy:    supervisor.OneForAll,
		MaxRestarts: 5,
		Period:      time.Minute,
		Children:    []supervisor.ChildSpec{worker("a", events), worker("b", events), temp, worker("c", events)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(ctx)
	expectEvents(t, events, "start a", "start b", "start temp", "start c")
	a := childPid(t, s, "a")
	p.Send(ctx, childPid(t, s, "b"), distribute.Atom("crash"))
	// The others stop in reverse order, then all start in order; the
	// temporary child is not restarted.
	expectEvents(t, events, "stop c", "stop temp", "stop a", "start a", "start b", "start c")
	children, _ := s.Children(ctx)
	if len(children) != 3 || children[0].ID != "a" || children[1].ID != "b" || children[2].ID != "c" {
		t.Fatalf("children after one_for_all restart: %v", children)
	}
	if children[0].Pid == a {
		t.Fatal("a was not restarted")
	}
}

func TestSupervisorIntensity(t *testing.T) {
	distributetest.VerifyNoLeaks(t)
	n := startNode(t, distributetest.StartEpmd(t))
	ctx := testCtx(t)
	p, _ := n.NewProcess()
	defer p.Exit(distribute.ReasonNormal)
	base := len(n.Processes()) // the node's services and p
	events := make(chan string, 64)
	s, err := supervisor.Start(ctx, n, supervisor.Spec{
		MaxRestarts: 2,
		Period:      time.Minute,
		Children:    []supervisor.ChildSpec{worker("steady", events), worker("flaky", events)},
	})
	if err != nil {
		t.Fatal(err)
	}
	expectEvents(t, events, "start steady", "start flaky")
	ref, _ := p.Monitor(ctx, s.Pid())
	// Two crashes are within the intensity.
	for i := 0; i < 2; i++ {
		p.Send(ctx, childPid(t, s, "flaky"), distribute.Atom("crash"))
		expectEvents(t, events, "start flaky")
	}
	// The third stops the supervisor, its other children first.
	p.Send(ctx, childPid(t, s, "flaky"), distribute.Atom("crash"))
	expectEvents(t, events, "stop steady")
	d := receiveWithin(t, p, nil).(distribute.Down)
	if d.Ref != ref || !etf.Equal(d.Reason, supervisor.ReasonMaxRestarts) {
		t.Fatalf("supervisor distribute.Down %s; want %s", etf.Format(d.Reason), etf.Format(supervisor.ReasonMaxRestarts))
	}
	select {
	case e := <-events:
		t.Fatalf("event after the supervisor stopped: %q", e)
	default:
	}
	// (Done closes before the node forgets a process: wait for that.)
	distributetest.WaitFor(t, fmt.Sprintf("%d processes", base), func() bool { return len(n.Processes()) == base })
}

func TestSupervisorRestartTypes(t *testing.T) {
	distributetest.VerifyNoLeaks(t)
	n := startNode(t, distributetest.StartEpmd(t))
	ctx := testCtx(t)
	p, _ := n.NewProcess()
	defer p.Exit(distribute.ReasonNormal)
	events := make(chan string, 64)
	trans, temp := worker("trans", events), worker("temp", events)
	trans.Restart, temp.Restart = supervisor.Transient, supervisor.Temporary
	s, err := supervisor.Start(ctx, n, supervisor.Spec{
		MaxRestarts: 10,
		Period:      time.Minute,
		Children:    []supervisor.ChildSpec{trans, temp, worker("perm", events)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(ctx)
	expectEvents(t, events, "start trans", "start temp", "start perm")
	// Transient: a crash restarts it, a normal exit does not.
	p.Send(ctx, childPid(t, s, "trans"), distribute.Atom("crash"))
	expectEvents(t, events, "start trans")
	p.Send(ctx, childPid(t, s, "trans"), distribute.Atom("quit"))
	// Permanent: even a normal exit restarts it.
	p.Send(ctx, childPid(t, s, "perm"), distribute.Atom("quit"))
	expectEvents(t, events, "start perm")
	// Temporary: a crash forgets it.
	p.Send(ctx, childPid(t, s, "temp"), distribute.Atom("crash"))
	// Children is answered after the supervisor handled the exits above.
	deadline := time.Now().Add(distributetest.Scale(10 * time.Second))
	for {
		children, _ := s.Children(ctx)
		if len(children) == 2 && children[0].ID == "trans" && children[0].Pid == (distribute.Pid{}) && children[1].ID == "perm" && children[1].Pid != (distribute.Pid{}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("children %v; want trans (not running) and perm", children)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSupervisorStartFailureAndTree(t *testing.T) {
	distributetest.VerifyNoLeaks(t)
	n := startNode(t, distributetest.StartEpmd(t))
	ctx := testCtx(t)
	base := len(n.Processes()) // the node's services
	events := make(chan string, 64)
	broken := supervisor.ChildSpec{ID: "broken", Start: func(ctx context.Context, n *distribute.Node) (*distribute.Process, error) {
		return nil, errors.New("no database")
	}}
	_, err := supervisor.Start(ctx, n, supervisor.Spec{Children: []supervisor.ChildSpec{worker("a", events), broken, worker("never", events)}})
	if err == nil {
		t.Fatal("StartSupervisor with a broken child succeeded")
	}
	expectEvents(t, events, "start a", "stop a")
	distributetest.WaitFor(t, fmt.Sprintf("%d processes after a failed start", base), func() bool { return len(n.Processes()) == base })
	if _, err := supervisor.Start(ctx, n, supervisor.Spec{Children: []supervisor.ChildSpec{worker("x", events), worker("x", events)}}); err == nil {
		t.Fatal("duplicate child ids accepted")
	}

	// A tree: an actor and a nested supervisor; stopping the root stops
	// everything in reverse order, depth first.
	counter := supervisor.ActorChild("counter", counterActor("tree_counter"))
	s, err := supervisor.Start(ctx, n, supervisor.Spec{Children: []supervisor.ChildSpec{
		counter,
		supervisor.SupervisorChild("inner", supervisor.Spec{Children: []supervisor.ChildSpec{worker("i1", events), worker("i2", events)}}),
		worker("last", events),
	}})
	if err != nil {
		t.Fatal(err)
	}
	expectEvents(t, events, "start i1", "start i2", "start last")
	p, _ := n.NewProcess()
	defer p.Exit(distribute.ReasonNormal)
	if sum, err := distribute.Call(ctx, p, distribute.NamedSubject("tree_counter", "", codec.Int), 7, codec.Int); err != nil || sum != 7 {
		t.Fatalf("Call the supervised actor = %d, %v", sum, err)
	}
	// The supervised actor restarts with fresh state after a kill.
	old, _ := n.Whereis("tree_counter")
	p.Kill(ctx, old)
	distributetest.WaitFor(t, "the actor restarted", func() bool { pid, ok := n.Whereis("tree_counter"); return ok && pid != old })
	if sum, err := distribute.Call(ctx, p, distribute.NamedSubject("tree_counter", "", codec.Int), 1, codec.Int); err != nil || sum != 1 {
		t.Fatalf("Call the restarted actor = %d, %v", sum, err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, events, "stop last", "stop i2", "stop i1")
	distributetest.WaitFor(t, fmt.Sprintf("%d processes", base+1), func() bool { return len(n.Processes()) == base+1 })
}

// Stopping the node with a supervision tree running leaks nothing.
func TestSupervisorNodeStop(t *testing.T) {
	distributetest.VerifyNoLeaks(t)
	port := distributetest.StartEpmd(t)
	n := startNode(t, port)
	ctx := testCtx(t)
	events := make(chan string, 64)
	specs := []supervisor.ChildSpec{}
	for i := 0; i < 4; i++ {
		specs = append(specs, worker(fmt.Sprint("w", i), events))
	}
	s, err := supervisor.Start(ctx, n, supervisor.Spec{MaxRestarts: 100, Children: specs})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatal("supervisor still running after node Stop")
	}
}
