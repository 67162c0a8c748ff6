package keys

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		seg  string
		kind segKind
		glob string
	}{
		{"employee", segLiteral, ""},
		{"profile", segLiteral, ""},
		{"1", segID, ""},
		{"12345", segID, ""},
		{"1700000000", segWild, "*"},
		{"deadbeef", segLiteral, ""}, // a word made of hex letters
		{"0a1b2c3d", segID, ""},
		{"d41d8cd98f00b204e9800998ecf8427e", segWild, "*"},
		{"3f2504e0-4f89-11d3-9a0c-0305e82c3301", segWild, "*"},
		{"celery-task-meta-3f2504e0-4f89-11d3-9a0c-0305e82c3301", segShape, "celery-task-meta-*"},
		{"django.contrib.sessions.cache" + "q8x0k3m2z9v7b1n4c6l5j8h2g0f3d1s7", segShape, "django.contrib.sessions.cache*"},
		{"django.contrib.sessions.cached_db" + "q8x0k3m2z9v7b1n4c6l5j8h2g0f3d1s7", segShape, "django.contrib.sessions.cached_db*"},
		{"session_q8x0k3m2z9v7b1n4c6l5j8h2g0f3d1s7", segShape, "session_*"},
		{"views.decorators.cache.cache_page.nalar.GET.d41d8cd98f00b204e9800998ecf8427e.0a1b2c3d4e5f60718293a4b5c6d7e8f9.en-us.UTC",
			segShape, "views.decorators.cache.cache_page.nalar.GET.*.*.en-us.UTC"},
		{"somethinglong2024", segLiteral, ""},
		{"v2", segLiteral, ""},
		{"a*b" + "q8x0k3m2z9v7b1n4c6l5j8h2g0f3d1s7", segShape, `a\*b*`},
		{"10.0.0.1", segLiteral, ""},
		{"", segLiteral, ""},
	}
	for _, c := range cases {
		kind, glob := classify(c.seg)
		if kind != c.kind || glob != c.glob {
			t.Errorf("classify(%q) = %d %q, want %d %q", c.seg, kind, glob, c.kind, c.glob)
		}
		if kind == segShape && !Match(glob, c.seg) {
			t.Errorf("shape %q does not match its segment %q", glob, c.seg)
		}
	}
}

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

func TestSessionKeysAlwaysFold(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for range 20000 {
		seg := "django.contrib.sessions.cache" + sessionID(r)
		if kind, glob := classify(seg); kind != segShape || glob != "django.contrib.sessions.cache*" {
			// A token without a digit looks tame: the tree still routes it
			// to its siblings' shape (TestTreeDjangoLayout).
			if kind != segLiteral {
				t.Fatalf("classify(%q) = %d %q", seg, kind, glob)
			}
		}
	}
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
