package registry

import (
	"log/slog"
	"math/big"
	"strings"
	"testing"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/distribute-go/distribute/etf"
)

// TestJunkCastIsLoggedBounded: a cast to global_name_server holding a 2 MiB
// integer (legal, slow to print in decimal) is logged at debug with its
// term cut to etf.LogTextMax bytes, printed in work bounded by that size;
// the server goes on answering. Printed whole, it once stalled the server
// 3.8 s.
func TestJunkCastIsLoggedBounded(t *testing.T) {
	port := distributetest.StartEpmd(t)
	a, b := startNode(t, port), startNode(t, port)
	var logs distributetest.LogBuffer
	startServer(t, a, Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	sb := startServer(t, b)
	p := newProc(t, b)
	junk := new(big.Int).Lsh(big.NewInt(1), 16<<20)
	cast := etf.Tuple{distribute.Atom("$gen_cast"), etf.Tuple{distribute.Atom("junk"), junk}}
	if err := p.SendName(testCtx(t), ServerName, a.Name(), cast); err != nil {
		t.Fatal(err)
	}
	if err := sb.Register(testCtx(t), "after_junk", p.Pid()); err != nil {
		t.Fatalf("register after the junk cast: %v", err)
	}
	distributetest.WaitFor(t, "the junk cast in the log", func() bool { return strings.Contains(logs.String(), "registry: dropped cast") })
	for _, line := range strings.Split(logs.String(), "\n") {
		if len(line) > etf.LogTextMax+512 {
			t.Errorf("a log line of %d bytes: %.200s...", len(line), line)
		}
	}
}
