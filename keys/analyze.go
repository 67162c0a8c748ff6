package keys

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/redisinfo"
)

// AnalyzeOptions shape an analysis.
type AnalyzeOptions struct {
	Pattern   string  // MATCH; "" or "*" for every key
	Delimiter string  // segment separator; default ":"
	Sample    float64 // share of the keyspace to scan, in (0, 1]; 0 means all of it
	Count     int64   // SCAN COUNT; 0 means DefaultCount
	Timeout   time.Duration

	Node     string // for the ledger
	Ledger   *redisinfo.Ledger
	Progress func(Progress)

	Tree TreeOptions // bounds of the prefix tree; its Delimiter is set from Delimiter
}

// Report is what Analyze found. With a sample, counts and sizes are
// scaled-up estimates with standard errors.
type Report struct {
	Pattern   string
	Delimiter string
	DBSize    int64   // DBSIZE at the start (-1 if not allowed)
	Scanned   int64   // keys SCAN returned
	Gone      int64   // of those, deleted before they could be measured
	Fraction  float64 // share of the keyspace visited: 1 for a full scan
	Sampled   bool    // the scan stopped at Sample: figures are estimates
	Keys      Estimate
	Bytes     Estimate
	WithTTL   Estimate
	Prefixes  []PrefixStat // by memory, largest first
	Django    *DjangoLayout
	Warnings  []string // e.g. MEMORY USAGE not allowed: sizes unknown
	Tree      *Tree
	Elapsed   time.Duration
}

// Estimate is a figure and its standard error (0 when exact).
type Estimate struct {
	Value float64
	Error float64
}

// DjangoLayout is django-redis's KEY_PREFIX:VERSION: in front of the
// application's key names.
type DjangoLayout struct {
	Prefix  string `json:"prefix"`
	Version string `json:"version"`
}

// PrefixStat is one family of keys: the keys one tree node's pattern
// names. The _error fields are standard errors, set when sampled.
type PrefixStat struct {
	Prefix       string  `json:"prefix"`             // glob naming the family
	Relative     string  `json:"relative,omitempty"` // the same, without django-redis's prefix:version:
	Keys         int64   `json:"keys"`
	MemoryBytes  int64   `json:"memory_bytes"`
	WithTTL      int64   `json:"with_ttl"`
	LargestKey   string  `json:"largest_key"`
	LargestBytes int64   `json:"largest_bytes"`
	SampledKeys  int64   `json:"sampled_keys,omitempty"`
	KeysError    float64 `json:"keys_error,omitempty"`
	MemoryError  float64 `json:"memory_bytes_error,omitempty"`
	WithTTLError float64 `json:"with_ttl_error,omitempty"`
}

// TTLShare is the share of the family's keys that expire, 0..1.
func (p PrefixStat) TTLShare() float64 {
	if p.Keys == 0 {
		return 0
	}
	return float64(p.WithTTL) / float64(p.Keys)
}

