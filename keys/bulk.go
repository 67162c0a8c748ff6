package keys

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/redisinfo"
)

// Op is a bulk operation.
type Op string

// The bulk operations.
const (
	OpDelete  Op = "delete"  // UNLINK
	OpExpire  Op = "expire"  // PEXPIRE with BulkOptions.TTL
	OpPersist Op = "persist" // PERSIST
)

// Bulk defaults.
const (
	DefaultBatch         = 500
	DefaultLatencyTarget = 2 * time.Millisecond
	// BackupLimit: below this estimated size, a delete makes a backup
	// unless told not to (see PreviewResult.BackupByDefault).
	BackupLimit = 1 << 30
	// AutoInterval is how often auto pacing measures the server's latency.
	AutoInterval = 200 * time.Millisecond
	// maxAutoDelay bounds the pause auto pacing puts between batches.
	maxAutoDelay = 2 * time.Second
)

// Note goes with every report: SCAN guarantees only the keys that exist
// for the whole run.
const bulkNote = "keys created during the run may or may not have been touched"

// BulkOptions shape a bulk run (and a Preview, which reads Pattern,
// Count, Timeout, Node and Ledger).
type BulkOptions struct {
	Op      Op
	Pattern string        // Redis glob; checked with ValidatePattern; "*" is every key
	TTL     time.Duration // OpExpire: the TTL to set (> 0), rounded up to milliseconds
	Batch   int           // keys per batch; 0 means DefaultBatch
	Count   int64         // SCAN COUNT; 0 means DefaultCount
	Timeout time.Duration // deadline of each call and batch; 0 means DefaultTimeout

	// Pacing. Rate caps keys per second (0: no cap). Auto PINGs the reader
	// every AutoInterval and halves the batch rate while the latency is above
	// LatencyTarget (0 means DefaultLatencyTarget), speeding up again below.
	Rate          float64
	Auto          bool
	LatencyTarget time.Duration

	// Abort, when closed, cuts the run at once: the write connection is
	// closed, so a batch in flight ends "unknown". Cancelling RunBulk's ctx
	// is the gentle stop: the batch in flight finishes first.
	Abort <-chan struct{}

	// Caps, when set, are the writer's capabilities; nil probes them.
	Caps *Caps

	// Backup (OpDelete only): each batch is one transaction, MULTI, DUMP
	// and PTTL of each key, UNLINK, EXEC, so the backup file holds exactly
	// what was deleted, as it was then. BackupPath "" puts it next to the
	// journal.
	Backup     bool
	BackupPath string
	// JournalDir is where the journal (and default backup) go; "" means
	// StateDir().
	JournalDir string
	// Target names the server in the journal (never with a password);
	// "" uses the writer's address.
	Target string

	// PreviewSample (Preview only): stop counting at this share of the
	// keyspace and estimate; 0 counts everything.
	PreviewSample float64

	Node   string
	Ledger *redisinfo.Ledger

	guard func(context.Context, bool) error // a cluster master's role check, before each SCAN
	keep  func(key string) bool             // when set, keys it refuses are out of the run's scope: skipped, counted nowhere
}

// BulkProgress is reported after every batch (and every SCAN page).
type BulkProgress struct {
	Scanned      int64         // keys SCAN returned
	Matched      int64         // of those, keys matching the pattern
	Done         int64         // keys sent whose outcome is known (applied, gone or unchanged)
	Applied      int64         // deleted, expired or persisted
	Gone         int64         // already gone
	Unknown      int64         // sent, no reply
	Fraction     float64       // share of the keyspace visited, from the cursor
	Elapsed      time.Duration //
	KeysPerSec   float64       // keys sent per second
	ETA          time.Duration // from Fraction; 0 when unknown
	CurrentDelay time.Duration // pause between batches that pacing imposes now

	// Nodes (a cluster run): each master's part.
	Nodes []NodeProgress
}

