package demo

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"redtop/internal/redisproc"
)

// TestMain checks that no test leaves a goroutine behind: the workload,
// go-redis pools and redisproc's waiters must all be gone.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestStartStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	d, err := Start(ctx)
	if errors.Is(err, redisproc.ErrNotInstalled) && os.Getenv("CI") == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()

	target := d.Target()
	if target.Network != "unix" || target.DB != 1 || target.Timeout != 2*time.Second {
		t.Errorf("Target() = %+v, want unix, DB 1, 2s", target)
	}
	c := redis.NewClient(target.Options())
	defer c.Close()
	if n, err := c.DBSize(ctx).Result(); err != nil || n < seedSessions {
		t.Fatalf("DBSIZE on the demo's DB: %d, %v", n, err)
	}
	if got := c.ConfigGet(ctx, "maxmemory-policy").Val()["maxmemory-policy"]; got != "allkeys-lru" {
		t.Errorf("maxmemory-policy %q, want allkeys-lru", got)
	}

	// The workload is running, under its own name, and moving the counters.
	hits0, misses0 := keyspaceStats(t, c)
	deadline := time.Now().Add(5 * time.Second)
	for {
		hits, misses := keyspaceStats(t, c)
		list := c.ClientList(ctx).Val()
		if hits+misses > hits0+misses0 && strings.Contains(list, "name="+WorkloadClientName) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no workload after 5 s: hits %d→%d, misses %d→%d, clients:\n%s", hits0, hits, misses0, misses, list)
		}
		time.Sleep(50 * time.Millisecond)
	}

	d.Stop()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Error("the server still answers after Stop")
	}
	d.Stop() // idempotent
}
