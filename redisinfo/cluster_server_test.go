package redisinfo

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"redtop/conn"
	"redtop/internal/redisproc"
)

// TestClusterServer runs against one real cluster of 3 masters and 3
// replicas, shared by its subtests; the failover comes last.
func TestClusterServer(t *testing.T) {
	start := time.Now()
	c := redisproc.ClusterForTest(t, 3, 1)
	t.Logf("cluster ready in %v", time.Since(start).Round(time.Millisecond))
	ctx := context.Background()
	target := conn.Target{Network: "tcp", Addr: c.Nodes[0].Addr(), Timeout: 2 * time.Second}
	masterAddrs := []string{}
	for _, m := range c.Masters() {
		masterAddrs = append(masterAddrs, m.Addr())
	}

	if os.Getenv("REDTOP_CAPTURE") != "" {
		captureCluster(t, c)
	}

	t.Run("discover", func(t *testing.T) {
		ledger := NewLedger()
		seedAddr := c.Replicas()[1].Addr()
		seed := redis.NewClient(target.ForNode(seedAddr).Options())
		defer seed.Close()
		nodes, err := DiscoverCluster(ctx, seed, target, ledger)
		if err != nil {
			t.Fatal(err)
		}
		checkLayout(t, nodes)
		var got []string
		for _, m := range Masters(nodes) {
			got = append(got, m.Addr)
		}
		if !slices.Equal(got, masterAddrs) {
			t.Errorf("masters %v, want %v", got, masterAddrs)
		}
		info := Parse(seed.Info(ctx, "commandstats", "cluster").Val())
		if !IsCluster(info) {
			t.Error("IsCluster is false on a cluster node")
		}
		if own, server := ledger.Get(seedAddr).Calls["cluster|shards"], info.Commands["cluster|shards"].Calls; own != 1 || server != own {
			t.Errorf("ledger booked %d CLUSTER SHARDS, server counted %d", own, server)
		}
	})

	t.Run("cluster info", func(t *testing.T) {
		ledger := NewLedger()
		cl := redis.NewClient(target.ForNode(target.Addr).Options())
		defer cl.Close()
		ci, err := FetchClusterInfo(ctx, cl, target.Addr, ledger)
		if err != nil {
			t.Fatal(err)
		}
		if ci.State != "ok" || ci.Level() != OK || ci.KnownNodes != 6 || ci.Size != 3 || ci.SlotsOK != 16384 {
			t.Errorf("%+v", ci)
		}
		if ledger.Get(target.Addr).Calls["cluster|info"] != 1 {
			t.Error("CLUSTER INFO not booked")
		}
	})

	t.Run("keyspace over masters", func(t *testing.T) {
		cc := redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: []string{target.Addr}, Protocol: 2, DisableIdentity: true,
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
			ReadTimeout:              2 * time.Second, WriteTimeout: 2 * time.Second,
		})
		defer cc.Close()
		const n = 300
		for i := range n {
			if err := cc.Set(ctx, "k:"+strconv.Itoa(i), "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		seed := redis.NewClient(target.ForNode(target.Addr).Options())
		defer seed.Close()
		nodes, err := DiscoverCluster(ctx, seed, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		var want int64
		for _, m := range Masters(nodes) {
			cl := redis.NewClient(target.ForNode(m.Addr).Options())
			k, err := cl.DBSize(ctx).Result()
			cl.Close()
			if err != nil {
				t.Fatal(err)
			}
			if k == 0 || k == n {
				t.Errorf("%s holds %d of %d keys: not spread", m.Addr, k, n)
			}
			want += k
		}
		p := NewPoller(NodesFor(target, Masters(nodes)), NewLedger(), 2*time.Second)
		defer p.Close()
		snap := NewTracker(60).Add(p.Poll(ctx))
		if got := snap.Keyspace[0].Keys; got != want || want != n {
			t.Errorf("snapshot keys %d, sum over masters %d, written %d", got, want, n)
		}
		if len(snap.Nodes) != 3 || snap.Server.Mode != "cluster" {
			t.Errorf("nodes %v mode %q", snap.Nodes, snap.Server.Mode)
		}
		// Replicas hold copies: polling every node counts each key twice
		// in the summed keyspace.
		all := NewPoller(NodesFor(target, nodes), nil, 2*time.Second)
		defer all.Close()
		if got := NewTracker(60).Add(all.Poll(ctx)).Keyspace[0].Keys; got != 2*want {
			t.Logf("all nodes: %d keys (masters %d)", got, want)
		}
	})

	t.Run("failover", func(t *testing.T) {
		seed := redis.NewClient(target.ForNode(target.Addr).Options())
		nodes, err := DiscoverCluster(ctx, seed, target, nil)
		seed.Close()
		if err != nil {
			t.Fatal(err)
		}
		w := NewClusterWatcher(target, nodes, 100*time.Millisecond, NewLedger())
		defer w.Close()
		rctx, cancel := context.WithCancel(ctx)
		updates := make(chan ClusterUpdate, 16)
		done := make(chan struct{})
		go func() { defer close(done); w.Run(rctx, func(u ClusterUpdate) { updates <- u }) }()
		defer func() { cancel(); <-done }()

		promoted := c.Replicas()[0].Addr()
		demoted := c.Masters()[0].Addr()
		r := redis.NewClient(target.ForNode(promoted).Options())
		defer r.Close()
		began := time.Now()
		if err := r.ClusterFailover(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		seen := map[string]string{}
		deadline := time.After(10 * time.Second)
		for seen[promoted] != "master" || seen[demoted] != "replica" {
			select {
			case u := <-updates:
				for _, ch := range u.Changes {
					t.Logf("%v after %v", ch, time.Since(began).Round(time.Millisecond))
					if ch.Kind == RoleChanged {
						seen[ch.Node.Addr] = ch.Node.Role
					}
				}
			case <-deadline:
				t.Fatalf("no failover reported; seen %v, nodes %+v", seen, w.Nodes())
			}
		}
	})

	if os.Getenv("REDTOP_CAPTURE") != "" {
		captureFailed(t, c)
	}
}

// captureFailed kills a master and saves the views of the cluster while
// it is marked failed, before and after its replica takes over.
func captureFailed(t *testing.T, c *redisproc.Cluster) {
	ctx := context.Background()
	cl := redis.NewClient(&redis.Options{Addr: c.Nodes[1].Addr(), Protocol: 2, DisableIdentity: true})
	defer cl.Close()
	c.Masters()[2].Kill()
	deadline := time.Now().Add(15 * time.Second)
	var pfail, fail bool
	for time.Now().Before(deadline) && !fail {
		text := cl.ClusterNodes(ctx).Val()
		info := cl.ClusterInfo(ctx).Val()
		switch {
		case !pfail && strings.Contains(text, "fail?"):
			pfail = true
			os.WriteFile("testdata/cluster-nodes-pfail.txt", []byte(text), 0o644)
			os.WriteFile("testdata/cluster-info-pfail.txt", []byte(info), 0o644)
		case strings.Contains(text, ",fail "):
			fail = true
			os.WriteFile("testdata/cluster-nodes-fail.txt", []byte(text), 0o644)
			os.WriteFile("testdata/cluster-info-fail.txt", []byte(info), 0o644)
			v, _ := cl.Do(ctx, "cluster", "shards").Slice()
			b, _ := json.MarshalIndent(v, "", " ")
			os.WriteFile("testdata/cluster-shards-fail.json", append(b, '\n'), 0o644)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !fail {
		t.Error("capture: no node marked fail")
	}
}

// checkLayout: 3 masters with a third of the slots each, each with one
// replica, masters first.
func checkLayout(t *testing.T, nodes []ClusterNode) {
	t.Helper()
	if len(nodes) != 6 {
		t.Fatalf("%d nodes: %+v", len(nodes), nodes)
	}
	ids := map[string]bool{}
	total := 0
	for i, n := range nodes {
		if n.ID == "" || n.Addr == "" || n.Failing() {
			t.Errorf("node %d: %+v", i, n)
		}
		if n.Master() {
			ids[n.ID] = true
			total += n.SlotCount
			if n.SlotCount < 5461 || n.SlotCount > 5462 || len(n.Slots) != 1 {
				t.Errorf("master %s slots %v (%d)", n.Addr, n.Slots, n.SlotCount)
			}
		}
	}
	if total != 16384 || len(ids) != 3 {
		t.Errorf("%d masters serve %d slots", len(ids), total)
	}
	for i, n := range nodes {
		wantMaster := i%2 == 0
		if n.Master() != wantMaster {
			t.Errorf("node %d %s role %s: want masters each followed by its replica", i, n.Addr, n.Role)
		}
		if !n.Master() && (n.MasterID != nodes[i-1].ID || n.Role != "replica") {
			t.Errorf("replica %s follows %q, want %q", n.Addr, n.MasterID, nodes[i-1].ID)
		}
	}
}

// captureCluster saves the raw replies the parser tests read. Run with
// REDTOP_CAPTURE=1 to refresh them.
func captureCluster(t *testing.T, c *redisproc.Cluster) {
	ctx := context.Background()
	cl := redis.NewClient(&redis.Options{Addr: c.Nodes[0].Addr(), Protocol: 2, DisableIdentity: true})
	defer cl.Close()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join("testdata", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cluster-nodes.txt", cl.ClusterNodes(ctx).Val())
	write("cluster-info.txt", cl.ClusterInfo(ctx).Val())
	v, err := cl.Do(ctx, "cluster", "shards").Slice()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(v, "", " ")
	write("cluster-shards.json", string(b)+"\n")
	if !strings.Contains(cl.Info(ctx, "server").Val(), "redis_version:") {
		t.Fatal("no INFO")
	}
}
