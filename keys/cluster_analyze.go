package keys

import (
	"context"
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
	run := cl.newRun(ctx, masters)
	defer run.stop(nil)
	run.eachMaster(func(ctx context.Context, i int, m ClusterMaster, attempt int) error {
		if attempt > 0 {
			b.restart(i, m)
		}
		o := opt
		o.Node, o.Ledger, o.Progress, o.guard = m.Addr, cl.ledger, b.scanned(i), cl.roleCheck(m.Addr, opt.Timeout)
		a, st, err := analyzeNode(ctx, cl.Reader(m.Addr), o)
		parts[i], stats[i] = a, st // an attempt cut by a failover is replaced by the next
		b.set(i, true, func(np *NodeProgress) { np.Done = err == nil })
		return err
	})
	if err := run.err(); err != nil {
		return nil, err
	}

	// Merge into the first master's analysis.
	nodes := make([]NodeAnalysis, len(masters))
	st := ScanStats{Complete: true, Elapsed: time.Since(start)}
	var fp ClusterProgress
	for i, p := range parts {
		s := stats[i]
		root := p.tree.Root().Total()
		nodes[i] = NodeAnalysis{NodeRun: run.runs[i], DBSize: s.Total, Scanned: s.Scanned, Keys: root.Keys,
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
