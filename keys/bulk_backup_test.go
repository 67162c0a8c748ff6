package keys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/redisinfo"
)

// readBackup reads every entry of a backup file, by key (the last entry
// of a key saved twice wins) and in file order.
func readBackup(t testing.TB, path string) (map[string]BackupEntry, []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br, err := NewBackupReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]BackupEntry{}
	var order []string
	for {
		e, err := br.Next()
		if errors.Is(err, io.EOF) {
			return out, order
		}
		if err != nil {
			t.Fatal(err)
		}
		out[string(e.Key)] = e
		order = append(order, string(e.Key))
	}
}

// savedValue is the string value a backup entry holds.
func savedValue(t testing.TB, c *redis.Client, e BackupEntry) string {
	t.Helper()
	ctx := context.Background()
	c.Del(ctx, "scratch")
	if err := c.Restore(ctx, "scratch", 0, string(e.Dump)).Err(); err != nil {
		t.Fatal(err)
	}
	defer c.Del(ctx, "scratch")
	return c.Get(ctx, "scratch").Val()
}

// TestBackupTakesTheLatestValue: keys changed by another client between
// the scan and the write are saved as they are when deleted (a new value,
// a new TTL), and a key deleted meanwhile is counted gone, not saved. The
// ledger books the transaction's commands as the server counts them.
func TestBackupTakesTheLatestValue(t *testing.T) {
	ctx := context.Background()
	b := newBulkRig(t)
	a := b.admin
	b.populate(t, 300, "a")
	b.populate(t, 50, "other")

	// A clean run first: the ledger against the server's counts.
	b.populate(t, 120, "clean")
	ledger := redisinfo.NewLedger()
	opt := b.opts(OpDelete, "clean:*")
	opt.Backup, opt.Batch, opt.Ledger = true, 50, ledger
	warm(t, b.reader)
	c0 := b.counts(t)
	rep, err := RunBulk(ctx, b.reader, b.writer, opt, nil)
	c1 := b.counts(t)
	if err != nil || !rep.OK() || rep.Applied != 120 || rep.BackupKeys != 120 || rep.Batches != 3 {
		t.Fatalf("clean run: %+v %v", rep, err)
	}
	own := ledger.Get("n")
	checkBooked(t, c0, c1, own)
	if own.Calls["multi"] != 4 || own.Calls["exec"] != 3 || own.Calls["discard"] != 1 {
		t.Fatalf("MULTI %d, EXEC %d, DISCARD %d: want one transaction a batch after the check", own.Calls["multi"], own.Calls["exec"], own.Calls["discard"])
	}

	var once sync.Once
	afterPage = func(string) {
		once.Do(func() {
			a.Set(ctx, "a:7", "new", 0)
			a.PExpire(ctx, "a:8", 77*time.Minute)
			a.Del(ctx, "a:9")
		})
	}
	defer func() { afterPage = nil }()
	opt = b.opts(OpDelete, "a:*")
	opt.Backup, opt.Batch = true, 50
	rep, err = RunBulk(ctx, b.reader, b.writer, opt, nil)
	if err != nil || !rep.OK() || rep.Applied != 299 || rep.AlreadyGone != 1 || rep.BackupKeys != 299 {
		t.Fatalf("report %+v %v", rep, err)
	}
	saved, _ := readBackup(t, rep.Backup)
	if _, ok := saved["a:9"]; ok || len(saved) != 299 {
		t.Fatalf("%d keys saved, a:9 among them: %v", len(saved), ok)
	}
	if v := savedValue(t, a, saved["a:7"]); v != "new" {
		t.Fatalf("a:7 saved as %q, want its latest value", v)
	}
	if v := savedValue(t, a, saved["a:6"]); v != "value:6" {
		t.Fatalf("a:6 saved as %q", v)
	}
	if p := saved["a:8"].PTTLms; p < 76*60_000 || p > 77*60_000 {
		t.Fatalf("a:8 saved with PTTL %d, want its latest TTL", p)
	}
	j := readJournal(t, rep.Journal)
	if !slices.Equal(j.Gone, []string{"a:9"}) || len(j.Applied) != 299 {
		t.Fatalf("journal: gone %q, %d applied", j.Gone, len(j.Applied))
	}
	if b.dbsize(t) != 50 {
		t.Fatalf("dbsize %d", b.dbsize(t))
	}
}

