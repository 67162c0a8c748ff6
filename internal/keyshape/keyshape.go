// Package keyshape tells the random parts of key names (numbers, UUIDs,
// hashes, generated tokens) from their fixed text, so that the key
// browser's prefix tree (keys) and MONITOR's top key patterns (redisinfo)
// fold a key into the same family. It depends on neither.
package keyshape

import "strings"

// Kind says how a key segment folds.
type Kind uint8

const (
	Literal Kind = iota // a name: kept as is
	ID                  // a short id (a number under 6 digits, hex of 8..11): the tree folds it once a level has many
	Wild                // all random (UUID, long hex or number, token): folds into *
	Shape               // fixed text around random runs: folds into that text with * for the runs
)

// idLens are the lengths of common random ids (base36/62 tokens, hex
// digests, ObjectIds), tried longest first to find where a random id glued
// to a fixed text begins: django's session keys are 32 characters after
// "django.contrib.sessions.cache".
var idLens = []int{64, 40, 32, 26, 24, 22, 20, 16}

// Classify tells how a segment folds. For Shape, glob is the segment as a
// glob pattern: its fixed text quoted, each random run a `*`. Within a
// run of letters and digits, a random tail goes ("cache" and a session
// id → "cache*").
func Classify(seg string) (kind Kind, glob string) {
	if seg == "" {
		return Literal, ""
	}
	if isDigits(seg) {
		if len(seg) >= 6 {
			return Wild, "*" // timestamps, large ids
		}
		return ID, ""
	}
	if len(seg) >= 8 && len(seg) < 12 && isHexID(seg) {
		return ID, ""
	}
	var b strings.Builder
	changed := false
	lit := 0 // start of the pending literal text
	star := func(from, to int) {
		b.WriteString(QuoteGlob(seg[lit:from]))
		if s := b.String(); !strings.HasSuffix(s, "*") || strings.HasSuffix(s, `\*`) {
			b.WriteByte('*')
		}
		changed, lit = true, to
	}
	for i := 0; i < len(seg); {
		if isUUIDAt(seg, i) {
			star(i, i+36)
			i += 36
			continue
		}
		if !IsAlnum(seg[i]) {
			i++
			continue
		}
		j := runEnd(seg, i)
		if keep, ok := randomTail(seg[i:j]); ok {
			star(i+keep, j)
		}
		i = j
	}
	if !changed {
		return Literal, ""
	}
	b.WriteString(QuoteGlob(seg[lit:]))
	glob = b.String()
	if glob == "*" {
		return Wild, glob
	}
	return Shape, glob
}

// Pattern folds one key into the pattern of its family, a Redis glob:
// "user:1000:profile" → "user:*:profile",
// "nalar:1:django.contrib.sessions.cache<id>" →
// "nalar:*:django.contrib.sessions.cache*". Each segment (split by
// delimiter, ":" when empty) folds as Classify says, short ids included
// (the tree folds those only once a level has many: a single key has no
// siblings to tell), and so are digit runs glued to a name (digitRuns).
// Literal text is quoted, so the pattern matches the
// key it came from. Keys past 8 segments keep the rest as one segment.
func Pattern(key, delimiter string) string {
	if delimiter == "" {
		delimiter = ":"
	}
	if !needsFold(key) {
		return key
	}
	var b strings.Builder
	b.Grow(len(key))
	rest := key
	for depth := 1; ; depth++ {
		seg, last := rest, true
		if depth < 8 {
			if i := strings.Index(rest, delimiter); i >= 0 {
				seg, rest, last = rest[:i], rest[i+len(delimiter):], false
			}
		}
		if depth > 1 {
			b.WriteString(QuoteGlob(delimiter))
		}
		switch kind, glob := Classify(seg); kind {
		case ID, Wild:
			b.WriteByte('*')
		case Shape:
			b.WriteString(glob)
		default:
			b.WriteString(digitRuns(seg))
		}
		if last {
			break
		}
	}
	return b.String()
}

