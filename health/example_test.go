package health_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/cluster"
	"github.com/distribute-go/distribute/health"
)

// README "Health": /healthz and /readyz for a cluster node, as `distribute
// node --http` serves them. Compiled, not run (it registers with epmd and
// serves HTTP until the program ends).
func Example_readme() {
	ctx := context.Background()
	c, err := cluster.Start(ctx, cluster.Config{
		Node: distribute.Config{Name: "app@localhost", Cookie: "secret"},
		Join: []distribute.Atom{"seed@localhost"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Stop(ctx)
	checks, _ := health.Start(ctx, c.Node(), health.Config{Membership: c.Membership(), Expected: 3})
	mux := http.NewServeMux()
	mux.Handle("/healthz", checks.Healthz()) // 200 live, 503 not
	mux.Handle("/readyz", checks.Readyz())   // 200 ready, 503 not
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", mux))
}

// Cluster health from member counts: a node that knows 3 members, one of
// them dead, sees a degraded cluster that still has a quorum; alone among
// 3 expected, it is isolated.
func ExampleAssess() {
	fmt.Println(health.Assess(2, 0, 1, 0, 0).State, health.Assess(2, 0, 1, 0, 0).Quorum)
	fmt.Println(health.Assess(3, 0, 0, 0, 0).State)
	fmt.Println(health.Assess(1, 0, 0, 0, 3).State)
	// Output:
	// degraded true
	// healthy
	// isolated
}

// A quorum is a strict majority.
func ExampleHasQuorum() {
	fmt.Println(health.HasQuorum(2, 3), health.HasQuorum(2, 4), health.HasQuorum(3, 5))
	// Output: true false true
}

// Liveness and readiness of a client-only node (no epmd registration, no
// listener, no membership): it runs, so it is live; it does not listen, so
// it is not ready.
func ExampleChecker_Readiness() {
	ctx := context.Background()
	node, err := distribute.Start(ctx, distribute.Config{Name: "health_example@localhost", Cookie: "secret", ClientOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Stop(ctx)
	checks, err := health.Start(ctx, node, health.Config{EpmdAddr: "-"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("live:", checks.Liveness(ctx).OK)
	r := checks.Readiness(ctx)
	fmt.Println("ready:", r.OK)
	for _, c := range r.Failed() {
		fmt.Println("failed:", c.Name)
	}
	// Output:
	// live: true
	// ready: false
	// failed: listener
}

// The /readyz handler answers JSON, with status 503 while the node is not
// ready (here: a client-only node, which does not listen).
func ExampleChecker_Readyz() {
	ctx := context.Background()
	node, err := distribute.Start(ctx, distribute.Config{Name: "readyz_example@localhost", Cookie: "secret", ClientOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Stop(ctx)
	checks, err := health.Start(ctx, node, health.Config{EpmdAddr: "-"})
	if err != nil {
		log.Fatal(err)
	}
	w := httptest.NewRecorder()
	checks.Readyz().ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	body, _ := io.ReadAll(w.Result().Body)
	fmt.Print(w.Code, " ", string(body))
	// Output:
	// 503 {"ok":false,"node":"readyz_example@localhost","checks":[{"name":"node","ok":true},{"name":"listener","ok":false,"detail":"the node does not listen (client-only)"}],"cluster":{"state":"healthy","alive":1,"suspect":0,"dead":0,"left":0,"total":1,"quorum":true}}
}
