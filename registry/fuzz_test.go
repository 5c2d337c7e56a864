package registry

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
)

// checkInvariants reports a broken table: every name and lock holder has
// its monitor recorded (in the core, and as a ref in the server), and no
// lock is empty.
func (s *Server) checkInvariants() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := checkCore(s.c); err != nil {
		return err.Error()
	}
	for id := range s.c.mons {
		if ref, ok := s.refs[id]; !ok || s.ids[ref] != id {
			return fmt.Sprintf("monitor %d without its ref", id)
		}
	}
	if len(s.refs) != len(s.c.mons) || len(s.ids) != len(s.refs) {
		return fmt.Sprintf("%d refs and %d ids for %d monitors", len(s.refs), len(s.ids), len(s.c.mons))
	}
	return ""
}

// fuzzSeeds are real global messages (shapes of the OTP 25 captures) and
// near misses.
func fuzzSeeds() []distribute.Term {
	lp := distribute.Pid{Node: "b@h", ID: 56}
	tag := int64(-576460752303423488)
	cast := func(m distribute.Term) distribute.Term { return etf.Tuple{aGenCast, m} }
	return []distribute.Term{
		cast(etf.Tuple{aInitConnect, etf.Tuple{int64(8), tag}, distribute.Atom("b@h"), etf.Tuple{aLocker, aNoLongerAPid, etf.Map{}, lp}}),
		cast(etf.Tuple{aLockSet, lp, etf.True, etf.List{}, tag}),
		cast(etf.Tuple{aLockSet, lp, etf.True, etf.List{}}),
		cast(etf.Tuple{aExchange, distribute.Atom("b@h"), etf.List{etf.Tuple{distribute.Atom("x"), lp, DefaultMethod}}, etf.List{}, tag}),
		cast(etf.Tuple{aResolved, distribute.Atom("b@h"), etf.List{insertOp(distribute.Atom("x"), lp, DefaultMethod)}, etf.List{etf.Tuple{distribute.Atom("c@h"), int64(8)}}, aUnused, etf.List{}, tag}),
		cast(etf.Tuple{aNewNodes, distribute.Atom("b@h"), etf.List{etf.Tuple{aDelete, distribute.Atom("x")}}, etf.List{}, etf.List{etf.Tuple{distribute.Atom("c@h"), int64(8)}}, etf.List{etf.Tuple{aVsn, int64(8)}, etf.Tuple{aLock, etf.Tuple{globalResource, etf.List{lp}}}}}),
		cast(etf.Tuple{aInSync, distribute.Atom("b@h"), etf.True}),
		etf.Tuple{aInitConnectAck, distribute.Atom("b@h"), tag, tag + 2},
		etf.Tuple{aCancelConnect, distribute.Atom("b@h"), tag},
		etf.Tuple{aLostConnection, distribute.Atom("a@h"), int64(1205737221752582846), tag + 5, distribute.Atom("b@h")},
		etf.Tuple{aRemoveConn, distribute.Atom("c@h")},
		etf.Tuple{aSetLock, etf.Tuple{distribute.Atom("res"), distribute.Atom("req")}},
		etf.Tuple{aDelLock, etf.Tuple{distribute.Atom("res"), distribute.Atom("req")}},
		etf.Tuple{aSetLock, etf.Tuple{globalResource, distribute.Atom("req")}},
		etf.Tuple{aRegister, distribute.Atom("x"), lp, DefaultMethod},
		etf.Tuple{aRegister, distribute.Atom("y"), distribute.Pid{ID: 1}, DefaultMethod},
		etf.Tuple{aUnregister, distribute.Atom("x")},
		etf.Tuple{aGoResolveIt, DefaultMethod, distribute.Atom("x"), lp, lp},
		aGetKnown, aGetSynced, etf.Tuple{}, etf.List{}, int64(3),
	}
}

