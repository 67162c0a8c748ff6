package redisinfo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"redtop/conn"
)

// clusterInfo is one cluster node's INFO: role, keys, memory and counters.
func clusterInfo(run, role string, keys, used, maxmem, clients, ops, hits int64) Info {
	return info("run_id:"+run, "cluster_enabled:1", "redis_mode:cluster", "role:"+role,
		fmt.Sprintf("db0:keys=%d,expires=0,avg_ttl=0", keys),
		fmt.Sprintf("used_memory:%d", used), fmt.Sprintf("maxmemory:%d", maxmem),
		fmt.Sprintf("connected_clients:%d", clients),
		fmt.Sprintf("total_commands_processed:%d", ops),
		fmt.Sprintf("keyspace_hits:%d", hits), "keyspace_misses:0")
}

// TestClusterIsSummedOverMasters: every node is polled and listed, in the
// poll's order, but keys, memory and rates add up the masters only;
// memory pressure is the worst node's, connections count on every node.
func TestClusterIsSummedOverMasters(t *testing.T) {
	m1 := &ClusterNode{ID: "m1", Addr: "m1:1", Role: "master", SlotCount: 8192, LinkState: "connected"}
	r1 := &ClusterNode{ID: "r1", Addr: "r1:1", Role: "replica", MasterID: "m1", LinkState: "connected"}
	m2 := &ClusterNode{ID: "m2", Addr: "m2:1", Role: "master", SlotCount: 8192, LinkState: "connected"}
	r2 := &ClusterNode{ID: "r2", Addr: "r2:1", Role: "replica", MasterID: "m2", LinkState: "disconnected", Flags: []string{"pfail"}}
	round := func(sec float64, ops int64) []NodeSample {
		return []NodeSample{
			{Node: "m1:1", At: at(sec), ClusterNode: m1, Info: clusterInfo("a", "master", 100, 1000, 0, 5, ops, ops/2)},
			{Node: "r1:1", At: at(sec), ClusterNode: r1, Info: clusterInfo("b", "slave", 100, 900, 1000, 2, ops/2, 0)},
			{Node: "m2:1", At: at(sec), ClusterNode: m2, Info: clusterInfo("c", "master", 50, 2000, 0, 7, ops, ops/2)},
			{Node: "r2:1", At: at(sec), ClusterNode: r2, Err: errors.New("i/o timeout")},
		}
	}
	tr := NewTracker(60)
	tr.Add(round(0, 1000))
	s := tr.Add(round(1, 2000))
	if k := s.Keyspace[0].Keys; k != 150 {
		t.Errorf("keys %d, want 150: the masters' (replicas hold copies)", k)
	}
	if s.Memory.Used != 3000 || s.Memory.Percent != 90 {
		t.Errorf("memory used %d (want 3000, masters), percent %.0f (want 90, the worst node)", s.Memory.Used, s.Memory.Percent)
	}
	if !near(s.Last.Ops, 2000) || !near(s.Last.Hits, 1000) {
		t.Errorf("ops %.0f/s hits %.0f/s, want 2000 and 1000: the masters' deltas", s.Last.Ops, s.Last.Hits)
	}
	if s.Clients.Connected != 14 {
		t.Errorf("clients %d, want 14: connections to every node", s.Clients.Connected)
	}
	if s.Replication.Role != "master" || s.Replication.MasterAddr != "" {
		t.Errorf("replication %+v: a cluster is not a replica", s.Replication)
	}
	var got []string
	for _, n := range s.Nodes {
		got = append(got, fmt.Sprintf("%s %s %v %d %s %s", n.Addr, n.Role, n.Counted, n.Slots, n.Link, strings.Join(n.Flags, ",")))
	}
	want := []string{"m1:1 master true 8192 connected ", "r1:1 replica false 0 connected ", "m2:1 master true 8192 connected ", "r2:1 replica false 0 disconnected pfail"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("nodes\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r := s.Nodes[1]; !near(r.Ops, 500) || r.MemLevel != Crit || r.Keys != 100 {
		t.Errorf("the replica's own line: %+v", r)
	}
	if r := s.Nodes[3]; r.Err != "i/o timeout" || !r.Failing() || r.Used != 0 {
		t.Errorf("a node that never answered: %+v", r)
	}
}

// TestFailoverMovesTheSums: after a failover the promoted replica counts
// and the demoted master does not; the windows go on.
func TestFailoverMovesTheSums(t *testing.T) {
	tr := NewTracker(60)
	a, b := "a:1", "b:1"
	tr.Add([]NodeSample{
		{Node: a, At: at(0), Info: clusterInfo("ra", "master", 10, 100, 0, 1, 1000, 0)},
		{Node: b, At: at(0), Info: clusterInfo("rb", "slave", 10, 100, 0, 1, 500, 0)},
	})
	s := tr.Add([]NodeSample{
		{Node: a, At: at(1), Info: clusterInfo("ra", "slave", 10, 100, 0, 1, 1100, 0)},
		{Node: b, At: at(1), Info: clusterInfo("rb", "master", 10, 100, 0, 1, 800, 0)},
	})
	if s.Keyspace[0].Keys != 10 || !near(s.Last.Ops, 300) || s.ResetReason != "" {
		t.Fatalf("after the failover: keys %d, ops %.0f (want 10 and b's 300), reset %q", s.Keyspace[0].Keys, s.Last.Ops, s.ResetReason)
	}
	// A replica that restarts leaves the cluster's windows alone.
	s = tr.Add([]NodeSample{
		{Node: a, At: at(2), Info: clusterInfo("ra2", "slave", 10, 100, 0, 1, 3, 0)},
		{Node: b, At: at(2), Info: clusterInfo("rb", "master", 10, 100, 0, 1, 900, 0)},
	})
	if s.ResetReason != "" || !near(s.Last.Ops, 100) {
		t.Fatalf("a replica's restart: reset %q, ops %.0f", s.ResetReason, s.Last.Ops)
	}
}

// TestNodeTrackerCountsAReplica: one node's own tracker sums that node,
// replica or not.
func TestNodeTrackerCountsAReplica(t *testing.T) {
	tr := NewNodeTracker(60)
	tr.Feed([]NodeSample{{Node: "r:1", At: at(0), Info: clusterInfo("r", "slave", 42, 100, 0, 3, 100, 0)}})
	tr.Feed([]NodeSample{{Node: "r:1", At: at(1), Info: clusterInfo("r", "slave", 42, 100, 0, 3, 150, 0)}})
	s := tr.Snapshot()
	if s.Keyspace[0].Keys != 42 || !near(s.Last.Ops, 50) || s.Replication.Role != "slave" {
		t.Fatalf("replica's own snapshot: keys %d ops %.0f role %q", s.Keyspace[0].Keys, s.Last.Ops, s.Replication.Role)
	}
}

func TestReportListsClusterNodes(t *testing.T) {
	tr := NewTracker(60)
	m := &ClusterNode{Addr: "m:1", Role: "master", SlotCount: 16384, LinkState: "connected"}
	r := &ClusterNode{Addr: "r:1", Role: "replica", LinkState: "connected", Flags: []string{"fail"}}
	ci := &ClusterInfo{State: "ok", SlotsOK: 16384}
	for i := range 2 {
		tr.Add([]NodeSample{
			{Node: "m:1", At: at(float64(i)), ClusterNode: m, Cluster: ci, Info: clusterInfo("m", "master", 7, 100, 0, 1, int64(i*10), 0)},
			{Node: "r:1", At: at(float64(i)), ClusterNode: r, Err: errors.New("refused")},
		})
	}
	rep := NewReport(tr.Add(nil))
	if rep.Nodes != 2 || rep.Masters != 1 || len(rep.NodeList) != 2 {
		t.Fatalf("nodes %d masters %d list %+v", rep.Nodes, rep.Masters, rep.NodeList)
	}
	if n := rep.NodeList[0]; n.Role != "master" || !n.InSums || n.Slots != 16384 || n.Link != "connected" || n.Keys != 7 || n.OpsPerSec != 10 {
		t.Errorf("master entry %+v", n)
	}
	if n := rep.NodeList[1]; n.Role != "replica" || n.InSums || n.Error != "refused" || len(n.Flags) != 1 {
		t.Errorf("replica entry %+v", n)
	}
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"over 2 nodes; sums over the 1 masters", "node m:1", "master, 16384 slots, 7 keys", "no reply: refused"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
	if single := NewReport(NewTracker(60).Add(one("a", at(0), stats("r", 0, 0, 0)))); single.NodeList != nil || single.Masters != 0 {
		t.Errorf("a single server has a node list: %+v", single.NodeList)
	}
}

func TestUpdateNodesKeepsClients(t *testing.T) {
	target := conn.Target{Network: "tcp", Addr: "a:1", Timeout: time.Second}
	have := NodesFor(target, []ClusterNode{{Addr: "a:1", Role: "master"}, {Addr: "b:1", Role: "replica"}})
	got := UpdateNodes(target, have, []ClusterNode{{Addr: "b:1", Role: "master", SlotCount: 3}, {Addr: "c:1", Role: "replica"}})
	if got[0].Client != have[1].Client || got[0].ClusterNode.Role != "master" || got[0].ClusterNode.SlotCount != 3 {
		t.Errorf("b kept? %+v", got[0])
	}
	if got[1].Client == nil || got[1].Client == have[0].Client || got[1].Addr != "c:1" {
		t.Errorf("c: %+v", got[1])
	}
	p := NewPoller(have, nil, time.Second)
	p.SetNodes(got)
	if err := have[0].Client.Ping(t.Context()).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("a's client not closed: %v", err)
	}
	p.Close()
}

