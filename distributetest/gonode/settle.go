package gonode

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/distribute-go/distribute/distributetest"
)

// lingering are memberlist functions whose goroutines outlive
// Memberlist.Shutdown by design: a probe in flight waits for its ack
// timer (a probe interval, stretched by Lifeguard under load) and then
// ends on its own.
var lingering = [][]byte{
	[]byte("hashicorp/memberlist.(*Memberlist).probeNode("),
	[]byte("hashicorp/memberlist.(*Memberlist).sendPingAndWaitForAck("),
}

// Settled wraps m for goleak.VerifyTestMain: after the tests it waits
// until no memberlist probe is in flight any more (at most a scaled 30 s)
// so the leak check sees what is left for good, not a probe about to end.
func Settled(m *testing.M) Runner { return settled{m} }

// Runner is what goleak.VerifyTestMain runs.
type Runner interface{ Run() int }

type settled struct{ m *testing.M }

func (s settled) Run() int {
	code := s.m.Run()
	deadline := time.Now().Add(distributetest.Scale(30 * time.Second))
	buf := make([]byte, 1<<20)
	for time.Now().Before(deadline) {
		for {
			n := runtime.Stack(buf, true)
			if n < len(buf) {
				buf = buf[:n]
				break
			}
			buf = make([]byte, 2*len(buf))
		}
		busy := false
		for _, f := range lingering {
			if bytes.Contains(buf, f) {
				busy = true
			}
		}
		if !busy {
			break
		}
		buf = buf[:cap(buf)]
		time.Sleep(50 * time.Millisecond)
	}
	return code
}
