package keys

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// A cluster run (scan, analyze, preview, bulk) works on every master at
// once, up to Cluster.Parallel of them, each master's part on its own
// goroutine with its own connections, exactly as a run on one server.
// When a master fails over in the middle of its part, the part starts
// again from cursor 0 on the master that took its slots: a SCAN cursor
// means nothing on another node (the promoted replica's hash table is laid
// out differently), and a demoted master may resync and drop its data.

// Failover is a master's part of a run started again elsewhere.
type Failover struct {
	From   string `json:"from"`
	To     string `json:"to"` // the master now serving the slots; From itself when the cluster was only down
	Reason string `json:"reason"`
}

// NodeRun is one master's part of a cluster run.
type NodeRun struct {
	Node      string     `json:"node"` // the master at the start
	Failovers []Failover `json:"failovers,omitempty"`
}

// Now is the master the part ended on.
func (n NodeRun) Now() string {
	if len(n.Failovers) > 0 {
		return n.Failovers[len(n.Failovers)-1].To
	}
	return n.Node
}

// Notes say, one line each, where the part started again; what is "the
// scan", "the delete"…
func (n NodeRun) Notes(what string) []string {
	var out []string
	for _, f := range n.Failovers {
		if f.To == f.From {
			out = append(out, fmt.Sprintf("%s was unavailable during %s (%s): rescanned from the start", f.From, what, f.Reason))
		} else {
			out = append(out, fmt.Sprintf("%s failed over to %s during %s: rescanned from the start", f.From, f.To, what))
		}
	}
	return out
}

func (c *Cluster) parallel() int {
	if c.Parallel > 0 {
		return c.Parallel
	}
	return DefaultParallel
}

// clusterRun is one run over every master, under a context of its own:
// the first master's part to fail for a reason other than a failover
// cancels it, with the error naming the master, so the others stop after
// what they have in flight.
type clusterRun struct {
	cl      *Cluster
	masters []ClusterMaster
	ctx     context.Context
	// stop cancels the run with a cause of the caller's (nil when done).
	stop context.CancelCauseFunc
	runs []NodeRun // each master's run, in slot order, after eachMaster
	errs []error   // each master's last error, likewise
}

// newRun starts a run over masters; the caller defers run.stop(nil).
func (c *Cluster) newRun(ctx context.Context, masters []ClusterMaster) *clusterRun {
	ctx, stop := context.WithCancelCause(ctx)
	return &clusterRun{cl: c, masters: masters, ctx: ctx, stop: stop,
		runs: make([]NodeRun, len(masters)), errs: make([]error, len(masters))}
}

// eachMaster runs work for every master, at most Parallel at once, in
// slot order, and fills in each master's run and error, in that order.
// When work fails with an error that says its master failed over
// (failoverKind), it finds the master now serving the slots (Successor)
// and calls work again for it, with attempt counting up: work starts its
// part over, dropping what the failed attempt left that a second pass
// would count twice. Any other error stops the run.
func (r *clusterRun) eachMaster(work func(ctx context.Context, i int, m ClusterMaster, attempt int) error) {
	ctx, masters, runs, errs := r.ctx, r.masters, r.runs, r.errs
	// Masters are handed out in slot order: with Parallel 1 they go one
	// after the other, in that order.
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range masters {
			select {
			case next <- i:
			case <-ctx.Done():
				for j := i; j < len(masters); j++ {
					runs[j].Node, errs[j] = masters[j].Addr, ctx.Err()
				}
				return
			}
		}
	}()
	one := func(i int) {
		cur := masters[i]
		runs[i].Node = cur.Addr
		for attempt := 0; ; attempt++ {
			err := work(ctx, i, cur, attempt)
			kind := failoverKind(err)
			if err != nil && kind == notFailover && ctx.Err() == nil {
				r.stop(fmt.Errorf("%s: %w", cur.Addr, err))
			}
			if err == nil || kind == notFailover || attempt >= maxFailovers || ctx.Err() != nil {
				errs[i] = err
				return
			}
			succ, serr := r.cl.Successor(ctx, cur, kind)
			if serr != nil {
				if !errors.Is(serr, errNoFailover) && ctx.Err() == nil {
					err = fmt.Errorf("%w; %v", err, serr)
				}
				errs[i] = err
				return
			}
			runs[i].Failovers = append(runs[i].Failovers, Failover{From: cur.Addr, To: succ.Addr, Reason: shortErr(err)})
			cur = succ
		}
	}
	var wg sync.WaitGroup
	for range min(r.cl.parallel(), len(masters)) {
		wg.Go(func() {
			for i := range next {
				one(i)
			}
		})
	}
	wg.Wait()
}

// err is what the run stopped with: the cause it was cancelled with (a
// master's error, named, or the caller's), else the first master's error,
// named; nil when every part succeeded.
func (r *clusterRun) err() error {
	if cause := context.Cause(r.ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	for i, err := range r.errs {
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			return fmt.Errorf("%s: %w", r.masters[i].Addr, err)
		}
	}
	return nil
}

