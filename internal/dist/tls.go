package dist

import (
	"context"
	"crypto/tls"
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
		return fmt.Errorf("%w: %w", ErrTLSHandshake, err)
	}
	return nil
}
