package hostile

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// The raw peer below speaks the distribution protocol by hand (section
// references are to Erlang's distribution protocol documentation), so
// that it can stop, lie or flood at any step. It does not use the
// module's own handshake code: the suite must not share a bug with it.

// Capability flags (DFLAG_* wire values).
const (
	flagDistHdrAtomCache uint64 = 0x2000
	flagFragments        uint64 = 0x800000
	// flagsHeader is what the module advertises for a hidden node:
	// OTP 26's mandatory set, monitors, SEND_SENDER, payload exits,
	// spawn, aliases, the atom cache and fragments.
	flagsHeader uint64 = 0xd07df2fbc
	// flagsPassThrough leaves out the atom cache and fragments, so that
	// every frame is pass-through (112, 131 Ctrl, 131 Msg).
	flagsPassThrough = flagsHeader &^ (flagDistHdrAtomCache | flagFragments)
)

// Control operations (section 5).
const (
	opLink      = 1
	opSend      = 2
	opRegSend   = 6
	opMonitorP  = 19
	opSendSndr  = 22
	opPayExit   = 24
	opPayMonExt = 28
)

var peerSeq atomic.Int64

// newPeerName returns a fresh node name for a raw peer.
func newPeerName(prefix string) string {
	return fmt.Sprintf("%s%d_%d@127.0.0.1", prefix, os.Getpid(), peerSeq.Add(1))
}

// writeHS writes one handshake message with its 2-byte length.
func writeHS(c net.Conn, msg []byte) error {
	c.SetWriteDeadline(time.Now().Add(distributetest.Scale(10 * time.Second)))
	_, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...))
	return err
}

// readHS reads one handshake message.
func readHS(r io.Reader, c net.Conn) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(distributetest.Scale(15 * time.Second)))
	var l [2]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint16(l[:]))
	_, err := io.ReadFull(r, b)
	return b, err
}

// sendName is a version-6 send_name ('N').
func sendName(flags uint64, creation uint32, name string) []byte {
	b := []byte{'N'}
	b = binary.BigEndian.AppendUint64(b, flags)
	b = binary.BigEndian.AppendUint32(b, creation)
	b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
	return append(b, name...)
}

// digest is MD5(cookie ++ decimal(challenge)).
func digest(challenge uint32, cookie string) []byte {
	d := md5.Sum([]byte(cookie + strconv.FormatUint(uint64(challenge), 10)))
	return d[:]
}

func random32() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// errNoAck: the node closed the connection after our challenge reply
// (its answer to a wrong digest).
var errNoAck = errors.New("no challenge_ack: the node closed the connection")

// handshakeUpTo runs the initiator's side of the handshake on c up to
// and including step: "status" (send_name sent, status read),
// "challenge" (challenge read), or "ack" (reply sent, ack read and
// checked). It returns the node's creation once the challenge is read.
func handshakeUpTo(c net.Conn, r io.Reader, step, name, ck string, flags uint64) (nodeCreation uint32, err error) {
	if err := writeHS(c, sendName(flags, random32()|1, name)); err != nil {
		return 0, fmt.Errorf("send_name: %w", err)
	}
	st, err := readHS(r, c)
	if err != nil {
		return 0, fmt.Errorf("status: %w", err)
	}
	if s := string(st); s != "sok" && s != "sok_simultaneous" {
		return 0, fmt.Errorf("status %q", s)
	}
	if step == "status" {
		return 0, nil
	}
	ch, err := readHS(r, c)
	if err != nil {
		return 0, fmt.Errorf("challenge: %w", err)
	}
	if len(ch) < 19 || ch[0] != 'N' {
		return 0, fmt.Errorf("challenge: malformed %x", ch)
	}
	challenge := binary.BigEndian.Uint32(ch[9:])
	nodeCreation = binary.BigEndian.Uint32(ch[13:])
	if step == "challenge" {
		return nodeCreation, nil
	}
	ours := random32()
	reply := append([]byte{'r'}, binary.BigEndian.AppendUint32(nil, ours)...)
	if err := writeHS(c, append(reply, digest(challenge, ck)...)); err != nil {
		return 0, fmt.Errorf("challenge_reply: %w", err)
	}
	ack, err := readHS(r, c)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
			return 0, errNoAck
		}
		return 0, fmt.Errorf("challenge_ack: %w", err)
	}
	if len(ack) != 17 || ack[0] != 'a' || !bytes.Equal(ack[1:], digest(ours, ck)) {
		return 0, fmt.Errorf("challenge_ack: bad %x", ack)
	}
	return nodeCreation, nil
}

// peer is a raw distribution peer connected to the target with a
// completed handshake.
type peer struct {
	tg     *target
	c      *net.TCPConn
	r      *bufio.Reader
	name   etf.Atom
	self   etf.Pid
	node   etf.Atom // the target's name
	nodeCr uint32   // the target's creation
	header bool     // header mode (atom cache and fragments negotiated)
}