// TestBackupIsWhatWasDeleted: another client keeps overwriting some of
// the keys (SET … XX: a key once deleted stays deleted) while a delete
// with backup runs. Each key's backup must hold the last value written
// to it: a write acknowledged before the delete is saved, none is lost
// between the save and the delete. (With the DUMP and the UNLINK in two
// round trips, writes landed in between and were lost.)
func TestBackupIsWhatWasDeleted(t *testing.T) {
	ctx := context.Background()
	b := newBulkRig(t)
	const n = 5000
	b.populate(t, n, "w")
	var hot []string
	for i := 0; i < n; i += 50 {
		hot = append(hot, "w:"+strconv.Itoa(i))
	}
	last := map[string]string{}
	for _, k := range hot {
		last[k] = "value:" + k[2:]
	}
	wc := b.rig.client(t, "", "")
	stop := make(chan struct{})
	done := make(chan struct{})
	var rounds atomic.Int64
	var acked int
	go func() {
		defer close(done)
		for gen := 0; ; gen++ {
			select {
			case <-stop:
				return
			default:
			}
			pipe := wc.Pipeline()
			cmds := make([]*redis.BoolCmd, len(hot))
			for i, k := range hot {
				cmds[i] = pipe.SetXX(ctx, k, fmt.Sprintf("gen:%d", gen), redis.KeepTTL)
			}
			pipe.Exec(ctx)
			for i, c := range cmds {
				if c.Val() {
					last[hot[i]] = fmt.Sprintf("gen:%d", gen)
					acked++
				}
			}
			rounds.Add(1)
		}
	}()
	for rounds.Load() < 10 { // the writer is going
		time.Sleep(time.Millisecond)
	}
	opt := b.opts(OpDelete, "w:*")
	opt.Backup, opt.Batch, opt.Count = true, 20, 100
	rep, err := RunBulk(ctx, b.reader, b.writer, opt, nil)
	close(stop)
	<-done
	if err != nil || !rep.OK() || rep.Applied != n || rep.BackupKeys != n {
		t.Fatalf("report %+v %v", rep, err)
	}
	if b.dbsize(t) != 0 {
		t.Fatalf("dbsize %d", b.dbsize(t))
	}
	saved, _ := readBackup(t, rep.Backup)
	var lost []string
	for _, k := range hot {
		if got := savedValue(t, b.admin, saved[k]); got != last[k] {
			lost = append(lost, fmt.Sprintf("%s saved %q, last written %q", k, got, last[k]))
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d of %d keys lost a write: %q", len(lost), len(hot), lost)
	}
	t.Logf("%d rounds of writes, %d acknowledged, during the delete", rounds.Load(), acked)
}

// TestBackupKeyTwiceInABatch: SCAN may return a key twice; in one batch
// it goes once into the transaction (saved once, UNLINK counts it once)
// and the second time counts as already gone, as an UNLINK would.
func TestBackupKeyTwiceInABatch(t *testing.T) {
	if u, d := dedupe([]string{"a", "b", "a", "c", "b", "a"}); !slices.Equal(u, []string{"a", "b", "c"}) || !slices.Equal(d, []string{"a", "b", "a"}) {
		t.Fatalf("dedupe: %q %q", u, d)
	}
	if u, d := dedupe([]string{"a", "b"}); len(u) != 2 || d != nil {
		t.Fatalf("dedupe without repeats: %q %q", u, d)
	}
	ctx := context.Background()
	b := newBulkRig(t)
	b.set(t, "a", "b")
	opt := b.opts(OpDelete, "*")
	opt.Backup = true
	opt = opt.normalize()
	files, err := openBulkFiles(opt, "test", 0, "", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	w, err := dialWriter(ctx, b.writer, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r := newBulkRun(opt, files, time.Now(), nil)
	r.rt = newRouter("n", w, nil, nil)
	defer r.rt.close()
	r.seq = 1
	if unsent, err := r.deleteWithBackup(ctx, []string{"a", "b", "a", "gone"}); err != nil || unsent != nil {
		t.Fatalf("%v, unsent %q", err, unsent)
	}
	if r.rep.Applied != 2 || r.rep.AlreadyGone != 2 {
		t.Fatalf("report %+v", r.rep)
	}
	if err := files.close(r.rep); err != nil {
		t.Fatal(err)
	}
	saved, order := readBackup(t, files.rep.Backup)
	if len(order) != 2 || len(saved) != 2 {
		t.Fatalf("backup: %q", order)
	}
	j := readJournal(t, files.rep.Journal)
	if j.AppliedCount != 2 || j.GoneCount != 2 || !slices.Equal(j.Gone, []string{"gone"}) || b.dbsize(t) != 0 {
		t.Fatalf("journal: applied %d gone %d %q", j.AppliedCount, j.GoneCount, j.Gone)
	}
}
