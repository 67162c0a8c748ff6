// Package escape renders bytes that came from Redis (key names, values,
// command arguments) safely for a terminal, and reads the escaped form back.
// keys and redisinfo both use it; it depends on neither.
package escape

import (
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
	"github.com/clipperhouse/displaywidth"
)

// String renders a key name or a value's text so that it is safe to print on
// a terminal: no byte that came from Redis reaches the terminal raw.
//
// Printable Unicode, wide CJK and emoji included, passes through unchanged.
// Everything else is written as a Python-like escape:
//
//   - \n, \r and \t for newline, carriage return and tab;
//   - \xHH for the other C0 controls and DEL (\x1b, \x00, \x7f) and for each
//     byte that is not valid UTF-8 (\xff);
//   - \uHHHH (or \UHHHHHHHH) for the C1 controls U+0080–U+009F, the bidi
//     controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), the
//     line and paragraph separators U+2028 and U+2029, and the other
//     invisible format characters (Unicode category Cf: U+200B, U+2060,
//     U+FEFF, …) except the joiners U+200C, U+200D and the emoji tag
//     characters U+E0020–U+E007F, which emoji and scripts need;
//   - \\ for a backslash.
//
// Because a literal backslash is doubled, the escaping is unambiguous: \x85
// is always the single byte 0x85 (invalid UTF-8), \u0085 is always the rune
// U+0085, and a key whose name contains the four characters `\x1b` shows as
// `\\x1b`. Unescape inverts String exactly.
func String(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c == '\\' || c >= 0x80 {
			return string(Append(make([]byte, 0, len(s)+16), s, 0))
		}
	}
	return s
}

// Width is String truncated to at most w terminal cells, ending with
// "…" when something was cut. Widths are ansi.StringWidth's (as
// lipgloss.Width measures): wide characters count two cells, grapheme
// clusters (emoji sequences) are never split, and neither are escapes: the
// result never ends in half of a `\x1b`.
func Width(s string, w int) string {
	if w <= 0 {
		return ""
	}
	return Truncate(String(s), w)
}

// Truncate cuts text that is already escaped (String's output, a
// decoded line) to at most w cells, as Width does: ending with "…",
// never splitting an escape or a grapheme cluster.
func Truncate(e string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(e) <= w {
		return e
	}
	const tail = "…"
	limit := w - 1 // the tail is one cell wide
	cut, used := 0, 0
	for i := 0; i < len(e); {
		if e[i] == '\\' {
			n := Len(e, i)
			if used+n > limit {
				break
			}
			used += n
			i += n
			cut = i
			continue
		}
		j := strings.IndexByte(e[i:], '\\')
		if j < 0 {
			j = len(e)
		} else {
			j += i
		}
		g := displaywidth.StringGraphemes(e[i:j])
		stop := false
		for g.Next() {
			gw := ansi.StringWidth(g.Value())
			if used+gw > limit {
				stop = true
				break
			}
			used += gw
			i += len(g.Value())
			cut = i
		}
		if stop {
			break
		}
		i = j
	}
	return e[:cut] + tail
}

// Len is the length in bytes of the escape that starts at e[i] (a
// backslash) in a string produced by String.
func Len(e string, i int) int {
	n := 2
	if i+1 < len(e) {
		switch e[i+1] {
		case 'x':
			n = 4
		case 'u':
			n = 6
		case 'U':
			n = 10
		}
	}
	return min(n, len(e)-i)
}

// ErrBad is returned by Unescape for text that is not in the escaped
// form String produces.
var ErrBad = errors.New("bad escape")

