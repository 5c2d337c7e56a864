package dist_test

import (
	"encoding/hex"
	"fmt"

	"github.com/distribute-go/distribute/internal/dist"
)

// The send_name of e1@vm captured from OTP 25.2.3 (doc.go's worked example).
func ExampleParseSendName() {
	b, _ := hex.DecodeString("4e0000000d07df7fbd6b0766110005653140766d")
	m, err := dist.ParseSendName(b)
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Version, m.Name)
	fmt.Printf("creation %#x\n", m.Creation)
	neg, err := dist.Negotiate(dist.DefaultFlags, m.Flags)
	fmt.Println(neg == dist.DefaultFlags, err)
	fmt.Println(m.Flags &^ dist.DefaultFlags)
	// Output:
	// 6 e1@vm
	// creation 0x6b076611
	// true <nil>
	// 0x5001[PUBLISHED|UNICODE_IO|SMALL_ATOM_TAGS]
}

func ExampleDigest() {
	fmt.Printf("%x\n", dist.Digest(123, "distributetest"))
	// Output: 705622f86728a284828ec5304b46cf05
}
