package main

import (
	"context"
	"strconv"
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

// TestLatencyEventsWithoutConfigGet: a user who may run LATENCY LATEST but
// not CONFIG GET sees the events, with the threshold unknown; CONFIG GET
// is refused once per session, not once per refresh.
func TestLatencyEventsWithoutConfigGet(t *testing.T) {
	srv := redisproc.ForTest(t, redisproc.Options{Args: []string{"--latency-monitor-threshold", "10", "--enable-debug-command", "yes"}})
	ctx := context.Background()
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr(), DisableIdentity: true, Protocol: 2})
	defer admin.Close()
	if err := setUser(admin, "lat", "on", ">lat-pw", "~*", "&*", "+@read", "+@connection", "+info", "+latency"); err != nil {
		t.Fatal(err)
	}
	admin.Do(ctx, "acl", "log", "reset")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	app, err := connect(ctx, targetFor(t, "-p", strconv.Itoa(srv.Port), "--user", "lat", "-a", "lat-pw"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	src := newActivitySource(app, time.Minute)

	d, err := src.LatencyEvents(ctx, "")
	if err != nil || d.Enabled || d.Hint != "no events (threshold unknown: needs +config|get)" {
		t.Fatalf("no events yet: %+v, %v", d, err)
	}
	if err := admin.Do(ctx, "debug", "sleep", "0.05").Err(); err != nil {
		t.Fatal(err)
	}
	d, err = src.LatencyEvents(ctx, "")
	if err != nil || !d.Enabled || len(d.Events) != 1 || d.Events[0].Name != "command" || d.Events[0].Latest < 40*time.Millisecond {
		t.Fatalf("after a 50 ms command: %+v, %v", d, err)
	}
	wantACLLog(t, admin, map[string]int64{"acl|whoami": 1, "config|get": 1})
}
