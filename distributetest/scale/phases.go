package scale

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
	"github.com/distribute-go/distribute/rpc"
)

// pollInterval is the pause between two polls of a condition.
const pollInterval = 20 * time.Millisecond

// parallelism bounds the RPCs the harness has in flight at once when it
// reads every node (convergence, idle figures); waits for a change to
// reach every node poll all nodes at once instead (pollEach).
const parallelism = 32

// call is an RPC to m, bounded by 10 s.
func (h *harness) call(ctx context.Context, m *member, mod, fun etf.Atom, args ...etf.Term) (etf.Term, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := rpc.NewClient(h.client).Call(cctx, etf.Atom(m.name), mod, fun, args...)
	if err != nil {
		return nil, fmt.Errorf("%s:%s on %s: %w", mod, fun, m.name, err)
	}
	return v, nil
}

// control is the module of the runtime control functions:
// distribute on a Go node, scale_node on an Erlang one.
func (h *harness) control() etf.Atom {
	if h.cfg.Kind == Go {
		return "distribute"
	}
	return "scale_node"
}

// each runs f for every member of ms, at most limit at a time, and
// returns the first error.
func each(ctx context.Context, ms []*member, limit int, f func(ctx context.Context, m *member) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, m := range ms {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(ctx, m); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// pollEach waits until ok holds on every member, polling each on its own
// goroutine (all at once, so no node waits for another's poll) until it
// does, and returns the time each first held (when the reply that showed
// it arrived), measured from t0. A poll that fails (a node too busy to
// answer one call in time) counts as "not yet", as a round of converge's
// does: the wait fails only at Timeout, with the last poll's error.
func (h *harness) pollEach(ctx context.Context, ms []*member, t0 time.Time, ok func(ctx context.Context, m *member) (bool, error)) ([]time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	took := make([]time.Duration, len(ms))
	idx := make(map[*member]int, len(ms))
	for i, m := range ms {
		idx[m] = i
	}
	err := each(ctx, ms, len(ms), func(ctx context.Context, m *member) error {
		var last error
		for {
			yes, err := ok(ctx, m)
			if err == nil && yes {
				took[idx[m]] = time.Since(t0)
				return nil
			}
			if err != nil {
				last = err
			}
			if err := sleep(ctx, pollInterval); err != nil {
				if last != nil {
					return fmt.Errorf("%s: %w (last poll: %v)", m.name, err, last)
				}
				return fmt.Errorf("%s: %w", m.name, err)
			}
		}
	})
	return took, err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// nodeView is what one node says about the cluster.
type nodeView struct {
	alive   int // members alive (self included); Go only
	visible int // len(nodes())
	leader  etf.Term
	err     error // the node did not answer this round
}

func (h *harness) view(ctx context.Context, m *member) (nodeView, error) {
	var v nodeView
	nodes, err := h.call(ctx, m, "erlang", "nodes")
	if err != nil {
		return v, err
	}
	l, _ := nodes.(etf.List)
	v.visible = len(l)
	if h.cfg.Kind == Erlang {
		return v, nil
	}
	members, err := h.call(ctx, m, "distribute", "members")
	if err != nil {
		return v, err
	}
	l, _ = members.(etf.List)
	for _, e := range l {
		if t, ok := e.(etf.Tuple); ok && len(t) == 3 && t[1] == etf.Atom("alive") {
			v.alive++
		}
	}
	if m.index < h.cfg.ElectionNodes {
		if v.leader, err = h.call(ctx, m, "distribute", "leader"); err != nil {
			return v, err
		}
	}
	return v, nil
}

// converge polls every node until each sees N alive members (Go),
// N-1 visible nodes, and every election node names the same leader in
// the same term. converge_s is measured from the first node's start to
// the end of the first poll round in which all of that held. A node that
// does not answer a round only keeps the cluster from converging (until
// the Timeout).
func (h *harness) converge(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	n := h.cfg.Nodes
	views := make([]nodeView, n)
	last := ""
	for {
		err := each(ctx, h.members, parallelism, func(ctx context.Context, m *member) error {
			v, err := h.view(ctx, m)
			v.err = err
			views[m.index] = v
			return nil
		})
		if err != nil {
			return fmt.Errorf("%w (last view: %s)", err, last)
		}
		done := time.Now()
		for _, m := range h.members {
			if m.exited() {
				return fmt.Errorf("%w: %s (%s)", errExited, m.name, m.stderrTail())
			}
		}
		last = h.describe(views)
		if last == "" {
			h.r.Metrics["converge_s"] = done.Sub(h.start).Seconds()
			h.logf("converged in %.1f s", h.r.Metrics["converge_s"])
			return nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("%w (last view: %s)", err, last)
		}
	}
}

// describe says what keeps views from converged, or "" when they are.
func (h *harness) describe(views []nodeView) string {
	n := h.cfg.Nodes
	var missing []string
	var leader etf.Term
	for i, v := range views {
		name := h.members[i].name
		if v.err != nil {
			missing = append(missing, v.err.Error())
			continue
		}
		if v.visible != n-1 {
			missing = append(missing, fmt.Sprintf("%s sees %d nodes", name, v.visible))
		}
		if h.cfg.Kind == Go && v.alive != n {
			missing = append(missing, fmt.Sprintf("%s sees %d alive", name, v.alive))
		}
		if h.cfg.Kind == Go && i < h.cfg.ElectionNodes {
			t, ok := v.leader.(etf.Tuple)
			switch {
			case !ok || len(t) != 3:
				missing = append(missing, fmt.Sprintf("%s knows no leader", name))
			case leader == nil:
				leader = v.leader
			case !etf.Equal(leader, v.leader):
				missing = append(missing, fmt.Sprintf("%s says %s, another %s", name, etf.Format(v.leader), etf.Format(leader)))
			}
		}
	}
	if len(missing) > 3 {
		missing = append(missing[:3], fmt.Sprintf("and %d more", len(missing)-3))
	}
	return strings.Join(missing, "; ")
}

// idle lets the converged cluster run with nothing asked of it: the
// client disconnects from every node, Settle passes, then CPU time is
// read from /proc at both ends of the Idle window; RSS, threads and
// descriptors after it; goroutines (Go, from /metrics) or processes
// (Erlang, erlang:system_info(process_count)) last.
func (h *harness) idle(ctx context.Context) error {
	for _, m := range h.members {
		h.client.Disconnect(etf.Atom(m.name))
	}
	if err := sleep(ctx, h.cfg.Settle); err != nil {
		return err
	}
	h.logf("idle for %s", h.cfg.Idle)
	before := make([]uint64, len(h.members))
	t0 := time.Now()
	for i, m := range h.members {
		c, err := readCPU(m.pid())
		if err != nil {
			return err
		}
		before[i] = c
	}
	if err := sleep(ctx, h.cfg.Idle); err != nil {
		return err
	}
	window := time.Since(t0).Seconds()
	var cpu, rss, threads, fds []float64
	for i, m := range h.members {
		s, err := readProc(m.pid())
		if err != nil {
			return err
		}
		cpu = append(cpu, 100*float64(s.cpuTicks-before[i])/clockTicks/window)
		rss = append(rss, float64(s.rssKB)/1024)
		threads = append(threads, float64(s.threads))
		fds = append(fds, float64(s.fds))
	}
	h.r.Metrics["idle_cpu_pct"] = mean(cpu)
	h.r.Metrics["idle_cpu_max_pct"] = slices.Max(cpu)
	h.r.Metrics["idle_cpu_total_pct"] = sum(cpu)
	h.r.Metrics["rss_mb"] = mean(rss)
	h.r.Metrics["rss_max_mb"] = slices.Max(rss)
	h.r.Metrics["threads"] = mean(threads)
	h.r.Metrics["fds"] = mean(fds)
	h.r.Metrics["fds_max"] = slices.Max(fds)
	tasks := make([]float64, len(h.members))
	err := each(ctx, h.members, parallelism, func(ctx context.Context, m *member) error {
		var err error
		if h.cfg.Kind == Go {
			tasks[m.index], err = goroutines(ctx, m.http)
			return err
		}
		v, err := h.call(ctx, m, "erlang", "system_info", etf.Atom("process_count"))
		if err != nil {
			return err
		}
		n, ok := v.(int64)
		if !ok {
			return fmt.Errorf("process_count on %s: %s", m.name, etf.Format(v))
		}
		tasks[m.index] = float64(n)
		return nil
	})
	if err != nil {
		return err
	}
	h.r.Metrics["tasks"] = mean(tasks)
	h.logf("idle: %.2f%% of a core per node, %.1f MB RSS, %.0f tasks, %.0f fds",
		h.r.Metrics["idle_cpu_pct"], h.r.Metrics["rss_mb"], h.r.Metrics["tasks"], h.r.Metrics["fds"])
	return nil
}

// goroutines reads go_goroutines from the node's /metrics.
func goroutines(ctx context.Context, addr string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no go_goroutines in http://%s/metrics", addr)
}

// isOK checks a runtime control result.
func isOK(v etf.Term, err error) error {
	if err != nil {
		return err
	}
	if v != etf.Atom("ok") {
		return fmt.Errorf("got %s, want ok", etf.Format(v))
	}
	return nil
}

// global registers Names names, one at a time, each by the inbox of node
// i mod N (so at most N names exist at once: a full round is
// unregistered, and seen gone everywhere, before the next), and measures
// the register call and the time until global:whereis_name/1 finds the
// name on every node.
func (h *harness) global(ctx context.Context) error {
	h.logf("global: %d registrations", h.cfg.Names)
	var reg, vis []time.Duration
	var held []*member
	for i := range h.cfg.Names {
		m := h.members[i%h.cfg.Nodes]
		if i > 0 && i%h.cfg.Nodes == 0 {
			if err := h.unregisterAll(ctx, held); err != nil {
				return err
			}
			held = nil
		}
		name := etf.Atom(m.inbox)
		t0 := time.Now()
		if err := isOK(h.call(ctx, m, h.control(), "register_global", name)); err != nil {
			return fmt.Errorf("register_global(%s) on %s: %w", name, m.name, err)
		}
		reg = append(reg, time.Since(t0))
		held = append(held, m)
		took, err := h.pollEach(ctx, h.members, t0, func(ctx context.Context, o *member) (bool, error) {
			v, err := h.call(ctx, o, "global", "whereis_name", name)
			if err != nil {
				return false, err
			}
			_, ok := v.(etf.Pid)
			return ok, nil
		})
		if err != nil {
			return fmt.Errorf("global name %s on every node: %w", name, err)
		}
		vis = append(vis, slices.Max(took))
	}
	if err := h.unregisterAll(ctx, held); err != nil {
		return err
	}
	setDist(h.r, "global_register", reg)
	setDist(h.r, "global_visible", vis)
	return nil
}

// unregisterAll unregisters the inboxes' global names and waits until no
// node knows any global name.
func (h *harness) unregisterAll(ctx context.Context, held []*member) error {
	for _, m := range held {
		if err := isOK(h.call(ctx, m, h.control(), "unregister_global", etf.Atom(m.inbox))); err != nil {
			return fmt.Errorf("unregister_global(%s) on %s: %w", m.inbox, m.name, err)
		}
	}
	_, err := h.pollEach(ctx, h.members, time.Now(), func(ctx context.Context, o *member) (bool, error) {
		v, err := h.call(ctx, o, "global", "registered_names")
		if err != nil {
			return false, err
		}
		l, _ := v.(etf.List)
		return len(l) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("global names gone from every node: %w", err)
	}
	return nil
}

// groupMembers is how many members group has in groups() on m.
func (h *harness) groupMembers(ctx context.Context, m *member, group etf.Term) ([]etf.Pid, error) {
	v, err := h.call(ctx, m, h.control(), "groups")
	if err != nil {
		return nil, err
	}
	l, _ := v.(etf.List)
	for _, e := range l {
		t, ok := e.(etf.Tuple)
		if !ok || len(t) != 2 || !etf.Equal(t[0], group) {
			continue
		}
		pl, _ := t[1].(etf.List)
		pids := make([]etf.Pid, 0, len(pl))
		for _, p := range pl {
			if pid, ok := p.(etf.Pid); ok {
				pids = append(pids, pid)
			}
		}
		return pids, nil
	}
	return nil, nil
}

// pg joins Joins groups {p, I}, one at a time, each by the inbox of node
// I mod N, and measures the time from the join call until groups() lists
// the member on every node; then the inbox leaves, and the group is seen
// empty everywhere before the next join.
func (h *harness) pg(ctx context.Context) error {
	h.logf("pg: %d joins", h.cfg.Joins)
	var vis []time.Duration
	for i := range h.cfg.Joins {
		m := h.members[i%h.cfg.Nodes]
		group := etf.Tuple{etf.Atom("p"), int64(i)}
		t0 := time.Now()
		if err := isOK(h.call(ctx, m, h.control(), "join", group, etf.Atom(m.inbox))); err != nil {
			return fmt.Errorf("join(%s, %s) on %s: %w", etf.Format(group), m.inbox, m.name, err)
		}
		took, err := h.pollEach(ctx, h.members, t0, func(ctx context.Context, o *member) (bool, error) {
			pids, err := h.groupMembers(ctx, o, group)
			return len(pids) == 1, err
		})
		if err != nil {
			return fmt.Errorf("group %s on every node: %w", etf.Format(group), err)
		}
		vis = append(vis, slices.Max(took))
		if err := isOK(h.call(ctx, m, h.control(), "leave", group, etf.Atom(m.inbox))); err != nil {
			return fmt.Errorf("leave(%s, %s) on %s: %w", etf.Format(group), m.inbox, m.name, err)
		}
		_, err = h.pollEach(ctx, h.members, time.Now(), func(ctx context.Context, o *member) (bool, error) {
			pids, err := h.groupMembers(ctx, o, group)
			return len(pids) == 0, err
		})
		if err != nil {
			return fmt.Errorf("group %s left on every node: %w", etf.Format(group), err)
		}
	}
	setDist(h.r, "pg_visible", vis)
	return nil
}

// broadcast sends {bcast, I} to every member of group all (every node's
// inbox, as the first node lists them), one send each from the client,
// and measures the time until every node has printed it.
func (h *harness) broadcast(ctx context.Context) error {
	h.logf("broadcast: %d rounds", h.cfg.Broadcasts)
	var pids []etf.Pid
	_, err := h.pollEach(ctx, h.members[:1], time.Now(), func(ctx context.Context, m *member) (bool, error) {
		var err error
		pids, err = h.groupMembers(ctx, m, etf.Atom("all"))
		return len(pids) == h.cfg.Nodes, err
	})
	if err != nil {
		return fmt.Errorf("group all with %d members on %s: %w", h.cfg.Nodes, h.members[0].name, err)
	}
	p, err := h.client.NewProcess()
	if err != nil {
		return err
	}
	defer p.Exit(distribute.ReasonNormal)
	var all []time.Duration
	for i := range h.cfg.Broadcasts {
		msg := etf.Tuple{etf.Atom("bcast"), int64(i)}
		marks := make([]int, len(h.members))
		for j, m := range h.members {
			marks[j] = m.mark()
		}
		t0 := time.Now()
		for _, pid := range pids {
			if err := p.Send(ctx, pid, msg); err != nil {
				return err
			}
		}
		took := make([]time.Duration, len(h.members))
		wctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
		err := each(wctx, h.members, len(h.members), func(ctx context.Context, m *member) error {
			at, err := m.waitLine(ctx, marks[m.index], equals(fmt.Sprintf("%s: {bcast,%d}", m.inbox, i)))
			took[m.index] = at.Sub(t0)
			return err
		})
		cancel()
		if err != nil {
			return err
		}
		all = append(all, slices.Max(took))
	}
	setDist(h.r, "broadcast", all)
	return nil
}

// kill sends SIGKILL to the last node and measures, on every other node,
// the time until it prints `event nodedown NODE ...` and (Go) `event
// member NODE dead ...`, from its stdout lines.
func (h *harness) kill(ctx context.Context) error {
	victim := h.members[len(h.members)-1]
	others := h.members[:len(h.members)-1]
	h.logf("kill: SIGKILL %s", victim.name)
	marks := make([]int, len(h.members))
	for i, m := range h.members {
		marks[i] = m.mark()
	}
	t0 := time.Now()
	victim.signal(syscall.SIGKILL)
	nodedown := make([]time.Duration, len(others))
	dead := make([]time.Duration, len(others))
	wctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	err := each(wctx, others, len(others), func(ctx context.Context, m *member) error {
		at, err := m.waitLine(ctx, marks[m.index], hasPrefix("event nodedown "+victim.name+" "))
		if err != nil {
			return err
		}
		nodedown[m.index] = at.Sub(t0)
		if h.cfg.Kind == Go {
			at, err := m.waitLine(ctx, marks[m.index], hasPrefix("event member "+victim.name+" dead "))
			if err != nil {
				return err
			}
			dead[m.index] = at.Sub(t0)
		}
		return nil
	})
	if err != nil {
		return err
	}
	<-victim.done
	h.r.Metrics["nodedown_p50_ms"] = ms(percentile(nodedown, 50))
	h.r.Metrics["nodedown_max_ms"] = ms(slices.Max(nodedown))
	if h.cfg.Kind == Go {
		h.r.Metrics["dead_p50_ms"] = ms(percentile(dead, 50))
		h.r.Metrics["dead_max_ms"] = ms(slices.Max(dead))
	}
	return nil
}

// setDist records a distribution's p50 and p99 in milliseconds as
// KEY_p50_ms and KEY_p99_ms.
func setDist(r *Result, key string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	r.Metrics[key+"_p50_ms"] = ms(percentile(ds, 50))
	r.Metrics[key+"_p99_ms"] = ms(percentile(ds, 99))
}

// percentile is the nearest-rank percentile p of ds.
func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100 // ceil(len*p/100), 1-based rank
	return s[max(i, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

func sum(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s
}

func mean(v []float64) float64 { return sum(v) / float64(len(v)) }
