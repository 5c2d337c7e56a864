%% scale_node: the Erlang side of `distribute bench cluster --erlang`.
%%
%% Each plain Erlang node (erl -name, connect_all, global, the pg scope
%% started by -kernel start_pg true) runs start/2: an inbox that prints
%% what it receives, in the same line format as a `distribute node`
%% inbox, a printer of nodeup/nodedown events, and a connection to the
%% seed node, from which global's connect_all builds the full mesh. The
%% harness then drives it through the same runtime control functions a
%% Go node exports in module distribute, so both clusters are measured
%% by the same code.
%%
%% Run by hand (ERL_EPMD_PORT names the epmd; the first node is its own seed):
%%   erlc scale_node.erl
%%   erl -noshell -name e1@127.0.0.1 -setcookie c -kernel start_pg true \
%%       -eval "scale_node:start(b1, 'e1@127.0.0.1')"
-module(scale_node).
-export([start/2, register_global/1, unregister_global/1, join/2, leave/2,
         groups/0]).

%% start(Inbox, Seed): prints `started NODE` once the inbox runs, then
%% one line per event:
%%   Inbox: TERM                 a message to the inbox (a gen_server
%%                               call is also echoed back)
%%   event nodeup NODE
%%   event nodedown NODE REASON
start(Inbox, Seed) when is_atom(Inbox), is_atom(Seed) ->
    persistent_term:put({?MODULE, inbox}, Inbox),
    Events = spawn(fun() ->
        ok = net_kernel:monitor_nodes(true, [nodedown_reason]),
        events()
    end),
    wait_monitoring(Events),
    Pid = spawn(fun() -> inbox(Inbox) end),
    true = register(Inbox, Pid),
    ok = pg:join(all, Pid),
    io:format("started ~s~n", [node()]),
    case Seed =:= node() of
        true -> ok;
        false -> spawn(fun() -> connect(Seed) end)
    end,
    ok.

%% wait_monitoring returns once Pid has subscribed to node events, so
%% no nodeup is missed.
wait_monitoring(Pid) ->
    case process_info(Pid, current_function) of
        {current_function, {?MODULE, events, 0}} -> ok;
        _ -> timer:sleep(1), wait_monitoring(Pid)
    end.

events() ->
    receive
        {nodeup, Node, _} ->
            io:format("event nodeup ~s~n", [Node]);
        {nodedown, Node, Info} ->
            Reason = proplists:get_value(nodedown_reason, Info, unknown),
            io:format("event nodedown ~s ~0p~n", [Node, Reason])
    end,
    events().

inbox(Name) ->
    receive
        {'$gen_call', From, Req} ->
            io:format("~s: ~0p~n", [Name, Req]),
            gen:reply(From, Req);
        Msg ->
            io:format("~s: ~0p~n", [Name, Msg])
    end,
    inbox(Name).

%% connect retries until the seed answers (it may start after us).
connect(Seed) ->
    case net_kernel:connect_node(Seed) of
        true -> ok;
        _ -> timer:sleep(100), connect(Seed)
    end.

%% The runtime control of a Go node's inboxes (distribute:register_global/1
%% and the others), with the same results: ok or {error, Reason}.
register_global(Name) ->
    case inbox_pid(Name) of
        {ok, Pid} ->
            case global:register_name(Name, Pid) of
                yes -> ok;
                no -> {error, taken}
            end;
        Error -> Error
    end.

unregister_global(Name) ->
    case inbox_pid(Name) of
        {ok, Pid} ->
            case global:whereis_name(Name) of
                Pid -> _ = global:unregister_name(Name), ok;
                _ -> {error, not_registered}
            end;
        Error -> Error
    end.

join(Group, Name) ->
    case inbox_pid(Name) of
        {ok, Pid} -> pg:join(Group, Pid);
        Error -> Error
    end.

leave(Group, Name) ->
    case inbox_pid(Name) of
        {ok, Pid} ->
            case pg:leave(Group, Pid) of
                ok -> ok;
                not_joined -> {error, not_joined}
            end;
        Error -> Error
    end.

%% groups() is distribute:groups(): [{Group, [Pid]}] of the pg scope.
groups() ->
    [{G, pg:get_members(G)} || G <- pg:which_groups()].

inbox_pid(Name) when is_atom(Name) ->
    case persistent_term:get({?MODULE, inbox}, undefined) of
        Name ->
            case whereis(Name) of
                undefined -> {error, no_inbox};
                Pid -> {ok, Pid}
            end;
        _ -> {error, no_inbox}
    end;
inbox_pid(_) ->
    {error, badarg}.
