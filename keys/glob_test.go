package keys

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestMatchTable(t *testing.T) {
	cases := []struct {
		pattern, key string
		want         bool
	}{
		{"*", "", true}, // SCAN's "no pattern"
		{"**", "", false},
		{"", "", true},
		{"", "a", false},
		{"a*", "a", true},
		{"a*", "abc", true},
		{"*c", "abc", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"?", "é", false}, // two bytes
		{"??", "é", true},
		{"[abc]", "b", true},
		{"[^abc]", "b", false},
		{"[^abc]", "d", true},
		{"[a-c]x", "bx", true},
		{"[c-a]x", "bx", true}, // reversed range
		{"[a-c]", "d", false},
		{`\*`, "*", true},
		{`\*`, "a", false},
		{`a\`, `a\`, true}, // trailing backslash is literal
		{`[\]]`, "]", true},
		{"[abc", "b", true},  // unterminated class reads as closed
		{"[", "[", false},    // lone [ matches nothing
		{"[^", "x", true},    // [^ at the end: any byte
		{"[a-]", "]", true},  // range a..]
		{"[a-]", "-", false}, // '-' is not in ']'..'a'
		{"[]", "a", false},
		{"[^]", "a", true},
		{"user:*:profile", "user:1:profile", true},
		{"user:*:profile", "user:1:x:profile", true}, // * spans delimiters
		{"user:*:profile", "user:profile", false},
		{"User:*", "user:1", false}, // case-sensitive
		{"[\x80-\xff]", "\x90", true},
		{"[a-\xff]", "b", false}, // signed chars: 0xff is -1, range is -1..97
		{"[a-\xff]", "\x00", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
	}
	for _, c := range cases {
		if got := Match(c.pattern, c.key); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.key, got, c.want)
		}
	}
}

func TestQuoteGlob(t *testing.T) {
	for _, s := range []string{"plain", "a*b", `x\y`, "[ab]", "q?", "*", "", "\x1b[31m", `\`} {
		q := QuoteGlob(s)
		if !Match(q, s) {
			t.Errorf("Match(QuoteGlob(%q)=%q, %q) is false", s, q, s)
		}
		for _, other := range []string{"plainx", "ab", "aXb", "xy", "a", "q", "**", `\\`} {
			if other != s && Match(q, other) {
				t.Errorf("QuoteGlob(%q)=%q also matches %q", s, q, other)
			}
		}
	}
}

func TestValidatePattern(t *testing.T) {
	for _, p := range []string{"*", "user:*", `\[`, "[abc]", "[^a]", "[a-z]*", `[\]]`, "[^]", "a?"} {
		if err := ValidatePattern(p); err != nil {
			t.Errorf("ValidatePattern(%q) = %v", p, err)
		}
	}
	for p, want := range map[string]string{
		"":       "empty pattern",
		"user:[": "unterminated [",
		"[abc":   "unterminated [",
		"[a-]":   "ends the range",
		"x[]":    "empty class",
	} {
		err := ValidatePattern(p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidatePattern(%q) = %v, want %q", p, err, want)
		}
	}
}

// hostileKeys holds the names the glob and escape tests must survive.
var hostileKeys = []string{
	"", "*", "**", "?", "[", "]", "[]", "[a]", `\`, `\\`, `a\*`, "a*b", "a?b", "a[b", "a]b",
	"-", "^", "a-b", "a", "b", "c", "]a", "ab", "abc", "a:b", "a:b:c", "user:1:profile",
	"user:22:profile", "user:1:x:profile", "User:1", "é", "\x80", "\xff", "\x00", "a\x00b",
	"\x1b[31mred\x1b[0m", "line\nbreak", "tab\there", "\r", "\x7f", "\xc3\x28", " ", "a b",
}

// globAlphabet builds random patterns and keys that hit every branch.
const globAlphabet = "ab*?[]^-\\:\x80\xff"

func randString(r *rand.Rand, alphabet string, maxLen int) string {
	n := r.IntN(maxLen + 1)
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// TestMatchAgreesWithScanMatch is the point of Match: for every pattern
// over a keyspace of awkward names, the server's SCAN MATCH and Match
// return the same keys.
func TestMatchAgreesWithScanMatch(t *testing.T) {
	c, _ := testServer(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))

	keySet := map[string]bool{}
	for _, k := range hostileKeys {
		keySet[k] = true
	}
	for len(keySet) < 400 {
		keySet[randString(r, globAlphabet, 6)] = true
	}
	var all []string
	pipe := c.Pipeline()
	for k := range keySet {
		all = append(all, k)
		pipe.Set(ctx, k, "v", 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}

	patterns := []string{
		"*", "**", "", "?", "??", "*?", "?*", "[", "[^", "[]", "[^]", "[a", "[a-", "[a-]", "[-a]", "[]a]",
		`\`, `\\`, `\*`, `*\`, `[\]`, `[\]]`, `[\`, "a*", "*a", "*a*", "a*b", "*:*", "user:*:profile",
		"user:[0-9]*", "[a-\xff]", "[\xff-a]", "[\x80-\xff]", "[^\x80-\xff]*", "*\x00*", "\x1b*",
		"*\n*", "[^a-b]*", "*[*", "*]", "a[b", "[[]", "[]]", "[^-]", "[a-b-c]", "?[?]?",
		"a**b", "***", "*?*?*", "[z-a]", "User:*", "\xc3?", "é", "?\xa9",
	}
	for len(patterns) < 800 {
		patterns = append(patterns, randString(r, globAlphabet, 7))
	}

	mismatches := 0
	for _, p := range patterns {
		got := scanMatchAll(t, c, p)
		var want []string
		for _, k := range all {
			if Match(p, k) {
				want = append(want, k)
			}
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			mismatches++
			if mismatches <= 10 {
				t.Errorf("pattern %q: server only %q, Match only %q", p, minus(got, want), minus(want, got))
			}
		}
	}
	if mismatches > 0 {
		t.Fatalf("%d of %d patterns disagree", mismatches, len(patterns))
	}
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// scanMatchAll returns the sorted distinct keys SCAN MATCH p returns.
func scanMatchAll(t *testing.T, c *redis.Client, p string) []string {
	t.Helper()
	ctx := context.Background()
	seen := map[string]bool{}
	var cursor uint64
	for {
		// go-redis leaves MATCH out for "": send it raw.
		res, err := c.Do(ctx, "scan", cursor, "match", p, "count", 1000).Slice()
		if err != nil {
			t.Fatalf("SCAN MATCH %q: %v", p, err)
		}
		next, err := strconv.ParseUint(res[0].(string), 10, 64)
		if err != nil {
			t.Fatalf("SCAN MATCH %q: %v", p, err)
		}
		for _, k := range res[1].([]any) {
			seen[k.(string)] = true
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestMatchNestingLimit documents the one place servers differ among
// themselves: patched servers give up past 1000 nested stars, older ones
// do not. Match follows the patched rule; the test reports what this
// server does.
func TestMatchNestingLimit(t *testing.T) {
	p := strings.Repeat("*a", 1001)
	k := strings.Repeat("a", 1001)
	if Match(p, k) {
		t.Fatal("Match passed the nesting limit")
	}
	if !Match(strings.Repeat("*a", 999), k) {
		t.Fatal("Match failed under the nesting limit")
	}
	c, _ := testServer(t)
	ctx := context.Background()
	c.Set(ctx, k, "v", 0)
	got := scanMatchAll(t, c, p)
	t.Logf("server with 1001 nested stars: %d match (patched servers: 0)", len(got))
}

func BenchmarkMatch(b *testing.B) {
	for b.Loop() {
		Match("nalar:1:employee:*:profile", "nalar:1:employee:123456:profile")
	}
}
