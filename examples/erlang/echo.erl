%% A small Erlang module for the Go-Erlang example: an echo gen_server.
-module(echo).
-behaviour(gen_server).
-export([start/0, init/1, handle_call/3, handle_cast/2]).

start() -> gen_server:start({local, echo}, ?MODULE, [], []).

init([]) -> {ok, #{}}.

handle_call(Req, {From, _}, State) -> {reply, {echo, node(From), Req}, State}.

handle_cast(_, State) -> {noreply, State}.
