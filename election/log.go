package election

import (
	"context"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// hclogAdapter routes Raft's hclog output into slog. hclog's Trace maps
// to slog Debug-4; its key/value args pass through.
type hclogAdapter struct {
	l     *slog.Logger
	name  string
	args  []any
	level hclog.Level
}

func newHCLog(l *slog.Logger) hclog.Logger {
	return &hclogAdapter{l: l.With("component", "raft"), name: "raft", level: hclog.Debug}
}

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// quiet lists Raft messages logged at Warn or Error that are routine in a
// cluster: the transport failures that repeat while a peer is down
// (several a second, for as long as it stays in the configuration) go to
// Debug; the steps of an election, a start before bootstrap, a follower
// catching up, go to Info. None of them needs an operator: the election's
// own `leader` changes and warnings say what matters.
var quiet = map[string]hclog.Level{
	"failed to heartbeat to":                              hclog.Debug,
	"failed to appendEntries to":                          hclog.Debug,
	"failed to contact":                                   hclog.Debug,
	"failed to make requestVote RPC":                      hclog.Debug,
	"failed to send snapshot to":                          hclog.Debug,
	"no known peers, aborting election":                   hclog.Info,
	"not part of stable configuration, aborting election": hclog.Info,
	"heartbeat timeout reached, starting election":        hclog.Info,
	"heartbeat timeout reached, not part of a stable configuration or a non-voter, not triggering a leader election": hclog.Info,
	"Election timeout reached, restarting election":                                                                  hclog.Info,
	"new leader elected, stepping down":                                                                              hclog.Info,
	"peer has newer term, stopping replication":                                                                      hclog.Info,
	"appendEntries rejected, sending older logs":                                                                     hclog.Info,
	"failed to get previous log":                                                                                     hclog.Info,
	"previous log term mis-match":                                                                                    hclog.Info,
	"duplicate requestVote from":                                                                                     hclog.Info,
	"rejecting vote request since we have a leader":                                                                  hclog.Info,
	"rejecting vote request since our last term is greater":                                                          hclog.Info,
	"rejecting vote request since our last index is greater":                                                         hclog.Info,
	"rejecting vote request since node is not a voter":                                                               hclog.Info,
	"rejecting pre-vote request since we have a leader":                                                              hclog.Info,
	"rejecting pre-vote request since our last term is greater":                                                      hclog.Info,
	"rejecting pre-vote request since our last index is greater":                                                     hclog.Info,
	"rejecting pre-vote request since node is not a voter":                                                           hclog.Info,
}

func (h *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off || level < h.level {
		return
	}
	if q, ok := quiet[msg]; ok && level > q {
		level = q
	}
	lv := slogLevel(level)
	ctx := context.Background()
	if !h.l.Enabled(ctx, lv) {
		return
	}
	h.l.Log(ctx, lv, msg, append(h.args[:len(h.args):len(h.args)], args...)...)
}

func (h *hclogAdapter) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogAdapter) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogAdapter) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hclogAdapter) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogAdapter) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hclogAdapter) enabled(l hclog.Level) bool {
	return l >= h.level && h.l.Enabled(context.Background(), slogLevel(l))
}

func (h *hclogAdapter) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *hclogAdapter) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *hclogAdapter) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *hclogAdapter) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *hclogAdapter) IsError() bool { return h.enabled(hclog.Error) }

func (h *hclogAdapter) ImpliedArgs() []any { return h.args }

func (h *hclogAdapter) With(args ...any) hclog.Logger {
	c := *h
	c.args = append(h.args[:len(h.args):len(h.args)], args...)
	return &c
}

func (h *hclogAdapter) Name() string { return h.name }

func (h *hclogAdapter) Named(name string) hclog.Logger {
	c := *h
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	c.l = h.l.With("logger", c.name)
	return &c
}

func (h *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	c.l = h.l.With("logger", name)
	return &c
}

func (h *hclogAdapter) SetLevel(l hclog.Level) { h.level = l }
func (h *hclogAdapter) GetLevel() hclog.Level  { return h.level }

func (h *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return stdWriter{h}
}

// stdWriter takes lines "[LEVEL] text" from a standard logger.
type stdWriter struct{ h *hclogAdapter }

func (w stdWriter) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	level := hclog.Info
	if strings.HasPrefix(line, "[") {
		if i := strings.IndexByte(line, ']'); i > 0 {
			if l := hclog.LevelFromString(line[1:i]); l != hclog.NoLevel {
				level = l
			}
			line = strings.TrimSpace(line[i+1:])
		}
	}
	w.h.Log(level, line)
	return len(p), nil
}
