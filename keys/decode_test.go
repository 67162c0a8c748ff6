package keys

import (
	"bytes"
	"compress/zlib"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// -update rewrites testdata/values/expected/*.txt. The flag may already be
// registered by another test file (x/exp/golden registers the same name).
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files")
	}
}

func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

func readValueFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "values", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkDecoded holds for every rendering, whatever the input.
func checkDecoded(t testing.TB, d Decoded) {
	t.Helper()
	kinds := []string{"int", "pickle", "json", "msgpack", "text", "hex"}
	if !slices.Contains(kinds, d.Kind) {
		t.Fatalf("Kind = %q", d.Kind)
	}
	if len(d.Chain) == 0 || d.Chain[len(d.Chain)-1] != d.Kind {
		t.Fatalf("Chain %v does not end with Kind %q", d.Chain, d.Kind)
	}
	if len(d.Lines) > MaxLines+1 {
		t.Fatalf("%d lines, want at most %d", len(d.Lines), MaxLines+1)
	}
	for i, l := range d.Lines {
		if len(l) > MaxLineBytes {
			t.Fatalf("line %d is %d bytes", i, len(l))
		}
		if !isSafeLine(l) {
			t.Fatalf("line %d is not terminal-safe: %q", i, l)
		}
	}
	for _, s := range append(slices.Clone(d.Classes), d.Err) {
		if !isSafeLine(s) {
			t.Fatalf("not terminal-safe: %q", s)
		}
	}
}

// goldenText is the text form of a Decoded kept in testdata/values/expected.
func goldenText(d Decoded) string {
	var sb strings.Builder
	sb.WriteString("chain: " + strings.Join(d.Chain, " ") + "\n")
	sb.WriteString("kind: " + d.Kind + "\n")
	if len(d.Classes) > 0 {
		sb.WriteString("classes: " + strings.Join(d.Classes, " ") + "\n")
	}
	if d.Err != "" {
		sb.WriteString("err: " + d.Err + "\n")
	}
	sb.WriteString("---\n")
	lines := d.Lines
	const head, tail = 100, 10
	if len(lines) > head+tail+10 {
		// Long renderings keep their start and end, to stay reviewable.
		elided := fmt.Sprintf("[golden: %d lines elided]", len(lines)-head-tail)
		lines = slices.Concat(lines[:head], []string{elided}, lines[len(lines)-tail:])
	}
	for _, l := range lines {
		sb.WriteString(l + "\n")
	}
	return sb.String()
}

