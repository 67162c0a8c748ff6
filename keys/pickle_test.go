package keys

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMaliciousPickleNeverRuns loads pickles whose loading in Python would
// run `touch /tmp/pwned`: they render as data naming the function, record
// it in Classes, and create nothing.
func TestMaliciousPickleNeverRuns(t *testing.T) {
	const pwned = "/tmp/pwned"
	_, statErr := os.Stat(pwned)
	existed := statErr == nil
	for name, class := range map[string]string{
		"malicious-p0.bin":       "posix.system",
		"malicious-p2.bin":       "posix.system",
		"malicious-p4.bin":       "posix.system",
		"malicious-p5.bin":       "posix.system",
		"malicious-handmade.bin": "os.system",
		"malicious-eval-p4.bin":  "builtins.eval",
	} {
		b := readValueFixture(t, name)
		for _, v := range []View{ViewAuto, ViewPickle} {
			d := DecodeAs(b, v)
			checkDecoded(t, d)
			if d.Kind != "pickle" || !slices.Contains(d.Classes, class) {
				t.Errorf("%s as %v: kind %q classes %v", name, v, d.Kind, d.Classes)
			}
			if text := strings.Join(d.Lines, "\n"); !strings.Contains(text, class+"(") || !strings.Contains(text, "touch /tmp/pwned") {
				t.Errorf("%s as %v renders %q", name, v, text)
			}
		}
	}
	if _, err := os.Stat(pwned); err == nil && !existed {
		t.Fatalf("%s was created", pwned)
	}
}

// pickleOps builds a pickle from protocol-4 opcodes.
func pickleOps(parts ...any) []byte {
	b := []byte{0x80, 4}
	for _, p := range parts {
		switch t := p.(type) {
		case string:
			b = append(b, t...)
		case []byte:
			b = append(b, t...)
		case byte:
			b = append(b, t)
		case uint32:
			b = binary.LittleEndian.AppendUint32(b, t)
		case uint64:
			b = binary.LittleEndian.AppendUint64(b, t)
		case float64: // BINFLOAT is big-endian
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(t))
		}
	}
	return b
}

func TestPickleHostileStreams(t *testing.T) {
	bigBytes := bytes.Repeat([]byte("A"), 512<<10)
	tests := []struct {
		name string
		in   []byte
		want string // substring of the rendering, or of Err when it starts with "err:"
	}{
		{"BINUNICODE8 declaring 8 EiB", pickleOps("\x8d", uint64(1)<<63-1, "abc."), "err:pickle ends early"},
		{"BINBYTES8 declaring 2^64-1", pickleOps("\x8e", ^uint64(0), "."), "err:pickle ends early"},
		{"BYTEARRAY8 declaring 1 TiB", pickleOps("\x96", uint64(1)<<40, "."), "err:pickle ends early"},
		{"BINUNICODE declaring 4 GiB", pickleOps("X", uint32(0xffffffff), "."), "err:pickle ends early"},
		{"BINSTRING negative length", pickleOps("T", uint32(0x80000000), "."), "err:negative length"},
		{"FRAME declaring 8 EiB", pickleOps("\x95", uint64(1)<<62, "N."), "err:pickle ends early"},
		{"LONG4 of 1 MiB", pickleOps("\x8b", uint32(1<<20), bytes.Repeat([]byte{1}, 1<<20), "."), "err:too large"},
		{"LONG text of 100k digits", []byte("L" + strings.Repeat("9", 100000) + "L\n."), "err:too long"},
		{"LONG1 of zero bytes", pickleOps("\x8a\x00."), "0"},
		{"LONG4 of zero bytes", pickleOps("\x8b", uint32(0), "."), "0"},
		{"unknown opcode 0xff", pickleOps("\xff."), "err:unknown opcode 0xff"},
		{"protocol 6", []byte("\x80\x06N."), "err:unsupported protocol 6"},
		{"no STOP", pickleOps("N"), "err:no STOP"},
		{"odd DICT", pickleOps("(K\x01d."), "err:malformed pickle"},
		{"STOP on empty stack", pickleOps("."), "err:stack is empty"},
		{"REDUCE of a non-tuple", pickleOps("cos\nsystem\nNR."), "err:REDUCE args"},
		{"BUILD on a dict", pickleOps("}}b."), "err:PyDictSettable"},
		{"extension code", pickleOps("\x82\x01."), "err:extension"},
		{"set of bytes", pickleOps("\x8f(C\x01aC\x01b\x90."), "{b'a', b'b'}"},
		{"frozenset of bytes", pickleOps("(C\x01aC\x01b\x91."), "frozenset({b'a', b'b'})"},
		{"frozenset of nothing", pickleOps("(\x91."), "frozenset()"},
		{"OrderedDict with a bytes key", pickleOps("ccollections\nOrderedDict\n)R(C\x01aK\x01u."), "err:malformed pickle"},
		{"persistent id", pickleOps("\x8c\x03pid\x94Q."), "persistent_load('pid')"},
		{"getattr gadget", pickleOps("cbuiltins\ngetattr\ncos\nsystem\n\x8c\x03zzz\x86R\x8c\x02ls\x85R."), "builtins.getattr(os.system, 'zzz')('ls')"},
		{"class reference", pickleOps("cmyapp.models\nEmployee\n."), "myapp.models.Employee"},
		{"NEWOBJ_EX", pickleOps("cmyapp\nThing\n)}\x8c\x01k\x94K\x01s\x92."), "myapp.Thing({'k': 1})"},
		{"hostile class name", pickleOps("c\x1b[2J\n\u202eevil\n)R."), `\x1b[2J.\u202eevil()`},
		{"hostile str", pickleOps("\x8c\x06\x1b]52;\x07."), `'\x1b]52;\x07'`},
		{"datetime with bad state", pickleOps("cdatetime\ndatetime\nC\x02ab\x85R."), "datetime.datetime(b'ab')"},
		{"datetime out of range", pickleOps("cdatetime\ndatetime\nC\x0a\x07\xea\x0d\x01\x00\x00\x00\x00\x00\x00\x85R."), `datetime.datetime(b'\x07\xea\r\x01`},
		{"Decimal with no args", pickleOps("cdecimal\nDecimal\n)R."), "decimal.Decimal()"},
		{"UUID with a huge int", pickleOps("cuuid\nUUID\n)\x81}\x8c\x03int\x8a\x20", bytes.Repeat([]byte{0xff}, 31), "\x7fsb."), "  int=578960446186580977117854925043439539266"},
		{"defaultdict", pickleOps("ccollections\ndefaultdict\ncbuiltins\nlist\n\x85R\x8c\x01a]K\x01as."), "collections.defaultdict(builtins.list, {'a': [1]})"},
		{"list subclass", pickleOps("cmyapp\nMyList\n)R(K\x01K\x02e."), "myapp.MyList([1, 2])"},
		{"non-identifier state", pickleOps("cmyapp\nThing\n)\x81}\x8c\x03a b\x94K\x01sb."), "myapp.Thing(__setstate__={'a b': 1})"},
		{"slots state", pickleOps("cmyapp\nThing\n)\x81N}\x8c\x01x\x94K\x01s\x86b."), "myapp.Thing(x=1)"},
		{"timezone with offset and name", pickleOps("cdatetime\ntimezone\ncdatetime\ntimedelta\nK\x00M\x10\x0eK\x00\x87R\x8c\x03CET\x86R."), "datetime.timezone(datetime.timedelta(seconds=3600), 'CET')"},
		{"float repr", pickleOps("(G", 1.5, "G", math.Inf(1), "G", 1e20, "G", 1e-6, "G", 123456789.0, "G", math.Copysign(0, -1), "G", math.NaN(), "l."), "[1.5, inf, 1e+20, 1e-06, 123456789.0, -0.0, nan]"},
		{"big memoized bytes", pickleOps("B", uint32(len(bigBytes)), bigBytes, "q\x00.", ""), "  b'AAAA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			d := DecodeAs(tt.in, ViewPickle)
			if el := time.Since(start); el > 2*time.Second {
				t.Errorf("took %v", el)
			}
			checkDecoded(t, d)
			if want, isErr := strings.CutPrefix(tt.want, "err:"); isErr {
				if d.Kind != "hex" || !strings.Contains(d.Err, want) {
					t.Fatalf("kind %q, Err %q; want an error with %q", d.Kind, d.Err, want)
				}
				return
			}
			if d.Err != "" {
				t.Fatalf("Err %q", d.Err)
			}
			if text := strings.Join(d.Lines, "\n"); !strings.Contains(text, tt.want) {
				t.Fatalf("rendering lacks %q:\n%s", tt.want, text)
			}
		})
	}
}

