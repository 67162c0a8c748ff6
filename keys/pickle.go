package keys

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// Pickles are loaded by gopickle, behind three guards.
//
//  1. normalizePickle walks the opcodes first (as pickletools.genops does)
//     and rejects a stream whose lengths run past the input, whose opcodes
//     are unknown, or whose estimated memory use is over pickleBudget.
//     gopickle allocates a declared length before reading it, so a 9-byte
//     pickle declaring an 8 EiB string would otherwise abort the process:
//     a failed allocation cannot be recovered. The walk also rewrites a few
//     opcodes into equivalent ones gopickle handles better (see there).
//  2. The class resolver never runs or imports anything: it is Go, and it
//     only ever returns data. Known classes (datetime, Decimal, UUID, sets,
//     bytes, …) are rendered natively; every other module.name, from
//     django.contrib.auth.models.User to posix.system, becomes a pyClass
//     that records its name, and calling it (REDUCE, NEWOBJ, OBJ, INST)
//     only records the arguments in a pyObject, as BUILD records the state.
//     gopickle resolves three names itself before asking the resolver:
//     collections.OrderedDict, __builtin__.object and
//     copy_reg._reconstructor; all three only build Go values (an ordered
//     map, and cls.PyNew() on our pyClass), so they are safe too.
//  3. Load runs under recover: gopickle panics on some malformed streams
//     (an odd number of items for DICT, for one), which become errors.
//
// Loading is linear in the (bounded) input: every opcode consumes input and
// does constant work besides the items it pops. Rendering is bounded
// separately (see pickle_render.go).

const (
	// pickleBudget bounds the memory gopickle may use, estimated per opcode.
	pickleBudget = 64 << 20
	// maxLongBytes bounds LONG1/LONG4 payloads and maxLongDigits the INT and
	// LONG text forms: converting huge integers is quadratic.
	maxLongBytes  = 2048
	maxLongDigits = 4300
	// maxClasses bounds Decoded.Classes.
	maxClasses = 100
)

var errPickleShort = errors.New("pickle ends early")

