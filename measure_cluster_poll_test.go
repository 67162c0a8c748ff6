package main

// The overview's poll cost on a cluster, for the README and issue #6. It
// prints figures and never asserts on time: run it with
//
//	REDTOP_MEASURE=1 go test -run MeasureClusterPoll -v -count=1 .

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/conn"
	"redtop/redisinfo"
)

// tripHook counts round trips on a client: one per command or pipeline
// sent.
type tripHook struct{ n *atomic.Int64 }

func (h tripHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h tripHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h tripHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// TestMeasureClusterPoll: one overview poll of a 3-master, 3-replica
// cluster on loopback, 50 ticks 200 ms apart with the watcher running as
// in the dashboard: time per tick, round trips and commands per node per
// tick (the round trips counted on redtop's clients, the commands in each
// server's INFO commandstats), bytes of reply per node per tick.
func TestMeasureClusterPoll(t *testing.T) {
	needMeasure(t)
	cl := sharedCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app, err := connect(ctx, conn.Target{Network: "tcp", Addr: cl.Nodes[0].Addr(), Timeout: 2 * time.Second}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	nodes := app.Poller.Nodes()
	trips := map[string]*atomic.Int64{}
	for _, n := range nodes {
		trips[n.Addr] = &atomic.Int64{}
		n.Client.AddHook(tripHook{trips[n.Addr]})
	}
	// The measuring clients connect first: their handshake is not counted.
	readers := map[string]*redis.Client{}
	for _, n := range nodes {
		readers[n.Addr] = redis.NewClient(&redis.Options{Addr: n.Addr, PoolSize: 1, DisableIdentity: true})
		defer readers[n.Addr].Close()
		readers[n.Addr].Ping(ctx)
	}
	stats := func() map[string]map[string]int64 {
		out := map[string]map[string]int64{}
		for _, n := range nodes {
			in := redisinfo.Parse(readers[n.Addr].Info(ctx, "commandstats").Val())
			out[n.Addr] = map[string]int64{}
			for name, st := range in.Commands {
				out[n.Addr][name] = st.Calls
			}
		}
		return out
	}
	src := clusterSource{app.Poller, app.watcher}
	src.Poll(ctx) // connections open: the first tick dials
	before := stats()
	outBefore := map[string]int64{}
	for _, n := range nodes {
		outBefore[n.Addr] = app.Ledger.Get(n.Addr).NetOut
		trips[n.Addr].Store(0)
	}
	app.follow(ctx)
	const ticks = 50
	var took []time.Duration
	start := time.Now()
	for range ticks {
		t0 := time.Now()
		for _, s := range src.Poll(ctx) {
			if s.Err != nil {
				t.Fatalf("%s: %v", s.Node, s.Err)
			}
		}
		took = append(took, time.Since(t0))
		time.Sleep(200 * time.Millisecond)
	}
	span := time.Since(start)
	after := stats()
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	t.Logf("%d nodes, %d ticks over %v: time per tick median %v, p90 %v, max %v",
		len(nodes), ticks, span.Round(time.Millisecond), took[ticks/2].Round(time.Microsecond),
		took[ticks*9/10].Round(time.Microsecond), took[ticks-1].Round(time.Microsecond))
	for _, n := range nodes {
		var cmds []string
		for name, calls := range after[n.Addr] {
			d := calls - before[n.Addr][name]
			if name == "info" {
				d-- // the INFO commandstats that read "before"
			}
			if d > 0 && name != "replconf" && name != "ping" {
				cmds = append(cmds, fmt.Sprintf("%s %.2f", name, float64(d)/ticks))
			}
		}
		slices.Sort(cmds)
		role := "replica"
		if n.ClusterNode.Master() {
			role = "master"
		}
		t.Logf("  %s %-7s round trips/tick %.2f · commands/tick: %s · reply bytes/tick %d", n.Addr, role,
			float64(trips[n.Addr].Load())/ticks, strings.Join(cmds, ", "),
			(app.Ledger.Get(n.Addr).NetOut-outBefore[n.Addr])/ticks)
	}
}