func TestWatcherCheckKicksOnSigns(t *testing.T) {
	now := time.Unix(1000, 0)
	w := NewClusterWatcher(conn.Target{Addr: "a:1"}, nil, time.Minute, nil)
	defer w.Close()
	w.now = func() time.Time { return now }
	w.last = now
	master := &ClusterNode{Addr: "a:1", Role: "master"}
	failed := &ClusterNode{Addr: "b:1", Role: "master", Flags: []string{"fail"}}
	fresh := func() { w.kicked, w.last = false, now.Add(-time.Minute+time.Second) }

	if w.Check([]NodeSample{{ClusterNode: master, Info: info("role:slave")}}) {
		t.Error("checked within kickGap of a discovery")
	}
	now = now.Add(kickGap)
	fresh()
	if w.Check([]NodeSample{{ClusterNode: master, Info: info("role:master")}, {ClusterNode: failed, Err: errors.New("refused")}}) {
		t.Error("kicked by a healthy round, or by a node the cluster already marks failed")
	}
	if !w.Check([]NodeSample{{ClusterNode: master, Info: info("role:slave")}}) || !w.Due(now) {
		t.Error("a replica the cluster calls master did not ask for a discovery")
	}
	fresh()
	if !w.Check([]NodeSample{{ClusterNode: master, Err: errors.New("connection refused")}}) {
		t.Error("an unreachable healthy node did not ask for a discovery")
	}
}

