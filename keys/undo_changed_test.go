package keys

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestUndoLeavesChangedKeys: an undo puts back the TTL the expire run
// replaced only where the key still has the run's TTL. A key persisted,
// given another TTL or rewritten since is left alone and reported; a key
// deleted since is reported gone; a dry run says the same and changes
// nothing; Force overwrites. The ledger books the script calls as the
// server counts them.
func TestUndoLeavesChangedKeys(t *testing.T) {
	ctx := context.Background()
	b := newBulkRig(t)
	a := b.admin
	b.set(t, "c:0", "c:1", "c:2", "c:3", "c:4", "c:5", "c:6")
	a.Set(ctx, "c:ttl", "v", time.Hour)
	opt := b.opts(OpExpire, "c:*")
	opt.TTL = 10 * time.Minute
	rep, err := RunBulk(ctx, b.reader, b.writer, opt, nil)
	if err != nil || rep.Applied != 8 {
		t.Fatalf("expire: %+v %v", rep, err)
	}
	a.Persist(ctx, "c:1")                               // persisted since
	a.Expire(ctx, "c:2", 20*time.Minute)                // another TTL
	a.Set(ctx, "c:3", "rewritten", 0)                   // rewritten: no TTL
	a.Expire(ctx, "c:4", 10*time.Minute+30*time.Second) // a TTL above the run's
	a.Del(ctx, "c:5")                                   // gone
	changed := []string{"c:1", "c:2", "c:3", "c:4"}
	ttls := func() map[string]time.Duration {
		out := map[string]time.Duration{}
		for _, k := range []string{"c:0", "c:1", "c:2", "c:3", "c:4", "c:6", "c:ttl"} {
			out[k] = a.PTTL(ctx, k).Val()
		}
		return out
	}
	before := ttls()

	dry, err := Restore(ctx, b.writer, rep.Journal, RestoreOptions{JournalDir: b.dir, DryRun: true})
	if err != nil || dry.Restored != 3 || dry.Changed != 4 || dry.Gone != 1 || dry.Keys != 8 || !dry.OK() {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if after := ttls(); !sameTTLs(before, after) {
		t.Fatalf("the dry run changed TTLs: %v, was %v", after, before)
	}

	c0 := b.counts(t)
	own0 := b.ledger.Get("n")
	res, err := Restore(ctx, b.writer, rep.Journal, RestoreOptions{JournalDir: b.dir, Node: "n", Ledger: b.ledger})
	c1 := b.counts(t)
	own1 := b.ledger.Get("n")
	if err != nil || res.Restored != 3 || res.Changed != 4 || res.Gone != 1 || !res.OK() {
		t.Fatalf("undo: %+v %v", res, err)
	}
	if got := slices.Sorted(slices.Values(res.ChangedKeys)); !slices.Equal(got, changed) {
		t.Fatalf("changed samples %q, want %q", got, changed)
	}
	after := ttls()
	for _, k := range changed {
		if d := after[k] - before[k]; d > 0 || d < -2*time.Second {
			t.Fatalf("%s: PTTL %v, was %v: the undo touched a key changed since", k, after[k], before[k])
		}
	}
	if after["c:0"] != -1 || after["c:6"] != -1 || after["c:ttl"] < 59*time.Minute {
		t.Fatalf("keys with the run's TTL were not put back: %v", after)
	}
	uj := readJournal(t, res.Journal)
	if got := slices.Sorted(slices.Values(uj.SkippedChanged)); !slices.Equal(got, changed) || len(uj.Restored) != 3 ||
		!slices.Equal(uj.SkippedGone, []string{"c:5"}) || uj.Footer.Restore.Changed != 4 {
		t.Fatalf("undo journal: changed %q restored %q gone %q", uj.SkippedChanged, uj.Restored, uj.SkippedGone)
	}
	// The ledger: the first call of the script on this server is answered
	// NOSCRIPT, then sent as EVAL; inside it, one PTTL per key, and a
	// PERSIST or PEXPIRE per key put back.
	for _, cmd := range []string{"evalsha", "eval", "pttl", "persist", "pexpire"} {
		if d, own := c1.calls[cmd]-c0.calls[cmd], own1.Calls[cmd]-own0.Calls[cmd]; d != own {
			t.Fatalf("%s: the server counted %d calls, the ledger %d", cmd, d, own)
		}
	}
	if d := c1.calls["eval"] - c0.calls["eval"]; d != 1 {
		t.Fatalf("%d EVAL, want the one after NOSCRIPT", d)
	}
	if h, m := c1.hits-c0.hits, c1.misses-c0.misses; h != own1.Hits-own0.Hits || m != own1.Misses-own0.Misses {
		t.Fatalf("server hits/misses %d/%d, ledger %d/%d", h, m, own1.Hits-own0.Hits, own1.Misses-own0.Misses)
	}

	// Again: the script is cached now (EVALSHA), and every key has
	// changed since the run, the three put back included.
	again, err := Restore(ctx, b.writer, rep.Journal, RestoreOptions{JournalDir: b.dir})
	if err != nil || again.Restored != 0 || again.Changed != 7 {
		t.Fatalf("undo again: %+v %v", again, err)
	}
	// Force: the old TTLs go back over the changes.
	forced, err := Restore(ctx, b.writer, rep.Journal, RestoreOptions{JournalDir: b.dir, Force: true})
	if err != nil || forced.Restored != 7 || forced.Changed != 7 || forced.Gone != 1 || !forced.Force {
		t.Fatalf("forced undo: %+v %v", forced, err)
	}
	for _, k := range changed {
		if d := a.PTTL(ctx, k).Val(); d != -1 {
			t.Fatalf("%s PTTL %v after --force, want none as before the run", k, d)
		}
	}
	if d := a.PTTL(ctx, "c:ttl").Val(); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("c:ttl PTTL %v after --force", d)
	}
	if _, err := Restore(ctx, b.writer, rep.Journal, RestoreOptions{JournalDir: b.dir, Force: true, Replace: true}); err == nil {
		t.Fatal("--replace with an undo")
	}
}

