package distribute

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
)

func TestTLSGoToGoMutual(t *testing.T) {
	port := distributetest.StartEpmd(t)
	ca := distributetest.NewCA(t)
	other := distributetest.NewCA(t)
	tlsA := ca.MutualTLS(ca.Issue(t, "localhost"))
	tlsB := ca.MutualTLS(ca.Issue(t, "localhost"))
	a := startNode(t, port, func(c *Config) { c.TLS = tlsA })
	b := startNode(t, port, func(c *Config) { c.TLS = tlsB })
	ctx := testCtx(t)
	if err := a.Ping(ctx, b.Name()); err != nil {
		t.Fatalf("mTLS ping: %v", err)
	}
	// A node whose certificate another CA signed is refused, both ways.
	stranger := startNode(t, port, func(c *Config) { c.TLS = other.MutualTLS(other.Issue(t, "localhost")) })
	if err := stranger.Ping(ctx, a.Name()); !errors.Is(err, ErrNodeDown) {
		t.Fatalf("stranger dials a: %v; want ErrNodeDown", err)
	}
	if err := a.Ping(ctx, stranger.Name()); !errors.Is(err, ErrNodeDown) {
		t.Fatalf("a dials stranger: %v; want ErrNodeDown", err)
	}
	// A plain TCP node cannot talk to a TLS node.
	plain := startNode(t, port)
	if err := plain.Ping(ctx, a.Name()); err == nil {
		t.Fatal("a plain node reached a TLS node")
	}
	if err := b.Ping(ctx, a.Name()); err != nil {
		t.Fatalf("after the refusals: %v", err)
	}
}

func TestTLSWithErlang(t *testing.T) {
	ca := distributetest.NewCA(t)
	erlLeaf := ca.Issue(t, "localhost")
	goLeaf := ca.Issue(t, "localhost")
	opts := filepath.Join(t.TempDir(), "ssl_dist.conf")
	conf := fmt.Sprintf(`[{server, [{certfile, %q}, {keyfile, %q}, {cacertfile, %q}, {verify, verify_peer}, {fail_if_no_peer_cert, true}]},
 {client, [{certfile, %q}, {keyfile, %q}, {cacertfile, %q}, {verify, verify_peer}]}].
`, erlLeaf.CertFile, erlLeaf.KeyFile, ca.CertFile, erlLeaf.CertFile, erlLeaf.KeyFile, ca.CertFile)
	if err := os.WriteFile(opts, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{
		Args: []string{"-proto_dist", "inet_tls", "-ssl_dist_optfile", opts},
	})
	g := startNode(t, erl.EpmdPort, func(c *Config) { c.TLS = ca.MutualTLS(goLeaf) })
	if got := erl.Eval(t, fmt.Sprintf("net_adm:ping('%s')", g.Name())); got != "pong" {
		t.Fatalf("Erlang pings Go over inet_tls_dist: %s\n%s", got, erl.Output())
	}
	g2 := startNode(t, erl.EpmdPort, func(c *Config) { c.TLS = ca.MutualTLS(ca.Issue(t, "localhost")) })
	if err := g2.Ping(testCtx(t), Atom(erl.Name)); err != nil {
		t.Fatalf("Go pings Erlang over inet_tls_dist: %v\n%s", err, erl.Output())
	}
}

// TestTLSMismatchSaysSo: a plain node dialling a TLS node, and a TLS
// node dialling a plain one, get an error wrapping ErrTLSMismatch that
// says which side speaks TLS, as does the plain Go node dialling an
// Erlang node on inet_tls_dist (it answered "handshake message too large:
// status of 5379 bytes": its TLS alert read as a length).
func TestTLSMismatchSaysSo(t *testing.T) {
	port := distributetest.StartEpmd(t)
	ca := distributetest.NewCA(t)
	secure := startNode(t, port, func(c *Config) { c.TLS = ca.MutualTLS(ca.Issue(t, "localhost")) })
	plain := startNode(t, port)
	ctx := testCtx(t)
	err := plain.Ping(ctx, secure.Name())
	if !errors.Is(err, ErrTLSMismatch) || !errors.Is(err, ErrNodeDown) || !strings.Contains(err.Error(), "peer speaks TLS") {
		t.Errorf("plain dials TLS: %v; want ErrTLSMismatch, peer speaks TLS", err)
	}
	err = secure.Ping(ctx, plain.Name())
	if !errors.Is(err, ErrTLSMismatch) || !errors.Is(err, ErrNodeDown) || !strings.Contains(err.Error(), "peer does not speak TLS") {
		t.Errorf("TLS dials plain: %v; want ErrTLSMismatch, peer does not speak TLS", err)
	}
	if _, err := exec.LookPath("erl"); err != nil && !distributetest.ErlRequired() {
		t.Skip("erl not installed: the Erlang TLS node is skipped")
	}
	erlLeaf := ca.Issue(t, "localhost")
	opts := filepath.Join(t.TempDir(), "ssl_dist.conf")
	conf := fmt.Sprintf(`[{server, [{certfile, %q}, {keyfile, %q}, {cacertfile, %q}, {verify, verify_peer}, {fail_if_no_peer_cert, true}]},
 {client, [{certfile, %q}, {keyfile, %q}, {cacertfile, %q}, {verify, verify_peer}]}].
`, erlLeaf.CertFile, erlLeaf.KeyFile, ca.CertFile, erlLeaf.CertFile, erlLeaf.KeyFile, ca.CertFile)
	if err := os.WriteFile(opts, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	erl := distributetest.StartErlNode(t, distributetest.ErlOptions{
		Args: []string{"-proto_dist", "inet_tls", "-ssl_dist_optfile", opts},
	})
	g := startNode(t, erl.EpmdPort)
	err = g.Ping(testCtx(t), Atom(erl.Name)) // a deadline of its own: erl may have been slow to start
	if !errors.Is(err, ErrTLSMismatch) || !strings.Contains(err.Error(), "peer speaks TLS") {
		t.Errorf("plain Go dials Erlang on inet_tls_dist: %v; want ErrTLSMismatch, peer speaks TLS", err)
	}
}
