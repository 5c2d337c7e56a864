// Package dist implements the connection layer of the Erlang distribution
// protocol as OTP 25–27 speak it: capability flags, the version-6
// handshake in both roles, 4-byte framing with ticks, the per-connection
// reader/writer, TLS wrapping (inet_tls_dist), the distribution header's
// atom cache, fragment reassembly, and pass-through control
// messages. The facts were checked against real OTP 25 and 27 nodes (the
// interop tests keep checking them); this comment is the specification of
// what the code does.
//
// # Handshake
//
// All integers are big-endian. Over TCP every handshake message is
// preceded by a 2-byte length; over TLS by a 4-byte length
// (HandshakeConfig.TLS, implied for a *tls.Conn). A = initiator (Dial),
// B = acceptor (Accept):
//
//	A -> B  send_name        'N' Flags:64 Creation:32 Nlen:16 Name        (15+Nlen bytes)
//	B -> A  status           's' Text                   ok | ok_simultaneous | nok |
//	                                                    not_allowed | alive
//	                         's' "named:" Nlen:16 Name Creation:32         (NAME_ME only)
//	[A -> B status reply     's' "true" | "false"                          only after alive]
//	B -> A  challenge        'N' Flags:64 Challenge:32 Creation:32 Nlen:16 Name (19+Nlen)
//	[A -> B complement       'c' FlagsHigh:32 Creation:32     only after an old 'n' send_name]
//	A -> B  challenge_reply  'r' Challenge:32 Digest:16 bytes              (21 bytes)
//	B -> A  challenge_ack    'a' Digest:16 bytes                           (17 bytes)
//
// Digest(C) = MD5(cookie ++ decimal text of C as unsigned). B checks A's
// digest of its challenge, then answers with the digest of A's challenge;
// both comparisons are constant-time. On a wrong digest Erlang's acceptor
// closes without 'a', so Dial reports a close right after 'r' as
// ErrBadCookie. Each step (one read or write) must finish within
// HandshakeConfig.Timeout (Erlang's net_setuptime, 7 s). Messages above
// MaxHandshakeMessage bytes are refused before they are read.
//
// Worked example: the send_name of node e1@vm on OTP 25.2.3, as captured
// on the wire (length prefix 00 14 = 20 bytes, then):
//
//	4e                  'N'
//	00 00 00 0d 07 df 7f bd   flags 0xd07df7fbd (stock OTP flags, PUBLISHED set)
//	6b 07 66 11         creation 0x6b076611
//	00 05               name length 5
//	65 31 40 76 6d      "e1@vm"
//
// Status decisions (AcceptDecision, the acceptor's deterministic core):
// a peer without Mandatory26 after MANDATORY_25_DIGEST expansion gets
// not_allowed; a NAME_ME peer gets named: with 12 random upper-case
// letters/digits, '@' and the host it sent, plus a random creation; when
// HandshakeConfig.IsAlive says we are dialling that peer ourselves
// (simultaneous connect) the attempt initiated by the node with the greater
// name wins: ok_simultaneous if the peer's name is greater (Peer.Simultaneous
// tells the caller to abandon its own dial), nok otherwise (ErrSimultaneous);
// when we already hold a connection, alive, and the initiator answers true
// (Peer.Replaced: drop the old one) or false (ErrRefused). The acceptor's
// challenge carries our flags (NAME_ME instead of PUBLISHED for a NAME_ME
// peer) and our own name, which the initiator requires to equal the name it
// dialled (ErrWrongPeer otherwise).
//
// Negotiated flags are ours & expand(theirs) (Negotiate); the connection
// is visible only when both set PUBLISHED. DefaultFlags has
// DIST_HDR_ATOM_CACHE and FRAGMENTS: when the peer has either too, every
// data frame in both directions starts with a distribution header, 131, 68
// (see HeaderCache, AppendHeader, ParseHeaderFrame), and with FRAGMENTS
// either side may split a message into 131, 69 and 131, 70 frames
// (Fragmenter, Reassembler); otherwise every frame is the pass-through form 112, 131
// Ctrl, [131 Msg] (AppendPassThrough, ParseFrame). The mode is fixed for
// the connection: a frame of the other form is ErrBadFrame or
// ErrHeaderMode.
//
// # Frames and ticks
//
// After 'a' both sides switch to Len:32 | Data frames; Len = 0 is a tick.
// The peer may already have sent frames behind its last handshake message:
// Accept and Dial return those bytes ("leftover"), and NewConn and
// NewFrameReader read them before the socket. Example: a tick followed by
// a frame holding 70 83 68 00 (112, 131, an empty tuple):
//
//	00 00 00 00   00 00 00 04 70 83 68 00
//
// A FrameReader refuses lengths above its maximum (*FrameTooLargeError)
// and grows its buffer with the bytes that actually arrive, 64 KiB at a
// time, so a lying length costs no memory.
//
// # Conn
//
// A Conn owns the net.Conn after the handshake and runs exactly two
// goroutines. The reader delivers data frames, in arrival order, to
// ConnConfig.Handler; the frame slice belongs to the Conn and is valid only
// until Handler returns (it is reused for the next frame). The writer takes
// everything queued by Send in one swap and writes it with one call, so
// frames batch under load and go out at once when the connection is idle
// (no timer delay). Send copies the frame into the queue, so the caller
// keeps its slice; frames from one goroutine are written in Send order.
// The queue is bounded (ConnConfig.SendBuffer): Send waits for room, for
// ctx, or for the end of the connection, like a busy Erlang dist port.
//
// Ticks follow Erlang's net_ticktime rule with intensity 4: every
// TickTime/4 the writer sends a tick if it wrote nothing during the
// interval, and the connection fails with ErrTickTimeout when nothing was
// read during 4 consecutive intervals (TickTime to 5/4 TickTime of
// silence) or when one write blocks for TickTime.
//
// Close ends both goroutines and waits for them; Done is closed when they
// have ended and Err tells why: ErrClosed (local Close), ErrPeerClosed
// (EOF), ErrTickTimeout, a *FrameTooLargeError, the Handler's error, or
// the I/O error. Queued frames are dropped on close. Stats returns the
// frame, byte and tick counters.
//
// # Writer and Reader
//
// A node sends through the Writer of a connection (NewWriter) and reads
// through its Reader (NewReader); nothing above this package writes or
// parses frame bytes. A control message to send is an Out, made by the
// builder of its operation (Send, RegSend, AliasSend, Link, Unlink,
// PayloadExit, MonitorP, SpawnRequest, ...), which lays the typed fields
// out as the ops table describes. The Writer frames it for the
// connection: pass-through, or a distribution header with the fixed atom
// cache slots (empty atom, our name, the peer's) in header mode, and
// fragments above FragmentSize when the peer has FRAGMENTS. SendBinary
// lets a caller append a binary payload's bytes in place; the Writer
// writes its tag and length. Send waits for room in the send buffer;
// Signal and SignalDeferred (what the node owes its peer) never wait
// behind a full one. The Reader turns a frame into an In: the control
// message with the fields its operation requires typed and checked (a
// LINK between two pids, a REG_SEND to an atom, ...), its payload, or an
// error that closes the connection. Adding a control message is one
// entry in ops, one builder and one case in the node's dispatch.
//
// # TLS
//
// inet_tls_dist runs the same protocol inside TLS from the first byte,
// with 4-byte handshake lengths. TLSClient wraps a dialled connection
// (SNI = host part of the peer node name, as Erlang sets it) and TLSServer
// an accepted one; client certificates (mTLS) are configured in the
// tls.Config. Accept and Dial run the TLS handshake first, under the same
// step timeout.
package dist
