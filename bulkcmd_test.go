package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/conn"
	"redtop/internal/redisproc"
	"redtop/keys"
)

// bulkServer starts a server with DEBUG allowed and a client for the
// test's own reads and writes.
func bulkServer(t testing.TB, args ...string) (*redisproc.Server, *redis.Client) {
	t.Helper()
	srv := redisproc.ForTest(t, redisproc.Options{Unix: true, Args: append([]string{"--enable-debug-command", "yes"}, args...)})
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Addr(), DisableIdentity: true, ReadTimeout: 30 * time.Second})
	t.Cleanup(func() { c.Close() })
	return srv, c
}

// bulkApp wires an App to a target as main does.
func bulkApp(t testing.TB, target conn.Target) *App {
	t.Helper()
	if target.Timeout == 0 {
		target.Timeout = 2 * time.Second
	}
	app, err := connect(context.Background(), target, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return app
}

func unixTarget(srv *redisproc.Server) conn.Target {
	return conn.Target{Network: "unix", Addr: srv.Addr()}
}

type bulkRun struct {
	code           int
	stdout, stderr string
}

func runBulkArgs(t testing.TB, app *App, op keys.Op, env bulkEnv, args ...string) bulkRun {
	t.Helper()
	var out, errb bytes.Buffer
	if env.stdin == nil {
		env.stdin = strings.NewReader("")
	}
	code := runBulk(context.Background(), app, op, args, env, &out, &errb)
	return bulkRun{code, out.String(), errb.String()}
}

func digest(t testing.TB, c *redis.Client) string {
	t.Helper()
	d, err := c.Do(context.Background(), "DEBUG", "DIGEST").Text()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func populateKeys(t testing.TB, c *redis.Client, n int, prefix string) {
	t.Helper()
	if err := c.Do(context.Background(), "DEBUG", "POPULATE", n, prefix).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestKeysDeleteCommand(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	ctx := context.Background()
	srv, c := bulkServer(t)
	populateKeys(t, c, 20_000, "key")
	populateKeys(t, c, 30_000, "other")
	c.Set(ctx, "key-1", "decoy", 0)
	c.Set(ctx, "key:ttl", "v", 30*time.Minute)
	app := bulkApp(t, unixTarget(srv))
	before := digest(t, c)

	// --dry-run: a preview, nothing changed.
	r := runBulkArgs(t, app, keys.OpDelete, bulkEnv{}, "key:*", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "delete: key:* matches 20,001 of 50,002 keys in db 0 (40.0%") ||
		!strings.Contains(r.stdout, "backup: on") || !strings.Contains(r.stdout, "sample: key:") {
		t.Fatalf("dry run: %+v", r)
	}
	// Not a terminal, no --yes: refused.
	r = runBulkArgs(t, app, keys.OpDelete, bulkEnv{}, "key:*")
	if r.code != 2 || !strings.Contains(r.stderr, "refusing to delete 20,001 keys without confirmation: stdin is not a terminal (pass --yes") {
		t.Fatalf("without --yes: %+v", r)
	}
	// A terminal, the wrong answer: refused.
	r = runBulkArgs(t, app, keys.OpDelete, bulkEnv{stdinTTY: true, stdin: strings.NewReader("key*\n")}, "key:*")
	if r.code != 2 || !strings.Contains(r.stderr, "Type the pattern (key:*) or the number of keys (20001)") || !strings.Contains(r.stderr, "not confirmed") {
		t.Fatalf("wrong confirmation: %+v", r)
	}
	if digest(t, c) != before {
		t.Fatal("the keyspace changed before any confirmation")
	}
	// A terminal, the pattern typed: deleted, with a backup.
	r = runBulkArgs(t, app, keys.OpDelete, bulkEnv{stdinTTY: true, stdin: strings.NewReader("key:*\n")}, "key:*")
	if r.code != 0 || !strings.Contains(r.stdout, "deleted 20,001 keys matching key:*") || !strings.Contains(r.stdout, "undo with: redtop restore ") {
		t.Fatalf("confirmed: %+v", r)
	}
	if n := c.DBSize(ctx).Val(); n != 30_001 || c.Exists(ctx, "key-1").Val() != 1 {
		t.Fatalf("dbsize %d after the delete", n)
	}
	journals, _ := filepath.Glob(filepath.Join(state, "redtop", "*.journal.jsonl"))
	backups, _ := filepath.Glob(filepath.Join(state, "redtop", "*.backup.jsonl"))
	if len(journals) != 1 || len(backups) != 1 {
		t.Fatalf("journals %v backups %v", journals, backups)
	}

	// restore --dry-run, restore, restore again.
	var out, errb bytes.Buffer
	if code := restoreCmd(ctx, app, []string{backups[0], "--dry-run"}, bulkEnv{}, &out, &errb); code != 0 || !strings.Contains(out.String(), "would restore 20,001 of 20,001 keys") {
		t.Fatalf("restore --dry-run: %d %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := restoreCmd(ctx, app, []string{backups[0]}, bulkEnv{}, &out, &errb); code != 0 || !strings.Contains(out.String(), "restored 20,001 of 20,001 keys") {
		t.Fatalf("restore: %d %q %q", code, out.String(), errb.String())
	}
	if digest(t, c) != before {
		t.Fatal("the restore did not give back the keyspace")
	}
	out.Reset()
	if code := restoreCmd(ctx, app, []string{backups[0], "--json"}, bulkEnv{}, &out, &errb); code != 0 {
		t.Fatalf("restore again: %d %q", code, errb.String())
	}
	var rr keys.RestoreReport
	if err := json.Unmarshal(out.Bytes(), &rr); err != nil || rr.Existing != 20_001 || rr.Restored != 0 {
		t.Fatalf("restore again --json: %v %+v", err, rr)
	}

	// --yes --json --no-backup, a pattern matching everything.
	r = runBulkArgs(t, app, keys.OpDelete, bulkEnv{}, "*", "--yes", "--json", "--no-backup")
	var got struct {
		Preview keys.PreviewResult `json:"preview"`
		Report  keys.BulkReport    `json:"report"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
		t.Fatalf("--json: %v %+v", err, r)
	}
	if !got.Preview.MatchesEverything || !got.Preview.OverHalf || got.Report.Applied != 50_002 || got.Report.Backup != "" ||
		!strings.Contains(r.stderr, "WARNING: the pattern matches every key in db 0") {
		t.Fatalf("--json: %+v", got)
	}
}

func TestKeysExpireAndPersistCommands(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	ctx := context.Background()
	srv, c := bulkServer(t)
	populateKeys(t, c, 3000, "s")
	app := bulkApp(t, unixTarget(srv))
	before := digest(t, c)
	for _, tt := range []struct {
		op   keys.Op
		args []string
		has  string
	}{
		{keys.OpExpire, []string{"s:*", "0"}, "bad TTL"},
		{keys.OpExpire, []string{"--", "s:*", "-5m"}, "must be more than zero"},
		{keys.OpExpire, []string{"s:*", "1M"}, "bad TTL"},
		{keys.OpExpire, []string{"s:*"}, "want PATTERN TTL"},
		{keys.OpDelete, []string{""}, "empty pattern"},
		{keys.OpDelete, []string{"s:[", "--yes"}, "unterminated ["},
		{keys.OpPersist, []string{"s:*", "--backup", "x"}, "go with delete"},
		{keys.OpDelete, []string{"s:*", "--backup", "x", "--no-backup"}, "contradict"},
	} {
		r := runBulkArgs(t, app, tt.op, bulkEnv{}, tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.has) || strings.Count(r.stderr, "\n") != 1 {
			t.Fatalf("%s %q: %+v, want %q", tt.op, tt.args, r, tt.has)
		}
	}
	if digest(t, c) != before {
		t.Fatal("a refused command changed the keyspace")
	}
	r := runBulkArgs(t, app, keys.OpExpire, bulkEnv{}, "s:*", "2h", "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "each will expire in 2h") || !strings.Contains(r.stdout, "expired 3,000 keys") {
		t.Fatalf("expire: %+v", r)
	}
	if d := c.TTL(ctx, "s:42").Val(); d < 119*time.Minute || d > 2*time.Hour {
		t.Fatalf("TTL %v", d)
	}
	r = runBulkArgs(t, app, keys.OpPersist, bulkEnv{}, "s:1*", "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "persisted 1,111 keys") {
		t.Fatalf("persist: %+v", r)
	}
	if c.TTL(ctx, "s:1").Val() != -1 || c.TTL(ctx, "s:2").Val() <= 0 {
		t.Fatal("persist touched the wrong keys")
	}
}

func TestBulkCommandRefusals(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	ctx := context.Background()
	srv, c := bulkServer(t)
	populateKeys(t, c, 100, "k")
	c.Do(ctx, "ACL", "SETUSER", "nounlink", "on", ">pw", "~*", "+@read", "+info", "+ping", "+pexpire", "+acl|dryrun", "+client|setname")
	replica, _ := bulkServer(t, "--replicaof", "127.0.0.1", "1")
	before := digest(t, c)

	ro := bulkApp(t, unixTarget(srv))
	ro.Browse.readOnly = true
	user := bulkApp(t, conn.Target{Network: "unix", Addr: srv.Addr(), User: "nounlink", Password: "pw"})
	for _, tt := range []struct {
		name string
		app  *App
		has  string
	}{
		{"replica", bulkApp(t, unixTarget(replica)), "read-only: nothing sent: connected to a replica"},
		{"--readonly", ro, "redtop runs with --readonly"},
		{"no +unlink", user, "permission denied: nothing sent: user nounlink lacks +unlink"},
	} {
		r := runBulkArgs(t, tt.app, keys.OpDelete, bulkEnv{}, "k:*", "--yes")
		if r.code != 1 || !strings.Contains(r.stderr, tt.has) || r.stdout != "" {
			t.Fatalf("%s: %+v", tt.name, r)
		}
	}
	// --dry-run on a replica previews and says a run would be refused.
	r := runBulkArgs(t, bulkApp(t, unixTarget(replica)), keys.OpDelete, bulkEnv{}, "k:*", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "a real run would be refused") {
		t.Fatalf("dry run on a replica: %+v", r)
	}
	if digest(t, c) != before {
		t.Fatal("the keyspace changed")
	}
}

// connCutProxy relays TCP to a unix socket; a connection that sends the
// n-th UNLINK, or a later one, has it forwarded and is then cut, so its
// reply never comes. Other connections (the reader's) go on. It returns
// its address and the count of UNLINKs forwarded.
func connCutProxy(t *testing.T, socket string, n int64) (string, *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	var seen atomic.Int64
	go func() {
		for {
			cc, err := ln.Accept()
			if err != nil {
				return
			}
			sc, err := net.Dial("unix", socket)
			if err != nil {
				cc.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, cc, sc)
			mu.Unlock()
			var cut atomic.Bool
			go func() {
				buf := make([]byte, 64<<10)
				for {
					k, err := sc.Read(buf)
					if k > 0 && !cut.Load() {
						cc.Write(buf[:k])
					}
					if err != nil {
						cc.Close()
						return
					}
				}
			}()
			go func() {
				buf := make([]byte, 256<<10)
				for {
					k, err := cc.Read(buf)
					if k > 0 {
						sc.Write(buf[:k])
						if c := int64(bytes.Count(buf[:k], []byte("UNLINK"))); c > 0 && seen.Add(c) >= n {
							cut.Store(true)
							cc.Close()
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), &seen
}

// TestBulkCommandInterrupted: a cut connection ends in exit 1 with the
// unknown keys said; one ctrl+c stops after the batch in flight (130), a
// second aborts (1).
func TestBulkCommandInterrupted(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	ctx := context.Background()

	t.Run("connection cut", func(t *testing.T) {
		srv, c := bulkServer(t)
		populateKeys(t, c, 50_000, "key")
		addr, sent := connCutProxy(t, srv.Addr(), 20)
		app := bulkApp(t, conn.Target{Network: "tcp", Addr: addr})
		r := runBulkArgs(t, app, keys.OpDelete, bulkEnv{}, "key:*", "--yes", "--no-backup")
		// The cut batch's lane stops the run; the other lane's batch in
		// flight ends too, cut as well when it was sent after the 20th.
		m := regexp.MustCompile(`([\d,]+) keys ended unknown`).FindStringSubmatch(r.stdout)
		if r.code != 1 || m == nil || m[1] != "500" && m[1] != "1,000" || !strings.Contains(r.stdout, "stopped early (connection lost") {
			t.Fatalf("%+v", r)
		}
		left := c.DBSize(ctx).Val()
		if n := sent.Load(); n < 20 || n > 21 || left != 50_000-n*500 { // the cut batches did run: the proxy forwarded them
			t.Fatalf("%d keys left after %d UNLINKs", left, n)
		}
	})

	for _, presses := range []int{1, 2} {
		t.Run("ctrl+c x"+strconv.Itoa(presses), func(t *testing.T) {
			srv, c := bulkServer(t)
			populateKeys(t, c, 50_000, "key")
			app := bulkApp(t, unixTarget(srv))
			sigs := make(chan os.Signal, 2)
			// Pressed once keys are going (--rate keeps the run going long
			// enough).
			go func() {
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
					if c.DBSize(ctx).Val() < 45_000 {
						break
					}
				}
				for i := 0; i < presses; i++ {
					sigs <- os.Interrupt
				}
			}()
			r := runBulkArgs(t, app, keys.OpDelete, bulkEnv{signals: sigs}, "key:*", "--yes", "--rate", "20000", "--json")
			var got struct{ Report keys.BulkReport }
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("%v: %+v", err, r)
			}
			rep := got.Report
			want := map[int]int{1: 130, 2: 1}[presses]
			stopped := map[int]string{1: "cancelled", 2: "aborted"}[presses]
			if presses == 2 && rep.Stopped == "cancelled" {
				// The first press found no batch in flight (the run was
				// pacing) and the run had already ended gently when the
				// second came: nothing was left to abort. Abort itself is
				// tested deterministically in keys (TestBulkInterrupted).
				want, stopped = 130, "cancelled"
			}
			if r.code != want || rep.Stopped != stopped || rep.Applied == 0 || rep.Applied >= 50_000 {
				t.Fatalf("exit %d, report %+v, stderr %q", r.code, rep, r.stderr)
			}
			if left := c.DBSize(ctx).Val(); left != 50_000-rep.Applied-rep.AlreadyGone && (rep.Unknown == 0 || left < 50_000-rep.Applied-rep.Unknown) {
				t.Fatalf("%d keys left, report %+v", left, rep)
			}
		})
	}
}

// TestMeasureBulk compares `keys delete` and `keys expire` with the
// redis-cli pipelines operators use, on 1M keys of which 400k match, both
// over a unix socket; then paced mode's latency, and the cost of a backup.
func TestMeasureBulk(t *testing.T) {
	needMeasure(t)
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("no redis-cli")
	}
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	ctx := context.Background()
	const total, match = 1_000_000, 400_000
	fresh := func(t *testing.T) (*redisproc.Server, *redis.Client) {
		srv, c := bulkServer(t)
		populateKeys(t, c, match, "key")
		populateKeys(t, c, total-match, "other")
		return srv, c
	}
	shell := func(t *testing.T, script string) time.Duration {
		start := time.Now()
		out, err := exec.Command("sh", "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
		return time.Since(start)
	}
	rate := func(d time.Duration) float64 { return match / d.Seconds() }

	type figures struct{ total, preview, run time.Duration }
	median := func(xs []time.Duration) time.Duration {
		slices.Sort(xs)
		return xs[len(xs)/2]
	}
	ours := func(t *testing.T, op keys.Op, args ...string) figures {
		srv, _ := fresh(t)
		app := bulkApp(t, unixTarget(srv))
		start := time.Now()
		r := runBulkArgs(t, app, op, bulkEnv{}, args...)
		el := time.Since(start)
		var got struct {
			Preview keys.PreviewResult
			Report  keys.BulkReport
		}
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 || got.Report.Applied != match {
			t.Fatalf("%v %+v", err, r)
		}
		srv.Stop()
		return figures{el, got.Preview.Elapsed, got.Report.Elapsed}
	}
	const rounds = 3
	for _, tt := range []struct {
		op       keys.Op
		baseline string
		args     []string
	}{
		{keys.OpDelete, "redis-cli --scan --pattern P | xargs -n 1000 redis-cli unlink",
			[]string{"key:*", "--yes", "--no-backup", "--json"}},
		{keys.OpExpire, "redis-cli --scan --pattern P | awk '{print \"EXPIRE \"$0\" 3600\"}' | redis-cli --pipe",
			[]string{"key:*", "1h", "--yes", "--json"}},
	} {
		var base, tot, preview, run []time.Duration
		for i := 0; i < rounds; i++ {
			srv, c := fresh(t)
			sock := " -s " + srv.Addr()
			script := cli + sock + " --scan --pattern 'key:*' | xargs -n 1000 " + cli + sock + " unlink > /dev/null"
			if tt.op == keys.OpExpire {
				script = cli + sock + " --scan --pattern 'key:*' | awk '{print \"EXPIRE \"$0\" 3600\"}' | " + cli + sock + " --pipe > /dev/null"
			}
			base = append(base, shell(t, script))
			if tt.op == keys.OpDelete && c.DBSize(ctx).Val() != total-match || tt.op == keys.OpExpire && c.TTL(ctx, "key:7").Val() <= 0 {
				t.Fatal("the baseline did not do its job")
			}
			srv.Stop()
			f := ours(t, tt.op, tt.args...)
			tot, preview, run = append(tot, f.total), append(preview, f.preview), append(run, f.run)
		}
		b, o, r := median(base), median(tot), median(run)
		t.Logf("%s 400k of 1M, median of %d: %s: %v (%.0f keys/s); redtop keys %s --yes: %v (%.0f keys/s, %.2fx) = preview %v + run %v (run alone %.0f keys/s, %.2fx); all: base %v ours %v",
			tt.op, rounds, tt.baseline, b.Round(time.Millisecond), rate(b), tt.op, o.Round(time.Millisecond), rate(o), b.Seconds()/o.Seconds(),
			median(preview).Round(time.Millisecond), r.Round(time.Millisecond), rate(r), b.Seconds()/r.Seconds(), base, tot)
	}

	var got struct {
		Preview keys.PreviewResult
		Report  keys.BulkReport
	}
	// Latency seen by other clients during a run, unpaced, --auto, and
	// --auto --rate: redis-cli --latency-history (a PING every 10 ms,
	// whole milliseconds) and a Go PING loop (a PING every millisecond).
	for _, mode := range [][]string{nil, {"--auto"}, {"--auto", "--rate", "200000"}} {
		srv, _ := fresh(t)
		app := bulkApp(t, unixTarget(srv))
		// redis-cli --latency, when its output is not a terminal, samples
		// for about a second and prints "min max avg samples": run it
		// again and again for the length of the run.
		var cliLines []string
		cliDone := make(chan struct{})
		cliStop := make(chan struct{})
		go func() {
			defer close(cliDone)
			for {
				select {
				case <-cliStop:
					return
				default:
				}
				out, err := exec.Command(cli, "-s", srv.Addr(), "--latency").Output()
				if err == nil {
					cliLines = append(cliLines, strings.TrimSpace(string(out)))
				}
			}
		}()
		stop := make(chan struct{})
		var maxLat, sum time.Duration
		var n int
		done := make(chan struct{})
		go func() {
			defer close(done)
			p := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Addr(), DisableIdentity: true})
			defer p.Close()
			p.Ping(ctx)
			for {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				p.Ping(ctx)
				d := time.Since(t0)
				maxLat = max(maxLat, d)
				sum += d
				n++
				time.Sleep(time.Millisecond)
			}
		}()
		time.Sleep(200 * time.Millisecond)
		r := runBulkArgs(t, app, keys.OpDelete, bulkEnv{}, append([]string{"key:*", "--yes", "--no-backup", "--json"}, mode...)...)
		close(stop)
		close(cliStop)
		<-done
		<-cliDone
		json.Unmarshal([]byte(r.stdout), &got)
		t.Logf("delete %v: run %v (%.0f keys/s); redis-cli --latency, one line a second (min max avg samples, ms): %q; Go PING loop: max %v, mean %v over %d",
			mode, got.Report.Elapsed.Round(time.Millisecond), got.Report.KeysPerSec, cliLines, maxLat.Round(10*time.Microsecond),
			(sum / time.Duration(max(n, 1))).Round(time.Microsecond), n)
	}

	// delete with backup
	measureBackup(t, 1, fresh)
}

// TestMeasureBulkBackup is the delete-with-backup part of TestMeasureBulk
// alone, over three fresh servers:
//
//	REDTOP_MEASURE=1 go test -run MeasureBulkBackup -v -count=1 .
func TestMeasureBulkBackup(t *testing.T) {
	needMeasure(t)
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	measureBackup(t, 3, func(t *testing.T) (*redisproc.Server, *redis.Client) {
		srv, c := bulkServer(t)
		populateKeys(t, c, 400_000, "key")
		populateKeys(t, c, 600_000, "other")
		return srv, c
	})
}

// measureBackup runs `keys delete key:* --yes --backup FILE` on rounds
// fresh servers of 1M keys of which 400k match, over a unix socket, and
// logs each run's keys a second, the median, the backup's bytes a key,
// then the time a restore of the last backup takes.
func measureBackup(t *testing.T, rounds int, fresh func(*testing.T) (*redisproc.Server, *redis.Client)) {
	const match = 400_000
	ctx := context.Background()
	var rates []float64
	var app *App
	var backup string
	for i := 0; i < rounds; i++ {
		srv, _ := fresh(t)
		app = bulkApp(t, unixTarget(srv))
		backup = filepath.Join(t.TempDir(), "b.jsonl")
		start := time.Now()
		r := runBulkArgs(t, app, keys.OpDelete, bulkEnv{}, "key:*", "--yes", "--backup", backup, "--json")
		el := time.Since(start)
		var got struct {
			Preview keys.PreviewResult
			Report  keys.BulkReport
		}
		json.Unmarshal([]byte(r.stdout), &got)
		if r.code != 0 || got.Report.BackupKeys != match {
			t.Fatalf("%+v", r)
		}
		rates = append(rates, got.Report.KeysPerSec)
		t.Logf("delete with backup: %v (%.0f keys/s) = preview %v + run %v (%.0f keys/s); backup %d bytes, %.0f bytes a key",
			el.Round(time.Millisecond), match/el.Seconds(), got.Preview.Elapsed.Round(time.Millisecond), got.Report.Elapsed.Round(time.Millisecond),
			got.Report.KeysPerSec, got.Report.BackupBytes, float64(got.Report.BackupBytes)/match)
		if i < rounds-1 {
			srv.Stop()
		}
	}
	slices.Sort(rates)
	t.Logf("delete with backup, run alone: median %.0f keys/s over %d runs (%.0f)", rates[len(rates)/2], len(rates), rates)
	start := time.Now()
	var out, errb bytes.Buffer
	if code := restoreCmd(ctx, app, []string{backup}, bulkEnv{}, &out, &errb); code != 0 {
		t.Fatalf("restore: %s", errb.String())
	}
	t.Logf("restore: %v (%.0f keys/s)", time.Since(start).Round(time.Millisecond), match/time.Since(start).Seconds())
}

func runRestoreArgs(t testing.TB, app *App, env bulkEnv, args ...string) bulkRun {
	t.Helper()
	var out, errb bytes.Buffer
	if env.stdin == nil {
		env.stdin = strings.NewReader("")
	}
	code := restoreCmd(context.Background(), app, args, env, &out, &errb)
	return bulkRun{code, out.String(), errb.String()}
}

// TestRestoreCommandReplaceAndUndo: restore --replace asks for the number
// of keys in the backup; a restore writes a journal; restore JOURNAL
// undoes an expire.
func TestRestoreCommandReplaceAndUndo(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	ctx := context.Background()
	srv, c := bulkServer(t)
	populateKeys(t, c, 300, "r")
	app := bulkApp(t, unixTarget(srv))
	r := runBulkArgs(t, app, keys.OpDelete, bulkEnv{}, "r:*", "--yes")
	if r.code != 0 {
		t.Fatalf("delete: %+v", r)
	}
	backups, _ := filepath.Glob(filepath.Join(state, "redtop", "*.backup.jsonl"))
	if len(backups) != 1 {
		t.Fatalf("backups %v", backups)
	}
	c.Set(ctx, "r:1", "changed", 0)

	// --replace, not a terminal, no --yes: refused, nothing sent.
	r = runRestoreArgs(t, app, bulkEnv{}, backups[0], "--replace")
	if r.code != 2 || !strings.Contains(r.stderr, "refusing to restore 300 keys with --replace without confirmation: stdin is not a terminal (pass --yes") {
		t.Fatalf("--replace without --yes: %+v", r)
	}
	// A terminal, the wrong number: refused.
	r = runRestoreArgs(t, app, bulkEnv{stdinTTY: true, stdin: strings.NewReader("299\n")}, backups[0], "--replace")
	if r.code != 2 || !strings.Contains(r.stderr, "Type the number of keys in the backup (300)") || !strings.Contains(r.stderr, "not confirmed") {
		t.Fatalf("wrong count: %+v", r)
	}
	if c.DBSize(ctx).Val() != 1 || c.Get(ctx, "r:1").Val() != "changed" {
		t.Fatal("the keyspace changed before any confirmation")
	}
	// The number typed: restored, replacing r:1, with a journal.
	r = runRestoreArgs(t, app, bulkEnv{stdinTTY: true, stdin: strings.NewReader("300\n")}, backups[0], "--replace")
	if r.code != 0 || !strings.Contains(r.stdout, "restored 300 of 300 keys") || !strings.Contains(r.stdout, "existing (replaced): 0") ||
		!strings.Contains(r.stdout, "journal: "+filepath.Join(state, "redtop")) {
		t.Fatalf("--replace confirmed: %+v", r)
	}
	if c.DBSize(ctx).Val() != 300 || c.Get(ctx, "r:1").Val() == "changed" {
		t.Fatal("the backup did not replace r:1")
	}
	// --yes: no question. Without --replace: no question either.
	if r = runRestoreArgs(t, app, bulkEnv{}, backups[0], "--replace", "--yes"); r.code != 0 || strings.Contains(r.stderr, "Type") {
		t.Fatalf("--replace --yes: %+v", r)
	}
	if r = runRestoreArgs(t, app, bulkEnv{}, backups[0]); r.code != 0 || !strings.Contains(r.stdout, "existing (skipped): 300") {
		t.Fatalf("restore without --replace: %+v", r)
	}
	restoreJournals, _ := filepath.Glob(filepath.Join(state, "redtop", "*-restore.journal.jsonl"))
	if len(restoreJournals) != 3 {
		t.Fatalf("restore journals %v", restoreJournals)
	}
	raw, _ := os.ReadFile(restoreJournals[0])
	if !strings.Contains(string(raw), `"op":"restore"`) || !strings.Contains(string(raw), `"result":"restored"`) || strings.Contains(string(raw), "password") {
		t.Fatalf("restore journal:\n%s", raw)
	}

	// Undo an expire: the command names the journal to restore from.
	c.Expire(ctx, "r:7", time.Hour)
	r = runBulkArgs(t, app, keys.OpExpire, bulkEnv{}, "r:*", "5m", "--yes")
	i := strings.Index(r.stdout, "undo with: redtop restore ")
	if r.code != 0 || i < 0 {
		t.Fatalf("expire: %+v", r)
	}
	journal := strings.TrimSpace(strings.SplitN(r.stdout[i+len("undo with: redtop restore "):], "\n", 2)[0])
	if r = runRestoreArgs(t, app, bulkEnv{}, journal, "--replace"); r.code != 2 || !strings.Contains(r.stderr, "--replace goes with a backup file") {
		t.Fatalf("undo with --replace: %+v", r)
	}
	c.Del(ctx, "r:9")
	r = runRestoreArgs(t, app, bulkEnv{}, journal, "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "undo expire: put back the TTL of 299 of 300 keys") || !strings.Contains(r.stdout, "gone since: 1") {
		t.Fatalf("undo: %+v", r)
	}
	if c.TTL(ctx, "r:1").Val() != -1 || c.TTL(ctx, "r:7").Val() < 59*time.Minute {
		t.Fatalf("after the undo: r:1 TTL %v, r:7 TTL %v", c.TTL(ctx, "r:1").Val(), c.TTL(ctx, "r:7").Val())
	}
	// Not a redtop file: exit 2.
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("hello\n"), 0o600)
	if r = runRestoreArgs(t, app, bulkEnv{}, bad); r.code != 2 || !strings.Contains(r.stderr, "not a redtop backup") {
		t.Fatalf("bad file: %+v", r)
	}
}

// TestRestoreUndoCommand: restore JOURNAL asks for the number of keys
// before undoing, refuses without a terminal and without --yes, leaves
// alone and reports keys changed since the run, and overwrites them with
// --force.
func TestRestoreUndoCommand(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	ctx := context.Background()
	srv, c := bulkServer(t)
	populateKeys(t, c, 100, "u")
	app := bulkApp(t, unixTarget(srv))
	r := runBulkArgs(t, app, keys.OpExpire, bulkEnv{}, "u:*", "1h", "--yes", "--json")
	var got struct{ Report keys.BulkReport }
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
		t.Fatalf("expire: %v %+v", err, r)
	}
	journal := got.Report.Journal
	c.Persist(ctx, "u:3")               // someone persists a key
	c.Expire(ctx, "u:4", 5*time.Minute) // and gives another a TTL of its own
	c.Del(ctx, "u:5")

	// No terminal, no --yes: refused, nothing changed.
	r = runRestoreArgs(t, app, bulkEnv{}, journal)
	if r.code != 2 || !strings.Contains(r.stderr, "refusing to undo the expire of 100 keys without confirmation: stdin is not a terminal (pass --yes") {
		t.Fatalf("without --yes: %+v", r)
	}
	if c.TTL(ctx, "u:1").Val() < 59*time.Minute {
		t.Fatal("a refused undo changed a TTL")
	}
	// A terminal, the wrong number: refused.
	r = runRestoreArgs(t, app, bulkEnv{stdinTTY: true, stdin: strings.NewReader("99\n")}, journal)
	if r.code != 2 || !strings.Contains(r.stderr, "Type the number of keys in the journal (100)") || !strings.Contains(r.stderr, "not confirmed") ||
		c.TTL(ctx, "u:1").Val() < 59*time.Minute {
		t.Fatalf("wrong count: %+v", r)
	}
	// The number typed: undone, the changed keys left alone and named.
	r = runRestoreArgs(t, app, bulkEnv{stdinTTY: true, stdin: strings.NewReader("100\n")}, journal)
	if r.code != 0 || !strings.Contains(r.stdout, "put back the TTL of 97 of 100 keys") ||
		!strings.Contains(r.stdout, "changed since the run: left alone: 2 (e.g. ") || !strings.Contains(r.stdout, "u:3") ||
		!strings.Contains(r.stdout, "--force overwrites it") || !strings.Contains(r.stdout, "gone since: 1") {
		t.Fatalf("undo: %+v", r)
	}
	if c.TTL(ctx, "u:1").Val() != -1 || c.TTL(ctx, "u:3").Val() != -1 {
		t.Fatal("u:1 did not get its TTL back")
	}
	if d := c.TTL(ctx, "u:4").Val(); d > 5*time.Minute || d < 4*time.Minute {
		t.Fatalf("u:4 TTL %v: the undo overwrote a TTL set since", d)
	}
	// --json --yes: the count of keys left alone is in the report.
	r = runRestoreArgs(t, app, bulkEnv{}, journal, "--yes", "--json", "--dry-run")
	var rep keys.RestoreReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 || rep.Changed != 99 || !strings.Contains(r.stdout, `"changed": 99`) {
		t.Fatalf("json: %v %+v", err, r)
	}
	// --force: the old TTL goes back over the change.
	r = runRestoreArgs(t, app, bulkEnv{}, journal, "--yes", "--force")
	if r.code != 0 || !strings.Contains(r.stdout, "put back the TTL of 99 of 100 keys") || !strings.Contains(r.stdout, "put back all the same (--force)") {
		t.Fatalf("--force: %+v", r)
	}
	if c.TTL(ctx, "u:4").Val() != -1 {
		t.Fatal("--force did not put u:4's old TTL back")
	}
	// --force goes with a journal.
	r = runBulkArgs(t, app, keys.OpDelete, bulkEnv{}, "u:1*", "--yes", "--json")
	got = struct{ Report keys.BulkReport }{}
	json.Unmarshal([]byte(r.stdout), &got)
	if r = runRestoreArgs(t, app, bulkEnv{}, got.Report.Backup, "--force"); r.code != 2 || !strings.Contains(r.stderr, "--force goes with a journal") {
		t.Fatalf("--force with a backup: %+v", r)
	}
	// The help names the flag.
	if r = runRestoreArgs(t, app, bulkEnv{}, "--help"); !strings.Contains(r.stdout, "--force") || !strings.Contains(r.stdout, "restore JOURNAL [--force] [--yes]") {
		t.Fatalf("help: %s", r.stdout)
	}
}
