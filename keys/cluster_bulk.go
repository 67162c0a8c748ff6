package keys

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ProbeCluster probes every master (see Probe), each on a client of its
// own closed after (so a reader hook set afterwards, such as NO-TOUCH,
// reaches every reading connection), and sums up what the cluster lets
// redtop do: read-only, or denied a command, when any master is.
func ProbeCluster(ctx context.Context, cl *Cluster) (Caps, error) {
	var out Caps
	for i, m := range cl.Masters() {
		pc := redis.NewClient(cl.target.ForNode(m.Addr).Options())
		c, err := Probe(ctx, pc, m.Addr, cl.ledger)
		pc.Close()
		if err != nil {
			return out, fmt.Errorf("%s: %w", m.Addr, err)
		}
		if i == 0 {
			out = c
			continue
		}
		if c.ReadOnly && !out.ReadOnly {
			out.ReadOnly, out.ReadOnlyReason = true, m.Addr+": "+c.ReadOnlyReason
		}
		for cmd, why := range c.Denied {
			if out.Denied == nil {
				out.Denied = map[string]string{}
			}
			if out.Denied[cmd] == "" {
				out.Denied[cmd] = why
			}
		}
		out.NoTouch = out.NoTouch && c.NoTouch
		out.ACLChecked = out.ACLChecked && c.ACLChecked
		for _, u := range c.Unknown {
			if !slices.Contains(out.Unknown, u) {
				out.Unknown = append(out.Unknown, u)
			}
		}
	}
	return out, nil
}

// NodePreview is one master's part of PreviewCluster.
type NodePreview struct {
	NodeRun
	Matched  int64 `json:"matched"`
	Scanned  int64 `json:"scanned"`
	DBSize   int64 `json:"dbsize"`
	EstBytes int64 `json:"est_bytes"`
	Sampled  bool  `json:"sampled"`
}

// PreviewCluster is Preview over every master of cl, at once (up to
// cl.Parallel), each master counted and measured as Preview does one
// server, and the results added up. A master that fails over is counted
// again from the start on the one that took its slots.
func PreviewCluster(ctx context.Context, cl *Cluster, opt BulkOptions, progress func(PreviewProgress)) (*PreviewResult, error) {
	if err := ValidatePattern(opt.Pattern); err != nil {
		return nil, fmt.Errorf("bad pattern: %w", err)
	}
	opt = opt.normalize()
	start := time.Now()
	masters := cl.Masters()
	parts := make([]*PreviewResult, len(masters))
	b := newBoard(masters, func(cp ClusterProgress) {
		if progress == nil {
			return
		}
		var m int64
		for _, n := range cp.Nodes {
			m += n.Matched
		}
		progress(PreviewProgress{Scanned: cp.Scanned(), Matched: m, Fraction: cp.Fraction(), Elapsed: time.Since(start), Nodes: cp.Nodes})
	})
	run := cl.newRun(ctx, masters)
	defer run.stop(nil)
	run.eachMaster(func(ctx context.Context, i int, m ClusterMaster, attempt int) error {
		if attempt > 0 {
			b.restart(i, m)
		}
		o := opt
		o.Node, o.Ledger, o.guard = m.Addr, cl.ledger, cl.roleCheck(m.Addr, opt.Timeout)
		res, err := Preview(ctx, cl.Reader(m.Addr), o, func(p PreviewProgress) {
			b.set(i, false, func(np *NodeProgress) { np.Scanned, np.Matched, np.Fraction = p.Scanned, p.Matched, p.Fraction })
		})
		parts[i] = res
		b.set(i, true, func(np *NodeProgress) { np.Done = err == nil })
		return err
	})
	if err := run.err(); err != nil {
		return nil, err
	}

	res := &PreviewResult{Pattern: opt.Pattern, Samples: []string{}, Fraction: 1}
	res.MatchesEverything = parts[0].MatchesEverything
	var samples []string
	var fp ClusterProgress
	unsized := false
	for i, p := range parts {
		res.Nodes = append(res.Nodes, NodePreview{NodeRun: run.runs[i], Matched: p.Matched, Scanned: p.Scanned,
			DBSize: p.DBSize, EstBytes: p.EstBytes, Sampled: p.Sampled})
		res.Matched += p.Matched
		res.Counted += p.Counted
		res.Scanned += p.Scanned
		res.Sampled = res.Sampled || p.Sampled
		if i == 0 || res.DBSize >= 0 && p.DBSize >= 0 {
			res.DBSize += p.DBSize
		} else {
			res.DBSize = -1
		}
		res.Measured += p.Measured
		res.Vanished += p.Vanished
		switch {
		case p.EstBytes < 0 && p.Matched > 0:
			unsized = true
		case p.EstBytes > 0:
			res.EstBytes += p.EstBytes
		}
		res.TTL.None += p.TTL.None
		res.TTL.UnderHr += p.TTL.UnderHr
		res.TTL.UnderDay += p.TTL.UnderDay
		res.TTL.Longer += p.TTL.Longer
		samples = append(samples, p.Samples...)
		for _, w := range p.Warnings {
			if !slices.Contains(res.Warnings, w) {
				res.Warnings = append(res.Warnings, w)
			}
		}
		fp.Nodes = append(fp.Nodes, NodeProgress{Total: p.DBSize, Fraction: p.Fraction})
	}
	if unsized {
		res.EstBytes = -1
	}
	if res.Sampled {
		res.Fraction = fp.Fraction()
	}
	if res.DBSize > 0 {
		res.Share = float64(res.Matched) / float64(res.DBSize)
		res.OverHalf = res.Share > 0.5
	}
	// Each master's samples are a random pick of its keys: shuffled
	// together, the first ones are a random pick of the cluster's.
	rand.Shuffle(len(samples), func(i, j int) { samples[i], samples[j] = samples[j], samples[i] })
	res.Samples = slices.Sorted(slices.Values(samples[:min(len(samples), PreviewSamples)]))
	res.Elapsed = time.Since(start)
	return res, nil
}

