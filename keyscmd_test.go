package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/conn"
	"redtop/internal/redisproc"
	"redtop/keys"
)

// keysServer starts a private server with DEBUG POPULATE allowed and
// returns it with a client for the test's own writes.
func keysServer(t testing.TB, args ...string) (*redisproc.Server, *redis.Client) {
	t.Helper()
	srv := redisproc.ForTest(t, redisproc.Options{Unix: true, Args: append([]string{"--enable-debug-command", "yes"}, args...)})
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Addr(), DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	return srv, c
}

var hostileNames = []string{
	"plain", "with space", "tab\there", "line\nbreak", "cr\rhere", "esc\x1b[31mred\x1b[0m", "\x1b]0;title\x07",
	"bin\x00zero", "bad\xffutf8", "\xc3\x28", "é-ok", "star*", "[bracket", `back\slash`, "q?mark", "\x7f", "\u009b31m",
	"", ":", "a:b:c",
}

func setKeys(t testing.TB, c *redis.Client, names []string) {
	t.Helper()
	ctx := context.Background()
	pipe := c.Pipeline()
	for _, k := range names {
		pipe.Set(ctx, k, "v", 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestKeysScanEscapesHostileNames(t *testing.T) {
	srv, c := keysServer(t)
	setKeys(t, c, hostileNames)
	if err := c.Do(context.Background(), "DEBUG", "POPULATE", 3000, "filler").Err(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runArgs(t, "-s", srv.Addr(), "keys", "scan", "*")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if strings.ContainsAny(out, "\x1b\x00\r\x07\x7f\t") || strings.Contains(out, "\u009b") || !utf8Valid(out) {
		t.Fatalf("raw control bytes reached the terminal")
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3000+len(hostileNames) {
		t.Fatalf("%d lines, want %d", len(lines), 3000+len(hostileNames))
	}
	var got []string
	for _, l := range lines {
		if strings.HasPrefix(l, "filler:") {
			continue
		}
		k, err := keys.Unescape(l)
		if err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if keys.Escape(k) != l {
			t.Fatalf("line %q is not Escape(%q)", l, k)
		}
		got = append(got, k)
	}
	want := slices.Clone(hostileNames)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("keys %q, want %q", got, want)
	}

	// --raw writes the exact bytes: the same names, newline-joined, in some order.
	code, out, _ = runArgs(t, "-s", srv.Addr(), "keys", "scan", "--raw", "[^f]*")
	if code != 0 {
		t.Fatalf("--raw exit %d", code)
	}
	pieces := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	var wantPieces []string
	for _, k := range hostileNames {
		if k != "" && k[0] != 'f' {
			wantPieces = append(wantPieces, strings.Split(k, "\n")...)
		}
	}
	slices.Sort(pieces)
	slices.Sort(wantPieces)
	if !slices.Equal(pieces, wantPieces) {
		t.Fatalf("--raw pieces %q, want %q", pieces, wantPieces)
	}

	// Glob metacharacters in a name are matched with a backslash.
	for pat, want := range map[string]string{`star\*`: "star*\n", `\[bracket`: "[bracket\n", `back\\slash`: `back\\slash` + "\n", "q[?]mark": "q?mark\n"} {
		if code, out, _ := runArgs(t, "-s", srv.Addr(), "keys", "scan", pat); code != 0 || out != want {
			t.Errorf("keys scan %q: exit %d, %q, want %q", pat, code, out, want)
		}
	}
	// --type filters.
	c.HSet(context.Background(), "h1", "f", "v")
	if code, out, _ := runArgs(t, "-s", srv.Addr(), "keys", "scan", "--type", "hash"); code != 0 || out != "h1\n" {
		t.Errorf("--type hash: exit %d, %q", code, out)
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestKeysBadInput(t *testing.T) {
	srv, c := keysServer(t)
	ctx := context.Background()
	c.Set(ctx, "a", "v", 0)
	c.Do(ctx, "ACL", "SETUSER", "limited", "on", ">pw-limited", "~*", "+@all", "-scan")
	s := srv.Addr()
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", []string{"keys"}, 2, "Usage:"},
		{"unknown command", []string{"keys", "frob"}, 2, `unknown command "frob"`},
		{"empty pattern", []string{"keys", "scan", ""}, 2, "bad pattern: empty pattern"},
		{"unterminated class", []string{"keys", "scan", "user:["}, 2, "unterminated ["},
		{"two patterns", []string{"keys", "scan", "a*", "b*"}, 2, "one pattern at most"},
		{"unknown type", []string{"keys", "scan", "--type", "hashes"}, 2, `--type: unknown type "hashes"`},
		{"bad count", []string{"keys", "scan", "--count", "0"}, 2, "--count must be at least 1"},
		{"unknown flag", []string{"keys", "scan", "--frob"}, 2, "unknown flag: --frob"},
		{"analyze bad pattern", []string{"keys", "analyze", "[a-]"}, 2, "ends the range"},
		{"analyze sample 0", []string{"keys", "analyze", "--sample", "0"}, 2, "--sample must be"},
		{"analyze sample 2", []string{"keys", "analyze", "--sample", "2"}, 2, "--sample must be"},
		{"analyze no delimiter", []string{"keys", "analyze", "--delimiter", ""}, 2, "--delimiter cannot be empty"},
		{"noperm", []string{"--user", "limited", "-a", "pw-limited", "keys", "scan"}, 1, "permission denied at limited@unix:" + s},
		{"noperm analyze", []string{"--user", "limited", "-a", "pw-limited", "keys", "analyze"}, 1, "permission denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runArgs(t, append([]string{"-s", s}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, errOut)
			}
			if out != "" {
				t.Fatalf("stdout %q", out)
			}
			errOut = strings.TrimPrefix(errOut, conn.PasswordWarning+"\n")
			if !strings.Contains(errOut, tc.want) {
				t.Fatalf("stderr %q lacks %q", errOut, tc.want)
			}
			if tc.code != 2 || tc.want != "Usage:" {
				if lines := strings.Count(errOut, "\n"); lines != 1 || !strings.HasPrefix(errOut, "redtop: ") {
					t.Fatalf("not one redtop: line: %q", errOut)
				}
			}
		})
	}
}

func TestKeysHelp(t *testing.T) {
	srv, _ := keysServer(t)
	for _, args := range [][]string{{"keys", "--help"}, {"keys", "scan", "--help"}, {"keys", "analyze", "-h"}} {
		code, out, errOut := runArgs(t, append([]string{"-s", srv.Addr()}, args...)...)
		if code != 0 || errOut != "" || !strings.Contains(out, "keys analyze [PATTERN]") || strings.Contains(out, "true|false") {
			t.Errorf("%q: exit %d, stderr %q, stdout %q", args, code, errOut, out)
		}
	}
	if _, out, _ := runArgs(t, "-s", srv.Addr(), "keys", "scan", "--help"); !strings.Contains(out, "--type string") {
		t.Errorf("keys scan --help lacks its flags:\n%s", out)
	}
}

// killingWriter kills the server at the first write: the scan is then
// half done.
type killingWriter struct {
	srv  *redisproc.Server
	once sync.Once
	buf  bytes.Buffer
}

func (w *killingWriter) Write(p []byte) (int, error) {
	w.once.Do(w.srv.Kill)
	return w.buf.Write(p)
}

func TestKeysServerGoneMidScan(t *testing.T) {
	srv, c := keysServer(t)
	if err := c.Do(context.Background(), "DEBUG", "POPULATE", 20000, "key").Err(); err != nil {
		t.Fatal(err)
	}
	w := &killingWriter{srv: srv}
	var errb bytes.Buffer
	start := time.Now()
	code := run([]string{"-s", srv.Addr(), "--timeout", "1s", "keys", "scan", "--count", "100"}, os.Stdin, w, &errb)
	errOut := errb.String()
	if code != 1 || !strings.HasPrefix(errOut, "redtop: keys scan: stopped after ") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.Contains(errOut, "is redis-server running there?") && !strings.Contains(errOut, "closed the connection") {
		t.Errorf("unclear error: %q", errOut)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("took %v", d)
	}
	if w.buf.Len() == 0 {
		t.Error("nothing written before the server died")
	}
}

func TestKeysServerGoneMidAnalyze(t *testing.T) {
	srv, c := keysServer(t)
	if err := c.Do(context.Background(), "DEBUG", "POPULATE", 100000, "key").Err(); err != nil {
		t.Fatal(err)
	}
	// COUNT 10: thousands of round trips, so the kill lands mid-scan.
	time.AfterFunc(150*time.Millisecond, srv.Kill)
	start := time.Now()
	code, out, errOut := runArgs(t, "-s", srv.Addr(), "--timeout", "1s", "keys", "analyze", "--count", "10")
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "redtop: keys analyze: ") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if !strings.Contains(errOut, "is redis-server running there?") && !strings.Contains(errOut, "closed the connection") {
		t.Errorf("unclear error: %q", errOut)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestKeysAnalyzeJSONAndTable(t *testing.T) {
	srv, c := keysServer(t)
	ctx := context.Background()
	pipe := c.Pipeline()
	for i := range 300 {
		pipe.Set(ctx, fmt.Sprintf("nalar:1:django.contrib.sessions.cache%032x", uint64(i)*0x9e3779b97f4a7c15), strings.Repeat("s", 500), time.Hour)
		pipe.HSet(ctx, fmt.Sprintf("nalar:1:employee:%d:profile", i), "name", "x", "email", "y")
	}
	pipe.Set(ctx, "nalar:1:settings", "x", 0)
	pipe.Set(ctx, "plain\x1bkey", strings.Repeat("p", 5000), 0)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runArgs(t, "-s", srv.Addr(), "keys", "analyze", "--json")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	byPrefix := map[string]map[string]any{}
	for _, r := range rows {
		for _, f := range []string{"prefix", "keys", "memory_bytes", "with_ttl", "largest_key", "largest_bytes"} {
			if _, ok := r[f]; !ok {
				t.Fatalf("row %v lacks %q", r, f)
			}
		}
		byPrefix[r["prefix"].(string)] = r
	}
	s := byPrefix["nalar:1:django.contrib.sessions.cache*"]
	if s == nil || s["keys"] != 300.0 || s["with_ttl"] != 300.0 || s["relative"] != "django.contrib.sessions.cache*" {
		t.Fatalf("sessions row %v (rows %v)", s, rows)
	}
	if e := byPrefix["nalar:1:employee:*:profile"]; e == nil || e["keys"] != 300.0 || e["with_ttl"] != 0.0 {
		t.Fatalf("employee row %v", e)
	}
	if p := byPrefix["plain\x1bkey"]; p == nil || p["largest_key"] != "plain\x1bkey" || p["largest_bytes"].(float64) < 5000 {
		t.Fatalf("plain row %v", p)
	}
	if rows[0]["prefix"] != "nalar:1:django.contrib.sessions.cache*" {
		t.Errorf("first row %v: not sorted by memory", rows[0])
	}

	// Sampled: estimates carry their errors.
	code, out, _ = runArgs(t, "-s", srv.Addr(), "keys", "analyze", "--json", "--sample", "0.3", "--count", "50")
	rows = nil
	if err := json.Unmarshal([]byte(out), &rows); code != 0 || err != nil {
		t.Fatalf("sampled: exit %d, %v", code, err)
	}
	for _, r := range rows {
		if r["prefix"] == "nalar:1:django.contrib.sessions.cache*" {
			if _, ok := r["keys_error"]; !ok {
				t.Errorf("sampled row without keys_error: %v", r)
			}
			if _, ok := r["sampled_keys"]; !ok {
				t.Errorf("sampled row without sampled_keys: %v", r)
			}
		}
	}

	code, out, _ = runArgs(t, "-s", srv.Addr(), "keys", "analyze", "nalar:*")
	if code != 0 {
		t.Fatalf("table: exit %d", code)
	}
	for _, want := range []string{"django-redis layout: prefixes are shown without nalar:1:", "PREFIX", "KEYS", "MEMORY",
		"django.contrib.sessions.cache*", "employee:*:profile", "100%", "total: 601 keys"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "plain") {
		t.Errorf("pattern nalar:* let other keys in:\n%s", out)
	}
	code, out, _ = runArgs(t, "-s", srv.Addr(), "keys", "analyze", "--top", "1")
	if code != 0 || !strings.Contains(out, "… 3 more prefixes") || strings.Contains(out, "\x1b") {
		t.Errorf("--top 1: exit %d\n%s", code, out)
	}
}

// TestKeysCommandsBookTheirCalls runs the subcommands through App, as
// main does, and checks the ledger got the SCAN and MEMORY USAGE calls.
func TestKeysCommandsBookTheirCalls(t *testing.T) {
	srv, c := keysServer(t)
	ctx := context.Background()
	if err := c.Do(ctx, "DEBUG", "POPULATE", 2500, "key").Err(); err != nil {
		t.Fatal(err)
	}
	c.Expire(ctx, "key:7", time.Hour) // some keys expire, some not: PTTL for each
	target := conn.Target{Network: "unix", Addr: srv.Addr(), Timeout: 2 * time.Second}
	app, err := connect(ctx, target, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if code := runKeys(ctx, app, []string{"scan", "key:1*"}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("scan exit %d", code)
	}
	own := app.Ledger.Get(srv.Addr())
	if own.Calls["scan"] < 3 || own.Calls["dbsize"] != 1 || own.Hits+own.Misses != 0 {
		t.Fatalf("after scan: %+v", own)
	}
	if code := runKeys(ctx, app, []string{"analyze"}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("analyze exit %d", code)
	}
	own = app.Ledger.Get(srv.Addr())
	if own.Calls["memory|usage"] != 2500 || own.Calls["pttl"] != 2500 || own.Hits != 2500 || own.NetIn == 0 || own.NetOut == 0 {
		t.Fatalf("after analyze: %+v", own)
	}
}

// lineCounter counts the lines written to it.
type lineCounter struct{ n int64 }

func (w *lineCounter) Write(p []byte) (int, error) {
	w.n += int64(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

// TestMeasureKeys compares redtop with redis-cli, with redis-cli's
// defaults as operators run it, on 1M keys (600k key:*, 400k other:*),
// over a unix socket and over TCP loopback, and checks a 5% sample
// against the full analysis. Each figure is the best of a few runs,
// redtop's and redis-cli's interleaved (the machine may be shared).
// Prints, never asserts:
//
//	REDTOP_MEASURE=1 go test -run MeasureKeys -v -count=1 .
func TestMeasureKeys(t *testing.T) {
	needMeasure(t)
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("no redis-cli")
	}
	measureKeys(t, cli, "unix socket", 1, 3)
	measureKeys(t, cli, "TCP loopback", 1, 3)
	// A server across a network: a proxy delays each chunk each way (by
	// about a millisecond: sleeps are coarse on a busy host; the round trip
	// is measured and printed), on 5% of the keyspace so redis-cli's round
	// trips stay bounded.
	measureKeys(t, cli, "proxy", 0.05, 1)
}

func measureKeys(t *testing.T, cli, where string, scale float64, runs int) {
	srv := redisproc.ForTest(t, redisproc.Options{Unix: where != "TCP loopback", Args: []string{"--enable-debug-command", "yes"}})
	c := redis.NewClient(&redis.Options{Network: srv.Network(), Addr: srv.Addr(), DisableIdentity: true})
	defer c.Close()
	defer srv.Stop()
	ctx := context.Background()
	total := int(1e6 * scale)
	c.Do(ctx, "DEBUG", "POPULATE", total*6/10, "key")
	c.Do(ctx, "DEBUG", "POPULATE", total*4/10, "other")
	info, _ := c.Info(ctx, "memory").Result()
	used, _, _ := strings.Cut(info[strings.Index(info, "used_memory_human:")+len("used_memory_human:"):], "\r\n")
	redtopConn, cliConn := []string{"-s", srv.Addr()}, []string{"-s", srv.Addr()}
	switch where {
	case "TCP loopback":
		port := strconv.Itoa(srv.Port)
		redtopConn, cliConn = []string{"-p", port}, []string{"-p", port}
	case "proxy":
		addr := delayProxy(t, srv.Addr(), 100*time.Microsecond)
		_, port, _ := net.SplitHostPort(addr)
		redtopConn, cliConn = []string{"-p", port}, []string{"-p", port}
		pc := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
		pc.Ping(ctx)
		start := time.Now()
		for range 200 {
			pc.Ping(ctx)
		}
		where = fmt.Sprintf("%.1fms RTT", float64(time.Since(start).Microseconds())/200/1000)
		pc.Close()
	}
	fmt.Printf("MEASURE %s: %d keys, %s\n", where, c.DBSize(ctx).Val(), used)
	serverCPU := func() float64 {
		s, _ := c.Info(ctx, "cpu").Result()
		var sum float64
		for _, line := range strings.Split(s, "\r\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
				f, _ := strconv.ParseFloat(v, 64)
				sum += f
			}
		}
		return sum
	}

	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	type result struct {
		best time.Duration
		cpu  float64 // server CPU seconds in the best run
	}
	best := func(runs int, fn func() error) result {
		var r result
		for range runs {
			cpu0 := serverCPU()
			start := time.Now()
			if err := fn(); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); r.best == 0 || d < r.best {
				r.best, r.cpu = d, serverCPU()-cpu0
			}
		}
		return r
	}
	redtop := func(stdout io.Writer, args ...string) func() error {
		return func() error {
			var errb bytes.Buffer
			if code := run(append(slices.Clone(redtopConn), args...), os.Stdin, stdout, &errb); code != 0 {
				return fmt.Errorf("redtop %q: exit %d: %s", args, code, errb.String())
			}
			return nil
		}
	}
	redisCLI := func(stdout io.Writer, args ...string) func() error {
		return func() error {
			cmd := exec.Command(cli, append(slices.Clone(cliConn), args...)...)
			cmd.Stdout = stdout
			return cmd.Run()
		}
	}
	ratio := func(ours, theirs result) string {
		n := float64(total)
		return fmt.Sprintf("redtop %v (%.0f keys/s, server CPU %.2fs) vs redis-cli %v (%.0f keys/s, server CPU %.2fs): %.1fx",
			ours.best.Round(time.Millisecond), n/ours.best.Seconds(), ours.cpu,
			theirs.best.Round(time.Millisecond), n/theirs.best.Seconds(), theirs.cpu, theirs.best.Seconds()/ours.best.Seconds())
	}

	// keys scan 'other:*': 400k of 1M keys, output to /dev/null.
	var lines, cliLines lineCounter
	redtop(&lines, "keys", "scan", "other:*")()
	if runs > 1 {
		redisCLI(&cliLines, "--scan", "--pattern", "other:*")()
	}
	var ours, theirs result
	for range runs {
		o, th := best(1, redtop(devnull, "keys", "scan", "other:*")), best(1, redisCLI(devnull, "--scan", "--pattern", "other:*"))
		if ours.best == 0 || o.best < ours.best {
			ours = o
		}
		if theirs.best == 0 || th.best < theirs.best {
			theirs = th
		}
	}
	fmt.Printf("MEASURE %s keys scan 'other:*' (%d and %d lines, of %d keys): %s\n", where, lines.n, cliLines.n, total, ratio(ours, theirs))

	// keys analyze (every key: MEMORY USAGE and PTTL) vs redis-cli --memkeys
	// (SCAN COUNT 10, TYPE and MEMORY USAGE per key).
	var full bytes.Buffer
	redtop(&full, "keys", "analyze", "--json")()
	ours = best(runs, redtop(io.Discard, "keys", "analyze", "--json"))
	theirs = best(max(1, runs-1), redisCLI(io.Discard, "--memkeys"))
	fmt.Printf("MEASURE %s keys analyze vs --memkeys (no key expires: PTTL skipped): %s\n", where, ratio(ours, theirs))
	// 1% of the keys with a TTL: PTTL goes out for every key.
	pipe := c.Pipeline()
	for i := 0; i < total/100; i++ {
		pipe.Expire(ctx, "key:"+strconv.Itoa(i), time.Hour)
	}
	pipe.Exec(ctx)
	ours = best(runs, redtop(io.Discard, "keys", "analyze", "--json"))
	fmt.Printf("MEASURE %s keys analyze vs --memkeys (1%% of keys expire: PTTL sent): %s\n", where, ratio(ours, theirs))

	// --sample 0.05 against the full analysis.
	var sampled bytes.Buffer
	start := time.Now()
	redtop(&sampled, "keys", "analyze", "--json", "--sample", "0.05")()
	d := time.Since(start)
	var fullRows, sampleRows []keys.PrefixStat
	json.Unmarshal(full.Bytes(), &fullRows)
	json.Unmarshal(sampled.Bytes(), &sampleRows)
	for _, f := range fullRows {
		for _, s := range sampleRows {
			if s.Prefix != f.Prefix {
				continue
			}
			fmt.Printf("MEASURE %s --sample 0.05 (%v) %s: keys %d ±%.0f vs %d (%+.2f%%), memory %d ±%.0f vs %d (%+.2f%%)\n",
				where, d.Round(time.Millisecond), f.Prefix, s.Keys, s.KeysError, f.Keys, 100*float64(s.Keys-f.Keys)/float64(f.Keys),
				s.MemoryBytes, s.MemoryError, f.MemoryBytes, 100*float64(s.MemoryBytes-f.MemoryBytes)/float64(f.MemoryBytes))
		}
	}
}

// delayProxy forwards TCP connections to a unix socket, sleeping before
// passing on each chunk read: a network's latency on loopback.
func delayProxy(t *testing.T, socket string, delay time.Duration) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	pipe := func(dst, src net.Conn) {
		defer dst.Close()
		defer src.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				time.Sleep(delay)
				if _, err := dst.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("unix", socket)
			if err != nil {
				in.Close()
				continue
			}
			go pipe(out, in)
			go pipe(in, out)
		}
	}()
	return l.Addr().String()
}
