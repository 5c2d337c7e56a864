%% Erlang stand-ins for the Gleam distribute library (v4) shapes, for the
%% typed-API interop tests. Written from the shapes the library documents
%% (gleam_erlang subjects are {subject, Pid, Tag}; sending M through one
%% sends {Tag, M} to Pid; a registered actor's subject has its name, a
%% binary, as tag; the subject codec is a u32 length then
%% term_to_binary({subject, Pid, Tag}); codec strings are a u32 length then
%% UTF-8; tagged envelopes are a u32 tag length, the tag, a u32 version,
%% then the payload). No Gleam code is needed to produce them.
-module(gleam_shapes).
-export([doubler/0, start_actor/2, actor/1, call/5, greet_request/3, greeting/2, parse_greet/1]).

%% doubler: a binary server: a gen_server call with an Int codec binary is
%% answered with the doubled Int; {Pid, <<N:64>>} sends Pid the doubled Int.
doubler() ->
    receive
        {'$gen_call', From, <<N:64/signed>>} ->
            gen_server:reply(From, <<(2 * N):64/signed>>),
            doubler();
        {Pid, <<N:64/signed>>} when is_pid(Pid) ->
            Pid ! <<(2 * N):64/signed>>,
            doubler();
        _ ->
            doubler()
    end.

%% start_actor(Name, Notify): a Gleam-style actor registered (in spirit)
%% as Name, a binary; it tells Notify {gleam_actor, Name, Pid}.
start_actor(Name, Notify) when is_binary(Name) ->
    Pid = spawn(?MODULE, actor, [Name]),
    Notify ! {gleam_actor, Name, Pid},
    Pid.

%% actor(Name): receives {Name, Payload}, Payload a greet request
%% (tagged "greet" v1: reply subject, then a string Who), and replies
%% through the reply subject with a greeting (tagged "greeting" v1, a
%% string "hello, Who"). Who = <<"old">> is answered in version 0.
%% Anything else is dropped, as a Gleam actor drops what does not decode.
actor(Name) ->
    receive
        {Name, Payload} when is_binary(Payload) ->
            case parse_greet(Payload) of
                {ok, {subject, Pid, Tag}, <<"old">>} ->
                    Pid ! {Tag, greeting(0, <<"hello, old">>)};
                {ok, {subject, Pid, Tag}, Who} ->
                    Pid ! {Tag, greeting(1, <<"hello, ", Who/binary>>)};
                error ->
                    ok
            end,
            actor(Name);
        stop ->
            ok;
        _ ->
            actor(Name)
    end.

parse_greet(<<5:32, "greet", 1:32, SL:32, SB:SL/binary, WL:32, Who:WL/binary>>) ->
    try binary_to_term(SB, [safe]) of
        {subject, Pid, _Tag} = S when is_pid(Pid) -> {ok, S, Who};
        _ -> error
    catch _:_ -> error
    end;
parse_greet(_) ->
    error.

%% greet_request(Version, Subject, Who): the bytes of a greet request.
greet_request(Version, Subject, Who) ->
    SB = term_to_binary(Subject),
    <<5:32, "greet", Version:32, (byte_size(SB)):32, SB/binary,
      (byte_size(Who)):32, Who/binary>>.

%% greeting(Version, Text): the bytes of a greeting reply.
greeting(Version, Text) ->
    <<8:32, "greeting", Version:32, (byte_size(Text)):32, Text/binary>>.

%% call(Target, Name, Version, Who, Timeout): what Gleam distribute's call
%% does: a fresh reply subject {subject, self(), Ref} inside the request,
%% {Name, Request} to Target, monitored; the reply is {Ref, Binary}.
call(Target, Name, Version, Who, Timeout) ->
    Ref = make_ref(),
    Mon = monitor(process, Target),
    Target ! {Name, greet_request(Version, {subject, self(), Ref}, Who)},
    receive
        {Ref, <<8:32, "greeting", 1:32, L:32, Text:L/binary>>} ->
            demonitor(Mon, [flush]),
            {ok, Text};
        {Ref, Other} ->
            demonitor(Mon, [flush]),
            {bad_reply, Other};
        {'DOWN', Mon, process, _, Reason} ->
            {target_down, Reason}
    after Timeout ->
        demonitor(Mon, [flush]),
        timeout
    end.
