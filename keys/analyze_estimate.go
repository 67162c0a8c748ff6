package keys

import (
	"cmp"
	"math"
	"slices"
)

// report turns the tree into families with estimates. fraction is the
// share of the keyspace the scan visited, for a sample with a pattern.
func (a *analysis) report(st ScanStats, fraction float64) *Report {
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
			r.Fraction = fraction
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
