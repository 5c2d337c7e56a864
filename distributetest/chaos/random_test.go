package chaos

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chaosSeed is DISTRIBUTE_CHAOS_SEED, or the time.
func chaosSeed(t *testing.T) uint64 {
	if s := os.Getenv("DISTRIBUTE_CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("DISTRIBUTE_CHAOS_SEED=%q: %v", s, err)
		}
		return v
	}
	return uint64(time.Now().UnixNano())
}

// chaosDuration is DISTRIBUTE_CHAOS_DURATION, or 2m (20s with -short).
func chaosDuration(t *testing.T) time.Duration {
	if s := os.Getenv("DISTRIBUTE_CHAOS_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("DISTRIBUTE_CHAOS_DURATION=%q: %v", s, err)
		}
		return d
	}
	if testing.Short() {
		return 20 * time.Second
	}
	return 2 * time.Minute
}

// TestRandomFaults runs five voters through a seeded random sequence of
// faults (SIGKILL, SIGSTOP then SIGCONT, partitions then heal, restarts
// with the same data dir), with the leader a favoured target. After every
// fault it checks that no two nodes ever claimed the same term and that,
// whenever a connected majority is up, it agrees on one leader within the
// bound. At most (N-1)/2 nodes are down at a time, so a majority is up
// except inside partitions that leave none.
//
// The seed fixes the sequence of faults: their kind, whether they target
// the leader, the partitions' shapes, which are held until SWIM reacts
// (see draws); which node is the leader at a step depends on the run.
func TestRandomFaults(t *testing.T) {
	seed := chaosSeed(t)
	dur := chaosDuration(t)
	t.Logf("chaos: DISTRIBUTE_CHAOS_SEED=%d DISTRIBUTE_CHAOS_DURATION=%v", seed, dur)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chaos: reproduce with DISTRIBUTE_CHAOS_SEED=%d DISTRIBUTE_CHAOS_DURATION=%v", seed, dur)
		}
	})
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	c := newElectionCluster(t, Options{Nodes: 5})
	r := &runner{t: t, c: c, rng: rng, seed: seed, counts: map[string]int{}}
	c.StartAll()
	r.settle("start")
	end := time.Now().Add(dur)
	for r.step = 1; time.Now().Before(end); r.step++ {
		r.fault()
	}
	// Bring everyone back: all agree on one leader.
	for i := range c.Len() {
		if !c.Node(i).Running() {
			c.Start(i)
		}
	}
	l, term, err := c.WaitLeader(all(c))
	if err != nil {
		t.Fatalf("seed %d: at the end: %v", seed, err)
	}
	c.CheckSafety(t)
	t.Logf("chaos: %d steps %v; final leader %s term %d; %d claims, %d observations, 0 violations",
		r.step-1, r.counts, c.Node(l).Name, term, len(c.Recorder().Claims()), c.Recorder().Observations())
}

type runner struct {
	t      *testing.T
	c      *Cluster
	rng    *rand.Rand
	seed   uint64
	step   int
	leader int // as last settled, -1 when unknown
	counts map[string]int
}

// settle checks safety and, when a connected majority is up, that it
// agrees on a leader.
func (r *runner) settle(what string) {
	r.t.Helper()
	r.c.CheckSafety(r.t)
	l, _, err := r.c.Settle()
	if err != nil {
		r.t.Fatalf("seed %d, step %d (%s): %v", r.seed, r.step, what, err)
	}
	r.c.CheckSafety(r.t)
	if l >= 0 {
		r.leader = l
	}
}

func (r *runner) down() []int {
	var s []int
	for i := range r.c.Len() {
		if !r.c.Node(i).Running() {
			s = append(s, i)
		}
	}
	return s
}

func (r *runner) live() []int {
	var s []int
	for i := range r.c.Len() {
		if r.c.Live(i) {
			s = append(s, i)
		}
	}
	return s
}

// draws are one step's random choices, all drawn every step whatever the
// step does, so that a seed gives the same sequence of faults (kind, how
// many nodes, how long) in every run: the number of nodes down evolves
// the same way. Only which node is "the leader" depends on the run.
type draws struct {
	kind    int  // index into the kinds possible with this many nodes down
	leader  bool // target the leader
	pick    int  // a live node, by position
	down    int  // a down node, by position
	long    bool // hold the fault until SWIM reacts
	perm    []int
	size    int  // the partition's minority size: 1 .. N/2
	noMajor bool // split the rest again so that no side is a majority
}

func (r *runner) draw() draws {
	n := r.c.Len()
	return draws{
		kind:    r.rng.IntN(1 << 20),
		leader:  r.rng.IntN(2) == 0,
		pick:    r.rng.IntN(1 << 20),
		down:    r.rng.IntN(1 << 20),
		long:    r.rng.IntN(2) == 0,
		perm:    r.rng.Perm(n),
		size:    1 + r.rng.IntN(n/2),
		noMajor: r.rng.IntN(4) == 0,
	}
}

