package keys

import (
	"errors"
	"fmt"
	"redtop/internal/keyshape"
	"strings"
)

// Match reports whether SCAN … MATCH pattern would return key. It is a
// port of stringmatchlen in Redis's util.c, quirks included, so what the
// browser filters locally agrees with what the server filters:
//
//   - `*` any run of bytes, `?` one byte, `[abc]`, `[^abc]`, `[a-z]` (a
//     reversed range `[z-a]` is the same range), `\x` the byte x, inside a
//     class too. Bytes, not runes: `?` matches one byte of a UTF-8 letter.
//   - Case-sensitive.
//   - An unterminated class `[abc` reads as `[abc]`; a lone `[` at the end
//     matches nothing and `[^` at the end matches any one byte. `[a-]` is
//     the range from 'a' to ']' (then the class is unterminated).
//   - Range bounds compare as C signed chars, as on x86-64 servers: bytes
//     0x80..0xff sort below 0x00 (an ARM build of Redis compares them
//     unsigned, so `[a-\xff]` differs there).
//   - SCAN treats the pattern "*" as no pattern at all, so it matches the
//     empty key; "**" does not, nor does any other pattern but "".
//   - More than 1000 nested `*` give no match, as on current servers
//     (7.2.6 and 7.4.1 on, and patched builds such as Debian's 7.0.15, the
//     one tested here); older ones keep trying. Only hostile patterns
//     reach the limit.
func Match(pattern, key string) bool {
	if pattern == "*" {
		return true
	}
	skip := false
	return stringMatch(pattern, key, &skip, 0)
}

// at reads p[i] as C reads a NUL-terminated sds string: past the end is 0.
func at(p string, i int) byte {
	if i < len(p) {
		return p[i]
	}
	return 0
}

// schar is a byte as a C char on x86-64: signed.
func schar(b byte) int { return int(int8(b)) }

// stringMatch is stringmatchlen_impl with nocase off. The index pairs
// (pi, si) stand for the C pointers; len(p)-pi and len(s)-si are the
// lengths the C code decrements alongside.
func stringMatch(p, s string, skipLonger *bool, nesting int) bool {
	if nesting > 1000 {
		return false
	}
	pi, si := 0, 0
	for pi < len(p) && si < len(s) {
		switch p[pi] {
		case '*':
			for pi < len(p) && at(p, pi+1) == '*' {
				pi++
			}
			if len(p)-pi == 1 {
				return true
			}
			for si < len(s) {
				if stringMatch(p[pi+1:], s[si:], skipLonger, nesting+1) {
					return true
				}
				if *skipLonger {
					return false
				}
				si++
			}
			// No match for the rest of the pattern from anywhere in the
			// rest of the string: no earlier '*' can do better.
			*skipLonger = true
			return false
		case '?':
			si++
		case '[':
			pi++
			not := at(p, pi) == '^'
			if not {
				pi++
			}
			match := false
			for {
				if at(p, pi) == '\\' && len(p)-pi >= 2 {
					pi++
					if p[pi] == s[si] {
						match = true
					}
				} else if at(p, pi) == ']' {
					break
				} else if pi == len(p) {
					pi-- // unterminated: step back so the loop below ends at the end
					break
				} else if len(p)-pi >= 3 && p[pi+1] == '-' {
					start, end, c := schar(p[pi]), schar(p[pi+2]), schar(s[si])
					if start > end {
						start, end = end, start
					}
					pi += 2
					if c >= start && c <= end {
						match = true
					}
				} else if p[pi] == s[si] {
					match = true
				}
				pi++
			}
			if not {
				match = !match
			}
			if !match {
				return false
			}
			si++
		case '\\':
			if len(p)-pi >= 2 {
				pi++
			}
			if p[pi] != s[si] {
				return false
			}
			si++
		default:
			if p[pi] != s[si] {
				return false
			}
			si++
		}
		pi++
		if si == len(s) {
			for at(p, pi) == '*' {
				pi++
			}
			break
		}
	}
	return pi == len(p) && si == len(s)
}

// ValidatePattern rejects patterns that are surely a mistake. Redis
// accepts any byte string as a pattern; these ones would silently match
// nothing, or not what they seem to say, and leave the operator wondering.
func ValidatePattern(p string) error {
	if p == "" {
		return errors.New(`empty pattern: it matches only a key named "" (use '*' for every key)`)
	}
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '[':
			open := i
			i++
			if i < len(p) && p[i] == '^' {
				i++
			}
			if i < len(p) && p[i] == ']' && p[i-1] == '[' {
				return fmt.Errorf("empty class [] at byte %d matches nothing (write \\[ or \\] for a literal bracket)", open)
			}
			closed := false
			for ; i < len(p) && !closed; i++ {
				switch {
				case p[i] == '\\' && len(p)-i >= 2:
					i++
				case p[i] == ']':
					closed = true
					i--
				case len(p)-i >= 3 && p[i+1] == '-':
					i += 2
				}
			}
			if !closed {
				hint := ""
				if strings.Contains(p[open:], "-]") {
					hint = "; in [a-] the ] ends the range, not the class: write [a\\-] or [-a]"
				}
				return fmt.Errorf("unterminated [ at byte %d (write \\[ for a literal bracket%s)", open, hint)
			}
		}
	}
	return nil
}

// QuoteGlob escapes the glob metacharacters of a literal key text, so
// that Match(QuoteGlob(s), s) holds and matches nothing else.
func QuoteGlob(s string) string { return keyshape.QuoteGlob(s) }
