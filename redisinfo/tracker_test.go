package redisinfo

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

// info builds an Info from "key:value" pairs as INFO would print them.
func info(kv ...string) Info {
	return Parse(strings.Join(kv, "\r\n") + "\r\n")
}

func stats(run string, hits, misses, ops int64) Info {
	return info("run_id:"+run,
		fmt.Sprintf("keyspace_hits:%d", hits),
		fmt.Sprintf("keyspace_misses:%d", misses),
		fmt.Sprintf("total_commands_processed:%d", ops))
}

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

func one(node string, when time.Time, in Info) []NodeSample {
	return []NodeSample{{Node: node, At: when, Info: in}}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestFirstSampleHasNoRates(t *testing.T) {
	tr := NewTracker(60)
	s := tr.Add(one("a", at(0), stats("r", 100, 50, 1000)))
	if !s.Ready() {
		t.Fatal("snapshot not ready after a good sample")
	}
	if s.Last.HasLookups() || !math.IsNaN(s.Last.HitRate) || s.Last.Span != 0 {
		t.Fatalf("first sample produced rates: %+v", s.Last)
	}
	if !near(s.LifetimeHitRate, 100.0/150) {
		t.Fatalf("lifetime = %v", s.LifetimeHitRate)
	}
}

func TestRatesOverLastInterval(t *testing.T) {
	tr := NewTracker(60)
	tr.Add(one("a", at(0), stats("r", 100, 0, 1000)))
	s := tr.Add(one("a", at(2), stats("r", 280, 20, 1500)))
	r := s.Last
	if r.Span != 2*time.Second || !near(r.HitRate, 0.9) || !near(r.Hits, 90) || !near(r.Misses, 10) || !near(r.Ops, 250) {
		t.Fatalf("rates = %+v", r)
	}
}

func TestWindowsCoverTheirSpanOnly(t *testing.T) {
	tr := NewTracker(600)
	var hits, misses int64
	var s Snapshot
	// 100 lookups a second; the first 50 s all hit, the last 20 s half miss.
	for i := 0; i <= 70; i++ {
		s = tr.Add(one("a", at(float64(i)), stats("r", hits, misses, 0)))
		if i < 50 {
			hits += 100
		} else {
			hits, misses = hits+50, misses+50
		}
	}
	if s.Short.Span != 10*time.Second || !near(s.Short.HitRate, 0.5) {
		t.Fatalf("10s window = %v %v, want 10s 0.5", s.Short.Span, s.Short.HitRate)
	}
	// 60 s window: 40 s at 100% and 20 s at 50%.
	if s.Long.Span != 60*time.Second || !near(s.Long.HitRate, (40*100+20*50)/6000.0) {
		t.Fatalf("60s window = %v %v", s.Long.Span, s.Long.HitRate)
	}
	if len(s.History) != 70 || !near(s.History[69].HitRate, 0.5) || !near(s.History[0].HitRate, 1) {
		t.Fatalf("history len %d", len(s.History))
	}
}

func TestCounterGoingBackStartsNewWindow(t *testing.T) {
	tr := NewTracker(60)
	tr.Add(one("a", at(0), stats("r", 1000, 0, 5000)))
	tr.Add(one("a", at(1), stats("r", 1100, 0, 5100)))
	s := tr.Add(one("a", at(2), stats("r", 10, 5, 20))) // CONFIG RESETSTAT
	if s.ResetReason == "" || !strings.Contains(s.ResetReason, "RESETSTAT") {
		t.Fatalf("reset not marked: %q", s.ResetReason)
	}
	for _, r := range []Rates{s.Last, s.Short, s.Long} {
		if r.Hits < 0 || r.Ops < 0 || r.Span != 0 || r.HasLookups() {
			t.Fatalf("rates across a reset: %+v", r)
		}
	}
	s = tr.Add(one("a", at(3), stats("r", 20, 15, 40)))
	if !near(s.Last.HitRate, 0.5) || s.Short.Span != time.Second || !near(s.Short.Hits, 10) {
		t.Fatalf("after reset: last %+v short %+v", s.Last, s.Short)
	}
	if !s.History[len(s.History)-1].Reset {
		t.Fatal("first tick after the reset not marked in history")
	}
}

func TestRestartDetectedByRunID(t *testing.T) {
	tr := NewTracker(60)
	tr.Add(one("a", at(0), stats("r1", 10, 0, 10)))
	// Counters happen to be higher after the restart: run_id still tells.
	s := tr.Add(one("a", at(1), stats("r2", 500, 0, 900)))
	if !strings.Contains(s.ResetReason, "restarted") || s.Last.Span != 0 {
		t.Fatalf("restart: reason %q last %+v", s.ResetReason, s.Last)
	}
}

func TestOwnReadsAreSubtracted(t *testing.T) {
	tr := NewTracker(60)
	own := Own{Calls: map[string]int64{}}
	tr.Add([]NodeSample{{Node: "a", At: at(0), Info: stats("r", 0, 0, 0), Own: own}})
	own = Own{Hits: 30, Misses: 10, Calls: map[string]int64{"type": 40}}
	s := tr.Add([]NodeSample{{Node: "a", At: at(1), Info: stats("r", 100, 20, 200), Own: own}})
	if !near(s.Last.Hits, 70) || !near(s.Last.Misses, 10) || !near(s.Last.Ops, 160) {
		t.Fatalf("own reads not taken out: %+v", s.Last)
	}
	if !near(s.Last.HitRate, 70.0/80) {
		t.Fatalf("hit rate %v", s.Last.HitRate)
	}
}

func TestOwnReadsRecordedLateAreCarried(t *testing.T) {
	// The server counted 10 of redtop's hits in the first interval, but the
	// ledger only heard of them in the second.
	tr := NewTracker(60)
	tr.Add([]NodeSample{{Node: "a", At: at(0), Info: stats("r", 0, 0, 0)}})
	s := tr.Add([]NodeSample{{Node: "a", At: at(1), Info: stats("r", 10, 0, 0)}})
	if !near(s.Last.Hits, 10) {
		t.Fatalf("tick 1 hits %v", s.Last.Hits)
	}
	s = tr.Add([]NodeSample{{Node: "a", At: at(2), Info: stats("r", 15, 0, 0), Own: Own{Hits: 20}}})
	if s.Last.Hits != 0 || s.ResetReason != "" {
		t.Fatalf("tick 2: %+v reset %q", s.Last, s.ResetReason)
	}
	s = tr.Add([]NodeSample{{Node: "a", At: at(3), Info: stats("r", 40, 0, 0), Own: Own{Hits: 20}}})
	// Tick 2 could only take 5 of the 20 own hits; the other 15 come out
	// of tick 3: 25 - 15 = 10. Over the three ticks: 40 - 20 = 20 real hits.
	if !near(s.Last.Hits, 10) || !near(s.Short.Hits*s.Short.Span.Seconds(), 20) {
		t.Fatalf("tick 3 hits %v (want 10), window %v", s.Last.Hits, s.Short.Hits)
	}
}

func TestMissingFieldsAreZeroNotFatal(t *testing.T) {
	tr := NewTracker(60)
	tr.Add(one("a", at(0), info("redis_version:2.8.0")))
	s := tr.Add(one("a", at(1), info("redis_version:2.8.0", "garbage line", ":", "db0:keys=x")))
	if s.Last.HasLookups() || s.Last.Ops != 0 || s.Memory.Percent != -1 {
		t.Fatalf("%+v", s)
	}
}

func TestNodesAreSummed(t *testing.T) {
	tr := NewTracker(60)
	mem := func(used, max int64) string { return fmt.Sprintf("used_memory:%d\r\nmaxmemory:%d", used, max) }
	tr.Add([]NodeSample{
		{Node: "a", At: at(0), Info: stats("ra", 0, 0, 0)},
		{Node: "b", At: at(0), Info: stats("rb", 0, 0, 0)},
	})
	a := stats("ra", 90, 10, 100)
	b := stats("rb", 10, 90, 100)
	for k, v := range info(mem(50, 100), "db0:keys=10,expires=5,avg_ttl=1000").Fields {
		a.Fields[k] = v
	}
	a.Keyspace[0] = DBStats{Keys: 10, Expires: 5, AvgTTL: 1000}
	b.Fields["used_memory"], b.Fields["maxmemory"] = "95", "100"
	b.Keyspace[0] = DBStats{Keys: 30, Expires: 15, AvgTTL: 3000}
	s := tr.Add([]NodeSample{{Node: "a", At: at(1), Info: a}, {Node: "b", At: at(1), Info: b}})
	if !near(s.Last.HitRate, 0.5) || !near(s.Last.Ops, 200) {
		t.Fatalf("rates %+v", s.Last)
	}
	if s.Memory.Used != 145 || s.Memory.Percent != 95 || s.Memory.Level() != Crit {
		t.Fatalf("memory %+v", s.Memory)
	}
	if k := s.Keyspace[0]; k.Keys != 40 || k.Expires != 20 || k.AvgTTL != 2500 {
		t.Fatalf("keyspace %+v", k)
	}
	if len(s.Nodes) != 2 {
		t.Fatalf("nodes %v", s.Nodes)
	}
	na, nb := s.Nodes[0], s.Nodes[1]
	if !near(na.HitRate, 0.9) || !near(nb.HitRate, 0.1) || na.Keys != 10 || nb.Keys != 30 || !near(na.Ops, 100) || nb.MemLevel != Crit {
		t.Fatalf("per node: %+v %+v", na, nb)
	}
}

func TestFailedPollKeepsLastData(t *testing.T) {
	tr := NewTracker(60)
	tr.Add(one("a", at(0), stats("r", 0, 0, 0)))
	good := tr.Add(one("a", at(1), stats("r", 10, 10, 20)))
	bad := tr.Add([]NodeSample{{Node: "a", At: at(2), Err: errors.New("connection refused")}})
	if bad.At != good.At || !near(bad.Last.HitRate, 0.5) {
		t.Fatalf("failed poll changed the snapshot: %v vs %v", bad.At, good.At)
	}
	// The next good sample covers the gap: 2 s.
	s := tr.Add(one("a", at(3), stats("r", 30, 10, 40)))
	if s.Last.Span != 2*time.Second || !near(s.Last.Hits, 10) {
		t.Fatalf("after the gap: %+v", s.Last)
	}
}

func TestResetWindowsByHand(t *testing.T) {
	tr := NewTracker(60)
	for i := 0; i < 5; i++ {
		tr.Add(one("a", at(float64(i)), stats("r", int64(i*100), 0, 0)))
	}
	tr.ResetWindows("restarted by you")
	s := tr.Add(one("a", at(5), stats("r", 500, 100, 0)))
	if s.Short.Span != time.Second || !near(s.Short.HitRate, 0.5) || s.ResetReason != "restarted by you" {
		t.Fatalf("%+v %q", s.Short, s.ResetReason)
	}
}

func TestCommandRates(t *testing.T) {
	tr := NewTracker(60)
	a := info("cmdstat_get:calls=100,usec=100,usec_per_call=1.00,rejected_calls=0,failed_calls=0",
		"cmdstat_set:calls=10,usec=50,usec_per_call=5.00,rejected_calls=0,failed_calls=0",
		"cmdstat_info:calls=5,usec=500,usec_per_call=100.00,rejected_calls=0,failed_calls=0")
	b := info("cmdstat_get:calls=300,usec=500,usec_per_call=1.00,rejected_calls=0,failed_calls=0",
		"cmdstat_set:calls=60,usec=350,usec_per_call=5.00,rejected_calls=0,failed_calls=0",
		"cmdstat_info:calls=6,usec=600,usec_per_call=100.00,rejected_calls=0,failed_calls=0")
	tr.Add([]NodeSample{{Node: "a", At: at(0), Info: a, Own: Own{Calls: map[string]int64{"info": 5}}}})
	s := tr.Add([]NodeSample{{Node: "a", At: at(1), Info: b, Own: Own{Calls: map[string]int64{"info": 6}}}})
	c := s.Last.Commands
	if len(c) != 2 || c[0].Name != "get" || !near(c[0].PerSec, 200) || !near(c[0].UsecPerCall, 2) || c[1].Name != "set" || !near(c[1].UsecPerCall, 6) {
		t.Fatalf("commands %+v (redtop's own INFO must not show)", c)
	}
}

func TestHistoryIsBounded(t *testing.T) {
	tr := NewTracker(60)
	for i := 0; i < 500; i++ {
		tr.Add(one("a", at(float64(i)), stats("r", int64(i), 0, 0)))
	}
	if s := tr.Add(nil); len(s.History) != 60 {
		t.Fatalf("history %d", len(s.History))
	}
}

func TestTrackerCarriesEventsAndForgetsNodesThatLeft(t *testing.T) {
	tr := NewTracker(60)
	at := time.Unix(1000, 0)
	sample := func(node string, at time.Time, ops int64) NodeSample {
		return NodeSample{Node: node, At: at, Info: Parse(fmt.Sprintf("total_commands_processed:%d\r\nrole:master\r\n", ops))}
	}
	tr.Add([]NodeSample{sample("a:1", at, 100), sample("b:1", at, 100)})
	first := sample("a:1", at.Add(time.Second), 200)
	first.Events = []Event{{At: at, Level: Warn, Text: "b:1 failed over to c:1"}}
	snap := tr.Add([]NodeSample{first, sample("c:1", at.Add(time.Second), 5)})
	if len(snap.Nodes) != 2 || snap.Nodes[0].Addr != "a:1" || snap.Nodes[1].Addr != "c:1" {
		t.Fatalf("nodes after b:1 left: %+v", snap.Nodes)
	}
	if len(snap.Events) != 1 || snap.Events[0].Text != "b:1 failed over to c:1" {
		t.Fatalf("events: %+v", snap.Events)
	}
	for i := 0; i < maxEvents+5; i++ {
		s := sample("a:1", at.Add(time.Duration(i+2)*time.Second), int64(300+i))
		s.Events = []Event{{Text: fmt.Sprint(i)}}
		snap = tr.Add([]NodeSample{s})
	}
	if len(snap.Events) != maxEvents || snap.Events[maxEvents-1].Text != fmt.Sprint(maxEvents+4) {
		t.Fatalf("kept %d events, last %+v", len(snap.Events), snap.Events[len(snap.Events)-1])
	}
}

// TestLateReplyMakesNoSpike: a node that answers late in one round (a
// fork, a loaded host) makes the next round's newest reply only a few
// milliseconds newer than the last one; the rate still covers the nodes'
// own intervals, not those milliseconds.
func TestLateReplyMakesNoSpike(t *testing.T) {
	tr := NewTracker(60)
	ops := func(node string, at time.Time, n int64) NodeSample {
		return NodeSample{Node: node, At: at, Info: Parse(fmt.Sprintf("total_commands_processed:%d\r\nrole:master\r\n", n))}
	}
	base := time.Unix(1000, 0)
	tr.Add([]NodeSample{ops("a", base, 0), ops("b", base, 0)})
	// a answers at once, b only 990 ms later.
	tr.Add([]NodeSample{ops("a", base.Add(time.Second), 1000), ops("b", base.Add(1990*time.Millisecond), 1990)})
	// The next round starts at once: both answer 5 ms after b's late reply.
	snap := tr.Add([]NodeSample{ops("a", base.Add(1995*time.Millisecond), 1995), ops("b", base.Add(1995*time.Millisecond), 1995)})
	if snap.Last.Ops > 2100 {
		t.Fatalf("%.0f ops/s after a late reply: two nodes at 1000 ops/s each", snap.Last.Ops)
	}
}
