package epmd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Request and response codes (first byte of the request body or of the response).
const (
	ReqAlive2      = 120 // 'x' ALIVE2_REQ
	RespAlive2X    = 118 // 'v' ALIVE2_X_RESP (32-bit creation)
	RespAlive2     = 121 // 'y' ALIVE2_RESP (16-bit creation, HighestVersion < 6)
	ReqPortPlease2 = 122 // 'z' PORT_PLEASE2_REQ
	RespPort2      = 119 // 'w' PORT2_RESP
	ReqNames       = 110 // 'n' NAMES_REQ
	ReqDump        = 100 // 'd' DUMP_REQ
	ReqKill        = 107 // 'k' KILL_REQ
	ReqStop        = 115 // 's' STOP_REQ
)

// Node types and protocols carried in ALIVE2_REQ and PORT2_RESP.
const (
	NodeTypeNormal = 77 // 'M'
	NodeTypeHidden = 72 // 'H'
	ProtocolTCP    = 0  // TCP/IPv4; Erlang sends it for IPv6 and TLS too
)

// Distribution versions a node registers. OTP 25 and 27 both send Highest 6,
// Lowest 5 on the wire.
const (
	VersionHighest = 6
	VersionLowest  = 5
)

// DefaultPort is the well-known epmd port; ERL_EPMD_PORT overrides it.
const DefaultPort = 4369

// MaxNameLen is the longest node name (the part before '@') accepted in a
// request or produced by an encoder: 255 characters of up to 4 UTF-8 bytes,
// as real epmd (MAXSYMLEN) allows.
const MaxNameLen = 255 * 4

// DefaultMaxRequestSize bounds the request body (after the 2-byte length) the
// embedded server accepts. Real epmd reads requests into a 1024-byte buffer.
const DefaultMaxRequestSize = 1024

// DefaultMaxResponseSize bounds what the client reads for a NAMES or DUMP reply.
const DefaultMaxResponseSize = 1 << 20

// Answers to KILL_REQ and STOP_REQ (raw ASCII, no length, no terminator).
const (
	KillOK       = "OK"      // epmd terminates
	KillRefused  = "NO"      // real epmd refuses while names are registered
	StopStopped  = "STOPPED" // name unregistered
	StopNotExist = "NOEXIST" // no such name
)

// Errors. Decoding failures are *DecodeError values that match ErrMalformed
// under errors.Is.
var (
	ErrNotFound       = errors.New("epmd: name not found")
	ErrDuplicateName  = errors.New("epmd: name already registered")
	ErrMalformed      = errors.New("epmd: malformed message")
	ErrTooLarge       = errors.New("epmd: message too large")
	ErrInvalidName    = errors.New("epmd: invalid node name")
	ErrUnknownRequest = errors.New("epmd: unknown request")
	ErrRefused        = errors.New("epmd: registration refused")
	ErrUnavailable    = errors.New("epmd: no epmd answers")
	ErrAddrInUse      = errors.New("epmd: address already in use")
	ErrClosed         = errors.New("epmd: closed")
)

// DecodeError reports malformed bytes: what was being decoded and the offset
// of the problem within the message given to the parser.
type DecodeError struct {
	What   string // e.g. "PORT2_RESP name"
	Offset int
	Reason string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("epmd: malformed %s at offset %d: %s", e.What, e.Offset, e.Reason)
}

// Is reports true for ErrMalformed.
func (e *DecodeError) Is(target error) bool { return target == ErrMalformed }

func short(what string, off int) error {
	return &DecodeError{What: what, Offset: off, Reason: "truncated"}
}

// validName reports whether n is acceptable as a node name in a request.
func validName(n string) error {
	if n == "" {
		return fmt.Errorf("%w: empty", ErrInvalidName)
	}
	if len(n) > MaxNameLen {
		return fmt.Errorf("%w: %d bytes, max %d", ErrInvalidName, len(n), MaxNameLen)
	}
	return nil
}

// Alive2Request is the body of an ALIVE2_REQ.
type Alive2Request struct {
	Port     uint16 // distribution listen port
	NodeType byte   // NodeTypeNormal or NodeTypeHidden
	Protocol byte   // ProtocolTCP
	High     uint16 // highest distribution version
	Low      uint16 // lowest distribution version
	Name     string // node name without "@host"
	Extra    []byte // normally empty
}

func (r Alive2Request) String() string {
	return fmt.Sprintf("ALIVE2_REQ{name=%q port=%d type=%d proto=%d high=%d low=%d extra=%d bytes}",
		r.Name, r.Port, r.NodeType, r.Protocol, r.High, r.Low, len(r.Extra))
}