func TestDecodeFixtures(t *testing.T) {
	type want struct {
		chain    string
		classes  string
		contains []string
		absent   []string
	}
	sessionLines := []string{
		"{",
		"  '_auth_user_id': '42',",
		"  '_auth_user_backend': 'django.contrib.auth.backends.ModelBackend',",
		"  '_session_expiry': 1209600,",
	}
	mixedLines := []string{
		"'joined': datetime.datetime(2026, 11, 28, 10, 0),",
		"'last_login': datetime.datetime(2026, 11, 28, 10, 30, 15, 250000, tzinfo=datetime.timezone.utc),",
		"'birthday': datetime.date(1815, 12, 10),",
		"'alarm': datetime.time(7, 30),",
		"'ttl': datetime.timedelta(days=14),",
		"'balance': Decimal('12.50'),",
		"'manager': None,",
		"'active': True,",
		"'score': 0.1,",
		"'big': 1e+16,",
		"'huge': 1267650600228229401496703205376,",
		"'tags': ['admin', ['nested', ['deeper', 3]]],",
		"'perms': {1, 2, 3},",
		"'frozen': frozenset({4, 5}),",
		"'point': (1, 2),",
		"'single': (1,),",
		"'empty': ((), [], {}, set(), ''),",
		`'raw': b'\x00\x01binary\xff',`,
		"'token': UUID('12345678-1234-5678-1234-567812345678'),",
		"'ordered': OrderedDict({'b': 2, 'a': 1}),",
		"'buf': bytearray(b'abc'),",
		`'name': "O'Brien é漢",`,
		`'note': 'say "hi"\n\ttab',`,
	}
	employee := []string{"myapp.models.Employee(", "  id=7,", "  name='Grace',", "  hired=datetime.date(2020, 5, 1),", "  salary=Decimal('5000.00'),", ")"}
	strs := []string{`'café'`, `'漢字'`, `'back\\slash'`, `'new\nline'`, `'\x1b[2J'`, `'\u202eevil'`, `'😀'`}
	wants := map[string]want{
		"session-p0.bin":         {chain: "pickle", contains: sessionLines},
		"session-p2.bin":         {chain: "pickle", contains: sessionLines},
		"session-p4.bin":         {chain: "pickle", contains: sessionLines},
		"session-p5.bin":         {chain: "pickle", contains: sessionLines},
		"mixed-p0.bin":           {chain: "pickle", contains: mixedLines},
		"mixed-p2.bin":           {chain: "pickle", contains: mixedLines},
		"mixed-p4.bin":           {chain: "pickle", contains: mixedLines},
		"mixed-p5.bin":           {chain: "pickle", contains: mixedLines},
		"employee-p0.bin":        {chain: "pickle", classes: "myapp.models.Employee", contains: employee},
		"employee-p2.bin":        {chain: "pickle", classes: "myapp.models.Employee", contains: employee},
		"employee-p4.bin":        {chain: "pickle", classes: "myapp.models.Employee", contains: employee},
		"employee-p5.bin":        {chain: "pickle", classes: "myapp.models.Employee", contains: employee},
		"malicious-p0.bin":       {chain: "pickle", classes: "posix.system", contains: []string{"posix.system('touch /tmp/pwned')"}},
		"malicious-p2.bin":       {chain: "pickle", classes: "posix.system", contains: []string{"posix.system('touch /tmp/pwned')"}},
		"malicious-p4.bin":       {chain: "pickle", classes: "posix.system", contains: []string{"posix.system('touch /tmp/pwned')"}},
		"malicious-p5.bin":       {chain: "pickle", classes: "posix.system", contains: []string{"posix.system('touch /tmp/pwned')"}},
		"malicious-eval-p4.bin":  {chain: "pickle", classes: "builtins.eval", contains: []string{`builtins.eval("__import__('os').system('touch /tmp/pwned')")`}},
		"malicious-handmade.bin": {chain: "pickle", classes: "os.system", contains: []string{"os.system('touch /tmp/pwned')"}},
		"big-zlib.bin":           {chain: "zlib pickle", contains: []string{"  'rows': [", "      'email': 'user119@example.com',", "      'seen': datetime.datetime(2026, 1, 1, 0, 0, 59),", "  'total': 120,"}},
		"int-raw.bin":            {chain: "int", contains: []string{"42"}},
		"int-negative.bin":       {chain: "int", contains: []string{"-1337"}},
		"laughs-p4.bin":          {chain: "pickle", contains: []string{"[['lol'], ['lol']],", "… 50000+ more lines"}},
		"recursive-p4.bin":       {chain: "pickle", contains: []string{"{'self': [1, [...]]}"}},
		"strings-p0.bin":         {chain: "pickle", contains: strs},
		"strings-p4.bin":         {chain: "pickle", contains: strs},
		"py2-string.bin":         {chain: "pickle", contains: []string{`["café 'q' \n", 42]`}},
		"json-object.bin":        {chain: "json", contains: []string{`  "user": {`, `    "roles": [`, `      "admin",`, `    "meta": {}`, `  "ratio": 0.25,`, `  "esc": "\u202e\u001b[2J"`}},
		"json-gzip.bin":          {chain: "gzip json", contains: []string{"[", "  1,", "  {", `    "a": "b"`, "  }", "]"}},
		"msgpack-map.bin":        {chain: "msgpack", contains: []string{`  "name": "redtop",`, `    "a",`, `  "n": 42,`, `  "ok": true,`, `  "pi": 3.14159,`, `  "bin": b'\x00\x01\x02'`}},
		"text-utf8.bin":          {chain: "text", contains: []string{"Café naïve — 漢字テキスト 😀", "second line"}},
		"text-hostile.bin":       {chain: "text", contains: []string{`title\x1b]52;c;ZXZpbA==\x07 and \x1b[2J clear`, `\u202eevil.exe`}},
		"garbage.bin":            {chain: "hex", contains: []string{"00000000  9d 79 b1 a3 7f 31 80 1c  d1 1a 67 06 fb 40 d6 bd  |.y...1....g..@..|"}},
		"zipbomb-zlib.bin":       {chain: "zlib hex", contains: []string{"… 1046576 more lines"}},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "values", "*.bin"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			w, ok := wants[name]
			if !ok {
				t.Fatalf("fixture %s has no expectations in this table", name)
			}
			d := Decode(readValueFixture(t, name))
			checkDecoded(t, d)
			if got := strings.Join(d.Chain, " "); got != w.chain {
				t.Errorf("Chain = %q, want %q", got, w.chain)
			}
			if got := strings.Join(d.Classes, " "); got != w.classes {
				t.Errorf("Classes = %q, want %q", got, w.classes)
			}
			text := strings.Join(d.Lines, "\n")
			for _, s := range w.contains {
				if !strings.Contains(text, s) {
					t.Errorf("rendering lacks %q", s)
				}
			}
			gpath := filepath.Join("testdata", "values", "expected", strings.TrimSuffix(name, ".bin")+".txt")
			got := goldenText(d)
			if updateGolden() {
				if err := os.WriteFile(gpath, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			exp, err := os.ReadFile(gpath)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if got != string(exp) {
				t.Errorf("rendering differs from %s (run with -update and review the diff):\n%s", gpath, got)
			}
		})
	}
	if updateGolden() {
		// Drop goldens whose fixture is gone.
		old, _ := filepath.Glob(filepath.Join("testdata", "values", "expected", "*.txt"))
		for _, g := range old {
			if _, err := os.Stat(filepath.Join("testdata", "values", strings.TrimSuffix(filepath.Base(g), ".txt")+".bin")); err != nil {
				os.Remove(g)
			}
		}
	}
}

