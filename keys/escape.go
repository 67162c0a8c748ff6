package keys

import (
	"strings"
	"unicode/utf8"

	"redtop/internal/escape"
)

// Escape renders a key name or a value's text safely for a terminal: see
// escape.String for the rules (\n, \xHH, \uHHHH, \\; printable Unicode as is).
func Escape(s string) string { return escape.String(s) }

// EscapeWidth is Escape cut to at most w terminal cells, ending with "…".
func EscapeWidth(s string, w int) string { return escape.Width(s, w) }

// TruncateEscaped cuts already escaped text to at most w cells, never
// splitting an escape or a grapheme cluster.
func TruncateEscaped(e string, w int) string { return escape.Truncate(e, w) }

// Unescape inverts Escape exactly.
func Unescape(s string) (string, error) { return escape.Unescape(s) }

// ErrBadEscape is wrapped by Unescape's errors.
var ErrBadEscape = escape.ErrBad

func mustEscape(r rune) bool                          { return escape.MustEscape(r) }
func appendEscaped(b []byte, s string, q byte) []byte { return escape.Append(b, s, q) }
func escapeLen(e string, i int) int                   { return escape.Len(e, i) }
func isHexString(s string) bool                       { return escape.IsHex(s) }
func appendEscapedASCII(b []byte, c, q byte) []byte   { return escape.AppendASCII(b, c, q) }
func appendUEscape(b []byte, r rune) []byte           { return escape.AppendU(b, r) }

const lowerHex = escape.LowerHex

// pyQuote is Python's repr of a str: single quotes unless the text holds a
// single quote and no double quote, escaped as Escape does.
func pyQuote(s string) string {
	return string(appendPyQuote(nil, s))
}

func appendPyQuote(b []byte, s string) []byte {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	b = append(b, q)
	b = appendEscaped(b, s, q)
	return append(b, q)
}

// appendPyBytes is Python's repr of bytes: b'…' with printable ASCII as is
// and every other byte as \xHH (or \n, \r, \t).
func appendPyBytes(b []byte, p []byte) []byte {
	q := byte('\'')
	hasSingle, hasDouble := false, false
	for _, c := range p {
		hasSingle = hasSingle || c == '\''
		hasDouble = hasDouble || c == '"'
	}
	if hasSingle && !hasDouble {
		q = '"'
	}
	b = append(b, 'b', q)
	for _, c := range p {
		if c >= 0x80 {
			b = append(b, '\\', 'x', lowerHex[c>>4], lowerHex[c&0xf])
			continue
		}
		b = appendEscapedASCII(b, c, q)
	}
	return append(b, q)
}

// appendJSONQuote writes s as a JSON string: the JSON escapes for quote,
// backslash and controls, \uHHHH (surrogate pairs above U+FFFF) for the
// other runes Escape would escape, and \xHH — not JSON, but visible — for
// bytes that are not valid UTF-8.
func appendJSONQuote(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = appendUEscape(b, rune(c))
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, '\\', 'x', lowerHex[c>>4], lowerHex[c&0xf])
		case mustEscape(r) && r > 0xffff:
			r1, r2 := utf16Pair(r)
			b = appendUEscape(appendUEscape(b, r1), r2)
		case mustEscape(r):
			b = appendUEscape(b, r)
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

func utf16Pair(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}
