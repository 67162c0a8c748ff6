package keys

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/conn"
	"redtop/internal/redisproc"
	"redtop/redisinfo"
)

// bulkRig is a server with DEBUG allowed, a reader and a writer built like
// redtop's, and a journal directory.
type bulkRig struct {
	*rig
	reader, writer *redis.Client
	dir            string
	ledger         *redisinfo.Ledger
}

func newBulkRig(t testing.TB, args ...string) *bulkRig {
	t.Helper()
	r := newRig(t, redisproc.Options{Unix: true, Args: append([]string{"--enable-debug-command", "yes"}, args...)})
	return &bulkRig{rig: r, reader: r.client(t, "", ""), writer: r.writer(t, "", ""), dir: t.TempDir(), ledger: redisinfo.NewLedger()}
}

func (b *bulkRig) opts(op Op, pattern string) BulkOptions {
	return BulkOptions{Op: op, Pattern: pattern, JournalDir: b.dir, Node: "n", Ledger: b.ledger}
}

func (b *bulkRig) populate(t testing.TB, n int, prefix string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := b.admin.Do(ctx, "DEBUG", "POPULATE", n, prefix).Err(); err != nil {
		t.Fatal(err)
	}
}

func (b *bulkRig) set(t testing.TB, keys ...string) {
	t.Helper()
	ctx := context.Background()
	pipe := b.admin.Pipeline()
	for _, k := range keys {
		pipe.Set(ctx, k, "v:"+k, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

// scanAll lists the keys SCAN MATCH pattern returns on the server, as a set.
func (b *bulkRig) scanAll(t testing.TB, pattern string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	_, err := Scan(context.Background(), b.admin, ScanOptions{Match: pattern}, func(batch []string) error {
		for _, k := range batch {
			out[k] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (b *bulkRig) dbsize(t testing.TB) int64 {
	t.Helper()
	n, err := b.admin.DBSize(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (b *bulkRig) digest(t testing.TB) string {
	t.Helper()
	d, err := b.admin.Do(context.Background(), "DEBUG", "DIGEST").Text()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func readJournal(t testing.TB, path string) *JournalKeys {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	j, err := ReadJournal(f)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

var decoys = []string{"key-1", "keys:1", "KEY:1", "key*1", "key[1", `key\1`, "ke:y", "key", "xkey:1", " key:1"}

// TestBulkDeleteLeavesDecoys: 40% of the keys match key:*, among decoys
// that look alike; the preview counts them without changing anything, the
// delete removes exactly them, and report, journal and ledger agree with
// the server. The 1M-key version takes about 9 s under -race: -short skips
// it.
func TestBulkDeleteLeavesDecoys(t *testing.T) {
	sizes := []int{100_000}
	if !testing.Short() {
		sizes = append(sizes, 1_000_000)
	}
	for _, n := range sizes {
		t.Run(strconv.Itoa(n), func(t *testing.T) { testDeleteLeavesDecoys(t, n) })
	}
}

func testDeleteLeavesDecoys(t *testing.T, n int) {
	ctx := context.Background()
	b := newBulkRig(t)
	match := n * 2 / 5
	b.populate(t, match, "key")
	b.populate(t, n-match-len(decoys)-2, "other")
	b.set(t, decoys...)
	b.set(t, "key:", "key:\xff\x00bin") // match too
	total := b.dbsize(t)

	before := b.counts(t)
	digest := b.digest(t)
	var last PreviewProgress
	pv, err := Preview(ctx, b.reader, b.opts(OpDelete, "key:*"), func(p PreviewProgress) { last = p })
	if err != nil {
		t.Fatal(err)
	}
	if pv.Matched != int64(match+2) || pv.DBSize != total || pv.MatchesEverything || pv.OverHalf {
		t.Fatalf("preview %+v", pv)
	}
	if len(pv.Samples) != PreviewSamples || pv.EstBytes <= 0 || pv.TTL.None != pv.Matched || last.Fraction != 1 || last.Matched != pv.Matched {
		t.Fatalf("preview samples %q bytes %d ttl %+v last %+v", pv.Samples, pv.EstBytes, pv.TTL, last)
	}
	for _, k := range pv.Samples {
		if !strings.HasPrefix(k, "key:") {
			t.Fatalf("sample %q", k)
		}
	}
	if got := b.dbsize(t); got != total || b.digest(t) != digest {
		t.Fatal("the preview changed the keyspace")
	}
	if after := b.counts(t); after.calls["unlink"] != before.calls["unlink"] || after.calls["del"] != 0 {
		t.Fatal("the preview sent writes")
	}

	var progressed int
	start := time.Now()
	rep, err := RunBulk(ctx, b.reader, b.writer, b.opts(OpDelete, "key:*"), func(p BulkProgress) { progressed++ })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d keys: deleted %d in %v (%.0f keys/s), preview %v", n, rep.Applied, time.Since(start), rep.KeysPerSec, pv.Elapsed)
	if rep.Applied != int64(match+2) || rep.AlreadyGone != 0 || rep.Unknown != 0 || !rep.Complete || !rep.OK() || rep.Mismatched != 0 {
		t.Fatalf("report %+v", rep)
	}
	if progressed == 0 {
		t.Fatal("no progress")
	}
	after := b.counts(t)
	if left := b.scanAll(t, "key:*"); len(left) != 0 {
		t.Fatalf("%d matching keys left", len(left))
	}
	for _, d := range decoys {
		if b.admin.Exists(ctx, d).Val() != 1 {
			t.Fatalf("decoy %q was deleted", d)
		}
	}
	if got := b.dbsize(t); got != total-int64(match+2) {
		t.Fatalf("dbsize %d, want %d", got, total-int64(match+2))
	}
	j := readJournal(t, rep.Journal)
	if j.Footer == nil || j.AppliedCount != rep.Applied || int64(len(j.Applied)) != rep.Applied || j.Header.Pattern != "key:*" || j.Header.Op != OpDelete {
		t.Fatalf("journal: %d applied (%d listed), footer %v", j.AppliedCount, len(j.Applied), j.Footer)
	}
	if !slices.Contains(j.Applied, "key:\xff\x00bin") {
		t.Fatal("the binary key is not in the journal")
	}
	// The ledger books what the server counted.
	own := b.ledger.Get("n")
	if d := after.calls["unlink"] - before.calls["unlink"]; d != own.Calls["unlink"] || d != int64(rep.Batches) {
		t.Fatalf("server counted %d UNLINK, ledger %d, batches %d", d, own.Calls["unlink"], rep.Batches)
	}
	if d := after.calls["scan"] - before.calls["scan"]; d != own.Calls["scan"] {
		t.Fatalf("server counted %d SCAN, ledger %d", d, own.Calls["scan"])
	}
	if dh, dm := after.hits-before.hits, after.misses-before.misses; dh != own.Hits || dm != own.Misses {
		t.Fatalf("server counted %d hits %d misses, ledger %d %d", dh, dm, own.Hits, own.Misses)
	}
}

// TestBulkRefusesUpFront: what cannot work is refused before anything is
// sent, with a clear error.
func TestBulkRefusesUpFront(t *testing.T) {
	ctx := context.Background()
	master := newBulkRig(t)
	master.addUser(t, "nounlink", "~*", "+@read", "+info", "+acl|dryrun", "+pexpire", "+persist", "+scan", "+dbsize")
	master.addUser(t, "nodryrun", "~*", "+@read", "+info", "+scan", "+dbsize", "+pexpire")
	master.set(t, "a:1", "a:2", "b:1")
	replica := newBulkRig(t, "--replicaof", "127.0.0.1", "1") // never syncs: read-only all the same

	caps := func(b *bulkRig, c *redis.Client) *Caps {
		cp, err := Probe(ctx, c, "n", nil)
		if err != nil {
			t.Fatal(err)
		}
		return &cp
	}
	nounlinkR, nounlinkW := master.client(t, "nounlink", "pw"), master.rig.writer(t, "nounlink", "pw")
	nodryR, nodryW := master.client(t, "nodryrun", "pw"), master.rig.writer(t, "nodryrun", "pw")
	for _, tt := range []struct {
		name    string
		b       *bulkRig
		r, w    *redis.Client
		opt     func(BulkOptions) BulkOptions
		is      error
		has     string
		started bool // a report comes back: the server refused the first batch
	}{
		{name: "expire without TTL", b: master, opt: func(o BulkOptions) BulkOptions { o.Op = OpExpire; return o },
			has: "TTL must be more than zero"},
		{name: "expire with negative TTL", b: master, opt: func(o BulkOptions) BulkOptions { o.Op, o.TTL = OpExpire, -time.Second; return o },
			has: "TTL must be more than zero"},
		{name: "empty pattern", b: master, opt: func(o BulkOptions) BulkOptions { o.Pattern = ""; return o },
			has: "empty pattern"},
		{name: "unterminated class", b: master, opt: func(o BulkOptions) BulkOptions { o.Pattern = "a:[1"; return o },
			has: "unterminated ["},
		{name: "replica", b: replica, opt: func(o BulkOptions) BulkOptions { return o },
			is: ErrReadOnly, has: "connected to a replica"},
		{name: "user without +unlink", b: master, r: nounlinkR, w: nounlinkW,
			opt: func(o BulkOptions) BulkOptions { return o }, is: ErrDenied, has: "lacks +unlink"},
		{name: "user without +unlink, ACL DRYRUN refused", b: master, r: nodryR, w: nodryW,
			opt: func(o BulkOptions) BulkOptions { return o }, is: ErrDenied, has: "nothing sent: user nodryrun lacks +unlink"},
		{name: "user without +unlink, not probed", b: master, r: nodryR, w: nodryW,
			opt: func(o BulkOptions) BulkOptions { return o }, is: ErrDenied, has: "NOPERM", started: true},
		{name: "retrying writer", b: master, w: master.admin, opt: func(o BulkOptions) BulkOptions { return o },
			has: "WriterOptions"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.b
			r, w := tt.r, tt.w
			if r == nil {
				r = b.reader
			}
			if w == nil {
				w = b.writer
			}
			opt := tt.opt(b.opts(OpDelete, "a:*"))
			opt.JournalDir = t.TempDir()
			switch tt.name {
			case "user without +unlink, ACL DRYRUN refused":
				opt.Caps = caps(b, r)
			case "user without +unlink, not probed": // nothing known: the server's NOPERM stops the run
				opt.Caps = &Caps{}
			default:
				opt.Caps = nil
			}
			digest := b.digest(t)
			before := b.counts(t)
			rep, err := RunBulk(ctx, r, w, opt, nil)
			if err == nil || !strings.Contains(err.Error(), tt.has) || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("err %v, want %v %q", err, tt.is, tt.has)
			}
			if b.digest(t) != digest {
				t.Fatal("the keyspace changed")
			}
			after := b.counts(t)
			if !tt.started {
				if rep != nil {
					t.Fatalf("a report for a refused run: %+v", rep)
				}
				for _, c := range []string{"unlink", "pexpire", "persist"} {
					if after.calls[c] != before.calls[c] {
						t.Fatalf("%s sent", c)
					}
				}
				if ents, _ := os.ReadDir(opt.JournalDir); len(ents) != 0 {
					t.Fatalf("files left: %v", ents)
				}
				return
			}
			if rep == nil || rep.Refused != 2 || rep.Applied != 0 || rep.Stopped != "refused" || rep.OK() {
				t.Fatalf("report %+v", rep)
			}
			j := readJournal(t, rep.Journal)
			if len(j.Refused) != 2 || len(j.Applied) != 0 || j.Footer == nil {
				t.Fatalf("journal %+v", j)
			}
		})
	}
}

// TestBulkExpireAndPersist: outcomes per key, journaled per key.
func TestBulkExpireAndPersist(t *testing.T) {
	ctx := context.Background()
	b := newBulkRig(t)
	b.populate(t, 1200, "s")
	b.set(t, "t:other")
	for i := 0; i < 100; i++ { // some already expire
		b.admin.Expire(ctx, "s:"+strconv.Itoa(i), time.Hour)
	}
	opt := b.opts(OpExpire, "s:*")
	opt.TTL = 90 * time.Second
	opt.Batch = 250
	rep, err := RunBulk(ctx, b.reader, b.writer, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Applied != 1200 || rep.Batches != 5 || rep.TTLms != 90000 || !rep.OK() {
		t.Fatalf("expire report %+v", rep)
	}
	for _, k := range []string{"s:0", "s:500", "s:1199"} {
		if d := b.admin.PTTL(ctx, k).Val(); d <= 89*time.Second || d > 90*time.Second {
			t.Fatalf("%s PTTL %v", k, d)
		}
	}
	if b.admin.PTTL(ctx, "t:other").Val() != -1 {
		t.Fatal("t:other got a TTL")
	}
	j := readJournal(t, rep.Journal)
	if len(j.Applied) != 1200 || j.Header.TTLms != 90000 {
		t.Fatalf("journal %d applied", len(j.Applied))
	}

	// Persist: half the keys lose their TTL first, so they are unchanged.
	for i := 0; i < 600; i++ {
		b.admin.Persist(ctx, "s:"+strconv.Itoa(i))
	}
	rep, err = RunBulk(ctx, b.reader, b.writer, b.opts(OpPersist, "s:*"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Applied != 600 || rep.Unchanged != 600 || rep.AlreadyGone != 0 || !rep.OK() {
		t.Fatalf("persist report %+v", rep)
	}
	j = readJournal(t, rep.Journal)
	if len(j.Applied) != 600 || len(j.Unchanged) != 600 || !slices.Contains(j.Unchanged, "s:0") || !slices.Contains(j.Applied, "s:1000") {
		t.Fatalf("journal %d applied %d unchanged", len(j.Applied), len(j.Unchanged))
	}
	if n := len(b.scanAll(t, "s:*")); n != 1200 {
		t.Fatalf("%d keys left", n)
	}
	if b.admin.PTTL(ctx, "s:1000").Val() != -1 {
		t.Fatal("s:1000 still expires")
	}
}

// TestBulkGlobSemantics: for patterns with escapes and classes, a delete
// removes exactly the keys SCAN MATCH returns, no more, no less.
func TestBulkGlobSemantics(t *testing.T) {
	ctx := context.Background()
	b := newBulkRig(t)
	names := []string{
		"key:1", "key:2", "key:10", "key-1", "keys:1", "KEY:1", "key*1", "key[1", `key\1`, "ke:y", "key?",
		"key]", "key^1", "kay:1", "kzy:1", "k-y:1", "key:\xff", "key:\x00", "key", "", "*", "[", `\`,
		"user:1:profile", "user:1:2:profile", "user::profile", "user:1:profile:x", "é:1", "\xc3:1",
	}
	patterns := []string{
		`key:*`, `key\*1`, `key\[1`, `key\\1`, `k?y:1`, `k[a-e]y:1`, `k[^e]y:1`, `key[:-]1`, `key[*]1`,
		`key\?`, `key?`, `*\**`, `user:*:profile`, `key:[0-9]`, `key:[^0-9]`, `[\[]`, `\\`, `k[e-a]y:1`,
		`?:1`, `key[\]]`, `key[]^]*`, `**`, `*`,
	}
	for _, p := range patterns {
		if err := ValidatePattern(p); err != nil {
			continue
		}
		if err := b.admin.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		b.set(t, names...)
		b.populate(t, 2000, "filler")
		want := b.scanAll(t, p)
		for _, k := range names {
			if Match(p, k) != want[k] {
				t.Fatalf("pattern %q key %q: Match %v, SCAN MATCH %v", p, k, Match(p, k), want[k])
			}
		}
		rep, err := RunBulk(ctx, b.reader, b.writer, b.opts(OpDelete, p), nil)
		if err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		if rep.Applied != int64(len(want)) || rep.Mismatched != 0 {
			t.Fatalf("%q: deleted %d, SCAN MATCH has %d", p, rep.Applied, len(want))
		}
		for _, k := range names {
			if exists := b.admin.Exists(ctx, k).Val() == 1; exists == want[k] {
				t.Fatalf("pattern %q key %q: exists %v after delete", p, k, exists)
			}
		}
	}
}

// TestBulkPacing: a rate spaces the batches; auto pacing halves the batch
// rate while the latency is high and speeds up again below the target.
func TestBulkPacing(t *testing.T) {
	ctx := context.Background()
	b := newBulkRig(t)
	b.populate(t, 2000, "p")
	opt := b.opts(OpExpire, "p:*")
	opt.TTL, opt.Rate, opt.Batch = time.Hour, 4000, 200
	start := time.Now()
	rep, err := RunBulk(ctx, b.reader, b.writer, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 2000 keys at 4000/s: the first batch goes at once, the others wait.
	if el := time.Since(start); el < 400*time.Millisecond || rep.Applied != 2000 {
		t.Fatalf("%d keys in %v at 4000 keys/s", rep.Applied, el)
	}

	p := newPacer(BulkOptions{LatencyTarget: 2 * time.Millisecond})
	p.done(time.Millisecond)
	p.adjust(5 * time.Millisecond)
	if d := p.delay(); d != time.Millisecond { // 1 ms per batch → 2 ms
		t.Fatalf("delay %v after one slow sample", d)
	}
	p.adjust(5 * time.Millisecond)
	if d := p.delay(); d != 3*time.Millisecond { // 2 ms → 4 ms per batch
		t.Fatalf("delay %v after two slow samples", d)
	}
	for i := 0; i < 20; i++ {
		p.adjust(100 * time.Microsecond)
	}
	if d := p.delay(); d != 0 {
		t.Fatalf("delay %v after fast samples", d)
	}
	for i := 0; i < 40; i++ {
		p.adjust(time.Second)
	}
	if d := p.delay(); d != maxAutoDelay {
		t.Fatalf("delay %v, want the cap", d)
	}
}

func TestJournalKeysRoundTrip(t *testing.T) {
	dir := t.TempDir()
	j, err := createJournal(dir, "x")
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"plain", "line\nbreak", "\x1b[31m", "bad\xffutf8", "\xc3\x28", "é", "<&>", ""}
	j.write(JournalHeader{Type: "header", Format: "redtop-journal", Version: journalVersion, Op: OpDelete, Pattern: "*"})
	j.batch(JournalBatch{Seq: 1, Result: ResultApplied, Applied: 6, Gone: 2}, keys, keys[3:5], nil)
	j.batch(JournalBatch{Seq: 2, Result: ResultUnknown}, []string{"u\xfe"}, nil, nil)
	if err := j.close(); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "x.journal.jsonl"))
	if strings.Contains(string(raw), "\uFFFD") || strings.Contains(string(raw), "\\u003c") {
		t.Fatalf("journal mangles keys:\n%s", raw)
	}
	got := readJournal(t, filepath.Join(dir, "x.journal.jsonl"))
	want := []string{"plain", "line\nbreak", "\x1b[31m", "é", "<&>", ""}
	if fmt.Sprint(got.Applied) != fmt.Sprint(want) || fmt.Sprint(got.Gone) != fmt.Sprint(keys[3:5]) || fmt.Sprint(got.Unknown) != fmt.Sprint([]string{"u\xfe"}) {
		t.Fatalf("read back %q / %q / %q", got.Applied, got.Gone, got.Unknown)
	}
}

// TestBulkExpireNX: on Redis 7.0+ an expire sends PEXPIRE … NX first and
// PTTL then PEXPIRE only for the keys NX left alone; without NX (an older
// server) PTTL then PEXPIRE for every key. Either way: every type of key
// gets the TTL, each key's TTL before is journaled (none: -1), a key gone
// between the scan and the write is counted gone, and the ledger books
// exactly what the server counted.
func TestBulkExpireNX(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name          string
		caps          *Caps // nil: probed (7.0: NX)
		pttl, pexpire int64 // calls of the clean run
	}{
		{"NX", nil, 51, 606 + 51}, // 51 keys have a TTL
		{"PTTL first", &Caps{Version: "6.2.14"}, 606, 606},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newBulkRig(t)
			a := b.admin
			b.populate(t, 600, "x")
			for i := 0; i < 50; i++ {
				a.Expire(ctx, "x:"+strconv.Itoa(i), time.Hour)
			}
			a.RPush(ctx, "x:list", "a")
			a.HSet(ctx, "x:hash", "f", "v")
			a.SAdd(ctx, "x:set", "m")
			a.ZAdd(ctx, "x:zset", redis.Z{Score: 1, Member: "m"})
			a.XAdd(ctx, &redis.XAddArgs{Stream: "x:stream", Values: []string{"f", "v"}})
			a.Set(ctx, "x:short", "v", 5*time.Second)
			a.Set(ctx, "y:other", "v", 0)

			// A clean run: the ledger against the server's counts.
			opt := b.opts(OpExpire, "x:*")
			opt.TTL, opt.Batch, opt.Caps = 90*time.Second, 100, tt.caps
			warm(t, b.reader)
			c0 := b.counts(t)
			rep, err := RunBulk(ctx, b.reader, b.writer, opt, nil)
			c1 := b.counts(t)
			if err != nil || !rep.OK() || rep.Applied != 606 || rep.AlreadyGone != 0 || rep.Batches != 7 {
				t.Fatalf("report %+v %v", rep, err)
			}
			own := b.ledger.Get("n")
			checkBooked(t, c0, c1, own)
			if own.Calls["pttl"] != tt.pttl || own.Calls["pexpire"] != tt.pexpire {
				t.Fatalf("%d PTTL, %d PEXPIRE", own.Calls["pttl"], own.Calls["pexpire"])
			}
			prev := map[string]int64{}
			for _, p := range readJournal(t, rep.Journal).Prev {
				prev[p.Key] = p.PTTLms
				if p.AtMs == 0 || p.Result != ResultApplied {
					t.Fatalf("record %+v", p)
				}
			}
			for k, want := range map[string][2]int64{"x:0": {3590_000, 3600_000}, "x:49": {3590_000, 3600_000},
				"x:short": {4000, 5000}, "x:50": {-1, -1}, "x:599": {-1, -1}, "x:list": {-1, -1}, "x:hash": {-1, -1},
				"x:set": {-1, -1}, "x:zset": {-1, -1}, "x:stream": {-1, -1}} {
				if p, ok := prev[k]; !ok || p < want[0] || p > want[1] {
					t.Fatalf("%s: TTL before %d (recorded %v), want %v", k, p, ok, want)
				}
				if d := a.PTTL(ctx, k).Val(); d <= 89*time.Second || d > 90*time.Second {
					t.Fatalf("%s PTTL %v", k, d)
				}
			}
			if len(prev) != 606 || a.PTTL(ctx, "y:other").Val() != -1 {
				t.Fatalf("%d records, y:other PTTL %v", len(prev), a.PTTL(ctx, "y:other").Val())
			}

			// A key gone between the scan and the write.
			b.populate(t, 300, "v")
			var once sync.Once
			afterPage = func(string) { once.Do(func() { a.Del(ctx, "v:7") }) }
			defer func() { afterPage = nil }()
			opt = b.opts(OpExpire, "v:*")
			opt.TTL, opt.Caps = time.Hour, tt.caps
			rep, err = RunBulk(ctx, b.reader, b.writer, opt, nil)
			if err != nil || !rep.OK() || rep.Applied != 299 || rep.AlreadyGone != 1 {
				t.Fatalf("report %+v %v", rep, err)
			}
			j := readJournal(t, rep.Journal)
			if !slices.Equal(j.Gone, []string{"v:7"}) || len(j.Applied) != 299 || j.AppliedCount != 299 || len(j.Prev) != 299 {
				t.Fatalf("journal: gone %q, %d listed applied, %d counted, %d records", j.Gone, len(j.Applied), j.AppliedCount, len(j.Prev))
			}
		})
	}
}

// TestBulkExpireNXMostlyTTL: keys that all have a TTL make NX answer 0:
// after the first batch the run sends PTTL then PEXPIRE straight away,
// and the undo puts back each key's TTL.
func TestBulkExpireNXMostlyTTL(t *testing.T) {
	ctx := context.Background()
	b := newBulkRig(t)
	b.populate(t, 1000, "w")
	pipe := b.admin.Pipeline()
	for i := 0; i < 1000; i++ {
		pipe.Expire(ctx, "w:"+strconv.Itoa(i), 2*time.Hour)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	b.do(t, "config", "resetstat")
	opt := b.opts(OpExpire, "w:*")
	opt.TTL, opt.Batch = time.Minute, 250
	rep, err := RunBulk(ctx, b.reader, b.writer, opt, nil)
	if err != nil || !rep.OK() || rep.Applied != 1000 {
		t.Fatalf("report %+v %v", rep, err)
	}
	// Each write lane learns from its own first batch.
	if p, x := b.commandCalls(t, "pttl"), b.commandCalls(t, "pexpire"); p != 1000 || x < 1250 || x > 1000+writeLanes*250 {
		t.Fatalf("%d PTTL, %d PEXPIRE: want NX for each lane's first batch only", p, x)
	}
	res, err := Restore(ctx, b.writer, rep.Journal, RestoreOptions{JournalDir: b.dir})
	if err != nil || res.Restored != 1000 || !res.OK() {
		t.Fatalf("undo: %+v %v", res, err)
	}
	if d := b.admin.PTTL(ctx, "w:500").Val(); d < 2*time.Hour-time.Minute || d > 2*time.Hour {
		t.Fatalf("w:500 PTTL %v after the undo", d)
	}
}

// TestBulkExpireNXCut: a connection cut in the middle of an expire whose
// keys are a mix (30% with a TTL: NX, then PTTL and PEXPIRE for those),
// in a batch's first round trip or its second, leaves a journal that says
// what the server did: applied keys have the run's TTL and the TTL before
// recorded, keys not attempted or not reached have their own, unknown keys
// one or the other; the undo puts back exactly the applied ones.
func TestBulkExpireNXCut(t *testing.T) {
	for _, cut := range []int64{6600, 7000} {
		t.Run(strconv.FormatInt(cut, 10), func(t *testing.T) { testExpireNXCut(t, cut) })
	}
}

func testExpireNXCut(t *testing.T, cut int64) {
	ctx := context.Background()
	const n = 20_000
	b := newBulkRig(t)
	b.populate(t, n, "key")
	pipe := b.admin.Pipeline()
	for i := 0; i < n; i += 10 {
		for j := i; j < i+3; j++ {
			pipe.Expire(ctx, "key:"+strconv.Itoa(j), 2*time.Hour)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	p := newCutAfterProxy(t, "unix", b.srv.Addr(), "PEXPIRE", cut)
	w := redis.NewClient(conn.Target{Network: "tcp", Addr: p.addr(), Timeout: 2 * time.Second}.WriterOptions())
	defer w.Close()
	opt := b.opts(OpExpire, "key:*")
	opt.TTL = time.Hour
	rep, err := RunBulk(ctx, b.reader, w, opt, nil)
	if err == nil || rep == nil || rep.Stopped != "connection lost" || rep.Unknown == 0 || rep.Unknown > writeLanes*DefaultBatch || rep.Applied == 0 {
		t.Fatalf("err %v report %+v", err, rep)
	}
	j := readJournal(t, rep.Journal)
	state := map[string]string{}
	for _, k := range j.Applied {
		state[k] = "applied"
	}
	for _, k := range j.Unknown {
		state[k] = "unknown"
	}
	prev := map[string]int64{}
	for _, pr := range j.Prev {
		prev[pr.Key] = pr.PTTLms
	}
	pipe = b.admin.Pipeline()
	ttls := make([]*redis.DurationCmd, n)
	for i := range ttls {
		ttls[i] = pipe.PTTL(ctx, "key:"+strconv.Itoa(i))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	var applied, unknown int64
	for i, c := range ttls {
		k, d := "key:"+strconv.Itoa(i), c.Val()
		had := time.Duration(-1)
		if i%10 < 3 {
			had = 2 * time.Hour
		}
		own := had < 0 && d == -1 || had > 0 && d > had-time.Minute
		run := d > time.Hour-time.Minute && d <= time.Hour
		switch state[k] {
		case "applied":
			applied++
			if !run || had < 0 && prev[k] != PrevNoTTL || had > 0 && prev[k] < (had-time.Minute).Milliseconds() {
				t.Fatalf("%s journaled applied: PTTL %v, before %d", k, d, prev[k])
			}
		case "unknown":
			unknown++
			if !run && !own {
				t.Fatalf("%s journaled unknown: PTTL %v", k, d)
			}
		default:
			if !own {
				t.Fatalf("%s journaled %q: PTTL %v, had %v", k, state[k], d, had)
			}
		}
	}
	if applied != rep.Applied || unknown != rep.Unknown {
		t.Fatalf("%d applied, %d unknown; report %+v", applied, unknown, rep)
	}
	res, err := Restore(ctx, b.writer, rep.Journal, RestoreOptions{JournalDir: b.dir})
	if err != nil && res == nil || res.Restored != rep.Applied {
		t.Fatalf("undo: %+v %v", res, err)
	}
	for i := 0; i < n; i += 997 {
		k := "key:" + strconv.Itoa(i)
		if state[k] != "applied" {
			continue
		}
		d := b.admin.PTTL(ctx, k).Val()
		if i%10 < 3 && d < 2*time.Hour-time.Minute || i%10 >= 3 && d != -1 {
			t.Fatalf("%s PTTL %v after the undo", k, d)
		}
	}
	t.Logf("%d applied, %d unknown, %d not attempted; undo: %d restored, %d failed", rep.Applied, rep.Unknown, rep.NotAttempted, res.Restored, res.Failed)
}
