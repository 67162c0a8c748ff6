package redisinfo

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"redtop/conn"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readShards(t *testing.T, name string) []any {
	t.Helper()
	var v []any
	if err := json.Unmarshal([]byte(readTestdata(t, name)), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Captured from a 3 master + 3 replica cluster (REDTOP_CAPTURE=1 go test
// -run TestClusterServer): both views of the same moment must agree.
func TestParseClusterCaptured(t *testing.T) {
	fromNodes, err := ParseClusterNodes(readTestdata(t, "cluster-nodes.txt"), "")
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, fromNodes)
	fromShards, err := parseShards(readShards(t, "cluster-shards.json"), "", false)
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, fromShards)
	for i := range fromNodes {
		a, b := fromNodes[i], fromShards[i]
		if a.ID != b.ID || a.Addr != b.Addr || a.Role != b.Role || a.MasterID != b.MasterID || !slices.Equal(a.Slots, b.Slots) {
			t.Errorf("node %d:\nNODES  %+v\nSHARDS %+v", i, a, b)
		}
		if a.LinkState != "connected" || b.LinkState != "" {
			t.Errorf("link state %q / %q", a.LinkState, b.LinkState)
		}
	}
	if !fromNodes[0].HasFlag("myself") && !slices.ContainsFunc(fromNodes, func(n ClusterNode) bool { return n.HasFlag("myself") }) {
		t.Error("no myself flag")
	}
}

func TestParseClusterCapturedFail(t *testing.T) {
	for _, tc := range []struct {
		file, flag, link string
	}{
		{"cluster-nodes-pfail.txt", "pfail", "disconnected"},
		{"cluster-nodes-fail.txt", "fail", "disconnected"},
	} {
		nodes, err := ParseClusterNodes(readTestdata(t, tc.file), "")
		if err != nil {
			t.Fatal(err)
		}
		var failing []ClusterNode
		for _, n := range nodes {
			if n.Failing() {
				failing = append(failing, n)
			}
		}
		if len(failing) != 1 || !failing[0].HasFlag(tc.flag) || failing[0].LinkState != tc.link || !failing[0].Master() || failing[0].SlotCount != 5462 {
			t.Errorf("%s: failing %+v", tc.file, failing)
		}
	}
	nodes, err := parseShards(readShards(t, "cluster-shards-fail.json"), "", false)
	if err != nil {
		t.Fatal(err)
	}
	if n := slices.IndexFunc(nodes, ClusterNode.Failing); n < 0 || !nodes[n].HasFlag("fail") {
		t.Errorf("SHARDS: no failed node in %+v", nodes)
	}
}

func TestParseClusterNodesEdges(t *testing.T) {
	text := "" +
		"aaa :7000@17000 myself,master - 0 0 1 connected 0-10 12 [13->-bbb] [14-<-ccc]\n" +
		"bbb 10.0.0.2:7001@17001,host-b slave,nofailover aaa 0 0 1 connected\n" +
		"ccc 10.0.0.3:7002@17002 handshake,noaddr - 0 0 0 disconnected\n"
	nodes, err := ParseClusterNodes(text, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	want := []ClusterNode{
		{ID: "aaa", Addr: "10.0.0.1:7000", Role: "master", Slots: [][2]int{{0, 10}, {12, 12}}, SlotCount: 12, Flags: []string{"myself"}, LinkState: "connected"},
		{ID: "bbb", Addr: "10.0.0.2:7001", Role: "replica", MasterID: "aaa", Flags: []string{"nofailover"}, LinkState: "connected"},
		{ID: "ccc", Addr: "10.0.0.3:7002", Flags: []string{"handshake", "noaddr"}, LinkState: "disconnected"},
	}
	if fmt.Sprint(nodes) != fmt.Sprint(want) {
		t.Errorf("got\n%+v\nwant\n%+v", nodes, want)
	}
	for _, bad := range []string{"", "aaa 1:2@3 master", "aaa nohost master - 0 0 1 connected", "aaa :1@2 master - 0 0 1 connected 9-3"} {
		if _, err := ParseClusterNodes(bad, ""); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseShardsTLSAndUnknownEndpoint(t *testing.T) {
	v := []any{[]any{
		"slots", []any{int64(0), int64(16383)},
		"nodes", []any{
			[]any{"id", "m", "port", int64(0), "tls-port", int64(6380), "ip", "10.0.0.1", "endpoint", "?", "role", "master", "health", "online"},
			[]any{"id", "r", "port", int64(6379), "tls-port", int64(6390), "ip", "", "endpoint", "", "role", "replica", "health", "loading"},
		},
	}}
	nodes, err := parseShards(v, "seed", true)
	if err != nil {
		t.Fatal(err)
	}
	if nodes[0].Addr != "10.0.0.1:6380" || nodes[1].Addr != "seed:6390" || nodes[1].MasterID != "m" || !nodes[1].HasFlag("loading") || nodes[0].SlotCount != 16384 {
		t.Errorf("%+v", nodes)
	}
	nodes, _ = parseShards(v, "seed", false)
	if nodes[1].Addr != "seed:6379" {
		t.Errorf("plain: %s", nodes[1].Addr)
	}
	if _, err := parseShards([]any{"x"}, "", false); err == nil {
		t.Error("bad shard: no error")
	}
}

func TestClusterInfoCaptured(t *testing.T) {
	for _, tc := range []struct {
		file  string
		state string
		level Level
	}{
		{"cluster-info.txt", "ok", OK},
		{"cluster-info-pfail.txt", "ok", Warn},
		{"cluster-info-fail.txt", "fail", Crit},
	} {
		ci := ParseClusterInfo(readTestdata(t, tc.file))
		if ci.State != tc.state || ci.Level() != tc.level || ci.KnownNodes != 6 || ci.Size != 3 || ci.SlotsAssigned != 16384 {
			t.Errorf("%s: %+v level %v", tc.file, ci, ci.Level())
		}
		if ci.SlotsOK+ci.SlotsPFail+ci.SlotsFail != 16384 {
			t.Errorf("%s: slots do not add up: %+v", tc.file, ci)
		}
	}
}

func TestIsCluster(t *testing.T) {
	if IsCluster(Parse("# Cluster\r\ncluster_enabled:0\r\n")) || !IsCluster(Parse("# Cluster\r\ncluster_enabled:1\r\n")) {
		t.Error("IsCluster")
	}
}

func TestDiffCluster(t *testing.T) {
	m1 := ClusterNode{ID: "m1", Addr: "a:1", Role: "master", SlotCount: 8192}
	r1 := ClusterNode{ID: "r1", Addr: "a:2", Role: "replica", MasterID: "m1"}
	m2 := ClusterNode{ID: "m2", Addr: "a:3", Role: "master", SlotCount: 8192}
	r2 := ClusterNode{ID: "r2", Addr: "a:4", Role: "replica", MasterID: "m2"}
	base := []ClusterNode{m1, r1, m2, r2}

	promoted := r1
	promoted.Role, promoted.MasterID, promoted.SlotCount = "master", "", 8192
	demoted := m1
	demoted.Role, demoted.MasterID, demoted.SlotCount = "replica", "r1", 0
	failed := m2
	failed.Flags = []string{"fail"}
	pfail := m2
	pfail.Flags = []string{"pfail"}
	moved := r2
	moved.MasterID = "m1"
	grown := m2
	grown.SlotCount = 9000
	r3 := ClusterNode{ID: "r3", Addr: "a:5", Role: "replica", MasterID: "m2"}

	for _, tc := range []struct {
		name string
		cur  []ClusterNode
		want []string
	}{
		{"same", base, nil},
		{"failover", []ClusterNode{promoted, demoted, m2, r2}, []string{"role a:2", "role a:1"}},
		{"master fails", []ClusterNode{m1, r1, failed, r2}, []string{"failed a:3"}},
		{"pfail is no failure", []ClusterNode{m1, r1, pfail, r2}, nil},
		{"added and removed", []ClusterNode{m1, r1, m2, r3}, []string{"added a:5", "removed a:4"}},
		{"replica moves", []ClusterNode{m1, r1, m2, moved}, []string{"master a:4"}},
		{"resharding", []ClusterNode{m1, r1, grown, r2}, []string{"slots a:3"}},
	} {
		var got []string
		for _, c := range DiffCluster(base, tc.cur) {
			got = append(got, c.Kind.String()+" "+c.Node.Addr)
			if c.String() == "" {
				t.Errorf("%s: empty String", tc.name)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	if back := DiffCluster([]ClusterNode{m1, r1, failed, r2}, base); len(back) != 1 || back[0].Kind != NodeRecovered {
		t.Errorf("recovery: %v", back)
	}
	if c := DiffCluster(base, []ClusterNode{promoted, demoted, m2, r2})[0].String(); c != "a:2 is now master (was replica): failover" {
		t.Errorf("String: %q", c)
	}
}

func TestTopologyError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{redis.Nil, false},
		{proto("MOVED 3999 127.0.0.1:6381"), true},
		{proto("ASK 3999 127.0.0.1:6381"), true},
		{proto("CLUSTERDOWN The cluster is down"), true},
		{proto("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
	} {
		if got := TopologyError(tc.err); got != tc.want {
			t.Errorf("%v: %v", tc.err, got)
		}
	}
}

// proto is a server error reply as go-redis returns it.
type proto string

func (p proto) Error() string { return string(p) }
func (proto) RedisError()     {}

func TestClusterWatcherDue(t *testing.T) {
	now := time.Unix(1000, 0)
	w := NewClusterWatcher(conn.Target{Addr: "a:1"}, nil, 5*time.Second, nil)
	defer w.Close()
	w.now = func() time.Time { return now }
	if !w.Due(now) {
		t.Error("first discovery not due")
	}
	w.last = now
	if w.Due(now.Add(4 * time.Second)) {
		t.Error("due before the interval")
	}
	if !w.Due(now.Add(5 * time.Second)) {
		t.Error("not due after the interval")
	}
	if w.Kick(proto("WRONGTYPE x")) || w.Due(now) {
		t.Error("kicked by an unrelated error")
	}
	if !w.Kick(proto("MOVED 1 a:2")) || !w.Due(now) {
		t.Error("MOVED did not make a discovery due")
	}
}

func TestClusterWatcherSeeds(t *testing.T) {
	w := NewClusterWatcher(conn.Target{Addr: "start:1"}, nil, time.Second, nil)
	defer w.Close()
	nodes := []ClusterNode{
		{Addr: "m1", Role: "master", Flags: []string{"fail"}},
		{Addr: "r1", Role: "replica"},
		{Addr: "m2", Role: "master"},
		{Addr: "r2", Role: "replica", Flags: []string{"pfail"}},
	}
	if got, want := w.seeds(nodes), []string{"m2", "r1", "m1", "r2", "start:1"}; !slices.Equal(got, want) {
		t.Errorf("seeds %v, want %v", got, want)
	}
}