// connect completes a handshake with the target as a hidden node with
// pass-through framing, or in header mode.
func (tg *target) connect(header bool) *peer {
	tg.t.Helper()
	p, err := tg.tryConnect(newPeerName("raw"), header)
	if err != nil {
		tg.t.Fatalf("handshake with the node: %v", err)
	}
	return p
}

func (tg *target) tryConnect(name string, header bool) (*peer, error) {
	c, err := dial(tg.distAddr())
	if err != nil {
		return nil, err
	}
	flags := flagsPassThrough
	if header {
		flags = flagsHeader
	}
	r := bufio.NewReaderSize(c, 64<<10)
	cr, err := handshakeUpTo(c, r, "ack", name, cookie, flags)
	if err != nil {
		c.Close()
		return nil, err
	}
	p := &peer{tg: tg, c: c, r: r, name: etf.Atom(name), node: etf.Atom(tg.name), nodeCr: cr, header: header,
		self: etf.Pid{Node: etf.Atom(name), ID: 1, Creation: 1}}
	tg.t.Cleanup(func() { c.Close() })
	return p, nil
}

// frame prefixes payload with its 4-byte length.
func frame(payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

// write writes raw bytes with a generous deadline.
func (p *peer) write(b []byte) error {
	p.c.SetWriteDeadline(time.Now().Add(distributetest.Scale(20 * time.Second)))
	_, err := p.c.Write(b)
	return err
}

// passThrough is a pass-through frame payload: 112, 131 ctrl, then msg
// (an encoded term with its version byte) when not nil.
func passThrough(ctrl etf.Tuple, msg []byte) []byte {
	b, err := etf.Append([]byte{112}, ctrl)
	if err != nil {
		panic(err)
	}
	return append(b, msg...)
}

// regSend is the control tuple of a REG_SEND from p to name.
func (p *peer) regSend(name etf.Atom) etf.Tuple {
	return etf.Tuple{int64(opRegSend), p.self, etf.Atom(""), name}
}

// deadPid is a pid on the target that no process has.
func (p *peer) deadPid(i int) etf.Pid {
	return etf.Pid{Node: p.node, ID: uint32(0x7000000 + i), Serial: 0, Creation: p.nodeCr}
}

// ref returns a reference made by p.
func (p *peer) ref(i int) etf.Ref {
	return etf.Ref{Node: p.name, Creation: 1, Len: 3, ID: [etf.MaxRefWords]uint32{uint32(i), 7, 9}}
}

// call returns a pass-through frame with a gen_server call to name whose
// request is req (an encoded term without its version byte), tagged
// with ref i.
func (p *peer) call(name etf.Atom, i int, req []byte) []byte {
	msg := []byte{131, 104, 3}
	msg, _ = etf.AppendTerm(msg, etf.Atom("$gen_call"))
	msg, _ = etf.AppendTerm(msg, etf.Tuple{p.self, p.ref(i)})
	return passThrough(p.regSend(name), append(msg, req...))
}

// readFrame returns the next non-empty frame (ticks are skipped) or an
// error once the deadline passes or the connection ends. Frames larger
// than 256 MiB are refused.
func (p *peer) readFrame(deadline time.Time) ([]byte, error) {
	p.c.SetReadDeadline(deadline)
	for {
		var l [4]byte
		if _, err := io.ReadFull(p.r, l[:]); err != nil {
			return nil, err
		}
		n := binary.BigEndian.Uint32(l[:])
		if n == 0 {
			continue
		}
		if n > 256<<20 {
			return nil, fmt.Errorf("frame of %d bytes", n)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(p.r, b); err != nil {
			return nil, err
		}
		return b, nil
	}
}

// awaitEcho waits for box's reply to a call whose request was req (an
// encoded term without version byte): a frame that ends with {Ref, Req}'s
// Req. Other frames are skipped.
func (p *peer) awaitEcho(req []byte, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		f, err := p.readFrame(deadline)
		if err != nil {
			return fmt.Errorf("no reply: %w", err)
		}
		if bytes.HasSuffix(f, req) {
			return nil
		}
	}
}

// awaitClosed reads (and drops) what the node sends until it closes the
// connection; an error if it is still open after timeout.
func (p *peer) awaitClosed(timeout time.Duration) error {
	return awaitClosed(p.c, timeout)
}

// awaitClosed reads c until EOF or a reset; an error if the deadline
// passes first.
func awaitClosed(c net.Conn, timeout time.Duration) error {
	c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 64<<10)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("still open after %v", timeout)
		}
		return nil // EOF, reset: closed by the node
	}
}
