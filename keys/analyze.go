package keys

import (
	"context"
	"fmt"
	"math"
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

	guard func(context.Context, bool) error // a cluster master's role check
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
	// Nodes (a cluster): each master's part, in slot order.
	Nodes []NodeAnalysis
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
// returns, one pipelined round trip per SCAN batch (MEMORY USAGE, which
// samples 5 elements of an aggregate, and PTTL for each key), and
// aggregates them by prefix.
//
// Bookkeeping: MEMORY USAGE is not a keyspace lookup; PTTL is one, so each
// is booked in the ledger as a hit, or a miss when the key is gone (-2),
// for the overview to take out. PTTL is the cheapest way to learn whether
// a key expires: TTL, OBJECT and TYPE count the same, and nothing cheaper
// answers on Redis 7.0 (DEBUG OBJECT is off by default). PTTL does not
// touch the key's idle time; MEMORY USAGE neither. When INFO keyspace says
// no key of the database expires, or every one does, PTTL is not sent at
// all. The measuring commands go on a connection of their own, written
// and parsed without go-redis (see rawConn), unless the client uses
// credential providers or hooks; its handshake is booked too.
//
// A key SCAN returns twice (the table resized mid-scan) counts twice; a
// key deleted between SCAN and MEMORY USAGE counts in Report.Gone only.
//
// Sampling: SCAN visits hash buckets in an order unrelated to key names,
// so stopping early gives a random sample. Without a pattern, the scan
// stops after Sample×DBSIZE keys and counts scale by DBSIZE/scanned, with
// the standard error of a proportion (finite population corrected). With a
// pattern, SCAN's MATCH hides how many keys were visited, so the share
// visited comes from the cursor (Progress.Fraction) and counts scale by
// its inverse, with the error of a Bernoulli sample.
func Analyze(ctx context.Context, c *redis.Client, opt AnalyzeOptions) (*Report, error) {
	opt, err := opt.normalize()
	if err != nil {
		return nil, err
	}
	a, st, err := analyzeNode(ctx, c, opt)
	if err != nil {
		return nil, err
	}
	return a.report(st, st.Fraction()), nil
}

func (opt AnalyzeOptions) normalize() (AnalyzeOptions, error) {
	if opt.Pattern == "*" {
		opt.Pattern = ""
	}
	if opt.Pattern != "" {
		if err := ValidatePattern(opt.Pattern); err != nil {
			return opt, err
		}
	}
	if opt.Sample < 0 || opt.Sample > 1 || math.IsNaN(opt.Sample) {
		return opt, fmt.Errorf("sample must be a share between 0 and 1, not %v", opt.Sample)
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
	return opt, nil
}

// analyzeNode scans and measures one server into a tree of its own.
func analyzeNode(ctx context.Context, c *redis.Client, opt AnalyzeOptions) (*analysis, ScanStats, error) {
	a := &analysis{c: c, opt: opt, tree: NewTree(opt.Tree), wantMem: true, wantTTL: true}
	a.skipPTTL(ctx)
	if raw, err := dialRaw(ctx, c, opt.Timeout); err == nil {
		a.raw = raw
		defer raw.Close()
		raw.book(opt.Ledger, opt.Node)
	}
	var last Progress
	sopt := ScanOptions{
		Match: opt.Pattern, Count: opt.Count, Timeout: opt.Timeout,
		Node: opt.Node, Ledger: opt.Ledger, guard: opt.guard,
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
		switch {
		case opt.Sample >= 1:
		case opt.Pattern == "" && last.Total > 0:
			if float64(last.Scanned) >= opt.Sample*float64(last.Total) {
				return ErrStop
			}
		case last.Fraction() >= opt.Sample: // MATCH hides the count, or DBSIZE is not allowed
			return ErrStop
		}
		return nil
	})
	return a, st, err
}

type analysis struct {
	c       *redis.Client
	raw     *rawConn // nil: measure through go-redis
	opt     AnalyzeOptions
	tree    *Tree
	gone    int64
	sample  []string // the first keys, for DetectDjangoPrefix
	wantMem bool
	wantTTL bool
	ttlAll  *bool // PTTL skipped: every key expires (true) or none does (false)
	warns   []string
}
