package epmd

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// Real erl nodes (started with -start_epmd false and ERL_EPMD_PORT pointing
// at our server) register, find each other and list each other.
func TestErlNodesWithEmbeddedServer(t *testing.T) {
	distributetest.RequireErl(t)
	s := startServer(t, ServerConfig{})
	e1 := distributetest.StartErlNode(t, distributetest.ErlOptions{Name: "epmdt1@localhost", Cookie: "c", EpmdPort: s.Port(),
		Args: []string{"-start_epmd", "false"}})
	e2 := distributetest.StartErlNode(t, distributetest.ErlOptions{Name: "epmdt2@localhost", Cookie: "c", EpmdPort: s.Port(),
		Args: []string{"-start_epmd", "false"}})

	ctx := testCtx(t)
	for _, n := range []string{"epmdt1", "epmdt2"} {
		info, err := Lookup(ctx, "127.0.0.1", s.Port(), n)
		if err != nil {
			t.Fatalf("Lookup %s: %v", n, err)
		}
		if info.High != 6 || info.Low != 5 || info.Type != NodeTypeNormal || info.Protocol != 0 || info.Port == 0 {
			t.Errorf("Lookup %s: %v; want high 6 low 5 type 77 proto 0", n, info)
		}
	}

	if got := e1.Eval(t, "net_adm:ping('epmdt2@localhost')"); got != "pong" {
		t.Fatalf("ping: got %s; want pong", got)
	}
	info1, _ := Lookup(ctx, "127.0.0.1", s.Port(), "epmdt1")
	info2, _ := Lookup(ctx, "127.0.0.1", s.Port(), "epmdt2")
	got := e2.Eval(t, "net_adm:names()")
	t.Logf("net_adm:names() = %s", got)
	for _, want := range []string{
		fmt.Sprintf(`{"epmdt1",%d}`, info1.Port),
		fmt.Sprintf(`{"epmdt2",%d}`, info2.Port),
	} {
		if !strings.Contains(got, want) || !strings.HasPrefix(got, "{ok,") {
			t.Errorf("net_adm:names() = %s; want it to contain %s", got, want)
		}
	}

	// A stopped node loses its registration.
	e2.Stop(t)
	distributetest.WaitForWithin(t, 20*time.Second, "epmdt2 unregistered", func() bool {
		for _, n := range s.Names() {
			if n.Name == "epmdt2" {
				return false
			}
		}
		return true
	})
}
