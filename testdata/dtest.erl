%% Helpers the interop tests load into real Erlang nodes.
-module(dtest).
-export([echo/0, seqcheck/0, slow_server/0, sink/0, blast/4]).

%% echo: {From, Msg} -> From ! Msg; {From, Msg, N} -> From ! {Msg, I} for I in 1..N.
echo() ->
    receive
        {From, Msg} -> From ! Msg, echo();
        {From, Msg, N} -> send_n(From, Msg, 1, N), echo()
    end.

send_n(_, _, I, N) when I > N -> ok;
send_n(From, Msg, I, N) -> From ! {Msg, I}, send_n(From, Msg, I + 1, N).

%% seqcheck: expects 1, 2, 3, ... in order; {done, From} -> From ! {seq, Last}.
seqcheck() -> seqcheck(1).
seqcheck(Next) ->
    receive
        {done, From} -> From ! {seq, Next - 1};
        Next -> seqcheck(Next + 1);
        Other -> exit({out_of_order, Next, Other})
    end.

%% slow_server: answers a gen_server call `wait` late, with gen_server:reply/2,
%% then sends after_late to the caller's pid.
slow_server() ->
    receive
        {'$gen_call', {From, Tag}, wait} ->
            timer:sleep(300),
            gen_server:reply({From, Tag}, late),
            From ! after_late,
            slow_server()
    end.

%% sink: {count, From, N} -> count N binaries, then From ! {done, Bytes}.
sink() ->
    receive
        {count, From, N} -> sink_loop(N, 0, From), sink()
    end.
sink_loop(0, Bytes, From) -> From ! {done, Bytes};
sink_loop(N, Bytes, From) ->
    receive Bin when is_binary(Bin) -> sink_loop(N - 1, Bytes + byte_size(Bin), From) end.

%% blast(To, Size, N, ReplyTo): send N binaries of Size bytes to To, then
%% ReplyTo ! blasted.
blast(To, Size, N, ReplyTo) ->
    Bin = binary:copy(<<0>>, Size),
    blast_loop(To, Bin, N),
    ReplyTo ! blasted.
blast_loop(_, _, 0) -> ok;
blast_loop(To, Bin, N) -> To ! Bin, blast_loop(To, Bin, N - 1).
