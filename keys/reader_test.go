package keys

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/conn"
	"redtop/internal/redisproc"
	"redtop/redisinfo"
)

// TestOwnReadsDoNotMoveTheHitRate checks the whole bookkeeping against a
// real server: redtop's reads, hits and misses alike, leave the hit rate,
// lookups and ops it shows untouched, while the application's reads show.
func TestOwnReadsDoNotMoveTheHitRate(t *testing.T) {
	srv := redisproc.ForTest(t, redisproc.Options{})
	ctx := context.Background()
	target := conn.Target{Network: "tcp", Addr: srv.Addr(), Timeout: 2 * time.Second}
	app := redis.NewClient(target.Options()) // stands in for the application
	defer app.Close()
	own := redis.NewClient(target.Options())
	defer own.Close()
	for _, k := range []string{"a", "b", "c"} {
		if err := app.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	app.LPush(ctx, "list", "x")

	ledger := redisinfo.NewLedger()
	poller := redisinfo.NewPoller([]redisinfo.Node{{Addr: srv.Addr(), Client: own}}, ledger, 2*time.Second)
	tr := redisinfo.NewTracker(60)
	tr.Add(poller.Poll(ctx))

	r := NewReader(own, srv.Addr(), ledger)
	for i := 0; i < 25; i++ {
		mustNoErr(t, func() error { _, err := r.Type(ctx, "a"); return err })
		mustNoErr(t, func() error { _, err := r.Type(ctx, "missing"); return err })
		mustNoErr(t, func() error { _, err := r.TTL(ctx, "b"); return err })
		mustNoErr(t, func() error { _, err := r.TTL(ctx, "missing"); return err })
		mustNoErr(t, func() error { _, err := r.Exists(ctx, "a", "b", "nope"); return err })
		mustNoErr(t, func() error { _, _, err := r.Get(ctx, "c"); return err })
		mustNoErr(t, func() error { _, _, err := r.Get(ctx, "missing"); return err })
		if _, _, err := r.Get(ctx, "list"); err == nil {
			t.Fatal("GET on a list did not fail")
		}
	}
	time.Sleep(10 * time.Millisecond)
	s := tr.Add(poller.Poll(ctx))
	if s.Last.Lookups != 0 || s.Last.Ops != 0 {
		t.Fatalf("redtop's own reads showed: lookups %d, ops %.1f/s, commands %+v", s.Last.Lookups, s.Last.Ops, s.Last.Commands)
	}
	// The server did count them: the lifetime figure (raw) moved.
	if s.LifetimeHitRate == 0 {
		t.Fatal("server counted no lookups at all: is the test reading?")
	}

	// The application's reads still count: 3 hits, 1 miss.
	for _, k := range []string{"a", "b", "c", "zzz"} {
		app.Get(ctx, k)
	}
	time.Sleep(10 * time.Millisecond)
	s = tr.Add(poller.Poll(ctx))
	if s.Last.Lookups != 4 || s.Last.HitRate != 0.75 {
		t.Fatalf("app reads: lookups %d rate %v", s.Last.Lookups, s.Last.HitRate)
	}
}

func mustNoErr(t *testing.T, f func() error) {
	t.Helper()
	if err := f(); err != nil {
		t.Fatal(err)
	}
}

// TestOwnInfoTrafficIsNotShown: polling an idle server shows no ops and no
// network traffic: INFO's own bytes are taken out.
func TestOwnInfoTrafficIsNotShown(t *testing.T) {
	srv := redisproc.ForTest(t, redisproc.Options{})
	ctx := context.Background()
	target := conn.Target{Network: "tcp", Addr: srv.Addr(), Timeout: 2 * time.Second}
	own := redis.NewClient(target.Options())
	defer own.Close()
	ledger := redisinfo.NewLedger()
	poller := redisinfo.NewPoller([]redisinfo.Node{{Addr: srv.Addr(), Client: own}}, ledger, 2*time.Second)
	tr := redisinfo.NewTracker(60)
	var s redisinfo.Snapshot
	for i := 0; i < 5; i++ {
		s = tr.Add(poller.Poll(ctx))
	}
	if s.Short.Ops != 0 || s.Short.NetIn != 0 || s.Short.NetOut != 0 || len(s.Short.Commands) != 0 {
		t.Fatalf("idle server shows traffic: ops %v in %v out %v cmds %+v", s.Short.Ops, s.Short.NetIn, s.Short.NetOut, s.Short.Commands)
	}
}
