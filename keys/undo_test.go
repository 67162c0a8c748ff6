package keys

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestUndoExpire: an expire run records each key's TTL before it, and a
// restore from its journal puts them back; keys gone since are reported.
func TestUndoExpire(t *testing.T) {
	ctx := context.Background()
	b := newBulkRig(t)
	a := b.admin
	b.populate(t, 1000, "u") // no TTL
	a.Set(ctx, "u:hour", "v", time.Hour)
	a.Set(ctx, "u:ten", "v", 10*time.Minute)
	a.Set(ctx, "u:\xff\x00bin", "v", 20*time.Minute) // base64 in the journal, in the middle of a batch
	a.Set(ctx, "u:gone", "v", 0)
	a.Set(ctx, "other", "v", 0)

	opt := b.opts(OpExpire, "u:*")
	opt.TTL = 90 * time.Second
	opt.Batch = 300
	rep, err := RunBulk(ctx, b.reader, b.writer, opt, nil)
	if err != nil || rep.Applied != 1004 || !rep.OK() {
		t.Fatalf("expire: %+v %v", rep, err)
	}
	j := readJournal(t, rep.Journal)
	prev := map[string]int64{}
	for _, p := range j.Prev {
		prev[p.Key] = p.PTTLms
		if p.AtMs == 0 || p.Result != ResultApplied {
			t.Fatalf("record %+v", p)
		}
	}
	if len(prev) != 1004 || prev["u:0"] != PrevNoTTL || prev["u:hour"] < 3590_000 || prev["u:hour"] > 3600_000 ||
		prev["u:\xff\x00bin"] < 1190_000 || prev["u:\xff\x00bin"] > 1200_000 {
		t.Fatalf("%d records: u:0 %d, u:hour %d, bin %d", len(prev), prev["u:0"], prev["u:hour"], prev["u:\xff\x00bin"])
	}
	// The ledger books the PTTL lookups as the server counts them: only the
	// 3 keys that had a TTL are read (PEXPIRE … NX sets the others and says
	// they had none).
	own := b.ledger.Get("n")
	if d := b.commandCalls(t, "pttl"); d != own.Calls["pttl"] || d != 3 {
		t.Fatalf("server counted %d PTTL, ledger %d", d, own.Calls["pttl"])
	}

	a.Del(ctx, "u:gone")
	time.Sleep(1100 * time.Millisecond) // the TTLs put back are less the time elapsed
	dry, err := Restore(ctx, b.writer, rep.Journal, RestoreOptions{DryRun: true, JournalDir: b.dir})
	if err != nil || dry.Undo != OpExpire || dry.Restored != 1003 || dry.Gone != 1 || dry.Journal != "" {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if d := a.PTTL(ctx, "u:0").Val(); d <= 0 {
		t.Fatalf("the dry run changed u:0's TTL: %v", d)
	}
	res, err := Restore(ctx, b.writer, rep.Journal, RestoreOptions{JournalDir: b.dir, Batch: 250})
	if err != nil || res.Restored != 1003 || res.Gone != 1 || res.Keys != 1004 || !res.OK() || res.Undo != OpExpire {
		t.Fatalf("undo: %+v %v", res, err)
	}
	for k, lo := range map[string]time.Duration{"u:hour": 3597 * time.Second, "u:ten": 597 * time.Second, "u:\xff\x00bin": 1197 * time.Second} {
		if d := a.PTTL(ctx, k).Val(); d < lo || d > lo+2*time.Second {
			t.Fatalf("%q PTTL %v after the undo, want about %v", k, d, lo+time.Second)
		}
	}
	if a.PTTL(ctx, "u:0").Val() != -1 || a.PTTL(ctx, "u:999").Val() != -1 || a.Exists(ctx, "u:gone").Val() != 0 {
		t.Fatal("keys without TTL before the run did not get it back, or a gone key came back")
	}
	// The undo's own journal.
	uj := readJournal(t, res.Journal)
	if uj.Header.Op != OpRestore || uj.Header.Undo != OpExpire || uj.Header.File != rep.Journal || uj.Footer == nil ||
		uj.Footer.Restore == nil || uj.Footer.Restore.Restored != 1003 || len(uj.Restored) != 1003 ||
		!slices.Equal(uj.SkippedGone, []string{"u:gone"}) || filepath.Dir(res.Journal) != b.dir {
		t.Fatalf("undo journal %+v footer %+v", uj.Header, uj.Footer)
	}

	// Two hours later the old TTLs have run out: those keys are left alone.
	b.runExpire(t, "u:*", time.Minute)
	j2 := b.lastJournal(t)
	// (Force: on the clock two hours on, every key looks changed since.)
	later, err := Restore(ctx, b.writer, j2, RestoreOptions{JournalDir: b.dir, Force: true, now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	if err != nil || later.Restored != 1000 || later.Expired != 3 || later.Changed != 1000 {
		t.Fatalf("undo two hours later: %+v %v", later, err)
	}
	if d := a.PTTL(ctx, "u:hour").Val(); d <= 0 || d > time.Minute {
		t.Fatalf("u:hour PTTL %v: an expired old TTL was put back", d)
	}
}

// runExpire runs an expire and returns nothing: lastJournal finds it.
func (b *bulkRig) runExpire(t *testing.T, pattern string, ttl time.Duration) {
	t.Helper()
	opt := b.opts(OpExpire, pattern)
	opt.TTL = ttl
	if rep, err := RunBulk(context.Background(), b.reader, b.writer, opt, nil); err != nil || !rep.OK() {
		t.Fatalf("expire: %+v %v", rep, err)
	}
}

// lastJournal is the newest bulk (not restore) journal in b.dir.
func (b *bulkRig) lastJournal(t *testing.T) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(b.dir, "bulk-*.journal.jsonl"))
	var last string
	for _, p := range m {
		if !strings.Contains(p, "-restore") && p > last {
			last = p
		}
	}
	return last
}

// commandCalls reads calls=N of one command from INFO commandstats.
func (b *bulkRig) commandCalls(t *testing.T, name string) int64 {
	t.Helper()
	info := b.admin.Info(context.Background(), "commandstats").Val()
	for _, l := range strings.Split(info, "\n") {
		if strings.HasPrefix(l, "cmdstat_"+name+":calls=") {
			var n int64
			for _, c := range strings.TrimPrefix(l, "cmdstat_"+name+":calls=") {
				if c < '0' || c > '9' {
					break
				}
				n = n*10 + int64(c-'0')
			}
			return n
		}
	}
	return 0
}

// TestUndoPersist: a persist run records the TTLs it removed; keys that
// had none are not touched by the undo.
func TestUndoPersist(t *testing.T) {
	ctx := context.Background()
	b := newBulkRig(t)
	a := b.admin
	a.Set(ctx, "p:ttl", "v", time.Hour)
	a.Set(ctx, "p:none", "v", 0)
	rep, err := RunBulk(ctx, b.reader, b.writer, b.opts(OpPersist, "p:*"), nil)
	if err != nil || rep.Applied != 1 || rep.Unchanged != 1 {
		t.Fatalf("persist: %+v %v", rep, err)
	}
	j := readJournal(t, rep.Journal)
	if len(j.Prev) != 1 || j.Prev[0].Key != "p:ttl" || j.Prev[0].PTTLms < 3590_000 || !slices.Equal(j.Unchanged, []string{"p:none"}) {
		t.Fatalf("journal: prev %+v unchanged %q", j.Prev, j.Unchanged)
	}
	// The PTTL told "no TTL" from "gone": no EXISTS was needed.
	if n := b.commandCalls(t, "exists"); n != 0 {
		t.Fatalf("%d EXISTS sent", n)
	}
	a.Expire(ctx, "p:none", time.Minute) // changed since by someone else: not the undo's business
	res, err := Restore(ctx, b.writer, rep.Journal, RestoreOptions{JournalDir: b.dir})
	if err != nil || res.Restored != 1 || res.Keys != 1 || !res.OK() {
		t.Fatalf("undo: %+v %v", res, err)
	}
	if d := a.PTTL(ctx, "p:ttl").Val(); d < 3590*time.Second || d > time.Hour {
		t.Fatalf("p:ttl PTTL %v", d)
	}
	if d := a.PTTL(ctx, "p:none").Val(); d <= 0 || d > time.Minute {
		t.Fatalf("p:none PTTL %v: the undo touched it", d)
	}
}

// TestUndoRefusals: journals that cannot be undone say why, and send
// nothing.
func TestUndoRefusals(t *testing.T) {
	ctx := context.Background()
	b := newBulkRig(t)
	b.set(t, "d:1")
	rep, err := RunBulk(ctx, b.reader, b.writer, b.opts(OpDelete, "d:*"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, b.writer, rep.Journal, RestoreOptions{}); err == nil || !strings.Contains(err.Error(), "from its backup file") {
		t.Fatalf("undo of a delete: %v", err)
	}
	b.set(t, "e:1")
	b.runExpire(t, "e:*", time.Hour)
	path := b.lastJournal(t)
	if _, err := Restore(ctx, b.writer, path, RestoreOptions{Replace: true}); err == nil || !strings.Contains(err.Error(), "--replace goes with a backup") {
		t.Fatalf("undo with replace: %v", err)
	}
	// A journal from before undo records: nothing to go by.
	raw, _ := os.ReadFile(path)
	var kept []string
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if i := strings.Index(l, `,"prev_pttl_ms"`); i > 0 {
			l = l[:i] + "}"
		}
		kept = append(kept, l)
	}
	old := filepath.Join(t.TempDir(), "old.jsonl")
	os.WriteFile(old, []byte(strings.Join(kept, "\n")+"\n"), 0o600)
	if _, err := Restore(ctx, b.writer, old, RestoreOptions{}); err == nil || !strings.Contains(err.Error(), "no previous TTLs") {
		t.Fatalf("old journal: %v", err)
	}
	if d := b.admin.PTTL(ctx, "e:1").Val(); d < 59*time.Minute {
		t.Fatalf("e:1 PTTL %v: a refused undo changed it", d)
	}
	if _, err := FileKind(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("FileKind of a missing file")
	}
}
