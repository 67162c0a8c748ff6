package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/redis/go-redis/v9"
	"redtop/conn"
	"redtop/internal/redisproc"
)

// populate1M fills a server with 1M keys under a few django-redis-like
// families, with DEBUG POPULATE (seconds, not minutes).
func populate1M(t *testing.T, srv *redisproc.Server) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Network: srv.Network(), Addr: srv.Addr()})
	defer c.Close()
	ctx := context.Background()
	for _, p := range []struct {
		n      int
		prefix string
	}{{400000, "nalar:1:django.contrib.sessions.cache"}, {300000, "nalar:1:employee:"}, {200000, "nalar:1:employees:list:page:"}, {100000, "other:cache:"}} {
		if err := c.Do(ctx, "DEBUG", "POPULATE", p.n, p.prefix, 64).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Some TTLs, so the TTL column means something.
	c.Eval(ctx, `for i=0,99999 do redis.call('expire', ARGV[1]..i, 3600) end`, nil, "nalar:1:employee::")
}

func rssMB() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			var kb float64
			fmt.Sscanf(strings.TrimPrefix(l, "VmRSS:"), "%f", &kb)
			return kb / 1024
		}
	}
	return 0
}

// TestMeasureBrowser1M: time from the keypress to the first screen of the
// browser, and memory with the whole 1M-key tree built.
func TestMeasureBrowser1M(t *testing.T) {
	needMeasure(t)
	srv := redisproc.ForTest(t, redisproc.Options{Unix: true, Args: []string{"--enable-debug-command", "yes"}})
	populate1M(t, srv)
	d, _ := startBrowsing(t, srv, 120, 40)
	runtime.GC()
	before := rssMB()

	start := time.Now()
	d.send(tea.KeyPressMsg{Code: '2', Text: "2"})
	var first time.Duration
	deadline := time.After(5 * time.Minute)
	for {
		select {
		case msg := <-d.out:
			if b, ok := msg.(tea.BatchMsg); ok {
				for _, c := range b {
					d.run(c)
				}
				continue
			}
			d.send(msg)
			s := d.screen()
			if first == 0 && strings.Contains(s, "nalar:") {
				first = time.Since(start)
			}
			if strings.Contains(s, "done in") {
				total := time.Since(start)
				runtime.GC()
				fmt.Printf("MEASURE browser on 1M keys: first screen with rows %v after the keypress; whole tree in %v (%.0f keys/s); RSS %.0f MB before, %.0f MB with the tree\n",
					first.Round(time.Millisecond), total.Round(time.Millisecond), 1e6/total.Seconds(), before, rssMB())
				return
			}
		case <-deadline:
			t.Fatal("scan did not finish in 5 minutes")
		}
	}
}

// frameCounter counts the renderer's writes: one per frame.
type frameCounter struct{ n, bytes atomic.Int64 }

func (f *frameCounter) Write(p []byte) (int, error) {
	f.n.Add(1)
	f.bytes.Add(int64(len(p)))
	return len(p), nil
}

// TestMeasureMonitorFrames: frames per second and memory of the dashboard
// while the MONITOR pane runs under redis-benchmark.
func TestMeasureMonitorFrames(t *testing.T) {
	needMeasure(t)
	bench, err := exec.LookPath("redis-benchmark")
	if err != nil {
		t.Skip("no redis-benchmark")
	}
	srv := redisproc.ForTest(t, redisproc.Options{Unix: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	target := conn.Target{Network: "unix", Addr: srv.Socket, Timeout: 2 * time.Second}
	app, err := connect(ctx, target, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	out := &frameCounter{}
	p := tea.NewProgram(app.Model(ctx), tea.WithContext(ctx), tea.WithInput(nil), tea.WithOutput(out),
		tea.WithWindowSize(120, 40), tea.WithoutSignals())
	done := make(chan struct{})
	var final tea.Model
	go func() { final, _ = p.Run(); close(done) }()
	for _, k := range []string{"5", "s", "y"} {
		time.Sleep(300 * time.Millisecond)
		p.Send(tea.KeyPressMsg{Code: []rune(k)[0], Text: k})
	}
	time.Sleep(500 * time.Millisecond)
	load := exec.CommandContext(ctx, bench, "-s", srv.Socket, "-P", "16", "-n", "2000000", "-t", "get,set", "-q")
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	f0, b0 := out.n.Load(), out.bytes.Load()
	const span = 5 * time.Second
	time.Sleep(span)
	f1, b1 := out.n.Load(), out.bytes.Load()
	rss := rssMB()
	load.Process.Kill()
	load.Wait()
	p.Quit()
	<-done
	if v := final.View().Content; !strings.Contains(v, "MONITOR ● running") {
		t.Fatalf("MONITOR not running:\n%s", v)
	}
	fmt.Printf("MEASURE MONITOR pane under redis-benchmark -P 16: %.1f frames/s, %.0f KB/s of terminal output, RSS %.0f MB\n",
		float64(f1-f0)/span.Seconds(), float64(b1-b0)/span.Seconds()/1024, rss)
}
