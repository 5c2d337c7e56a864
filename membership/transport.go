package membership

import (
	"context"
	"crypto/cipher"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// secureTransport wraps memberlist's UDP/TCP transport: it seals every
// packet and stream with the cookie-derived key (dropping what does not
// authenticate before memberlist sees it), counts traffic, and can hand
// memberlist a local in-memory stream to read its state table (snapshot).
type secureTransport struct {
	inner  *memberlist.NetTransport
	aead   cipher.AEAD
	logger *slog.Logger
	ctr    counters

	packets chan *memberlist.Packet
	streams chan net.Conn

	// block, set by tests only, drops packets to and from the gossip
	// addresses it reports and refuses dials to them: with the same on the
	// other side, an in-process network partition.
	block atomic.Pointer[func(addr string) bool]

	done      chan struct{} // closed when Shutdown starts
	innerDone chan struct{} // closed when the inner transport has shut down
	stopOnce  sync.Once
	wg        sync.WaitGroup
}

var _ memberlist.NodeAwareTransport = (*secureTransport)(nil)

func newSecureTransport(inner *memberlist.NetTransport, aead cipher.AEAD, logger *slog.Logger) *secureTransport {
	t := &secureTransport{
		inner:     inner,
		aead:      aead,
		logger:    logger,
		packets:   make(chan *memberlist.Packet),
		streams:   make(chan net.Conn),
		done:      make(chan struct{}),
		innerDone: make(chan struct{}),
	}
	t.wg.Add(2)
	go t.packetLoop()
	go t.streamLoop()
	return t
}

// packetLoop opens packets from the inner transport and hands them to
// memberlist. It drains the inner transport until that has shut down
// (its listeners block sending to it otherwise), dropping what arrives
// after done.
func (t *secureTransport) packetLoop() {
	defer t.wg.Done()
	in := t.inner.PacketCh()
	for {
		select {
		case p := <-in:
			if t.blocked(p.From.String()) {
				continue
			}
			t.ctr.packetsIn.Add(1)
			t.ctr.bytesIn.Add(uint64(len(p.Buf)))
			plain, err := openPacket(t.aead, p.Buf)
			if err != nil {
				t.ctr.dropped.Add(1)
				t.logger.Debug("gossip packet dropped", "from", p.From, "err", err)
				continue
			}
			select {
			case t.packets <- &memberlist.Packet{Buf: plain, From: p.From, Timestamp: p.Timestamp}:
			case <-t.done:
			}
		case <-t.innerDone:
			return
		}
	}
}

// streamLoop wraps accepted streams and hands them to memberlist, with
// packetLoop's draining rule.
func (t *secureTransport) streamLoop() {
	defer t.wg.Done()
	in := t.inner.StreamCh()
	for {
		select {
		case c := <-in:
			t.ctr.streams.Add(1)
			sc := newSecureConn(c, t.aead, false, &t.ctr)
			select {
			case t.streams <- sc:
			case <-t.done:
				c.Close()
			}
		case <-t.innerDone:
			return
		}
	}
}

func (t *secureTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return t.inner.FinalAdvertiseAddr(ip, port)
}

func (t *secureTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// blocked reports whether a test partitioned addr away.
func (t *secureTransport) blocked(addr string) bool {
	f := t.block.Load()
	return f != nil && (*f)(addr)
}

func (t *secureTransport) WriteToAddress(b []byte, addr memberlist.Address) (time.Time, error) {
	if t.blocked(addr.Addr) {
		return time.Now(), nil // lost on the way
	}
	sealed := sealPacket(t.aead, make([]byte, 0, len(b)+PacketOverhead), b)
	t.ctr.packetsOut.Add(1)
	t.ctr.bytesOut.Add(uint64(len(sealed)))
	return t.inner.WriteToAddress(sealed, addr)
}

func (t *secureTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

func (t *secureTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (t *secureTransport) DialAddressTimeout(addr memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.blocked(addr.Addr) {
		return nil, fmt.Errorf("dial %s: %w", addr.Addr, os.ErrDeadlineExceeded)
	}
	c, err := t.inner.DialAddressTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	t.ctr.streams.Add(1)
	return newSecureConn(c, t.aead, true, &t.ctr), nil
}

func (t *secureTransport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown stops the inner transport and the forwarding goroutines. It is
// idempotent.
func (t *secureTransport) Shutdown() error {
	var err error
	t.stopOnce.Do(func() {
		close(t.done)
		err = t.inner.Shutdown()
		close(t.innerDone)
		t.wg.Wait()
	})
	return err
}

// maxSnapshot bounds the state table read from memberlist.
const maxSnapshot = 16 << 20

// pushPullRequest is memberlist's push/pull message (type 6) with an
// empty state: the msgpack map {"Nodes": 0, "UserStateLen": 0,
// "Join": false}. Memberlist answers with its full node table and merges
// nothing.
var pushPullRequest = []byte{
	6,
	0x83,
	0xa5, 'N', 'o', 'd', 'e', 's', 0x00,
	0xac, 'U', 's', 'e', 'r', 'S', 't', 'a', 't', 'e', 'L', 'e', 'n', 0x00,
	0xa4, 'J', 'o', 'i', 'n', 0xc2,
}

// snapshot reads memberlist's own node table, with every node's state
// (alive, suspect, dead, left) and incarnation, by handing it an
// in-memory stream carrying an empty push/pull request. This is the only
// race-free way to read suspicion and incarnations from memberlist v0.6:
// its Members() hides both (Node.State is never set there). The format is
// memberlist's private one: the tests pin the release it was checked
// against (TestSnapshotFormatPinned) and read every state from the real
// memberlist (TestSnapshotStatesFromMemberlist).
func (t *secureTransport) snapshot(ctx context.Context) ([]nodeRecord, error) {
	b, err := t.snapshotRaw(ctx)
	if err != nil {
		return nil, err
	}
	return parsePushPull(b)
}

// snapshotRaw returns memberlist's push/pull answer as it wrote it.
func (t *secureTransport) snapshotRaw(ctx context.Context) ([]byte, error) {
	local, remote := net.Pipe()
	defer local.Close()
	select {
	case t.streams <- remote:
	case <-t.done:
		remote.Close()
		return nil, ErrClosed
	case <-ctx.Done():
		remote.Close()
		return nil, ctx.Err()
	}
	deadline := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	local.SetDeadline(deadline)
	if _, err := local.Write(pushPullRequest); err != nil {
		return nil, fmt.Errorf("membership: state snapshot: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(local, maxSnapshot+1))
	if err != nil {
		return nil, fmt.Errorf("membership: state snapshot: %w", err)
	}
	if len(b) > maxSnapshot {
		return nil, fmt.Errorf("%w: over %d bytes", ErrSnapshot, maxSnapshot)
	}
	return b, nil
}
