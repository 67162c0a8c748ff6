package main

import (
	"context"
	"fmt"
	"github.com/dustin/go-humanize"
	"sync"
	"time"

	"redtop/keys"
	"redtop/ui"
)

// bulkJob runs a keys.Preview or keys.RunBulk in its own goroutine and
// keeps its latest progress for the browser to read.
type bulkJob struct {
	mu        sync.Mutex
	st        ui.BulkStatus
	cancel    context.CancelFunc
	abort     chan struct{}
	abortOnce sync.Once
}

func newBulkJob(ctx context.Context) (*bulkJob, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	return &bulkJob{cancel: cancel, abort: make(chan struct{})}, ctx
}

func (j *bulkJob) Status() ui.BulkStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.st
}

func (j *bulkJob) Stop() { j.cancel() }

func (j *bulkJob) Abort() {
	j.abortOnce.Do(func() { close(j.abort) })
	j.cancel()
}

func (j *bulkJob) set(f func(*ui.BulkStatus)) {
	j.mu.Lock()
	f(&j.st)
	j.mu.Unlock()
}

// StartPreview counts what an operation on pattern would touch; it changes
// nothing.
func (s *keySource) StartPreview(ctx context.Context, pattern string) (ui.BulkJob, error) {
	if err := s.open(ctx); err != nil {
		return nil, err
	}
	job, jctx := newBulkJob(ctx)
	opt := keys.BulkOptions{Op: keys.OpDelete, Pattern: pattern, Timeout: s.target.Timeout, Node: s.node, Ledger: s.ledger}
	go func() {
		progress := func(p keys.PreviewProgress) {
			job.set(func(st *ui.BulkStatus) {
				st.Scanned, st.Matched, st.Fraction, st.Elapsed = p.Scanned, p.Matched, p.Fraction, p.Elapsed
			})
		}
		var res *keys.PreviewResult
		var err error
		if s.cl != nil {
			res, err = keys.PreviewCluster(jctx, s.cl, opt, progress)
		} else {
			res, err = keys.Preview(jctx, s.reader, opt, progress)
		}
		job.set(func(st *ui.BulkStatus) {
			st.Done = true
			if err != nil {
				st.Err = s.explain(err).Error()
				return
			}
			st.Preview = previewOf(res)
		})
	}()
	return job, nil
}

func previewOf(r *keys.PreviewResult) *ui.BulkPreview {
	p := &ui.BulkPreview{Pattern: r.Pattern, Matched: r.Matched, Estimate: r.Sampled, DBSize: r.DBSize, Share: r.Share,
		EstBytes: r.EstBytes, TTLNone: r.TTL.None, TTLHour: r.TTL.UnderHr, TTLDay: r.TTL.UnderDay, TTLLonger: r.TTL.Longer,
		Everything: r.MatchesEverything, OverHalf: r.OverHalf, BackupDefault: r.BackupByDefault(), Warnings: r.Warnings}
	for _, k := range r.Samples {
		p.Samples = append(p.Samples, keys.Escape(k))
	}
	return p
}

// StartBulk runs a delete, expire or persist by pattern, with the journal
// (and backup) the keys package writes; on a cluster, on every master at
// once.
func (s *keySource) StartBulk(ctx context.Context, req ui.BulkRequest) (ui.BulkJob, error) {
	if err := s.open(ctx); err != nil {
		return nil, err
	}
	job, jctx := newBulkJob(ctx)
	caps := s.caps
	opt := keys.BulkOptions{Op: keys.Op(req.Op), Pattern: req.Pattern, TTL: req.TTL, Backup: req.Backup,
		Rate: req.Rate, Auto: req.Auto, Abort: job.abort, Caps: &caps, Target: s.target.String(),
		Timeout: s.target.Timeout, Node: s.node, Ledger: s.ledger}
	if err := keys.ValidateBulk(opt); err != nil {
		return nil, err
	}
	go func() {
		progress := func(p keys.BulkProgress) {
			job.set(func(st *ui.BulkStatus) {
				st.Scanned, st.Matched, st.Applied, st.Gone, st.Unknown = p.Scanned, p.Matched, p.Applied, p.Gone, p.Unknown
				st.Fraction, st.Elapsed, st.KeysPerSec, st.ETA, st.Delay = p.Fraction, p.Elapsed, p.KeysPerSec, p.ETA, p.CurrentDelay
			})
		}
		var rep *keys.BulkReport
		var err error
		if s.cl != nil {
			rep, err = keys.RunBulkCluster(jctx, s.cl, opt, progress)
		} else {
			rep, err = keys.RunBulk(jctx, s.reader, s.wc, opt, progress)
		}
		job.set(func(st *ui.BulkStatus) {
			st.Done = true
			if rep == nil {
				st.Err = s.explain(err).Error()
				return
			}
			st.Report, st.Failed = reportLines(rep, err), !rep.OK()
		})
	}()
	return job, nil
}

// reportLines is the honest end-of-run report.
func reportLines(r *keys.BulkReport, err error) []string {
	n := humanize.Comma
	lines := []string{
		fmt.Sprintf("%s: %s · already gone: %s · unknown: %s · refused: %s · not attempted: %s",
			r.Op.Verb(), n(r.Applied), n(r.AlreadyGone), n(r.Unknown), n(r.Refused), n(r.NotAttempted)),
		fmt.Sprintf("scanned %s keys, %s matched, in %s (%s keys/s)", n(r.Scanned), n(r.Matched), r.Elapsed.Round(time.Millisecond), n(int64(r.KeysPerSec))),
	}
	if r.Unchanged > 0 {
		lines = append(lines, fmt.Sprintf("had no TTL: %s", n(r.Unchanged)))
	}
	if note := r.ReshardNote(); note != "" {
		lines = append(lines, note)
	}
	for _, nr := range r.Nodes {
		who := nr.Now()
		if nr.CatchUp {
			who += " (catch-up)"
		}
		lines = append(lines, fmt.Sprintf("%s: %s %s · already gone %s · unknown %s · not attempted %s", who, r.Op.Verb(), n(nr.Applied), n(nr.AlreadyGone), n(nr.Unknown), n(nr.NotAttempted)))
		lines = append(lines, nr.Notes("the "+string(r.Op))...)
	}
	if !r.Complete {
		why := r.Stopped
		if why == "" && err != nil {
			why = err.Error()
		}
		lines = append(lines, "stopped before the end of the keyspace: "+why+"; keys not reached were not attempted")
	}
	if r.Error != "" {
		lines = append(lines, "error: "+r.Error)
	}
	if r.Journal != "" {
		lines = append(lines, "journal: "+keys.Escape(r.Journal))
	}
	if r.Backup != "" {
		lines = append(lines, fmt.Sprintf("backup: %s (%s keys, %s): redtop restore FILE puts them back", keys.Escape(r.Backup), n(r.BackupKeys), humanize.IBytes(uint64(r.BackupBytes))))
	}
	return append(lines, r.Note)
}
