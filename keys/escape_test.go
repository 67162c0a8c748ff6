package keys

import (
	"errors"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"testing/quick"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// isSafeLine reports whether s can go to a terminal as is: valid UTF-8 and
// nothing that Escape would escape apart from backslashes.
func isSafeLine(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || mustEscape(r) {
			return false
		}
		i += size
	}
	return true
}

func TestEscape(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "user:42:profile", "user:42:profile"},
		{"empty", "", ""},
		{"osc52 clipboard", "a\x1b]52;c;bad\x07", `a\x1b]52;c;bad\x07`},
		{"clear screen", "\x1b[2J", `\x1b[2J`},
		{"newline", "line\nbreak", `line\nbreak`},
		{"cr tab nul del", "a\rb\tc\x00d\x7f", `a\rb\tc\x00d\x7f`},
		{"invalid utf8", "\xff\xfe", `\xff\xfe`},
		{"truncated rune", "ab\xe6\xbc", `ab\xe6\xbc`},
		{"wide", "wide 漢字", "wide 漢字"},
		{"emoji", "emoji 😀", "emoji 😀"},
		{"emoji zwj sequence", "👩\u200d💻", "👩\u200d💻"},
		{"backslash", `back\slash`, `back\\slash`},
		{"escaped-looking text", `\x1b`, `\\x1b`},
		{"rtl override", "evil\u202etxt.exe", `evil\u202etxt.exe`},
		{"bidi isolates", "\u2066a\u2069", `\u2066a\u2069`},
		{"bidi marks", "\u200e\u200f\u061c", `\u200e\u200f\u061c`},
		{"c1 csi", "\u009b2J", `\u009b2J`},
		{"c1 next line", "a\u0085b", `a\u0085b`},
		{"invalid byte 0x85 differs from U+0085", "a\x85b", `a\x85b`},
		{"zero width space", "foo\u200bbar", `foo\u200bbar`},
		{"bom", "\ufeffkey", `\ufeffkey`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"astral format char", "\U000e0001", `\U000e0001`},
		{"valid replacement char", "\ufffd", "\ufffd"},
		{"accents", "café naïve", "café naïve"},
		{"quotes untouched", `it's "x"`, `it's "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Escape(tt.in)
			if got != tt.want {
				t.Fatalf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !isSafeLine(got) {
				t.Fatalf("Escape(%q) = %q is not safe", tt.in, got)
			}
			back, err := Unescape(got)
			if err != nil || back != tt.in {
				t.Fatalf("Unescape(%q) = %q, %v; want %q", got, back, err, tt.in)
			}
		})
	}
}

func TestEscapeWidth(t *testing.T) {
	tests := []struct {
		in   string
		w    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello", 4, "hel…"},
		{"hello", 1, "…"},
		{"hello", 0, ""},
		{"hello", -3, ""},
		{"漢字漢字", 8, "漢字漢字"},
		{"漢字漢字", 7, "漢字漢…"},
		{"漢字漢字", 6, "漢字…"}, // 漢 would need cells 5-6, the tail cell 6
		{"漢字漢字", 2, "…"},
		{"a漢", 2, "a…"},
		{"😀😀😀", 5, "😀😀…"},
		{"👩\u200d💻👩\u200d💻", 4, "👩\u200d💻👩\u200d💻"}, // a ZWJ sequence is one 2-cell cluster
		{"👩\u200d💻👩\u200d💻", 3, "👩\u200d💻…"},
		{"\x1b[2J", 10, `\x1b[2J`},
		{"\x1b[2J", 5, `\x1b…`},
		{"\x1b[2J", 4, "…"}, // never half an escape
		{"a\u202eb", 8, `a\u202eb`},
		{"a\u202ebc", 8, `a\u202e…`},
		{"a\u202eb", 7, "a…"},
		{`x\y`, 3, "x…"},
		{"ab\xff", 6, `ab\xff`},
		{"ab\xff", 5, "ab…"},
	}
	for _, tt := range tests {
		got := EscapeWidth(tt.in, tt.w)
		if got != tt.want {
			t.Errorf("EscapeWidth(%q, %d) = %q, want %q", tt.in, tt.w, got, tt.want)
		}
		if tt.w > 0 && ansi.StringWidth(got) > tt.w {
			t.Errorf("EscapeWidth(%q, %d) = %q is %d cells wide", tt.in, tt.w, got, ansi.StringWidth(got))
		}
		if !isSafeLine(got) {
			t.Errorf("EscapeWidth(%q, %d) = %q is not safe", tt.in, tt.w, got)
		}
	}
}

func TestTruncateEscapedLines(t *testing.T) {
	// Decoded lines are escaped already: cutting them must not split \x1b,
	// \u202e or a JSON \" either.
	for _, tt := range []struct {
		in   string
		w    int
		want string
	}{
		{`  'k': '\x1b[2J',`, 13, `  'k': '\x1b…`},
		{`  'k': '\x1b[2J',`, 12, `  'k': '…`},
		{`  'k': '\x1b[2J',`, 10, `  'k': '…`},
		{`"say \"hi\""`, 6, `"say …`},
		{`"say \"hi\""`, 7, `"say …`},
		{`"say \"hi\""`, 8, `"say \"…`},
		{`漢字 \u202e`, 6, "漢字 …"},
		{`漢字 \u202e`, 11, `漢字 \u202e`},
	} {
		if got := TruncateEscaped(tt.in, tt.w); got != tt.want {
			t.Errorf("TruncateEscaped(%q, %d) = %q, want %q", tt.in, tt.w, got, tt.want)
		}
	}
}

