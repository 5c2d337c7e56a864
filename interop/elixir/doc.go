// Package elixir holds the Elixir lane: tests that run real Elixir nodes
// (elixir --name, Debian's elixir package) against Go nodes and check what
// an Elixir developer does with them: Node.connect and Node.monitor,
// GenServer.call, cast, multi_call and abcast into a Go actor and a Go
// gen_server, Process.monitor, link and exit both ways, the shapes of
// :erpc and :rpc failures, :global names, locks and conflicts, :pg in the
// default scope and Phoenix.PubSub's way in a named one, structs and
// string-key maps through Go values, :sys requests and GenServer.stop on
// Go processes, large terms, and a hidden node that :pg must leave alone.
//
// The Elixir side is a script in testdata (lane.exs) that runs every
// scenario in one VM and prints one result line for each; the Go test
// turns each line into a subtest. The tests skip when elixir is not on the
// PATH, and fail instead with DISTRIBUTE_REQUIRE_ELIXIR=1 (set in CI).
// Everything runs on loopback with a private epmd (ERL_EPMD_PORT), and
// every process the tests start is stopped by its pid.
//
// The package has no API: it is tests only.
package elixir
