package demo

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
)

// A tiny pickle encoder: just the types a Django view caches, written the
// way CPython's pickle.dumps(v, protocol=4) writes them, byte for byte for
// the values the tests compare (framing, MEMOIZE after each string, list,
// dict, tuple and global, SETITEM for a one-item dict). Strings and globals
// are memoized by value, so a repeated string becomes a BINGET, as it does
// in Python when the same object (a dict key, a constant) appears twice.
//
// The whole pickle goes in one frame. Python starts a new frame every
// 64 KiB; a single larger frame still loads everywhere, and the demo's
// values stay far below that.

// pickleProtocol is django-redis's default: pickle.DEFAULT_PROTOCOL, 4 from
// Python 3.8 to 3.13.
const pickleProtocol = 4

// Pickle opcodes (Lib/pickle.py).
const (
	opMark            = '('
	opStop            = '.'
	opNone            = 'N'
	opBinInt          = 'J'
	opBinInt1         = 'K'
	opBinInt2         = 'M'
	opBinFloat        = 'G'
	opBinUnicode      = 'X'
	opShortBinBytes   = 'C'
	opEmptyList       = ']'
	opAppend          = 'a'
	opAppends         = 'e'
	opEmptyDict       = '}'
	opSetItem         = 's'
	opSetItems        = 'u'
	opBinGet          = 'h'
	opLongBinGet      = 'j'
	opReduce          = 'R'
	opProto           = 0x80
	opTuple1          = 0x85
	opNewTrue         = 0x88
	opNewFalse        = 0x89
	opLong1           = 0x8a
	opShortBinUnicode = 0x8c
	opStackGlobal     = 0x93
	opMemoize         = 0x94
	opFrame           = 0x95
)

// batchSize is pickle's _BATCHSIZE: items per APPENDS or SETITEMS.
const batchSize = 1000

// headerLen is PROTO 4 plus FRAME and its 8-byte length.
const headerLen = 2 + 1 + 8

// dict is a Python dict with its insertion order (Go maps have none).
type dict []kv

// kv is one dict item.
type kv struct {
	K string
	V any
}

// pyDate pickles as datetime.date(Y, M, D).
type pyDate struct{ Y, M, D int }

// pyDecimal pickles as decimal.Decimal(string).
type pyDecimal string

type pickler struct {
	buf     []byte
	strs    map[string]int // memo index of each string written
	globals map[string]int // memo index of each class, by "module.name"
	next    int            // next memo index
}

// pickleDumps encodes v as pickle protocol 4. Supported: nil, bool, int,
// int64, float64, string, []any, dict, pyDate and pyDecimal; anything else
// is an error.
func pickleDumps(v any) ([]byte, error) {
	p := pickler{buf: make([]byte, headerLen, 256)}
	if err := p.save(v); err != nil {
		return nil, err
	}
	p.buf = append(p.buf, opStop)
	body := len(p.buf) - headerLen
	if body < 4 { // Python's _FRAME_SIZE_MIN: tiny pickles go unframed
		p.buf[headerLen-2], p.buf[headerLen-1] = opProto, pickleProtocol
		return p.buf[headerLen-2:], nil
	}
	p.buf[0], p.buf[1], p.buf[2] = opProto, pickleProtocol, opFrame
	binary.LittleEndian.PutUint64(p.buf[3:headerLen], uint64(body))
	return p.buf, nil
}

func (p *pickler) save(v any) error {
	switch v := v.(type) {
	case nil:
		p.buf = append(p.buf, opNone)
	case bool:
		if v {
			p.buf = append(p.buf, opNewTrue)
		} else {
			p.buf = append(p.buf, opNewFalse)
		}
	case int:
		p.saveInt(int64(v))
	case int64:
		p.saveInt(v)
	case float64:
		p.buf = append(p.buf, opBinFloat)
		p.buf = binary.BigEndian.AppendUint64(p.buf, math.Float64bits(v))
	case string:
		return p.saveString(v)
	case []any:
		p.buf = append(p.buf, opEmptyList)
		p.memoize()
		return p.saveBatches(len(v), opAppend, opAppends, func(i int) error { return p.save(v[i]) })
	case dict:
		p.buf = append(p.buf, opEmptyDict)
		p.memoize()
		return p.saveBatches(len(v), opSetItem, opSetItems, func(i int) error {
			if err := p.saveString(v[i].K); err != nil {
				return err
			}
			return p.save(v[i].V)
		})
	case pyDate:
		// date.__reduce__ is (date, (4-byte state,)): year big-endian, month, day.
		state := []byte{byte(v.Y >> 8), byte(v.Y), byte(v.M), byte(v.D)}
		return p.saveReduce("datetime", "date", func() error {
			p.buf = append(p.buf, opShortBinBytes, byte(len(state)))
			p.buf = append(p.buf, state...)
			p.memoize()
			return nil
		})
	case pyDecimal:
		// Decimal.__reduce__ is (Decimal, (str(self),)).
		return p.saveReduce("decimal", "Decimal", func() error { return p.saveString(string(v)) })
	default:
		return fmt.Errorf("pickle: unsupported type %T", v)
	}
	return nil
}

