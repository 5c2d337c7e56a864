package membership

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// Gossip encryption constants (wire values; see the package documentation).
const (
	// CryptVersion starts every sealed packet and stream frame.
	CryptVersion = 0x01

	// keySalt and keyInfo fix the HKDF derivation of the gossip key from
	// the cookie. Changing either changes every key: a wire change.
	keySalt = "distribute-go membership"
	keyInfo = "distribute-go membership gossip key v1"

	nonceSize = 12
	tagSize   = 16

	// PacketOverhead is what sealing adds to a gossip packet: version,
	// nonce and GCM tag.
	PacketOverhead = 1 + nonceSize + tagSize

	// frameHeaderSize is version + u32 length.
	frameHeaderSize = 5
	// maxFramePlain bounds the plaintext of one stream frame.
	maxFramePlain = 64 << 10

	// Stream directions in the frame AAD: frames the dialer writes and
	// frames the acceptor writes, so a frame cannot be reflected back.
	dirDial   = 'D'
	dirAccept = 'A'
)

// packetAAD binds a sealed packet to its role.
var packetAAD = []byte("distribute-go gossip packet v1")

// ErrAuth is wrapped when a gossip packet or stream frame does not
// authenticate: another cookie, corruption, or junk.
var ErrAuth = errors.New("membership: gossip does not authenticate")

// ErrFrame is wrapped when a stream frame header is malformed.
var ErrFrame = errors.New("membership: bad gossip frame")

// DeriveKey returns the 32-byte AES-256-GCM gossip key for a cookie:
// HKDF-SHA-256 with a fixed salt and info string. Nodes with the same
// cookie derive the same key; nodes with another cookie cannot read or
// forge gossip.
func DeriveKey(cookie string) ([]byte, error) {
	return hkdf.Key(sha256.New, []byte(cookie), []byte(keySalt), keyInfo, 32)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealPacket appends the sealed form of plain to dst:
// version, random nonce, ciphertext and tag.
func sealPacket(aead cipher.AEAD, dst, plain []byte) []byte {
	var nonce [nonceSize]byte
	rand.Read(nonce[:])
	return sealPacketNonce(aead, dst, nonce, plain)
}

func sealPacketNonce(aead cipher.AEAD, dst []byte, nonce [nonceSize]byte, plain []byte) []byte {
	dst = append(dst, CryptVersion)
	dst = append(dst, nonce[:]...)
	return aead.Seal(dst, nonce[:], plain, packetAAD)
}

// openPacket returns the plaintext of a sealed packet (a new slice).
func openPacket(aead cipher.AEAD, b []byte) ([]byte, error) {
	if len(b) < PacketOverhead {
		return nil, fmt.Errorf("%w: packet of %d bytes is shorter than the %d-byte envelope", ErrAuth, len(b), PacketOverhead)
	}
	if b[0] != CryptVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrAuth, b[0], CryptVersion)
	}
	plain, err := aead.Open(nil, b[1:1+nonceSize], b[1+nonceSize:], packetAAD)
	if err != nil {
		return nil, fmt.Errorf("%w: packet", ErrAuth)
	}
	return plain, nil
}

// secureConn seals a gossip stream: every Write becomes one or more
// frames, every frame read is opened and checked in order.
type secureConn struct {
	net.Conn
	aead       cipher.AEAD
	rdir, wdir byte
	counters   *counters

	rmu  sync.Mutex // protects rseq, rbuf, rerr
	rseq uint64
	rbuf []byte
	rerr error

	wmu  sync.Mutex // protects wseq, wbuf
	wseq uint64
	wbuf []byte
}

func newSecureConn(c net.Conn, aead cipher.AEAD, dialer bool, ctr *counters) *secureConn {
	s := &secureConn{Conn: c, aead: aead, counters: ctr}
	if dialer {
		s.rdir, s.wdir = dirAccept, dirDial
	} else {
		s.rdir, s.wdir = dirDial, dirAccept
	}
	return s
}

// frameAAD is the frame header, the direction and the sequence number.
func frameAAD(dst []byte, hdr []byte, dir byte, seq uint64) []byte {
	dst = append(dst, hdr...)
	dst = append(dst, dir)
	return binary.BigEndian.AppendUint64(dst, seq)
}

func (s *secureConn) Read(p []byte) (int, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	for len(s.rbuf) == 0 {
		if s.rerr != nil {
			return 0, s.rerr
		}
		if err := s.readFrameLocked(); err != nil {
			s.rerr = err
			return 0, err
		}
	}
	n := copy(p, s.rbuf)
	s.rbuf = s.rbuf[n:]
	return n, nil
}

// readFrameLocked reads and opens one frame into rbuf.
func (s *secureConn) readFrameLocked() error {
	var hdr [frameHeaderSize]byte
	if _, err := io.ReadFull(s.Conn, hdr[:]); err != nil {
		return err
	}
	if hdr[0] != CryptVersion {
		s.counters.dropped.Add(1)
		return fmt.Errorf("%w: version %d, want %d", ErrFrame, hdr[0], CryptVersion)
	}
	n := int(binary.BigEndian.Uint32(hdr[1:]))
	if n < nonceSize+tagSize || n > nonceSize+maxFramePlain+tagSize {
		s.counters.dropped.Add(1)
		return fmt.Errorf("%w: frame length %d outside [%d, %d]", ErrFrame, n, nonceSize+tagSize, nonceSize+maxFramePlain+tagSize)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(s.Conn, body); err != nil {
		return err
	}
	s.counters.streamIn.Add(uint64(frameHeaderSize + n))
	aad := frameAAD(make([]byte, 0, frameHeaderSize+9), hdr[:], s.rdir, s.rseq)
	plain, err := s.aead.Open(body[nonceSize:nonceSize], body[:nonceSize], body[nonceSize:], aad)
	if err != nil {
		s.counters.dropped.Add(1)
		return fmt.Errorf("%w: stream frame %d", ErrAuth, s.rseq)
	}
	s.rseq++
	s.rbuf = plain
	return nil
}

func (s *secureConn) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	written := 0
	for written < len(p) {
		chunk := p[written:]
		if len(chunk) > maxFramePlain {
			chunk = chunk[:maxFramePlain]
		}
		size := nonceSize + len(chunk) + tagSize
		buf := s.wbuf[:0]
		buf = append(buf, CryptVersion)
		buf = binary.BigEndian.AppendUint32(buf, uint32(size))
		aad := frameAAD(make([]byte, 0, frameHeaderSize+9), buf[:frameHeaderSize], s.wdir, s.wseq)
		buf = append(buf, make([]byte, nonceSize)...)
		nonce := buf[frameHeaderSize:]
		rand.Read(nonce)
		buf = s.aead.Seal(buf, nonce, chunk, aad)
		s.wbuf = buf
		if _, err := s.Conn.Write(buf); err != nil {
			return written, err
		}
		s.counters.streamOut.Add(uint64(len(buf)))
		s.wseq++
		written += len(chunk)
	}
	return written, nil
}

// counters are the transport's traffic statistics.
type counters struct {
	packetsIn, packetsOut atomic.Uint64
	bytesIn, bytesOut     atomic.Uint64
	streamIn, streamOut   atomic.Uint64
	streams               atomic.Uint64
	dropped               atomic.Uint64
}
