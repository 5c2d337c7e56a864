package membership

import (
	"bytes"
	"crypto/cipher"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testAEAD(t testing.TB, cookie string) cipher.AEAD {
	t.Helper()
	k, err := DeriveKey(cookie)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newAEAD(k)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var seqNonce = [nonceSize]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}

// The golden values in doc.go, checked independently with Python's hmac
// (HKDF) and cryptography (AES-GCM).
func TestCryptGolden(t *testing.T) {
	k, err := DeriveKey("secret")
	if err != nil {
		t.Fatal(err)
	}
	if want := mustHex(t, "d5b2ce62db9836181537ab4a56be089e17c9719bfec1c095668d891d3d582598"); !bytes.Equal(k, want) {
		t.Fatalf("DeriveKey(secret) = %x; want %x", k, want)
	}
	a := testAEAD(t, "secret")
	pkt := sealPacketNonce(a, nil, seqNonce, []byte("hi"))
	if want := mustHex(t, "01000102030405060708090a0bdef6d0d0e1093b796189f8c1163f25be3f54"); !bytes.Equal(pkt, want) {
		t.Fatalf("sealed packet %x; want %x", pkt, want)
	}
	if p, err := openPacket(a, pkt); err != nil || string(p) != "hi" {
		t.Fatalf("openPacket = %q, %v", p, err)
	}
	// A dialer's first frame, read by the acceptor.
	frame := mustHex(t, "010000001e000102030405060708090a0bdef60a605ab67d9abf3ff39cecb075af7648")
	c1, c2 := net.Pipe()
	defer c1.Close()
	go func() { c2.Write(frame); c2.Close() }()
	var ctr counters
	got, err := io.ReadAll(newSecureConn(c1, a, false, &ctr))
	if err != nil || string(got) != "hi" {
		t.Fatalf("frame read %q, %v", got, err)
	}
}

func TestPacketRejects(t *testing.T) {
	a, b := testAEAD(t, "one"), testAEAD(t, "two")
	pkt := sealPacket(a, nil, []byte("gossip"))
	if _, err := openPacket(b, pkt); !errors.Is(err, ErrAuth) {
		t.Errorf("other cookie: %v; want ErrAuth", err)
	}
	for i := range pkt {
		bad := bytes.Clone(pkt)
		bad[i] ^= 0x40
		if _, err := openPacket(a, bad); !errors.Is(err, ErrAuth) {
			t.Errorf("flipped byte %d: %v; want ErrAuth", i, err)
		}
	}
	if _, err := openPacket(a, pkt[:PacketOverhead-1]); !errors.Is(err, ErrAuth) {
		t.Errorf("short: %v", err)
	}
}

// pipePair returns a dialer and an acceptor end of a sealed stream.
func pipePair(t testing.TB, da, aa cipher.AEAD) (dial, acc *secureConn) {
	c1, c2 := net.Pipe()
	t.Cleanup(func() { c1.Close(); c2.Close() })
	var ctr counters
	return newSecureConn(c1, da, true, &ctr), newSecureConn(c2, aa, false, &ctr)
}

func TestStreamRoundTrip(t *testing.T) {
	a := testAEAD(t, "c")
	d, acc := pipePair(t, a, a)
	big := bytes.Repeat([]byte("0123456789abcdef"), 10000) // 160 000 bytes: three frames
	go func() {
		d.Write(big)
		d.Write([]byte("tail"))
		got := make([]byte, 5)
		io.ReadFull(d, got)
		d.Write(got)
		d.Close()
	}()
	buf := make([]byte, len(big)+4)
	if _, err := io.ReadFull(acc, buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf[:len(big)], big) || string(buf[len(big):]) != "tail" {
		t.Fatal("stream round trip changed the bytes")
	}
	acc.Write([]byte("reply"))
	echo := make([]byte, 5)
	if _, err := io.ReadFull(acc, echo); err != nil || string(echo) != "reply" {
		t.Fatalf("echo %q, %v", echo, err)
	}
}

func TestStreamRejects(t *testing.T) {
	a := testAEAD(t, "c")
	// Another cookie.
	d, acc := pipePair(t, testAEAD(t, "other"), a)
	go d.Write([]byte("hello"))
	if _, err := acc.Read(make([]byte, 10)); !errors.Is(err, ErrAuth) {
		t.Errorf("other cookie: %v; want ErrAuth", err)
	}
	// A frame reflected back to its writer (direction check).
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	var ctr counters
	w := newSecureConn(c1, a, true, &ctr)
	raw := make(chan []byte, 1)
	go func() {
		b := make([]byte, 100)
		n, _ := c2.Read(b)
		raw <- b[:n]
	}()
	go w.Write([]byte("x"))
	frame := <-raw
	r1, r2 := net.Pipe()
	defer r1.Close()
	go func() { r2.Write(frame); r2.Close() }()
	if _, err := newSecureConn(r1, a, true, &ctr).Read(make([]byte, 10)); !errors.Is(err, ErrAuth) {
		t.Errorf("reflected frame: %v; want ErrAuth", err)
	}
	// A frame replayed (sequence check).
	p1, p2 := net.Pipe()
	defer p1.Close()
	go func() { p2.Write(frame); p2.Write(frame); p2.Close() }()
	rd := newSecureConn(p1, a, false, &ctr)
	if _, err := rd.Read(make([]byte, 10)); err != nil {
		t.Fatalf("first frame: %v", err)
	}
	if _, err := rd.Read(make([]byte, 10)); !errors.Is(err, ErrAuth) {
		t.Errorf("replayed frame: %v; want ErrAuth", err)
	}
	// Oversized and bad-version headers fail before any allocation.
	for _, hdr := range [][]byte{{1, 0xff, 0xff, 0xff, 0xff}, {2, 0, 0, 0, 40}, {1, 0, 0, 0, 3}} {
		h1, h2 := net.Pipe()
		go func() { h2.Write(hdr); h2.Close() }()
		if _, err := newSecureConn(h1, a, false, &ctr).Read(make([]byte, 10)); !errors.Is(err, ErrFrame) {
			t.Errorf("header %x: %v; want ErrFrame", hdr, err)
		}
		h1.Close()
	}
}

// FuzzOpen feeds arbitrary bytes to the packet opener and the stream
// reader: they must fail with typed errors (or io errors at the end of
// the input), never panic.
func FuzzOpen(f *testing.F) {
	a := testAEAD(f, "secret")
	f.Add(mustHex(f, "01000102030405060708090a0bdef6d0d0e1093b796189f8c1163f25be3f54"))
	f.Add(mustHex(f, "010000001e000102030405060708090a0bdef60a605ab67d9abf3ff39cecb075af7648"))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := openPacket(a, b); err == nil {
			// Authentic: re-seal and open again.
			again, err := openPacket(a, sealPacket(a, nil, p))
			if err != nil || !bytes.Equal(again, p) {
				t.Fatalf("re-seal of an authentic packet: %v", err)
			}
		} else if !errors.Is(err, ErrAuth) {
			t.Fatalf("untyped error %v", err)
		}
		c1, c2 := net.Pipe()
		defer c1.Close()
		go func() { c2.Write(b); c2.Close() }()
		var ctr counters
		_, err := io.ReadAll(newSecureConn(c1, a, false, &ctr))
		if err != nil && !errors.Is(err, ErrAuth) && !errors.Is(err, ErrFrame) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("stream error %v", err)
		}
	})
}