// digitRuns quotes a literal segment, with each run of 6 or more digits
// glued to letters a `*` ("job20240101" → "job*"), in runs of letters and
// digits under 16 characters: a date or counter in a name. The tree folds
// such names once it sees many siblings; a single key has none. A longer
// run (a word, or a token that looks tame) keeps its digits.
func digitRuns(seg string) string {
	var b strings.Builder
	lit := 0
	for i := 0; i < len(seg); {
		if !IsAlnum(seg[i]) {
			i++
			continue
		}
		j := runEnd(seg, i)
		for k := i; j-i < 16 && k < j; {
			e := k
			for e < j && IsDigit(seg[e]) {
				e++
			}
			if e-k >= 6 {
				b.WriteString(QuoteGlob(seg[lit:k]))
				b.WriteByte('*')
				lit = e
			}
			k = max(e, k+1)
		}
		i = j
	}
	if lit == 0 {
		return QuoteGlob(seg)
	}
	b.WriteString(QuoteGlob(seg[lit:]))
	return b.String()
}

// needsFold: the key holds a digit (ids), a glob character, or a run of
// letters long enough to end in a token; otherwise it is its own pattern.
func needsFold(key string) bool {
	run := 0
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case IsDigit(c), c == '*' || c == '?' || c == '[' || c == ']' || c == '\\':
			return true
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			run++
			if run >= 16 {
				return true
			}
		default:
			run = 0
		}
	}
	return false
}

// QuoteGlob escapes the glob metacharacters of a literal key text, so
// that the pattern matches s and nothing else.
func QuoteGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// randomTail reports whether the alphanumeric run r ends in a random id,
// and how many of its leading bytes are fixed text.
func randomTail(r string) (keep int, ok bool) {
	if len(r) >= 6 && isDigits(r) {
		return 0, true
	}
	if len(r) >= 12 && isHexID(r) {
		return 0, true
	}
	if len(r) < 16 {
		return 0, false
	}
	for _, l := range idLens {
		if l > len(r) {
			continue
		}
		if !looksRandom(r[len(r)-l:]) {
			continue
		}
		stem := r[:len(r)-l]
		if stem == "" || transitions(stem) >= 2 {
			return 0, true // the whole run is random
		}
		return len(stem), true
	}
	return 0, false
}

// looksRandom: letters and digits well mixed, as in generated tokens;
// "somethinglong2024" is not.
func looksRandom(s string) bool {
	var letters, digits int
	for i := 0; i < len(s); i++ {
		if IsDigit(s[i]) {
			digits++
		} else {
			letters++
		}
	}
	return letters > 0 && digits > 0 && transitions(s) >= 3
}

// transitions counts changes between letters and digits.
func transitions(s string) int {
	n := 0
	for i := 1; i < len(s); i++ {
		if IsDigit(s[i]) != IsDigit(s[i-1]) {
			n++
		}
	}
	return n
}

// isHexID: hex digits with at least one digit and one letter (so neither
// a number nor a word like "deadbeef").
func isHexID(s string) bool {
	var letter, digit bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case IsDigit(c):
			digit = true
		case c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F':
			letter = true
		default:
			return false
		}
	}
	return letter && digit
}

// isUUIDAt: 8-4-4-4-12 hex digits at s[i:], not inside a longer run.
func isUUIDAt(s string, i int) bool {
	if len(s)-i < 36 {
		return false
	}
	for k := 0; k < 36; k++ {
		c := s[i+k]
		switch k {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !IsDigit(c) && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return (i == 0 || !IsAlnum(s[i-1])) && (i+36 == len(s) || !IsAlnum(s[i+36]))
}

// runEnd is where the run of letters and digits at s[i:] ends.
func runEnd(s string, i int) int {
	for i < len(s) && IsAlnum(s[i]) {
		i++
	}
	return i
}

// IsDigit reports whether c is an ASCII digit.
func IsDigit(c byte) bool { return c >= '0' && c <= '9' }

// IsAlnum reports whether c is an ASCII letter or digit.
func IsAlnum(c byte) bool { return IsDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !IsDigit(s[i]) {
			return false
		}
	}
	return true
}
