package dist

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzHandshakeMessages feeds arbitrary bytes to every handshake parser:
// no panic, every failure is ErrMalformed, and whatever parses re-encodes
// to bytes that parse to the same value.
func FuzzHandshakeMessages(f *testing.F) {
	f.Add(goldenSendName)
	f.Add(AppendChallenge(nil, Challenge{Flags: DefaultFlags, Challenge: 1, Creation: 2, Name: "a@b"}))
	f.Add(AppendStatus(nil, Status{Text: StatusNamed, Name: "X@h", Creation: 3}))
	f.Add([]byte("sok"))
	f.Add(AppendChallengeReply(nil, ChallengeReply{Challenge: 7}))
	f.Add(AppendChallengeAck(nil, ChallengeAck{}))
	f.Add(AppendComplement(nil, Complement{FlagsHigh: 1, Creation: 2}))
	f.Add([]byte{'n', 0, 5, 0, 0, 0, 0, 'a', '@', 'b'})
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(name string, err error) {
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s: untyped error %v", name, err)
			}
		}
		if m, err := ParseSendName(b); err == nil {
			if m.Version == 6 && len(m.Name) <= 0xffff {
				m2, err := ParseSendName(AppendSendName(nil, m))
				if err != nil || m2 != m {
					t.Fatalf("send_name round trip: %+v -> %+v, %v", m, m2, err)
				}
			}
			ValidName(m.Name, m.Flags&NameMe != 0)
		} else {
			check("send_name", err)
		}
		if m, err := ParseChallenge(b); err == nil {
			m2, err := ParseChallenge(AppendChallenge(nil, m))
			if err != nil || m2 != m {
				t.Fatalf("challenge round trip: %+v -> %+v, %v", m, m2, err)
			}
		} else {
			check("challenge", err)
		}
		if m, err := ParseStatus(b); err == nil {
			m2, err := ParseStatus(AppendStatus(nil, m))
			if err != nil || m2 != m {
				t.Fatalf("status round trip: %+v -> %+v, %v", m, m2, err)
			}
		} else {
			check("status", err)
		}
		if m, err := ParseChallengeReply(b); err == nil {
			if !bytes.Equal(AppendChallengeReply(nil, m), b) {
				t.Fatal("challenge_reply round trip")
			}
		} else {
			check("challenge_reply", err)
		}
		if m, err := ParseChallengeAck(b); err == nil {
			if !bytes.Equal(AppendChallengeAck(nil, m), b) {
				t.Fatal("challenge_ack round trip")
			}
		} else {
			check("challenge_ack", err)
		}
		if m, err := ParseComplement(b); err == nil {
			if !bytes.Equal(AppendComplement(nil, m), b) {
				t.Fatal("complement round trip")
			}
		} else {
			check("complement", err)
		}
	})
}

// FuzzFrameReader reads frames from arbitrary bytes (split into leftover
// and stream): no panic, only typed errors, never more memory than the
// input justifies, and re-framing what was read reproduces the consumed input.
func FuzzFrameReader(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 3, 'a', 'b', 'c'}, uint8(2))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint8(0))
	f.Add([]byte{0, 0, 0, 9, 1, 2}, uint8(5))
	f.Fuzz(func(t *testing.T, b []byte, split uint8) {
		const max = 1 << 10
		s := int(split)
		if s > len(b) {
			s = len(b)
		}
		fr := NewFrameReader(bytes.NewReader(b[s:]), b[:s], max)
		var out []byte
		for {
			fb, err := fr.ReadFrame()
			if err != nil {
				if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("untyped error %v", err)
				}
				break
			}
			if len(fb) > max {
				t.Fatalf("frame of %d bytes above max", len(fb))
			}
			if cap(fr.buf) > len(b)+frameChunk {
				t.Fatalf("buffer of %d bytes for %d input bytes", cap(fr.buf), len(b))
			}
			out = AppendFrame(out, fb)
		}
		if !bytes.HasPrefix(b, out) {
			t.Fatalf("re-framed output is not a prefix of the input")
		}
	})
}

// FuzzAccept drives the acceptor with arbitrary initiator bytes: it must
// return (never panic or hang past its step timeout) with a typed error or
// a valid peer.
func FuzzAccept(f *testing.F) {
	f.Add(append([]byte{0, 20}, goldenSendName...))
	f.Add(append(append([]byte{0, 20}, goldenSendName...), 0, 21, 'r', 0, 0, 0, 1))
	f.Add([]byte{0, 3, 'n', 0, 5})
	f.Add([]byte{0x16, 3, 1, 0, 200, 1}) // a TLS ClientHello
	f.Fuzz(func(t *testing.T, b []byte) {
		c, s := net.Pipe()
		defer c.Close()
		go io.Copy(io.Discard, c)
		go func() { c.Write(b); c.Close() }()
		cfg := HandshakeConfig{Name: "b@h", Cookie: "c", Timeout: time.Second, IsAlive: func(string) PeerState { return PeerConnected }}
		p, _, err := Accept(context.Background(), s, cfg)
		if err == nil {
			if p == nil || ValidName(p.Name, false) != nil {
				t.Fatalf("accepted bad peer %+v", p)
			}
			return
		}
		for _, want := range []error{ErrMalformed, ErrBadName, ErrBadCookie, ErrMissingFlags, ErrRefused, ErrMessageTooLarge, ErrHandshakeTimeout, ErrTLSMismatch, io.ErrUnexpectedEOF, io.EOF, io.ErrClosedPipe} {
			if errors.Is(err, want) {
				return
			}
		}
		t.Fatalf("untyped error %v", err)
	})
}
