package redisinfo

import (
	"unicode"
	"unicode/utf8"
)

// escapeText is keys.Escape, which redisinfo cannot import: keys imports
// redisinfo (Ledger, Parse). It makes bytes from Redis (slow log
// arguments, client names) safe to print: printable Unicode as is, \n \r
// \t, \xHH for other C0 controls, DEL and invalid UTF-8, \uHHHH for C1,
// bidi, separators and other invisible format characters, \\ for a
// backslash. slowlog_escape_test.go checks it byte for byte against
// keys.Escape (and fuzzes the two); if Escape moves to a package of its
// own, call it and delete this copy.
func escapeText(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c == '\\' || c >= 0x80 {
			return string(appendEscapedText(make([]byte, 0, len(s)+16), s))
		}
	}
	return s
}

const escapeHex = "0123456789abcdef"

func appendEscapedText(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\\':
				b = append(b, '\\', '\\')
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'x', escapeHex[c>>4], escapeHex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, '\\', 'x', escapeHex[c>>4], escapeHex[c&0xf])
		case escapeRune(r) && r > 0xffff:
			b = append(b, '\\', 'U')
			for shift := 28; shift >= 0; shift -= 4 {
				b = append(b, escapeHex[(r>>shift)&0xf])
			}
		case escapeRune(r):
			b = append(b, '\\', 'u')
			for shift := 12; shift >= 0; shift -= 4 {
				b = append(b, escapeHex[(r>>shift)&0xf])
			}
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}

// escapeRune reports whether a valid rune at or above U+0080 must not
// reach the terminal raw.
func escapeRune(r rune) bool {
	switch {
	case r <= 0x9f: // C1 controls
		return true
	case r == 0x2028 || r == 0x2029: // line and paragraph separators
		return true
	case r == 0x200c || r == 0x200d: // joiners: emoji sequences, Indic and Persian text
		return false
	case r >= 0xe0020 && r <= 0xe007f: // tags: flag emoji sequences
		return false
	}
	return unicode.Is(unicode.Cf, r)
}