// Unescape turns the escaped form of a key back into its bytes: it inverts
// String, so Unescape(String(s)) == s for every s. It accepts \\, \n, \r,
// \t, \' and \", \xHH for any single byte, \uHHHH and \UHHHHHHHH for any
// Unicode scalar value; any other backslash sequence is an error, so an
// operator's typo does not silently become a different key.
func Unescape(s string) (string, error) {
	i := strings.IndexByte(s, '\\')
	if i < 0 {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for i < len(s) {
		c := s[i]
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return "", errorAt(ErrBad, i, "trailing backslash")
		}
		switch e := s[i+1]; e {
		case '\\', '\'', '"':
			b = append(b, e)
			i += 2
		case 'n':
			b = append(b, '\n')
			i += 2
		case 'r':
			b = append(b, '\r')
			i += 2
		case 't':
			b = append(b, '\t')
			i += 2
		case 'x', 'u', 'U':
			n := 2
			if e == 'u' {
				n = 4
			} else if e == 'U' {
				n = 8
			}
			if i+2+n > len(s) {
				return "", errorAt(ErrBad, i, "short \\"+string(e)+" escape")
			}
			v, err := strconv.ParseUint(s[i+2:i+2+n], 16, 32)
			if err != nil || !IsHex(s[i+2:i+2+n]) {
				return "", errorAt(ErrBad, i, "bad hex digits")
			}
			if e == 'x' {
				b = append(b, byte(v))
			} else {
				r := rune(v)
				if !utf8.ValidRune(r) {
					return "", errorAt(ErrBad, i, "not a Unicode scalar value")
				}
				b = utf8.AppendRune(b, r)
			}
			i += 2 + n
		default:
			return "", errorAt(ErrBad, i, "unknown escape \\"+String(string(e)))
		}
	}
	return string(b), nil
}

func IsHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func errorAt(err error, pos int, what string) error {
	return &escapeError{err: err, pos: pos, what: what}
}

type escapeError struct {
	err  error
	pos  int
	what string
}

func (e *escapeError) Error() string {
	return e.err.Error() + " at byte " + strconv.Itoa(e.pos) + ": " + e.what
}

func (e *escapeError) Unwrap() error { return e.err }

// MustEscape reports whether a valid rune must not reach the terminal raw.
func MustEscape(r rune) bool {
	switch {
	case r < 0x20 || r == 0x7f:
		return true
	case r < 0x80:
		return false
	case r <= 0x9f: // C1 controls
		return true
	case r == 0x2028 || r == 0x2029: // line and paragraph separators
		return true
	case r == 0x200c || r == 0x200d: // joiners: emoji sequences, Indic and Persian text
		return false
	case r >= 0xe0020 && r <= 0xe007f: // tags: flag emoji sequences
		return false
	}
	// Cf holds the bidi controls (U+061C, U+200E/F, U+202A–E, U+2066–9) and
	// the other invisible format characters (U+200B, U+2060, U+FEFF, …).
	return unicode.Is(unicode.Cf, r)
}

// LowerHex are the digits of \xHH and \uHHHH escapes.
const LowerHex = "0123456789abcdef"

// Append appends s in the escaped form String documents. When quote is
// ' or ", that quote character is escaped too, for a Python-like repr.
func Append(b []byte, s string, quote byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			b = AppendASCII(b, c, quote)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, '\\', 'x', LowerHex[c>>4], LowerHex[c&0xf])
			i++
			continue
		}
		if MustEscape(r) {
			b = AppendU(b, r)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}

// AppendASCII appends one ASCII byte in the escaped form.
func AppendASCII(b []byte, c byte, quote byte) []byte {
	switch {
	case c == '\\':
		return append(b, '\\', '\\')
	case c == '\n':
		return append(b, '\\', 'n')
	case c == '\r':
		return append(b, '\\', 'r')
	case c == '\t':
		return append(b, '\\', 't')
	case c < 0x20 || c == 0x7f:
		return append(b, '\\', 'x', LowerHex[c>>4], LowerHex[c&0xf])
	case quote != 0 && c == quote:
		return append(b, '\\', c)
	}
	return append(b, c)
}

// AppendU appends r as \uHHHH, or \UHHHHHHHH beyond the BMP.
func AppendU(b []byte, r rune) []byte {
	if r > 0xffff {
		b = append(b, '\\', 'U')
		for shift := 28; shift >= 0; shift -= 4 {
			b = append(b, LowerHex[(r>>shift)&0xf])
		}
		return b
	}
	b = append(b, '\\', 'u')
	for shift := 12; shift >= 0; shift -= 4 {
		b = append(b, LowerHex[(r>>shift)&0xf])
	}
	return b
}