// saveBatches writes n items the way CPython's C pickler does
// (batch_list_exact, batch_dict_exact): the single-item opcode when there
// is one item, else MARK … APPENDS (or SETITEMS) per batch of up to 1000.
func (p *pickler) saveBatches(n int, one, many byte, item func(int) error) error {
	if n == 1 {
		if err := item(0); err != nil {
			return err
		}
		p.buf = append(p.buf, one)
		return nil
	}
	for start := 0; start < n; start += batchSize {
		p.buf = append(p.buf, opMark)
		for i := start; i < min(start+batchSize, n); i++ {
			if err := item(i); err != nil {
				return err
			}
		}
		p.buf = append(p.buf, many)
	}
	return nil
}

// saveReduce writes cls(arg) as pickle's save_reduce does: the class (a
// BINGET when already written), the one-element argument tuple, REDUCE.
func (p *pickler) saveReduce(module, name string, arg func() error) error {
	qual := module + "." + name
	if i, ok := p.globals[qual]; ok {
		p.get(i)
	} else {
		if err := p.saveString(module); err != nil {
			return err
		}
		if err := p.saveString(name); err != nil {
			return err
		}
		p.buf = append(p.buf, opStackGlobal)
		if p.globals == nil {
			p.globals = make(map[string]int)
		}
		p.globals[qual] = p.next
		p.memoize()
	}
	if err := arg(); err != nil {
		return err
	}
	p.buf = append(p.buf, opTuple1)
	p.memoize()
	p.buf = append(p.buf, opReduce)
	p.memoize()
	return nil
}

func (p *pickler) saveInt(v int64) {
	switch {
	case v >= 0 && v <= 0xff:
		p.buf = append(p.buf, opBinInt1, byte(v))
	case v >= 0 && v <= 0xffff:
		p.buf = append(p.buf, opBinInt2, byte(v), byte(v>>8))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		p.buf = append(p.buf, opBinInt)
		p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(v))
	default:
		b := encodeLong(v)
		p.buf = append(p.buf, opLong1, byte(len(b)))
		p.buf = append(p.buf, b...)
	}
}

// encodeLong is pickle's encode_long: little-endian two's complement in the
// fewest bytes that keep the sign.
func encodeLong(v int64) []byte {
	mag := uint64(v)
	if v < 0 {
		mag = -mag
	}
	n := bits.Len64(mag)/8 + 1
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(v >> (8 * i)) // Go shifts past 64 bits give 0 or -1
	}
	if v < 0 && n > 1 && b[n-1] == 0xff && b[n-2]&0x80 != 0 {
		b = b[:n-1]
	}
	return b
}

func (p *pickler) saveString(s string) error {
	if i, ok := p.strs[s]; ok {
		p.get(i)
		return nil
	}
	switch {
	case len(s) < 256:
		p.buf = append(p.buf, opShortBinUnicode, byte(len(s)))
	case uint64(len(s)) <= math.MaxUint32:
		p.buf = append(p.buf, opBinUnicode)
		p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(len(s)))
	default:
		return fmt.Errorf("pickle: string of %d bytes", len(s))
	}
	p.buf = append(p.buf, s...)
	if p.strs == nil {
		p.strs = make(map[string]int)
	}
	p.strs[s] = p.next
	p.memoize()
	return nil
}

func (p *pickler) memoize() {
	p.buf = append(p.buf, opMemoize)
	p.next++
}

func (p *pickler) get(i int) {
	if i < 256 {
		p.buf = append(p.buf, opBinGet, byte(i))
		return
	}
	p.buf = append(p.buf, opLongBinGet)
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(i))
}
