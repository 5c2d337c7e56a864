package epmd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"
)

func addSeeds(f *testing.F, hexes ...string) {
	for _, h := range hexes {
		f.Add(unhex(f, h))
	}
}

func FuzzParsePort2Response(f *testing.F) {
	addSeeds(f,
		"77 00 270f 4d 00 0006 0005 0006 676f70686572 0000",
		"77 00 270f 48 00 0006 0005 0002 6162 0000",
		"77 00 0001 4d 00 0006 0005 0001 61 0002 beef",
		"77 01", "77 00", "")
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParsePort2Response(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotFound) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		enc, err := AppendPort2Response(nil, n)
		if err != nil {
			t.Fatalf("re-encode %v: %v", n, err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("re-encode: got %x; want %x", enc, b)
		}
		n2, err := ParsePort2Response(enc)
		if err != nil || !reflect.DeepEqual(n, n2) {
			t.Fatalf("decode again: %v %v; want %v", n2, err, n)
		}
	})
}

func FuzzParseAlive2Response(f *testing.F) {
	addSeeds(f, "76 00 6b07769b", "79 00 0002", "76 01 00000000", "79", "")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseAlive2Response(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		enc := AppendAlive2Response(nil, r)
		if !bytes.Equal(enc, b) {
			t.Fatalf("re-encode: got %x; want %x", enc, b)
		}
		r2, err := ParseAlive2Response(enc)
		if err != nil || r != r2 {
			t.Fatalf("decode again: %v %v; want %v", r2, err, r)
		}
	})
}

func FuzzParseNamesResponse(f *testing.F) {
	f.Add(append(unhex(f, "00001111"), "name gopher at port 9999\n"...))
	f.Add(append(unhex(f, "00001111"), "name a at port 1\nname b at port 2\ngarbage\nname c at port 3"...))
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		port, names, err := ParseNamesResponse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		enc := AppendNamesResponse(nil, port, names)
		port2, names2, err := ParseNamesResponse(enc)
		if err != nil || port2 != port || !reflect.DeepEqual(names, names2) {
			t.Fatalf("decode again: %d %v %v; want %d %v", port2, names2, err, port, names)
		}
	})
}

// FuzzParseRequest checks the server's request parser: framing (ReadRequest
// with a bound) and body decoding, re-encoding and decoding again.
func FuzzParseRequest(f *testing.F) {
	f.Add(unhex(f, "000f 78 b70b 4d 00 0006 0005 0002 6831 0000"))
	f.Add(unhex(f, "0007 7a 676f70686572"))
	f.Add(unhex(f, "0001 6e"))
	f.Add(unhex(f, "0001 64"))
	f.Add(unhex(f, "0001 6b"))
	f.Add(unhex(f, "0003 73 6162"))
	f.Add(unhex(f, "ffff 78"))
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		body, err := ReadRequest(bytes.NewReader(raw), DefaultMaxRequestSize)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) &&
				!errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if len(body) > DefaultMaxRequestSize || len(body) > len(raw) {
			t.Fatalf("body of %d bytes from %d input bytes", len(body), len(raw))
		}
		req, err := ParseRequest(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownRequest) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		_ = req.String()
		enc, err := AppendRequest(nil, req)
		if err != nil {
			t.Fatalf("re-encode %v: %v", req, err)
		}
		if !bytes.Equal(enc[2:], body) {
			t.Fatalf("re-encode: got %x; want %x", enc[2:], body)
		}
		req2, err := ParseRequest(enc[2:])
		if err != nil || !reflect.DeepEqual(req, req2) {
			t.Fatalf("decode again: %v %v; want %v", req2, err, req)
		}
	})
}

// fuzzConn is FuzzServerConn's connection: reads return the client's
// bytes and then io.EOF (a client that sent everything and half-closed
// its side), writes collect the server's answer, and deadlines are
// no-ops, so no input waits on a timer.
type fuzzConn struct {
	in            *bytes.Reader
	local, remote net.Addr

	mu     sync.Mutex // protects out and closed
	out    []byte
	closed bool
}

func (c *fuzzConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return 0, net.ErrClosed
	}
	return c.in.Read(p)
}

func (c *fuzzConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	c.out = append(c.out, p...)
	return len(p), nil
}

func (c *fuzzConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *fuzzConn) answer() ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out, c.closed
}

