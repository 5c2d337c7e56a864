package membership_test

import (
	"fmt"
	"time"

	"github.com/distribute-go/distribute/membership"
)

// The detection bound each profile gives, for 5 and 20 members, with the
// default StatusInterval (ProbeInterval/2).
func ExampleProfile_DetectionBound() {
	for _, p := range []membership.Profile{membership.LAN(), membership.Local()} {
		min, max := p.SuspicionTimeout(5)
		fmt.Printf("%-5s probe %v, suspicion %v..%v, bound N=5 %v, N=20 %v\n", p.Name, p.ProbeInterval, min, max,
			p.DetectionBound(5, p.ProbeInterval/2).Round(10*time.Millisecond),
			p.DetectionBound(20, p.ProbeInterval/2).Round(10*time.Millisecond))
	}
	// Output:
	// lan   probe 1s, suspicion 4s..24s, bound N=5 27.5s, N=20 35.52s
	// local probe 200ms, suspicion 800ms..2.4s, bound N=5 3.15s, N=20 4.07s
}
