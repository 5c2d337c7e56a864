package scale_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/distribute-go/distribute/distributetest/scale"
)

// Measure a 10-node Go cluster and the same with Erlang nodes, print the
// table and keep the results and plots in a directory. Binary is a built
// `distribute` command, built first (go build ./cmd/distribute, from the
// module root).
func Example() {
	var results []scale.Result
	for _, kind := range []scale.Kind{scale.Go, scale.Erlang} {
		r, err := scale.Run(context.Background(), scale.Config{
			Kind:   kind,
			Nodes:  10,
			Binary: "./distribute",
			Idle:   10 * time.Second,
			Logf:   log.Printf,
		})
		if err != nil {
			log.Fatal(err)
		}
		results = append(results, *r)
	}
	scale.WriteTable(os.Stdout, results)
	if _, err := scale.WriteResults("scale-results", results); err != nil {
		log.Fatal(err)
	}
}
