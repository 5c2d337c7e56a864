package epmd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

func startKeeper(t *testing.T, cfg KeeperConfig) *Keeper {
	t.Helper()
	k, err := NewKeeper(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Start(testCtx(t)); err != nil {
		t.Fatalf("Start %s: %v", cfg.Name, err)
	}
	t.Cleanup(func() { k.Stop(context.Background()) })
	return k
}

func namesAt(port int) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	entries, err := Names(ctx, "127.0.0.1", port)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name)
	}
	slices.Sort(out)
	return out
}

func TestKeeperUsesRunningEpmd(t *testing.T) {
	port := distributetest.StartEpmd(t)
	k := startKeeper(t, KeeperConfig{Port: port, Name: "kept", ListenPort: 3333})
	if k.Hosting() {
		t.Errorf("hosting although epmd runs")
	}
	if !k.Registered() || k.Creation() == 0 || k.Creation() != k.EpmdCreation() {
		t.Errorf("registered %v creation %d epmd creation %d", k.Registered(), k.Creation(), k.EpmdCreation())
	}
	info, err := Lookup(testCtx(t), "127.0.0.1", port, "kept")
	if err != nil || info.Port != 3333 {
		t.Fatalf("Lookup: %v %v", info, err)
	}
	// A second node with the same name is refused at Start.
	k2, _ := NewKeeper(KeeperConfig{Port: port, Name: "kept", ListenPort: 3334})
	if err := k2.Start(testCtx(t)); !errors.Is(err, ErrDuplicateName) {
		t.Errorf("duplicate Start: got %v; want ErrDuplicateName", err)
	}
	k2.Stop(context.Background())
	if err := k.Stop(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitForWithin(t, 10*time.Second, "unregistered after Stop", func() bool {
		_, err := Lookup(testCtx(t), "127.0.0.1", port, "kept")
		return errors.Is(err, ErrNotFound)
	})
	if k.Registered() || k.Hosting() {
		t.Errorf("after Stop: registered %v hosting %v", k.Registered(), k.Hosting())
	}
}

// The node keeps its configured creation even though epmd assigns another.
func TestKeeperKeepsConfiguredCreation(t *testing.T) {
	port := distributetest.StartEpmd(t)
	k := startKeeper(t, KeeperConfig{Port: port, Name: "cr", ListenPort: 1, Creation: 42})
	if k.Creation() != 42 {
		t.Errorf("Creation = %d; want 42", k.Creation())
	}
	if k.EpmdCreation() == 0 || k.EpmdCreation() == 42 {
		t.Errorf("EpmdCreation = %d; want what real epmd assigned", k.EpmdCreation())
	}
}

func TestKeeperClientOnly(t *testing.T) {
	port := distributetest.StartEpmd(t)
	k := startKeeper(t, KeeperConfig{Port: port, ClientOnly: true})
	if k.Creation() == 0 || k.Registered() || k.Hosting() {
		t.Errorf("client only: creation %d registered %v hosting %v", k.Creation(), k.Registered(), k.Hosting())
	}
	if names := namesAt(port); len(names) != 0 {
		t.Errorf("client-only keeper registered: %v", names)
	}
	// Client-only with no epmd at all: still no server.
	free := distributetest.FreePort(t)
	k2 := startKeeper(t, KeeperConfig{Port: free, ServeAddr: hostPort(free), ClientOnly: true})
	if k2.Hosting() {
		t.Error("client-only keeper hosts")
	}
	if _, err := Lookup(testCtx(t), "127.0.0.1", free, "x"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("something answers on the free port: %v", err)
	}
}

// With NoHost, a keeper whose epmd disappears retries until an epmd comes
// back on the port, and keeps its creation.
func TestKeeperReregistersWhenEpmdReturns(t *testing.T) {
	free := distributetest.FreePort(t)
	k0, _ := NewKeeper(KeeperConfig{Port: free, Name: "r", ListenPort: 1, NoHost: true})
	if err := k0.Start(testCtx(t)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("NoHost Start without epmd: got %v; want ErrUnavailable", err)
	}
	k0.Stop(context.Background())

	s1, err := Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := s1.Port()
	go s1.Serve(context.Background())
	k := startKeeper(t, KeeperConfig{Port: port, Name: "r", ListenPort: 1, NoHost: true, RetryInterval: 50 * time.Millisecond})
	cr := k.Creation()
	s1.Close()
	distributetest.WaitForWithin(t, 10*time.Second, "registration dropped", func() bool { return !k.Registered() })

	s2, err := Listen(context.Background(), hostPort(port))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s2.Serve(context.Background()) }()
	defer func() { s2.Close(); <-served }()
	distributetest.WaitForWithin(t, 10*time.Second, "re-registered with the new epmd", func() bool {
		return k.Registered() && slices.Equal(s2.Names(), []NameEntry{{"r", 1}})
	})
	if k.Creation() != cr {
		t.Errorf("creation changed: %d -> %d", cr, k.Creation())
	}
	if k.Hosting() {
		t.Error("NoHost keeper hosts")
	}
}

