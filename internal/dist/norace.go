//go:build !race

package dist

// raceReleaseIO and raceAcquireIO tell the race detector about the
// ordering a connection's bytes carry (see race.go); without it, nothing.
func raceReleaseIO() {}
func raceAcquireIO() {}