// BulkNodeReport is one master's part of a cluster bulk run: the keys its
// scan found and what became of them, wherever they were sent (a key
// answered MOVED is sent on to the node named, and counted here).
type BulkNodeReport struct {
	NodeRun
	Applied      int64  `json:"applied"`
	AlreadyGone  int64  `json:"already_gone"`
	Unchanged    int64  `json:"unchanged"`
	Unknown      int64  `json:"unknown"`
	Refused      int64  `json:"refused"`
	NotAttempted int64  `json:"not_attempted"`
	Scanned      int64  `json:"scanned"`
	Matched      int64  `json:"matched"`
	Moved        int64  `json:"moved"`                 // commands re-sent to another node after MOVED or ASK
	SlotsMoved   int    `json:"slots_moved,omitempty"` // of the part's slots, those another master serves at the end
	CatchUp      bool   `json:"catch_up,omitempty"`    // a second look, for the keys of resharded slots, on a master that serves some now
	Complete     bool   `json:"complete"`
	Stopped      string `json:"stopped,omitempty"`
	Error        string `json:"error,omitempty"`
}

// RunBulkCluster is RunBulk over every master of cl, at once (up to
// cl.Parallel): each master's keys are scanned on it and written on a raw
// connection of their own to it, as RunBulk does one server, into one
// journal (each line names its node) and one backup. On a cluster:
//
//   - a variadic UNLINK goes one command per hash slot, all in the
//     batch's one round trip, as a command must not cross slots; with a
//     backup, so does the transaction that saves and unlinks (MULTI,
//     DUMP and PTTL of each key, UNLINK, EXEC), as a transaction must
//     not cross slots either;
//   - a command answered MOVED or ASK (a slot migrated, or the master
//     demoted) is sent once more to the node named: the server refused it
//     before running it. A transaction goes again whole when every command
//     queued was redirected (EXECABORT: nothing ran); one refused for some
//     keys with ASK and the others with TRYAGAIN (a slot half migrated)
//     counts as the cluster down, and the master's part starts over. A command whose reply did not come is "unknown"
//     and never sent again, as on one server;
//   - a master that fails over mid-run (its connection breaks, or it
//     turns replica) has its part started again from the start on the
//     master that took its slots. Keys it deleted are gone there, so
//     nothing counts twice: the counts are UNLINK's replies.
//
// A slot migrated during the run (resharding) takes its keys along, and
// those that land on a master already scanned are not reached by its
// scan: after a run that went through, the slot map is read again and
// each master serving a slot that changed master is scanned once more for
// that slot's keys (catchUp; SlotsMoved, CaughtUp). Moved counts the
// commands that met a moved slot.
//
// opt.Rate is for the whole cluster, split evenly between the masters.
// A master whose part fails for another reason stops the others after
// their batch in flight. The report adds up the masters' parts, each also
// in Nodes.
func RunBulkCluster(ctx context.Context, cl *Cluster, opt BulkOptions, progress func(BulkProgress)) (*BulkReport, error) {
	if err := ValidateBulk(opt); err != nil {
		return nil, err
	}
	opt = opt.normalize()
	masters := cl.Masters()
	var caps Caps
	if opt.Caps != nil {
		caps = *opt.Caps
	} else {
		c, err := ProbeCluster(ctx, cl)
		if err != nil {
			return nil, err
		}
		caps = c
	}
	if err := checkCaps(caps, opt.Op); err != nil {
		return nil, err
	}
	if err := checkWriter(cl.Writer(masters[0].Addr)); err != nil {
		return nil, err
	}

	start := time.Now()
	dial := cl.dialNode(opt.Timeout)
	ws := make([]*wconn, len(masters))
	closeAll := func() {
		for _, w := range ws {
			if w != nil {
				w.Close()
			}
		}
	}
	addrs := make([]string, len(masters))
	for i, m := range masters {
		addrs[i] = m.Addr
		w, err := dial(ctx, m.Addr)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("opening the write connection to %s: %w", m.Addr, err)
		}
		ws[i] = w
		if opt.Backup {
			if err := checkMulti(w, cl.ledger, m.Addr); err != nil {
				closeAll()
				return nil, fmt.Errorf("%s: %w", m.Addr, err)
			}
		}
	}
	target := opt.Target
	if target == "" {
		target = cl.target.String()
	}
	files, err := openBulkFiles(opt, target, 0, caps.Version, addrs, start)
	if err != nil {
		closeAll()
		return nil, err
	}

	bb := newBulkBoard(masters, start, progress)
	parts := make([]*bulkRun, len(masters))
	leftover := make([][]string, len(masters))
	for i, m := range masters {
		parts[i] = newPart(cl, opt, m.Addr, len(masters), ws[i], dial, files, start, func(p BulkProgress) { bb.set(i, p) })
	}
	defer func() {
		for _, r := range parts {
			r.rt.close()
		}
	}()
	run := cl.newRun(ctx, masters)
	defer run.stop(nil)
	run.eachMaster(func(ctx context.Context, i int, m ClusterMaster, attempt int) error {
		r := parts[i]
		if attempt > 0 {
			// The keys the cut attempt scanned and did not send come back
			// in the new scan: they are not "not attempted".
			leftover[i], r.stopErr, r.unsent, r.rep.Stopped = nil, nil, nil, ""
			r.opt.Node, r.rt.home = m.Addr, m.Addr
			bb.restart(i, m)
		}
		reader := cl.Reader(m.Addr)
		r.opt.guard = cl.roleCheck(m.Addr, opt.Timeout)
		stopAuto := func() {}
		if opt.Auto {
			stopAuto = r.pace.measure(ctx, reader, r.opt)
		}
		complete, pending, err := r.drive(ctx, reader)
		stopAuto()
		r.rep.Complete = complete
		leftover[i] = pending
		return err // another error than a failover stops the others after their batch in flight
	})

	moved, movedSet := movedSlots(ctx, cl, masters, run.runs)
	total := &BulkReport{Op: opt.Op, Pattern: opt.Pattern, TTLms: ttlMs(opt), Note: bulkNote,
		Journal: files.rep.Journal, Backup: files.rep.Backup, Complete: true}
	var firstErr error
	pick := -1 // the master the run stopped for: the first that failed by itself
	for i, r := range parts {
		err := r.conclude(run.ctx, leftover[i], run.errs[i])
		rep := r.rep
		total.addCounts(rep)
		total.Complete = total.Complete && rep.Complete
		nr := r.nodeReport(run.runs[i])
		nr.SlotsMoved = moved[i]
		total.Nodes = append(total.Nodes, nr)
		total.SlotsMoved += moved[i]
		if err != nil && (pick < 0 || parts[pick].rep.Stopped == "cancelled" && rep.Stopped != "cancelled") {
			pick, firstErr = i, fmt.Errorf("%s: %w", masters[i].Addr, err)
		}
	}
	if pick >= 0 {
		total.Stopped, total.Error = parts[pick].rep.Stopped, parts[pick].rep.Error
		if total.Error != "" {
			total.Error = masters[pick].Addr + ": " + total.Error
		}
	}
	if firstErr == nil && len(movedSet) > 0 {
		firstErr = catchUp(ctx, cl, opt, files, movedSet, dial, total)
	}
	total.Elapsed = time.Since(start)
	if s := total.Elapsed.Seconds(); s > 0 {
		total.KeysPerSec = float64(total.Applied+total.AlreadyGone+total.Unchanged+total.Unknown+total.Refused) / s
	}
	if ferr := files.close(total); ferr != nil && firstErr == nil {
		firstErr = ferr
		total.Error = ferr.Error()
	}
	return total, firstErr
}