// AppendAlive2Request appends the framed request (Len:16 then the body) to dst.
func AppendAlive2Request(dst []byte, r Alive2Request) ([]byte, error) {
	if err := validName(r.Name); err != nil {
		return dst, err
	}
	body := 1 + 2 + 1 + 1 + 2 + 2 + 2 + len(r.Name) + 2 + len(r.Extra)
	if body > 0xffff {
		return dst, fmt.Errorf("%w: ALIVE2_REQ of %d bytes", ErrTooLarge, body)
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(body))
	dst = append(dst, ReqAlive2)
	dst = binary.BigEndian.AppendUint16(dst, r.Port)
	dst = append(dst, r.NodeType, r.Protocol)
	dst = binary.BigEndian.AppendUint16(dst, r.High)
	dst = binary.BigEndian.AppendUint16(dst, r.Low)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(r.Name)))
	dst = append(dst, r.Name...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(r.Extra)))
	dst = append(dst, r.Extra...)
	return dst, nil
}

// ParseAlive2Request parses an ALIVE2_REQ body (starting with byte 120, without
// the 2-byte length). Extra aliases b.
func ParseAlive2Request(b []byte) (Alive2Request, error) {
	const what = "ALIVE2_REQ"
	var r Alive2Request
	if len(b) < 1 {
		return r, short(what, 0)
	}
	if b[0] != ReqAlive2 {
		return r, &DecodeError{What: what, Offset: 0, Reason: fmt.Sprintf("code %d", b[0])}
	}
	if len(b) < 11 {
		return r, short(what, len(b))
	}
	r.Port = binary.BigEndian.Uint16(b[1:])
	r.NodeType = b[3]
	r.Protocol = b[4]
	r.High = binary.BigEndian.Uint16(b[5:])
	r.Low = binary.BigEndian.Uint16(b[7:])
	nlen := int(binary.BigEndian.Uint16(b[9:]))
	off := 11
	if nlen == 0 || nlen > MaxNameLen {
		return r, &DecodeError{What: what, Offset: 9, Reason: fmt.Sprintf("name length %d", nlen)}
	}
	if len(b)-off < nlen+2 {
		return r, short(what, len(b))
	}
	r.Name = string(b[off : off+nlen])
	off += nlen
	elen := int(binary.BigEndian.Uint16(b[off:]))
	off += 2
	if len(b)-off != elen {
		if len(b)-off < elen {
			return r, short(what, len(b))
		}
		return r, &DecodeError{What: what, Offset: off + elen, Reason: "trailing bytes"}
	}
	if elen > 0 {
		r.Extra = b[off : off+elen : off+elen]
	}
	return r, nil
}

// Alive2Response is an ALIVE2_X_RESP (Code RespAlive2X, 32-bit creation) or an
// ALIVE2_RESP (Code RespAlive2, 16-bit creation).
type Alive2Response struct {
	Code     byte // RespAlive2X or RespAlive2
	Result   byte // 0 = ok; the creation of an error reply is garbage
	Creation uint32
}

func (r Alive2Response) String() string {
	name := "ALIVE2_X_RESP"
	if r.Code == RespAlive2 {
		name = "ALIVE2_RESP"
	}
	return fmt.Sprintf("%s{result=%d creation=%d}", name, r.Result, r.Creation)
}

// Alive2ResponseLen returns the length of a response starting with code, or 0
// if code is not an ALIVE2 response code.
func Alive2ResponseLen(code byte) int {
	switch code {
	case RespAlive2X:
		return 6
	case RespAlive2:
		return 4
	}
	return 0
}

// AppendAlive2Response appends r (no length prefix; responses have none).
// For Code RespAlive2 the creation is truncated to 16 bits.
func AppendAlive2Response(dst []byte, r Alive2Response) []byte {
	if r.Code == RespAlive2 {
		dst = append(dst, RespAlive2, r.Result)
		return binary.BigEndian.AppendUint16(dst, uint16(r.Creation))
	}
	dst = append(dst, RespAlive2X, r.Result)
	return binary.BigEndian.AppendUint32(dst, r.Creation)
}

// ParseAlive2Response parses exactly one ALIVE2_X_RESP or ALIVE2_RESP.
func ParseAlive2Response(b []byte) (Alive2Response, error) {
	const what = "ALIVE2 response"
	var r Alive2Response
	if len(b) < 1 {
		return r, short(what, 0)
	}
	n := Alive2ResponseLen(b[0])
	if n == 0 {
		return r, &DecodeError{What: what, Offset: 0, Reason: fmt.Sprintf("code %d", b[0])}
	}
	if len(b) < n {
		return r, short(what, len(b))
	}
	if len(b) > n {
		return r, &DecodeError{What: what, Offset: n, Reason: "trailing bytes"}
	}
	r.Code, r.Result = b[0], b[1]
	if n == 6 {
		r.Creation = binary.BigEndian.Uint32(b[2:])
	} else {
		r.Creation = uint32(binary.BigEndian.Uint16(b[2:]))
	}
	return r, nil
}

