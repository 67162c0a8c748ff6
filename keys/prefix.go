package keys

import (
	"slices"
	"strconv"
	"strings"
)

// segKind says how a key segment folds in the prefix tree.
type segKind uint8

const (
	segLiteral segKind = iota // a name: kept as is
	segID                     // a short id (numeric, hex of 8..11): folds once a node has many
	segWild                   // all random (UUID, long hex or token): folds at once into *
	segShape                  // a fixed text around random runs: folds at once into that text with * for the runs
)

// idFoldMin is how many distinct short-id siblings make a node fold them.
const idFoldMin = 8

// idLens are the lengths of common random ids (base36/62 tokens, hex
// digests, ObjectIds), tried longest first to find where a random id glued
// to a fixed text begins: django's session keys are 32 characters after
// "django.contrib.sessions.cache".
var idLens = []int{64, 40, 32, 26, 24, 22, 20, 16}

// classify tells how a segment folds. For segShape, glob is the segment
// as a glob pattern: its fixed text quoted, each random run a `*`.
func classify(seg string) (kind segKind, glob string) {
	if seg == "" {
		return segLiteral, ""
	}
	if isDigits(seg) {
		if len(seg) >= 6 {
			return segWild, "*" // timestamps, large ids
		}
		return segID, ""
	}
	if len(seg) >= 8 && len(seg) < 12 && isHexID(seg) {
		return segID, ""
	}
	var b strings.Builder
	changed := false
	lit := 0 // start of the pending literal text
	flush := func(end int) {
		b.WriteString(QuoteGlob(seg[lit:end]))
	}
	star := func() {
		if s := b.String(); !strings.HasSuffix(s, "*") || strings.HasSuffix(s, `\*`) {
			b.WriteByte('*')
		}
		changed = true
	}
	for i := 0; i < len(seg); {
		if isUUIDAt(seg, i) {
			flush(i)
			star()
			i += 36
			lit = i
			continue
		}
		if !isAlnum(seg[i]) {
			i++
			continue
		}
		j := i
		for j < len(seg) && isAlnum(seg[j]) {
			j++
		}
		if keep, ok := randomTail(seg[i:j]); ok {
			flush(i + keep)
			star()
			lit = j
		}
		i = j
	}
	if !changed {
		return segLiteral, ""
	}
	flush(len(seg))
	glob = b.String()
	if glob == "*" {
		return segWild, glob
	}
	return segShape, glob
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
		if isDigit(s[i]) {
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
		if isDigit(s[i]) != isDigit(s[i-1]) {
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
		case isDigit(c):
			digit = true
		case c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F':
			letter = true
		default:
			return false
		}
	}
	return letter && digit
}

// isUUIDAt: 8-4-4-4-12 hex digits at s[i:].
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
			if !isDigit(c) && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	// Not in the middle of a longer hex run.
	return (i == 0 || !isAlnum(s[i-1])) && (i+36 == len(s) || !isAlnum(s[i+36]))
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// DetectDjangoPrefix finds django-redis's key layout, KEY_PREFIX:VERSION:key
// (VERSION a number, KEY_PREFIX possibly empty or holding colons), in a
// sample of key names. It needs at least half the sample, and two keys, to
// share one prefix and version. When several readings fit every key
// ("app:2024:1:x" is app/2024 or app:2024/1), the smaller version wins:
// django's default is 1.
func DetectDjangoPrefix(sampleKeys []string) (prefix, version string, ok bool) {
	votes := map[djangoLayout]int{}
	for _, k := range sampleKeys {
		seen := map[djangoLayout]bool{}
		for i := 0; i < len(k); i++ {
			if k[i] != ':' {
				continue
			}
			j := i + 1
			for j < len(k) && isDigit(k[j]) {
				j++
			}
			if j == i+1 || j-i-1 > 6 || j >= len(k) || k[j] != ':' || j+1 == len(k) {
				continue
			}
			c := djangoLayout{k[:i], k[i+1 : j]}
			if !seen[c] {
				seen[c] = true
				votes[c]++
			}
		}
	}
	var best djangoLayout
	bestN := 0
	for c, n := range votes {
		if n > bestN || n == bestN && lessVersion(c, best) {
			best, bestN = c, n
		}
	}
	if bestN < 2 || bestN*2 < len(sampleKeys) {
		return "", "", false
	}
	return best.prefix, best.version, true
}

type djangoLayout struct{ prefix, version string }

func lessVersion(a, b djangoLayout) bool {
	va, _ := strconv.Atoi(a.version)
	vb, _ := strconv.Atoi(b.version)
	if va != vb {
		return va < vb
	}
	if len(a.prefix) != len(b.prefix) {
		return len(a.prefix) < len(b.prefix)
	}
	return a.prefix < b.prefix
}

// RelativePattern shows a pattern the way the application names its keys:
// with django-redis's "prefix:version:" taken off ("nalar:1:employees:*"
// becomes "employees:*"). A pattern outside that layout comes back as is.
func RelativePattern(prefix, version, p string) string {
	head := QuoteGlob(prefix) + ":" + version + ":"
	if rest, ok := strings.CutPrefix(p, head); ok && rest != "" {
		return rest
	}
	return p
}

// AbsolutePattern is the inverse: the pattern an application-side pattern
// ("employees:*") stands for on the server ("nalar:1:employees:*").
func AbsolutePattern(prefix, version, rel string) string {
	return QuoteGlob(prefix) + ":" + version + ":" + rel
}

// sortedKeys returns a map's keys in order, for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