// newPart is one master's part of a cluster run: opt on the master at
// addr, its rate a share of parts, writing on w (redirects dialled with
// dial) into files.
func newPart(cl *Cluster, opt BulkOptions, addr string, parts int, w *wconn, dial func(context.Context, string) (*wconn, error),
	files *bulkFiles, start time.Time, progress func(BulkProgress)) *bulkRun {
	opt.Node, opt.Ledger, opt.Rate = addr, cl.ledger, opt.Rate/float64(parts)
	r := newBulkRun(opt, files, start, progress)
	r.rt = newRouter(addr, w, cl.ledger, opt.Abort)
	r.rt.dial, r.rt.cluster = dial, true
	r.pace = newPacer(opt)
	return r
}

// nodeReport is what the part r did, for a cluster report's Nodes.
func (r *bulkRun) nodeReport(run NodeRun) BulkNodeReport {
	rep := r.rep
	return BulkNodeReport{NodeRun: run, Applied: rep.Applied, AlreadyGone: rep.AlreadyGone, Unchanged: rep.Unchanged,
		Unknown: rep.Unknown, Refused: rep.Refused, NotAttempted: rep.NotAttempted, Scanned: rep.Scanned, Matched: rep.Matched,
		Moved: r.rt.moved, Complete: rep.Complete, Stopped: rep.Stopped, Error: rep.Error}
}