// normalizePickle checks a pickle and returns an equivalent stream for
// gopickle, and the length of the pickle in the input (up to and including
// STOP). The rewrites:
//
//   - FRAME is dropped (frames only group opcodes; dropping them lets the
//     other rewrites change lengths);
//   - UNICODE (protocol 0 str) is decoded from raw-unicode-escape into a
//     BINUNICODE, and STRING (Python 2 str) from its escapes into a
//     BINSTRING: gopickle passes both through undecoded;
//   - EMPTY_SET becomes builtins.set() and FROZENSET a persistent load of
//     (items, builtins.frozenset): gopickle keeps sets in Go maps, which
//     panic on bytes members and iterate in random order;
//   - LONG1 and LONG4 of zero bytes become BININT1 0 (gopickle panics).
func normalizePickle(in []byte) (out []byte, end int, err error) {
	out = make([]byte, 0, len(in)+len(in)/8+16)
	cost, pos := 0, 0
	for {
		if pos >= len(in) {
			return nil, 0, errors.New("no STOP opcode")
		}
		op := in[pos]
		start := pos
		pos++
		rest := len(in) - pos
		cost += 32
		// fixed copies an opcode with an n-byte argument.
		fixed := func(n int) error {
			if rest < n {
				return errPickleShort
			}
			out = append(out, in[start:pos+n]...)
			pos += n
			return nil
		}
		// counted copies an opcode with a length prefix of size bytes.
		counted := func(size int, n uint64) error {
			if n > uint64(rest-size) {
				return errPickleShort
			}
			cost += int(n)
			return fixed(size + int(n))
		}
		var err error
		switch op {
		case '.': // STOP
			return append(out, op), pos, nil
		case '(': // MARK: gopickle allocates a new stack
			cost += 320
			out = append(out, op)
		case '}', ']', ')': // EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE
			cost += 96
			out = append(out, op)
		case '0', '1', '2', 'N', 'Q', 'R', 'a', 'b', 'd', 'e', 'l', 'o', 's', 't', 'u',
			0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x90, 0x92, 0x93, 0x94, 0x97, 0x98:
			// No argument: POP, POP_MARK, DUP, NONE, BINPERSID, REDUCE, APPEND,
			// BUILD, DICT, APPENDS, LIST, OBJ, SETITEM, TUPLE, SETITEMS, NEWOBJ,
			// TUPLE1-3, NEWTRUE, NEWFALSE, ADDITEMS, NEWOBJ_EX, STACK_GLOBAL,
			// MEMOIZE, NEXT_BUFFER, READONLY_BUFFER.
			if op == 0x93 {
				cost += 256
			}
			out = append(out, op)
		case 0x8f: // EMPTY_SET
			cost += 256
			out = append(out, "cbuiltins\nset\n)R"...)
		case 0x91: // FROZENSET
			cost += 256
			out = append(out, "tcbuiltins\nfrozenset\n\x86Q"...)
		case 0x80: // PROTO
			if rest >= 1 && in[pos] > pickle.HighestProtocol {
				return nil, 0, fmt.Errorf("unsupported protocol %d", in[pos])
			}
			err = fixed(1)
		case 'K', 'h', 'q', 0x82: // BININT1, BINGET, BINPUT, EXT1
			err = fixed(1)
		case 'M', 0x83: // BININT2, EXT2
			err = fixed(2)
		case 'J', 'j', 'r', 0x84: // BININT, LONG_BINGET, LONG_BINPUT, EXT4
			err = fixed(4)
		case 'G': // BINFLOAT
			err = fixed(8)
		case 'U', 'C', 0x8c: // SHORT_BINSTRING, SHORT_BINBYTES, SHORT_BINUNICODE
			if rest < 1 {
				return nil, 0, errPickleShort
			}
			err = counted(1, uint64(in[pos]))
		case 0x8a: // LONG1
			if rest < 1 {
				return nil, 0, errPickleShort
			}
			if in[pos] == 0 {
				out = append(out, 'K', 0)
				pos++
				break
			}
			err = counted(1, uint64(in[pos]))
		case 'T', 'X', 'B', 0x8b: // BINSTRING, BINUNICODE, BINBYTES, LONG4
			if rest < 4 {
				return nil, 0, errPickleShort
			}
			n := binary.LittleEndian.Uint32(in[pos:])
			if (op == 'T' || op == 0x8b) && int32(n) < 0 {
				return nil, 0, fmt.Errorf("negative length at byte %d", start)
			}
			if op == 0x8b && n > maxLongBytes {
				return nil, 0, fmt.Errorf("integer of %d bytes is too large to show", n)
			}
			if op == 0x8b && n == 0 {
				out = append(out, 'K', 0)
				pos += 4
				break
			}
			err = counted(4, uint64(n))
		case 0x8d, 0x8e, 0x96: // BINUNICODE8, BINBYTES8, BYTEARRAY8
			if rest < 8 {
				return nil, 0, errPickleShort
			}
			err = counted(8, binary.LittleEndian.Uint64(in[pos:]))
		case 0x95: // FRAME: checked, then dropped
			if rest < 8 {
				return nil, 0, errPickleShort
			}
			if binary.LittleEndian.Uint64(in[pos:]) > uint64(rest-8) {
				return nil, 0, errPickleShort
			}
			pos += 8
		case 'F', 'I', 'L', 'P', 'g', 'p': // FLOAT, INT, LONG, PERSID, GET, PUT
			var line []byte
			if line, pos, err = pickleLine(in, pos); err == nil {
				if len(line) > maxLongDigits {
					return nil, 0, fmt.Errorf("argument of %d bytes is too long", len(line))
				}
				out = append(out, in[start:pos]...)
			}
		case 'c', 'i': // GLOBAL, INST: module and name lines
			cost += 256
			if _, pos, err = pickleLine(in, pos); err == nil {
				if _, pos, err = pickleLine(in, pos); err == nil {
					out = append(out, in[start:pos]...)
				}
			}
		case 'S': // STRING: Python 2 str, quoted and backslash-escaped
			var line, s []byte
			if line, pos, err = pickleLine(in, pos); err == nil {
				if s, err = decodeStringArg(line); err == nil {
					cost += len(s)
					out = append(out, 'T')
					out = binary.LittleEndian.AppendUint32(out, uint32(len(s)))
					out = append(out, s...)
				}
			}
		case 'V': // UNICODE: raw-unicode-escape
			var line, s []byte
			if line, pos, err = pickleLine(in, pos); err == nil {
				if s, err = decodeRawUnicodeEscape(line); err == nil {
					cost += len(s)
					out = append(out, 'X')
					out = binary.LittleEndian.AppendUint32(out, uint32(len(s)))
					out = append(out, s...)
				}
			}
		default:
			return nil, 0, fmt.Errorf("unknown opcode 0x%02x at byte %d", op, start)
		}
		if err != nil {
			return nil, 0, err
		}
		if cost > pickleBudget {
			return nil, 0, errors.New("pickle too large to show")
		}
	}
}

