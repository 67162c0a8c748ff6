package keys

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// sessionID is django's get_random_string(32): lower-case letters and
// digits.
func sessionID(r *rand.Rand) string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 32)
	for i := range b {
		b[i] = chars[r.IntN(len(chars))]
	}
	return string(b)
}

func uuid(r *rand.Rand) string {
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff)
}

func TestDetectDjangoPrefix(t *testing.T) {
	cases := []struct {
		keys            []string
		prefix, version string
		ok              bool
	}{
		{[]string{"nalar:1:employee:5:profile", "nalar:1:views.x", "nalar:1:django.contrib.sessions.cacheabc", "other"}, "nalar", "1", true},
		{[]string{":1:a", ":1:b:2:c"}, "", "1", true},
		{[]string{"myapp:prod:3:a", "myapp:prod:3:b"}, "myapp:prod", "3", true},
		{[]string{"app:2024:1:a", "app:2024:1:b"}, "app:2024", "1", true},
		{[]string{"user:1:profile", "user:2:profile", "user:3:profile"}, "", "", false},
		{[]string{"nalar:1:a"}, "", "", false},
		{[]string{"a:1:x", "b", "c", "d", "e"}, "", "", false},
		{nil, "", "", false},
	}
	for _, c := range cases {
		p, v, ok := DetectDjangoPrefix(c.keys)
		if p != c.prefix || v != c.version || ok != c.ok {
			t.Errorf("DetectDjangoPrefix(%q) = %q %q %v, want %q %q %v", c.keys, p, v, ok, c.prefix, c.version, c.ok)
		}
	}
}

func TestRelativePattern(t *testing.T) {
	cases := []struct{ prefix, version, abs, rel string }{
		{"nalar", "1", "nalar:1:employees:*", "employees:*"},
		{"nalar", "1", "nalar:1:employee:*:profile", "employee:*:profile"},
		{"nalar", "1", "other:*", "other:*"},
		{"nalar", "1", "nalar:2:x", "nalar:2:x"},
		{"", "1", ":1:x", "x"},
		{"we*rd", "1", `we\*rd:1:x`, "x"},
	}
	for _, c := range cases {
		if got := RelativePattern(c.prefix, c.version, c.abs); got != c.rel {
			t.Errorf("RelativePattern(%q, %q, %q) = %q, want %q", c.prefix, c.version, c.abs, got, c.rel)
		}
		if c.rel != c.abs {
			if got := AbsolutePattern(c.prefix, c.version, c.rel); got != c.abs {
				t.Errorf("AbsolutePattern(%q, %q, %q) = %q, want %q", c.prefix, c.version, c.rel, got, c.abs)
			}
		}
	}
}
