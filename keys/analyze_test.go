package keys

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/redisinfo"
)

// load writes generated keys in one pipeline.
func load(t testing.TB, c *redis.Client, keys []genKey) {
	t.Helper()
	ctx := context.Background()
	pipe := c.Pipeline()
	for _, g := range keys {
		v := strings.Repeat("x", g.size)
		if g.hash {
			pipe.HSet(ctx, g.key, "a", v, "b", "1")
		} else {
			pipe.Set(ctx, g.key, v, 0)
		}
		if g.ttl {
			pipe.Expire(ctx, g.key, time.Hour)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

// memoryUsage asks the server for each key's size, as the truth.
func memoryUsage(t testing.TB, c *redis.Client, keys []genKey) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	pipe := c.Pipeline()
	cmds := make([]*redis.IntCmd, len(keys))
	for i, g := range keys {
		cmds[i] = pipe.MemoryUsage(ctx, g.key, 5)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]int64, len(keys))
	for i, g := range keys {
		out[g.key] = cmds[i].Val()
	}
	return out
}

// TestAnalyzeMatchesAnExactCount builds a Django-like keyspace and checks
// every family's count, memory, TTL coverage and largest key against a
// count made from the generated keys and MEMORY USAGE.
func TestAnalyzeMatchesAnExactCount(t *testing.T) {
	c, srv := testServer(t)
	ctx := context.Background()
	keys := djangoKeyspace(rand.New(rand.NewPCG(5, 6)), 10)
	load(t, c, keys)
	sizes := memoryUsage(t, c, keys)
	want := familyTruth(keys, func(g genKey) int64 { return sizes[g.key] })

	ledger := redisinfo.NewLedger()
	rep, err := Analyze(ctx, c, AnalyzeOptions{Node: srv.Addr(), Ledger: ledger})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sampled || rep.Fraction != 1 || rep.DBSize != int64(len(keys)) || rep.Keys.Value != float64(len(keys)) {
		t.Fatalf("report %+v", rep)
	}
	if rep.Django == nil || rep.Django.Prefix != "nalar" || rep.Django.Version != "1" {
		t.Errorf("django layout %+v", rep.Django)
	}
	got := map[string]PrefixStat{}
	for _, p := range rep.Prefixes {
		got[p.Prefix] = p
	}
	for fam, w := range want {
		g, ok := got[fam]
		if !ok {
			t.Errorf("no family %q", fam)
			continue
		}
		if g.Keys != w.Keys || g.MemoryBytes != w.Bytes || g.WithTTL != w.WithTTL || g.LargestKey != w.Largest || g.LargestBytes != w.LargestBytes {
			t.Errorf("family %q: got %+v, want %s", fam, g, brief(w))
		}
		if g.KeysError != 0 || g.SampledKeys != 0 {
			t.Errorf("family %q: a full scan has error bars: %+v", fam, g)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d families, want %d", len(got), len(want))
	}
	if p := got["nalar:1:django.contrib.sessions.cache*"]; p.Relative != "django.contrib.sessions.cache*" || p.TTLShare() != 1 {
		t.Errorf("sessions: %+v", p)
	}
	for i := 1; i < len(rep.Prefixes); i++ {
		if rep.Prefixes[i].MemoryBytes > rep.Prefixes[i-1].MemoryBytes {
			t.Fatalf("not sorted by memory at %d", i)
		}
	}
}

// TestAnalyzeBooksWhatTheServerCounts compares the ledger with the
// server's own counters: every SCAN, MEMORY USAGE and PTTL, and the
// keyspace hits and misses PTTL caused, so the overview takes out exactly
// what redtop did.
func TestAnalyzeBooksWhatTheServerCounts(t *testing.T) {
	c, srv := testServer(t)
	ctx := context.Background()
	populate(t, c, 3000, "key")
	c.Expire(ctx, "key:1", time.Hour)

	stats := func() map[string]int64 {
		out := map[string]int64{}
		for _, sec := range []string{"stats", "commandstats"} {
			s, err := c.Info(ctx, sec).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(s, "\r\n") {
				k, v, ok := strings.Cut(line, ":")
				if !ok {
					continue
				}
				if name, ok := strings.CutPrefix(k, "cmdstat_"); ok {
					calls, _, _ := strings.Cut(strings.TrimPrefix(v, "calls="), ",")
					out[name], _ = strconv.ParseInt(calls, 10, 64)
				} else if k == "keyspace_hits" || k == "keyspace_misses" {
					out[k], _ = strconv.ParseInt(v, 10, 64)
				}
			}
		}
		return out
	}
	before := stats()
	ledger := redisinfo.NewLedger()
	if _, err := Analyze(ctx, c, AnalyzeOptions{Node: srv.Addr(), Ledger: ledger, Count: 500}); err != nil {
		t.Fatal(err)
	}
	after := stats()
	own := ledger.Get(srv.Addr())
	for _, cmd := range []string{"scan", "memory|usage", "pttl", "dbsize"} {
		if d := after[cmd] - before[cmd]; d != own.Calls[cmd] || d == 0 {
			t.Errorf("%s: server counted %d, ledger %d", cmd, d, own.Calls[cmd])
		}
	}
	if d := after["keyspace_hits"] - before["keyspace_hits"]; d != own.Hits || d != 3000 {
		t.Errorf("hits: server %d, ledger %d", d, own.Hits)
	}
	if d := after["keyspace_misses"] - before["keyspace_misses"]; d != own.Misses {
		t.Errorf("misses: server %d, ledger %d", d, own.Misses)
	}
}

// TestAnalyzeSampleEstimates checks a 5% sample of 200k keys against the
// full count: within 5% for the large prefixes, and within four standard
// errors, so the error bars mean something.
func TestAnalyzeSampleEstimates(t *testing.T) {
	if testing.Short() {
		t.Skip("200k keys: skipped with -short")
	}
	c, _ := testServer(t)
	ctx := context.Background()
	populate(t, c, 120000, "key")
	populate(t, c, 80000, "other")

	full, err := Analyze(ctx, c, AnalyzeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	truth := map[string]PrefixStat{}
	for _, p := range full.Prefixes {
		truth[p.Prefix] = p
	}
	if truth["key:*"].Keys != 120000 || truth["other:*"].Keys != 80000 {
		t.Fatalf("full scan: %+v", full.Prefixes)
	}

	check := func(name string, rep *Report, fams ...string) {
		t.Helper()
		if !rep.Sampled || rep.Fraction < 0.04 || rep.Fraction > 0.2 {
			t.Fatalf("%s: sampled %v, fraction %.3f", name, rep.Sampled, rep.Fraction)
		}
		got := map[string]PrefixStat{}
		for _, p := range rep.Prefixes {
			got[p.Prefix] = p
		}
		for _, fam := range fams {
			g, w := got[fam], truth[fam]
			for _, f := range []struct {
				what          string
				est, sd, want float64
			}{
				{"keys", float64(g.Keys), g.KeysError, float64(w.Keys)},
				{"memory", float64(g.MemoryBytes), g.MemoryError, float64(w.MemoryBytes)},
			} {
				rel := math.Abs(f.est-f.want) / f.want
				t.Logf("%s %s %s: estimate %.0f ± %.0f, truth %.0f (off by %.2f%%, %.1f SE)", name, fam, f.what, f.est, f.sd, f.want, 100*rel, math.Abs(f.est-f.want)/f.sd)
				if rel > 0.05 {
					t.Errorf("%s %s %s: estimate %.0f, truth %.0f", name, fam, f.what, f.est, f.want)
				}
				if f.sd <= 0 || math.Abs(f.est-f.want) > 4*f.sd {
					t.Errorf("%s %s %s: off by %.0f with a standard error of %.0f", name, fam, f.what, f.est-f.want, f.sd)
				}
			}
		}
	}
	rep, err := Analyze(ctx, c, AnalyzeOptions{Sample: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	check("sample 0.05", rep, "key:*", "other:*")

	rep, err = Analyze(ctx, c, AnalyzeOptions{Sample: 0.1, Pattern: "key:*"})
	if err != nil {
		t.Fatal(err)
	}
	check("pattern key:* sample 0.1", rep, "key:*")
}

func TestAnalyzeOptionsErrors(t *testing.T) {
	c, _ := testServer(t)
	ctx := context.Background()
	for _, opt := range []AnalyzeOptions{{Sample: 1.5}, {Sample: -1}, {Pattern: "user:["}} {
		if _, err := Analyze(ctx, c, opt); err == nil {
			t.Errorf("Analyze(%+v) accepted", opt)
		}
	}
}

// TestAnalyzeSkipsPTTLWhenTTLsAreUniform: with no key expiring, or every
// key expiring, INFO keyspace says it all and PTTL is not sent.
func TestAnalyzeSkipsPTTLWhenTTLsAreUniform(t *testing.T) {
	c, srv := testServer(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		expire  bool
		withTTL int64
	}{{"none expire", false, 0}, {"all expire", true, 500}} {
		c.FlushAll(ctx)
		populate(t, c, 500, "key")
		if tc.expire {
			pipe := c.Pipeline()
			for i := range 500 {
				pipe.Expire(ctx, "key:"+strconv.Itoa(i), time.Hour)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		ledger := redisinfo.NewLedger()
		rep, err := Analyze(ctx, c, AnalyzeOptions{Node: srv.Addr(), Ledger: ledger})
		if err != nil {
			t.Fatal(err)
		}
		own := ledger.Get(srv.Addr())
		if own.Calls["pttl"] != 0 || own.Hits != 0 || own.Calls["memory|usage"] != 500 || own.Calls["info"] != 1 {
			t.Errorf("%s: ledger %+v", tc.name, own)
		}
		if p := rep.Prefixes[0]; p.Keys != 500 || p.WithTTL != tc.withTTL || rep.Tree.Root().Total().TTLKnown != 500 {
			t.Errorf("%s: %+v", tc.name, p)
		}
	}
}

func TestKeyspaceLine(t *testing.T) {
	text := "# Keyspace\r\ndb0:keys=12,expires=3,avg_ttl=100\r\ndb2:keys=5,expires=5,avg_ttl=0\r\n"
	for _, tc := range []struct {
		db            int
		keys, expires int64
		ok            bool
	}{{0, 12, 3, true}, {2, 5, 5, true}, {1, 0, 0, true}} {
		k, e, ok := keyspaceLine(text, tc.db)
		if k != tc.keys || e != tc.expires || ok != tc.ok {
			t.Errorf("db%d: %d %d %v", tc.db, k, e, ok)
		}
	}
	if _, _, ok := keyspaceLine("garbage", 0); ok {
		t.Error("garbage read as a keyspace")
	}
}
