package keys

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// NodeAnalysis is one master's part of AnalyzeCluster.
type NodeAnalysis struct {
	NodeRun
	DBSize   int64         `json:"dbsize"`  // DBSIZE at the start of its last attempt; -1 unknown
	Scanned  int64         `json:"scanned"` // keys SCAN returned in its last attempt
	Keys     int64         `json:"keys"`    // of those, measured (not gone)
	Bytes    int64         `json:"memory_bytes"`
	Gone     int64         `json:"gone"`
	Complete bool          `json:"complete"`
	Elapsed  time.Duration `json:"elapsed_ns"`
}

// AnalyzeCluster is Analyze over every master of cl, at once (up to
// cl.Parallel): each master is scanned and measured into a prefix tree of
// its own, on its own connections, as Analyze does one server; the trees
// are merged at the end. A master that fails over mid-scan has its tree
// dropped and is analyzed again from the start on the master that took
// its slots, so no key counts twice. With a sample, each master stops at
// the share asked of its own keyspace. opt.Node, opt.Ledger and
// opt.Progress are set per master; progress, when set, hears them all.
func AnalyzeCluster(ctx context.Context, cl *Cluster, opt AnalyzeOptions, progress func(ClusterProgress)) (*Report, error) {
	opt, err := opt.normalize()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	masters := cl.Masters()
	b := newBoard(masters, progress)
	parts := make([]*analysis, len(masters))
	stats := make([]ScanStats, len(masters))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	runs, errs := cl.eachMaster(ctx, masters, func(ctx context.Context, i int, m ClusterMaster, attempt int) error {
		if attempt > 0 {
			b.restart(i, m)
		}
		o := opt
		o.Node, o.Ledger = m.Addr, cl.ledger
		o.Progress = func(p Progress) {
			b.set(i, false, func(np *NodeProgress) { np.Scanned, np.Total, np.Fraction = p.Scanned, p.Total, p.Fraction() })
		}
		g := &roleGuard{c: cl.Reader(m.Addr), node: m.Addr, ledger: cl.ledger, timeout: opt.Timeout, last: time.Now()}
		o.guard = g.due
		a, st, err := analyzeNode(ctx, cl.Reader(m.Addr), o)
		parts[i], stats[i] = a, st // an attempt cut by a failover is replaced by the next
		if err != nil && failoverKind(err) == notFailover && context.Cause(ctx) == nil {
			cancel(fmt.Errorf("%s: %w", m.Addr, err))
		}
		b.set(i, true, func(np *NodeProgress) { np.Done = err == nil })
		return err
	})
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return nil, cause
	}
	for i, err := range errs {
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil, err
			}
			return nil, fmt.Errorf("%s: %w", masters[i].Addr, err)
		}
	}

	// Merge into the first master's analysis.
	nodes := make([]NodeAnalysis, len(masters))
	st := ScanStats{Complete: true, Elapsed: time.Since(start)}
	var fp ClusterProgress
	for i, p := range parts {
		s := stats[i]
		root := p.tree.Root().Total()
		nodes[i] = NodeAnalysis{NodeRun: runs[i], DBSize: s.Total, Scanned: s.Scanned, Keys: root.Keys,
			Bytes: root.Bytes, Gone: p.gone, Complete: s.Complete, Elapsed: s.Elapsed}
		st.Scanned += s.Scanned
		st.Complete = st.Complete && s.Complete
		if st.Total >= 0 && s.Total >= 0 {
			st.Total += s.Total
		} else {
			st.Total = -1
		}
		fp.Nodes = append(fp.Nodes, NodeProgress{Total: s.Total, Fraction: s.Fraction(), Done: s.Complete})
	}
	a := parts[0]
	a.opt = opt
	for _, p := range parts[1:] {
		a.tree.Merge(p.tree)
		a.gone += p.gone
		if n := 2000 - len(a.sample); n > 0 {
			a.sample = append(a.sample, p.sample[:min(n, len(p.sample))]...)
		}
		for _, w := range p.warns {
			if !slices.Contains(a.warns, w) {
				a.warns = append(a.warns, w)
			}
		}
	}
	rep := a.report(st, fp.Fraction())
	rep.Nodes = nodes
	return rep, nil
}
