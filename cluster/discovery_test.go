package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/membership"
)

func TestParseDiscovery(t *testing.T) {
	good := []struct {
		spec string
		want Discovery
	}{
		{"dns:app.default.svc.cluster.local", DNS{Name: "app.default.svc.cluster.local"}},
		{"dns:app.test.", DNS{Name: "app.test."}},
		{"srv:_dist._tcp.app.test", SRV{Name: "_dist._tcp.app.test"}},
		{"file:/etc/app/peers", File{Path: "/etc/app/peers"}},
		{"file:relative/peers", File{Path: "relative/peers"}},
	}
	for _, c := range good {
		got, err := ParseDiscovery(c.spec)
		if err != nil || got != c.want {
			t.Errorf("ParseDiscovery(%q) = %#v, %v; want %#v", c.spec, got, err, c.want)
		}
		if s := fmt.Sprint(got); s != c.spec {
			t.Errorf("ParseDiscovery(%q) prints as %q", c.spec, s)
		}
	}
	for _, spec := range []string{"", "dns:", "srv:", "file:", "dns", "app.test", "consul:app", "dns:bad name", "dns:a..b", "srv:-x.test"} {
		if d, err := ParseDiscovery(spec); !errors.Is(err, ErrDiscovery) {
			t.Errorf("ParseDiscovery(%q) = %v, %v; want an error wrapping ErrDiscovery", spec, d, err)
		}
	}
}

func TestStaticDiscovery(t *testing.T) {
	got, err := Static{"a@h", "b@h", "a@h"}.Discover(context.Background(), "a@h")
	if err != nil || !slices.Equal(got, []distribute.Atom{"a@h", "b@h"}) {
		t.Fatalf("Static.Discover = %v, %v; want [a@h b@h] (sorted, once each)", got, err)
	}
	got, err = Static{"a@h", "not a name"}.Discover(context.Background(), "a@h")
	if !errors.Is(err, ErrDiscovery) || !slices.Equal(got, []distribute.Atom{"a@h"}) {
		t.Fatalf("Static with a bad name = %v, %v; want [a@h] and an ErrDiscovery", got, err)
	}
}

func TestFileDiscovery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "peers")
	f := File{Path: path}
	ctx := context.Background()
	if _, err := f.Discover(ctx, "me@h"); !errors.Is(err, ErrDiscovery) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v; want ErrDiscovery and os.ErrNotExist", err)
	}
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("# peers\n  b@host2  \n\na@host1\r\na@host1 # again\n")
	got, err := f.Discover(ctx, "me@h")
	if err != nil || !slices.Equal(got, []distribute.Atom{"a@host1", "b@host2"}) {
		t.Fatalf("Discover = %v, %v; want [a@host1 b@host2]", got, err)
	}
	// A change is seen by the next read; a bad line is reported, the
	// others are kept.
	write("c@host3\nnot a node\nd@host4\n")
	got, err = f.Discover(ctx, "me@h")
	if !errors.Is(err, ErrDiscovery) || !strings.Contains(err.Error(), "line 2") || !slices.Equal(got, []distribute.Atom{"c@host3", "d@host4"}) {
		t.Fatalf("Discover = %v, %v; want [c@host3 d@host4] and an error naming line 2", got, err)
	}
}

