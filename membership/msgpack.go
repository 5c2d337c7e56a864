package membership

import (
	"errors"
	"fmt"
	"math"
)

// nodeRecord is one entry of memberlist's state table as its push/pull
// message carries it (memberlist's pushNodeState).
type nodeRecord struct {
	Name        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Incarnation uint32
	State       int // memberlist.NodeStateType: 0 alive, 1 suspect, 2 dead, 3 left
}

// ErrSnapshot is wrapped when memberlist's state table cannot be read.
var ErrSnapshot = errors.New("membership: bad state snapshot")

// mpReader is a small msgpack reader for the subset memberlist's encoder
// (hashicorp/go-msgpack, MsgpackHandle defaults) writes: maps with string
// keys, integers, booleans, raw strings and byte arrays, arrays, nil.
type mpReader struct {
	b   []byte
	off int
}

func (r *mpReader) fail(format string, args ...any) error {
	return fmt.Errorf("%w: offset %d: %s", ErrSnapshot, r.off, fmt.Sprintf(format, args...))
}

func (r *mpReader) need(n int) error {
	if n < 0 || len(r.b)-r.off < n {
		return r.fail("truncated: need %d bytes", n)
	}
	return nil
}

func (r *mpReader) byte1() (byte, error) {
	if err := r.need(1); err != nil {
		return 0, err
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *mpReader) uintN(n int) (uint64, error) {
	if err := r.need(n); err != nil {
		return 0, err
	}
	var v uint64
	for _, c := range r.b[r.off : r.off+n] {
		v = v<<8 | uint64(c)
	}
	r.off += n
	return v, nil
}

// mapLen reads a map header.
func (r *mpReader) mapLen() (int, error) {
	c, err := r.byte1()
	if err != nil {
		return 0, err
	}
	switch {
	case c&0xf0 == 0x80:
		return int(c & 0x0f), nil
	case c == 0xde:
		v, err := r.uintN(2)
		return int(v), err
	case c == 0xdf:
		v, err := r.uintN(4)
		if err == nil && v > uint64(len(r.b)) {
			return 0, r.fail("map of %d entries", v)
		}
		return int(v), err
	}
	return 0, r.fail("want a map, got 0x%02x", c)
}

// raw reads a string or byte array (the result aliases the input).
func (r *mpReader) raw() ([]byte, error) {
	c, err := r.byte1()
	if err != nil {
		return nil, err
	}
	var n uint64
	switch {
	case c&0xe0 == 0xa0:
		n = uint64(c & 0x1f)
	case c == 0xd9 || c == 0xc4:
		n, err = r.uintN(1)
	case c == 0xda || c == 0xc5:
		n, err = r.uintN(2)
	case c == 0xdb || c == 0xc6:
		n, err = r.uintN(4)
	case c == 0xc0:
		return nil, nil
	default:
		return nil, r.fail("want a string or bytes, got 0x%02x", c)
	}
	if err != nil {
		return nil, err
	}
	if n > uint64(len(r.b)-r.off) {
		return nil, r.fail("string of %d bytes, %d left", n, len(r.b)-r.off)
	}
	v := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return v, nil
}

// integer reads any msgpack integer (or a boolean as 0/1).
func (r *mpReader) integer() (int64, error) {
	c, err := r.byte1()
	if err != nil {
		return 0, err
	}
	switch {
	case c <= 0x7f:
		return int64(c), nil
	case c >= 0xe0:
		return int64(int8(c)), nil
	case c == 0xc2:
		return 0, nil
	case c == 0xc3:
		return 1, nil
	case c >= 0xcc && c <= 0xcf:
		v, err := r.uintN(1 << (c - 0xcc))
		if err == nil && v > math.MaxInt64 {
			return 0, r.fail("integer %d out of range", v)
		}
		return int64(v), err
	case c >= 0xd0 && c <= 0xd3:
		n := 1 << (c - 0xd0)
		v, err := r.uintN(n)
		if err != nil {
			return 0, err
		}
		shift := 64 - 8*n
		return int64(v<<shift) >> shift, nil
	}
	return 0, r.fail("want an integer, got 0x%02x", c)
}

// skip skips one value, nested at most depth levels.
func (r *mpReader) skip(depth int) error {
	if depth > 32 {
		return r.fail("nested too deep")
	}
	c, err := r.byte1()
	if err != nil {
		return err
	}
	var items uint64 // nested values to skip
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return nil
	case c&0xf0 == 0x80:
		items = 2 * uint64(c&0x0f)
	case c&0xf0 == 0x90:
		items = uint64(c & 0x0f)
	case c&0xe0 == 0xa0:
		return r.skipBytes(uint64(c & 0x1f))
	case c == 0xc4 || c == 0xd9:
		n, err := r.uintN(1)
		if err != nil {
			return err
		}
		return r.skipBytes(n)
	case c == 0xc5 || c == 0xda:
		n, err := r.uintN(2)
		if err != nil {
			return err
		}
		return r.skipBytes(n)
	case c == 0xc6 || c == 0xdb:
		n, err := r.uintN(4)
		if err != nil {
			return err
		}
		return r.skipBytes(n)
	case c == 0xca:
		return r.skipBytes(4)
	case c == 0xcb:
		return r.skipBytes(8)
	case c >= 0xcc && c <= 0xcf:
		return r.skipBytes(1 << (c - 0xcc))
	case c >= 0xd0 && c <= 0xd3:
		return r.skipBytes(1 << (c - 0xd0))
	case c == 0xdc || c == 0xdd:
		n, err := r.uintN(2 << (c - 0xdc))
		if err != nil {
			return err
		}
		items = n
	case c == 0xde || c == 0xdf:
		n, err := r.uintN(2 << (c - 0xde))
		if err != nil {
			return err
		}
		items = 2 * n
	default:
		return r.fail("unsupported msgpack type 0x%02x", c)
	}
	if items > uint64(len(r.b)-r.off) {
		return r.fail("%d nested values, %d bytes left", items, len(r.b)-r.off)
	}
	for i := uint64(0); i < items; i++ {
		if err := r.skip(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

func (r *mpReader) skipBytes(n uint64) error {
	if n > uint64(len(r.b)-r.off) {
		return r.fail("value of %d bytes, %d left", n, len(r.b)-r.off)
	}
	r.off += int(n)
	return nil
}

// maxSnapshotNodes bounds the node count a snapshot may announce
// (memberlist's own limit is 128 Ki).
const maxSnapshotNodes = 128 << 10

// parsePushPull decodes memberlist's push/pull answer: the type byte 6, a
// header map {Nodes, UserStateLen, Join}, then Nodes node maps. The
// records own their bytes.
func parsePushPull(b []byte) ([]nodeRecord, error) {
	r := &mpReader{b: b}
	t, err := r.byte1()
	if err != nil {
		return nil, err
	}
	if t != 6 {
		return nil, r.fail("message type %d, want push/pull (6)", t)
	}
	n, err := r.mapLen()
	if err != nil {
		return nil, err
	}
	nodes := int64(-1)
	for i := 0; i < n; i++ {
		k, err := r.raw()
		if err != nil {
			return nil, err
		}
		if string(k) == "Nodes" {
			if nodes, err = r.integer(); err != nil {
				return nil, err
			}
			continue
		}
		if err := r.skip(0); err != nil {
			return nil, err
		}
	}
	if nodes < 0 || nodes > maxSnapshotNodes || nodes > int64(len(b)) {
		return nil, r.fail("header announces %d nodes", nodes)
	}
	out := make([]nodeRecord, 0, nodes)
	for i := int64(0); i < nodes; i++ {
		rec, err := r.node()
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

func (r *mpReader) node() (nodeRecord, error) {
	var rec nodeRecord
	n, err := r.mapLen()
	if err != nil {
		return rec, err
	}
	for i := 0; i < n; i++ {
		k, err := r.raw()
		if err != nil {
			return rec, err
		}
		switch string(k) {
		case "Name":
			v, err := r.raw()
			if err != nil {
				return rec, err
			}
			rec.Name = string(v)
		case "Addr":
			v, err := r.raw()
			if err != nil {
				return rec, err
			}
			rec.Addr = append([]byte(nil), v...)
		case "Meta":
			v, err := r.raw()
			if err != nil {
				return rec, err
			}
			rec.Meta = append([]byte(nil), v...)
		case "Port", "Incarnation", "State":
			v, err := r.integer()
			if err != nil {
				return rec, err
			}
			switch string(k) {
			case "Port":
				if v < 0 || v > math.MaxUint16 {
					return rec, r.fail("port %d", v)
				}
				rec.Port = uint16(v)
			case "Incarnation":
				if v < 0 || v > math.MaxUint32 {
					return rec, r.fail("incarnation %d", v)
				}
				rec.Incarnation = uint32(v)
			case "State":
				rec.State = int(v)
			}
		default:
			if err := r.skip(0); err != nil {
				return rec, err
			}
		}
	}
	return rec, nil
}