func (c *fuzzConn) LocalAddr() net.Addr              { return c.local }
func (c *fuzzConn) RemoteAddr() net.Addr             { return c.remote }
func (c *fuzzConn) SetDeadline(time.Time) error      { return nil }
func (c *fuzzConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fuzzConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzServerConn feeds arbitrary bytes, from a loopback peer, a peer on
// this host's own address or another host (peer % 3), to the server's
// connection handler over an in-memory connection that ends with the
// input. The handler must return (never hang or panic), close the
// connection, leave no registration behind, answer a well-formed request
// with a well-formed reply, and answer nothing else.
func FuzzServerConn(f *testing.F) {
	for _, seed := range []string{
		"000f 78 b70b 4d 00 0006 0005 0002 6831 0000",
		"000f 78 b70b 4d 00 0005 0005 0002 6831 0000",
		"0007 7a 676f70686572", "0001 6e", "0001 64", "0001 6b", "0003 73 6162", "0000", "ffff 78",
	} {
		for peer := range byte(3) {
			f.Add(peer, unhex(f, seed))
		}
	}
	f.Add(byte(0), []byte("GET / HTTP/1.0\r\n\r\n"))
	listen := func() *Server {
		s, err := ServerConfig{}.Listen(context.Background(), "127.0.0.1:0")
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	s := listen()
	defer func() { s.Close() }()
	f.Fuzz(func(t *testing.T, peer byte, raw []byte) {
		select {
		case <-s.Done(): // an accepted KILL_REQ closed it
			s.Close()
			s = listen()
		default:
		}
		here := net.IPv4(10, 0, 0, 1)
		remote := []net.IP{net.IPv4(127, 0, 0, 1), here, net.IPv4(192, 0, 2, 7)}[peer%3]
		c := &fuzzConn{
			in:     bytes.NewReader(raw),
			local:  &net.TCPAddr{IP: here, Port: s.Port()},
			remote: &net.TCPAddr{IP: remote, Port: 50000},
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		handled := make(chan struct{})
		go func() {
			defer close(handled)
			s.handle(c)
		}()
		select {
		case <-handled:
		case <-time.After(10 * time.Second):
			t.Fatal("handler still running after its input ended")
		}
		out, closed := c.answer()
		if !closed {
			t.Fatal("handler returned without closing the connection")
		}
		s.mu.Lock()
		_, kept := s.conns[c]
		s.mu.Unlock()
		if kept {
			t.Fatal("handler returned and left its connection in the table")
		}
		if n := len(s.Names()); n != 0 {
			t.Fatalf("%d registrations left after the connection closed", n)
		}

		body, err := ReadRequest(bytes.NewReader(raw), DefaultMaxRequestSize)
		var req Request
		if err == nil {
			req, err = ParseRequest(body)
		}
		local := peer%3 != 2
		switch {
		case err != nil, req.Code == ReqStop, req.Code == ReqAlive2 && !local:
			if len(out) != 0 {
				t.Fatalf("answered %x to %x", out, raw)
			}
		case req.Code == ReqAlive2:
			r, err := ParseAlive2Response(out)
			if err != nil {
				t.Fatalf("ALIVE2 answer %x: %v", out, err)
			}
			want := byte(RespAlive2X)
			if req.Alive2.High < 6 {
				want = RespAlive2
			}
			if r.Code != want || (r.Result == 0) != nameOK(req.Alive2.Name) {
				t.Fatalf("ALIVE2 %v answered %+v", req.Alive2, r)
			}
		case req.Code == ReqPortPlease2:
			if _, err := ParsePort2Response(out); !errors.Is(err, ErrNotFound) {
				t.Fatalf("PORT_PLEASE2 answer %x: %v; want not found", out, err)
			}
		case req.Code == ReqNames:
			port, names, err := ParseNamesResponse(out)
			if err != nil || int(port) != s.Port() || len(names) != 0 {
				t.Fatalf("NAMES answer %x: %d %v %v", out, port, names, err)
			}
		case req.Code == ReqDump:
			if len(out) < 5 || out[len(out)-1] != 0 || int(binary.BigEndian.Uint32(out)) != s.Port() {
				t.Fatalf("DUMP answer %x", out)
			}
		case req.Code == ReqKill:
			want := KillRefused
			if peer%3 == 0 {
				want = KillOK // loopback, no names registered
			}
			if string(out) != want {
				t.Fatalf("KILL answer %q; want %q", out, want)
			}
		}
	})
}