// movedSlots discovers the cluster again after a run and counts, for each
// master's part, the slots it had at the start that a master other than
// the one the part ended on (its successor, after a failover) serves now:
// resharded during the run. A resharding moves keys without a MOVED reply
// when the run never sent a command to them: only the slot map tells. A
// discovery that fails counts nothing.
func movedSlots(ctx context.Context, cl *Cluster, masters []ClusterMaster, runs []NodeRun) (counts []int, slots map[int]bool) {
	counts = make([]int, len(masters))
	if ctx.Err() != nil || cl.Refresh(ctx, "") != nil {
		return counts, nil
	}
	for i, m := range masters {
		for _, r := range m.Slots {
			for s := r[0]; s <= r[1]; s++ {
				if cl.SlotOwner(s) != runs[i].Now() {
					counts[i]++
					if slots == nil {
						slots = map[int]bool{}
					}
					slots[s] = true
				}
			}
		}
	}
	return counts, slots
}

// catchUp looks again, after a run, for the keys of the slots resharded
// during it: each master that serves some of them now is scanned once
// more and the matching keys in those slots are acted on, one master after
// another, into the same journal and backup. Nothing is done twice: keys a
// delete removed are gone, and an expire or persist skips the keys its
// journal already lists (their undo record is the first one). The keys
// the catch-up reaches count on lines of their own in Nodes (catch_up).
func catchUp(ctx context.Context, cl *Cluster, opt BulkOptions, files *bulkFiles, slots map[int]bool,
	dial func(context.Context, string) (*wconn, error), total *BulkReport) error {
	var done map[string]bool
	if opt.Op != OpDelete {
		var err error
		if done, err = journaledIn(files.journal.path, slots); err != nil {
			return fmt.Errorf("looking again for the keys of resharded slots: %w", err)
		}
	}
	var owners []string
	for s := range slots {
		if o := cl.SlotOwner(s); o != "" && !slices.Contains(owners, o) {
			owners = append(owners, o)
		}
	}
	slices.Sort(owners)
	for _, addr := range owners {
		w, err := dial(ctx, addr)
		if err != nil {
			return fmt.Errorf("looking again for the keys of resharded slots: %s: %w", addr, err)
		}
		o := opt
		o.keep = func(k string) bool { return slots[Slot(k)] && !done[k] }
		r := newPart(cl, o, addr, len(owners), w, dial, files, time.Now(), nil)
		complete, pending, err := r.drive(ctx, cl.Reader(addr))
		r.rep.Complete = complete
		err = r.conclude(ctx, pending, err)
		r.rt.close()
		rep := r.rep
		total.addCounts(rep)
		total.Complete = total.Complete && rep.Complete
		nr := r.nodeReport(NodeRun{Node: addr})
		nr.CatchUp = true
		total.Nodes = append(total.Nodes, nr)
		if err != nil {
			total.Stopped, total.Error = rep.Stopped, addr+": "+rep.Error
			return fmt.Errorf("%s (looking again for the keys of resharded slots): %w", addr, err)
		}
	}
	total.CaughtUp = true
	return nil
}

