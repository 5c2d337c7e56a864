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
func fuzzSeeds() []Term {
	lp := Pid{Node: "b@h", ID: 56}
	tag := int64(-576460752303423488)
	cast := func(m Term) Term { return etf.Tuple{aGenCast, m} }
	return []Term{
		cast(etf.Tuple{aInitConnect, etf.Tuple{int64(8), tag}, Atom("b@h"), etf.Tuple{aLocker, aNoLongerAPid, etf.Map{}, lp}}),
		cast(etf.Tuple{aLockSet, lp, etf.True, etf.List{}, tag}),
		cast(etf.Tuple{aLockSet, lp, etf.True, etf.List{}}),
		cast(etf.Tuple{aExchange, Atom("b@h"), etf.List{etf.Tuple{Atom("x"), lp, DefaultMethod}}, etf.List{}, tag}),
		cast(etf.Tuple{aResolved, Atom("b@h"), etf.List{insertOp(Atom("x"), lp, DefaultMethod)}, etf.List{etf.Tuple{Atom("c@h"), int64(8)}}, aUnused, etf.List{}, tag}),
		cast(etf.Tuple{aNewNodes, Atom("b@h"), etf.List{etf.Tuple{aDelete, Atom("x")}}, etf.List{}, etf.List{etf.Tuple{Atom("c@h"), int64(8)}}, etf.List{etf.Tuple{aVsn, int64(8)}, etf.Tuple{aLock, etf.Tuple{globalResource, etf.List{lp}}}}}),
		cast(etf.Tuple{aInSync, Atom("b@h"), etf.True}),
		etf.Tuple{aInitConnectAck, Atom("b@h"), tag, tag + 2},
		etf.Tuple{aCancelConnect, Atom("b@h"), tag},
		etf.Tuple{aLostConnection, Atom("a@h"), int64(1205737221752582846), tag + 5, Atom("b@h")},
		etf.Tuple{aRemoveConn, Atom("c@h")},
		etf.Tuple{aSetLock, etf.Tuple{Atom("res"), Atom("req")}},
		etf.Tuple{aDelLock, etf.Tuple{Atom("res"), Atom("req")}},
		etf.Tuple{aSetLock, etf.Tuple{globalResource, Atom("req")}},
		etf.Tuple{aRegister, Atom("x"), lp, DefaultMethod},
		etf.Tuple{aRegister, Atom("y"), Pid{ID: 1}, DefaultMethod},
		etf.Tuple{aUnregister, Atom("x")},
		etf.Tuple{aGoResolveIt, DefaultMethod, Atom("x"), lp, lp},
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
	s, err := Start(context.Background(), node)
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
