package dist

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"
)

// TLSClient wraps nc (a TCP connection to the node peerNode) in a TLS
// client, as inet_tls_dist does. cfg is cloned; when its ServerName is
// empty it is set to the host part of peerNode (Erlang's SNI choice).
// Verification and client certificates (mTLS) are whatever cfg says.
// Pass the result to Dial, which then uses 4-byte handshake framing.
func TLSClient(nc net.Conn, cfg *tls.Config, peerNode string) *tls.Conn {
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = HostPart(peerNode)
	}
	return tls.Client(nc, cfg)
}

// TLSServer wraps an accepted nc in a TLS server with cfg (set ClientAuth
// and ClientCAs in cfg for mTLS). Pass the result to Accept.
func TLSServer(nc net.Conn, cfg *tls.Config) *tls.Conn {
	return tls.Server(nc, cfg)
}

// tlsHandshake runs the TLS handshake of a *tls.Conn before the
// distribution handshake, bounded by timeout and ctx.
func tlsHandshake(ctx context.Context, conn net.Conn, timeout time.Duration) error {
	tc, ok := conn.(*tls.Conn)
	if !ok {
		return nil
	}
	if timeout == 0 {
		timeout = DefaultHandshakeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("%w: tls: %w", ErrHandshakeTimeout, err)
		}
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) {
			// The first bytes from the peer are no TLS record: it speaks
			// the plain distribution. A plain client waits for a status:
			// give it a TLS alert, which it recognizes (see hsConn.recv).
			if rh.Conn != nil {
				rh.Conn.SetWriteDeadline(time.Now().Add(timeout))
				rh.Conn.Write(tlsAlert)
			}
			return fmt.Errorf("%w (%w)", ErrPeerNotTLS, err)
		}
		return fmt.Errorf("%w: %w", ErrTLSHandshake, err)
	}
	return nil
}

// tlsAlert is a fatal TLS alert record (TLS 1.2, unexpected_message), as
// a TLS server sends to a client that does not speak TLS.
var tlsAlert = []byte{recordAlert, 3, 3, 0, 2, 2, 10}

// TLS record types a TLS peer starts with: an alert (a server refusing
// what it read) or a handshake (a client's ClientHello).
const (
	recordAlert     = 0x15
	recordHandshake = 0x16
)

// looksLikeTLS reports whether the first two bytes a plain peer sent are
// the start of a TLS record: a record type and major version 3. As a
// plain handshake message length (2 bytes) they would be at least 5,123,
// above MaxHandshakeMessage: no legal message starts so.
func looksLikeTLS(b []byte) bool {
	return len(b) >= 2 && b[0] >= 0x14 && b[0] <= 0x17 && b[1] == 3
}
