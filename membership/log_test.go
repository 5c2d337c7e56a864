package membership

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestMemberlistLogsGoToSlog(t *testing.T) {
	var buf bytes.Buffer
	l := newStdLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Printf("[DEBUG] memberlist: Stream connection from=%s", "127.0.0.1:1")
	l.Printf("[WARN] memberlist: Refuting a suspect message (from: %s)", "b")
	l.Printf("[ERR] memberlist: Failed to send")
	l.Printf("no level at all")
	l.Printf("[ERR] memberlist: Conflicting address for b. Mine: 127.0.0.1:1 Theirs: 127.0.0.1:2 Old state: 1")
	got := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		`level=DEBUG msg="Stream connection from=127.0.0.1:1" component=memberlist`,
		`level=WARN msg="Refuting a suspect message (from: b)" component=memberlist`,
		`level=ERROR msg="Failed to send" component=memberlist`,
		`level=INFO msg="no level at all" component=memberlist`,
		// A name claimed from a new address is routine (a restart on a
		// new port); claim warns if it lasts.
		`level=INFO msg="Conflicting address for b. Mine: 127.0.0.1:1 Theirs: 127.0.0.1:2 Old state: 1" component=memberlist`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d lines:\n%s", len(got), buf.String())
	}
	for i := range want {
		if _, rest, _ := strings.Cut(got[i], " "); rest != want[i] {
			t.Errorf("line %d: %q; want %q", i, rest, want[i])
		}
	}
}
