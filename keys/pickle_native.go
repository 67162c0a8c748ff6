package keys

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/nlpodyssey/gopickle/types"
)

// The classes rendered natively, as Python's repr shows them: datetime,
// date, time, timedelta, timezone, Decimal, UUID, bytes (protocol 2's
// _codecs.encode), bytearray. Sets are containers (pickle_render.go). A
// known class called with arguments of an unexpected shape falls back to
// the generic module.Name(args…) rendering, so nothing is hidden.

// native renders a known class natively, as Python's repr does, when its
// arguments have the expected shape.
func (p *pyPrinter) native(o *pyObject, depth int) (string, bool) {
	c, ok := o.callee.(*pyClass)
	if !ok || c.native == "" || o.items != nil || o.dict != nil {
		return "", false
	}
	if c.native != "uuid" && o.state != nil {
		return "", false
	}
	args := o.args
	switch c.native {
	case "datetime", "time":
		if len(args) < 1 || len(args) > 2 {
			return "", false
		}
		b, ok := stateBytes(args[0])
		if !ok {
			return "", false
		}
		var s string
		var fold bool
		switch {
		case c.native == "datetime" && len(b) == 10:
			s, fold, ok = pyDatetime(b)
		case c.native == "time" && len(b) == 6:
			s, fold, ok = pyTime(b)
		default:
			ok = false
		}
		if !ok {
			return "", false
		}
		if len(args) == 2 && args[1] != nil {
			w := lineWriter{max: 200}
			p.flat(&w, args[1], depth+1)
			s += ", tzinfo=" + w.String()
		}
		if fold {
			s += ", fold=1"
		}
		return s + ")", true
	case "date":
		if len(args) != 1 {
			return "", false
		}
		b, ok := stateBytes(args[0])
		if !ok || len(b) != 4 || b[2] < 1 || b[2] > 12 || b[3] < 1 || b[3] > 31 {
			return "", false
		}
		return fmt.Sprintf("datetime.date(%d, %d, %d)", int(b[0])<<8|int(b[1]), b[2], b[3]), true
	case "timedelta":
		d, s, us, ok := timedeltaArgs(args)
		if !ok {
			return "", false
		}
		return pyTimedelta(d, s, us), true
	case "timezone":
		if len(args) < 1 || len(args) > 2 {
			return "", false
		}
		td, ok := args[0].(*pyObject)
		if !ok {
			return "", false
		}
		tdc, ok := td.callee.(*pyClass)
		if !ok || tdc.native != "timedelta" {
			return "", false
		}
		d, s, us, ok := timedeltaArgs(td.args)
		if !ok {
			return "", false
		}
		if d == 0 && s == 0 && us == 0 && len(args) == 1 {
			return "datetime.timezone.utc", true
		}
		out := "datetime.timezone(" + pyTimedelta(d, s, us)
		if len(args) == 2 {
			name, ok := args[1].(string)
			if !ok {
				return "", false
			}
			out += ", " + pyQuote(name)
		}
		return out + ")", true
	case "decimal":
		if len(args) != 1 {
			return "", false
		}
		s, ok := args[0].(string)
		if !ok || len(s) > 1000 {
			return "", false
		}
		return "Decimal(" + pyQuote(s) + ")", true
	case "uuid":
		if len(args) != 0 || len(o.state) != 1 {
			return "", false
		}
		return pyUUID(o.state[0])
	case "bytearray":
		var b []byte
		switch {
		case len(args) == 0:
		case len(args) == 1:
			if b, ok = bytesArg(args[0]); !ok {
				return "", false
			}
		case len(args) == 2:
			if b, ok = latin1Arg(args[0], args[1]); !ok {
				return "", false
			}
		default:
			return "", false
		}
		return "bytearray(" + string(appendPyBytes(nil, b[:min(len(b), MaxLineBytes)])) + ")", true
	}
	return "", false
}

// bytesOf recognises the objects that stand for bytes: protocol 2's
// _codecs.encode(str, 'latin1') and builtins.bytes().
func bytesOf(o *pyObject) ([]byte, bool) {
	c, ok := o.callee.(*pyClass)
	if !ok || o.state != nil || o.items != nil || o.dict != nil {
		return nil, false
	}
	switch {
	case c.native == "encode" && len(o.args) == 2:
		return latin1Arg(o.args[0], o.args[1])
	case c.native == "bytes" && len(o.args) == 0:
		return []byte{}, true
	}
	return nil, false
}

