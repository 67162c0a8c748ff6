package keys

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

type savedKey struct {
	dump []byte
	pttl time.Duration
}

// snapshot DUMPs and PTTLs every key.
func snapshot(t *testing.T, c *redis.Client, keys []string) map[string]savedKey {
	t.Helper()
	ctx := context.Background()
	out := map[string]savedKey{}
	for _, k := range keys {
		d, err := c.Dump(ctx, k).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out[k] = savedKey{dump: []byte(d), pttl: c.PTTL(ctx, k).Val()}
	}
	return out
}

// sameValue compares two keys' values by their DUMP payloads; where the
// bytes differ (a hashtable-encoded aggregate can iterate in another
// order after RESTORE), it restores both into scratch keys and compares
// them element by element.
func sameValue(t *testing.T, c *redis.Client, a, b []byte) bool {
	t.Helper()
	if bytes.Equal(a, b) {
		return true
	}
	ctx := context.Background()
	c.Del(ctx, "scratch:a", "scratch:b")
	c.Restore(ctx, "scratch:a", 0, string(a))
	c.Restore(ctx, "scratch:b", 0, string(b))
	defer c.Del(ctx, "scratch:a", "scratch:b")
	typ := c.Type(ctx, "scratch:a").Val()
	if typ != c.Type(ctx, "scratch:b").Val() {
		return false
	}
	switch typ {
	case "hash":
		x, y := c.HGetAll(ctx, "scratch:a").Val(), c.HGetAll(ctx, "scratch:b").Val()
		if len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if y[k] != v {
				return false
			}
		}
		return true
	case "set":
		return c.SCard(ctx, "scratch:a").Val() == c.SCard(ctx, "scratch:b").Val() &&
			len(c.SDiff(ctx, "scratch:a", "scratch:b").Val()) == 0
	}
	return false
}

