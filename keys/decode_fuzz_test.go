package keys

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzDecode: for any input, Decode and every DecodeAs view return without
// panicking, within bounded lines of terminal-safe text, in bounded time.
//
//	go test ./keys -run '^$' -fuzz FuzzDecode -fuzztime 60s
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "values", "*.bin"))
	for _, path := range files {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "0", "-", "42", "x^", "\x78\x9c", "\x1f\x8b\x08",
		"\x80\x04N.", "\x80\x02]q\x00(K\x01K\x02e.", "(dp0\nS'a'\np1\nI1\ns.",
		"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00}\x94.",
		"\x80\x04\x8f(C\x01a\x90.", "\x80\x04(C\x01a\x91.", "\x80\x04}q\x00h\x00K\x01h\x00s.",
		"\x80\x04cdatetime\ndatetime\nC\x0a\x07\xea\x0b\x1c\x0a\x00\x00\x00\x00\x00\x85R.",
		`{"a": [1, 2, {"b": null}]}`, `"\u202e"`, "[[[[]]]]",
		"\x82\xa1a\x01\xa1b\x92\xc0\xc3", "\xdc\x00\x01\xc4\x01\x00", "\x91\xd6\xff\x00\x00\x00\x01",
		"plain text\nwith lines\n", "\x1b[2J\x1b]52;c;x\x07", "\xff\xfe\x00\x01",
	} {
		f.Add([]byte(s))
	}
	views := []View{ViewAuto, ViewText, ViewHex, ViewJSON, ViewPickle, ViewMsgpack}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range views {
			start := time.Now()
			d := DecodeAs(b, v)
			if el := time.Since(start); el > 5*time.Second {
				t.Fatalf("%v took %v", v, el)
			}
			checkDecoded(t, d)
			if v == ViewHex && d.Kind != "hex" {
				t.Fatalf("hex view gave %q", d.Kind)
			}
			if v == ViewText && d.Kind != "text" {
				t.Fatalf("text view gave %q", d.Kind)
			}
		}
	})
}
