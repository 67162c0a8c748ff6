package redisproc

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestKeySlot(t *testing.T) {
	// Values from the Redis Cluster specification and CLUSTER KEYSLOT.
	for key, want := range map[string]int{
		"123456789":    0x31C3 % ClusterSlots,
		"foo":          12182,
		"{user1000}.a": KeySlot("user1000"),
		"a{}b":         KeySlot("a{}b"),
		"somekey":      11058,
	} {
		if got := KeySlot(key); got != want {
			t.Errorf("KeySlot(%q) = %d, want %d", key, got, want)
		}
	}
	for _, slot := range []int{0, 1, 5461, 16383} {
		if got := KeySlot(KeyForSlot(slot)); got != slot {
			t.Errorf("KeyForSlot(%d) hashes to %d", slot, got)
		}
	}
}

func TestStartCluster(t *testing.T) {
	start := time.Now()
	c := ClusterForTest(t, 3, 1)
	t.Logf("3 masters + 3 replicas ready in %v", time.Since(start).Round(time.Millisecond))
	if len(c.Nodes) != 6 || len(c.Masters()) != 3 || len(c.Replicas()) != 3 || len(c.Addrs()) != 6 {
		t.Fatalf("nodes %d masters %d", len(c.Nodes), len(c.Masters()))
	}
	ctx := context.Background()
	for i, s := range c.Nodes {
		cl := adminClient(s)
		info, err := cl.ClusterInfo(ctx).Result()
		cl.Close()
		if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:6") {
			t.Errorf("node %d: %v\n%s", i, err, info)
		}
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), DisableIdentity: true, Protocol: 2})
	defer cc.Close()
	for i := range 50 {
		if err := cc.Set(ctx, KeyForSlot(i*300), "v", 0).Err(); err != nil {
			t.Fatalf("SET through a cluster client: %v", err)
		}
	}
	// The replica of master 0 serves master 0's slots.
	r := adminClient(c.Replicas()[0])
	defer r.Close()
	info, _ := r.Info(ctx, "replication").Result()
	if !strings.Contains(info, "role:slave") || !strings.Contains(info, "master_port:"+itoa(c.Masters()[0].Port)) {
		t.Errorf("replica 0 replication:\n%s", info)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