// BulkReport is what a bulk run did. The journal holds the same, key by
// key.
type BulkReport struct {
	Op      Op     `json:"op"`
	Pattern string `json:"pattern"`
	TTLms   int64  `json:"ttl_ms,omitempty"`

	Applied      int64 `json:"applied"`       // deleted, expired or persisted
	AlreadyGone  int64 `json:"already_gone"`  // did not exist when the command ran
	Unchanged    int64 `json:"unchanged"`     // persist: had no TTL
	Unknown      int64 `json:"unknown"`       // sent, no reply: may or may not have been applied
	Refused      int64 `json:"refused"`       // the server answered with an error: not applied
	NotAttempted int64 `json:"not_attempted"` // scanned and matched, never sent
	Scanned      int64 `json:"scanned"`       // keys SCAN returned
	Matched      int64 `json:"matched"`       // of those, matching the pattern
	Mismatched   int64 `json:"mismatched"`    // returned by SCAN MATCH but refused by Match: not touched
	Batches      int   `json:"batches"`

	// Complete: the scan went through the whole keyspace. When it is
	// false, keys the scan had not reached were not attempted either, and
	// are counted nowhere.
	Complete bool   `json:"complete"`
	Stopped  string `json:"stopped,omitempty"` // why the run ended early
	Error    string `json:"error,omitempty"`

	Elapsed    time.Duration `json:"elapsed_ns"`
	KeysPerSec float64       `json:"keys_per_sec"`

	Journal     string `json:"journal,omitempty"`
	Backup      string `json:"backup,omitempty"`
	BackupKeys  int64  `json:"backup_keys,omitempty"`
	BackupBytes int64  `json:"backup_bytes,omitempty"`

	Note string `json:"note"`

	// Nodes (a cluster run): each master's part, in slot order.
	Nodes []BulkNodeReport `json:"nodes,omitempty"`
	// SlotsMoved (a cluster run): slots served by another master at the
	// end than the one their part ended on, a failover aside: resharded
	// during the run. Keys in them that moved to a master already scanned
	// were not reached, unless CaughtUp: a delete looks for them again on
	// the masters that serve those slots now (the Nodes marked catch_up).
	SlotsMoved int  `json:"slots_moved,omitempty"`
	CaughtUp   bool `json:"caught_up,omitempty"`
}

// ErrAborted is wrapped by the error of a run cut by BulkOptions.Abort.
var ErrAborted = errAborted