// shortErr is an error's innermost message, for a report line.
func shortErr(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

// NodeProgress is how far one master's part has gone.
type NodeProgress struct {
	Node      string  // the master scanned now
	Scanned   int64   // keys SCAN returned, this attempt
	Total     int64   // its DBSIZE at the start of the attempt; -1 unknown
	Fraction  float64 // share of its keyspace visited
	Done      bool
	Failovers int
	Matched   int64 // preview and bulk runs: keys matching
	Applied   int64 // bulk runs: keys deleted, expired or persisted
}

// ClusterProgress is how far a cluster run has gone, master by master.
type ClusterProgress struct {
	Nodes []NodeProgress
}

// Scanned adds up the keys scanned.
func (p ClusterProgress) Scanned() int64 {
	var n int64
	for _, x := range p.Nodes {
		n += x.Scanned
	}
	return n
}

// Fraction is the share of the cluster's keyspace visited: the masters'
// shares weighted by their DBSIZE when every one is known, else averaged.
func (p ClusterProgress) Fraction() float64 {
	if len(p.Nodes) == 0 {
		return 0
	}
	var sum, wsum, weight float64
	weighted := true
	for _, x := range p.Nodes {
		f := x.Fraction
		if x.Done {
			f = 1
		}
		sum += f
		if x.Total < 0 {
			weighted = false
		}
		wsum += f * float64(max(x.Total, 0))
		weight += float64(max(x.Total, 0))
	}
	if weighted && weight > 0 {
		return wsum / weight
	}
	return sum / float64(len(p.Nodes))
}

// board collects the masters' progress and hands it on, at most 20 times
// a second, one call at a time.
type board struct {
	mu    sync.Mutex
	nodes []NodeProgress
	fn    func(ClusterProgress)
	last  time.Time
}

func newBoard(masters []ClusterMaster, fn func(ClusterProgress)) *board {
	b := &board{nodes: make([]NodeProgress, len(masters)), fn: fn}
	for i, m := range masters {
		b.nodes[i] = NodeProgress{Node: m.Addr, Total: -1}
	}
	return b
}

func (b *board) set(i int, force bool, f func(*NodeProgress)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(&b.nodes[i])
	if b.fn != nil && (force || time.Since(b.last) >= 50*time.Millisecond) {
		b.last = time.Now()
		b.fn(ClusterProgress{Nodes: slices.Clone(b.nodes)})
	}
}

// scanned is a Progress callback for master i's scan.
func (b *board) scanned(i int) func(Progress) {
	return func(p Progress) {
		b.set(i, false, func(np *NodeProgress) { np.Scanned, np.Total, np.Fraction = p.Scanned, p.Total, p.Fraction() })
	}
}

// restart marks a master's part started again on m.
func (b *board) restart(i int, m ClusterMaster) {
	b.set(i, true, func(p *NodeProgress) {
		*p = NodeProgress{Node: m.Addr, Total: -1, Failovers: p.Failovers + 1}
	})
}

// NodeScan is one master's part of a ScanCluster.
type NodeScan struct {
	NodeRun
	Scanned  int64 `json:"scanned"`  // keys SCAN returned in the last attempt
	Repeated int64 `json:"repeated"` // keys SCAN returned in attempts a failover cut: handed over once more since
	Total    int64 `json:"dbsize"`   // DBSIZE at the start of the last attempt; -1 unknown
	Calls    int64 `json:"calls"`
	Complete bool  `json:"complete"`
	Err      error `json:"-"`
}

// ClusterScanStats sum up a scan of every master.
type ClusterScanStats struct {
	Scanned  int64 // keys the masters' last attempts returned
	Repeated int64 // keys returned by attempts a failover cut
	Complete bool  // every master's scan came back to cursor 0
	Elapsed  time.Duration
	Nodes    []NodeScan
}

// ScanCluster runs Scan on every master of cl (see Cluster for how and
// for failovers) and hands every batch to fn, one call at a time. A
// master's part started again after a failover hands its keys again:
// keys printed before may show twice, as with a table resized mid-scan.
// opt.Node and opt.Ledger are set per master; opt.Progress is not
// called: progress, when set, is.
//
// It stops at the first error of fn (ErrStop: without error) or of a
// master whose failover could not be followed; the error names the
// master.
func ScanCluster(ctx context.Context, cl *Cluster, opt ScanOptions, fn func(batch []string) error, progress func(ClusterProgress)) (ClusterScanStats, error) {
	start := time.Now()
	opt, err := opt.normalize()
	if err != nil {
		return ClusterScanStats{}, err
	}
	masters := cl.Masters()
	b := newBoard(masters, progress)
	nodes := make([]NodeScan, len(masters))
	run := cl.newRun(ctx, masters)
	defer run.stop(nil)
	var mu sync.Mutex // fn, one call at a time
	run.eachMaster(func(ctx context.Context, i int, m ClusterMaster, attempt int) error {
		if attempt > 0 {
			b.restart(i, m)
			nodes[i].Repeated += nodes[i].Scanned
			nodes[i].Scanned = 0
		}
		o := opt
		o.Node, o.Ledger, o.Progress, o.guard = m.Addr, cl.ledger, b.scanned(i), cl.roleCheck(m.Addr, opt.Timeout)
		st, err := Scan(ctx, cl.Reader(m.Addr), o, func(batch []string) error {
			mu.Lock()
			defer mu.Unlock()
			if err := fn(batch); err != nil {
				run.stop(err)
				return err
			}
			return nil
		})
		nodes[i].Scanned += st.Scanned
		nodes[i].Calls += st.Calls
		nodes[i].Total = st.Total
		nodes[i].Complete = st.Complete && err == nil
		b.set(i, true, func(np *NodeProgress) { np.Done = nodes[i].Complete })
		return err
	})
	out := ClusterScanStats{Complete: true, Nodes: nodes, Elapsed: time.Since(start)}
	for i := range nodes {
		nodes[i].NodeRun = run.runs[i]
		nodes[i].Err = run.errs[i]
		out.Scanned += nodes[i].Scanned
		out.Repeated += nodes[i].Repeated
		out.Complete = out.Complete && nodes[i].Complete
	}
	if errors.Is(context.Cause(run.ctx), ErrStop) {
		return out, nil
	}
	return out, run.err()
}
