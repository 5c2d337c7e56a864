package membership

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
)

// slogWriter routes memberlist's log.Logger output into slog. Memberlist
// writes lines "[LEVEL] memberlist: text"; the level maps to slog's.
type slogWriter struct{ logger *slog.Logger }

func newStdLogger(l *slog.Logger) *log.Logger {
	return log.New(slogWriter{l.With("component", "memberlist")}, "", 0)
}

func (w slogWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimRight(p, "\n"))
	level := slog.LevelInfo
	if strings.HasPrefix(line, "[") {
		if i := strings.IndexByte(line, ']'); i > 0 {
			switch line[1:i] {
			case "DEBUG":
				level = slog.LevelDebug
			case "WARN":
				level = slog.LevelWarn
			case "ERR", "ERROR":
				level = slog.LevelError
			}
			line = strings.TrimSpace(line[i+1:])
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	if strings.HasPrefix(line, "Conflicting address for ") {
		// A name claimed from a new address: a restart on a new port or
		// a re-created pod, handled by claim (which warns when two live
		// processes keep claiming one name).
		level = slog.LevelInfo
	}
	w.logger.Log(context.Background(), level, line)
	return len(p), nil
}