// Three keepers on one port with no epmd: exactly one hosts, all register.
// Stopping the host makes another bind within a few seconds, and every
// survivor is registered again with its original creation.
func TestKeeperFailover(t *testing.T) {
	port := distributetest.FreePort(t)
	keepers := make([]*Keeper, 3)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range keepers {
		k, err := NewKeeper(KeeperConfig{
			Port: port, ServeAddr: hostPort(port),
			Name: fmt.Sprintf("k%d", i+1), ListenPort: 1001 + i,
		})
		if err != nil {
			t.Fatal(err)
		}
		keepers[i] = k
		t.Cleanup(func() { k.Stop(context.Background()) })
	}
	for i, k := range keepers { // start them together: they race for the port
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = k.Start(testCtx(t))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("keeper %d Start: %v", i+1, err)
		}
	}
	hosts := func(ks []*Keeper) []*Keeper {
		var h []*Keeper
		for _, k := range ks {
			if k.Hosting() {
				h = append(h, k)
			}
		}
		return h
	}
	if h := hosts(keepers); len(h) != 1 {
		t.Fatalf("%d keepers host epmd; want exactly 1", len(h))
	}
	if got := namesAt(port); !slices.Equal(got, []string{"k1", "k2", "k3"}) {
		t.Fatalf("names = %v; want k1 k2 k3", got)
	}
	creations := map[*Keeper]uint32{}
	for _, k := range keepers {
		if k.Creation() == 0 {
			t.Fatalf("creation 0")
		}
		creations[k] = k.Creation()
	}

	host := hosts(keepers)[0]
	var survivors []*Keeper
	var want []string
	for _, k := range keepers {
		if k != host {
			survivors = append(survivors, k)
			want = append(want, k.cfg.Name)
		}
	}
	if err := host.Stop(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	distributetest.WaitForWithin(t, 15*time.Second, "a survivor hosting and all survivors registered", func() bool {
		if len(hosts(survivors)) != 1 {
			return false
		}
		for _, k := range survivors {
			if !k.Registered() {
				return false
			}
		}
		return slices.Equal(namesAt(port), want)
	})
	for _, k := range survivors {
		if k.Creation() != creations[k] {
			t.Errorf("%s: creation changed %d -> %d", k.cfg.Name, creations[k], k.Creation())
		}
	}
	// And once more: stop the new host; the last keeper takes over.
	newHost := hosts(survivors)[0]
	last := survivors[0]
	if last == newHost {
		last = survivors[1]
	}
	newHost.Stop(testCtx(t))
	distributetest.WaitForWithin(t, 15*time.Second, "the last keeper hosting and registered", func() bool {
		return last.Hosting() && last.Registered() && slices.Equal(namesAt(port), []string{last.cfg.Name})
	})
	if last.Creation() != creations[last] {
		t.Errorf("creation changed")
	}
}

// An Erlang node registered with a keeper-hosted epmd re-registers with the
// keeper that takes over (OTP 25 erl_epmd reconnects every 2 s).
func TestKeeperFailoverWithErl(t *testing.T) {
	distributetest.RequireErl(t)
	port := distributetest.FreePort(t)
	k1 := startKeeper(t, KeeperConfig{Port: port, ServeAddr: hostPort(port), Name: "ka", ListenPort: 2001})
	k2 := startKeeper(t, KeeperConfig{Port: port, ServeAddr: hostPort(port), Name: "kb", ListenPort: 2002})
	if !k1.Hosting() || k2.Hosting() {
		t.Fatalf("hosting: k1 %v k2 %v; want k1 only", k1.Hosting(), k2.Hosting())
	}
	e := distributetest.StartErlNode(t, distributetest.ErlOptions{Name: "kerl@localhost", EpmdPort: port})
	if got := namesAt(port); !slices.Equal(got, []string{"ka", "kb", "kerl"}) {
		t.Fatalf("names = %v", got)
	}
	k1.Stop(testCtx(t))
	distributetest.WaitForWithin(t, 20*time.Second, "k2 hosting with kb and kerl registered", func() bool {
		return k2.Hosting() && slices.Equal(namesAt(port), []string{"kb", "kerl"})
	})
	if got := e.Eval(t, "net_adm:names()"); !strings.Contains(got, `{"kb",2002}`) {
		t.Errorf("erl sees %s", got)
	}
}