// pickleLine returns the newline-terminated argument at pos, without the
// newline, and the position after it.
func pickleLine(in []byte, pos int) ([]byte, int, error) {
	i := bytes.IndexByte(in[pos:], '\n')
	if i < 0 {
		return nil, 0, errPickleShort
	}
	return in[pos : pos+i], pos + i + 1, nil
}

// decodeStringArg decodes the argument of STRING: a quoted Python 2 str
// literal, with the escapes of codecs.escape_decode.
func decodeStringArg(line []byte) ([]byte, error) {
	if len(line) < 2 || line[0] != line[len(line)-1] || (line[0] != '\'' && line[0] != '"') {
		return nil, errors.New("the STRING opcode argument must be quoted")
	}
	s := line[1 : len(line)-1]
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			out = append(out, c)
			continue
		}
		i++
		switch e := s[i]; e {
		case '\\', '\'', '"':
			out = append(out, e)
		case 'a':
			out = append(out, '\a')
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'v':
			out = append(out, '\v')
		case 'x':
			if i+2 >= len(s) || !isHexString(string(s[i+1:i+3])) {
				return nil, errors.New("invalid \\x escape in STRING")
			}
			v, _ := strconv.ParseUint(string(s[i+1:i+3]), 16, 8)
			out = append(out, byte(v))
			i += 2
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v, n := 0, 0
			for n < 3 && i+n < len(s) && s[i+n] >= '0' && s[i+n] <= '7' {
				v = v*8 + int(s[i+n]-'0')
				n++
			}
			out = append(out, byte(v))
			i += n - 1
		default:
			out = append(out, '\\', e)
		}
	}
	return out, nil
}

// decodeRawUnicodeEscape decodes Python's raw-unicode-escape: bytes are
// Latin-1 characters, except \uXXXX and \UXXXXXXXX.
func decodeRawUnicodeEscape(s []byte) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		i++
		if c != '\\' || i == len(s) {
			out = utf8.AppendRune(out, rune(c))
			continue
		}
		e := s[i]
		i++
		n := 0
		switch e {
		case 'u':
			n = 4
		case 'U':
			n = 8
		default:
			out = append(out, '\\')
			out = utf8.AppendRune(out, rune(e))
			continue
		}
		if i+n > len(s) || !isHexString(string(s[i:i+n])) {
			return nil, errors.New("truncated \\uXXXX escape in UNICODE")
		}
		v, _ := strconv.ParseUint(string(s[i:i+n]), 16, 32)
		if v > utf8.MaxRune {
			return nil, errors.New("\\U escape out of range in UNICODE")
		}
		out = utf8.AppendRune(out, rune(v))
		i += n
	}
	return out, nil
}

// pyClass is a class or function a pickle named (GLOBAL, STACK_GLOBAL,
// INST). native names the Go rendering for a known one ("datetime",
// "decimal", "set", …); "" means unknown, rendered as generic data.
type pyClass struct {
	module, name string
	native       string
}

// Call and PyNew never run anything: they record the call as data.
func (c *pyClass) Call(args ...any) (any, error)  { return &pyObject{callee: c, args: args}, nil }
func (c *pyClass) PyNew(args ...any) (any, error) { return &pyObject{callee: c, args: args}, nil }

func (c *pyClass) qualName() string {
	if c.module == "" {
		return c.name
	}
	return c.module + "." + c.name
}

// pyObject is the result of calling something a pickle named: callee(args),
// then the states BUILD gave it and the items APPEND(S), SETITEM(S) and
// ADDITEMS added (list, dict and set subclasses, defaultdict, sets).
type pyObject struct {
	callee any
	args   []any
	state  []any
	items  *types.List
	dict   *types.Dict

	cache *objCache // filled on first render; the object is immutable by then
}

func (o *pyObject) Call(args ...any) (any, error)  { return &pyObject{callee: o, args: args}, nil }
func (o *pyObject) PyNew(args ...any) (any, error) { return &pyObject{callee: o, args: args}, nil }
func (o *pyObject) PySetState(state any) error {
	o.state = append(o.state, state)
	return nil
}
func (o *pyObject) Append(v any) { o.list().Append(v) }
func (o *pyObject) Add(v any)    { o.list().Append(v) }
func (o *pyObject) Set(k, v any) {
	if o.dict == nil {
		o.dict = types.NewDict()
	}
	o.dict.Set(k, v)
}

