package keys

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/conn"
	"redtop/internal/redisproc"
	"redtop/redisinfo"
)

func TestSlot(t *testing.T) {
	for i := 0; i < 5000; i++ {
		for _, k := range []string{fmt.Sprintf("key:%d", i), fmt.Sprintf("{user%d}:a", i%50), fmt.Sprintf("a{}b%d", i), fmt.Sprintf("x{%d", i)} {
			if got, want := Slot(k), redisproc.KeySlot(k); got != want {
				t.Fatalf("Slot(%q) = %d, want %d", k, got, want)
			}
		}
	}
	if Slot("{user1000}.following") != Slot("{user1000}.followers") || Slot("foo") != 12182 {
		t.Fatal("hash tags or the reference slot of foo")
	}
	keys := []string{"{a}1", "{b}1", "{a}2", "{c}1", "{b}2", "{a}3"}
	got := groupBySlot(keys)
	want := [][]string{{"{a}1", "{a}2", "{a}3"}, {"{b}1", "{b}2"}, {"{c}1"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("groupBySlot %q, want %q", got, want)
	}
	if one := groupBySlot([]string{"{a}1", "{a}2"}); len(one) != 1 || len(one[0]) != 2 {
		t.Fatalf("one slot: %q", one)
	}
}

func TestParseRedirect(t *testing.T) {
	for _, c := range []struct {
		in   string
		want redirect
		ok   bool
	}{
		{"MOVED 3999 127.0.0.1:6381", redirect{Slot: 3999, Addr: "127.0.0.1:6381"}, true},
		{"ASK 12 10.0.0.2:7000", redirect{Ask: true, Slot: 12, Addr: "10.0.0.2:7000"}, true},
		{"MOVED 3999 :6381", redirect{Slot: 3999, Addr: ":6381"}, true},
		{"MOVED 99999 127.0.0.1:1", redirect{}, false},
		{"ERR MOVED 1 x", redirect{}, false},
		{"CLUSTERDOWN The cluster is down", redirect{}, false},
	} {
		got, ok := parseRedirect(bulkReplyError(c.in))
		if ok != c.ok || got != c.want {
			t.Errorf("parseRedirect(%q) = %+v %v, want %+v %v", c.in, got, ok, c.want, c.ok)
		}
	}
	if _, ok := parseRedirect(errors.New("MOVED 1 127.0.0.1:1")); ok {
		t.Error("a transport error read as a redirect")
	}
}

func TestFailoverKind(t *testing.T) {
	for _, c := range []struct {
		err  error
		want failKind
	}{
		{nil, notFailover},
		{context.Canceled, notFailover},
		{bulkReplyError("MOVED 1 127.0.0.1:2"), nodeDemoted},
		{fmt.Errorf("SCAN: %w", &demotedError{node: "a"}), nodeDemoted},
		{bulkReplyError("READONLY You can't write against a read only replica."), nodeDemoted},
		{fmt.Errorf("x: %w", bulkReplyError("CLUSTERDOWN The cluster is down")), clusterDown},
		{bulkReplyError("NOPERM no"), notFailover},
		{&batchError{Err: errors.New("EOF")}, nodeLost},
		{fmt.Errorf("SCAN: %w", errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer")), nodeLost},
		{fmt.Errorf("%w: x", errAborted), notFailover},
	} {
		if got := failoverKind(c.err); got != c.want {
			t.Errorf("failoverKind(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// TestTreeMerge: trees of halves of a keyspace, merged, add up to the
// tree of the whole.
func TestTreeMerge(t *testing.T) {
	whole := NewTree(TreeOptions{})
	parts := []*Tree{NewTree(TreeOptions{}), NewTree(TreeOptions{}), NewTree(TreeOptions{})}
	for i := 0; i < 30000; i++ {
		var k string
		switch i % 4 {
		case 0:
			k = fmt.Sprintf("user:%d:profile", i)
		case 1:
			k = fmt.Sprintf("session:%x", i*7919)
		case 2:
			k = fmt.Sprintf("cache:page:name%d", i%400)
		default:
			k = fmt.Sprintf("single%d", i%3)
		}
		m := KeyMeta{Bytes: int64(50 + i%100), TTLKnown: true, HasTTL: i%3 == 0}
		whole.Add(k, m)
		parts[Slot(k)%3].Add(k, m)
	}
	merged := parts[0]
	merged.Merge(parts[1])
	merged.Merge(parts[2])
	if got, want := merged.Root().Total(), whole.Root().Total(); got != want {
		t.Fatalf("merged totals %+v, want %+v", got, want)
	}
	patterns := func(tr *Tree) map[string]int64 {
		out := map[string]int64{}
		for _, n := range tr.Families() {
			out[n.Pattern(":")] = n.Own().Keys
		}
		return out
	}
	got, want := patterns(merged), patterns(whole)
	for _, p := range []string{"user:*:profile", "session:*", "single0"} {
		if got[p] != want[p] || got[p] == 0 {
			t.Errorf("family %s: merged %d keys, whole %d", p, got[p], want[p])
		}
	}
	var sum int64
	for _, n := range got {
		sum += n
	}
	if sum != 30000 || merged.Nodes() > 10000 {
		t.Fatalf("families hold %d keys in %d nodes", sum, merged.Nodes())
	}
}

// clusterRig is a cluster of 3 masters with a replica each, the Cluster
// redtop opens on it, and a plain client per node for the test's own
// writes.
type clusterRig struct {
	rc     *redisproc.Cluster
	target conn.Target
	ledger *redisinfo.Ledger
	seed   *redis.Client
	dir    string
}

func newClusterRig(t *testing.T) *clusterRig {
	t.Helper()
	rc := redisproc.ClusterForTest(t, 3, 1)
	host, port, _ := strings.Cut(rc.Nodes[0].Addr(), ":")
	_ = host
	tg := conn.Target{Network: "tcp", Addr: rc.Nodes[0].Addr(), Timeout: 2 * time.Second, Cluster: true}
	_ = port
	seed := redis.NewClient(tg.Options())
	t.Cleanup(func() { seed.Close() })
	return &clusterRig{rc: rc, target: tg, ledger: redisinfo.NewLedger(), seed: seed, dir: t.TempDir()}
}

func (r *clusterRig) open(t *testing.T) *Cluster {
	t.Helper()
	cl, err := OpenCluster(context.Background(), r.seed, r.target, r.ledger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// set writes keys to the masters serving them, pipelined.
func (r *clusterRig) set(t *testing.T, cl *Cluster, keys []string, ttl time.Duration) {
	t.Helper()
	ctx := context.Background()
	by := map[string][]string{}
	for _, k := range keys {
		by[cl.Owner(k)] = append(by[cl.Owner(k)], k)
	}
	for addr, ks := range by {
		pipe := cl.Writer(addr).Pipeline()
		for _, k := range ks {
			pipe.Set(ctx, k, "v", ttl)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// all lists the keys matching pattern on every master.
func (r *clusterRig) all(t *testing.T, cl *Cluster, pattern string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, m := range cl.Masters() {
		iter := cl.Reader(m.Addr).Scan(context.Background(), 0, pattern, 1000).Iterator()
		for iter.Next(context.Background()) {
			out[iter.Val()] = true
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func (r *clusterRig) flush(t *testing.T, cl *Cluster) {
	t.Helper()
	for _, m := range cl.Masters() {
		if err := cl.Writer(m.Addr).FlushAll(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// moveSlot migrates slot and its keys from src to dst (IDs fromID,
// toID; dst at toAddr) and waits until every node agrees.
func (r *clusterRig) moveSlot(t *testing.T, slot int, src, dst *redis.Client, fromID, toID, toAddr string) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(dst.Do(ctx, "cluster", "setslot", slot, "importing", fromID).Err())
	must(src.Do(ctx, "cluster", "setslot", slot, "migrating", toID).Err())
	host, port, _ := strings.Cut(toAddr, ":")
	for {
		ks, err := src.ClusterGetKeysInSlot(ctx, slot, 1000).Result()
		must(err)
		if len(ks) == 0 {
			break
		}
		args := []any{"migrate", host, port, "", 0, 5000, "keys"}
		for _, k := range ks {
			args = append(args, k)
		}
		must(src.Do(ctx, args...).Err())
	}
	for _, c := range []*redis.Client{dst, src} {
		must(c.Do(ctx, "cluster", "setslot", slot, "node", toID).Err())
	}
	r.agree(t, slot, toAddr)
}

// agree waits until every node says addr serves slot.
func (r *clusterRig) agree(t *testing.T, slot int, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range r.rc.Nodes {
		c := redis.NewClient(&redis.Options{Addr: s.Addr(), DisableIdentity: true, Protocol: 2})
		defer c.Close()
		for {
			ranges, err := c.ClusterSlots(context.Background()).Result()
			ok := false
			for _, rg := range ranges {
				if err == nil && int(rg.Start) <= slot && slot <= int(rg.End) && len(rg.Nodes) > 0 && rg.Nodes[0].Addr == addr {
					ok = true
				}
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s does not see %s serve slot %d: %v", s.Addr(), addr, slot, ranges)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

// TestCluster runs the cluster operations against one real cluster,
// in order: the last one fails a master over.
func TestCluster(t *testing.T) {
	r := newClusterRig(t)
	ctx := context.Background()

	t.Run("scan, analyze, preview every master", func(t *testing.T) {
		cl := r.open(t)
		defer r.flush(t, cl)
		r.set(t, cl, names("user:", 6000), 0)
		r.set(t, cl, names("other:", 3000), time.Hour)
		var got []string
		var mu sync.Mutex
		st, err := ScanCluster(ctx, cl, ScanOptions{Match: "user:*", Count: 200}, func(b []string) error {
			mu.Lock()
			got = append(got, b...)
			mu.Unlock()
			return nil
		}, nil)
		if err != nil || !st.Complete || len(st.Nodes) != 3 {
			t.Fatalf("scan: %v %+v", err, st)
		}
		slices.Sort(got)
		if want := slices.Sorted(slices.Values(names("user:", 6000))); !slices.Equal(slices.Compact(got), want) {
			t.Fatalf("scan found %d keys, want 6000", len(slices.Compact(got)))
		}
		var perNode int64
		for _, n := range st.Nodes {
			if n.Scanned == 0 || n.Total <= 0 {
				t.Fatalf("node %+v scanned nothing", n)
			}
			perNode += n.Scanned
		}
		if perNode != st.Scanned {
			t.Fatalf("nodes scanned %d, total %d", perNode, st.Scanned)
		}

		var progressed bool
		rep, err := AnalyzeCluster(ctx, cl, AnalyzeOptions{Count: 100}, func(p ClusterProgress) { progressed = len(p.Nodes) == 3 })
		if err != nil {
			t.Fatal(err)
		}
		if rep.Keys.Value != 9000 || rep.DBSize != 9000 || rep.Sampled || len(rep.Nodes) != 3 || !progressed {
			t.Fatalf("analyze: keys %v dbsize %d sampled %v nodes %d", rep.Keys, rep.DBSize, rep.Sampled, len(rep.Nodes))
		}
		fam := map[string]PrefixStat{}
		for _, p := range rep.Prefixes {
			fam[p.Prefix] = p
		}
		if fam["user:*"].Keys != 6000 || fam["other:*"].Keys != 3000 || fam["other:*"].WithTTL != 3000 || fam["user:*"].WithTTL != 0 {
			t.Fatalf("families %+v", rep.Prefixes)
		}
		var nk int64
		for _, n := range rep.Nodes {
			nk += n.Keys
		}
		if nk != 9000 {
			t.Fatalf("nodes hold %d keys", nk)
		}
		// A sample stops each master at its share.
		rep, err = AnalyzeCluster(ctx, cl, AnalyzeOptions{Count: 100, Sample: 0.3}, nil)
		if err != nil || !rep.Sampled || rep.Scanned >= 9000 || rep.Keys.Value < 6000 || rep.Keys.Value > 12000 {
			t.Fatalf("sampled analyze: %v %+v", err, rep)
		}

		pv, err := PreviewCluster(ctx, cl, BulkOptions{Op: OpDelete, Pattern: "user:*"}, nil)
		if err != nil || pv.Matched != 6000 || pv.DBSize != 9000 || len(pv.Nodes) != 3 || len(pv.Samples) != PreviewSamples || pv.EstBytes <= 0 || pv.TTL.None != 6000 {
			t.Fatalf("preview: %v %+v", err, pv)
		}
	})

	t.Run("delete, expire, persist, restore across slots", func(t *testing.T) {
		cl := r.open(t)
		defer r.flush(t, cl)
		r.set(t, cl, names("k:", 5000), 0)
		r.set(t, cl, names("decoy:", 500), 0)
		r.set(t, cl, names("{tag}:", 300), 0) // one slot: one UNLINK
		opt := BulkOptions{Op: OpExpire, Pattern: "k:*", TTL: time.Hour, JournalDir: r.dir}
		rep, err := RunBulkCluster(ctx, cl, opt, nil)
		if err != nil || !rep.OK() || rep.Applied != 5000 || len(rep.Nodes) != 3 {
			t.Fatalf("expire: %v %+v", err, rep)
		}
		j := readJournal(t, rep.Journal)
		if len(j.Header.Nodes) != 3 || len(j.Applied) != 5000 || len(j.Prev) != 5000 {
			t.Fatalf("journal: nodes %v, %d applied, %d prev", j.Header.Nodes, len(j.Applied), len(j.Prev))
		}
		// Undo through the cluster: each key's TTL back to none.
		ur, err := RestoreCluster(ctx, cl, rep.Journal, RestoreOptions{JournalDir: r.dir})
		if err != nil || !ur.OK() || ur.Restored != 5000 {
			t.Fatalf("undo: %v %+v", err, ur)
		}
		if d, _ := cl.Reader(cl.Owner("k:7")).TTL(ctx, "k:7").Result(); d != -1 {
			t.Fatalf("k:7 TTL %v after undo", d)
		}

		opt = BulkOptions{Op: OpDelete, Pattern: "[k{]*", Backup: true, JournalDir: r.dir, Batch: 700}
		rep, err = RunBulkCluster(ctx, cl, opt, nil)
		if err != nil || !rep.OK() || rep.Applied != 5300 || rep.BackupKeys != 5300 {
			t.Fatalf("delete: %v %+v", err, rep)
		}
		if left := r.all(t, cl, "*"); len(left) != 500 {
			t.Fatalf("%d keys left, want the 500 decoys", len(left))
		}
		rr, err := RestoreCluster(ctx, cl, rep.Backup, RestoreOptions{JournalDir: r.dir})
		if err != nil || !rr.OK() || rr.Restored != 5300 {
			t.Fatalf("restore: %v %+v", err, rr)
		}
		if left := r.all(t, cl, "*"); len(left) != 5800 {
			t.Fatalf("%d keys after restore, want 5800", len(left))
		}
	})

	t.Run("MOVED and ASK are followed", func(t *testing.T) {
		cl := r.open(t)
		defer r.flush(t, cl)
		keys := names("{mv}:", 20)
		r.set(t, cl, keys, 0)
		slot := Slot(keys[0])
		from := cl.SlotOwner(slot)
		var to string
		var fromID, toID string
		for _, m := range cl.Masters() {
			if m.Addr == from {
				fromID = m.ID
			} else if to == "" {
				to, toID = m.Addr, m.ID
			}
		}
		src, dst := cl.Writer(from), cl.Writer(to)
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		// Half the keys migrate, the slot stays MIGRATING: the source
		// answers ASK for the ones gone.
		must(dst.Do(ctx, "cluster", "setslot", slot, "importing", fromID).Err())
		must(src.Do(ctx, "cluster", "setslot", slot, "migrating", toID).Err())
		host, port, _ := strings.Cut(to, ":")
		for _, k := range keys[:10] {
			must(src.Do(ctx, "migrate", host, port, k, 0, 5000).Err())
		}
		w, err := cl.dialNode(time.Second)(ctx, from)
		if err != nil {
			t.Fatal(err)
		}
		rt := newRouter(from, w, r.ledger, nil)
		rt.dial, rt.cluster = cl.dialNode(time.Second), true
		defer rt.close()
		out, err := rt.exchange(ctx, []rcmd{{name: "UNLINK", keys: keys[:5]}, {name: "UNLINK", keys: keys[10:15]}})
		if err != nil || out[0].err != nil || out[0].n != 5 || out[0].node != to || out[1].n != 5 || out[1].node != from || rt.moved != 1 {
			t.Fatalf("ASK: %v %+v moved %d", err, out, rt.moved)
		}
		// A transaction (delete with backup) whose keys all left: ASK for
		// each, so the whole of it goes again, ASKING first, to the node
		// importing the slot, and runs there.
		tx := func(ks ...string) rcmd {
			var c []rcmd
			for i := range ks {
				c = append(c, rcmd{name: "DUMP", keys: ks[i : i+1]}, rcmd{name: "PTTL", keys: ks[i : i+1]})
			}
			return rcmd{tx: append(c, rcmd{name: "UNLINK", keys: ks})}
		}
		out, err = rt.exchange(ctx, []rcmd{tx(keys[8:10]...)})
		if err != nil || out[0].err != nil || out[0].node != to || len(out[0].elems) != 5 || out[0].elems[4].n != 2 || out[0].elems[0].b == nil || rt.moved != 2 {
			t.Fatalf("ASK, transaction: %v %+v moved %d", err, out, rt.moved)
		}
		if _, _, err := backupReplies(keys[8:10], out[0]); err != nil {
			t.Fatal(err)
		}
		// One key left, one not: the source queues ASK for the one and
		// TRYAGAIN for the UNLINK of both; EXECABORT runs nothing, and
		// TRYAGAIN, not the ASK, is the outcome: the batch is left unsent.
		out, err = rt.exchange(ctx, []rcmd{tx(keys[7], keys[15])})
		var cd *clusterDownError
		if !errors.As(err, &cd) || out[0].state != neverSent || !strings.HasPrefix(cd.Error(), "TRYAGAIN") || rt.moved != 2 {
			t.Fatalf("split transaction: %v %+v moved %d", err, out, rt.moved)
		}
		if src.Exists(ctx, keys[15]).Val() != 1 {
			t.Fatal("an aborted transaction deleted a key") // keys[7]: the MOVED transaction below deletes it
		}
		// The slot moves for good: MOVED.
		for _, k := range keys[15:] {
			must(src.Do(ctx, "migrate", host, port, k, 0, 5000).Err())
		}
		for _, c := range []*redis.Client{dst, src} {
			must(c.Do(ctx, "cluster", "setslot", slot, "node", toID).Err())
		}
		out, err = rt.exchange(ctx, []rcmd{{name: "PTTL", keys: keys[5:6]}, {name: "PERSIST", keys: keys[5:6]}, {name: "UNLINK", keys: keys[15:]}})
		if err != nil || out[0].n != -1 || out[0].node != to || out[2].n != 5 || rt.moved != 5 {
			t.Fatalf("MOVED: %v %+v moved %d", err, out, rt.moved)
		}
		// A transaction meets MOVED for every command queued: it goes again, whole.
		out, err = rt.exchange(ctx, []rcmd{tx(keys[7])})
		if err != nil || out[0].err != nil || out[0].node != to || len(out[0].elems) != 3 || out[0].elems[2].n != 1 || rt.moved != 6 {
			t.Fatalf("MOVED, transaction: %v %+v moved %d", err, out, rt.moved)
		}
		// Back where it was, for the next tests: a migration the other
		// way, so the source bumps its epoch and every node follows.
		must(dst.Del(ctx, keys...).Err())
		must(src.Do(ctx, "cluster", "setslot", slot, "importing", toID).Err())
		must(dst.Do(ctx, "cluster", "setslot", slot, "migrating", fromID).Err())
		for _, c := range []*redis.Client{src, dst} {
			must(c.Do(ctx, "cluster", "setslot", slot, "node", fromID).Err())
		}
		r.agree(t, slot, from)
	})

	t.Run("a slot moves mid-delete: MOVED keys are sent on", func(t *testing.T) {
		cl := r.open(t)
		defer r.flush(t, cl)
		keys := names("{mv}:", 2000)
		r.set(t, cl, keys, 0)
		slot := Slot(keys[0])
		ms := cl.Masters()
		from := cl.SlotOwner(slot)
		i := slices.IndexFunc(ms, func(m ClusterMaster) bool { return m.Addr == from })
		if i != 1 {
			t.Fatalf("slot %d is on master %d", slot, i)
		}
		src, dst := cl.Writer(ms[1].Addr), cl.Writer(ms[2].Addr)
		var once sync.Once
		afterPage = func(node string) {
			if node != ms[1].Addr {
				return
			}
			once.Do(func() { r.moveSlot(t, slot, src, dst, ms[1].ID, ms[2].ID, ms[2].Addr) })
		}
		defer func() { afterPage = nil }()
		cl.Parallel = 1 // master 1 is done before master 2 scans
		rep, err := RunBulkCluster(ctx, cl, BulkOptions{Op: OpDelete, Pattern: "{mv}:*", Count: 50, Batch: 1000, JournalDir: r.dir}, nil)
		// The slot went to a master scanned after: nothing was missed,
		// but the run cannot know that; it looks again, and finds none.
		if err != nil || !rep.OK() || !rep.CaughtUp || rep.SlotsMoved != 1 || rep.Nodes[1].SlotsMoved != 1 ||
			rep.Applied != 2000 || rep.Nodes[1].Moved == 0 || len(rep.Nodes) != 4 || rep.Nodes[3].Applied != 0 {
			t.Fatalf("delete across a slot move: %v %+v", err, rep)
		}
		if left := r.all(t, cl, "{mv}:*"); len(left) != 0 {
			t.Fatalf("%d keys left", len(left))
		}
		t.Logf("master 1 deleted %d keys, %d UNLINK re-sent after MOVED; master 2 deleted %d", rep.Nodes[1].Applied, rep.Nodes[1].Moved, rep.Nodes[2].Applied)
		r.moveSlot(t, slot, dst, src, ms[2].ID, ms[1].ID, ms[1].Addr)
	})

	t.Run("a slot moves to a master already scanned: the run looks again", func(t *testing.T) {
		cl := r.open(t)
		defer r.flush(t, cl)
		ms := cl.Masters()
		tag := ""
		for i := 0; tag == ""; i++ {
			if k := fmt.Sprintf("{late%d}:", i); cl.Owner(k) == ms[2].Addr {
				tag = k
			}
		}
		keys := names(tag, 2000)
		r.set(t, cl, keys, 0)
		slot := Slot(keys[0])
		src, dst := cl.Writer(ms[2].Addr), cl.Writer(ms[1].Addr)
		var once sync.Once
		afterPage = func(node string) {
			if node == ms[2].Addr {
				once.Do(func() { r.moveSlot(t, slot, src, dst, ms[2].ID, ms[1].ID, ms[1].Addr) })
			}
		}
		defer func() { afterPage = nil }()
		cl.Parallel = 1 // master 1 is done before master 2 scans
		// A delete looks again on master 1, for that slot's keys only.
		rep, err := RunBulkCluster(ctx, cl, BulkOptions{Op: OpDelete, Pattern: tag + "*", Count: 50, Batch: 100, JournalDir: r.dir}, nil)
		afterPage = nil
		if left := r.all(t, cl, tag+"*"); err != nil || !rep.OK() || !rep.CaughtUp || rep.SlotsMoved != 1 || rep.Nodes[2].SlotsMoved != 1 || len(left) != 0 || rep.Applied != 2000 {
			t.Fatalf("%d keys left; %v %+v", len(left), err, rep)
		}
		up := rep.Nodes[len(rep.Nodes)-1]
		if len(rep.Nodes) != 4 || !up.CatchUp || up.Node != ms[1].Addr || up.Applied == 0 || up.Applied+rep.Nodes[2].Applied != 2000 {
			t.Fatalf("catch-up %+v", rep.Nodes)
		}
		j := readJournal(t, rep.Journal)
		if len(j.Applied) != 2000 || len(slices.Compact(slices.Sorted(slices.Values(j.Applied)))) != 2000 {
			t.Fatalf("journal lists %d keys deleted", len(j.Applied))
		}
		t.Logf("%d keys moved unreached, deleted by the catch-up on %s", up.Applied, up.Node)
		r.set(t, cl, keys, 0)

		// An expire looks again too, for the keys its journal does not
		// list: each key once, and the undo puts back every TTL.
		once = sync.Once{}
		afterPage = func(node string) {
			if node == ms[2].Addr {
				once.Do(func() { r.moveSlot(t, slot, src, dst, ms[2].ID, ms[1].ID, ms[1].Addr) })
			}
		}
		r.moveSlot(t, slot, dst, src, ms[1].ID, ms[2].ID, ms[2].Addr)
		cl = r.open(t)
		rep, err = RunBulkCluster(ctx, cl, BulkOptions{Op: OpExpire, TTL: time.Hour, Pattern: tag + "*", Count: 50, Batch: 100, JournalDir: r.dir}, nil)
		afterPage = nil
		if err != nil || !rep.OK() || !rep.CaughtUp || rep.SlotsMoved != 1 || rep.Applied != 2000 || rep.Nodes[len(rep.Nodes)-1].Applied == 0 {
			t.Fatalf("expire across a reshard: %v %+v", err, rep)
		}
		j = readJournal(t, rep.Journal)
		if len(j.Applied) != 2000 || len(slices.Compact(slices.Sorted(slices.Values(j.Applied)))) != 2000 || len(j.Prev) != 2000 {
			t.Fatalf("journal lists %d keys expired, %d records", len(j.Applied), len(j.Prev))
		}
		for _, p := range j.Prev {
			if p.PTTLms != PrevNoTTL {
				t.Fatalf("%s recorded with PTTL %d before: changed twice", p.Key, p.PTTLms)
			}
		}
		res, err := RestoreCluster(ctx, r.open(t), rep.Journal, RestoreOptions{JournalDir: r.dir})
		if err != nil || res.Restored != 2000 {
			t.Fatalf("undo: %v %+v", err, res)
		}
		if c := r.open(t); c.Reader(c.Owner(keys[7])).TTL(ctx, keys[7]).Val() != -1 {
			t.Fatalf("%s has a TTL after the undo", keys[7])
		}
		r.moveSlot(t, slot, dst, src, ms[1].ID, ms[2].ID, ms[2].Addr)
	})

	t.Run("a slot moves mid-delete with backup: the transactions follow", func(t *testing.T) {
		cl := r.open(t)
		defer r.flush(t, cl)
		keys := names("{mv}:", 2000)
		r.set(t, cl, keys, 0)
		r.set(t, cl, names("b:", 1000), 0)
		slot := Slot(keys[0])
		ms := cl.Masters()
		src, dst := cl.Writer(ms[1].Addr), cl.Writer(ms[2].Addr)
		var once sync.Once
		afterPage = func(node string) {
			if node != ms[1].Addr {
				return
			}
			once.Do(func() { r.moveSlot(t, slot, src, dst, ms[1].ID, ms[2].ID, ms[2].Addr) })
		}
		defer func() { afterPage = nil }()
		cl.Parallel = 1
		rep, err := RunBulkCluster(ctx, cl, BulkOptions{Op: OpDelete, Pattern: "[{b]*", Count: 50, Batch: 400, Backup: true, JournalDir: r.dir}, nil)
		if err != nil || rep.Unknown+rep.Refused+rep.NotAttempted != 0 || rep.SlotsMoved != 1 ||
			rep.Applied != 3000 || rep.BackupKeys != 3000 || rep.Nodes[1].Moved == 0 {
			t.Fatalf("delete with backup across a slot move: %v %+v", err, rep)
		}
		if left := r.all(t, cl, "*"); len(left) != 0 {
			t.Fatalf("%d keys left", len(left))
		}
		saved := map[string]bool{}
		f, err := os.Open(rep.Backup)
		if err != nil {
			t.Fatal(err)
		}
		br, err := NewBackupReader(f)
		for err == nil {
			var e BackupEntry
			if e, err = br.Next(); err == nil {
				saved[string(e.Key)] = true
			}
		}
		f.Close()
		if len(saved) != 3000 || !br.Header.Cluster {
			t.Fatalf("%d keys saved", len(saved))
		}
		t.Logf("%d transactions re-sent after MOVED", rep.Nodes[1].Moved)
		r.moveSlot(t, slot, dst, src, ms[2].ID, ms[1].ID, ms[1].Addr)
	})

	t.Run("a master fails over mid-scan", func(t *testing.T) {
		cl := r.open(t)
		victim := cl.Masters()[1]
		defer func() { r.flush(t, r.waitMasters(t)) }()
		r.set(t, cl, names("f:", 6000), 0)
		var once sync.Once
		seen := map[string]int{}
		var mu sync.Mutex
		st, err := ScanCluster(ctx, cl, ScanOptions{Count: 20}, func(b []string) error {
			mu.Lock()
			for _, k := range b {
				seen[k]++
			}
			n := len(seen)
			mu.Unlock()
			if n > 1000 {
				once.Do(func() { r.failover(t, victim.Addr) })
			}
			time.Sleep(2 * time.Millisecond) // slow enough for the failover to land mid-scan
			return nil
		}, nil)
		if err != nil || !st.Complete {
			t.Fatalf("scan through a failover: %v %+v", err, st)
		}
		if len(seen) != 6000 {
			t.Fatalf("saw %d distinct keys, want 6000: %+v", len(seen), st)
		}
		if notes := failoverNotes(st.Nodes, "the scan"); len(notes) != 1 || !strings.Contains(notes[0], victim.Addr+" failed over to ") {
			t.Fatalf("notes %q", notes)
		}
	})

	t.Run("a master fails over mid-analysis", func(t *testing.T) {
		cl := r.waitMasters(t)
		defer r.flush(t, cl)
		r.set(t, cl, names("a:", 30000), 0)
		victim := cl.Masters()[2]
		var once sync.Once
		rep, err := AnalyzeCluster(ctx, cl, AnalyzeOptions{Count: 10}, func(p ClusterProgress) {
			if p.Scanned() > 3000 {
				once.Do(func() { r.failover(t, victim.Addr) })
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if notes := failoverNotes(rep.Nodes, "the analysis"); rep.Keys.Value != 30000 || len(notes) != 1 || !strings.Contains(notes[0], victim.Addr+" failed over to ") {
			t.Fatalf("analysis through a failover: %v keys, notes %q", rep.Keys, notes)
		}
	})
}

// failoverNotes are the parts' notes on what they did again, but for a
// master that answered CLUSTERDOWN for a moment (while the nodes agree on
// a failover, another master may): its part starts over, and says so.
func failoverNotes[N interface{ Notes(string) []string }](nodes []N, what string) []string {
	var out []string
	for _, n := range nodes {
		for _, note := range n.Notes(what) {
			if !strings.Contains(note, "was unavailable during "+what+" (CLUSTERDOWN") {
				out = append(out, note)
			}
		}
	}
	return out
}

// failover sends CLUSTER FAILOVER to the replica of master.
func (r *clusterRig) failover(t *testing.T, master string) {
	t.Helper()
	if _, err := r.rc.Failover(context.Background(), master); err != nil {
		t.Error(err)
	}
}

// waitMasters opens the cluster once every node agrees on three masters
// that all say they are masters (after a failover).
func (r *clusterRig) waitMasters(t *testing.T) *Cluster {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		cl := r.open(t)
		ok := len(cl.Masters()) == 3
		for _, m := range cl.Masters() {
			ok = ok && cl.CheckMaster(context.Background(), m.Addr) == nil
		}
		for _, m := range cl.Masters() {
			r.agree(t, m.Slots[0][0], m.Addr)
		}
		if ok {
			return cl
		}
		if time.Now().After(deadline) {
			t.Fatal("the cluster did not settle")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
