package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/distribute-go/distribute"
	"github.com/spf13/cobra"
)

// defaultTimeout is --timeout's default.
const defaultTimeout = 5 * time.Second

// common holds the flags every node-facing command shares.
type common struct {
	cookie   string
	epmdPort int
	tlsCert  string
	tlsKey   string
	tlsCA    string
	timeout  time.Duration

	logLevel  string
	logFormat string
	// cmd is the command the flags belong to: logs go to its stderr.
	cmd *cobra.Command
}

// addCommonFlags registers --cookie, --epmd-port, the TLS flags and, when
// withTimeout, --timeout on cmd.
func (c *common) addFlags(cmd *cobra.Command, withTimeout bool) {
	f := cmd.Flags()
	f.StringVar(&c.cookie, "cookie", "", "the cookie (default $DISTRIBUTE_COOKIE, else ~/.erlang.cookie)")
	f.IntVar(&c.epmdPort, "epmd-port", 0, "epmd port (default $ERL_EPMD_PORT, else 4369)")
	f.StringVar(&c.tlsCert, "tls-cert", "", "TLS distribution: this node's certificate (PEM)")
	f.StringVar(&c.tlsKey, "tls-key", "", "TLS distribution: this node's private key (PEM)")
	f.StringVar(&c.tlsCA, "tls-ca", "", "TLS distribution: CA certificates (PEM) peers must be signed by (mTLS)")
	if withTimeout {
		f.DurationVar(&c.timeout, "timeout", defaultTimeout, "how long to wait for a remote answer")
	}
	f.StringVar(&c.logLevel, "log-level", "warn", "the node's logs on stderr from this level: debug, info, warn or error")
	f.StringVar(&c.logFormat, "log-format", "text", "the logs' format: text (key=value) or json (one object a line)")
	c.cmd = cmd
}

