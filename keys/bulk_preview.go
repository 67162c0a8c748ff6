package keys

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Preview sizes.
const (
	PreviewSamples = 20   // sample keys shown
	PreviewMeasure = 1000 // keys measured (MEMORY USAGE, PTTL) to estimate memory and the TTL mix
	// PreviewMinScanned: a sampled preview scans at least this many keys
	// (all of a smaller keyspace, exactly).
	PreviewMinScanned = 20_000
)

// PreviewProgress tells how far a preview's count has gone.
type PreviewProgress struct {
	Scanned  int64   // keys SCAN returned
	Matched  int64   // of those, matching the pattern
	Fraction float64 // share of the keyspace visited, from the cursor
	Elapsed  time.Duration
	Nodes    []NodeProgress // a cluster: each master's part
}

// TTLMix is how many matching keys expire when: estimates, scaled from
// the measured sample to the whole count.
type TTLMix struct {
	None     int64 `json:"none"`     // no TTL
	UnderHr  int64 `json:"under_1h"` // expire within the hour
	UnderDay int64 `json:"under_1d"` // within the day (and not the hour)
	Longer   int64 `json:"longer"`   // later
}

// PreviewResult is what a bulk run would act on.
type PreviewResult struct {
	Pattern  string   `json:"pattern"`
	Matched  int64    `json:"matched"`  // keys matching: SCAN MATCH, each checked with Match (scaled up when Sampled)
	Sampled  bool     `json:"sampled"`  // the scan stopped at BulkOptions.PreviewSample: counts are estimates
	Fraction float64  `json:"fraction"` // share of the keyspace visited: 1 for a full count
	Counted  int64    `json:"counted"`  // matching keys seen (= Matched unless Sampled)
	Scanned  int64    `json:"scanned"`  // keys SCAN returned
	DBSize   int64    `json:"dbsize"`   // DBSIZE at the start; -1 when not allowed
	Share    float64  `json:"share"`    // Matched / DBSize (0 when unknown)
	Samples  []string `json:"samples"`  // up to PreviewSamples matching keys, sorted
	Measured int64    `json:"measured"` // keys measured for EstBytes and TTL
	Vanished int64    `json:"vanished"` // of those, gone before they were measured

	EstBytes int64  `json:"est_bytes"` // memory the keys use (MEMORY USAGE SAMPLES 5, scaled); -1 unknown
	TTL      TTLMix `json:"ttl"`

	// MatchesEverything: the pattern is only stars. OverHalf: it matches
	// more than half of the database. Both call for an extra warning.
	MatchesEverything bool `json:"matches_everything"`
	OverHalf          bool `json:"over_half"`

	Warnings []string      `json:"warnings,omitempty"` // e.g. MEMORY USAGE not allowed
	Elapsed  time.Duration `json:"elapsed_ns"`

	// Nodes (a cluster): each master's part, in slot order.
	Nodes []NodePreview `json:"nodes,omitempty"`
}

// BackupByDefault reports whether a delete should make a backup when not
// told: the keys use less than BackupLimit.
// An unknown size (MEMORY USAGE refused) gives no backup by default.
func (p *PreviewResult) BackupByDefault() bool { return p.EstBytes >= 0 && p.EstBytes < BackupLimit }

