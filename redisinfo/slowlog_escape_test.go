package redisinfo_test

import (
	"testing"

	"redtop/keys"
	"redtop/redisinfo"
)

// escapeText is a copy of keys.Escape (keys imports redisinfo, so
// redisinfo cannot import keys): these make sure the two never differ.
var escapeSamples = []string{
	"", "plain", "a b", `back\slash`, "\x00\x01\x1b[31m\x7f", "\n\r\t",
	"\xff\xfe", "\xc3", "é", "\u0085", "\u009f", "\u00a0", "\u061c", "\u200b", "\u200c", "\u200d",
	"\u200e\u200f", "\u202a\u202e", "\u2028\u2029", "\u2066\u2069", "\u2060", "\ufeff",
	"🏳️‍🌈", "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", "\U000e0001", "\U000f0000",
	"日本語", "ключ", "x\xed\xa0\x80y", // a surrogate encoded in UTF-8 is invalid
}

func TestEscapeTextIsKeysEscape(t *testing.T) {
	for _, s := range escapeSamples {
		if got, want := redisinfo.EscapeTextForTest(s), keys.Escape(s); got != want {
			t.Errorf("escapeText(%q) = %q, keys.Escape = %q", s, got, want)
		}
	}
}

func FuzzEscapeTextIsKeysEscape(f *testing.F) {
	for _, s := range escapeSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := redisinfo.EscapeTextForTest(s), keys.Escape(s); got != want {
			t.Fatalf("escapeText(%q) = %q, keys.Escape = %q", s, got, want)
		}
	})
}