// FuzzIncoming feeds junk to a running server as a plain message, a cast
// and a call: the server never stops, answers the next call and keeps its
// tables consistent.
func FuzzIncoming(f *testing.F) {
	for _, m := range fuzzSeeds() {
		b, err := etf.Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	node, err := distribute.Start(context.Background(), distribute.Config{
		Name: "fuzzreg@localhost", Cookie: "c", ClientOnly: true, Visibility: distribute.Visible,
	})
	if err != nil {
		f.Fatal(err)
	}
	s, err := Start(context.Background(), node, Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Stop(ctx)
		node.Stop(ctx)
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := etf.Decode(data)
		if err != nil {
			return
		}
		p, err := node.NewProcess()
		if err != nil {
			t.Fatal(err)
		}
		defer p.Exit(distribute.ReasonNormal)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.SendName(ctx, ServerName, "", m)
		p.SendName(ctx, ServerName, "", etf.Tuple{aGenCast, m})
		p.SendName(ctx, ServerName, "", etf.Tuple{aGenCall, etf.Tuple{p.Pid(), node.MakeRef()}, m})
		v, err := p.CallName(ctx, ServerName, "", aGetProtoVsn)
		if err != nil || v != int64(ProtocolVersion) {
			t.Fatalf("server after %s: %v %v", etf.Format(m), v, err)
		}
		if bad := s.checkInvariants(); bad != "" {
			t.Fatalf("after %s: %s", etf.Format(m), bad)
		}
	})
}

// FuzzCoreCluster drives three cores in the sim with events read from
// the input (connects, lost connections, registrations and
// unregistrations through the registrar's lock, exits, deliveries in any
// order). Every core's tables stay consistent at every step (checked by
// the sim), and once every partition healed, every node knows every
// other, no lock is held, and all agree on every name: a name maps to one
// pid cluster-wide.
func FuzzCoreCluster(f *testing.F) {
	f.Add([]byte{0, 0, 1, 2, 0, 0, 9, 5, 31, 2, 1, 1, 1, 5, 200})
	f.Add([]byte{7, 2, 0, 0, 2, 1, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0, 1, 2, 5, 40, 1, 0, 1, 4, 1, 5, 60, 3, 2, 1})
	f.Add([]byte{1, 2, 1, 0, 2, 1, 1, 2, 2, 2, 1, 2, 0, 1, 2, 5, 9, 1, 0, 2, 5, 9, 0, 0, 1, 5, 3, 4, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := clusterRun(data, nil); err != nil {
			clusterRun(data, t.Logf) // again, with the trace
			t.Fatal(err)
		}
	})
}

// clusterRun is FuzzCoreCluster's run of data; logf, if set, traces it.
func clusterRun(data []byte, logf func(string, ...any)) error {
	trace := logf != nil
	if !trace {
		logf = func(string, ...any) {}
	}
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return int(b)
	}
	nodes := []distribute.Atom{"a@h", "b@h", "c@h"}
	s := newSim(uint64(next()), nodes...)
	if trace {
		s.trace = logf
	}
	node := func() distribute.Atom { return nodes[next()%len(nodes)] }
	names := []distribute.Term{distribute.Atom("x"), distribute.Atom("y"), etf.Binary("z")}
	for steps := 0; len(data) > 0 && steps < 200; steps++ {
		switch next() % 6 {
		case 0:
			a, b := node(), node()
			logf("connect %s %s", a, b)
			s.connect(a, b)
		case 1:
			// A connection is lost only while nothing is in flight: a
			// loss in the middle of a merge can leave nodes that disagree
			// for good, in OTP too (a name one node announced and then
			// dropped on its own nodedown stays with the nodes that took
			// it; a node may learn a peer that forgot it).
			a, b := node(), node()
			if err := s.run(200000); err != nil {
				return err
			}
			logf("disconnect %s %s", a, b)
			s.disconnect(a, b)
			if err := s.run(200000); err != nil {
				return err
			}
		case 2:
			x := node()
			name, pid := names[next()%len(names)], distribute.Pid{Node: x, ID: uint32(10 + next()%3)}
			logf("register %s %s %v", x, etf.Format(name), pid)
			s.register(x, name, pid, false)
		case 3:
			x, name := node(), names[next()%len(names)]
			logf("unregister %s %s", x, etf.Format(name))
			s.register(x, name, distribute.Pid{}, true)
		case 4:
			p := distribute.Pid{Node: node(), ID: uint32(10 + next()%3)}
			logf("kill %v", p)
			s.kill(p)
		case 5:
			n := next() % 64
			logf("%d steps", n)
			for range n {
				s.step()
			}
		}
		if s.err != nil {
			return s.err
		}
	}
	if err := s.heal(200000); err != nil {
		return err
	}
	_, err := s.settled(nodes)
	return err
}