func isClosed(c <-chan struct{}) bool {
	if c == nil {
		return false
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Verb is the past participle of the operation, for "N keys deleted".
func (op Op) Verb() string {
	switch op {
	case OpDelete:
		return "deleted"
	case OpExpire:
		return "expired"
	case OpPersist:
		return "persisted"
	}
	return string(op)
}

// command is the write command the operation sends.
func (op Op) command() string {
	switch op {
	case OpDelete:
		return "unlink"
	case OpExpire:
		return "pexpire"
	case OpPersist:
		return "persist"
	}
	return ""
}

// OK reports a run that ended with nothing unknown, refused or left out.
func (r *BulkReport) OK() bool {
	return r.Unknown == 0 && r.Refused == 0 && r.NotAttempted == 0 && r.Complete && r.Error == "" && (r.SlotsMoved == 0 || r.CaughtUp)
}

// ValidateBulk checks what can be checked before anything is sent.
func ValidateBulk(opt BulkOptions) error {
	switch opt.Op {
	case OpDelete, OpExpire, OpPersist:
	default:
		return fmt.Errorf("unknown bulk operation %q: want delete, expire or persist", opt.Op)
	}
	if err := ValidatePattern(opt.Pattern); err != nil {
		return fmt.Errorf("bad pattern: %w", err)
	}
	if opt.Op == OpExpire && opt.TTL <= 0 {
		return fmt.Errorf("TTL must be more than zero, got %v (to remove keys use delete)", opt.TTL)
	}
	if opt.Op != OpExpire && opt.TTL != 0 {
		return fmt.Errorf("a TTL goes with expire only, not %s", opt.Op)
	}
	if opt.Backup && opt.Op != OpDelete {
		return fmt.Errorf("a backup goes with delete only, not %s", opt.Op)
	}
	if opt.Batch < 0 || opt.Count < 0 || opt.Rate < 0 || opt.LatencyTarget < 0 {
		return errors.New("batch, count, rate and latency target must not be negative")
	}
	return nil
}

// checkCaps refuses a run the server or user cannot carry out.
func checkCaps(caps Caps, op Op) error {
	if caps.ReadOnly {
		return fmt.Errorf("%w: nothing sent: %s", ErrReadOnly, caps.ReadOnlyReason)
	}
	if why := caps.Denied[op.command()]; why != "" {
		return fmt.Errorf("%w: nothing sent: %s", ErrDenied, why)
	}
	return nil
}

func (opt BulkOptions) normalize() BulkOptions {
	if opt.Batch == 0 {
		opt.Batch = DefaultBatch
	}
	if opt.Count == 0 {
		opt.Count = DefaultCount
	}
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.LatencyTarget == 0 {
		opt.LatencyTarget = DefaultLatencyTarget
	}
	return opt
}

// RunBulk deletes (UNLINK), expires (PEXPIRE) or persists (PERSIST) every
// key matching opt.Pattern: SCAN MATCH on reader, each key checked again
// with Match, batches of opt.Batch keys written on a connection opened
// with writer's options (which must have retries off), each batch in one
// round trip: one variadic UNLINK, or a PTTL (the undo record) and a
// PEXPIRE/PERSIST per key; with opt.Backup, one transaction that saves and
// unlinks the batch (see deleteWithBackup). An expire on Redis 7.0+ sends
// PEXPIRE … NX first, and PTTL and PEXPIRE in a second round trip only for
// the keys that had a TTL (see expireNX). A command is never sent twice:
// one whose reply does not come is "unknown", and the run stops at the
// first transport failure or error reply. Unless opt.Auto paces it, two
// batches are in flight at once, each on a connection of its own (see
// writeLanes): a cut can leave both unknown.
//
// Before anything is sent it refuses, with nil report: an invalid pattern
// or TTL, a read-only server or user (Caps), a user who may not run the
// command (or MULTI, for a backup), a journal that cannot be created. Once started it always
// returns a report, with an error when the run stopped early: ctx's error
// when ctx was cancelled (the batch in flight is finished first), or what
// failed. Everything the run did is in the journal, batch by batch.
//
// The next SCAN call overlaps with the batches' round trips.
func RunBulk(ctx context.Context, reader, writer *redis.Client, opt BulkOptions, progress func(BulkProgress)) (*BulkReport, error) {
	if err := ValidateBulk(opt); err != nil {
		return nil, err
	}
	opt = opt.normalize()
	if err := checkWriter(writer); err != nil {
		return nil, err
	}
	var caps Caps
	if opt.Caps != nil {
		caps = *opt.Caps
	} else {
		c, err := Probe(ctx, reader, opt.Node, opt.Ledger)
		if err != nil {
			return nil, err
		}
		caps = c
	}
	if err := checkCaps(caps, opt.Op); err != nil {
		return nil, err
	}

	start := time.Now()
	w, err := dialWriter(ctx, writer, opt.Timeout)
	if err != nil {
		return nil, fmt.Errorf("opening the write connection: %w", err)
	}
	w.book(opt.Ledger, opt.Node)
	if opt.Backup {
		if err := checkMulti(w, opt.Ledger, opt.Node); err != nil {
			w.Close()
			return nil, err
		}
	}
	target := opt.Target
	if target == "" {
		target = writer.Options().Addr
		if writer.Options().Network == "unix" {
			target = "unix:" + target
		}
	}
	files, err := openBulkFiles(opt, target, writer.Options().DB, caps.Version, nil, start)
	if err != nil {
		w.Close()
		return nil, err
	}
	r := newBulkRun(opt, files, start, progress)
	r.nx = versionAtLeast(caps.Version, 7, 0)
	r.rt = newRouter(opt.Node, w, opt.Ledger, opt.Abort)
	defer r.rt.close()

	r.pace = newPacer(opt)
	stopAuto := func() {}
	if opt.Auto {
		stopAuto = r.pace.measure(ctx, reader, opt)
	} else {
		r.openLanes(ctx, writer)
		defer r.closeLanes()
	}
	complete, pending, scanErr := r.drive(ctx, reader)
	r.rep.Complete = complete
	stopAuto()
	scanErr = r.conclude(ctx, pending, scanErr)
	r.finish()
	if ferr := files.close(r.rep); ferr != nil && scanErr == nil {
		scanErr = ferr
		r.rep.Error = ferr.Error()
	}
	return r.rep, scanErr
}

// checkMulti refuses a delete with backup on a connection where MULTI is
// refused: each batch's DUMPs and UNLINK go as one transaction.
func checkMulti(w *wconn, ledger *redisinfo.Ledger, node string) error {
	refused, err := w.canMulti(ledger, node)
	switch {
	case err != nil:
		return fmt.Errorf("opening the write connection: %w", err)
	case refused != nil:
		return fmt.Errorf("%w: nothing sent: a delete with backup saves and deletes each batch in one transaction, and the server refused MULTI (%v); grant +multi +exec +discard, or --no-backup deletes without a backup", ErrDenied, refused)
	}
	return nil
}

// bulkFiles are what a run writes as it goes, shared by the masters'
// parts of a cluster run: the journal, the backup, the batch numbers.
type bulkFiles struct {
	journal *journal
	backup  *backupWriter
	seq     atomic.Int64
	cluster bool // journal lines name their node
	rep     BulkReport
}

// openBulkFiles creates the journal (and the backup) and writes their
// headers. nodes, for a cluster, are its masters. On failure nothing is
// left behind.
func openBulkFiles(opt BulkOptions, target string, db int, version string, nodes []string, now time.Time) (*bulkFiles, error) {
	f := &bulkFiles{cluster: nodes != nil}
	fail := func(err error) (*bulkFiles, error) {
		if f.backup != nil {
			f.backup.close()
			os.Remove(f.backup.path)
		}
		if f.journal != nil {
			f.journal.close()
			os.Remove(f.journal.path)
		}
		return nil, err
	}
	dir := opt.JournalDir
	if dir == "" {
		d, err := StateDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	j, err := createJournal(dir, fileStem(now, opt.Op))
	if err != nil {
		return nil, err
	}
	f.journal = j
	f.rep.Journal = j.path
	if opt.Backup {
		path := opt.BackupPath
		if path == "" {
			path = strings.TrimSuffix(j.path, ".journal.jsonl") + ".backup.jsonl"
		}
		b, err := createBackup(path, BackupHeader{
			Created: now.UTC(), Target: target, DB: db, Cluster: f.cluster,
			Pattern: opt.Pattern, RedisVersion: version,
		})
		if err != nil {
			return fail(err)
		}
		f.backup = b
		f.rep.Backup = b.path
	}
	h := JournalHeader{
		Type: "header", Format: "redtop-journal", Version: journalVersion, Time: now.UTC(),
		Target: target, DB: db, Op: opt.Op, Pattern: opt.Pattern,
		TTLms: ttlMs(opt), Backup: f.rep.Backup, Nodes: nodes,
	}
	if err := j.write(h); err != nil {
		return fail(err)
	}
	return f, nil
}

// close writes the journal's footer with the report and closes the files.
func (f *bulkFiles) close(rep *BulkReport) error {
	err := f.journal.write(JournalFooter{Type: "footer", Time: time.Now().UTC(), Report: rep})
	if f.backup != nil {
		if berr := f.backup.close(); err == nil {
			err = berr
		}
		rep.BackupKeys, rep.BackupBytes = f.backup.counts()
	}
	if jerr := f.journal.close(); err == nil && jerr != nil {
		err = fmt.Errorf("journal %s: %w", f.journal.path, jerr)
	}
	return err
}

func ttlMs(opt BulkOptions) int64 {
	if opt.Op != OpExpire {
		return 0
	}
	return int64((opt.TTL + time.Millisecond - 1) / time.Millisecond)
}

// afterPage, set by tests only, is called after each SCAN page of a bulk
// run is taken in, before its batches go: a slot can be moved there.
var afterPage func(node string)

// bulkRun is the state of one run, or of one master's part of a cluster
// run.
type bulkRun struct {
	opt      BulkOptions
	rep      *BulkReport
	files    *bulkFiles
	rt       *router
	pace     *pacer
	ttlArg   string
	seq      int
	start    time.Time
	fraction float64
	progress func(BulkProgress)
	lastRep  time.Time

	stopErr error    // why the run stopped, set by batch
	unsent  []string // keys of the stopping batch that were never sent

	// nx: an expire tries PEXPIRE … NX first (see expireNX), the server
	// has it (Redis 7.0+). ttlShare: the share of the last batch's keys
	// that had a TTL (or were gone).
	nx       bool
	ttlShare float64

	// lanes, when set, write the run's batches (see openLanes); lane is
	// this run's index among them, -1 for the run they write for.
	lanes *lanes
	lane  int
}

func newBulkRun(opt BulkOptions, files *bulkFiles, start time.Time, progress func(BulkProgress)) *bulkRun {
	r := &bulkRun{opt: opt, files: files, start: start, progress: progress}
	r.rep = &BulkReport{Op: opt.Op, Pattern: opt.Pattern, Note: bulkNote, Journal: files.rep.Journal, Backup: files.rep.Backup}
	if opt.Op == OpExpire {
		r.rep.TTLms = ttlMs(opt)
		r.ttlArg = strconv.FormatInt(r.rep.TTLms, 10)
	}
	return r
}

// drive scans with SCAN MATCH on reader, checks each key with Match and
// sends full batches. It returns whether the scan went through the whole
// keyspace, the keys scanned and matched but never sent, and why it
// stopped early.
func (r *bulkRun) drive(ctx context.Context, reader *redis.Client) (complete bool, pending []string, err error) {
	opt := r.opt
	// The scan stops at once on Abort too.
	scanCtx, cancelScan := context.WithCancel(ctx)
	defer cancelScan()
	if opt.Abort != nil {
		go func() {
			select {
			case <-opt.Abort:
				cancelScan()
			case <-scanCtx.Done():
			}
		}()
	}
	sopt := ScanOptions{
		Match: opt.Pattern, Count: opt.Count, Timeout: opt.Timeout,
		Node: opt.Node, Ledger: opt.Ledger, guard: opt.guard,
		Progress: func(pr Progress) {
			r.fraction = pr.Fraction()
			r.report()
		},
	}
	send := r.batch
	if r.lanes != nil {
		r.lanes.start(ctx)
		send = func(_ context.Context, keys []string) error { return r.lanes.hand(r, keys) }
	}
	st, scanErr := Scan(scanCtx, reader, sopt, func(page []string) error {
		r.rep.Scanned += int64(len(page))
		for _, k := range page {
			if opt.keep != nil && !opt.keep(k) {
				continue
			}
			if !Match(opt.Pattern, k) {
				r.rep.Mismatched++
				continue
			}
			r.rep.Matched++
			pending = append(pending, k)
		}
		if afterPage != nil {
			afterPage(opt.Node)
		}
		for len(pending) >= opt.Batch {
			err := send(ctx, pending[:opt.Batch])
			pending = pending[opt.Batch:] // on error, the batch's unsent keys are in r.unsent
			if err != nil {
				return err
			}
		}
		r.report()
		return nil
	})
	complete = st.Complete && scanErr == nil
	if scanErr == nil && len(pending) > 0 {
		scanErr = send(ctx, pending)
		pending = nil
	}
	if r.lanes != nil {
		r.lanes.finish(r)
	}
	// Whatever stopped the run, the keys scanned but not sent are journaled.
	if r.stopErr != nil {
		scanErr = r.stopErr
		pending = append(r.unsent, pending...)
	}
	return complete, pending, scanErr
}

// conclude journals the keys never sent and says why the run stopped.
func (r *bulkRun) conclude(ctx context.Context, pending []string, scanErr error) error {
	if len(pending) > 0 {
		r.rep.NotAttempted += int64(len(pending))
		r.line(JournalBatch{Seq: r.seq, Result: ResultNotAttempted}, r.opt.Node, pending, nil, nil, nil)
	}
	if scanErr != nil {
		r.rep.Complete = false
		if r.rep.Stopped == "" {
			switch {
			case isClosed(r.opt.Abort):
				r.rep.Stopped = "aborted"
				scanErr = fmt.Errorf("%w: %v", errAborted, scanErr)
			case ctx.Err() != nil:
				r.rep.Stopped = "cancelled"
			default:
				r.rep.Stopped = "failed"
			}
		}
		if r.rep.Stopped != "cancelled" {
			r.rep.Error = scanErr.Error()
		}
	}
	return scanErr
}

func (r *bulkRun) finish() {
	r.rep.Elapsed = time.Since(r.start)
	if s := r.rep.Elapsed.Seconds(); s > 0 {
		r.rep.KeysPerSec = float64(r.rep.sent()) / s
	}
	if r.files.backup != nil {
		r.rep.BackupKeys, r.rep.BackupBytes = r.files.backup.counts()
	}
}

// ReshardNote says, when SlotsMoved, what became of the resharded slots'
// keys; "" otherwise.
func (rep *BulkReport) ReshardNote() string {
	switch {
	case rep.SlotsMoved == 0:
		return ""
	case rep.CaughtUp:
		return fmt.Sprintf("%d slots changed master during the run (resharding): the masters serving them now were scanned again for their keys", rep.SlotsMoved)
	}
	return fmt.Sprintf("%d slots changed master during the run (resharding): keys in them that moved to a master already scanned may have been missed; run it again to catch them", rep.SlotsMoved)
}

// addCounts adds o's counts of keys and batches to rep's: a cluster's
// masters, or a run's write lanes, make one report.
func (rep *BulkReport) addCounts(o *BulkReport) {
	rep.Applied += o.Applied
	rep.AlreadyGone += o.AlreadyGone
	rep.Unchanged += o.Unchanged
	rep.Unknown += o.Unknown
	rep.Refused += o.Refused
	rep.NotAttempted += o.NotAttempted
	rep.Scanned += o.Scanned
	rep.Matched += o.Matched
	rep.Mismatched += o.Mismatched
	rep.Batches += o.Batches
}

// sent is the number of keys sent so far, whatever their outcome.
func (rep *BulkReport) sent() int64 {
	return rep.Applied + rep.AlreadyGone + rep.Unchanged + rep.Unknown + rep.Refused
}

// report calls progress, at most 20 times a second.
func (r *bulkRun) report() {
	if l := r.lanes; l != nil {
		l.report(r)
		return
	}
	if r.progress == nil || time.Since(r.lastRep) < 50*time.Millisecond {
		return
	}
	r.lastRep = time.Now()
	r.progress(r.progressOf(r.rep, r.fraction))
}

// progressOf is the progress of a run whose counts are rep.
func (r *bulkRun) progressOf(rep *BulkReport, fraction float64) BulkProgress {
	el := time.Since(r.start)
	p := BulkProgress{
		Scanned: rep.Scanned, Matched: rep.Matched,
		Done:    rep.Applied + rep.AlreadyGone + rep.Unchanged,
		Applied: rep.Applied, Gone: rep.AlreadyGone, Unknown: rep.Unknown,
		Fraction: fraction, Elapsed: el, CurrentDelay: r.pace.delay(),
	}
	if rep.Complete {
		p.Fraction = 1
	}
	if s := el.Seconds(); s > 0 {
		p.KeysPerSec = float64(rep.sent()) / s
	}
	if p.Fraction > 0.01 && p.Fraction < 1 {
		p.ETA = time.Duration(float64(el) * (1 - p.Fraction) / p.Fraction)
	}
	return p
}

// batch sends one batch, after pacing, waits for its replies and books
// its outcome in the report and the journal. It returns an error to stop
// the run: then r.stopErr is set and r.unsent holds the keys never sent.
//
// One batch at a time on a connection: a run keeps a second in flight on a
// second connection (see writeLanes), so each lane's batches keep its
// simple order (a batch, its replies, the journal) and its second round
// trip (expireNX, a redirect) never meets another batch's replies.
func (r *bulkRun) batch(ctx context.Context, keys []string) error {
	stop := func(err error, unsent []string) error {
		r.stopErr = err
		r.unsent = append(r.unsent, unsent...)
		return err
	}
	if err := r.stopped(ctx); err != nil {
		return stop(err, keys)
	}
	if err := r.pace.wait(ctx, r.opt.Abort, len(keys)); err != nil {
		return stop(err, keys)
	}
	r.seq = int(r.files.seq.Add(1))
	r.rep.Batches++
	t0 := time.Now()
	var err error
	var unsent []string
	switch {
	case r.opt.Op == OpDelete && r.files.backup != nil:
		unsent, err = r.deleteWithBackup(ctx, keys)
	case r.opt.Op == OpDelete:
		unsent, err = r.unlink(ctx, keys)
	case r.opt.Op == OpExpire && r.nx && r.ttlShare <= nxBelow:
		unsent, err = r.expireNX(ctx, keys)
	default:
		unsent, err = r.perKey(ctx, keys)
	}
	r.pace.done(time.Since(t0))
	r.report()
	if err != nil {
		return stop(err, unsent)
	}
	if jerr := r.files.journal.failed(); jerr != nil {
		return stop(jerr, nil)
	}
	return nil
}

// stopped reports why the run must not send another batch.
func (r *bulkRun) stopped(ctx context.Context) error {
	select {
	case <-r.opt.Abort:
		r.rep.Stopped = "aborted"
		return errAborted
	default:
	}
	if err := ctx.Err(); err != nil {
		r.rep.Stopped = "cancelled"
		return err
	}
	return nil
}

// book records commands sent to node in the ledger.
func (r *bulkRun) book(node, cmd string, n, hits, misses int64) {
	if l := r.opt.Ledger; l != nil && n > 0 {
		l.Call(node, cmd, n)
		if hits+misses > 0 {
			l.Lookups(node, hits, misses)
		}
	}
}

// line journals keys of a batch that share a result, on node (named in
// the line on a cluster); prev, when set, holds each key's PTTL before
// the write.
func (r *bulkRun) line(b JournalBatch, node string, keys, gone, unchanged []string, prev []int64) error {
	if r.files.cluster {
		b.Node = node
	}
	return r.files.journal.batchPrev(b, keys, gone, unchanged, prev)
}

// transport names the failure that cut a batch and marks why the run
// stopped.
func (r *bulkRun) transport(err error, what string) error {
	var be *batchError
	if errors.As(err, &be) && errors.Is(be.Err, errAborted) {
		r.rep.Stopped = "aborted"
		return fmt.Errorf("%s: %w", what, errAborted)
	}
	var cd *clusterDownError
	if errors.As(err, &cd) {
		r.rep.Stopped = "cluster down"
		return fmt.Errorf("%s: %w", what, err)
	}
	if r.rep.Stopped == "" || r.rep.Stopped == "cancelled" {
		r.rep.Stopped = "connection lost"
	}
	return fmt.Errorf("%s: connection lost: %w", what, err)
}

// refused handles an error reply that stops the run.
func (r *bulkRun) refused(seq int, node string, keys []string, err error) {
	r.rep.Refused += int64(len(keys))
	r.rep.Stopped = "refused"
	r.line(JournalBatch{Seq: seq, Result: ResultRefused, Error: err.Error()}, node, keys, nil, nil, nil)
}

// explainBulk maps an error reply to a line an operator can act on.
func explainBulk(op Op, err error) error {
	msg := err.Error()
	cmd := strings.ToUpper(op.command())
	switch {
	case strings.HasPrefix(msg, "NOPERM"):
		return fmt.Errorf("%w: the server refused %s (%s): nothing more sent", ErrDenied, cmd, msg)
	case strings.HasPrefix(msg, "READONLY"):
		return fmt.Errorf("%w: the server is a read-only replica: connect to its master (%s)", ErrReadOnly, msg)
	case strings.HasPrefix(msg, "ERR unknown command"):
		return fmt.Errorf("this server does not know %s (renamed or disabled?): %s", cmd, msg)
	}
	return fmt.Errorf("%s refused: %s", cmd, msg)
}

func firstErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