// TestPickleRenderBudget: memo references turn a small pickle into a huge
// DAG. Whatever is shared, rendering stays bounded in lines and time.
func TestPickleRenderBudget(t *testing.T) {
	refs := func(n int, get string) string { return "(" + strings.Repeat(get, n) + "l" }
	big := bytes.Repeat([]byte("B"), 512<<10)
	tests := []struct {
		name string
		in   []byte
	}{
		{"laughs fixture", readValueFixture(t, "laughs-p4.bin")},
		{"512 KiB bytes referenced 200k times", pickleOps("B", uint32(len(big)), big, "q\x00", refs(200000, "h\x00"), ".")},
		{"512 KiB str referenced 200k times", pickleOps("X", uint32(len(big)), big, "q\x00", refs(200000, "h\x00"), ".")},
		{"latin1 bytes referenced 200k times", pickleOps("c_codecs\nencode\nX", uint32(len(big)), big, "\x8c\x06latin1\x86Rq\x00", refs(200000, "h\x00"), ".")},
		{"wide set referenced 5k times", pickleOps("\x8f(", strings.Repeat("K\x01", 100000), "\x90q\x00", refs(5000, "h\x00"), ".")},
		{"huge uuid state referenced 50k times", pickleOps("cuuid\nUUID\n)\x81}(", strings.Repeat("K\x01K\x02", 50000), "ub", "q\x00", refs(50000, "h\x00"), ".")},
		{"big int referenced 200k times", pickleOps("\x8b", uint32(2048), bytes.Repeat([]byte{0x7f}, 2048), "q\x00", refs(200000, "h\x00"), ".")},
		{"deep nesting", pickleOps(strings.Repeat("]q\x00", 1), strings.Repeat("(", 100000), strings.Repeat("l", 100000), ".")},
		{"self-containing dict", pickleOps("}q\x00h\x00\x8c\x01kh\x00s.")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			d := DecodeAs(tt.in, ViewPickle)
			el := time.Since(start)
			checkDecoded(t, d)
			if el > 3*time.Second {
				t.Errorf("took %v", el)
			}
			t.Logf("%v: kind %s, %d lines, last %q, err %q", el, d.Kind, len(d.Lines), d.Lines[len(d.Lines)-1], d.Err)
		})
	}
}
