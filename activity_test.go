package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/internal/redisproc"
)

// TestActivityPanes goes through main's wiring against a real server: the
// clients pane marks redtop's own connections, the slow log shows a slow
// command escaped, and MONITOR starts only after the warning, shows live
// commands, and stops.
func TestActivityPanes(t *testing.T) {
	srv := redisproc.ForTest(t, redisproc.Options{})
	ctx := context.Background()
	app := redis.NewClient(&redis.Options{Addr: srv.Addr(), ClientName: "celery-worker"})
	defer app.Close()
	// Log just this SET as slow.
	app.ConfigSet(ctx, "slowlog-log-slower-than", "0")
	app.Set(ctx, "evil\x1bkey", "v", 0)
	app.ConfigSet(ctx, "slowlog-log-slower-than", "1000000")

	d, _ := startBrowsing(t, srv, 120, 30)
	d.keys("3")
	d.expect("[clients]", "◆redtop", "celery-worker")
	d.keys("4")
	d.expect("Slow log ·", `set evil\x1bkey v`, "latency-monitor-threshold 100")
	d.keys("5")
	d.expect("MONITOR · not running")
	d.keys("s")
	d.expect("two thirds of its throughput")
	d.keys("y")
	// The application keeps working while MONITOR runs.
	pumpCtx, stopPump := context.WithCancel(ctx)
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		for pumpCtx.Err() == nil {
			app.Get(pumpCtx, "monitored:key")
			time.Sleep(10 * time.Millisecond)
		}
	}()
	defer func() { stopPump(); <-pumped }()
	time.Sleep(300 * time.Millisecond)
	d.settle()
	d.expect("MONITOR ● running", "monitored:key")
	d.keys("v")
	d.expect("commands (last", "GET")
	d.keys("x")
	d.settle()
	d.expect("MONITOR ended: stopped by you")
	if strings.Contains(d.screen(), "\x1bkey") {
		t.Fatal("a raw ESC from a key name reached the screen")
	}
}

// TestMonitorHotKeysByFreqUnderLFU: with an LFU policy the hot keys are
// ranked by OBJECT FREQ, and say so.
func TestMonitorHotKeysByFreqUnderLFU(t *testing.T) {
	srv := redisproc.ForTest(t, redisproc.Options{Args: []string{"--maxmemory-policy", "allkeys-lfu"}})
	ctx := context.Background()
	app := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer app.Close()
	app.Set(ctx, "hot:key", "v", 0)

	d, _ := startBrowsing(t, srv, 120, 30)
	d.keys("5", "s", "y")
	pumpCtx, stopPump := context.WithCancel(ctx)
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		for pumpCtx.Err() == nil {
			app.Get(pumpCtx, "hot:key")
			time.Sleep(5 * time.Millisecond)
		}
	}()
	defer func() { stopPump(); <-pumped }()
	time.Sleep(1500 * time.Millisecond)
	d.keys("v")
	d.settle()
	d.expect("hot keys (OBJECT FREQ of the keys MONITOR saw most)", "freq  hot:key")
	d.keys("x")
}