func TestDecodeViews(t *testing.T) {
	session := readValueFixture(t, "session-p4.bin")
	big := readValueFixture(t, "big-zlib.bin")
	tests := []struct {
		name     string
		in       []byte
		view     View
		chain    string
		err      string // substring; "" means none
		contains string
	}{
		{"auto pickle", session, ViewAuto, "pickle", "", "'_auth_user_id': '42',"},
		{"pickle forced", session, ViewPickle, "pickle", "", "'_auth_user_id': '42',"},
		{"text of a pickle", session, ViewText, "text", "", `\x80\x04\x95`},
		{"hex of a pickle", session, ViewHex, "hex", "", "00000000  80 04 95"},
		{"json of a pickle fails", session, ViewJSON, "hex", "json: ", "00000000  80 04 95"},
		{"msgpack of a pickle fails", session, ViewMsgpack, "hex", "msgpack: ", "00000000  80 04 95"},
		{"hex shows raw zlib", big, ViewHex, "hex", "", "00000000  78 9c"},
		{"text peels zlib", big, ViewText, "zlib text", "", "user0@example.com"},
		{"pickle peels zlib", big, ViewPickle, "zlib pickle", "", "'total': 120,"},
		{"json fails after zlib", big, ViewJSON, "zlib hex", "json: ", "00000000  80 05 95"},
		{"forced json accepts a number", []byte("3.25"), ViewJSON, "json", "", "3.25"},
		{"auto leaves a float as text", []byte("3.25"), ViewAuto, "text", "", "3.25"},
		{"forced msgpack accepts a scalar", []byte{0xa3, 'a', 'b', 'c'}, ViewMsgpack, "msgpack", "", `"abc"`},
		{"msgpack with trailing bytes fails", []byte{0x91, 0x01, 0x02}, ViewMsgpack, "hex", "1 bytes left", ""},
		{"forced pickle of an int", []byte("I42\n."), ViewPickle, "pickle", "", "42"},
		{"pickle ignores bytes after STOP when forced", []byte("I42\n.junk"), ViewPickle, "pickle", "", "# 4 bytes after the pickle's STOP were ignored"},
		{"auto rejects bytes after STOP", []byte("I42\n.junk"), ViewAuto, "text", "", "I42"},
		{"text of invalid utf8", []byte("a\xffb\nc"), ViewText, "text", "", `a\xffb`},
		{"int is text when forced", []byte("42"), ViewText, "text", "", "42"},
		{"unknown view", []byte("x"), View(42), "hex", "unknown view", "|x|"},
		{"empty auto", nil, ViewAuto, "text", "", ""},
		{"empty hex", nil, ViewHex, "hex", "", ""},
		{"empty pickle", nil, ViewPickle, "hex", "pickle: ", ""},
		{"empty json", nil, ViewJSON, "hex", "json: ", ""},
		{"empty msgpack", nil, ViewMsgpack, "hex", "msgpack: ", ""},
		{"cut pickle in auto", session[:len(session)-20], ViewAuto, "hex", "pickle: pickle ends early", "00000000  80 04 95"},
		{"malformed pickle", []byte("\x80\x04(K\x01d."), ViewPickle, "hex", "pickle: malformed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := DecodeAs(tt.in, tt.view)
			checkDecoded(t, d)
			if got := strings.Join(d.Chain, " "); got != tt.chain {
				t.Errorf("Chain = %q, want %q", got, tt.chain)
			}
			if tt.err == "" && d.Err != "" || !strings.Contains(d.Err, tt.err) {
				t.Errorf("Err = %q, want %q", d.Err, tt.err)
			}
			if text := strings.Join(d.Lines, "\n"); !strings.Contains(text, tt.contains) {
				t.Errorf("rendering lacks %q:\n%s", tt.contains, text)
			}
		})
	}
}

