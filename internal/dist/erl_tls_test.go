package dist

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// TestErlTLS runs the distribution over TLS against an erl node started
// with -proto_dist inet_tls, in both directions: 4-byte handshake frames
// inside TLS, SNI = host part of the node name, mTLS.
func TestErlTLS(t *testing.T) {
	distributetest.RequireErl(t)
	ca, cert := testPKI(t, "localhost")
	pool := x509.NewCertPool()
	pool.AddCert(ca.Leaf)
	dir := t.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, optFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "dist.conf")
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate[0]}), 0o600)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	// Both sides present the same certificate and verify the peer against the CA.
	opts := `[{server, [{certfile, "` + certFile + `"}, {keyfile, "` + keyFile + `"}, {cacertfile, "` + caFile + `"}, {verify, verify_peer}, {fail_if_no_peer_cert, true}]},
 {client, [{certfile, "` + certFile + `"}, {keyfile, "` + keyFile + `"}, {cacertfile, "` + caFile + `"}, {verify, verify_peer}]}].`
	if err := os.WriteFile(optFile, []byte(opts), 0o600); err != nil {
		t.Fatal(err)
	}
	epmdPort := distributetest.StartEpmd(t)

	// Go acceptor over TLS, registered as gotls.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	creation := epmdRegister(t, epmdPort, "gotls", ln.Addr().(*net.TCPAddr).Port)
	serverCfg := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	type accepted struct {
		conn *Conn
		err  error
	}
	acc := make(chan accepted, 1)
	accDone := make(chan struct{})
	go func() {
		defer close(accDone)
		nc, err := ln.Accept()
		if err != nil {
			acc <- accepted{err: err}
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(20*time.Second))
		defer cancel()
		tc := TLSServer(nc, serverCfg)
		p, left, err := Accept(ctx, tc, HandshakeConfig{Name: "gotls@localhost", Creation: creation, Cookie: "distributetest"})
		if err != nil {
			acc <- accepted{err: err}
			return
		}
		c, err := NewConn(tc, p, left, ConnConfig{})
		acc <- accepted{c, err}
	}()
	t.Cleanup(func() { ln.Close(); <-accDone })

	n := distributetest.StartErlNode(t, distributetest.ErlOptions{
		Name: "etls@localhost", EpmdPort: epmdPort,
		Args: []string{"-proto_dist", "inet_tls", "-ssl_dist_optfile", optFile},
	})

	// erl -> Go.
	if got := n.Eval(t, "net_kernel:connect_node('gotls@localhost')"); got != "true" {
		select {
		case a := <-acc:
			t.Logf("accept: %v", a.err)
		case <-time.After(time.Second):
		}
		t.Fatalf("connect_node over TLS = %s\noutput:\n%s", got, n.Output())
	}
	a := <-acc
	if a.err != nil {
		t.Fatal(a.err)
	}
	defer a.conn.Close()
	if _, ok := a.conn.nc.(*tls.Conn); !ok || a.conn.Peer().Name != "etls@localhost" {
		t.Fatalf("peer %+v", a.conn.Peer())
	}

	// Go -> erl.
	port := epmdLookup(t, epmdPort, "etls")
	nc, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	tc := TLSClient(nc, &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}, n.Name)
	ctx, cancel := context.WithTimeout(context.Background(), distributetest.Scale(20*time.Second))
	defer cancel()
	p, left, err := Dial(ctx, tc, HandshakeConfig{Name: "godial@localhost", Creation: 7, Cookie: n.Cookie}, n.Name)
	if err != nil {
		t.Fatalf("dial over TLS: %v\noutput:\n%s", err, n.Output())
	}
	if tc.ConnectionState().ServerName != "localhost" {
		t.Errorf("SNI %q; want localhost", tc.ConnectionState().ServerName)
	}
	c, err := NewConn(tc, p, left, ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitEval(t, n, "lists:sort(nodes(hidden))", "[godial@localhost,gotls@localhost]")

	// A plain-TCP dial to the TLS node fails with a typed error on our
	// side that says the peer speaks TLS (its alert is no status message).
	nc2, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = Dial(ctx, nc2, HandshakeConfig{Name: "plain@localhost", Cookie: n.Cookie, Timeout: distributetest.Scale(2 * time.Second)}, n.Name)
	if !errors.Is(err, ErrPeerTLS) {
		t.Fatalf("plain dial to TLS node: %v; want ErrPeerTLS", err)
	}
	t.Logf("plain dial to the TLS node: %v", err)
	if c.Err() != nil || a.conn.Err() != nil {
		t.Fatalf("TLS connections failed: %v / %v", c.Err(), a.conn.Err())
	}
}

// testPKI makes a CA and a leaf certificate for host signed by it, usable
// as TLS server and client certificate.
func testPKI(t testing.TB, host string) (ca, leaf tls.Certificate) {
	t.Helper()
	ca = makeCert(t, host+" CA", nil, nil, true)
	leaf = makeCert(t, host, ca.Leaf, ca.PrivateKey.(*ecdsa.PrivateKey), false)
	return ca, leaf
}

func makeCert(t testing.TB, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, isCA bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	if isCA {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		parent, parentKey = tmpl, key
	} else {
		tmpl.DNSNames = []string{name}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}
}
