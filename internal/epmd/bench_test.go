package epmd

import (
	"context"
	"testing"
)

// BenchmarkLookup measures one PORT_PLEASE2 round trip (dial, request,
// reply, close) against the embedded server on loopback.
func BenchmarkLookup(b *testing.B) {
	s, err := Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background()) }()
	defer func() { s.Close(); <-served }()
	ctx := context.Background()
	reg, err := Register(ctx, hostPort(s.Port()), "bench", 9999, false)
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close()
	b.ReportAllocs()
	for b.Loop() {
		info, err := Lookup(ctx, "127.0.0.1", s.Port(), "bench")
		if err != nil || info.Port != 9999 {
			b.Fatalf("Lookup: %v %v", info, err)
		}
	}
}

func BenchmarkParsePort2Response(b *testing.B) {
	raw := unhex(b, "77 00 270f 4d 00 0006 0005 0006 676f70686572 0000")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParsePort2Response(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendAlive2Request(b *testing.B) {
	r := Alive2Request{Port: 46859, NodeType: NodeTypeNormal, High: 6, Low: 5, Name: "h1"}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendAlive2Request(buf[:0], r); err != nil {
			b.Fatal(err)
		}
	}
}
