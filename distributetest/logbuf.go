package distributetest

import (
	"strings"
	"sync"
)

// LogBuffer collects what a logger writes (slog.NewTextHandler(&buf,
// ...)) for a test to read while the code under test goes on logging: its
// methods are safe for concurrent use.
type LogBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Count returns how many times s occurs in what was written so far.
func (l *LogBuffer) Count(s string) int {
	return strings.Count(l.String(), s)
}
