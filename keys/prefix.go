package keys

import (
	"redtop/internal/keyshape"
	"slices"
	"strconv"
	"strings"
)

// idFoldMin is how many distinct short-id siblings make a node fold them.
const idFoldMin = 8

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
			for j < len(k) && keyshape.IsDigit(k[j]) {
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