// target picks a live node: the leader when d.leader (and it is live),
// else a live node by d.pick.
func (r *runner) target(d draws) (int, string) {
	if d.leader && r.leader >= 0 && r.c.Live(r.leader) {
		return r.leader, "the leader"
	}
	live := r.live()
	i := live[d.pick%len(live)]
	if i == r.leader {
		return i, "the leader"
	}
	return i, "a follower"
}

// fault runs one random step and its checks.
func (r *runner) fault() {
	c := r.c
	d := r.draw()
	maxDown := (c.Len() - 1) / 2
	down := r.down()
	kinds := []string{"partition", "stop"}
	if len(down) < maxDown {
		kinds = append(kinds, "kill", "kill", "crash-restart")
	}
	if len(down) > 0 {
		kinds = append(kinds, "restart", "restart")
	}
	kind := kinds[d.kind%len(kinds)]
	r.counts[kind]++
	switch kind {
	case "kill":
		i, who := r.target(d)
		c.Logf("step %d: kill %s", r.step, who)
		c.Kill(i)
		r.settle(kind)
	case "crash-restart":
		i, who := r.target(d)
		c.Logf("step %d: crash and restart %s", r.step, who)
		c.Restart(i)
		r.settle(kind)
	case "restart":
		c.Logf("step %d: restart a node that is down", r.step)
		c.Start(down[d.down%len(down)])
		r.settle(kind)
	case "stop":
		i, who := r.target(d)
		c.Logf("step %d: pause %s (long: %v)", r.step, who, d.long)
		peer := r.seesAlive(i)
		mark := 0
		if peer >= 0 {
			mark = c.Node(peer).Mark()
		}
		c.Stop(i)
		r.settle(kind)
		if d.long && peer >= 0 {
			// A long pause: until SWIM suspects the node.
			r.waitMember(peer, mark, i, "suspect", "dead")
		}
		c.Cont(i)
		r.settle("cont")
	case "partition":
		// A random minority of d.size nodes (any state), the leader in it
		// when d.leader, and sometimes the rest split again so that no
		// side is a majority.
		perm := d.perm
		if d.leader && r.leader >= 0 {
			for k, v := range perm {
				if v == r.leader {
					perm[0], perm[k] = perm[k], perm[0]
				}
			}
		}
		groups := [][]int{perm[:d.size]}
		if d.noMajor && c.Len()-d.size > 2 {
			groups = append(groups, perm[d.size:d.size+2])
		}
		c.Logf("step %d: partition, leader in the minority: %v, long: %v", r.step, d.leader, d.long)
		old := r.leader
		var marks []int
		for _, n := range c.Nodes() {
			marks = append(marks, n.Mark())
		}
		c.Partition(groups...)
		if old >= 0 && c.Live(old) && !contains(c.MajoritySide(), old) {
			if _, err := c.WaitNotLeader(old); err != nil {
				r.t.Fatalf("seed %d, step %d: %v", r.seed, r.step, err)
			}
		}
		r.settle(fmt.Sprintf("partition %v", groups))
		if a, b := r.across(); d.long && a >= 0 {
			// A long partition: until SWIM declares a node across it dead.
			r.waitMember(a, marks[a], b, "dead")
		}
		c.Heal()
		r.settle("heal")
	}
}

// seesAlive returns a live node other than i whose membership has i
// alive, or -1.
func (r *runner) seesAlive(i int) int {
	for _, j := range r.live() {
		if j != i && r.c.Node(j).MemberState(r.c.Node(i).Name) == "alive" {
			return j
		}
	}
	return -1
}

// across returns two live nodes on different sides of the partition, the
// first seeing the second alive in its membership, or -1, -1.
func (r *runner) across() (int, int) {
	for _, a := range r.live() {
		for _, b := range r.live() {
			if !r.c.Connected(a, b) && r.c.Node(a).MemberState(r.c.Node(b).Name) == "alive" {
				return a, b
			}
		}
	}
	return -1, -1
}

// waitMember waits for node a to print a membership line giving node b
// one of states.
func (r *runner) waitMember(a, mark, b int, states ...string) {
	r.t.Helper()
	c := r.c
	c.Logf("waiting for %s to see %s %v", c.Node(a).Name, c.Node(b).Name, states)
	prefix := "event member " + c.Node(b).Name + " "
	_, ok := c.Node(a).WaitLine(mark, c.Options().Bound, func(s string) bool {
		f := strings.Fields(s)
		return strings.HasPrefix(s, prefix) && len(f) >= 4 && slices.Contains(states, f[3])
	})
	if !ok {
		r.t.Fatalf("seed %d, step %d: %s did not see %s %v within %v", r.seed, r.step, c.Node(a).Name, c.Node(b).Name, states, c.Options().Bound)
	}
}
