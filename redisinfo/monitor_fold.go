package redisinfo

import "strings"

// KeyPattern folds a key name into the pattern of its family, a Redis
// glob: "user:1000:profile" → "user:*:profile",
// "session:3f2a9c1e-8b7d-4e6f-a1b2-c3d4e5f60718" → "session:*". Segments
// (split by delimiter) that are numbers, UUIDs, hex ids of 8 or more
// characters or long random tokens become `*`; inside a segment, UUIDs,
// runs of 6 or more digits and long hex or random runs do ("job-20240101"
// → "job-*"). Literal text is quoted (\* \? \[ \] \\), so the pattern
// matches the key it came from.
//
// It is a one-key version of the key browser's folding (keys.Tree, which
// redisinfo cannot import: keys imports redisinfo). It folds by shape
// alone: the tree also folds short ids once a level has many of them, which
// needs the siblings a single MONITOR line does not have. Keys past 8
// segments keep the rest as one segment.
func KeyPattern(key, delimiter string) string {
	if delimiter == "" {
		delimiter = ":"
	}
	if key == "" {
		return ""
	}
	// Fast path: nothing to fold or quote.
	if !keyNeedsFold(key, delimiter) {
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
			foldQuoteGlob(&b, delimiter)
		}
		foldKeySegment(&b, seg)
		if last {
			break
		}
	}
	return b.String()
}

// keyNeedsFold: the key holds a digit (ids), a glob character, or a long
// alphanumeric run (a token).
func keyNeedsFold(key, delimiter string) bool {
	run := 0
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= '0' && c <= '9':
			return true
		case c == '*' || c == '?' || c == '[' || c == ']' || c == '\\':
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

func foldKeySegment(b *strings.Builder, seg string) {
	switch {
	case seg == "":
		return
	case foldDigits(seg), foldUUIDAt(seg, 0) && len(seg) == 36, len(seg) >= 8 && foldHexID(seg), foldRandomRun(seg):
		b.WriteByte('*')
		return
	}
	lit := 0
	star := func(from, to int) {
		foldQuoteGlob(b, seg[lit:from])
		if s := b.String(); !strings.HasSuffix(s, "*") || strings.HasSuffix(s, `\*`) {
			b.WriteByte('*')
		}
		lit = to
	}
	for i := 0; i < len(seg); {
		if foldUUIDAt(seg, i) {
			star(i, i+36)
			i += 36
			continue
		}
		if !foldAlnum(seg[i]) {
			i++
			continue
		}
		j := i
		for j < len(seg) && foldAlnum(seg[j]) {
			j++
		}
		r := seg[i:j]
		switch {
		case len(r) >= 12 && foldHexID(r), foldRandomRun(r):
			star(i, j)
		default:
			// Runs of 6+ digits inside the run: "job20240101" → "job*".
			for k := i; k < j; {
				if !monitorDigit(seg[k]) {
					k++
					continue
				}
				e := k
				for e < j && monitorDigit(seg[e]) {
					e++
				}
				if e-k >= 6 {
					star(k, e)
				}
				k = e
			}
		}
		i = j
	}
	foldQuoteGlob(b, seg[lit:])
}

func foldQuoteGlob(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
}

func foldDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !monitorDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

func foldAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// foldHexID: hex digits only, with at least one digit and one letter (so
// neither a number nor a word like "deadbeef").
func foldHexID(s string) bool {
	var letter, digit bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F':
			letter = true
		default:
			return false
		}
	}
	return letter && digit
}

// foldRandomRun: 16+ letters and digits, well mixed, as generated tokens are
// ("somethinglong2024" is not).
func foldRandomRun(s string) bool {
	if len(s) < 16 {
		return false
	}
	var letters, digits, transitions int
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !foldAlnum(c) {
			return false
		}
		if monitorDigit(c) {
			digits++
		} else {
			letters++
		}
		if i > 0 && monitorDigit(c) != monitorDigit(s[i-1]) {
			transitions++
		}
	}
	return letters > 0 && digits > 0 && transitions >= 3
}

// foldUUIDAt: 8-4-4-4-12 hex digits at s[i:], not inside a longer run.
func foldUUIDAt(s string, i int) bool {
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
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return (i == 0 || !foldAlnum(s[i-1])) && (i+36 == len(s) || !foldAlnum(s[i+36]))
}