// journaledIn lists the keys in slots that the journal at path says the
// run sent, whatever became of them.
func journaledIn(path string, slots map[int]bool) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	j, err := ReadJournal(f)
	if err != nil {
		return nil, fmt.Errorf("reading the journal %s: %w", path, err)
	}
	out := map[string]bool{}
	for _, list := range [][]string{j.Applied, j.Gone, j.Unchanged, j.Unknown, j.Refused} {
		for _, k := range list {
			if slots[Slot(k)] {
				out[k] = true
			}
		}
	}
	return out, nil
}

// bulkBoard adds up the masters' progress for a cluster bulk run.
type bulkBoard struct {
	mu    sync.Mutex
	snaps []BulkProgress
	nodes []NodeProgress
	fn    func(BulkProgress)
	start time.Time
	last  time.Time
}

func newBulkBoard(masters []ClusterMaster, start time.Time, fn func(BulkProgress)) *bulkBoard {
	b := &bulkBoard{snaps: make([]BulkProgress, len(masters)), nodes: newBoard(masters, nil).nodes, fn: fn, start: start}
	return b
}

func (b *bulkBoard) set(i int, p BulkProgress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.snaps[i] = p
	n := &b.nodes[i]
	n.Scanned, n.Matched, n.Applied, n.Fraction, n.Done = p.Scanned, p.Matched, p.Applied, p.Fraction, p.Fraction >= 1
	if b.fn == nil || time.Since(b.last) < 50*time.Millisecond {
		return
	}
	b.last = time.Now()
	var sum BulkProgress
	for _, s := range b.snaps {
		sum.Scanned += s.Scanned
		sum.Matched += s.Matched
		sum.Done += s.Done
		sum.Applied += s.Applied
		sum.Gone += s.Gone
		sum.Unknown += s.Unknown
		sum.KeysPerSec += s.KeysPerSec
		sum.CurrentDelay = max(sum.CurrentDelay, s.CurrentDelay)
	}
	sum.Nodes = slices.Clone(b.nodes)
	sum.Fraction = ClusterProgress{Nodes: sum.Nodes}.Fraction()
	sum.Elapsed = time.Since(b.start)
	if sum.Fraction > 0.01 && sum.Fraction < 1 {
		sum.ETA = time.Duration(float64(sum.Elapsed) * (1 - sum.Fraction) / sum.Fraction)
	}
	b.fn(sum)
}

func (b *bulkBoard) restart(i int, m ClusterMaster) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nodes[i] = NodeProgress{Node: m.Addr, Total: -1, Failovers: b.nodes[i].Failovers + 1}
}