func sameTTLs(a, b map[string]time.Duration) bool {
	for k, x := range a {
		y := b[k]
		if (x < 0 || y < 0) && x != y || x-y > 2*time.Second || y-x > 2*time.Second {
			return false
		}
	}
	return true
}

// TestUndoPersistLeavesChangedKeys: the undo of a persist puts a TTL back
// only on keys that still have none; a key given a TTL since keeps it.
func TestUndoPersistLeavesChangedKeys(t *testing.T) {
	ctx := context.Background()
	b := newBulkRig(t)
	a := b.admin
	for _, k := range []string{"p:a", "p:b", "p:c"} {
		a.Set(ctx, k, "v", time.Hour)
	}
	rep, err := RunBulk(ctx, b.reader, b.writer, b.opts(OpPersist, "p:*"), nil)
	if err != nil || rep.Applied != 3 {
		t.Fatalf("persist: %+v %v", rep, err)
	}
	a.Expire(ctx, "p:b", 5*time.Minute) // someone sets a TTL
	a.Del(ctx, "p:c")
	res, err := Restore(ctx, b.writer, rep.Journal, RestoreOptions{JournalDir: b.dir})
	if err != nil || res.Restored != 1 || res.Changed != 1 || res.Gone != 1 || !slices.Equal(res.ChangedKeys, []string{"p:b"}) {
		t.Fatalf("undo: %+v %v", res, err)
	}
	if d := a.PTTL(ctx, "p:a").Val(); d < 59*time.Minute {
		t.Fatalf("p:a PTTL %v: its TTL was not put back", d)
	}
	if d := a.PTTL(ctx, "p:b").Val(); d > 5*time.Minute || d < 4*time.Minute {
		t.Fatalf("p:b PTTL %v: the undo overwrote a TTL set since", d)
	}
	forced, err := Restore(ctx, b.writer, rep.Journal, RestoreOptions{JournalDir: b.dir, Force: true})
	if err != nil || forced.Restored != 2 || forced.Changed != 2 {
		t.Fatalf("forced: %+v %v", forced, err)
	}
	if d := a.PTTL(ctx, "p:b").Val(); d < 59*time.Minute {
		t.Fatalf("p:b PTTL %v after --force", d)
	}
}

// TestUndoBounds: the range a key's PTTL must be in to count as still
// having what the run left.
func TestUndoBounds(t *testing.T) {
	now := time.UnixMilli(10_000_000)
	rec := func(agoMs int64, result string) PrevTTL {
		return PrevTTL{Key: "k", PTTLms: -1, AtMs: now.UnixMilli() - agoMs, Result: result}
	}
	ex := &undoRule{op: OpExpire, ttl: 600_000}
	for _, c := range []struct {
		p      PrevTTL
		lo, hi int64
	}{
		{rec(0, ResultApplied), 598_000, 600_000},
		{rec(60_000, ResultApplied), 540_000 - 2600, 540_000 + 2600},
		{rec(60_000, ResultUnknown), 540_000 - 62_600, 540_000 + 2600},
		{rec(-5000, ResultApplied), 598_000, 600_000}, // a clock gone back: no time elapsed
		{rec(3_600_000, ResultApplied), 1, -3_000_000 + 38_000},
	} {
		lo, hi := ex.bounds(c.p, now)
		if lo != c.lo || hi != c.hi {
			t.Errorf("expire, %d ms ago, %s: [%d, %d], want [%d, %d]", now.UnixMilli()-c.p.AtMs, c.p.Result, lo, hi, c.lo, c.hi)
		}
	}
	if lo, hi := (&undoRule{op: OpPersist}).bounds(rec(5000, ResultApplied), now); lo != -1 || hi != -1 {
		t.Errorf("persist: [%d, %d]", lo, hi)
	}
	if !strings.Contains(undoScript, "PTTL") || len(undoSHA) != 40 {
		t.Fatal("script")
	}
}

// TestUndoKeyMetTwice: a key the run met twice has two records, the second
// holding the TTL the run had set; the undo goes by the first.
func TestUndoKeyMetTwice(t *testing.T) {
	ctx := context.Background()
	b := newBulkRig(t)
	b.set(t, "t:1")
	b.runExpire(t, "t:*", time.Hour)
	path := b.lastJournal(t)
	raw, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	var again string
	for _, l := range lines {
		if strings.Contains(l, `"prev_pttl_ms":[-1]`) {
			again = strings.Replace(l, `"prev_pttl_ms":[-1]`, `"prev_pttl_ms":[3599990]`, 1)
		}
	}
	if again == "" {
		t.Fatalf("no record in %q", lines)
	}
	lines = append(lines[:len(lines)-1], again, lines[len(lines)-1])
	os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	if n, op, err := UndoCount(path); n != 1 || op != OpExpire || err != nil {
		t.Fatalf("UndoCount %d %s %v", n, op, err)
	}
	res, err := Restore(ctx, b.writer, path, RestoreOptions{JournalDir: b.dir})
	if err != nil || res.Keys != 1 || res.Restored != 1 || res.Changed != 0 {
		t.Fatalf("undo: %+v %v", res, err)
	}
	if d := b.admin.PTTL(ctx, "t:1").Val(); d != -1 {
		t.Fatalf("t:1 PTTL %v, want none as before the run", d)
	}
}
