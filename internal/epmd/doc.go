// Package epmd speaks the Erlang Port Mapper Daemon protocol: a client
// (Lookup, Names, Register), an embedded epmd server (Server) used as a
// fallback when no epmd answers, and a Keeper that keeps a node registered
// across the death of whichever process hosts epmd.
//
// The facts below were checked against OTP 25.2.3 (Debian's erlang-nox) and
// OTP 27; the interop tests run them against a real epmd.
//
// # Transport
//
// TCP, default port 4369 (ERL_EPMD_PORT overrides it). Every request is
// framed as Len:16 | Request, Len counting the request bytes only. Responses
// are NOT length-prefixed. One request per connection: epmd closes after
// answering, except for the registration (ALIVE2) connection, which stays
// open for as long as the node lives; closing it unregisters the name. All
// integers are big-endian.
//
// # ALIVE2_REQ (120 'x') – register
//
//	1  120
//	2  PortNo          the node's distribution listen port
//	1  NodeType        77 'M' normal, 72 'H' hidden (erl always sends 77)
//	1  Protocol        0 (TCP/IPv4; erl sends 0 for IPv6 and TLS too)
//	2  HighestVersion  6
//	2  LowestVersion   5 (OTP 25 and 27 send 5 on the wire)
//	2  Nlen
//	Nlen NodeName      the part before '@', UTF-8, 1..MaxNameLen bytes
//	2  Elen
//	Elen Extra         normally empty
//
// Worked example: `erl -sname h1` listening on port 46859 sends (15 body
// bytes, so the length prefix is 000f):
//
//	00 0f                 Len = 15
//	78                    ALIVE2_REQ
//	b7 0b                 PortNo = 46859
//	4d                    NodeType = 'M' (normal)
//	00                    Protocol = TCP
//	00 06                 HighestVersion = 6
//	00 05                 LowestVersion = 5
//	00 02  68 31          Nlen = 2, "h1"
//	00 00                 Elen = 0
//
// Replies: ALIVE2_X_RESP (118 'v') `118, Result:8, Creation:32` when the
// node's HighestVersion ≥ 6, otherwise ALIVE2_RESP (121 'y')
// `121, Result:8, Creation:16` with a creation 1..3. Result 0 is success;
// real epmd answers 1 for a name already registered (erl_epmd reports any
// non-zero result as duplicate_name) and the creation of an error reply is
// garbage. Example: `76 00 6b07769b` = ok, creation 1795651227.
//
// Creation. Observed on real OTP 25 epmd (Nov 2026, creations ≈ 1795651451):
// a name epmd has not seen gets the current Unix time in seconds (two new
// names in the same second got the same creation); a name registered
// before (still in epmd's list of unregistered names) gets its previous
// creation + 1. The embedded Server instead uses one counter with a random
// start, +1 per registration, never 0, so every registration gets a
// different creation; it keeps no memory across restarts.
//
// # PORT_PLEASE2_REQ (122 'z') – look up
//
// Request `122 | NodeName` (no inner length). Reply PORT2_RESP (119 'w'):
// not found is exactly `119, 1`; found is
//
//	1  119
//	1  Result = 0
//	2  PortNo
//	1  NodeType
//	1  Protocol
//	2  HighestVersion
//	2  LowestVersion
//	2  Nlen, Nlen NodeName
//	2  Elen, Elen Extra
//
// Example (port 9999): `77 00 270f 4d 00 0006 0005 0006 676f70686572 0000`.
// Real epmd closes without any answer for an empty name; Lookup reports a
// close without answer as ErrNotFound.
//
// # NAMES_REQ (110 'n'), DUMP_REQ (100 'd'), KILL_REQ (107 'k'), STOP_REQ (115 's')
//
// NAMES: `EpmdPort:32` then one text line `name <Name> at port <Port>\n` per
// registration, then close (erl_epmd checks EpmdPort against the port it
// dialled). Example: `00001111 "name gopher at port 9999\n"`.
//
// DUMP: `EpmdPort:32` then `active name     <N> at port <P>, fd = <F>\n`
// lines (and `old/unused name ...` lines), terminated by a NUL byte.
//
// KILL: real epmd answers "NO" while any name is registered (and logs
// "Disallowed KILL_REQ, live nodes"), otherwise "OK" and exits. The embedded
// Server does the same and only accepts KILL from a loopback peer.
//
// STOP `115 | Name`: real epmd without -relaxed_command_check closes the
// connection without an answer; so does the embedded Server. (With the
// option it answers "STOPPED" or "NOEXIST".)
//
// Unknown requests and malformed requests: the connection is closed without
// an answer.
//
// # Byte ownership
//
// Append* functions append to dst and return the extended slice. Parse*
// functions do not retain their input except that Extra fields alias it;
// strings are copied.
//
// # Keeping a registration (Keeper)
//
// OTP 25's erl_epmd (kernel 8.5.3, read from the installed beam's abstract
// code): when the registration socket closes it schedules a reconnect after
// 2000 ms; the reconnect sends a fresh ALIVE2_REQ and IGNORES the creation
// in the reply (the node keeps the creation it booted with); on failure it
// retries every 2000 ms. Keeper does the same, and additionally, when no
// epmd answers, it races to bind the epmd port and host a Server itself: the
// first keeper to bind serves, the others register with it. Because epmd
// assigns a new creation on every registration, Keeper.Creation stays the
// node's original creation (its identity in pids, ports and refs) while
// Keeper.EpmdCreation reports the one the current epmd assigned.
package epmd
