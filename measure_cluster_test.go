package main

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/conn"
	"redtop/internal/redisproc"
	"redtop/keys"
	"redtop/redisinfo"
)

// TestMeasureClusterAnalyze: `keys analyze` on 1M keys spread over 3
// masters, against the same on one server holding 1M keys, and against the
// cluster analyzed one master at a time: the masters are analyzed at once,
// so the time should follow the largest master, not the sum.
//
//	REDTOP_MEASURE=1 go test -run MeasureClusterAnalyze -v -count=1 .
func TestMeasureClusterAnalyze(t *testing.T) {
	needMeasure(t)
	const total = 1_000_000
	ctx := context.Background()
	debug := redisproc.Options{Args: []string{"--enable-debug-command", "yes"}}

	// One server, 1M keys.
	single, err := redisproc.Start(ctx, debug)
	if err != nil {
		t.Fatal(err)
	}
	defer single.Stop()
	sc := redis.NewClient(&redis.Options{Addr: single.Addr(), ReadTimeout: time.Minute})
	defer sc.Close()
	if err := sc.Do(ctx, "DEBUG", "POPULATE", total, "{s}:key").Err(); err != nil {
		t.Fatal(err)
	}

	// A cluster of 3 masters, a third of the keys each: DEBUG POPULATE
	// writes names a node must serve, so each master gets a hash tag of
	// one of its slots.
	rc, err := redisproc.StartCluster(ctx, 3, 0, debug)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Stop()
	for i, m := range rc.Masters() {
		lo, hi := i*keys.ClusterSlots/3, (i+1)*keys.ClusterSlots/3-1
		tag := ""
		for j := 0; ; j++ {
			if s := keys.Slot(strconv.Itoa(j)); s >= lo && s <= hi {
				tag = strconv.Itoa(j)
				break
			}
		}
		c := redis.NewClient(&redis.Options{Addr: m.Addr(), ReadTimeout: time.Minute})
		n := total / 3
		if i == 0 {
			n += total % 3
		}
		if err := c.Do(ctx, "DEBUG", "POPULATE", n, "{"+tag+"}:key").Err(); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}

	measure := func(name string, args ...string) {
		t.Helper()
		start := time.Now()
		code, out, errOut := runArgs(t, args...)
		el := time.Since(start)
		if code != 0 || !strings.Contains(out, "total: 1,000,000 keys") {
			t.Fatalf("%s: exit %d\n%s\n%s", name, code, out, errOut)
		}
		t.Logf("%-34s %7.2fs  %9.0f keys/s", name, el.Seconds(), total/el.Seconds())
	}
	_, sport, _ := strings.Cut(single.Addr(), ":")
	_, cport, _ := strings.Cut(rc.Masters()[0].Addr(), ":")
	t.Logf("%d CPUs, %s; each figure is one run of keys analyze through main's wiring", runtime.NumCPU(), runtime.Version())
	measure("one server, 1M keys", "-p", sport, "keys", "analyze", "--top", "3")
	measure("3 masters at once, 333k keys each", "-c", "-p", cport, "keys", "analyze", "--top", "3")

	// The same cluster, one master at a time: what a serial walk costs.
	tg := conn.Target{Network: "tcp", Addr: rc.Masters()[0].Addr(), Timeout: 10 * time.Second, Cluster: true}
	seed := redis.NewClient(tg.Options())
	defer seed.Close()
	cl, err := keys.OpenCluster(ctx, seed, tg, redisinfo.NewLedger())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cl.Parallel = 1
	start := time.Now()
	rep, err := keys.AnalyzeCluster(ctx, cl, keys.AnalyzeOptions{Timeout: tg.Timeout}, nil)
	el := time.Since(start)
	if err != nil || rep.Keys.Value != total {
		t.Fatalf("serial: %v %+v", err, rep)
	}
	t.Logf("%-34s %7.2fs  %9.0f keys/s", "3 masters, one at a time", el.Seconds(), total/el.Seconds())
	for _, n := range rep.Nodes {
		t.Logf("  %s: %s keys in %v", n.Node, fmt.Sprint(n.Keys), n.Elapsed.Round(time.Millisecond))
	}
}
