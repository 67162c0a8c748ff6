package keys

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzPickle aims the fuzzer at the pickle loader and renderer: each input
// is tried as is and behind a protocol 4 header.
//
//	go test ./keys -run '^$' -fuzz FuzzPickle -fuzztime 60s
func FuzzPickle(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "values", "*-p[0-9].bin"))
	for _, path := range files {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"N.", "(lp0\nI1\naI2\na.", "cos\nsystem\n(S'ls'\ntR.", "\x8f(K\x01\x90.", "(K\x01\x91.",
		"}q\x00h\x00K\x01h\x00s.", "cuuid\nUUID\n)\x81}\x8c\x03int\x8a\x01\x05sb.",
		"ccollections\nOrderedDict\n)R\x8c\x01aK\x01s.", "\x95\x02\x00\x00\x00\x00\x00\x00\x00N.",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, in := range [][]byte{b, append([]byte{0x80, 4}, b...)} {
			start := time.Now()
			d := DecodeAs(in, ViewPickle)
			if el := time.Since(start); el > 5*time.Second {
				t.Fatalf("took %v", el)
			}
			checkDecoded(t, d)
		}
	})
}
