package epmd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"reflect"
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

// FuzzServerConn feeds arbitrary bytes to the server's connection handler
// over an in-memory pipe: it must answer or close, never hang or panic, and
// leave no registration behind once the connection is gone.
func FuzzServerConn(f *testing.F) {
	f.Add(unhex(f, "000f 78 b70b 4d 00 0006 0005 0002 6831 0000"))
	f.Add(unhex(f, "0007 7a 676f70686572"))
	f.Add(unhex(f, "0001 6e"))
	f.Add(unhex(f, "0001 64"))
	f.Add(unhex(f, "0001 6b"))
	f.Add(unhex(f, "0003 73 6162"))
	f.Add([]byte("GET / HTTP/1.0\r\n\r\n"))
	s, err := ServerConfig{ReadTimeout: time.Second}.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Fuzz(func(t *testing.T, raw []byte) {
		client, server := net.Pipe()
		s.mu.Lock()
		s.conns[server] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		handled := make(chan struct{})
		go func() {
			defer close(handled)
			s.handle(server)
		}()
		go func() {
			client.Write(raw) // fails once the handler closes
		}()
		client.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		io.Copy(io.Discard, client) // until the handler closes or the deadline
		client.Close()
		select {
		case <-handled:
		case <-time.After(5 * time.Second):
			t.Fatal("handler still running after the client closed")
		}
		if n := len(s.Names()); n != 0 {
			t.Fatalf("%d registrations left after the connection closed", n)
		}
	})
}
