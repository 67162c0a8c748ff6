package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/dustin/go-humanize"
	"github.com/redis/go-redis/v9"
	"redtop/conn"
	"redtop/internal/redisproc"
	"redtop/keys"
	"redtop/ui"
)

// keysCluster is the one cluster the key commands' tests share: 3
// masters with a replica each, and a cluster client for the tests' own
// writes and checks.
type keysCluster struct {
	rc   *redisproc.Cluster
	port string // of a master at the start
	cc   *redis.ClusterClient
}

func newKeysCluster(t *testing.T) *keysCluster {
	t.Helper()
	rc := redisproc.ClusterForTest(t, 3, 1)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs(), DisableIdentity: true, Protocol: 2, ReadTimeout: 10 * time.Second})
	t.Cleanup(func() { cc.Close() })
	_, port, _ := strings.Cut(rc.Nodes[0].Addr(), ":")
	return &keysCluster{rc: rc, port: port, cc: cc}
}

// run runs redtop against the cluster: -c -p PORT args…
func (k *keysCluster) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runArgs(t, append([]string{"-c", "-p", k.port}, args...)...)
}

func (k *keysCluster) set(t *testing.T, names []string, ttl time.Duration) {
	t.Helper()
	ctx := context.Background()
	for len(names) > 0 {
		n := min(len(names), 5000)
		pipe := k.cc.Pipeline()
		for _, name := range names[:n] {
			pipe.Set(ctx, name, "v", ttl)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		names = names[n:]
	}
}

// perMaster counts the keys matching pattern on each master, by address.
func (k *keysCluster) perMaster(t *testing.T, pattern string) map[string]int {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	out := map[string]int{}
	err := k.cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		n := 0
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			n++
		}
		mu.Lock()
		out[c.Options().Addr] = n
		mu.Unlock()
		return iter.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (k *keysCluster) count(t *testing.T, pattern string) int {
	t.Helper()
	n := 0
	for _, c := range k.perMaster(t, pattern) {
		n += c
	}
	return n
}

func (k *keysCluster) flush(t *testing.T) {
	t.Helper()
	err := k.cc.ForEachMaster(context.Background(), func(ctx context.Context, c *redis.Client) error {
		return c.FlushAll(ctx).Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// failover sends CLUSTER FAILOVER to the replica of the master at addr
// and returns the replica's address.
func (k *keysCluster) failover(t *testing.T, master string) string {
	t.Helper()
	addr, err := k.rc.Failover(context.Background(), master)
	if err != nil {
		t.Error(err)
	}
	return addr
}

// masters lists the masters' addresses as the cluster client sees them.
func (k *keysCluster) masters(t *testing.T) []string {
	t.Helper()
	var mu sync.Mutex
	var out []string
	k.cc.ReloadState(context.Background())
	k.cc.ForEachMaster(context.Background(), func(ctx context.Context, c *redis.Client) error {
		mu.Lock()
		out = append(out, c.Options().Addr)
		mu.Unlock()
		return nil
	})
	return out
}

// settle waits until every node names the same master for every slot and
// those masters say they are masters: after a failover, before the next
// test.
func (k *keysCluster) settle(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for {
		views := map[string]bool{}
		ok := true
		for _, s := range k.rc.Nodes {
			c := redis.NewClient(&redis.Options{Addr: s.Addr(), DisableIdentity: true, Protocol: 2})
			ranges, err := c.ClusterSlots(ctx).Result()
			info, ierr := c.ClusterInfo(ctx).Result()
			c.Close()
			if err != nil || ierr != nil || !strings.Contains(info, "cluster_state:ok") {
				ok = false
				break
			}
			var view []string
			for _, r := range ranges {
				view = append(view, fmt.Sprintf("%d-%d@%s", r.Start, r.End, r.Nodes[0].Addr))
				m := redis.NewClient(&redis.Options{Addr: r.Nodes[0].Addr, DisableIdentity: true, Protocol: 2})
				role, rerr := m.Do(ctx, "role").Slice()
				m.Close()
				if rerr != nil || len(role) == 0 || role[0] != "master" {
					ok = false
				}
			}
			slicesSort(view)
			views[strings.Join(view, " ")] = true
		}
		if ok && len(views) == 1 {
			k.cc.ReloadState(ctx)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster did not settle: %v", views)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func slicesSort(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func seq(format string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(format, i)
	}
	return out
}

var mastersLine = regexp.MustCompile(`keys scan: ([\d,]+) keys from (\d+) masters[^:]*: (.*)`)

// TestKeysOnACluster runs the key commands against one real cluster,
// through main's wiring: `redtop -c -p PORT keys …`. The last subtests
// fail masters over.
func TestKeysOnACluster(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	k := newKeysCluster(t)

	t.Run("scan, analyze and delete cover every master", func(t *testing.T) {
		defer k.flush(t)
		k.set(t, seq("user:%d", 20000), 0)
		k.set(t, seq("other:%d", 9990), time.Hour)
		decoys := []string{"user-1", "users:1", "USER:1", "user*1", "user[1", `user\1`, "use:r", "{user}:x", "user", "xuser:1"}
		k.set(t, decoys, 0)
		per := k.perMaster(t, "user:*")
		if len(per) != 3 {
			t.Fatalf("masters %v", per)
		}

		code, out, errOut := k.run(t, "keys", "scan", "user:*")
		if code != 0 {
			t.Fatalf("scan: exit %d: %s", code, errOut)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		seen := map[string]bool{}
		for _, l := range lines {
			seen[l] = true
		}
		if len(lines) != 20000 || len(seen) != 20000 || seen["user-1"] {
			t.Fatalf("scan printed %d lines, %d distinct", len(lines), len(seen))
		}
		m := mastersLine.FindStringSubmatch(errOut)
		if m == nil || m[1] != "20,000" || m[2] != "3" {
			t.Fatalf("scan's stderr: %q", errOut)
		}
		for addr, n := range per {
			if !strings.Contains(m[3], addr+" "+humanize.Comma(int64(n))) {
				t.Fatalf("scan's count for %s is not %d: %q", addr, n, m[3])
			}
		}

		code, out, errOut = k.run(t, "keys", "analyze", "--json")
		if code != 0 {
			t.Fatalf("analyze: exit %d: %s", code, errOut)
		}
		var an struct {
			Prefixes []keys.PrefixStat
			Keys     int64
			Nodes    []keys.NodeAnalysis
		}
		if err := json.Unmarshal([]byte(out), &an); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		var sum int64
		dbsize := k.perMaster(t, "*")
		for _, n := range an.Nodes {
			sum += n.Keys
			if int64(dbsize[n.Node]) != n.Keys || !n.Complete {
				t.Fatalf("analyze: %s holds %d keys, the report says %d", n.Node, dbsize[n.Node], n.Keys)
			}
		}
		fam := map[string]int64{}
		for _, p := range an.Prefixes {
			fam[p.Prefix] = p.Keys
		}
		if an.Keys != 30000 || sum != 30000 || len(an.Nodes) != 3 || fam["user:*"] != 20000 || fam["other:*"] != 9990 {
			t.Fatalf("analyze: %d keys, nodes sum %d, families %v", an.Keys, sum, fam)
		}
		code, out, _ = k.run(t, "keys", "analyze", "--top", "3")
		if code != 0 || !strings.Contains(out, "total: 30,000 keys") || !strings.Contains(out, "3 masters, at once:") {
			t.Fatalf("analyze table: exit %d\n%s", code, out)
		}

		code, out, _ = k.run(t, "keys", "delete", "user:*", "--dry-run")
		if code != 0 || !strings.Contains(out, "delete: user:* matches 20,000 of 30,000 keys on 3 masters (66.7%") {
			t.Fatalf("dry run: exit %d\n%s", code, out)
		}
		for addr, n := range per {
			if !strings.Contains(out, fmt.Sprintf("  %s: %s of ", addr, humanize.Comma(int64(n)))) {
				t.Fatalf("dry run lacks %s's %d:\n%s", addr, n, out)
			}
		}
		if got := k.count(t, "*"); got != 30000 {
			t.Fatalf("the dry run changed something: %d keys", got)
		}

		code, out, errOut = k.run(t, "keys", "delete", "user:*", "--yes", "--batch", "300")
		if code != 0 || !strings.Contains(out, "deleted 20,000 keys matching user:*") || !strings.Contains(out, "3 masters, at once:") {
			t.Fatalf("delete: exit %d\n%s\n%s", code, out, errOut)
		}
		if n := k.count(t, "user:*"); n != 0 {
			t.Fatalf("%d user:* keys left", n)
		}
		if n := k.count(t, "*"); n != 9990+len(decoys) {
			t.Fatalf("%d keys left, want the %d others and decoys", n, 9990+len(decoys))
		}
	})

	t.Run("expire, undo, delete with backup, restore", func(t *testing.T) {
		defer k.flush(t)
		k.set(t, seq("sess:%d", 3000), 0)
		code, out, errOut := k.run(t, "keys", "expire", "sess:*", "1h", "--yes", "--json")
		if code != 0 {
			t.Fatalf("expire: exit %d: %s", code, errOut)
		}
		var res struct{ Report keys.BulkReport }
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		rep := res.Report
		var nodeSum int64
		for _, n := range rep.Nodes {
			nodeSum += n.Applied
		}
		if rep.Applied != 3000 || len(rep.Nodes) != 3 || nodeSum != 3000 {
			t.Fatalf("expire report %+v", rep)
		}
		// The journal names the masters and, line by line, the node.
		f, err := os.Open(rep.Journal)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<24)
		nodes := map[string]bool{}
		for sc.Scan() {
			var l struct {
				Type, Node string
				Nodes      []string
			}
			json.Unmarshal(sc.Bytes(), &l)
			if l.Type == "header" && len(l.Nodes) != 3 {
				t.Fatalf("journal header: %s", sc.Text())
			}
			if l.Type == "batch" {
				nodes[l.Node] = true
			}
		}
		f.Close()
		if len(nodes) != 3 || nodes[""] {
			t.Fatalf("journal lines name the nodes %v", nodes)
		}

		code, out, errOut = k.run(t, "restore", rep.Journal, "--yes")
		if code != 0 || !strings.Contains(out, "undo expire: put back the TTL of 3,000 of 3,000 keys") {
			t.Fatalf("undo: exit %d\n%s\n%s", code, out, errOut)
		}
		if d := k.cc.TTL(context.Background(), "sess:7").Val(); d != -1 {
			t.Fatalf("sess:7 TTL %v after the undo", d)
		}

		code, out, errOut = k.run(t, "keys", "delete", "sess:*", "--yes")
		if code != 0 || !strings.Contains(out, "deleted 3,000 keys") || !strings.Contains(out, "backup:") {
			t.Fatalf("delete: exit %d\n%s\n%s", code, out, errOut)
		}
		backup := regexp.MustCompile(`undo with: redtop restore (\S+)`).FindStringSubmatch(out)
		if backup == nil || k.count(t, "*") != 0 {
			t.Fatalf("delete with backup:\n%s", out)
		}
		code, out, errOut = k.run(t, "restore", backup[1])
		if code != 0 || !strings.Contains(out, "restored 3,000 of 3,000 keys") {
			t.Fatalf("restore: exit %d\n%s\n%s", code, out, errOut)
		}
		if n := k.count(t, "sess:*"); n != 3000 {
			t.Fatalf("%d keys restored", n)
		}
	})

	t.Run("bad input is one clear line", func(t *testing.T) {
		defer k.flush(t)
		k.set(t, seq("b:%d", 10), 0)
		for _, c := range []struct {
			args []string
			code int
			want string
		}{
			{[]string{"keys", "scan", "[abc"}, 2, "redtop: keys scan: bad pattern"},
			{[]string{"keys", "delete", "[abc", "--yes"}, 2, "redtop: keys delete: bad pattern"},
			{[]string{"keys", "delete", "b:*"}, 2, "refusing to delete 10 keys without confirmation"},
			{[]string{"-n", "1", "keys", "scan"}, 1, "only database 0"},
			{[]string{"restore", "/nonexistent"}, 2, "redtop: restore:"},
		} {
			code, _, errOut := k.run(t, c.args...)
			if code != c.code || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("%q: exit %d, stderr %q; want %d and %q on one line", c.args, code, errOut, c.code, c.want)
			}
		}
		if n := k.count(t, "b:*"); n != 10 {
			t.Fatalf("%d keys left", n)
		}
	})

	t.Run("the key browser walks every master", func(t *testing.T) {
		defer k.flush(t)
		k.set(t, seq("page:%d", 1500), 0)
		k.set(t, seq("item:%d", 600), time.Hour)
		k.set(t, []string{"odd\x1bkey"}, 0)
		d := browseCluster(t, k)
		d.keys("2")
		d.expect("page:", "item:", "1,500", "600", `odd\x1bkey`, "done in")
		d.keys("/", "o", "d", "d", "*", "enter")
		d.expect("match odd*", "found 1 · visited 100%")
		d.keys("enter")
		d.expect("1 shown")
		d.keys("d")
		d.expect("UNLINK")
		d.keys("y")
		d.expect("deleted")
		if n := k.count(t, "odd*"); n != 0 {
			t.Fatalf("the key is still there")
		}
		// Delete a prefix from the browser, on every master: the largest
		// node comes first, page:.
		d = browseCluster(t, k)
		d.keys("2")
		d.expect("page:", "1,500")
		d.keys("D")
		d.expect("Delete keys by pattern", "page:*")
		d.keys("enter")
		d.expect("1,500 keys match page:*")
		for _, c := range "page:*" {
			d.keys(string(c))
		}
		d.keys("enter")
		d.settle()
		d.expect("deleted: 1,500", "unknown: 0")
		if n, m := k.count(t, "page:*"), k.count(t, "item:*"); n != 0 || m != 600 {
			t.Fatalf("after the browser's delete: %d page, %d item keys", n, m)
		}
	})

	t.Run("a master fails over mid-scan", func(t *testing.T) {
		defer k.flush(t)
		k.set(t, seq("f:%d", 12000), 0)
		victim := k.masters(t)[1]
		// stdout that triggers the failover after 2,000 keys and then
		// reads slowly, so the scan is mid-way when it lands.
		var lines atomic.Int64
		var once sync.Once
		var buf bytes.Buffer
		w := writerFunc(func(p []byte) (int, error) {
			if lines.Add(int64(bytes.Count(p, []byte("\n")))) > 2000 {
				once.Do(func() { k.failover(t, victim) })
				time.Sleep(3 * time.Millisecond)
			}
			return buf.Write(p)
		})
		var errb bytes.Buffer
		code := run([]string{"-c", "-p", k.port, "keys", "scan", "f:*", "--count", "50"}, os.Stdin, w, &errb)
		if code != 0 {
			t.Fatalf("scan: exit %d: %s", code, errb.String())
		}
		seen := map[string]bool{}
		for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			seen[l] = true
		}
		if m := mastersLine.FindStringSubmatch(errb.String()); m == nil || m[1] != "12,000" {
			t.Errorf("scan's stderr counts: %q", errb.String())
		}
		if len(seen) != 12000 || !strings.Contains(errb.String(), victim+" failed over to ") || !strings.Contains(errb.String(), "rescanned from the start") {
			t.Fatalf("%d distinct keys; stderr:\n%s", len(seen), errb.String())
		}
		t.Log(strings.TrimSpace(errb.String()))
		k.settle(t)
	})

	t.Run("a master fails over mid-delete", func(t *testing.T) {
		defer k.flush(t)
		k.set(t, seq("g:%d", 15000), 0)
		k.set(t, seq("keep:%d", 300), 0)
		victim := k.masters(t)[0]
		go func() {
			time.Sleep(1200 * time.Millisecond)
			k.failover(t, victim)
		}()
		code, out, errOut := k.run(t, "keys", "delete", "g:*", "--yes", "--no-backup", "--rate", "5000", "--batch", "100")
		t.Log(out)
		if !strings.Contains(out, victim+" failed over to ") {
			t.Fatalf("exit %d, no failover reported:\n%s\n%s", code, out, errOut)
		}
		if code != 0 && !strings.Contains(out, "ended unknown") {
			t.Fatalf("exit %d:\n%s\n%s", code, out, errOut)
		}
		k.settle(t)
		if n, m := k.count(t, "g:*"), k.count(t, "keep:*"); n != 0 || m != 300 {
			t.Fatalf("after the delete: %d g: keys, %d keep: keys", n, m)
		}
		// The counts are UNLINK's: nothing counted twice.
		applied := regexp.MustCompile(`deleted ([\d,]+) keys`).FindStringSubmatch(out)
		if n, _ := strconv.Atoi(strings.ReplaceAll(applied[1], ",", "")); n > 15000 {
			t.Fatalf("deleted %d of 15,000 keys", n)
		}
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// browseCluster builds the dashboard on the cluster as App.Model would
// with the key browser enabled on a cluster.
func browseCluster(t *testing.T, k *keysCluster) *driver {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	app, err := connect(ctx, conn.Target{Network: "tcp", Addr: "127.0.0.1:" + k.port, Timeout: 2 * time.Second}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	if app.ClusterMasters != 3 {
		t.Fatalf("%d masters", app.ClusterMasters)
	}
	app.activity = newActivitySource(app, time.Minute)
	app.keys = newKeySource(app, app.Browse)
	m := ui.New(ctx, ui.Config{
		Source:   app.Poller,
		Target:   fmt.Sprintf("cluster of %d masters, panes on %s", app.ClusterMasters, app.Target),
		Interval: app.Interval,
		Explain:  func(err error) string { return conn.Explain(err, app.Target).Error() },
		Keys:     app.keys, Delimiter: ":",
		Activity: app.activity, Glob: keys.Match, MonitorLimit: time.Minute,
	})
	d := &driver{t: t, m: m, out: make(chan tea.Msg, 1024)}
	d.send(tea.WindowSizeMsg{Width: 140, Height: 40})
	d.run(d.m.Init())
	d.settle()
	return d
}
