package dist

import (
	"crypto/md5"
	"encoding/binary"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Handshake message tags (the first byte of each handshake message).
const (
	TagSendName       = 'N' // 78: send_name (version 6) and challenge
	TagSendNameV5     = 'n' // 110: old send_name (version 5)
	TagStatus         = 's' // 115
	TagComplement     = 'c' // 99: flags high word + creation after an old send_name
	TagChallengeReply = 'r' // 114
	TagChallengeAck   = 'a' // 97
)

// Status texts carried after the 's' tag (without the leading 's').
const (
	StatusOK             = "ok"
	StatusOKSimultaneous = "ok_simultaneous"
	StatusNok            = "nok"
	StatusNotAllowed     = "not_allowed"
	StatusAlive          = "alive"
	StatusNamed          = "named" // wire form "named:" + Nlen:16 + Name + Creation:32
	StatusTrue           = "true"  // initiator's reply to "alive"
	StatusFalse          = "false" // initiator's reply to "alive"
	// StatusAliveFalse is the Status of the StatusError a handshake ends
	// with when the peer said "alive" and we answered "false": a
	// connection between the two nodes already stands.
	StatusAliveFalse = "alive/false"
)

// Limits.
const (
	// MaxNameLen is the longest node name in characters (node names are atoms).
	MaxNameLen = 255
	// MaxHandshakeMessage bounds a handshake message (4-byte TLS framing
	// could otherwise announce up to 4 GiB). The largest legal message is a
	// challenge with a 255-character name of 4-byte UTF-8 characters:
	// 19 + 1020 bytes.
	MaxHandshakeMessage = 2048
	maxStatusText       = 64
)

// SendName is the initiator's first message. Version is 6 for 'N' and 5
// for the old 'n' form (whose Flags hold only the low 32 bits and whose
// Creation arrives later in the complement).
type SendName struct {
	Version  int
	Flags    Flags
	Creation uint32
	Name     string
}

// Challenge is the acceptor's 'N' challenge message.
type Challenge struct {
	Flags     Flags
	Challenge uint32
	Creation  uint32
	Name      string
}

// Status is the acceptor's status message, or the initiator's reply to
// "alive" ("true"/"false"). Name and Creation are set only for StatusNamed.
type Status struct {
	Text     string
	Name     string
	Creation uint32
}

// Complement follows an old 'n' send_name: the high flag word and creation.
type Complement struct {
	FlagsHigh uint32
	Creation  uint32
}

// ChallengeReply is the initiator's 'r' message: its own challenge and the
// digest of the acceptor's challenge.
type ChallengeReply struct {
	Challenge uint32
	Digest    [16]byte
}

// ChallengeAck is the acceptor's 'a' message: the digest of the initiator's challenge.
type ChallengeAck struct {
	Digest [16]byte
}

// Digest returns MD5(cookie ++ decimal(challenge)), section 2.3.
func Digest(challenge uint32, cookie string) [16]byte {
	var buf [64]byte
	h := md5.New()
	h.Write([]byte(cookie))
	h.Write(strconv.AppendUint(buf[:0], uint64(challenge), 10))
	var d [16]byte
	h.Sum(d[:0])
	return d
}

// ParseSendName parses a send_name message ('N' version 6 or 'n' version 5).
// Trailing bytes after a version-6 name are ignored, as OTP does. The name
// is not validated here; see ValidName.
func ParseSendName(b []byte) (SendName, error) {
	if len(b) == 0 {
		return SendName{}, malformed("send_name", "empty")
	}
	switch b[0] {
	case TagSendName:
		if len(b) < 15 {
			return SendName{}, malformed("send_name", "short message")
		}
		n := int(binary.BigEndian.Uint16(b[13:]))
		if len(b) < 15+n {
			return SendName{}, malformed("send_name", "name runs past the end")
		}
		return SendName{
			Version:  6,
			Flags:    Flags(binary.BigEndian.Uint64(b[1:])),
			Creation: binary.BigEndian.Uint32(b[9:]),
			Name:     string(b[15 : 15+n]),
		}, nil
	case TagSendNameV5:
		if len(b) < 7 {
			return SendName{}, malformed("send_name", "short v5 message")
		}
		if v := binary.BigEndian.Uint16(b[1:]); v != 5 {
			return SendName{}, malformed("send_name", "v5 message with version "+strconv.Itoa(int(v)))
		}
		return SendName{
			Version: 5,
			Flags:   Flags(binary.BigEndian.Uint32(b[3:])),
			Name:    string(b[7:]),
		}, nil
	}
	return SendName{}, malformed("send_name", "unexpected tag "+strconv.Itoa(int(b[0])))
}

// AppendSendName appends a version-6 'N' send_name to dst.
func AppendSendName(dst []byte, m SendName) []byte {
	dst = append(dst, TagSendName)
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.Flags))
	dst = binary.BigEndian.AppendUint32(dst, m.Creation)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(m.Name)))
	return append(dst, m.Name...)
}

// ParseChallenge parses an 'N' challenge message. Trailing bytes are ignored.
func ParseChallenge(b []byte) (Challenge, error) {
	if len(b) == 0 || b[0] != TagSendName {
		return Challenge{}, malformed("challenge", "unexpected tag")
	}
	if len(b) < 19 {
		return Challenge{}, malformed("challenge", "short message")
	}
	n := int(binary.BigEndian.Uint16(b[17:]))
	if len(b) < 19+n {
		return Challenge{}, malformed("challenge", "name runs past the end")
	}
	return Challenge{
		Flags:     Flags(binary.BigEndian.Uint64(b[1:])),
		Challenge: binary.BigEndian.Uint32(b[9:]),
		Creation:  binary.BigEndian.Uint32(b[13:]),
		Name:      string(b[19 : 19+n]),
	}, nil
}

