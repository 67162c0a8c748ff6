package demo

import (
	"context"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestTargetHitRatio(t *testing.T) {
	const period = 5 * time.Minute
	epoch := time.Unix(0, 0)
	if got := targetHitRatio(epoch.Add(period/4), period); math.Abs(got-0.95) > 1e-9 {
		t.Errorf("at a quarter period: %v, want 0.95", got)
	}
	if got := targetHitRatio(epoch.Add(3*period/4), period); math.Abs(got-0.60) > 1e-9 {
		t.Errorf("at three quarters: %v, want 0.60", got)
	}
	prev := targetHitRatio(epoch, period)
	for s := time.Second; s <= 2*period; s += time.Second {
		r := targetHitRatio(epoch.Add(s), period)
		if r < 0.6-1e-9 || r > 0.95+1e-9 {
			t.Fatalf("at %v: %v, outside 0.60..0.95", s, r)
		}
		if math.Abs(r-prev) > 0.005 {
			t.Fatalf("at %v: jumped from %v to %v in a second", s, prev, r)
		}
		prev = r
	}
}

// TestRunHitRatio runs the workload at a fixed point of the swing and
// checks the server's own counters land near the target.
func TestRunHitRatio(t *testing.T) {
	const period = 10 * time.Second
	for _, tc := range []struct {
		name string
		at   time.Duration // into the period
		want float64
	}{
		{"peak", period / 4, 0.95},
		{"trough", 3 * period / 4, 0.60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := seeded(t)
			now := time.Unix(1_700_000_000, 0).Truncate(period).Add(tc.at)
			hits0, misses0 := keyspaceStats(t, c)

			ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
			defer cancel()
			err := Run(ctx, c, Options{OpsPerSec: 2000, Period: period, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}

			hits1, misses1 := keyspaceStats(t, c)
			hits, misses := hits1-hits0, misses1-misses0
			if hits+misses < 200 {
				t.Fatalf("only %d hits and %d misses: the workload barely ran", hits, misses)
			}
			ratio := float64(hits) / float64(hits+misses)
			t.Logf("target %.2f: %d hits, %d misses, ratio %.3f", tc.want, hits, misses, ratio)
			if math.Abs(ratio-tc.want) > 0.08 {
				t.Errorf("hit ratio %.3f, want %.2f ± 0.08", ratio, tc.want)
			}
			// The workload wrote too: counters, the leaderboard, the activity list.
			if n := c.LLen(t.Context(), activityKey).Val(); n != activityLen {
				t.Errorf("activity list has %d entries, want it trimmed to %d", n, activityLen)
			}
			if v, err := c.Get(t.Context(), pageviewsKey(now)).Int(); err != nil || v == 0 {
				t.Errorf("pageviews counter: %d, %v", v, err)
			}
			if ttl := c.TTL(t.Context(), pageviewsKey(now)).Val(); ttl <= 0 || ttl > time.Hour {
				t.Errorf("pageviews counter TTL %v, want up to an hour", ttl)
			}
		})
	}
}

// TestRunFillsEmptyServer: without Seed the reads miss at first and the
// refills warm the cache.
func TestRunFillsEmptyServer(t *testing.T) {
	_, c := newServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if err := Run(ctx, c, Options{OpsPerSec: 2000}); err != nil {
		t.Fatal(err)
	}
	if n := c.DBSize(t.Context()).Val(); n < 50 {
		t.Errorf("DBSIZE %d after running on an empty server, want the cache filling up", n)
	}
}

func TestRunReturnsErrorWhenServerDies(t *testing.T) {
	srv, c := seeded(t)
	errc := make(chan error, 1)
	go func() { errc <- Run(t.Context(), c, Options{}) }()
	time.Sleep(200 * time.Millisecond)
	srv.Kill()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Run returned nil after the server died")
		}
		t.Logf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run still running 10 s after the server died")
	}
}

func keyspaceStats(t *testing.T, c *redis.Client) (hits, misses int64) {
	t.Helper()
	info, err := c.InfoMap(t.Context(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	hits, _ = strconv.ParseInt(info["Stats"]["keyspace_hits"], 10, 64)
	misses, _ = strconv.ParseInt(info["Stats"]["keyspace_misses"], 10, 64)
	return hits, misses
}