func TestDecodeInts(t *testing.T) {
	for in, isInt := range map[string]bool{
		"0": true, "42": true, "-1": true, "12345678901234567890123": true,
		"": false, "-": false, "007": false, "-0": false, "+1": false, "1.5": false, " 1": false, "1\n": false,
		"1e3": false, "0x10": false, strings.Repeat("9", 41): false,
	} {
		d := Decode([]byte(in))
		if got := d.Kind == "int"; got != isInt {
			t.Errorf("Decode(%q).Kind = %q", in, d.Kind)
		}
	}
}

func TestDecodeCompression(t *testing.T) {
	var zb bytes.Buffer
	zw := zlib.NewWriter(&zb)
	zw.Write([]byte(`{"a": [1, 2, 3], "b": "` + strings.Repeat("x", 5000) + `"}`))
	zw.Close()
	whole := zb.Bytes()

	d := Decode(whole)
	checkDecoded(t, d)
	if got := strings.Join(d.Chain, " "); got != "zlib json" || d.Err != "" {
		t.Fatalf("whole: chain %q err %q", got, d.Err)
	}

	// The caller may pass a prefix of a long value: peel what there is.
	d = Decode(whole[:len(whole)/2])
	checkDecoded(t, d)
	if d.Chain[0] != "zlib" || !strings.Contains(d.Err, "ends early") {
		t.Fatalf("cut: chain %v err %q", d.Chain, d.Err)
	}

	// Text that happens to start like a zlib header stays text.
	for _, s := range []string{"x^2 + y^2 = z^2", "x\x9cabc not zlib", "\x1f\x8b\x08 not gzip at all"} {
		d := Decode([]byte(s))
		checkDecoded(t, d)
		if d.Chain[0] == "zlib" || d.Chain[0] == "gzip" {
			t.Errorf("Decode(%q) peeled: %v", s, d.Chain)
		}
	}
}

