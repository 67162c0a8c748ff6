package escape

import "testing"

// The full tables and fuzz targets are in keys (escape_test.go), through
// the keys.Escape wrappers; these pin the contract here.
func TestString(t *testing.T) {
	for in, want := range map[string]string{
		"plain":             "plain",
		"a\x1b]52;c;x\x07b": `a\x1b]52;c;x\x07b`,
		"line\nbreak":       `line\nbreak`,
		"\xff\xfe":          `\xff\xfe`,
		"wide 漢字":           "wide 漢字",
		`back\slash`:        `back\\slash`,
		"rtl\u202eevil":     `rtl\u202eevil`,
	} {
		if got := String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
		if back, err := Unescape(String(in)); err != nil || back != in {
			t.Errorf("Unescape(String(%q)) = %q, %v", in, back, err)
		}
	}
	if got := Width("漢字漢字", 5); got != "漢字…" {
		t.Errorf("Width = %q", got)
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add("a\x1b\n\xff漢\\")
	f.Fuzz(func(t *testing.T, s string) {
		if back, err := Unescape(String(s)); err != nil || back != s {
			t.Fatalf("round trip of %q: %q, %v", s, back, err)
		}
	})
}
