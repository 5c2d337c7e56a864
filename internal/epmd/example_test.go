package epmd_test

import (
	"context"
	"fmt"
	"log"

	"github.com/distribute-go/distribute/internal/epmd"
)

// A node keeps itself registered: it uses the epmd on the port, or hosts an
// embedded one when none answers, and survives the death of whoever hosts.
func ExampleKeeper() {
	k, err := epmd.NewKeeper(epmd.KeeperConfig{Name: "gopher", ListenPort: 9999})
	if err != nil {
		log.Fatal(err)
	}
	if err := k.Start(context.Background()); err != nil {
		log.Fatal(err) // e.g. epmd.ErrDuplicateName
	}
	defer k.Stop(context.Background())
	// The node's identity: stays the same across re-registrations.
	fmt.Println(k.Creation())
}

func ExampleLookup() {
	info, err := epmd.Lookup(context.Background(), "127.0.0.1", epmd.DefaultPort, "gopher")
	if err != nil {
		log.Fatal(err) // epmd.ErrNotFound when not registered
	}
	fmt.Println(info.Port, info.High, info.Low)
}
