// Package rpc is remote procedure call between Go and BEAM nodes, both
// ways, on Erlang's own protocols: Go functions exported by a Server are
// callable from Erlang with rpc:call, erpc:call, rpc:cast, erpc:cast,
// rpc:block_call and spawn/4, and a Client's Call and Cast run functions
// on any node, BEAM or Go.
//
// # Serving
//
//	s, err := rpc.Start(ctx, node, rpc.Config{}) // Stop(ctx) ends it
//	s.Register("math", "add", 2, func(ctx context.Context, args []etf.Term) (etf.Term, error) {
//		x, ok1 := args[0].(int64)
//		y, ok2 := args[1].(int64)
//		if !ok1 || !ok2 {
//			return nil, rpc.ErrBadArg // error:badarg, as a BIF raises it
//		}
//		return x + y, nil
//	})
//
// From Erlang, rpc:call('go@host', math, add, [1, 2]) returns 3. A Server
// serves two protocols:
//
//   - erpc's, which OTP 23+ rpc:call, erpc:call, erpc:cast, rpc:cast and
//     spawn/4 use: a spawn request (SPAWN_REQUEST) of
//     erpc:execute_call(ResRef, M, F, A) with a monitor, whose result is
//     the exit reason of the spawned process: {ResRef, return, Value},
//     {ResRef, throw, Value}, {ResRef, exit, Reason} or {ResRef, error,
//     Reason, Stack}; erpc:execute_cast(M, F, A) with no monitor; and any
//     other M:F(A...) as spawn/4 (the process exits normal, or with the
//     reason Erlang would give: Reason for exit, {Reason, Stack} for
//     error, {{nocatch, Value}, Stack} for throw);
//   - rex's, the registered process rpc:block_call and C nodes (ei_rpc)
//     talk to: $gen_call {call | block_call, M, F, A, GroupLeader} is
//     answered with the result or {badrpc, {'EXIT', ...}} (block_call runs
//     in rex itself, blocking it, as in Erlang); the info form {From,
//     {call, M, F, A, GL}} with {rex, Result}; $gen_cast {cast, M, F, A, GL}
//     runs the function; {From, features_request} gets {features_reply,
//     Node, [erpc]}; {From, {sbcast, Name, Msg}} and {From, {send, Name,
//     Msg}} deliver to a local name.
//
// The group leader is ignored: a Go function has no Erlang I/O.
//
// Func0, Func1 and Func2 adapt typed Go functions (arguments converted with
// etf.FromTerm, badarg when they do not convert; results with etf.ToTerm):
//
//	s.Register("math", "mul", 2, rpc.Func2(func(ctx context.Context, x, y int) (int, error) { return x * y, nil }))
//
// ExportErlang adds erlang:node/0, nodes/0, is_alive/0, registered/0 and
// whereis/1, which tools ask any node.
//
// # Failures, as Erlang reports them
//
// A handler fails by returning an error; the caller sees what Erlang
// shows for the same failure of an Erlang function (checked against erl
// in the tests, stack locations aside):
//
//	handler returns / situation     erpc:call raises                          rpc:call returns
//	value, nil                      (returns value)                           value
//	rpc.Throw(V)                    throw:V                                   V
//	rpc.Exit(R), *ExitError{R}      exit:{exception, R}                       {badrpc, {'EXIT', R}}
//	rpc.Raise(R)                    error:{exception, R, [{M,F,Arity,[]}]}    {badrpc, {'EXIT', {R, Stack}}}
//	ErrBadArg (wrapped or not)      error:{exception, badarg, [{M,F,Args,[]}]}
//	another error E                 error:{exception, {error, <<E.Error()>>}, [{M,F,Arity,[]}]}
//	a panic P                       error:{exception, {panic, <<fmt.Sprint(P)>>}, [{M,F,Arity,[]}]}
//	function not registered         error:{exception, undef, [{M,F,Args,[]}]}
//	(also a registered name called with another arity)
//	M, F not atoms, A not a list    error:{exception, badarg, [{erlang,apply,[M,F,A],[]}]}
//
// A panic never crashes the node. A spawn request the node cannot parse
// is refused by the node (SPAWN_REPLY with badarg); with no Server the
// node refuses every spawn with notsup, which Erlang reports as
// {badrpc, notsup} / {erpc, notsup}.
//
// # Calling
//
//	c := rpc.NewClient(node) // or s.Client(), which also serves node's own name
//	v, err := c.Call(ctx, "erl@host", "lists", "reverse", etf.List{int64(1), int64(2), int64(3)})
//	// v is etf.List{3, 2, 1}
//
// Client.Call does what erpc:call does, from a fresh process of the local node
// that exits when Call returns, so nothing of an abandoned call (a late
// spawn reply or result) ever reaches a mailbox. Its errors: an *Error
// when the function raised (Class, Reason, Stack; Exception gives erpc's
// reason term, BadRPC rpc:call's), a *CallError for {erpc, Reason}
// failures: timeout when ctx's deadline passes (errors.Is
// distribute.ErrTimeout), noconnection at once when the node cannot be
// reached or is lost (distribute.ErrNodeDown), notsup (ErrNotSup).
// CallAs(ctx, c, ...) converts the result with etf.FromTerm. CallTyped and
// RegisterTyped carry codec-encoded values (package codec) between Go
// nodes. Client.Cast is erpc:cast. A Client holds no state beyond its
// node: make one where needed.
//
// # What a node exposes
//
// Only what is registered: a Server serves nothing until Register,
// RegisterTyped or ExportErlang, and a node without a Server refuses
// every spawn request (notsup). Any node holding the cookie may call what
// is registered, as with Erlang's rpc; there is no per-function access
// control, so check the caller's arguments as you would any input.
//
// # Correlation ids and metrics
//
// A correlation id in Call's ctx (distribute.WithCorrelationID) travels in
// the ResRef argument of erpc:execute_call/4, as
// [ResRef | {'$correlation_id', <<Id>>}]; a Go Server gives it to the
// handler's ctx (distribute.CorrelationID), and Erlang's erpc treats the
// improper list as an opaque reference, so it answers as usual. Call
// records its latency in the histogram distribute.rpc.duration (seconds)
// with the attribute outcome: ok, raised, timeout, nodedown, notsup or
// error, through the node's MeterProvider.
//
// The main types: Server; Handler (and Func0, Func1, Func2 to adapt typed
// functions); *Error (a function that raised: Class, Reason, Stack) built
// by Throw, Exit and Raise; *CallError (the call itself failed: timeout,
// noconnection, notsup); and the sentinels ErrBadArg, ErrUndef, ErrNotSup,
// ErrRaised and ErrExists (Register of a name and arity already taken).
//
// # Wire example
//
// erpc:call(B, m, f, [1, 2]) from a process on a@h sends B the control
// message (P and G are the caller's pid and group leader, R the request's
// reference)
//
//	{29, R, P, G, {erpc, execute_call, 4}, [monitor]}
//	83 68 06 61 1d ...R... ...P... ...G...
//	   68 03 77 04 "erpc" 77 0c "execute_call" 61 04      {erpc, execute_call, 4}
//	   6c 00 00 00 01 77 07 "monitor" 6a                  [monitor]
//
// with the argument list [ResRef, m, f, [1, 2]]; for the reference
// ResRef = #Ref<a@h.7.0.0> (creation 1):
//
//	83 6c 00 00 00 04                                     list of 4
//	   5a 00 03 77 03 61 40 68 00 00 00 01                ResRef: 3 words, node 'a@h', creation 1
//	      00 00 00 07 00 00 00 00 00 00 00 00
//	   77 01 6d  77 01 66                                 m, f
//	   6b 00 02 01 02                                     [1, 2] (STRING_EXT)
//	6a                                                    tail []
//
// B answers SPAWN_REPLY {31, R, P, 2, NewPid} (2: monitor set up), runs
// m:f(1, 2), and when it returns 3 sends the monitor's exit,
// PAYLOAD_MONITOR_P_EXIT {28, NewPid, P, R}, with the reason
// {ResRef, return, 3}:
//
//	83 68 03
//	   5a 00 03 77 03 61 40 68 00 00 00 01 00 00 00 07 00 00 00 00 00 00 00 00
//	   77 06 72 65 74 75 72 6e                            return
//	   61 03                                              3
package rpc