func TestDecodeLimits(t *testing.T) {
	// Many lines: MaxLines kept, then the count of the rest.
	many := strings.Repeat("line\n", MaxLines+500)
	d := Decode([]byte(many))
	checkDecoded(t, d)
	if len(d.Lines) != MaxLines+1 || d.Lines[MaxLines] != "… 501 more lines" {
		t.Fatalf("got %d lines, last %q", len(d.Lines), d.Lines[len(d.Lines)-1])
	}

	// A long line is cut at MaxLineBytes, never inside an escape.
	long := strings.Repeat("\x1b", MaxLineBytes)
	d = DecodeAs([]byte(long), ViewText)
	checkDecoded(t, d)
	if l := d.Lines[0]; !strings.HasSuffix(l, `\x1b…`) {
		t.Fatalf("long line ends %q", l[len(l)-12:])
	}

	// Input over MaxInput is cut, and Err says so.
	huge := bytes.Repeat([]byte("abcdefgh"), MaxInput/8+10)
	d = Decode(huge)
	checkDecoded(t, d)
	if !strings.Contains(d.Err, "only the first") {
		t.Fatalf("Err = %q", d.Err)
	}

	// Hex dumps count the rows they leave out.
	d = DecodeAs(make([]byte, 16*(MaxLines+3)+1), ViewHex)
	checkDecoded(t, d)
	if got := d.Lines[len(d.Lines)-1]; got != "… 4 more lines" {
		t.Fatalf("last hex line %q", got)
	}

	// JSON with more lines than kept, and deep nesting.
	var sb strings.Builder
	sb.WriteString("[")
	for i := range 5000 {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString("1")
	}
	sb.WriteString("]")
	d = Decode([]byte(sb.String()))
	checkDecoded(t, d)
	if got := d.Lines[len(d.Lines)-1]; got != "… 3002 more lines" {
		t.Fatalf("last json line %q", got)
	}
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	start := time.Now()
	d = Decode([]byte(deep))
	checkDecoded(t, d)
	if d.Kind != "json" || time.Since(start) > 2*time.Second {
		t.Fatalf("deep json: kind %q in %v", d.Kind, time.Since(start))
	}
}

func TestDecodeMsgpack(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		kind string
		want string
	}{
		{"empty array", []byte{0x90}, "msgpack", "[]"},
		{"nested", []byte{0x81, 0xa1, 'k', 0x92, 0xc0, 0xc2}, "msgpack", "{\n  \"k\": [\n    null,\n    false\n  ]\n}"},
		{"int key", []byte{0x81, 0x01, 0xa1, 'v'}, "msgpack", `  1: "v"`},
		{"container key", []byte{0x81, 0x92, 0x01, 0x02, 0xc3}, "msgpack", `  [1, 2]: true`},
		{"timestamp", []byte{0x91, 0xd6, 0xff, 0x00, 0x00, 0x00, 0x01}, "msgpack", "timestamp(1970-01-01T00:00:01Z)"},
		{"ext", []byte{0x91, 0xd4, 0x05, 0x41}, "msgpack", "ext(5, b'A')"},
		{"hostile string", []byte{0x91, 0xa4, 0x1b, '[', '2', 'J'}, "msgpack", `"\u001b[2J"`},
		{"uint64", []byte{0x91, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "msgpack", "18446744073709551615"},
		{"negative", []byte{0x91, 0xd0, 0x80}, "msgpack", "-128"},
		{"float32", []byte{0x91, 0xca, 0x3f, 0xc0, 0x00, 0x00}, "msgpack", "1.5"},
		{"truncated", []byte{0x92, 0x01}, "hex", ""},
		{"lying length", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}, "hex", ""},
		{"lying str length", []byte{0x91, 0xdb, 0xff, 0xff, 0xff, 0xff, 0x01}, "hex", ""},
		{"trailing", []byte{0x90, 0x90}, "hex", ""},
		{"reserved code", []byte{0x91, 0xc1}, "hex", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decode(tt.in)
			checkDecoded(t, d)
			if d.Kind != tt.kind {
				t.Fatalf("Kind = %q, want %q (%v)", d.Kind, tt.kind, d.Lines)
			}
			if text := strings.Join(d.Lines, "\n"); !strings.Contains(text, tt.want) {
				t.Fatalf("rendering lacks %q:\n%s", tt.want, text)
			}
		})
	}
	deep := append(bytes.Repeat([]byte{0x91}, 100000), 0x90)
	d := Decode(deep)
	checkDecoded(t, d)
	if d.Kind != "hex" {
		t.Fatalf("deep msgpack: %q", d.Kind)
	}
}
