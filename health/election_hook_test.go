package health

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/distribute-go/distribute/distributetest"
)

// The Election hook (the election's Conflict) makes a node unready while
// it reports an error, with the error as the check's detail.
func TestElectionHookMakesUnready(t *testing.T) {
	epmd := distributetest.StartEpmd(t)
	a := start(t, epmd)
	var conflict atomic.Pointer[error]
	chk, err := Start(context.Background(), a.node, Config{Membership: a.mem, EpmdAddr: epmdAddr(epmd), Election: func() error {
		if e := conflict.Load(); e != nil {
			return *e
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if code, r := get(t, chk.Readyz()); code != 200 || !r.OK {
		t.Fatalf("readyz without a conflict: %d %+v", code, r)
	}
	e := errors.New("election: another Raft cluster met this one")
	conflict.Store(&e)
	code, r := get(t, chk.Readyz())
	if code != 503 || r.OK || len(r.Failed()) != 1 || r.Failed()[0].Name != "election" || !strings.Contains(r.Failed()[0].Detail, "another Raft cluster") {
		t.Fatalf("readyz with a conflict: %d %+v; want 503 with the election check failed", code, r)
	}
	if code, r := get(t, chk.Healthz()); code != 200 || !r.OK {
		t.Fatalf("healthz with a conflict: %d %+v; want live", code, r)
	}
}