// logger builds the node's logger from --log-level and --log-format: to
// the command's stderr, with correlation ids (distribute.LogHandler).
func (c *common) logger() (*slog.Logger, error) {
	var level slog.Level
	switch c.logLevel {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warn", "":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, usageError("--log-level %q: want debug, info, warn or error", c.logLevel)
	}
	var w io.Writer = os.Stderr
	if c.cmd != nil {
		w = c.cmd.ErrOrStderr()
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch c.logFormat {
	case "text", "":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, usageError("--log-format %q: want text or json", c.logFormat)
	}
	return slog.New(distribute.LogHandler(h)), nil
}

// resolveCookie applies the cookie rules of the CLI contract.
func (c *common) resolveCookie() (string, error) {
	if c.cookie != "" {
		return c.cookie, nil
	}
	if v := os.Getenv("DISTRIBUTE_COOKIE"); v != "" {
		return v, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		if b, err := os.ReadFile(filepath.Join(home, ".erlang.cookie")); err == nil {
			if s := strings.TrimSpace(string(b)); s != "" {
				return s, nil
			}
		}
	}
	return "", usageError("no cookie: pass --cookie, set DISTRIBUTE_COOKIE or write ~/.erlang.cookie")
}

// resolveEpmdPort applies --epmd-port, then $ERL_EPMD_PORT, then 4369.
func (c *common) resolveEpmdPort() (int, error) {
	if c.epmdPort != 0 {
		if c.epmdPort < 0 || c.epmdPort > 65535 {
			return 0, usageError("--epmd-port %d: out of range", c.epmdPort)
		}
		return c.epmdPort, nil
	}
	if s := os.Getenv("ERL_EPMD_PORT"); s != "" {
		p, err := strconv.Atoi(s)
		if err != nil || p <= 0 || p > 65535 {
			return 0, usageError("ERL_EPMD_PORT=%q: not a port", s)
		}
		return p, nil
	}
	return 4369, nil // epmd's port
}

// tlsConfig builds the TLS configuration from the flags, or nil.
func (c *common) tlsConfig() (*tls.Config, error) {
	if c.tlsCert == "" && c.tlsKey == "" && c.tlsCA == "" {
		return nil, nil
	}
	if c.tlsCert == "" || c.tlsKey == "" {
		return nil, usageError("TLS needs both --tls-cert and --tls-key")
	}
	cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
	if err != nil {
		return nil, usageError("TLS certificate: %v", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.tlsCA == "" {
		// No CA: encrypt, but do not verify (like verify_none in Erlang).
		cfg.InsecureSkipVerify = true
		return cfg, nil
	}
	pem, err := os.ReadFile(c.tlsCA)
	if err != nil {
		return nil, usageError("--tls-ca: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, usageError("--tls-ca %s: no PEM certificates", c.tlsCA)
	}
	cfg.RootCAs = pool
	cfg.ClientCAs = pool
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	return cfg, nil
}

// nodeConfig builds the node configuration shared by all commands.
func (c *common) nodeConfig(name string) (distribute.Config, error) {
	cookie, err := c.resolveCookie()
	if err != nil {
		return distribute.Config{}, err
	}
	port, err := c.resolveEpmdPort()
	if err != nil {
		return distribute.Config{}, err
	}
	tc, err := c.tlsConfig()
	if err != nil {
		return distribute.Config{}, err
	}
	logger, err := c.logger()
	if err != nil {
		return distribute.Config{}, err
	}
	return distribute.Config{Name: name, Cookie: cookie, EpmdPort: port, TLS: tc, Logger: logger}, nil
}

// checkNodeName validates a node name argument (exit 2 when bad).
func checkNodeName(name string) error {
	if _, _, _, err := distribute.ParseNodeName(name); err != nil {
		return usageError("bad node name %q: want alive@host", name)
	}
	return nil
}

// startClient starts the short-lived hidden node of a one-shot command: a
// generated name of the same style as target, never registered with epmd.
func (c *common) startClient(ctx context.Context, target string) (*distribute.Node, error) {
	if err := checkNodeName(target); err != nil {
		return nil, err
	}
	_, host, _, _ := distribute.ParseNodeName(target)
	var b [4]byte
	rand.Read(b[:])
	cfg, err := c.nodeConfig("distribute-cli-" + hex.EncodeToString(b[:]) + "@" + host)
	if err != nil {
		return nil, err
	}
	cfg.ClientOnly = true
	cfg.Visibility = distribute.Hidden
	n, err := distribute.Start(ctx, cfg)
	if err != nil {
		return nil, remoteError(err)
	}
	return n, nil
}

// withTimeout returns a context bounded by --timeout.
func (c *common) withTimeout(parent context.Context) (context.Context, context.CancelFunc) {
	if c.timeout <= 0 {
		return context.WithCancel(parent)
	}
	return context.WithTimeout(parent, c.timeout)
}

// describe turns a library error into the reason the CLI prints after
// what the command did: timeout, noproc, or the library's error text. The
// library prefixes every error of its chain with its package name
// ("distribute: ping X: distribute: call ...: distribute: node down"); the
// CLI's line says "distribute:" once, so the text goes without them.
func describe(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, distribute.ErrTimeout):
		return "timeout"
	case errors.Is(err, distribute.ErrNoProc):
		return "noproc"
	}
	return strings.ReplaceAll(strings.TrimPrefix(err.Error(), pkgPrefix), ": "+pkgPrefix, ": ")
}

// pkgPrefix starts the library's errors and the CLI's error line.
const pkgPrefix = "distribute: "

// failed reports that op (what the command did, "ping a@h") got no result
// because of err (exit 1). A library error that already starts with op
// does not say it twice.
func failed(op string, err error) error {
	return remoteError(fmt.Errorf("%s: %s", op, strings.TrimPrefix(describe(err), op+": ")))
}

// stopNode stops a client node, bounded so the command always exits.
func stopNode(n *distribute.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n.Stop(ctx)
}