// FuzzCoreJunk feeds a sequence of arbitrary terms (decoded from the
// input one after another) to a core that is known to one peer and
// connecting to another, each as a cast, a plain message and a call. It
// never panics, its tables and monitors stay consistent, and whatever it
// sends encodes.
func FuzzCoreJunk(f *testing.F) {
	var all []byte
	for _, m := range fuzzSeeds() {
		b, err := etf.Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		all = append(all, b...)
	}
	f.Add(all)
	f.Fuzz(func(t *testing.T, data []byte) {
		me := distribute.Atom("a@h")
		c := newCore(me, lockerPidOf(me), true, 7, func(n distribute.Atom) bool { return n != "z@h" })
		tr := newMonTracker()
		check := func(what string) {
			t.Helper()
			effs := c.takeEffects()
			downs, err := tr.apply(effs)
			if err != nil {
				t.Fatalf("after %s: %v", what, err)
			}
			for _, id := range downs {
				delete(tr.active, id)
				c.down(id)
			}
			for _, e := range effs {
				if s, ok := e.(sendEff); ok {
					if _, err := etf.Encode(s.msg); err != nil {
						t.Fatalf("after %s: we send %v, which does not encode: %v", what, s, err)
					}
				}
			}
			if err := checkCore(c); err != nil {
				t.Fatalf("after %s: %v", what, err)
			}
			if err := tr.agrees(c); err != nil {
				t.Fatalf("after %s: %v", what, err)
			}
		}
		c.known["b@h"] = ProtocolVersion
		c.nodeUp("c@h")
		c.handleCast(etf.Tuple{aInitConnect, etf.Tuple{int64(8), int64(1)}, distribute.Atom("c@h"),
			etf.Tuple{aLocker, aNoLongerAPid, etf.Map{}, lockerPidOf("c@h")}})
		c.call(registrarPidOf(me), etf.Tuple{aRegister, distribute.Atom("x"), distribute.Pid{Node: me, ID: 10}, DefaultMethod})
		c.call(distribute.Pid{Node: "b@h", ID: 5}, etf.Tuple{aSetLock, etf.Tuple{distribute.Atom("r"), distribute.Atom("q")}})
		check("setup")
		var d etf.Decoder
		for steps := 0; len(data) > 0 && steps < 64; steps++ {
			term, n, err := d.Decode(data)
			if err != nil || n <= 0 {
				data = data[1:] // junk between terms
				continue
			}
			data = data[n:]
			c.handleCast(term)
			check("cast " + etf.Format(term))
			c.handleInfo(term)
			check("info " + etf.Format(term))
			c.call(distribute.Pid{Node: "b@h", ID: 6}, term)
			check("call " + etf.Format(term))
		}
		// Whatever happened, the loss of every other node leaves only
		// local names and locks.
		others := map[distribute.Atom]bool{"b@h": true, "c@h": true}
		for _, e := range c.names {
			others[e.pid.Node] = true
		}
		for _, l := range c.locks {
			for _, h := range l.holders {
				others[h.pid.Node] = true
			}
		}
		delete(others, me)
		for n := range others {
			c.nodeDown(n)
			check("nodedown " + string(n))
		}
		for _, e := range c.names {
			if e.pid.Node != me {
				t.Fatalf("name %s of %v left after its node went down", etf.Format(e.name), e.pid)
			}
		}
		for _, l := range c.locks {
			for _, h := range l.holders {
				if h.pid.Node != me {
					t.Fatalf("lock %s of %v left after its node went down", etf.Format(l.resource), h.pid)
				}
			}
		}
		if len(c.known) != 0 || len(c.attempts) != 0 {
			t.Fatalf("known %v, connecting to %v after every node went down", c.known, c.attempts)
		}
	})
}
