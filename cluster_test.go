package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
	"redtop/conn"
	"redtop/internal/redisproc"
	"redtop/redisinfo"
)

var shared struct {
	once sync.Once
	c    *redisproc.Cluster
	err  error
}

// sharedCluster is a cluster of 3 masters with a replica each, started
// once for the package's tests (about 2 s) on the first call. Tests leave
// its layout as they found it (a test that fails a node over starts its
// own cluster) and write keys under names of their own. Its servers die
// with the test binary; stopSharedCluster stops them before, for a leak
// check in TestMain.
func sharedCluster(t testing.TB) *redisproc.Cluster {
	t.Helper()
	if _, err := redisproc.Binary(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	shared.once.Do(func() {
		shared.c, shared.err = redisproc.StartCluster(context.Background(), 3, 1, redisproc.Options{})
	})
	if shared.err != nil {
		t.Fatalf("start redis cluster: %v", shared.err)
	}
	return shared.c
}

// stopSharedCluster stops the shared cluster, if a test started it.
func stopSharedCluster() {
	if shared.c != nil {
		shared.c.Stop()
	}
}

// clusterKeys writes n keys named prefix:i through a cluster client.
func clusterKeys(t *testing.T, cl *redisproc.Cluster, prefix string, n int) {
	t.Helper()
	ctx := context.Background()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	defer cc.Close()
	for i := range n {
		if err := cc.Set(ctx, fmt.Sprintf("%s:%d", prefix, i), "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// dbsize is one node's DBSIZE and its role as INFO says it.
func dbsize(t *testing.T, addr string) (int64, string) {
	t.Helper()
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	n, err := c.DBSize(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n, redisinfo.InfoRole(redisinfo.Parse(c.Info(ctx, "replication").Val()))
}

// TestOnceOnACluster: pointed at any node of a Redis Cluster, redtop finds
// every node by itself, polls them all, and sums over the masters:
// replicas are listed with their role, not counted twice.
func TestOnceOnACluster(t *testing.T) {
	cl := sharedCluster(t)
	clusterKeys(t, cl, "once", 300)
	var want int64
	for _, s := range cl.Nodes {
		if n, role := dbsize(t, s.Addr()); role == "master" {
			want += n
		}
	}
	seed := cl.Nodes[len(cl.Nodes)-1] // a replica: discovery still finds the masters
	host, port, _ := strings.Cut(seed.Addr(), ":")
	code, out, errOut := runArgs(t, "-h", host, "-p", port, "--once", "--json", "--interval", "200ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		Nodes        int
		Masters      int
		UsedMemory   int64 `json:"used_memory_bytes"`
		Keyspace     map[string]struct{ Keys int64 }
		ClusterState string                 `json:"cluster_state"`
		SlotsOK      int64                  `json:"cluster_slots_ok"`
		NodeList     []redisinfo.NodeReport `json:"node_list"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.ClusterState != "ok" || rep.SlotsOK != 16384 {
		t.Fatalf("cluster state %q, slots ok %d", rep.ClusterState, rep.SlotsOK)
	}
	if rep.Nodes != 6 || rep.Masters != 3 || rep.Keyspace["db0"].Keys != want || want < 300 {
		t.Fatalf("nodes %d, masters %d, db0 keys %d; want 6 nodes polled, 3 masters summed, %d keys", rep.Nodes, rep.Masters, rep.Keyspace["db0"].Keys, want)
	}
	var keys, mem int64
	roles := map[string]int{}
	for _, n := range rep.NodeList {
		roles[n.Role]++
		if n.Link != "connected" || n.Error != "" || n.InSums != (n.Role == "master") {
			t.Errorf("node entry %+v", n)
		}
		if n.InSums {
			keys += n.Keys
			mem += n.UsedMemoryBytes
		} else if n.Slots != 0 {
			t.Errorf("replica with slots: %+v", n)
		}
	}
	if roles["master"] != 3 || roles["replica"] != 3 || keys != want || mem != rep.UsedMemory {
		t.Fatalf("roles %v, keys %d, memory %d (sum %d): the sums are the masters'", roles, keys, rep.UsedMemory, mem)
	}
	if code, _, errOut := runArgs(t, "-h", host, "-p", port, "-n", "1", "--once"); code != 1 || !strings.Contains(errOut, "only database 0") {
		t.Fatalf("-n 1 on a cluster: exit %d, %q", code, errOut)
	}
}

// TestDashboardOnACluster drives the TUI on a cluster: the overview sums
// the masters and lists every node; a node picked in the nodes table shows
// its own figures, and the clients pane lists that node's clients.
func TestDashboardOnACluster(t *testing.T) {
	cl := sharedCluster(t)
	ctx := context.Background()
	d, app := startBrowsing(t, cl.Nodes[0], 120, 40)
	d.expect("cluster via", "[overview]", "clients", "Nodes · 3 masters, 3 replicas · sums over masters",
		cl.Nodes[0].Addr(), cl.Nodes[5].Addr(), "replica", "cluster ok · slots 16,384 ok", "connected")

	// A client of one replica only, by a name nothing else uses.
	pick := cl.Nodes[4].Addr()
	name := fmt.Sprintf("only-on-%d", cl.Nodes[4].Port)
	only := redis.NewClient(&redis.Options{Addr: pick, ClientName: name})
	defer only.Close()
	if err := only.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	want, _ := dbsize(t, pick)

	row := slices.IndexFunc(app.Poller.Nodes(), func(n redisinfo.Node) bool { return n.Addr == pick })
	d.keys("n")
	for range row {
		d.keys("j")
	}
	d.keys("enter")
	top, _, _ := strings.Cut(ansi.Strip(d.screen()), "\n")
	if !strings.Contains(top, "node "+pick) {
		t.Fatalf("top bar does not name the node: %q", top)
	}
	// 500 commands on that node only, then one more poll (pause, resume):
	// its own figures count them, the cluster's sums do not (a replica).
	for range 500 {
		if err := only.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	d.keys("p", "p")
	s := d.m.Shown()
	if s.Keyspace[0].Keys != want || s.Replication.Role != "slave" || len(s.Nodes) != 1 || s.Nodes[0].Addr != pick {
		t.Fatalf("the node's own figures: keys %d (want %d), role %q, nodes %+v", s.Keyspace[0].Keys, want, s.Replication.Role, s.Nodes)
	}
	if n := s.Last.Ops * s.Last.Span.Seconds(); n < 500 {
		t.Errorf("the node's own ops: %.0f commands over %v, want at least the 500 sent to it", n, s.Last.Span)
	}
	if c := d.m.Snapshot().Last; c.Ops*c.Span.Seconds() >= 500 {
		t.Errorf("the cluster's sums count %.0f commands: the replica's are in", c.Ops*c.Span.Seconds())
	}
	d.expect(fmt.Sprintf("▶ %s · %s keys · replica of", pick, commaInt(want)))
	d.pane("clients")
	d.expect("Clients · "+pick, name)
	d.pane("overview")
	d.keys("esc")
	d.pane("clients")
	d.expect("Clients · " + cl.Nodes[0].Addr())
	if strings.Contains(ansi.Strip(d.screen()), name) {
		t.Fatalf("the seed's clients pane lists the other node's client:\n%s", ansi.Strip(d.screen()))
	}
}

// pane presses tab until the pane's tab is the focused one.
func (d *driver) pane(name string) {
	d.t.Helper()
	for range 8 {
		top, _, _ := strings.Cut(ansi.Strip(d.screen()), "\n")
		if strings.Contains(top, "["+name+"]") {
			return
		}
		d.send(tea.KeyPressMsg{Code: tea.KeyTab})
		d.settle()
	}
	d.t.Fatalf("no %s pane:\n%s", name, ansi.Strip(d.screen()))
}

func commaInt(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// TestDashboardFollowsAFailover: CLUSTER FAILOVER sent to a replica while
// the dashboard runs. The nodes table shows the new roles within a few
// polls, an event names the failover, the figures keep coming, and Close
// leaves no goroutine behind (the watcher's included).
func TestDashboardFollowsAFailover(t *testing.T) {
	cl := redisproc.ClusterForTest(t, 3, 1) // its own: the failover changes the layout
	ignore := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(context.Background())
	app, err := connect(ctx, conn.Target{Network: "tcp", Addr: cl.Nodes[0].Addr(), Timeout: 2 * time.Second}, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	d := &driver{t: t, m: app.Model(ctx), out: make(chan tea.Msg, 1024)}
	d.send(tea.WindowSizeMsg{Width: 120, Height: 40})
	d.run(d.m.Init())
	d.settle()

	promoted, demoted := cl.Replicas()[0].Addr(), cl.Masters()[0].Addr()
	role := func(s redisinfo.Snapshot, addr string) string {
		for _, n := range s.Nodes {
			if n.Addr == addr {
				return n.Role
			}
		}
		return ""
	}
	if s := d.m.Snapshot(); role(s, promoted) != "replica" || role(s, demoted) != "master" || len(s.Nodes) != 6 {
		t.Fatalf("before: %s is %q, %s is %q", promoted, role(s, promoted), demoted, role(s, demoted))
	}
	r := redis.NewClient(&redis.Options{Addr: promoted})
	defer r.Close()
	began := time.Now()
	if err := r.ClusterFailover(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	var failover string
	deadline := time.Now().Add(20 * time.Second)
	for {
		d.settle() // polls every 200 ms: settle returns after 3 s of them
		s := d.m.Snapshot()
		for _, e := range s.Events {
			if strings.Contains(e.Text, promoted+" is now master") && strings.Contains(e.Text, "failover") {
				failover = e.Text
			}
		}
		if role(s, promoted) == "master" && role(s, demoted) == "replica" && failover != "" {
			t.Logf("new roles and the event %q after %v", failover, time.Since(began).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s is %q, %s is %q, events %+v\n%s", time.Since(began).Round(time.Millisecond),
				promoted, role(s, promoted), demoted, role(s, demoted), s.Events, ansi.Strip(d.screen()))
		}
	}
	// The figures keep coming: newer samples, every node answering, live.
	at := d.m.Snapshot().At
	d.settle()
	s := d.m.Snapshot()
	if !s.At.After(at) {
		t.Fatalf("no new sample after the failover (%v)", at)
	}
	for _, n := range s.Nodes {
		if n.Err != "" {
			t.Errorf("%s: %s", n.Addr, n.Err)
		}
	}
	d.expect("● live", promoted+" is now master")
	if views := app.Poller.Nodes(); !slices.ContainsFunc(views, func(n redisinfo.Node) bool {
		return n.Addr == promoted && n.ClusterNode != nil && n.ClusterNode.Master() && n.ClusterNode.SlotCount > 0
	}) {
		t.Errorf("the poller's view of %s is not a master with slots", promoted)
	}

	app.Close() // before the context ends: Close alone stops the watcher
	goleak.VerifyNone(t, ignore,
		goleak.IgnoreAnyFunction("redtop.(*driver).run.func1"), // commands the driver left waiting on timers
	)
	cancel()
}