// Analyze scans the keyspace (or a sample of it), measures every key it
// returns, one pipelined round trip per SCAN batch (MEMORY USAGE … SAMPLES
// 5 and PTTL for each key), and aggregates them by prefix.
//
// Bookkeeping: MEMORY USAGE is not a keyspace lookup; PTTL is one, so each
// is booked in the ledger as a hit, or a miss when the key is gone (-2),
// for the overview to take out. PTTL is the cheapest way to learn whether
// a key expires: TTL, OBJECT and TYPE count the same, and nothing cheaper
// answers on Redis 7.0 (DEBUG OBJECT is off by default). PTTL does not
// touch the key's idle time; MEMORY USAGE neither.
//
// Sampling: SCAN visits hash buckets in an order unrelated to key names,
// so stopping early gives a random sample. Without a pattern, the scan
// stops after Sample×DBSIZE keys and counts scale by DBSIZE/scanned, with
// the standard error of a proportion (finite population corrected). With a
// pattern, SCAN's MATCH hides how many keys were visited, so the share
// visited comes from the cursor (Progress.Fraction) and counts scale by
// its inverse, with the error of a Bernoulli sample.
func Analyze(ctx context.Context, c *redis.Client, opt AnalyzeOptions) (*Report, error) {
	if opt.Pattern == "*" {
		opt.Pattern = ""
	}
	if opt.Pattern != "" {
		if err := ValidatePattern(opt.Pattern); err != nil {
			return nil, err
		}
	}
	if opt.Sample < 0 || opt.Sample > 1 || math.IsNaN(opt.Sample) {
		return nil, fmt.Errorf("sample must be a share between 0 and 1, not %v", opt.Sample)
	}
	if opt.Sample == 0 {
		opt.Sample = 1
	}
	if opt.Delimiter == "" {
		opt.Delimiter = ":"
	}
	opt.Tree.Delimiter = opt.Delimiter
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}

	a := &analysis{c: c, opt: opt, tree: NewTree(opt.Tree), wantMem: true, wantTTL: true}
	var last Progress
	sopt := ScanOptions{
		Match: opt.Pattern, Count: opt.Count, Timeout: opt.Timeout,
		Node: opt.Node, Ledger: opt.Ledger,
		Progress: func(p Progress) {
			last = p
			if opt.Progress != nil {
				opt.Progress(p)
			}
		},
	}
	st, err := Scan(ctx, c, sopt, func(batch []string) error {
		if err := a.measure(ctx, batch); err != nil {
			return err
		}
		if opt.Sample < 1 {
			if opt.Pattern == "" && last.Total > 0 && float64(last.Scanned) >= opt.Sample*float64(last.Total) {
				return ErrStop
			}
			if opt.Pattern != "" && last.Fraction() >= opt.Sample {
				return ErrStop
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a.report(st), nil
}

type analysis struct {
	c       *redis.Client
	opt     AnalyzeOptions
	tree    *Tree
	gone    int64
	sample  []string // the first keys, for DetectDjangoPrefix
	wantMem bool
	wantTTL bool
	warns   []string
}

// measure sizes a batch in one round trip and adds it to the tree.
func (a *analysis) measure(ctx context.Context, batch []string) error {
	if len(a.sample) < 2000 {
		a.sample = append(a.sample, batch[:min(len(batch), 2000-len(a.sample))]...)
	}
	if !a.wantMem && !a.wantTTL {
		for _, k := range batch {
			a.tree.Add(k, KeyMeta{})
		}
		return nil
	}
	mem := make([]*redis.IntCmd, len(batch))
	ttl := make([]*redis.DurationCmd, len(batch))
	pipe := a.c.Pipeline()
	for i, k := range batch {
		if a.wantMem {
			mem[i] = pipe.MemoryUsage(ctx, k, 5)
		}
		if a.wantTTL {
			ttl[i] = pipe.PTTL(ctx, k)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, a.opt.Timeout)
	_, err := pipe.Exec(cctx)
	cancel()
	var rerr redis.Error
	if err != nil && !errors.Is(err, redis.Nil) && !errors.As(err, &rerr) {
		return fmt.Errorf("MEMORY USAGE and PTTL for %d keys: %w", len(batch), err)
	}

	var memCalls, ttlCalls, hits, misses, in, out int64
	for i, k := range batch {
		var m KeyMeta
		gone := false
		if a.wantMem {
			memCalls++
			in += int64(respArrayLen("memory", "usage", k, "SAMPLES", "5"))
			switch n, err := mem[i].Result(); {
			case err == nil:
				m.Bytes = n
				out += int64(intReplyLen(n))
			case errors.Is(err, redis.Nil):
				gone = true
				out += 5 // $-1\r\n
			case isNoPerm(err):
				a.wantMem = false
				a.warns = append(a.warns, "MEMORY USAGE is not allowed for this user: sizes unknown ("+err.Error()+")")
			default:
				return fmt.Errorf("MEMORY USAGE: %w", err)
			}
		}
		if a.wantTTL {
			ttlCalls++
			in += int64(respArrayLen("pttl", k))
			switch d, err := ttl[i].Result(); {
			case err == nil:
				raw := int64(d) // -1 (no expiry) and -2 (gone) come back as is
				if d > 0 {
					raw = int64(d / time.Millisecond)
				}
				out += int64(intReplyLen(raw))
				if raw == -2 {
					misses++
					gone = true
				} else {
					hits++
					m.TTLKnown, m.HasTTL = true, raw != -1
				}
			case isNoPerm(err):
				a.wantTTL = false
				a.warns = append(a.warns, "PTTL is not allowed for this user: TTL coverage unknown ("+err.Error()+")")
			default:
				return fmt.Errorf("PTTL: %w", err)
			}
		}
		if gone {
			a.gone++
			continue
		}
		a.tree.Add(k, m)
	}
	if l := a.opt.Ledger; l != nil {
		if memCalls > 0 {
			l.Call(a.opt.Node, "memory|usage", memCalls)
		}
		if ttlCalls > 0 {
			l.Call(a.opt.Node, "pttl", ttlCalls)
			l.Lookups(a.opt.Node, hits, misses)
		}
		l.Bytes(a.opt.Node, in, out)
	}
	return nil
}

// report turns the tree into families with estimates.
func (a *analysis) report(st ScanStats) *Report {
	r := &Report{
		Pattern:   a.opt.Pattern,
		Delimiter: a.opt.Delimiter,
		DBSize:    st.Total,
		Scanned:   st.Scanned,
		Gone:      a.gone,
		Fraction:  1,
		Sampled:   !st.Complete,
		Warnings:  a.warns,
		Tree:      a.tree,
		Elapsed:   st.Elapsed,
	}
	if p, v, ok := DetectDjangoPrefix(a.sample); ok {
		r.Django = &DjangoLayout{Prefix: p, Version: v}
	}
	est := exact
	if r.Sampled {
		if a.opt.Pattern == "" && st.Total > 0 {
			r.Fraction = min(1, float64(st.Scanned)/float64(st.Total))
			est = ratioEstimator(st.Scanned, st.Total)
		} else {
			r.Fraction = st.Fraction()
			est = bernoulliEstimator(r.Fraction)
		}
	}
	root := a.tree.Root().Total()
	r.Keys, r.Bytes, r.WithTTL = est(root)
	for _, n := range a.tree.Families() {
		s := n.Own()
		keys, bytes, ttl := est(s)
		p := PrefixStat{
			Prefix:       n.Pattern(a.opt.Delimiter),
			Keys:         int64(math.Round(keys.Value)),
			MemoryBytes:  int64(math.Round(bytes.Value)),
			WithTTL:      int64(math.Round(ttl.Value)),
			LargestKey:   s.Largest,
			LargestBytes: s.LargestBytes,
			KeysError:    keys.Error,
			MemoryError:  bytes.Error,
			WithTTLError: ttl.Error,
		}
		if r.Sampled {
			p.SampledKeys = s.Keys
		}
		if r.Django != nil {
			if rel := RelativePattern(r.Django.Prefix, r.Django.Version, p.Prefix); rel != p.Prefix {
				p.Relative = rel
			}
		}
		r.Prefixes = append(r.Prefixes, p)
	}
	slices.SortFunc(r.Prefixes, func(x, y PrefixStat) int {
		if c := cmp.Compare(y.MemoryBytes, x.MemoryBytes); c != 0 {
			return c
		}
		if c := cmp.Compare(y.Keys, x.Keys); c != 0 {
			return c
		}
		return cmp.Compare(x.Prefix, y.Prefix)
	})
	return r
}

// An estimator scales a sample's stats to the keyspace: keys, bytes and
// keys with a TTL, each with its standard error.
type estimator func(Stats) (keys, bytes, withTTL Estimate)

func exact(s Stats) (Estimate, Estimate, Estimate) {
	return Estimate{Value: float64(s.Keys)}, Estimate{Value: float64(s.Bytes)}, Estimate{Value: float64(s.WithTTL)}
}

// ratioEstimator: n keys drawn from N without replacement; a family's
// total is N times its mean per drawn key, y_i being 1 (or the key's size)
// for a key of the family and 0 otherwise.
func ratioEstimator(n, N int64) estimator {
	fn, fN := float64(n), float64(N)
	fpc := max(0, 1-fn/fN)
	total := func(sum, sumSq float64) Estimate {
		mean := sum / fn
		v := 0.0
		if n > 1 {
			v = max(0, (sumSq-fn*mean*mean)/(fn-1))
		}
		return Estimate{Value: fN * mean, Error: fN * math.Sqrt(v/fn*fpc)}
	}
	return func(s Stats) (Estimate, Estimate, Estimate) {
		k, t := float64(s.Keys), float64(s.WithTTL)
		return total(k, k), total(float64(s.Bytes), s.BytesSq), total(t, t)
	}
}

// bernoulliEstimator: every key was seen with probability f; the
// Horvitz-Thompson total sum/f has variance sum(y²)(1-f)/f².
func bernoulliEstimator(f float64) estimator {
	if f <= 0 {
		f = 1e-9
	}
	total := func(sum, sumSq float64) Estimate {
		return Estimate{Value: sum / f, Error: math.Sqrt(sumSq*(1-f)) / f}
	}
	return func(s Stats) (Estimate, Estimate, Estimate) {
		k, t := float64(s.Keys), float64(s.WithTTL)
		return total(k, k), total(float64(s.Bytes), s.BytesSq), total(t, t)
	}
}
