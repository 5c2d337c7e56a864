// Package distributetest is the public test kit of distribute: it starts real
// Erlang nodes and real epmd daemons on private loopback ports, stops them by
// pid, makes throwaway certificates for TLS tests, checks for leaked
// goroutines, and scales test deadlines for slow machines. Use it to test
// your own code against real BEAM peers the way this module tests itself.
//
// Every helper takes a testing.TB and registers its own cleanup, so a test
// that uses them leaves no process behind. Interop tests call RequireErl
// (directly or through StartErlNode): when `erl` is not installed the test is
// skipped with a clear message, unless the environment sets
// DISTRIBUTE_REQUIRE_ERL=1 (CI does), in which case it fails.
//
// # Using it
//
//	func TestMain(m *testing.M) { distributetest.VerifyTestMain(m) } // leak check after all tests
//
//	func TestGoAndErlang(t *testing.T) {
//		erl := distributetest.StartErlNode(t, distributetest.ErlOptions{Name: "e1@localhost"})
//		node, err := distribute.Start(ctx, distribute.Config{
//			Name: "go1@localhost", Cookie: erl.Cookie, EpmdPort: erl.EpmdPort,
//		})
//		if err != nil {
//			t.Fatal(err)
//		}
//		defer node.Stop(context.Background())
//		if got := erl.Eval(t, "net_adm:ping('go1@localhost')"); got != "pong" {
//			t.Fatalf("ping from erl: got %s, want pong", got)
//		}
//	}
//
// (Example_interopTest holds this test, compiled.)
//
// # What it provides
//
//	StartErlNode   a distributed erl node (short or long name, optional -hidden, extra
//	               args and environment), registered with a private epmd it starts
//	               when ErlOptions.EpmdPort is 0, listening on 127.0.0.1 only
//	ErlNode        Eval (one expression, its value printed with ~0tp, or
//	               {'EXIT',Class,Reason}), EvalErr (without a testing.TB, from any
//	               goroutine), LoadModule (compile and load a .erl source), Output
//	               (logs, crash reports), Signal (SIGSTOP, SIGCONT, SIGKILL), Pid, Stop
//	EvalErl        a one-shot `erl -noshell` that evaluates expressions and returns
//	               what they printed
//	StartEpmd      a real epmd on a free loopback port, killed by pid at the end
//	FreePort       a loopback TCP port that was free a moment ago
//	StartDNS       a DNS server (UDP and TCP, github.com/miekg/dns) answering A, AAAA
//	               and SRV questions from records the test sets and changes while it
//	               runs; it counts each client's questions, and Resolver gives a Go
//	               resolver that asks it
//	NewCA          a throwaway CA (valid a day): Issue makes a leaf for host names and
//	               IPs (PEM, files, and a tls.Certificate); MutualTLS a tls.Config
//	               for a node under mTLS, both roles
//	VerifyTestMain, VerifyNoLeaks
//	               goroutine leak checks (goleak) for a package and for one test
//	Scale          a liveness deadline times DISTRIBUTE_TEST_TIMEOUT_SCALE
//	WaitFor        poll a condition until it holds, failing the test after a
//	               generous scaled deadline (WaitForWithin: a deadline of its own)
//	LogBuffer      a buffer a logger writes into while the test reads it
//
// # Environment
//
//	DISTRIBUTE_ERL                 the erl to run (e.g. a wrapper that runs OTP 27's erl
//	                               in a chroot, as scripts/otp27.sh does); default erl
//	                               from PATH
//	DISTRIBUTE_REQUIRE_ERL=1       a missing erl fails the test instead of skipping it
//	DISTRIBUTE_TEST_TIMEOUT_SCALE  a positive factor for every Scale'd deadline (default 1)
//
// # Isolation and limits
//
// The kit never touches the system's epmd on 4369: each StartErlNode
// without an EpmdPort starts its own epmd on a free port, and Go nodes in
// the same test join it with Config.EpmdPort. Nodes listen on 127.0.0.1
// only. Processes are stopped by pid (the erl node's process group is
// killed if it does not halt within 10 s of its input closing), never by
// name. Eval fails the test when no answer comes within 30 s (scaled),
// EvalErl when erl runs longer than a minute (scaled). Deadlines made with
// Scale check that something happens, never how fast: measure speed with
// benchmarks.
//
// This package must not import the root package (the root's own tests
// import it). Go nodes are started by the subpackage gonode: N nodes in
// the test's process on a private epmd (gonode.Start, gonode.StartN), or a
// node in an OS process of its own (gonode.StartChild), each stopped at
// cleanup. The subpackage chaos runs `distribute node` processes in Linux
// network namespaces and injects crashes, pauses and partitions; the
// subpackage scale runs N of them (or N plain Erlang nodes) on loopback
// and measures what the cluster costs as N grows.
package distributetest
