package keys

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// msgpackLines pretty-prints one msgpack value in the JSON layout (two-space
// indent, one element per line): strings as JSON strings, binary as b'…',
// timestamps as timestamp(RFC 3339), other extensions as ext(type, b'…').
// The value must span the whole input. With strict (the automatic chain) it
// must also be a map or an array, since short binary values too often
// decode as a msgpack scalar.
func msgpackLines(b []byte, strict bool) ([]string, error) {
	if len(b) == 0 {
		return nil, errors.New("empty input")
	}
	if strict && !looksMsgpack(b) {
		return nil, errors.New("not a map or an array")
	}
	r := bytes.NewReader(b)
	p := mpPrinter{in: b, r: r, dec: msgpack.NewDecoder(r), sink: newSink(0)}
	if err := p.value(0, "", ""); err != nil {
		return nil, fmt.Errorf("at byte %d: %w", len(b)-r.Len(), err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%d bytes left after the value", r.Len())
	}
	return p.sink.result(), nil
}

type mpPrinter struct {
	in   []byte
	r    *bytes.Reader
	dec  *msgpack.Decoder
	sink *lineSink
}

var errMsgpackDepth = errors.New("nested too deep")

// value prints the next value at depth, after prefix (a key) and followed by
// suffix (a comma).
func (p *mpPrinter) value(depth int, prefix, suffix string) error {
	if depth > maxNesting {
		return errMsgpackDepth
	}
	code, err := p.dec.PeekCode()
	if err != nil {
		return err
	}
	isMap := msgpcode.IsFixedMap(code) || code == msgpcode.Map16 || code == msgpcode.Map32
	isArray := msgpcode.IsFixedArray(code) || code == msgpcode.Array16 || code == msgpcode.Array32
	if !isMap && !isArray {
		w := lineWriter{max: MaxLineBytes}
		if err := p.scalar(&w, code); err != nil {
			return err
		}
		p.line(depth, prefix+w.String()+suffix)
		return nil
	}
	n, err := p.length(isMap)
	if err != nil {
		return err
	}
	open, close := "[", "]"
	if isMap {
		open, close = "{", "}"
	}
	if n == 0 {
		p.line(depth, prefix+open+close+suffix)
		return nil
	}
	p.line(depth, prefix+open)
	for i := range n {
		sep := ","
		if i == n-1 {
			sep = ""
		}
		key := ""
		if isMap {
			w := lineWriter{max: MaxLineBytes / 2}
			if err := p.flat(&w, depth+1); err != nil {
				return err
			}
			key = w.String() + ": "
		}
		if err := p.value(depth+1, key, sep); err != nil {
			return err
		}
	}
	p.line(depth, close+suffix)
	return nil
}

// length reads a map or array header and checks it against the bytes left:
// every element takes at least one byte.
func (p *mpPrinter) length(isMap bool) (int, error) {
	var n int
	var err error
	if isMap {
		n, err = p.dec.DecodeMapLen()
	} else {
		n, err = p.dec.DecodeArrayLen()
	}
	if err != nil {
		return 0, err
	}
	per := 1
	if isMap {
		per = 2
	}
	if n < 0 || n > p.r.Len()/per {
		return 0, fmt.Errorf("length %d exceeds the input", n)
	}
	return n, nil
}

// flat writes the next value on one line (map keys that are containers).
func (p *mpPrinter) flat(w *lineWriter, depth int) error {
	if depth > maxNesting {
		return errMsgpackDepth
	}
	code, err := p.dec.PeekCode()
	if err != nil {
		return err
	}
	isMap := msgpcode.IsFixedMap(code) || code == msgpcode.Map16 || code == msgpcode.Map32
	isArray := msgpcode.IsFixedArray(code) || code == msgpcode.Array16 || code == msgpcode.Array32
	if !isMap && !isArray {
		return p.scalar(w, code)
	}
	n, err := p.length(isMap)
	if err != nil {
		return err
	}
	if isMap {
		w.str("{")
	} else {
		w.str("[")
	}
	for i := range n {
		if i > 0 {
			w.str(", ")
		}
		if isMap {
			if err := p.flat(w, depth+1); err != nil {
				return err
			}
			w.str(": ")
		}
		if err := p.flat(w, depth+1); err != nil {
			return err
		}
	}
	if isMap {
		w.str("}")
	} else {
		w.str("]")
	}
	return nil
}

// checkPayload checks that the str, bin or ext value at the read position
// fits in the input before the decoder sees it: the library allocates a
// bin's declared length up front.
func (p *mpPrinter) checkPayload(code byte) error {
	at := p.in[len(p.in)-p.r.Len():]
	var head, n int
	be := func(k int) int {
		if len(at) < 1+k {
			return -1
		}
		v := 0
		for _, c := range at[1 : 1+k] {
			v = v<<8 | int(c)
		}
		return v
	}
	switch code {
	case msgpcode.Str8, msgpcode.Bin8:
		head, n = 2, be(1)
	case msgpcode.Str16, msgpcode.Bin16:
		head, n = 3, be(2)
	case msgpcode.Str32, msgpcode.Bin32:
		head, n = 5, be(4)
	case msgpcode.FixExt1, msgpcode.FixExt2, msgpcode.FixExt4, msgpcode.FixExt8, msgpcode.FixExt16:
		head, n = 2, 1<<(code-msgpcode.FixExt1)
	case msgpcode.Ext8:
		head, n = 3, be(1)
	case msgpcode.Ext16:
		head, n = 4, be(2)
	case msgpcode.Ext32:
		head, n = 6, be(4)
	default:
		if msgpcode.IsFixedString(code) {
			head, n = 1, int(code&msgpcode.FixedStrMask)
		}
	}
	if n < 0 || head+n > len(at) {
		return fmt.Errorf("value of %d bytes exceeds the input", n)
	}
	return nil
}

// scalar decodes and writes a value that is not a container.
func (p *mpPrinter) scalar(w *lineWriter, code byte) error {
	if msgpcode.IsString(code) || msgpcode.IsBin(code) || msgpcode.IsExt(code) {
		if err := p.checkPayload(code); err != nil {
			return err
		}
	}
	switch {
	case code == msgpcode.Nil:
		w.str("null")
		return p.dec.DecodeNil()
	case code == msgpcode.False || code == msgpcode.True:
		v, err := p.dec.DecodeBool()
		w.str(strconv.FormatBool(v))
		return err
	case code == msgpcode.Uint64:
		v, err := p.dec.DecodeUint64()
		w.str(strconv.FormatUint(v, 10))
		return err
	case msgpcode.IsFixedNum(code) || code >= msgpcode.Uint8 && code <= msgpcode.Int64:
		v, err := p.dec.DecodeInt64()
		w.str(strconv.FormatInt(v, 10))
		return err
	case code == msgpcode.Float:
		v, err := p.dec.DecodeFloat32()
		w.str(jsonFloat(float64(v), 32))
		return err
	case code == msgpcode.Double:
		v, err := p.dec.DecodeFloat64()
		w.str(jsonFloat(v, 64))
		return err
	case msgpcode.IsString(code):
		s, err := p.dec.DecodeString()
		if err != nil {
			return err
		}
		w.quoted(s, appendJSONQuote)
		return nil
	case msgpcode.IsBin(code):
		v, err := p.dec.DecodeBytes()
		if err != nil {
			return err
		}
		w.bytes(v)
		return nil
	case msgpcode.IsExt(code):
		return p.ext(w)
	}
	return fmt.Errorf("unknown code 0x%02x", code)
}

func (p *mpPrinter) ext(w *lineWriter) error {
	id, n, err := p.dec.DecodeExtHeader()
	if err != nil {
		return err
	}
	if n < 0 || n > p.r.Len() {
		return fmt.Errorf("extension length %d exceeds the input", n)
	}
	data := make([]byte, n)
	if err := p.dec.ReadFull(data); err != nil {
		return err
	}
	if id == -1 {
		if t, ok := msgpackTime(data); ok {
			w.str("timestamp(" + t.UTC().Format(time.RFC3339Nano) + ")")
			return nil
		}
	}
	w.str("ext(" + strconv.Itoa(int(id)) + ", ")
	w.bytes(data)
	w.str(")")
	return nil
}

// msgpackTime decodes the timestamp extension (type -1) in its three sizes.
func msgpackTime(b []byte) (time.Time, bool) {
	switch len(b) {
	case 4:
		return time.Unix(int64(binary.BigEndian.Uint32(b)), 0), true
	case 8:
		v := binary.BigEndian.Uint64(b)
		nsec := int64(v >> 34)
		if nsec > 999999999 {
			return time.Time{}, false
		}
		return time.Unix(int64(v&(1<<34-1)), nsec), true
	case 12:
		nsec := int64(binary.BigEndian.Uint32(b))
		if nsec > 999999999 {
			return time.Time{}, false
		}
		return time.Unix(int64(binary.BigEndian.Uint64(b[4:])), nsec), true
	}
	return time.Time{}, false
}

// jsonFloat formats a float the way JSON would, with NaN and infinities
// spelled as JavaScript does.
func jsonFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}

func (p *mpPrinter) line(depth int, s string) {
	if p.sink.keeping() {
		p.sink.add(lineIndent(depth) + s)
		return
	}
	p.sink.add("")
}