func TestUnescapeErrors(t *testing.T) {
	for _, in := range []string{
		`trailing\`, `\q`, `\x4`, `\xzz`, `\u12`, `\u12g4`, `\ud800`, `\U00110000`, `\U0000004`, `\x+1`, `\u+123`,
	} {
		if got, err := Unescape(in); !errors.Is(err, ErrBadEscape) {
			t.Errorf("Unescape(%q) = %q, %v; want ErrBadEscape", in, got, err)
		}
	}
	// Accepted although Escape never writes them: an operator may type them.
	for in, want := range map[string]string{
		`\x41`:       "A",
		`\u00e9`:     "é",
		`\U0001F600`: "😀",
		`\'\"`:       `'"`,
		`\x85`:       "\x85",
		`\u0085`:     "\u0085",
	} {
		if got, err := Unescape(in); err != nil || got != want {
			t.Errorf("Unescape(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// hostileKey generates strings that mix the hard cases: controls, invalid
// bytes, backslashes, escape-looking text, bidi controls, wide runes.
type hostileKey string

func (hostileKey) Generate(r *rand.Rand, size int) reflect.Value {
	pieces := []string{
		"a", "Z", "9", ":", " ", `\`, `\x`, `\u`, "x1b", "\x1b", "\x00", "\n", "\r", "\t", "\x7f",
		"\x80", "\xff", "\xc3", "\xe6\xbc", "é", "漢", "😀", "\u200d", "\u202e", "\u2066", "\u0085",
		"\ufeff", "\u2028", "\U000e0001", "\ufffd", "'", `"`,
	}
	var sb strings.Builder
	for range r.Intn(size + 1) {
		if r.Intn(4) == 0 {
			sb.WriteByte(byte(r.Intn(256)))
		} else {
			sb.WriteString(pieces[r.Intn(len(pieces))])
		}
	}
	return reflect.ValueOf(hostileKey(sb.String()))
}

func TestUnescapeRoundTrip(t *testing.T) {
	roundTrip := func(k hostileKey) bool {
		e := Escape(string(k))
		back, err := Unescape(e)
		return err == nil && back == string(k) && isSafeLine(e)
	}
	cfg := &quick.Config{MaxCount: 20000, Rand: rand.New(rand.NewSource(1))}
	if err := quick.Check(roundTrip, cfg); err != nil {
		t.Fatal(err)
	}
	// Plain random strings too (testing/quick's own generator).
	if err := quick.Check(func(s string) bool {
		back, err := Unescape(Escape(s))
		return err == nil && back == s
	}, &quick.Config{MaxCount: 5000}); err != nil {
		t.Fatal(err)
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "plain", "a\x1b]52;c;bad\x07", "\xff\xfe", `back\slash`, "漢字😀", "\u202e", "\u0085\x85"} {
		f.Add(s, 10)
	}
	f.Fuzz(func(t *testing.T, s string, w int) {
		e := Escape(s)
		if !isSafeLine(e) {
			t.Fatalf("Escape(%q) = %q is not safe", s, e)
		}
		back, err := Unescape(e)
		if err != nil || back != s {
			t.Fatalf("Unescape(Escape(%q)) = %q, %v", s, back, err)
		}
		w %= 200
		ew := EscapeWidth(s, w)
		if !isSafeLine(ew) {
			t.Fatalf("EscapeWidth(%q, %d) = %q is not safe", s, w, ew)
		}
		if w > 0 && ansi.StringWidth(ew) > w {
			t.Fatalf("EscapeWidth(%q, %d) = %q is %d cells", s, w, ew, ansi.StringWidth(ew))
		}
		if got := TruncateEscaped(e, w); got != ew {
			t.Fatalf("TruncateEscaped(%q, %d) = %q, EscapeWidth gave %q", e, w, got, ew)
		}
		if !strings.HasPrefix(e, strings.TrimSuffix(ew, "…")) {
			t.Fatalf("EscapeWidth(%q, %d) = %q is not a prefix of %q", s, w, ew, e)
		}
	})
}

func FuzzUnescape(f *testing.F) {
	for _, s := range []string{"", `\x1b`, `\\`, `\u202e`, `\U0001F600`, `\`, `\xzz`, `a\nb`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Unescape(s)
		if err != nil {
			return
		}
		if back, err := Unescape(Escape(u)); err != nil || back != u {
			t.Fatalf("Unescape(Escape(%q)) = %q, %v", u, back, err)
		}
	})
}