func (o *pyObject) list() *types.List {
	if o.items == nil {
		o.items = types.NewList()
	}
	return o.items
}

var (
	_ types.Callable        = (*pyObject)(nil)
	_ types.PyNewable       = (*pyObject)(nil)
	_ types.PyStateSettable = (*pyObject)(nil)
	_ types.ListAppender    = (*pyObject)(nil)
	_ types.DictSetter      = (*pyObject)(nil)
	_ types.SetAdder        = (*pyObject)(nil)
	_ types.Callable        = (*pyClass)(nil)
	_ types.PyNewable       = (*pyClass)(nil)
)

// nativeClasses are the classes rendered natively, by module.name (protocols
// 0–2 spell builtins __builtin__).
var nativeClasses = map[string]string{
	"datetime.datetime":     "datetime",
	"datetime.date":         "date",
	"datetime.time":         "time",
	"datetime.timedelta":    "timedelta",
	"datetime.timezone":     "timezone",
	"decimal.Decimal":       "decimal",
	"uuid.UUID":             "uuid",
	"_codecs.encode":        "encode",
	"builtins.set":          "set",
	"__builtin__.set":       "set",
	"builtins.frozenset":    "frozenset",
	"__builtin__.frozenset": "frozenset",
	"builtins.bytearray":    "bytearray",
	"__builtin__.bytearray": "bytearray",
	"builtins.bytes":        "bytes",
	"__builtin__.bytes":     "bytes",
}

// persistentClass stands for the unpickler's persistent_load, which
// redtop does not have: persistent ids are shown as persistent_load(pid).
var persistentClass = &pyClass{name: "persistent_load", native: "persid"}

type pickleState struct {
	classes []string
	seen    map[string]bool
}

func (st *pickleState) findClass(module, name string) (any, error) {
	full := module + "." + name
	switch full {
	case "builtins.object":
		return &types.ObjectClass{}, nil // PyNew(cls) is cls.PyNew(): data only
	case "copyreg._reconstructor":
		return &types.Reconstructor{}, nil // base.PyNew(cls): data only
	}
	c := &pyClass{module: module, name: name, native: nativeClasses[full]}
	if c.native == "" && !st.seen[full] && len(st.classes) < maxClasses {
		st.seen[full] = true
		st.classes = append(st.classes, Escape(full))
	}
	return c, nil
}

// persistentLoad receives the FROZENSET rewrite, (items, builtins.frozenset),
// and any persistent id the pickle holds.
func (st *pickleState) persistentLoad(pid any) (any, error) {
	if t, ok := pid.(*types.Tuple); ok && t.Len() == 2 {
		if c, ok := t.Get(1).(*pyClass); ok && c.native == "frozenset" {
			if items, ok := t.Get(0).(*types.Tuple); ok {
				return &pyObject{callee: c, args: []any{items}}, nil
			}
		}
	}
	return &pyObject{callee: persistentClass, args: []any{pid}}, nil
}

// loadPickle loads the pickle at the start of b. It returns the value, the
// unknown classes it referenced, and how many bytes the pickle took.
func loadPickle(b []byte) (v any, classes []string, end int, err error) {
	norm, end, err := normalizePickle(b)
	if err != nil {
		return nil, nil, 0, err
	}
	st := &pickleState{seen: map[string]bool{}}
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("malformed pickle: %v", r)
		}
		classes = st.classes
	}()
	u := pickle.NewUnpickler(bytes.NewReader(norm))
	u.FindClass = st.findClass
	u.PersistentLoad = st.persistentLoad
	v, err = u.Load()
	return v, st.classes, end, err
}

// pickleLines loads and renders a pickle. With strict (the automatic chain)
// the pickle must span the whole input; otherwise bytes after STOP are
// ignored, as Python's pickle.loads does, and a last line says so.
func pickleLines(b []byte, strict bool) ([]string, []string, error) {
	v, classes, end, err := loadPickle(b)
	if err != nil {
		return nil, classes, err
	}
	if strict && end != len(b) {
		return nil, nil, fmt.Errorf("%d bytes after STOP", len(b)-end)
	}
	lines := renderPickle(v)
	if end != len(b) {
		lines = append(lines, fmt.Sprintf("# %d bytes after the pickle's STOP were ignored", len(b)-end))
	}
	return lines, classes, nil
}
