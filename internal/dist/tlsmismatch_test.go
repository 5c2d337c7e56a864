package dist

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// TestTLSMismatch: when only one side speaks TLS, the dialler's error
// says so (ErrPeerTLS: the peer speaks TLS; ErrPeerNotTLS: it does not),
// and so does the acceptor's, instead of a "message too large" or a bare
// EOF.
func TestTLSMismatch(t *testing.T) {
	cert := selfSigned(t, "h")
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	server := &tls.Config{Certificates: []tls.Certificate{cert}}
	client := &tls.Config{RootCAs: pool}
	timeout := distributetest.Scale(5 * time.Second)
	ctx := context.Background()
	for _, tc := range []struct {
		name                 string
		tlsServer, tlsClient bool
		dialWant, acceptWant error
	}{
		{"plain client, TLS node", true, false, ErrPeerTLS, ErrPeerNotTLS},
		{"TLS client, plain node", false, true, ErrPeerNotTLS, ErrPeerTLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, s := tcpPair(t)
			errc := make(chan error, 1)
			go func() {
				if tc.tlsServer {
					s = TLSServer(s, server)
				}
				_, _, err := Accept(ctx, s, HandshakeConfig{Name: "b@h", Cookie: "c", Timeout: timeout})
				errc <- err
			}()
			if tc.tlsClient {
				c = TLSClient(c, client, "b@h")
			}
			start := time.Now()
			_, _, err := Dial(ctx, c, HandshakeConfig{Name: "a@h", Cookie: "c", Timeout: timeout}, "b@h")
			if !errors.Is(err, tc.dialWant) || !errors.Is(err, ErrTLSMismatch) {
				t.Errorf("Dial: %v; want %v", err, tc.dialWant)
			}
			if took := time.Since(start); took >= timeout {
				t.Errorf("Dial took %v: it waited for the step timeout", took)
			}
			if err := <-errc; !errors.Is(err, tc.acceptWant) {
				t.Errorf("Accept: %v; want %v", err, tc.acceptWant)
			}
		})
	}
}