// AppendPortPlease2Request appends the framed PORT_PLEASE2_REQ for name.
func AppendPortPlease2Request(dst []byte, name string) ([]byte, error) {
	return appendNamed(dst, ReqPortPlease2, name)
}

// AppendStopRequest appends the framed STOP_REQ for name.
func AppendStopRequest(dst []byte, name string) ([]byte, error) {
	return appendNamed(dst, ReqStop, name)
}

func appendNamed(dst []byte, code byte, name string) ([]byte, error) {
	if err := validName(name); err != nil {
		return dst, err
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(1+len(name)))
	dst = append(dst, code)
	return append(dst, name...), nil
}

// AppendNamesRequest appends the framed NAMES_REQ.
func AppendNamesRequest(dst []byte) []byte { return append(dst, 0, 1, ReqNames) }

// AppendDumpRequest appends the framed DUMP_REQ.
func AppendDumpRequest(dst []byte) []byte { return append(dst, 0, 1, ReqDump) }

// AppendKillRequest appends the framed KILL_REQ.
func AppendKillRequest(dst []byte) []byte { return append(dst, 0, 1, ReqKill) }

// Request is any parsed request body.
type Request struct {
	Code   byte          // one of the Req* constants
	Alive2 Alive2Request // Code == ReqAlive2
	Name   string        // Code == ReqPortPlease2 or ReqStop
}

func (r Request) String() string {
	switch r.Code {
	case ReqAlive2:
		return r.Alive2.String()
	case ReqPortPlease2:
		return fmt.Sprintf("PORT_PLEASE2_REQ{name=%q}", r.Name)
	case ReqStop:
		return fmt.Sprintf("STOP_REQ{name=%q}", r.Name)
	case ReqNames:
		return "NAMES_REQ"
	case ReqDump:
		return "DUMP_REQ"
	case ReqKill:
		return "KILL_REQ"
	}
	return fmt.Sprintf("REQ(%d)", r.Code)
}

// ParseRequest parses a request body (the bytes after the 2-byte length).
// An unknown code is ErrUnknownRequest.
func ParseRequest(b []byte) (Request, error) {
	if len(b) == 0 {
		return Request{}, short("request", 0)
	}
	r := Request{Code: b[0]}
	switch b[0] {
	case ReqAlive2:
		a, err := ParseAlive2Request(b)
		r.Alive2 = a
		return r, err
	case ReqPortPlease2, ReqStop:
		n := b[1:]
		if len(n) == 0 || len(n) > MaxNameLen {
			return r, &DecodeError{What: r.String(), Offset: 1, Reason: fmt.Sprintf("name length %d", len(n))}
		}
		r.Name = string(n)
		return r, nil
	case ReqNames, ReqDump, ReqKill:
		if len(b) != 1 {
			return r, &DecodeError{What: r.String(), Offset: 1, Reason: "trailing bytes"}
		}
		return r, nil
	}
	return r, fmt.Errorf("%w: code %d", ErrUnknownRequest, b[0])
}

// AppendRequest appends r framed with its 2-byte length.
func AppendRequest(dst []byte, r Request) ([]byte, error) {
	switch r.Code {
	case ReqAlive2:
		return AppendAlive2Request(dst, r.Alive2)
	case ReqPortPlease2, ReqStop:
		return appendNamed(dst, r.Code, r.Name)
	case ReqNames, ReqDump, ReqKill:
		return append(dst, 0, 1, r.Code), nil
	}
	return dst, fmt.Errorf("%w: code %d", ErrUnknownRequest, r.Code)
}

// ReadRequest reads one framed request from r and returns its body. A length
// of zero is malformed; a length above max is ErrTooLarge (nothing of the body
// is read or allocated). Truncation is io.ErrUnexpectedEOF.
func ReadRequest(r io.Reader, max int) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if n == 0 {
		return nil, &DecodeError{What: "request length", Offset: 0, Reason: "zero"}
	}
	if n > max {
		return nil, fmt.Errorf("%w: request of %d bytes, max %d", ErrTooLarge, n, max)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return body, nil
}

// NodeInfo is a found PORT2_RESP: what a node registered.
type NodeInfo struct {
	Name     string
	Port     int    // distribution listen port
	Type     byte   // NodeTypeNormal or NodeTypeHidden
	Protocol byte   // ProtocolTCP
	High     uint16 // highest distribution version
	Low      uint16 // lowest distribution version
	Extra    []byte
}

func (n NodeInfo) String() string {
	return fmt.Sprintf("PORT2_RESP{name=%q port=%d type=%d proto=%d high=%d low=%d extra=%d bytes}",
		n.Name, n.Port, n.Type, n.Protocol, n.High, n.Low, len(n.Extra))
}

// AppendPort2NotFound appends the two-byte "not found" PORT2_RESP.
func AppendPort2NotFound(dst []byte) []byte { return append(dst, RespPort2, 1) }

