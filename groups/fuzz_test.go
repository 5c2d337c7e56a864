package groups

import (
	"github.com/distribute-go/distribute"

	"testing"

	"github.com/distribute-go/distribute/etf"
)

// fuzzSeeds are valid protocol messages (and near misses) as encoded terms.
func fuzzSeeds(t testing.TB) [][]byte {
	peer := distribute.Pid{Node: "b@h", ID: 1}
	m := distribute.Pid{Node: "b@h", ID: 2}
	terms := []distribute.Term{
		etf.Tuple{distribute.Atom("discover"), peer},
		etf.Tuple{distribute.Atom("discover"), peer, int64(1)},
		etf.Tuple{distribute.Atom("join"), peer, distribute.Atom("g"), m},
		etf.Tuple{distribute.Atom("join"), peer, etf.Binary("g"), etf.List{m, m}},
		etf.Tuple{distribute.Atom("leave"), peer, m, etf.List{distribute.Atom("g")}},
		etf.Tuple{distribute.Atom("leave"), peer, etf.List{m}, etf.List{distribute.Atom("g"), distribute.Atom("h")}},
		etf.Tuple{distribute.Atom("$gen_cast"), etf.Tuple{distribute.Atom("sync"), peer, etf.List{etf.Tuple{distribute.Atom("g"), etf.List{m}}}}},
		etf.Tuple{distribute.Atom("$gen_cast"), etf.Tuple{distribute.Atom("sync"), peer, etf.List{}}},
		etf.Tuple{distribute.Atom("join"), distribute.Pid{Node: "c@h", ID: 1}, distribute.Atom("g"), m},
	}
	var out [][]byte
	var all []byte
	for _, term := range terms {
		b, err := etf.Encode(term)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
		all = append(all, b...)
	}
	return append(out, all)
}

// FuzzCoreHandle feeds a sequence of arbitrary terms (decoded from the
// input, one after another) to a scope's core, as junk from peers: it must
// never panic, and the state must stay consistent whatever it accepts.
func FuzzCoreHandle(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		self := distribute.Pid{Node: "a@h", ID: 1}
		c := newCore(DefaultScope, self)
		k, _ := groupKey(distribute.Atom("g"))
		c.join(k, distribute.Atom("g"), []distribute.Pid{{Node: "a@h", ID: 5}})
		c.handle(etf.Tuple{distribute.Atom("discover"), distribute.Pid{Node: "b@h", ID: 1}})
		obs := newCore(DefaultScope, distribute.Pid{Node: "z@h", ID: 1})
		obs.peers[self] = &peerScope{groups: make(map[string][]distribute.Pid)}
		var d etf.Decoder
		for steps := 0; len(data) > 0 && steps < 64; steps++ {
			term, n, err := d.Decode(data)
			if err != nil || n <= 0 {
				// Skip a byte and try again: junk between terms.
				data = data[1:]
				continue
			}
			data = data[n:]
			c.handle(term)
			for _, e := range c.takeEffects() {
				if e.op != effSend && e.op != effSendName {
					continue
				}
				// What we send is pg's protocol: it round-trips through the
				// codec, and a scope that knows us accepts it.
				b, err := etf.Encode(e.msg)
				if err != nil {
					t.Fatalf("our message %v does not encode: %v", e.msg, err)
				}
				back, err := etf.Decode(b)
				if err != nil || !etf.Equal(back, e.msg) {
					t.Fatalf("our message %s does not round-trip: %v", etf.Format(e.msg), err)
				}
				if !obs.handle(back) {
					t.Fatalf("a peer scope rejects our message %s", etf.Format(back))
				}
				obs.takeEffects()
			}
			if err := checkCore(c); err != nil {
				t.Fatalf("after %s: %v", etf.Format(term), err)
			}
		}
		// Whatever happened, a peer going away leaves only local members.
		for p := range c.peers {
			c.peerDown(p)
		}
		if err := checkCore(c); err != nil {
			t.Fatal(err)
		}
		for _, g := range c.groups {
			if len(g.all) != len(g.local) {
				t.Fatalf("remote members left after every peer went down: %v", g.all)
			}
		}
	})
}
