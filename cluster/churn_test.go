package cluster

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/membership"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func startWith(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(20*time.Second))
	defer cancel()
	if cfg.Node.Cookie == "" {
		cfg.Node.Cookie = "distributetest"
	}
	c, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	return c
}

func alive(c *Cluster, name distribute.Atom) bool {
	m, ok := c.Membership().Member(name)
	return ok && m.State == membership.StateAlive
}

// TestStartWithoutSeed: a node whose seeds do not answer starts anyway,
// reports Joining, and joins once a seed comes up; no outside order of
// starts is needed.
func TestStartWithoutSeed(t *testing.T) {
	port := distributetest.StartEpmd(t)
	seed := distribute.Atom(fmt.Sprintf("seed%d@localhost", os.Getpid()))
	b := startWith(t, Config{
		Node:    distribute.Config{Name: fmt.Sprintf("late%d@localhost", os.Getpid()), EpmdPort: port},
		Profile: membership.Local(),
		Join:    []distribute.Atom{seed},
	})
	if !b.Membership().Joining() {
		t.Fatal("Joining false with no seed up")
	}
	a := startWith(t, Config{
		Node:    distribute.Config{Name: string(seed), EpmdPort: port},
		Profile: membership.Local(),
		Join:    []distribute.Atom{seed}, // the same list everywhere: its own name is ignored
	})
	if a.Membership().Joining() {
		t.Error("the seed waits for itself")
	}
	distributetest.WaitFor(t, "both alive to each other", func() bool {
		return alive(a, b.Node().Name()) && alive(b, seed)
	})
	distributetest.WaitFor(t, "Joining over", func() bool { return !b.Membership().Joining() })
}

// nodeDowns counts a node's nodedown events by peer.
type nodeDowns struct {
	mu   sync.Mutex
	down map[distribute.Atom]int
}

func watchDowns(t *testing.T, n *distribute.Node) *nodeDowns {
	ctx, cancel := context.WithCancel(context.Background())
	d := &nodeDowns{down: map[distribute.Atom]int{}}
	ch := n.WatchNodes(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range ch {
			if !ev.Up {
				d.mu.Lock()
				d.down[ev.Node]++
				d.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

func (d *nodeDowns) total() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := 0
	for _, v := range d.down {
		k += v
	}
	return k
}

// TestOverlappingPartitionsOption: with Erlang's default,
// prevent_overlapping_partitions, one lost connection (a–c) makes b, which
// still sees both, drop links too; with NoPreventOverlappingPartitions only
// the lost link goes, and b keeps both.
func TestOverlappingPartitionsOption(t *testing.T) {
	for _, off := range []bool{false, true} {
		t.Run(fmt.Sprintf("off=%v", off), func(t *testing.T) {
			port := distributetest.StartEpmd(t)
			var cs []*Cluster
			var readers []*sdkmetric.ManualReader
			for i := range 3 {
				r := sdkmetric.NewManualReader()
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
				t.Cleanup(func() { mp.Shutdown(context.Background()) })
				readers = append(readers, r)
				cs = append(cs, startWith(t, Config{
					Node:                           distribute.Config{Name: fmt.Sprintf("pop%d_%v_%d@localhost", os.Getpid(), off, i), EpmdPort: port, MeterProvider: mp},
					Profile:                        membership.Local(),
					NoPreventOverlappingPartitions: off,
				}))
			}
			// cuts is distribute.registry.partition_disconnects over the
			// three nodes.
			cuts := func() int64 {
				var k int64
				for _, r := range readers {
					var rm metricdata.ResourceMetrics
					if err := r.Collect(context.Background(), &rm); err != nil {
						t.Fatal(err)
					}
					for _, sm := range rm.ScopeMetrics {
						for _, m := range sm.Metrics {
							if m.Name == "distribute.registry.partition_disconnects" {
								for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
									k += p.Value
								}
							}
						}
					}
				}
				return k
			}
			a, b, c := cs[0], cs[1], cs[2]
			ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(30*time.Second))
			defer cancel()
			for _, x := range []*Cluster{b, c} {
				distributetest.WaitFor(t, "a join", func() bool {
					_, err := x.Membership().Join(ctx, a.Membership().GossipAddr())
					return err == nil
				})
			}
			distributetest.WaitFor(t, "a full mesh, the registries in sync", func() bool {
				for _, x := range cs {
					if len(x.Node().VisibleNodes()) != 2 || len(x.Registry().Known()) != 2 {
						return false
					}
				}
				return true
			})
			downs := watchDowns(t, b.Node())
			a.Node().Disconnect(c.Node().Name())
			if !off {
				distributetest.WaitFor(t, "b drops a link (prevent_overlapping_partitions)", func() bool { return downs.total() > 0 })
				distributetest.WaitFor(t, "the cut counted", func() bool { return cuts() > 0 })
				return
			}
			// Membership reconnects a and c; their registries sync again,
			// and a registration through all three goes through b, after
			// any lost_connection a or c could have sent it.
			distributetest.WaitFor(t, "a and c reconnected and in sync", func() bool {
				return a.Node().IsConnected(c.Node().Name()) && len(a.Registry().Known()) == 2 && len(c.Registry().Known()) == 2
			})
			for _, x := range cs {
				if err := x.Registry().Sync(ctx); err != nil {
					t.Fatal(err)
				}
			}
			p, err := a.Node().NewProcess()
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Registry().Register(ctx, distribute.Atom("after_blip"), p.Pid()); err != nil {
				t.Fatal(err)
			}
			distributetest.WaitFor(t, "b knows the name", func() bool { _, ok := b.Registry().Whereis(distribute.Atom("after_blip")); return ok })
			if k := downs.total(); k != 0 || len(b.Node().VisibleNodes()) != 2 || cuts() != 0 {
				t.Fatalf("b lost %d links (now connected to %v; %d counted cuts) after a blip between a and c, with prevent_overlapping_partitions off", k, b.Node().VisibleNodes(), cuts())
			}
		})
	}
}