// bytesArg is a bytes value: BINBYTES or one of the bytesOf objects.
func bytesArg(v any) ([]byte, bool) {
	switch t := v.(type) {
	case []byte:
		return t, true
	case *pyObject:
		if t.cache != nil {
			return t.cache.bytes, t.cache.isBytes
		}
		return bytesOf(t)
	}
	return nil, false
}

func latin1Arg(s, enc any) ([]byte, bool) {
	str, ok1 := s.(string)
	e, ok2 := enc.(string)
	if !ok1 || !ok2 {
		return nil, false
	}
	switch strings.ToLower(e) {
	case "latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1":
	default:
		return nil, false
	}
	b := make([]byte, 0, len(str))
	for _, r := range str {
		if r > 0xff {
			return nil, false
		}
		b = append(b, byte(r))
	}
	return b, true
}

// stateBytes is the state argument of datetime, date and time: bytes, or a
// Python 2 str holding the same bytes.
func stateBytes(v any) ([]byte, bool) {
	if s, ok := v.(string); ok {
		return []byte(s), true
	}
	return bytesArg(v)
}

// pyDatetime is Python's repr of a datetime from its 10-byte state, without
// the closing parenthesis (tzinfo and fold follow).
func pyDatetime(b []byte) (string, bool, bool) {
	year := int(b[0])<<8 | int(b[1])
	month, fold := int(b[2]&0x7f), b[2]>>7
	day, hour, minute, sec := int(b[3]), int(b[4]), int(b[5]), int(b[6])
	us := int(b[7])<<16 | int(b[8])<<8 | int(b[9])
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 || us > 999999 {
		return "", false, false
	}
	fields := []int{year, month, day, hour, minute, sec, us}
	if fields[6] == 0 {
		fields = fields[:6]
		if fields[5] == 0 {
			fields = fields[:5]
		}
	}
	return "datetime.datetime(" + joinInts(fields), fold != 0, true
}

// pyTime is Python's repr of a time from its 6-byte state, without the
// closing parenthesis.
func pyTime(b []byte) (string, bool, bool) {
	hour, fold := int(b[0]&0x7f), b[0]>>7
	minute, sec := int(b[1]), int(b[2])
	us := int(b[3])<<16 | int(b[4])<<8 | int(b[5])
	if hour > 23 || minute > 59 || sec > 59 || us > 999999 {
		return "", false, false
	}
	fields := []int{hour, minute, sec, us}
	if us == 0 {
		fields = fields[:3]
		if sec == 0 {
			fields = fields[:2]
		}
	}
	return "datetime.time(" + joinInts(fields), fold != 0, true
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

func timedeltaArgs(args []any) (d, s, us int, ok bool) {
	if len(args) != 3 {
		return 0, 0, 0, false
	}
	d, ok1 := args[0].(int)
	s, ok2 := args[1].(int)
	us, ok3 := args[2].(int)
	return d, s, us, ok1 && ok2 && ok3
}

func pyTimedelta(d, s, us int) string {
	var parts []string
	if d != 0 {
		parts = append(parts, "days="+strconv.Itoa(d))
	}
	if s != 0 {
		parts = append(parts, "seconds="+strconv.Itoa(s))
	}
	if us != 0 {
		parts = append(parts, "microseconds="+strconv.Itoa(us))
	}
	if len(parts) == 0 {
		parts = []string{"0"}
	}
	return "datetime.timedelta(" + strings.Join(parts, ", ") + ")"
}

// pyUUID renders a UUID from its state, {'int': n[, 'is_safe': …]}.
func pyUUID(state any) (string, bool) {
	d, ok := state.(*types.Dict)
	if !ok {
		return "", false
	}
	raw, ok := d.Get("int")
	if !ok {
		return "", false
	}
	var n *big.Int
	switch t := raw.(type) {
	case int:
		n = big.NewInt(int64(t))
	case *big.Int:
		n = t
	default:
		return "", false
	}
	if n.Sign() < 0 || n.BitLen() > 128 {
		return "", false
	}
	h := fmt.Sprintf("%032x", n)
	return "UUID('" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:] + "')", true
}

// pyFloat formats a float as Python's repr does.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}