func TestChangeLevels(t *testing.T) {
	for k, want := range map[ChangeKind]Level{
		NodeAdded: OK, NodeRemoved: Warn, RoleChanged: Warn, MasterChanged: Warn,
		NodeFailed: Crit, NodeRecovered: OK, SlotsChanged: OK,
	} {
		if got := (ClusterChange{Kind: k}).Level(); got != want {
			t.Errorf("%v: %v, want %v", k, got, want)
		}
	}
	// A slotless master becoming a replica is a cluster being formed, not
	// a failover.
	setup := ClusterChange{Kind: RoleChanged, Old: ClusterNode{Role: "master"},
		Node: ClusterNode{Addr: "127.0.0.1:7004", Role: "replica", MasterID: "0123456789abcdef"}}
	if setup.Level() != OK || setup.String() != "127.0.0.1:7004 is now a replica of 01234567 (was a master without slots)" {
		t.Errorf("setup: %v %q", setup.Level(), setup)
	}
	setup.Old.SlotCount = 5461
	if setup.Level() != Warn || !strings.HasSuffix(setup.String(), ": failover") {
		t.Errorf("a master with slots demoted: %v %q", setup.Level(), setup)
	}
	if got := InfoRole(info("role:slave")); got != "replica" {
		t.Errorf("InfoRole %q", got)
	}
}

// TestFailedNodeRests: a node the cluster marks failed that does not
// answer is asked again only every failedRetry.
func TestFailedNodeRests(t *testing.T) {
	now := time.Unix(1000, 0)
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	trips := 0
	dead.AddHook(countHook{&trips})
	p := NewPoller([]Node{{Addr: "127.0.0.1:1", Client: dead, ClusterNode: &ClusterNode{Role: "master", Flags: []string{"fail"}}}}, nil, 100*time.Millisecond)
	defer p.Close()
	p.now = func() time.Time { return now }
	poll := func() error { return p.Poll(t.Context())[0].Err }
	if err := poll(); err == nil || errors.Is(err, errResting) || trips != 1 {
		t.Fatalf("first poll: %v, %d tries", err, trips)
	}
	now = now.Add(failedRetry - time.Second)
	if err := poll(); !errors.Is(err, errResting) || trips != 1 {
		t.Fatalf("within failedRetry: %v, %d tries", err, trips)
	}
	now = now.Add(time.Second)
	if err := poll(); errors.Is(err, errResting) || trips != 2 {
		t.Fatalf("after failedRetry: %v, %d tries", err, trips)
	}
}

type countHook struct{ n *int }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { *h.n++; return next(ctx, cmd) }
}
func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { *h.n++; return next(ctx, cmds) }
}
