package dist

import (
	"net"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
)

func TestMain(m *testing.M) { distributetest.VerifyTestMain(m) }

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- nil
			return
		}
		ch <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-ch
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// mustConn wraps nc in a Conn for the peer b@h, with the default
// configuration; the caller closes it.
func mustConn(t testing.TB, nc net.Conn) *Conn {
	t.Helper()
	conn, err := NewConn(nc, &Peer{Name: "b@h"}, nil, ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// readDataFrame reads fr's next frame that is not a tick (an empty one).
func readDataFrame(fr *FrameReader) ([]byte, error) {
	for {
		frame, err := fr.ReadFrame()
		if err != nil || len(frame) > 0 {
			return frame, err
		}
	}
}