// AppendChallenge appends an 'N' challenge to dst.
func AppendChallenge(dst []byte, m Challenge) []byte {
	dst = append(dst, TagSendName)
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.Flags))
	dst = binary.BigEndian.AppendUint32(dst, m.Challenge)
	dst = binary.BigEndian.AppendUint32(dst, m.Creation)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(m.Name)))
	return append(dst, m.Name...)
}

// ParseStatus parses an 's' status message. Plain statuses must be short
// printable ASCII; "named:" carries a name and a creation.
func ParseStatus(b []byte) (Status, error) {
	if len(b) == 0 || b[0] != TagStatus {
		return Status{}, malformed("status", "unexpected tag")
	}
	b = b[1:]
	if len(b) >= 6 && string(b[:6]) == StatusNamed+":" {
		b = b[6:]
		if len(b) < 2 {
			return Status{}, malformed("status", "short named status")
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) != 2+n+4 {
			return Status{}, malformed("status", "named status of wrong length")
		}
		return Status{
			Text:     StatusNamed,
			Name:     string(b[2 : 2+n]),
			Creation: binary.BigEndian.Uint32(b[2+n:]),
		}, nil
	}
	if len(b) == 0 || len(b) > maxStatusText {
		return Status{}, malformed("status", "bad status length")
	}
	for _, c := range b {
		if c < 0x21 || c > 0x7e {
			return Status{}, malformed("status", "non-printable status text")
		}
	}
	return Status{Text: string(b)}, nil
}

// AppendStatus appends an 's' status message to dst.
func AppendStatus(dst []byte, m Status) []byte {
	dst = append(dst, TagStatus)
	if m.Text == StatusNamed {
		dst = append(dst, StatusNamed+":"...)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(m.Name)))
		dst = append(dst, m.Name...)
		return binary.BigEndian.AppendUint32(dst, m.Creation)
	}
	return append(dst, m.Text...)
}

// ParseComplement parses a 'c' complement message.
func ParseComplement(b []byte) (Complement, error) {
	if len(b) != 9 || b[0] != TagComplement {
		return Complement{}, malformed("complement", "bad tag or length")
	}
	return Complement{
		FlagsHigh: binary.BigEndian.Uint32(b[1:]),
		Creation:  binary.BigEndian.Uint32(b[5:]),
	}, nil
}

// AppendComplement appends a 'c' complement message to dst.
func AppendComplement(dst []byte, m Complement) []byte {
	dst = append(dst, TagComplement)
	dst = binary.BigEndian.AppendUint32(dst, m.FlagsHigh)
	return binary.BigEndian.AppendUint32(dst, m.Creation)
}

// ParseChallengeReply parses an 'r' message.
func ParseChallengeReply(b []byte) (ChallengeReply, error) {
	if len(b) != 21 || b[0] != TagChallengeReply {
		return ChallengeReply{}, malformed("challenge_reply", "bad tag or length")
	}
	m := ChallengeReply{Challenge: binary.BigEndian.Uint32(b[1:])}
	copy(m.Digest[:], b[5:])
	return m, nil
}

// AppendChallengeReply appends an 'r' message to dst.
func AppendChallengeReply(dst []byte, m ChallengeReply) []byte {
	dst = append(dst, TagChallengeReply)
	dst = binary.BigEndian.AppendUint32(dst, m.Challenge)
	return append(dst, m.Digest[:]...)
}

// ParseChallengeAck parses an 'a' message.
func ParseChallengeAck(b []byte) (ChallengeAck, error) {
	if len(b) != 17 || b[0] != TagChallengeAck {
		return ChallengeAck{}, malformed("challenge_ack", "bad tag or length")
	}
	var m ChallengeAck
	copy(m.Digest[:], b[1:])
	return m, nil
}

// AppendChallengeAck appends an 'a' message to dst.
func AppendChallengeAck(dst []byte, m ChallengeAck) []byte {
	dst = append(dst, TagChallengeAck)
	return append(dst, m.Digest[:]...)
}

// ValidName checks a node name: valid UTF-8, at most MaxNameLen
// characters, and "alive@host" with both parts non-empty (or, when hostOnly
// is set, as in a NAME_ME send_name, a non-empty host without '@').
func ValidName(name string, hostOnly bool) error {
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameLen {
		return &NameError{Name: name}
	}
	at := strings.IndexByte(name, '@')
	if hostOnly {
		if at >= 0 {
			return &NameError{Name: name}
		}
		return nil
	}
	if at <= 0 || at == len(name)-1 || strings.IndexByte(name[at+1:], '@') >= 0 {
		return &NameError{Name: name}
	}
	return nil
}

// NameError reports an invalid node name. It matches ErrBadName.
type NameError struct{ Name string }

func (e *NameError) Error() string {
	n := e.Name
	if len(n) > 300 {
		n = n[:300] + "..."
	}
	return "dist: bad node name " + strconv.Quote(n)
}

// Is reports whether target is ErrBadName.
func (e *NameError) Is(target error) bool { return target == ErrBadName }

// HostPart returns the part of a node name after '@' (all of it if there is no '@').
func HostPart(name string) string {
	if i := strings.IndexByte(name, '@'); i >= 0 {
		return name[i+1:]
	}
	return name
}
