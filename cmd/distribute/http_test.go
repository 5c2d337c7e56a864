package main

import (
	"os"
	"testing"
)

func TestHostGuard(t *testing.T) {
	hostname, _ := os.Hostname()
	cases := []struct {
		bound, node string
		allow, deny []string
	}{
		{"127.0.0.1:8080", "n@localhost",
			[]string{"127.0.0.1:8080", "localhost:8080", "LOCALHOST", "localhost.", "10.0.0.7", "[::1]:8080", "[fe80::1]"},
			[]string{"evil.example", "evil.example:8080", "localhost.evil.example", "", "[evil]", "n"}},
		{"[::1]:8080", "n@localhost", []string{"localhost", "::1"}, []string{"evil.example"}},
		{"node1.svc.example:9100", "n@node1.svc.example", []string{"node1.svc.example:9100", "192.168.1.2:9100"}, []string{"localhost", "evil.example"}},
		{"0.0.0.0:9100", "app@pod-3.app.ns.svc", []string{"pod-3.app.ns.svc:9100", hostname, "localhost", "10.1.2.3:9100"}, []string{"evil.example", "app.ns.svc"}},
		{"10.0.0.5:9100", "n@h", []string{"10.0.0.5:9100", "10.0.0.6"}, []string{"localhost", "h", "evil.example"}},
	}
	for _, c := range cases {
		g := newHostGuard(c.bound, c.node)
		for _, h := range c.allow {
			if !g.allowed(h) {
				t.Errorf("bound %s: Host %q refused; want allowed", c.bound, h)
			}
		}
		for _, h := range c.deny {
			if g.allowed(h) {
				t.Errorf("bound %s: Host %q allowed; want refused", c.bound, h)
			}
		}
	}
}
