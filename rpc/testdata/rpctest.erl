-module(rpctest).
%% Twins of the Go test handlers, and helpers that call them the way
%% Erlang code does, normalizing stack locations (file/line) so an Erlang
%% function's failure and the same failure of a Go handler compare equal.
-export([echo/1, throw_it/1, exit_it/1, error_it/1, badarg_it/1,
         ecall/4, rcall/4, bcall/4, spawn_down/4, norm/1,
         cast_to/4, rcast_to/4, wait_msg/1]).

echo(X) -> X.
throw_it(X) -> throw(X).
exit_it(X) -> exit(X).
error_it(X) -> erlang:error(X).
badarg_it(X) -> erlang:error(badarg, [X]).

%% erpc:call with a timeout: the spawn path even for node().
ecall(Node, M, F, A) ->
    try {ok, erpc:call(Node, M, F, A, 10000)}
    catch C:R -> {C, norm(R)}
    end.

rcall(Node, M, F, A) -> norm(rpc:call(Node, M, F, A, 10000)).

bcall(Node, M, F, A) -> norm(rpc:block_call(Node, M, F, A, 10000)).

%% spawn/4 with a monitor: the exit reason.
spawn_down(Node, M, F, A) ->
    {Pid, Ref} = spawn_monitor(Node, M, F, A),
    receive {'DOWN', Ref, process, Pid, Why} -> norm(Why)
    after 10000 -> no_down
    end.

cast_to(Node, M, F, A) -> erpc:cast(Node, M, F, A).
rcast_to(Node, M, F, A) -> rpc:cast(Node, M, F, A).

%% register a process under Name and wait for one message.
wait_msg(Name) ->
    Self = self(),
    P = spawn(fun() -> register(Name, self()), Self ! registered,
                       receive M -> Self ! {got, M} after 10000 -> Self ! {got, none} end end),
    receive registered -> ok end,
    P.

norm({M, F, A, L}) when is_atom(M), is_atom(F), is_list(L),
                        (is_integer(A) orelse is_list(A)) ->
    {M, F, A, []};
norm(T) when is_tuple(T) -> list_to_tuple(norm(tuple_to_list(T)));
norm([H | T]) -> [norm(H) | norm(T)];
norm(X) -> X.