// AppendPort2Response appends a found PORT2_RESP for n.
func AppendPort2Response(dst []byte, n NodeInfo) ([]byte, error) {
	if err := validName(n.Name); err != nil {
		return dst, err
	}
	if n.Port < 0 || n.Port > 0xffff {
		return dst, fmt.Errorf("epmd: port %d out of range", n.Port)
	}
	if len(n.Extra) > 0xffff {
		return dst, fmt.Errorf("%w: extra of %d bytes", ErrTooLarge, len(n.Extra))
	}
	dst = append(dst, RespPort2, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(n.Port))
	dst = append(dst, n.Type, n.Protocol)
	dst = binary.BigEndian.AppendUint16(dst, n.High)
	dst = binary.BigEndian.AppendUint16(dst, n.Low)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(n.Name)))
	dst = append(dst, n.Name...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(n.Extra)))
	return append(dst, n.Extra...), nil
}

// ParsePort2Response parses one complete PORT2_RESP. A "not found" answer
// (result != 0) is ErrNotFound. Extra aliases b.
func ParsePort2Response(b []byte) (NodeInfo, error) {
	const what = "PORT2_RESP"
	var n NodeInfo
	if len(b) < 2 {
		return n, short(what, len(b))
	}
	if b[0] != RespPort2 {
		return n, &DecodeError{What: what, Offset: 0, Reason: fmt.Sprintf("code %d", b[0])}
	}
	if b[1] != 0 {
		if len(b) != 2 {
			return n, &DecodeError{What: what, Offset: 2, Reason: "trailing bytes"}
		}
		return n, ErrNotFound
	}
	if len(b) < 12 {
		return n, short(what, len(b))
	}
	n.Port = int(binary.BigEndian.Uint16(b[2:]))
	n.Type, n.Protocol = b[4], b[5]
	n.High = binary.BigEndian.Uint16(b[6:])
	n.Low = binary.BigEndian.Uint16(b[8:])
	nlen := int(binary.BigEndian.Uint16(b[10:]))
	if nlen == 0 || nlen > MaxNameLen {
		return n, &DecodeError{What: what, Offset: 10, Reason: fmt.Sprintf("name length %d", nlen)}
	}
	off := 12
	if len(b)-off < nlen+2 {
		return n, short(what, len(b))
	}
	n.Name = string(b[off : off+nlen])
	off += nlen
	elen := int(binary.BigEndian.Uint16(b[off:]))
	off += 2
	if len(b)-off != elen {
		if len(b)-off < elen {
			return n, short(what, len(b))
		}
		return n, &DecodeError{What: what, Offset: off + elen, Reason: "trailing bytes"}
	}
	if elen > 0 {
		n.Extra = b[off : off+elen : off+elen]
	}
	return n, nil
}

// NameEntry is one line of a NAMES reply.
type NameEntry struct {
	Name string
	Port int
}

// AppendNamesResponse appends EpmdPort:32 and one "name N at port P\n" line
// per entry.
func AppendNamesResponse(dst []byte, epmdPort uint32, names []NameEntry) []byte {
	dst = binary.BigEndian.AppendUint32(dst, epmdPort)
	for _, e := range names {
		dst = append(dst, "name "...)
		dst = append(dst, e.Name...)
		dst = append(dst, " at port "...)
		dst = strconv.AppendInt(dst, int64(e.Port), 10)
		dst = append(dst, '\n')
	}
	return dst
}

// ParseNamesResponse parses a complete NAMES reply. As erl_epmd does, lines
// that do not read "name <N> at port <P>" (N up to the first space, P a
// decimal port) and an unterminated last line are skipped.
func ParseNamesResponse(b []byte) (epmdPort uint32, names []NameEntry, err error) {
	if len(b) < 4 {
		return 0, nil, short("NAMES reply", len(b))
	}
	epmdPort = binary.BigEndian.Uint32(b)
	rest := string(b[4:])
	for {
		i := strings.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		line := rest[:i]
		rest = rest[i+1:]
		if e, ok := parseNameLine(line); ok {
			names = append(names, e)
		}
	}
	return epmdPort, names, nil
}

func parseNameLine(line string) (NameEntry, bool) {
	s, ok := strings.CutPrefix(line, "name ")
	if !ok {
		return NameEntry{}, false
	}
	sp := strings.IndexByte(s, ' ')
	if sp <= 0 {
		return NameEntry{}, false
	}
	name := s[:sp]
	p, ok := strings.CutPrefix(s[sp+1:], "at port ")
	if !ok || p == "" || len(p) > 5 {
		return NameEntry{}, false
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 0xffff || p[0] == '+' || p[0] == '-' {
		return NameEntry{}, false
	}
	return NameEntry{Name: name, Port: port}, true
}