// Preview counts what a bulk run with opt would act on, and changes
// nothing: one full SCAN MATCH (keys checked with Match), then MEMORY USAGE
// and PTTL on a uniform random sample of PreviewMeasure matching keys in one
// pipelined round trip. Matched is exact for the keyspace as the scan saw it
// (a key SCAN returns twice, when the table is resized meanwhile, counts
// twice). PTTL counts as a keyspace hit or miss on the server and is booked
// as such in opt.Ledger; SCAN and MEMORY USAGE are not lookups.
//
// With opt.PreviewSample in (0, 1), the scan stops once the cursor has
// visited that share of the keyspace (and at least PreviewMinScanned keys)
// and the counts are scaled up by the share visited: SCAN walks buckets in
// an order unrelated to names, so the part visited is a random sample.
// That is for a run that needs no confirmation: a full count costs as much
// server time as the run's own scan.
func Preview(ctx context.Context, c *redis.Client, opt BulkOptions, progress func(PreviewProgress)) (*PreviewResult, error) {
	if err := ValidatePattern(opt.Pattern); err != nil {
		return nil, fmt.Errorf("bad pattern: %w", err)
	}
	opt = opt.normalize()
	start := time.Now()
	res := &PreviewResult{Pattern: opt.Pattern, DBSize: -1, Samples: []string{}}
	res.MatchesEverything = strings.Trim(opt.Pattern, "*") == ""

	rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), 0x9e3779b97f4a7c15))
	var reservoir []string
	if opt.PreviewSample < 0 || opt.PreviewSample > 1 {
		return nil, fmt.Errorf("preview sample must be a share between 0 and 1, not %v", opt.PreviewSample)
	}
	var last Progress
	var lastReport time.Time
	report := func() {
		if progress == nil || time.Since(lastReport) < 50*time.Millisecond {
			return
		}
		lastReport = time.Now()
		progress(PreviewProgress{Scanned: res.Scanned, Matched: res.Matched, Fraction: last.Fraction(), Elapsed: time.Since(start)})
	}
	st, err := Scan(ctx, c, ScanOptions{
		Match: opt.Pattern, Count: opt.Count, Timeout: opt.Timeout,
		Node: opt.Node, Ledger: opt.Ledger, guard: opt.guard,
		Progress: func(p Progress) { last = p; report() },
	}, func(page []string) error {
		res.Scanned += int64(len(page))
		for _, k := range page {
			if !Match(opt.Pattern, k) {
				continue
			}
			res.Matched++
			// Reservoir sampling (algorithm R): every matching key has the
			// same chance to be measured.
			if len(reservoir) < PreviewMeasure {
				reservoir = append(reservoir, k)
			} else if j := rng.Int64N(res.Matched); j < PreviewMeasure {
				reservoir[j] = k
			}
		}
		if s := opt.PreviewSample; s > 0 && s < 1 && last.Fraction() >= s && res.Scanned >= PreviewMinScanned {
			return ErrStop
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Counted = res.Matched
	res.Fraction = 1
	if !st.Complete {
		res.Sampled = true
		res.Fraction = last.Fraction()
		res.Matched = int64(float64(res.Counted)/res.Fraction + 0.5)
	}
	res.DBSize = st.Total
	if res.DBSize > 0 {
		res.Share = float64(res.Matched) / float64(res.DBSize)
		res.OverHalf = res.Share > 0.5
	}
	if progress != nil {
		progress(PreviewProgress{Scanned: res.Scanned, Matched: res.Counted, Fraction: res.Fraction, Elapsed: time.Since(start)})
	}
	if len(reservoir) > 0 {
		if err := res.measure(ctx, c, opt, reservoir); err != nil {
			return nil, err
		}
	}
	n := min(len(reservoir), PreviewSamples)
	res.Samples = slices.Sorted(slices.Values(reservoir[:n]))
	res.Elapsed = time.Since(start)
	return res, nil
}

// measure sizes and times the sample in one round trip and scales up.
func (res *PreviewResult) measure(ctx context.Context, c *redis.Client, opt BulkOptions, sample []string) error {
	mem := make([]*redis.IntCmd, len(sample))
	ttl := make([]*redis.IntCmd, len(sample))
	pipe := c.Pipeline()
	for i, k := range sample {
		mem[i] = pipe.MemoryUsage(ctx, k, 5)
		ttl[i] = redis.NewIntCmd(ctx, "pttl", k)
		pipe.Process(ctx, ttl[i])
	}
	cctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	_, err := pipe.Exec(cctx)
	cancel()
	var rerr redis.Error
	if err != nil && !errors.Is(err, redis.Nil) && !errors.As(err, &rerr) {
		return fmt.Errorf("MEMORY USAGE and PTTL for %d sample keys: %w", len(sample), err)
	}
	var bytes, sized, hits, misses, memCalls int64
	var mix TTLMix
	var memErr error
	for i := range sample {
		n, err := mem[i].Result()
		switch {
		case err == nil:
			memCalls++
			bytes += n
			sized++
		case errors.Is(err, redis.Nil):
			memCalls++
		default:
			memErr = firstErr(memErr, err)
			if !isRejected(err) {
				memCalls++
			}
		}
		t, err := ttl[i].Result()
		if err != nil {
			continue
		}
		switch {
		case t == -2:
			misses++
			res.Vanished++
			continue
		case t == -1:
			mix.None++
		case t < time.Hour.Milliseconds():
			mix.UnderHr++
		case t < 24*time.Hour.Milliseconds():
			mix.UnderDay++
		default:
			mix.Longer++
		}
		hits++
	}
	if l := opt.Ledger; l != nil {
		l.Call(opt.Node, "memory|usage", memCalls)
		l.Call(opt.Node, "pttl", hits+misses)
		l.Lookups(opt.Node, hits, misses)
	}
	res.Measured = int64(len(sample))
	if memErr != nil {
		res.Warnings = append(res.Warnings, "memory unknown: MEMORY USAGE refused: "+memErr.Error())
	}
	if memErr != nil && sized == 0 {
		res.EstBytes = -1
	} else if sized > 0 {
		res.EstBytes = int64(float64(bytes) / float64(sized) * float64(res.Matched))
	}
	if alive := hits; alive > 0 {
		scale := float64(res.Matched) / float64(alive)
		res.TTL = TTLMix{
			None:     int64(float64(mix.None)*scale + 0.5),
			UnderHr:  int64(float64(mix.UnderHr)*scale + 0.5),
			UnderDay: int64(float64(mix.UnderDay)*scale + 0.5),
			Longer:   int64(float64(mix.Longer)*scale + 0.5),
		}
	}
	return nil
}