func BenchmarkSealOpenPacket(b *testing.B) {
	a := testAEAD(b, "secret")
	plain := make([]byte, 1400-PacketOverhead)
	buf := make([]byte, 0, 1400)
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	for b.Loop() {
		pkt := sealPacket(a, buf[:0], plain)
		if _, err := openPacket(a, pkt); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTransportShutdownWhileBlocked: a packet waits to be handed to
// memberlist (which is not reading) and another waits inside memberlist's
// UDP listener; Shutdown must still return.
func TestTransportShutdownWhileBlocked(t *testing.T) {
	a := testAEAD(t, "c")
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, BindPort: 0, Logger: newStdLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	tr := newSecureTransport(nt, a, slog.New(slog.DiscardHandler))
	u, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", nt.GetAutoBindPort()))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	blocked := func() bool {
		buf := make([]byte, 1<<20)
		st := string(buf[:runtime.Stack(buf, true)])
		for _, g := range strings.Split(st, "\n\n") {
			if strings.Contains(g, "[chan send") && strings.Contains(g, "udpListen") {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(10 * time.Second)
	for !blocked() {
		if time.Now().After(deadline) {
			t.Fatal("the UDP listener never blocked")
		}
		u.Write(sealPacket(a, nil, []byte("x")))
		time.Sleep(time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { done <- tr.Shutdown() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown hung")
	}
}
