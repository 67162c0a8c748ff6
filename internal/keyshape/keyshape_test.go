package keyshape_test

import (
	"math/rand/v2"
	"testing"

	"redtop/internal/keyshape"
	"redtop/keys"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		seg  string
		kind keyshape.Kind
		glob string
	}{
		{"employee", keyshape.Literal, ""},
		{"profile", keyshape.Literal, ""},
		{"1", keyshape.ID, ""},
		{"12345", keyshape.ID, ""},
		{"1700000000", keyshape.Wild, "*"},
		{"deadbeef", keyshape.Literal, ""}, // a word made of hex letters
		{"0a1b2c3d", keyshape.ID, ""},
		{"d41d8cd98f00b204e9800998ecf8427e", keyshape.Wild, "*"},
		{"3f2504e0-4f89-11d3-9a0c-0305e82c3301", keyshape.Wild, "*"},
		{"celery-task-meta-3f2504e0-4f89-11d3-9a0c-0305e82c3301", keyshape.Shape, "celery-task-meta-*"},
		{"django.contrib.sessions.cache" + "q8x0k3m2z9v7b1n4c6l5j8h2g0f3d1s7", keyshape.Shape, "django.contrib.sessions.cache*"},
		{"django.contrib.sessions.cached_db" + "q8x0k3m2z9v7b1n4c6l5j8h2g0f3d1s7", keyshape.Shape, "django.contrib.sessions.cached_db*"},
		{"session_q8x0k3m2z9v7b1n4c6l5j8h2g0f3d1s7", keyshape.Shape, "session_*"},
		{"views.decorators.cache.cache_page.nalar.GET.d41d8cd98f00b204e9800998ecf8427e.0a1b2c3d4e5f60718293a4b5c6d7e8f9.en-us.UTC",
			keyshape.Shape, "views.decorators.cache.cache_page.nalar.GET.*.*.en-us.UTC"},
		{"somethinglong2024", keyshape.Literal, ""},
		{"job20240101", keyshape.Literal, ""}, // the tree folds it by its siblings; Pattern by shape
		{"job-20240101-retry", keyshape.Shape, "job-*-retry"},
		{"v2", keyshape.Literal, ""},
		{"a*b" + "q8x0k3m2z9v7b1n4c6l5j8h2g0f3d1s7", keyshape.Shape, `a\*b*`},
		{"10.0.0.1", keyshape.Literal, ""},
		{"", keyshape.Literal, ""},
	}
	for _, c := range cases {
		kind, glob := keyshape.Classify(c.seg)
		if kind != c.kind || glob != c.glob {
			t.Errorf("Classify(%q) = %d %q, want %d %q", c.seg, kind, glob, c.kind, c.glob)
		}
		if kind == keyshape.Shape && !keys.Match(glob, c.seg) {
			t.Errorf("shape %q does not match its segment %q", glob, c.seg)
		}
	}
}

func TestSessionKeysAlwaysFold(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789" // django's get_random_string(32)
	for range 20000 {
		b := make([]byte, 32)
		for i := range b {
			b[i] = chars[r.IntN(len(chars))]
		}
		seg := "django.contrib.sessions.cache" + string(b)
		if kind, glob := keyshape.Classify(seg); kind != keyshape.Shape || glob != "django.contrib.sessions.cache*" {
			// A token without a digit looks tame: the tree still routes it
			// to its siblings' shape (keys.TestTreeDjangoLayout).
			if kind != keyshape.Literal {
				t.Fatalf("Classify(%q) = %d %q", seg, kind, glob)
			}
		}
	}
}

func TestPattern(t *testing.T) {
	for _, c := range []struct{ key, want string }{
		{"user:1000:profile", "user:*:profile"},
		{"nalar:1:django.contrib.sessions.cache" + "q8x0k3m2z9v7b1n4c6l5j8h2g0f3d1s7", "nalar:*:django.contrib.sessions.cache*"},
		{"jobs:run20240101:log", "jobs:run*:log"},
		{"x123456y7654321:z", "x*y*:z"},
		{"longwordname1234567:x", "longwordname1234567:x"}, // a long run keeps its digits
		{"a*b:1", `a\*b:*`},
		{"plain:key", "plain:key"},
		{"", ""},
	} {
		got := keyshape.Pattern(c.key, ":")
		if got != c.want {
			t.Errorf("Pattern(%q) = %q, want %q", c.key, got, c.want)
		}
		if !keys.Match(got, c.key) {
			t.Errorf("Pattern(%q) = %q does not match it", c.key, got)
		}
	}
}

// TestPatternIsTheTreeFamily: a key's one-key pattern (MONITOR's top
// patterns) is the family the key browser's tree puts it in, once the
// tree has enough siblings to fold short ids too. (Names with a date
// glued in, "run20240101", the tree folds only past MaxChildren siblings;
// Pattern folds them at once.)
func TestPatternIsTheTreeFamily(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	families := []struct {
		pattern string
		key     func(i int) string
	}{
		// (The tree keeps a short id that has no siblings, django's
		// version "1": these families have none.)
		{"nalar:employees:list:page:*", func(i int) string { return "nalar:employees:list:page:" + itoa(i%40) }},
		{"nalar:django.contrib.sessions.cache*", func(int) string {
			return "nalar:django.contrib.sessions.cache" + token(r)
		}},
		{"celery-task-meta-*", func(int) string { return "celery-task-meta-" + uuidish(r) }},
	}
	for _, f := range families {
		tree := keys.NewTree(keys.TreeOptions{})
		for i := range 200 {
			k := f.key(i)
			if got := keyshape.Pattern(k, ":"); got != f.pattern {
				t.Fatalf("Pattern(%q) = %q, want %q", k, got, f.pattern)
			}
			tree.Add(k, keys.KeyMeta{})
		}
		var fams []string
		for _, n := range tree.Families() {
			fams = append(fams, n.Pattern(":"))
		}
		if len(fams) != 1 || fams[0] != f.pattern {
			t.Errorf("the tree folds %s into %q", f.pattern, fams)
		}
	}
}

func itoa(i int) string {
	const d = "0123456789"
	if i < 10 {
		return d[i : i+1]
	}
	return itoa(i/10) + d[i%10:i%10+1]
}

func token(r *rand.Rand) string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 32)
	for i := range b {
		b[i] = chars[r.IntN(len(chars))]
	}
	b[3] = '7' // at least one digit: a token without any looks like a word (see TestSessionKeysAlwaysFold)
	return string(b)
}

func uuidish(r *rand.Rand) string {
	const hex = "0123456789abcdef"
	b := []byte("xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx")
	for i, c := range b {
		if c == 'x' {
			b[i] = hex[r.IntN(16)]
		}
	}
	return string(b)
}