func TestDNSDiscovery(t *testing.T) {
	srv := distributetest.StartDNS(t, "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
	defer cancel()
	srv.SetAddrs("app.disco.test", "10.1.0.3", "10.1.0.2", "fd00::7")
	d := DNS{Name: "app.disco.test", Resolver: srv.Resolver()}
	got, err := d.Discover(ctx, "app@10.1.0.2")
	if err != nil || !slices.Equal(got, []distribute.Atom{"app@10.1.0.2", "app@10.1.0.3"}) {
		t.Fatalf("Discover = %v, %v; want [app@10.1.0.2 app@10.1.0.3] (the IPv6 address has no node name)", got, err)
	}
	// Alive overrides this node's alive part; a changed record is seen.
	srv.SetAddrs("app.disco.test", "10.1.0.9")
	d.Alive = "worker"
	if got, err = d.Discover(ctx, "app@10.1.0.2"); err != nil || !slices.Equal(got, []distribute.Atom{"worker@10.1.0.9"}) {
		t.Fatalf("Discover = %v, %v; want [worker@10.1.0.9]", got, err)
	}
	// Only IPv6 addresses: nothing usable, and the error says why.
	srv.SetAddrs("v6.disco.test", "fd00::1")
	if got, err = (DNS{Name: "v6.disco.test", Resolver: srv.Resolver()}).Discover(ctx, "app@h"); !errors.Is(err, ErrDiscovery) || len(got) != 0 || !strings.Contains(err.Error(), "IPv6") {
		t.Fatalf("IPv6 only: %v, %v; want no name and an error saying IPv6", got, err)
	}
	if got, err = (DNS{Name: "none.disco.test", Resolver: srv.Resolver()}).Discover(ctx, "app@h"); !errors.Is(err, ErrDiscovery) || len(got) != 0 {
		t.Fatalf("NXDOMAIN: %v, %v; want an ErrDiscovery", got, err)
	}
	if n := srv.Queries("127.0.0.1"); n == 0 {
		t.Fatal("the server saw no question: the lookups did not go through it")
	}
}

func TestSRVDiscovery(t *testing.T) {
	srv := distributetest.StartDNS(t, "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
	defer cancel()
	srv.SetSRV("_dist._tcp.app.disco.test",
		distributetest.SRVRecord{Target: "app-1.app.disco.test", Port: 4369},
		distributetest.SRVRecord{Target: "app-0.app.disco.test", Port: 4369, Priority: 5})
	d := SRV{Name: "_dist._tcp.app.disco.test", Resolver: srv.Resolver()}
	got, err := d.Discover(ctx, "app@app-0.app.disco.test")
	if err != nil || !slices.Equal(got, []distribute.Atom{"app@app-0.app.disco.test", "app@app-1.app.disco.test"}) {
		t.Fatalf("Discover = %v, %v; want the targets without their final dot, with this node's alive part", got, err)
	}
	d.Alive = "w"
	if got, err = d.Discover(ctx, "app@h"); err != nil || !slices.Equal(got, []distribute.Atom{"w@app-0.app.disco.test", "w@app-1.app.disco.test"}) {
		t.Fatalf("Discover with Alive = %v, %v", got, err)
	}
	srv.SetSRV("_dist._tcp.app.disco.test")
	if got, err = d.Discover(ctx, "app@h"); !errors.Is(err, ErrDiscovery) || len(got) != 0 {
		t.Fatalf("no SRV record: %v, %v; want an ErrDiscovery", got, err)
	}
}

// counting counts the polls of a source.
type counting struct {
	Discovery
	n atomic.Int64
}

func (c *counting) Discover(ctx context.Context, self distribute.Atom) ([]distribute.Atom, error) {
	defer c.n.Add(1)
	return c.Discovery.Discover(ctx, self)
}

func writeFile(t *testing.T, path string, lines ...string) {
	t.Helper()
	// Written aside and renamed: a poll never reads half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestDiscoveryJoinsWhatItFinds: a node polls its sources again and
// again, and joins a peer that appears in them while it runs; a peer that
// disappears from them stays a member, connected, for SWIM to judge.
func TestDiscoveryJoinsWhatItFinds(t *testing.T) {
	port := distributetest.StartEpmd(t)
	pid := os.Getpid()
	aName := distribute.Atom(fmt.Sprintf("dja%d@localhost", pid))
	path := filepath.Join(t.TempDir(), "peers")
	writeFile(t, path) // empty: nobody to join at start
	src := &counting{Discovery: File{Path: path}}
	b := startWith(t, Config{
		Node:             distribute.Config{Name: fmt.Sprintf("djb%d@localhost", pid), EpmdPort: port},
		Profile:          membership.Local(),
		Discover:         []Discovery{src},
		DiscoverInterval: 100 * time.Millisecond,
	})
	if b.Membership().Joining() {
		t.Fatal("Joining with no peer discovered")
	}
	a := startWith(t, Config{Node: distribute.Config{Name: string(aName), EpmdPort: port}, Profile: membership.Local()})
	writeFile(t, path, string(aName))
	distributetest.WaitFor(t, "b to join a, which appeared in its file", func() bool {
		return alive(b, aName) && alive(a, b.Node().Name())
	})

	writeFile(t, path)
	polls := src.n.Load()
	distributetest.WaitFor(t, "five polls of the emptied file", func() bool { return src.n.Load() >= polls+5 })
	if !alive(b, aName) || !b.Node().IsConnected(aName) {
		t.Fatalf("a left b's discovery and was cut: member %v, connected %v", alive(b, aName), b.Node().IsConnected(aName))
	}
}

// TestDiscoverySeedsReadiness: peers found at Start are seeds: a node
// whose discovered peers do not answer yet reports Joining (readiness
// fails) and joins them once they are up.
func TestDiscoverySeedsReadiness(t *testing.T) {
	port := distributetest.StartEpmd(t)
	pid := os.Getpid()
	cName := distribute.Atom(fmt.Sprintf("dsc%d@localhost", pid))
	b := startWith(t, Config{
		Node:             distribute.Config{Name: fmt.Sprintf("dsb%d@localhost", pid), EpmdPort: port},
		Profile:          membership.Local(),
		Discover:         []Discovery{Static{cName}},
		DiscoverInterval: 100 * time.Millisecond,
	})
	if !b.Membership().Joining() {
		t.Fatal("Joining false while the discovered peer is not up")
	}
	c := startWith(t, Config{Node: distribute.Config{Name: string(cName), EpmdPort: port}, Profile: membership.Local()})
	distributetest.WaitFor(t, "b and c alive to each other", func() bool {
		return alive(b, cName) && alive(c, b.Node().Name())
	})
	distributetest.WaitFor(t, "Joining over", func() bool { return !b.Membership().Joining() })
}

func TestDiscoveryConfigChecked(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(10*time.Second))
	defer cancel()
	port := distributetest.StartEpmd(t)
	for _, cfg := range []Config{
		{Discover: []Discovery{Static{"a@h"}}, DiscoverInterval: -time.Second},
		{Discover: []Discovery{Static{"a@h"}}, NoMembership: true},
		{Discover: []Discovery{nil}},
	} {
		cfg.Node = distribute.Config{Name: "dcc@localhost", Cookie: "distributetest", EpmdPort: port}
		c, err := Start(ctx, cfg)
		if err == nil {
			c.Stop(ctx)
			t.Errorf("Start(%+v) succeeded; want an error", cfg)
		} else if !errors.Is(err, ErrDiscovery) {
			t.Errorf("Start: %v; want an error wrapping ErrDiscovery", err)
		}
	}
}

// FuzzParseDiscovery: any spec parses or fails with ErrDiscovery, and a
// parsed one prints back as the spec.
func FuzzParseDiscovery(f *testing.F) {
	for _, s := range []string{"dns:app.test", "srv:_x._tcp.app.test.", "file:/p", "dns:", "x:y", "dns:a..b", "srv:-a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		d, err := ParseDiscovery(spec)
		if err != nil {
			if !errors.Is(err, ErrDiscovery) {
				t.Fatalf("ParseDiscovery(%q): %v does not wrap ErrDiscovery", spec, err)
			}
			return
		}
		if got := fmt.Sprint(d); got != spec {
			t.Fatalf("ParseDiscovery(%q) prints as %q", spec, got)
		}
	})
}

// FuzzFileDiscovery: any file content gives node names only, sorted and
// once each, and the same ones on a second read.
func FuzzFileDiscovery(f *testing.F) {
	for _, s := range []string{"a@h\nb@h.x\n", "# c\n\n  a@h # x\r\n", "not a name\na@h", "\x00@\n@@\n"} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content []byte) {
		path := filepath.Join(dir, "peers")
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		src := File{Path: path}
		names, err := src.Discover(context.Background(), "me@h")
		if err != nil && !errors.Is(err, ErrDiscovery) {
			t.Fatalf("error %v does not wrap ErrDiscovery", err)
		}
		if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
			t.Fatalf("names %q: want sorted, once each", names)
		}
		for _, n := range names {
			if _, _, _, err := distribute.ParseNodeName(string(n)); err != nil {
				t.Fatalf("%q is not a node name: %v", n, err)
			}
		}
		again, _ := src.Discover(context.Background(), "me@h")
		if !slices.Equal(names, again) {
			t.Fatalf("two reads: %q and %q", names, again)
		}
	})
}
