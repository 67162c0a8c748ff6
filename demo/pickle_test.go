package demo

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Cases where CPython's pickle.dumps(expr, 4) must give the same bytes.
var pickleCases = []struct {
	name string
	v    any
	expr string
}{
	{"none", nil, "None"},
	{"empty list", []any{}, "[]"},
	{"empty dict", dict{}, "{}"},
	{"bools", []any{true, false}, "[True, False]"},
	{"ints", []any{0, 1, 255, 256, 65535, 65536, -1, math.MaxInt32, math.MinInt32,
		int64(math.MaxInt32) + 1, int64(math.MinInt32) - 1, int64(1) << 40, int64(math.MaxInt64), int64(math.MinInt64)},
		"[0, 1, 255, 256, 65535, 65536, -1, 2**31-1, -2**31, 2**31, -2**31-1, 2**40, 2**63-1, -2**63]"},
	{"floats", []any{1.5, -0.1, 1e300}, "[1.5, -0.1, 1e300]"},
	{"strings", []any{"", "é", strings.Repeat("x", 255), strings.Repeat("y", 256)},
		"['', 'é', 'x'*255, 'y'*256]"},
	{"one item", dict{{"k", []any{1}}}, "{'k': [1]}"},
	{"repeated string", dict{{"a", "x"}, {"b", "x"}}, "{'a': 'x', 'b': 'x'}"},
	{"session", dict{
		{"_auth_user_id", "42"},
		{"_auth_user_backend", "django.contrib.auth.backends.ModelBackend"},
		{"_auth_user_hash", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
	}, "{'_auth_user_id': '42', '_auth_user_backend': 'django.contrib.auth.backends.ModelBackend', " +
		"'_auth_user_hash': '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'}"},
	{"dates", []any{pyDate{2024, 1, 15}, pyDate{2023, 2, 1}},
		"[datetime.date(2024, 1, 15), datetime.date(2023, 2, 1)]"},
	{"decimal", pyDecimal("85000.00"), "decimal.Decimal('85000.00')"},
	{"nested", dict{{"rows", []any{dict{{"id", 1}, {"ok", true}}, dict{{"id", 2}, {"ok", nil}}}}},
		"{'rows': [{'id': 1, 'ok': True}, {'id': 2, 'ok': None}]}"},
	{"one-item batch", func() []any {
		l := make([]any, 1001)
		for i := range l {
			l[i] = i % 7
		}
		return l
	}(), "[i % 7 for i in range(1001)]"},
	{"big dict", func() dict {
		d := make(dict, 1001)
		for i := range d {
			d[i] = kv{"k" + strconv.Itoa(i), i}
		}
		return d
	}(), "{'k%d' % i: i for i in range(1001)}"},
}

// Pinned bytes from CPython 3.11, so the encoder is checked without python3.
func TestPickleGolden(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{nil, "\x80\x04N."},
		{[]any{}, "\x80\x04]\x94."},
		{dict{{"a", "x"}, {"b", "x"}}, "\x80\x04\x95\x13\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94\x8c\x01x\x94\x8c\x01b\x94h\x02u."},
		{[]any{pyDate{2024, 1, 15}, pyDate{2023, 2, 1}}, "\x80\x04\x951\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x08datetime\x94\x8c\x04date\x94\x93\x94" +
			"C\x04\x07\xe8\x01\x0f\x94\x85\x94R\x94h\x03C\x04\x07\xe7\x02\x01\x94\x85\x94R\x94e."},
		{pyDecimal("85000.00"), "\x80\x04\x95&\x00\x00\x00\x00\x00\x00\x00\x8c\x07decimal\x94\x8c\x07Decimal\x94\x93\x94\x8c\x0885000.00\x94\x85\x94R\x94."},
		{[]any{1, -1, 256, 65536, int64(-1) << 31, int64(1) << 31, int64(math.MinInt64)},
			"\x80\x04\x95*\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01J\xff\xff\xff\xffM\x00\x01J\x00\x00\x01\x00J\x00\x00\x00\x80" +
				"\x8a\x05\x00\x00\x00\x80\x00\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80e."},
	} {
		got, err := pickleDumps(tc.v)
		if err != nil {
			t.Fatalf("%#v: %v", tc.v, err)
		}
		if string(got) != tc.want {
			t.Errorf("%#v:\n got %q\nwant %q", tc.v, got, tc.want)
		}
	}
}

func TestPickleUnsupported(t *testing.T) {
	if _, err := pickleDumps([]any{1, struct{}{}}); err == nil {
		t.Fatal("want an error for a struct")
	}
}

func TestPickleMatchesPython(t *testing.T) {
	python := needPython(t)
	type pyCase struct {
		Hex  string `json:"hex"`
		Expr string `json:"expr"`
	}
	var in []pyCase
	for _, tc := range pickleCases {
		b, err := pickleDumps(tc.v)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		in = append(in, pyCase{hex.EncodeToString(b), tc.expr})
	}
	var out []struct {
		Got, Want string
		Same      bool
	}
	runPython(t, python, `
import datetime, decimal, json, pickle, sys
out = []
for c in json.load(sys.stdin):
    data = bytes.fromhex(c["hex"])
    want = eval(c["expr"])
    out.append({"Got": repr(pickle.loads(data)), "Want": repr(want),
                "Same": pickle.dumps(want, 4) == data})
print(json.dumps(out))
`, in, &out)
	for i, tc := range pickleCases {
		if out[i].Got != out[i].Want {
			t.Errorf("%s: python loads %s, want %s", tc.name, out[i].Got, out[i].Want)
		}
		if !out[i].Same {
			t.Errorf("%s: bytes differ from pickle.dumps(%s, 4)", tc.name, tc.expr)
		}
	}
}

// pyDecode decodes values as django-redis does (digits are ints, else
// zlib if it is zlib, then pickle) and returns their reprs.
func pyDecode(t *testing.T, python string, values [][]byte) []string {
	t.Helper()
	in := make([]string, len(values))
	for i, v := range values {
		in[i] = hex.EncodeToString(v)
	}
	var out []string
	runPython(t, python, `
import json, pickle, sys, zlib
out = []
for h in json.load(sys.stdin):
    b = bytes.fromhex(h)
    try:
        v = int(b)
    except ValueError:
        try:
            b = zlib.decompress(b)
        except zlib.error:
            pass
        v = pickle.loads(b)
    out.append(repr(v))
print(json.dumps(out))
`, in, &out)
	return out
}

func needPython(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: cannot check pickles against CPython")
	}
	return p
}

func runPython(t *testing.T, python, script string, in, out any) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), python, "-c", script)
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(res, out); err != nil {
		t.Fatalf("python3 output %q: %v", res, err)
	}
}
