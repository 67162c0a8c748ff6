package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
	"github.com/redis/go-redis/v9"
	"redtop/internal/redisproc"
)

// TestOnceOnACluster: pointed at any node of a Redis Cluster, redtop finds
// the masters by itself and sums over them, replicas not counted twice.
func TestOnceOnACluster(t *testing.T) {
	cl := redisproc.ClusterForTest(t, 3, 1)
	ctx := context.Background()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	defer cc.Close()
	for i := 0; i < 300; i++ {
		if err := cc.Set(ctx, fmt.Sprintf("user:%d", i), "v", 0).Err(); err != nil {
			t.Fatal(err)
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
		Keyspace     map[string]struct{ Keys int64 }
		ClusterState string `json:"cluster_state"`
		SlotsOK      int64  `json:"cluster_slots_ok"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.ClusterState != "ok" || rep.SlotsOK != 16384 {
		t.Fatalf("cluster state %q, slots ok %d", rep.ClusterState, rep.SlotsOK)
	}
	if rep.Nodes != 3 || rep.Keyspace["db0"].Keys != 300 {
		t.Fatalf("nodes %d, db0 keys %d; want 3 masters and 300 keys", rep.Nodes, rep.Keyspace["db0"].Keys)
	}
	if code, _, errOut := runArgs(t, "-h", host, "-p", port, "-n", "1", "--once"); code != 1 || !strings.Contains(errOut, "only database 0") {
		t.Fatalf("-n 1 on a cluster: exit %d, %q", code, errOut)
	}
}

// TestDashboardOnACluster drives the TUI on a cluster: the overview sums
// the masters, the key browser is not offered, the other panes work on the
// seed node.
func TestDashboardOnACluster(t *testing.T) {
	cl := redisproc.ClusterForTest(t, 3, 0)
	srv := cl.Nodes[0]
	d, _ := startBrowsing(t, srv, 120, 30)
	d.expect("cluster of 3 masters", "[overview]", "clients", "Nodes · 3 masters", cl.Nodes[0].Addr(), cl.Nodes[2].Addr(), "cluster ok · slots 16,384 ok")
	if top, _, _ := strings.Cut(ansi.Strip(d.screen()), "\n"); strings.Contains(top, " keys ") {
		t.Fatalf("key browser offered on a cluster:\n%s", d.screen())
	}
	d.keys("2")
	d.expect("[clients]", "◆redtop")
	d.keys("1")
	d.expect("[overview]")
}