func TestBackupAndRestore(t *testing.T) {
	ctx := context.Background()
	b := newBulkRig(t)
	b.populate(t, 5000, "bk")
	names := []string{"bk:str", "bk:ttl", "bk:hash", "bk:bighash", "bk:list", "bk:set", "bk:bigset", "bk:zset", "bk:stream",
		"bk:\xff\x00bin", "bk:line\nbreak", "bk:short", "bk:long"}
	a := b.admin
	a.Set(ctx, "bk:str", strings.Repeat("x", 10000), 0)
	a.Set(ctx, "bk:ttl", "v", 90*time.Minute)
	a.HSet(ctx, "bk:hash", "f1", "v1", "f2", "v2")
	for i := 0; i < 1000; i++ {
		a.HSet(ctx, "bk:bighash", "f"+strconv.Itoa(i), i)
		a.SAdd(ctx, "bk:bigset", "m"+strconv.Itoa(i))
	}
	a.RPush(ctx, "bk:list", "a", "b", "c")
	a.SAdd(ctx, "bk:set", 1, 2, 3)
	a.ZAdd(ctx, "bk:zset", redis.Z{Score: 1, Member: "a"}, redis.Z{Score: 2.5, Member: "b"})
	a.XAdd(ctx, &redis.XAddArgs{Stream: "bk:stream", Values: []any{"f", "v"}})
	a.Set(ctx, "bk:\xff\x00bin", "\x00\x01\xff", 0)
	a.Set(ctx, "bk:line\nbreak", "v", 0)
	a.Set(ctx, "bk:short", "v", 30*time.Second)
	a.Set(ctx, "bk:long", "v", 240*time.Hour)
	a.Set(ctx, "other", "keep", 0)
	all := append(keyNames("bk", 5000), names...)
	before := snapshot(t, a, all)
	if len(before) != len(all) {
		t.Fatalf("%d keys saved, want %d", len(before), len(all))
	}

	opt := b.opts(OpDelete, "bk:*")
	opt.Backup = true
	rep, err := RunBulk(ctx, b.reader, b.writer, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Applied != int64(len(all)) || rep.BackupKeys != int64(len(all)) || !rep.OK() || filepath.Dir(rep.Backup) != b.dir {
		t.Fatalf("report %+v", rep)
	}
	if b.dbsize(t) != 1 {
		t.Fatalf("dbsize %d after the delete", b.dbsize(t))
	}
	t.Logf("backup: %d keys, %d bytes, %.0f bytes a key", rep.BackupKeys, rep.BackupBytes, float64(rep.BackupBytes)/float64(rep.BackupKeys))
	if fi, err := os.Stat(rep.Backup); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != rep.BackupBytes {
		t.Fatalf("backup file %v %v, report says %d bytes", fi, err, rep.BackupBytes)
	}
	j := readJournal(t, rep.Journal)
	if j.Header.Backup != rep.Backup || int64(len(j.Applied)) != rep.Applied {
		t.Fatalf("journal header %+v", j.Header)
	}

	// Dry run: everything would be restored, nothing is.
	dry, err := Restore(ctx, b.writer, rep.Backup, RestoreOptions{DryRun: true})
	if err != nil || dry.Restored != int64(len(all)) || dry.Existing != 0 || b.dbsize(t) != 1 {
		t.Fatalf("dry run %+v %v", dry, err)
	}

	time.Sleep(1100 * time.Millisecond) // TTLs must come back less the time elapsed
	res, err := Restore(ctx, b.writer, rep.Backup, RestoreOptions{Node: "n", Ledger: b.ledger})
	if err != nil {
		t.Fatal(err)
	}
	if res.Restored != int64(len(all)) || res.Keys != int64(len(all)) || !res.OK() || res.Header.Pattern != "bk:*" {
		t.Fatalf("restore %+v", res)
	}
	after := snapshot(t, a, all)
	for _, k := range all {
		x, y := before[k], after[k]
		if !sameValue(t, a, x.dump, y.dump) {
			t.Fatalf("%q came back different", k)
		}
		switch {
		case x.pttl < 0 && y.pttl != x.pttl:
			t.Fatalf("%q: PTTL %v, was %v", k, y.pttl, x.pttl)
		case x.pttl > 0 && (y.pttl > x.pttl-time.Second || y.pttl < x.pttl-3*time.Second):
			t.Fatalf("%q: PTTL %v, was %v a second ago", k, y.pttl, x.pttl)
		}
	}

	// Again: every key exists, every key is skipped.
	a.Set(ctx, "bk:str", "changed", 0)
	again, err := Restore(ctx, b.writer, rep.Backup, RestoreOptions{})
	if err != nil || again.Existing != int64(len(all)) || again.Restored != 0 || a.Get(ctx, "bk:str").Val() != "changed" {
		t.Fatalf("restore again %+v %v", again, err)
	}
	// With Replace, the saved value wins.
	repl, err := Restore(ctx, b.writer, rep.Backup, RestoreOptions{Replace: true})
	if err != nil || repl.Restored != int64(len(all)) || a.Get(ctx, "bk:str").Val() != strings.Repeat("x", 10000) {
		t.Fatalf("restore with replace %+v %v", repl, err)
	}
	// An hour later the 30 s key has expired: skipped and counted.
	a.Del(ctx, "bk:short", "bk:ttl", "bk:long")
	later, err := Restore(ctx, b.writer, rep.Backup, RestoreOptions{now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	if err != nil || later.Expired != 2 || later.Restored != 1 || a.Exists(ctx, "bk:short", "bk:ttl").Val() != 0 {
		t.Fatalf("restore two hours later %+v %v", later, err)
	}
	if d := a.PTTL(ctx, "bk:long").Val(); d > 238*time.Hour || d < 237*time.Hour {
		t.Fatalf("bk:long PTTL %v two hours later", d)
	}
}

// TestBackupRefusedDump: a user who may not DUMP has the batch's
// transaction refused while queued (EXECABORT): nothing is deleted, and
// the keys are journaled refused. A user who may not run MULTI is refused
// before anything is sent: the commands would run one by one.
func TestBackupRefusedDump(t *testing.T) {
	ctx := context.Background()
	b := newBulkRig(t)
	b.set(t, "d:1", "d:2", "d:3")
	b.addUser(t, "nodump", "~*", "+@read", "-dump", "+unlink", "+info", "+acl|dryrun", "+multi", "+exec", "+discard")
	opt := b.opts(OpDelete, "d:*")
	opt.Backup = true
	rep, err := RunBulk(ctx, b.rig.client(t, "nodump", "pw"), b.rig.writer(t, "nodump", "pw"), opt, nil)
	if err == nil || !strings.Contains(err.Error(), "--no-backup") || !strings.Contains(err.Error(), "NOPERM") || rep == nil || rep.Refused != 3 || rep.Applied != 0 {
		t.Fatalf("err %v report %+v", err, rep)
	}
	if j := readJournal(t, rep.Journal); len(j.Refused) != 3 {
		t.Fatalf("journal: %d refused", len(j.Refused))
	}
	if b.dbsize(t) != 3 {
		t.Fatal("keys were deleted without a backup")
	}

	b.addUser(t, "nomulti", "~*", "+@read", "+unlink", "+info", "+acl|dryrun")
	before := b.counts(t)
	opt.JournalDir = t.TempDir()
	rep, err = RunBulk(ctx, b.rig.client(t, "nomulti", "pw"), b.rig.writer(t, "nomulti", "pw"), opt, nil)
	if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "refused MULTI") || !strings.Contains(err.Error(), "--no-backup") || rep != nil {
		t.Fatalf("without +multi: err %v report %+v", err, rep)
	}
	after := b.counts(t)
	for _, c := range []string{"dump", "unlink", "pttl"} {
		if after.calls[c] != before.calls[c] {
			t.Fatalf("%s sent", c)
		}
	}
	if ents, _ := os.ReadDir(opt.JournalDir); len(ents) != 0 || b.dbsize(t) != 3 {
		t.Fatalf("files left %v, or keys deleted", ents)
	}
}

func TestRestoreRefusals(t *testing.T) {
	ctx := context.Background()
	b := newBulkRig(t)
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("{\"format\":\"other\"}\n"), 0o600)
	if _, err := Restore(ctx, b.writer, bad, RestoreOptions{}); err == nil || !strings.Contains(err.Error(), "not a redtop backup") {
		t.Fatalf("err %v", err)
	}
	if _, err := Restore(ctx, b.admin, bad, RestoreOptions{}); err == nil || !strings.Contains(err.Error(), "WriterOptions") {
		t.Fatalf("a retrying client: %v", err)
	}
	// A file cut short (redtop killed while writing it): what comes before
	// the damage is restored.
	b.set(t, "c:1", "c:2")
	opt := b.opts(OpDelete, "c:*")
	opt.Backup = true
	rep, err := RunBulk(ctx, b.reader, b.writer, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(rep.Backup)
	cut := filepath.Join(t.TempDir(), "cut")
	os.WriteFile(cut, raw[:len(raw)-20], 0o600)
	res, err := Restore(ctx, b.writer, cut, RestoreOptions{})
	if err == nil || res.Restored != 1 || res.Stopped != "damaged file" || b.dbsize(t) != 1 {
		t.Fatalf("restore of a damaged file: %+v %v", res, err)
	}
}

// TestRestoreJournal: a restore writes a journal: header op "restore" with
// the file, one line per batch and outcome, the report as footer.
func TestRestoreJournal(t *testing.T) {
	ctx := context.Background()
	b := newBulkRig(t)
	a := b.admin
	b.set(t, "r:1", "r:2", "r:3", "r:\xff")
	a.Set(ctx, "r:short", "v", 30*time.Second)
	a.Set(ctx, "r:big", strings.Repeat("b", 400<<10), 0) // a line longer than CountBackup's buffer
	opt := b.opts(OpDelete, "r:*")
	opt.Backup = true
	rep, err := RunBulk(ctx, b.reader, b.writer, opt, nil)
	if err != nil || rep.BackupKeys != 6 {
		t.Fatalf("delete: %+v %v", rep, err)
	}
	if n, err := CountBackup(rep.Backup); n != 6 || err != nil {
		t.Fatalf("CountBackup %d %v", n, err)
	}
	a.Set(ctx, "r:2", "new", 0)
	res, err := Restore(ctx, b.writer, rep.Backup, RestoreOptions{JournalDir: b.dir, Target: "unix:/x.sock", Batch: 2,
		now: func() time.Time { return time.Now().Add(time.Minute) }})
	if err != nil || res.Restored != 4 || res.Existing != 1 || res.Expired != 1 || res.Journal == "" {
		t.Fatalf("restore %+v %v", res, err)
	}
	j := readJournal(t, res.Journal)
	sorted := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
	if j.Header.Op != OpRestore || j.Header.File != rep.Backup || j.Header.Target != "unix:/x.sock" || j.Header.Pattern != "r:*" ||
		!slices.Equal(sorted(j.Restored), []string{"r:1", "r:3", "r:big", "r:\xff"}) || !slices.Equal(j.SkippedExists, []string{"r:2"}) ||
		!slices.Equal(j.SkippedExpired, []string{"r:short"}) || j.Footer == nil || j.Footer.Restore == nil ||
		j.Footer.Restore.Restored != 4 || j.Footer.Restore.Journal != res.Journal {
		t.Fatalf("journal %+v restored %q exists %q expired %q footer %+v", j.Header, j.Restored, j.SkippedExists, j.SkippedExpired, j.Footer)
	}
	if fi, err := os.Stat(res.Journal); err != nil || fi.Mode().Perm() != 0o600 || !strings.Contains(filepath.Base(res.Journal), "-restore") {
		t.Fatalf("journal file %v %v", fi, err)
	}
	// A dry run writes none.
	dry, err := Restore(ctx, b.writer, rep.Backup, RestoreOptions{JournalDir: b.dir, DryRun: true})
	if err != nil || dry.Journal != "" {
		t.Fatalf("dry run %+v %v", dry, err)
	}
	// Aborted before the first batch: the keys are journaled not attempted.
	abort := make(chan struct{})
	close(abort)
	stop, err := Restore(ctx, b.writer, rep.Backup, RestoreOptions{JournalDir: b.dir, Batch: 2, Abort: abort})
	if err == nil || stop == nil || stop.NotAttempted != 6 || stop.Stopped != "aborted" {
		t.Fatalf("cancelled restore %+v %v", stop, err)
	}
	if j := readJournal(t, stop.Journal); len(j.NotAttempted) != 6 || j.Footer == nil {
		t.Fatalf("cancelled restore journal: %d not attempted", len(j.NotAttempted))
	}
}
