package keys

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
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

	// Backup (OpDelete only): DUMP and PTTL each batch into a backup file
	// before UNLINK; only keys saved are unlinked. BackupPath "" puts it
	// next to the journal.
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
	return r.Unknown == 0 && r.Refused == 0 && r.NotAttempted == 0 && r.Complete && r.Error == ""
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
// with Match, batches of opt.Batch keys written on one connection opened
// with writer's options (which must have retries off), each batch in one
// round trip: one variadic UNLINK, or one PEXPIRE/PERSIST per key. A
// batch is never sent twice: one whose reply does not come is "unknown",
// and the run stops at the first transport failure or error reply.
//
// Before anything is sent it refuses, with nil report: an invalid pattern
// or TTL, a read-only server or user (Caps), a user who may not run the
// command, a journal that cannot be created. Once started it always
// returns a report, with an error when the run stopped early: ctx's error
// when ctx was cancelled (the batch in flight is finished first), or what
// failed. Everything the run did is in the journal, batch by batch.
//
// The next SCAN call overlaps with each batch's round trip.
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
	r := &bulkRun{opt: opt, start: start, progress: progress}
	r.rep = &BulkReport{Op: opt.Op, Pattern: opt.Pattern, Note: bulkNote}
	if opt.Op == OpExpire {
		r.ttlArg = strconv.FormatInt(int64((opt.TTL+time.Millisecond-1)/time.Millisecond), 10)
		r.rep.TTLms, _ = strconv.ParseInt(r.ttlArg, 10, 64)
	}
	if err := r.open(ctx, writer, caps); err != nil {
		if r.w != nil {
			r.w.Close()
		}
		r.closeFiles()
		if r.rep.Journal != "" {
			os.Remove(r.rep.Journal) // nothing was sent: no journal to keep
		}
		if r.rep.Backup != "" {
			os.Remove(r.rep.Backup)
		}
		return nil, err
	}
	defer r.w.Close()
	stopWatch := r.w.watch(opt.Abort)

	p := newPacer(opt)
	r.pace = p
	stopAuto := func() {}
	if opt.Auto {
		stopAuto = p.measure(ctx, reader, opt)
	}

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
		Node: opt.Node, Ledger: opt.Ledger,
		Progress: func(pr Progress) {
			r.fraction = pr.Fraction()
			r.report()
		},
	}
	var pending []string
	st, scanErr := Scan(scanCtx, reader, sopt, func(page []string) error {
		r.rep.Scanned += int64(len(page))
		for _, k := range page {
			if !Match(opt.Pattern, k) {
				r.rep.Mismatched++
				continue
			}
			r.rep.Matched++
			pending = append(pending, k)
		}
		for len(pending) >= opt.Batch {
			err := r.batch(ctx, pending[:opt.Batch])
			pending = pending[opt.Batch:] // on error, the batch's unsent keys are in r.unsent
			if err != nil {
				return err
			}
		}
		r.report()
		return nil
	})
	r.rep.Complete = st.Complete && scanErr == nil
	if scanErr == nil && len(pending) > 0 {
		scanErr = r.batch(ctx, pending)
		pending = nil
	}
	stopAuto()
	stopWatch()

	// Whatever stopped the run, the keys scanned but not sent are journaled.
	if r.stopErr != nil {
		scanErr = r.stopErr
		pending = append(r.unsent, pending...)
	}
	if len(pending) > 0 {
		r.rep.NotAttempted += int64(len(pending))
		r.journal.batch(JournalBatch{Seq: r.seq, Result: ResultNotAttempted}, pending, nil, nil)
	}
	if scanErr != nil {
		r.rep.Complete = false
		if r.rep.Stopped == "" {
			switch {
			case isClosed(opt.Abort):
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
	r.finish()
	ferr := r.journal.write(JournalFooter{Type: "footer", Time: time.Now().UTC(), Report: r.rep})
	if err := r.closeFiles(); err != nil && ferr == nil {
		ferr = err
	}
	if ferr != nil && scanErr == nil {
		scanErr = ferr
		r.rep.Error = ferr.Error()
	}
	return r.rep, scanErr
}

// bulkRun is the state of one run.
type bulkRun struct {
	opt      BulkOptions
	rep      *BulkReport
	w        *wconn
	journal  *journal
	backup   *backupWriter
	pace     *pacer
	ttlArg   string
	seq      int
	start    time.Time
	fraction float64
	progress func(BulkProgress)
	lastRep  time.Time

	stopErr error    // why the run stopped, set by batch
	unsent  []string // keys of the stopping batch that were never sent
}

// open creates the journal (and backup) and dials the write connection.
func (r *bulkRun) open(ctx context.Context, writer *redis.Client, caps Caps) error {
	dir := r.opt.JournalDir
	if dir == "" {
		d, err := StateDir()
		if err != nil {
			return err
		}
		dir = d
	}
	target := r.opt.Target
	if target == "" {
		target = writer.Options().Addr
		if writer.Options().Network == "unix" {
			target = "unix:" + target
		}
	}
	w, err := dialWriter(ctx, writer, r.opt.Timeout)
	if err != nil {
		return fmt.Errorf("opening the write connection: %w", err)
	}
	r.w = w
	w.book(r.opt.Ledger, r.opt.Node)
	now := time.Now()
	stem := fileStem(now, r.opt.Op)
	j, err := createJournal(dir, stem)
	if err != nil {
		return err
	}
	r.journal = j
	r.rep.Journal = j.path
	if r.opt.Backup {
		path := r.opt.BackupPath
		if path == "" {
			path = strings.TrimSuffix(j.path, ".journal.jsonl") + ".backup.jsonl"
		}
		b, err := createBackup(path, BackupHeader{
			Created: now.UTC(), Target: target, DB: writer.Options().DB,
			Pattern: r.opt.Pattern, RedisVersion: caps.Version,
		})
		if err != nil {
			return err
		}
		r.backup = b
		r.rep.Backup = b.path
	}
	h := JournalHeader{
		Type: "header", Format: "redtop-journal", Version: journalVersion, Time: now.UTC(),
		Target: target, DB: writer.Options().DB, Op: r.opt.Op, Pattern: r.opt.Pattern,
		TTLms: r.rep.TTLms, Backup: r.rep.Backup,
	}
	if err := j.write(h); err != nil {
		return err
	}
	return nil
}

func (r *bulkRun) closeFiles() error {
	var err error
	if r.backup != nil {
		err = r.backup.close()
		r.rep.BackupKeys, r.rep.BackupBytes = r.backup.keys, r.backup.bytes
		r.backup = nil
	}
	if r.journal != nil {
		if jerr := r.journal.close(); err == nil && jerr != nil {
			err = fmt.Errorf("journal %s: %w", r.journal.path, jerr)
		}
		r.journal = nil
	}
	return err
}

func (r *bulkRun) finish() {
	r.rep.Elapsed = time.Since(r.start)
	if s := r.rep.Elapsed.Seconds(); s > 0 {
		r.rep.KeysPerSec = float64(r.sent()) / s
	}
	if r.backup != nil {
		r.rep.BackupKeys, r.rep.BackupBytes = r.backup.keys, r.backup.bytes
	}
}

// sent is the number of keys sent so far, whatever their outcome.
func (r *bulkRun) sent() int64 {
	return r.rep.Applied + r.rep.AlreadyGone + r.rep.Unchanged + r.rep.Unknown + r.rep.Refused
}

// report calls progress, at most 20 times a second.
func (r *bulkRun) report() {
	if r.progress == nil || time.Since(r.lastRep) < 50*time.Millisecond {
		return
	}
	r.lastRep = time.Now()
	r.progress(r.snapshot())
}

func (r *bulkRun) snapshot() BulkProgress {
	el := time.Since(r.start)
	p := BulkProgress{
		Scanned: r.rep.Scanned, Matched: r.rep.Matched,
		Done:    r.rep.Applied + r.rep.AlreadyGone + r.rep.Unchanged,
		Applied: r.rep.Applied, Gone: r.rep.AlreadyGone, Unknown: r.rep.Unknown,
		Fraction: r.fraction, Elapsed: el, CurrentDelay: r.pace.delay(),
	}
	if r.rep.Complete {
		p.Fraction = 1
	}
	if s := el.Seconds(); s > 0 {
		p.KeysPerSec = float64(r.sent()) / s
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
// One batch at a time: keeping a second one in flight was measured to buy
// nothing (over a unix socket, and over a 250 µs proxy alike), because the
// chain of SCAN calls, each waiting for the previous cursor, is the
// critical path; and it would double what a cut connection leaves unknown.
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
	r.seq++
	r.rep.Batches++
	t0 := time.Now()
	var err error
	var unsent []string
	if r.opt.Op == OpDelete && r.backup != nil {
		unsent, err = r.deleteWithBackup(keys)
	} else {
		unsent, err = r.complete(r.issue(keys, nil))
	}
	r.pace.done(time.Since(t0))
	r.report()
	if err != nil {
		return stop(err, unsent)
	}
	if jerr := r.journal.err; jerr != nil {
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

// book records commands sent in the ledger.
func (r *bulkRun) book(cmd string, n, hits, misses int64) {
	if l := r.opt.Ledger; l != nil && n > 0 {
		l.Call(r.opt.Node, cmd, n)
		if hits+misses > 0 {
			l.Lookups(r.opt.Node, hits, misses)
		}
	}
}

func (r *bulkRun) bytes(in, out int) {
	if l := r.opt.Ledger; l != nil {
		l.Bytes(r.opt.Node, int64(in), int64(out))
	}
}

// transport names the failure that cut a batch and marks why the run
// stopped.
func (r *bulkRun) transport(err error, what string) error {
	var be *batchError
	if errors.As(err, &be) && errors.Is(be.Err, errAborted) {
		r.rep.Stopped = "aborted"
		return fmt.Errorf("%s: %w", what, errAborted)
	}
	if r.rep.Stopped == "" || r.rep.Stopped == "cancelled" {
		r.rep.Stopped = "connection lost"
	}
	return fmt.Errorf("%s: connection lost: %w", what, err)
}

// refused handles an error reply that stops the run.
func (r *bulkRun) refused(seq int, keys []string, err error) {
	r.rep.Refused += int64(len(keys))
	r.rep.Stopped = "refused"
	r.journal.batch(JournalBatch{Seq: seq, Result: ResultRefused, Error: err.Error()}, keys, nil, nil)
}

// flight is a batch sent, until its replies are read.
type flight struct {
	seq  int
	keys []string // keys of the commands sent
	gone []string // delete with backup: keys of the batch found gone before DUMP
	s    sent
	werr error // the write failed (a *batchError)
}

// issue builds and sends a batch: one variadic UNLINK, or PTTL then
// PEXPIRE or PERSIST for each key (the PTTL is the key's undo record).
func (r *bulkRun) issue(keys, gone []string) *flight {
	f := &flight{seq: r.seq, keys: keys, gone: gone}
	switch {
	case r.opt.Op == OpDelete && len(keys) > 0:
		r.w.addVariadic("UNLINK", keys)
	case r.opt.Op == OpExpire:
		for _, k := range keys {
			r.w.add("PTTL", k) // the undo record, read just before the write
			r.w.add("PEXPIRE", k, r.ttlArg)
		}
	case r.opt.Op == OpPersist:
		for _, k := range keys {
			r.w.add("PTTL", k)
			r.w.add("PERSIST", k)
		}
	}
	f.s, f.werr = r.w.send()
	return f
}

// complete reads a flight's replies and books its outcome.
func (r *bulkRun) complete(f *flight) (unsent []string, err error) {
	if r.opt.Op == OpDelete {
		return r.completeUnlink(f)
	}
	return r.completePerKey(f)
}

// completeUnlink books a variadic UNLINK: its reply counts the keys it
// removed; the others were already gone.
func (r *bulkRun) completeUnlink(f *flight) (unsent []string, err error) {
	keys, gone := f.keys, f.gone
	all := append(append([]string(nil), keys...), gone...)
	jb := func(result string) JournalBatch { return JournalBatch{Seq: f.seq, Result: result} }
	if len(keys) == 0 {
		r.rep.AlreadyGone += int64(len(gone))
		b := jb(ResultApplied)
		b.Gone = int64(len(gone))
		return nil, r.journal.batch(b, all, gone, nil)
	}
	err = f.werr
	var n int64
	var rerr error
	out := 0
	if err == nil {
		err = r.w.recv(f.s, func(_ int, rp reply) error {
			out += rp.size
			switch {
			case rp.err != nil:
				rerr = rp.err
			case rp.kind != ':':
				return fmt.Errorf("UNLINK: unexpected reply %q", rp.kind)
			default:
				n = rp.n
			}
			return nil
		})
	}
	if len(gone) > 0 && (err != nil || rerr != nil) {
		r.rep.AlreadyGone += int64(len(gone))
		b := jb(ResultApplied)
		b.Gone = int64(len(gone))
		r.journal.batch(b, gone, gone, nil)
	}
	if err != nil {
		var be *batchError
		if errors.As(err, &be) && be.Written == 0 {
			// Not written whole: the server did not run it.
			return keys, r.transport(err, "UNLINK")
		}
		r.book("unlink", 1, 0, 0)
		r.bytes(f.s.in, out)
		r.rep.Unknown += int64(len(keys))
		b := jb(ResultUnknown)
		b.Error = err.Error()
		r.journal.batch(b, keys, nil, nil)
		if be == nil {
			r.rep.Stopped = "failed"
			return nil, err // a reply we could not make sense of: the connection is closed
		}
		return nil, r.transport(err, "UNLINK")
	}
	r.bytes(f.s.in, out)
	if rerr != nil {
		bookRan(r.opt.Ledger, r.opt.Node, "unlink", rerr)
		r.refused(f.seq, keys, rerr)
		return nil, explainBulk(OpDelete, rerr)
	}
	r.book("unlink", 1, 0, 0)
	r.rep.Applied += n
	g := int64(len(keys)) - n + int64(len(gone))
	r.rep.AlreadyGone += g
	b := jb(ResultApplied)
	b.Applied, b.Gone = n, g
	return nil, r.journal.batch(b, all, gone, nil)
}

// deleteWithBackup saves each key (DUMP, PTTL in one round trip), writes
// them to the backup file, then unlinks the keys saved.
func (r *bulkRun) deleteWithBackup(keys []string) (unsent []string, err error) {
	for _, k := range keys {
		r.w.add("DUMP", k)
		r.w.add("PTTL", k)
	}
	dumps := make([][]byte, len(keys))
	pttls := make([]int64, len(keys))
	var rerr error
	out := 0
	in := len(r.w.buf)
	err = r.w.exchange(func(i int, rp reply) error {
		out += rp.size
		switch {
		case rp.err != nil:
			rerr = firstErr(rerr, rp.err)
		case i%2 == 0 && rp.kind != '$':
			return fmt.Errorf("DUMP: unexpected reply %q", rp.kind)
		case i%2 == 0:
			dumps[i/2] = rp.b // nil: gone
		default:
			pttls[i/2] = rp.n
		}
		return nil
	})
	at := time.Now()
	if err != nil {
		// Reads only: nothing was changed.
		if errors.As(err, new(*batchError)) {
			return keys, r.transport(err, "DUMP for the backup")
		}
		r.rep.Stopped = "failed"
		return keys, err
	}
	r.bytes(in, out)
	var hits, misses, thits, tmisses int64
	var saved, gone []string
	for i, k := range keys {
		if dumps[i] != nil {
			hits++
		} else {
			misses++
		}
		if pttls[i] == -2 {
			tmisses++
		} else {
			thits++
		}
		if dumps[i] == nil || pttls[i] == -2 {
			gone = append(gone, k) // gone before DUMP, or between DUMP and PTTL: not unlinked
			continue
		}
		r.backup.add(k, pttls[i], dumps[i], at)
		saved = append(saved, k)
	}
	r.book("dump", int64(len(keys)), hits, misses)
	r.book("pttl", int64(len(keys)), thits, tmisses)
	if rerr != nil {
		r.refused(r.seq, keys, rerr)
		return nil, fmt.Errorf("backup: DUMP/PTTL refused (%v): nothing deleted; --no-backup deletes without a backup", rerr)
	}
	if err := r.backup.flush(); err != nil {
		r.rep.Stopped = "failed"
		return keys, err
	}
	return r.completeUnlink(r.issue(saved, gone))
}

// completePerKey books the replies of PTTL + PEXPIRE or PERSIST, key by
// key, with each key's previous PTTL in the journal. For PERSIST's zeros,
// the PTTL tells a key without TTL (-1) from one gone; EXISTS is asked
// only where the PTTL did not answer.
func (r *bulkRun) completePerKey(f *flight) (unsent []string, err error) {
	keys := f.keys
	cmd := strings.ToUpper(r.opt.Op.command())
	res := make([]int64, len(keys))
	prev := make([]int64, len(keys))
	for i := range prev {
		prev[i] = PrevUnknown
	}
	var rerr, perr error
	out := 0
	err = f.werr
	if err == nil {
		err = r.w.recv(f.s, func(i int, rp reply) error {
			out += rp.size
			k := i / 2
			if i%2 == 0 { // PTTL
				switch {
				case rp.err != nil:
					perr = firstErr(perr, rp.err)
				case rp.kind != ':':
					return fmt.Errorf("PTTL: unexpected reply %q", rp.kind)
				default:
					prev[k] = rp.n
				}
				return nil
			}
			switch {
			case rp.err != nil:
				rerr = firstErr(rerr, rp.err)
				res[k] = -1
			case rp.kind != ':':
				return fmt.Errorf("%s: unexpected reply %q", cmd, rp.kind)
			default:
				res[k] = rp.n
			}
			return nil
		})
	}
	at := time.Now().UnixMilli()
	r.bytes(f.s.in, out)
	var be *batchError
	if err != nil && !errors.As(err, &be) {
		// A reply we could not make sense of: everything sent is unknown.
		be = &batchError{Written: f.s.ncmd, Read: 0, Err: err}
	}
	known, written := len(keys), len(keys) // keys whose write's reply was read; whose write was sent whole
	if be != nil {
		known, written = be.Read/2, be.Written/2
	}
	// The PTTL lookups, as the server counts them.
	var thits, tmisses int64
	for k := 0; k < written; k++ {
		switch {
		case prev[k] == PrevMissing:
			tmisses++
		case prev[k] != PrevUnknown:
			thits++
		}
	}
	r.book("pttl", thits+tmisses, thits, tmisses)
	if err == nil && rerr == nil && r.opt.Op == OpPersist {
		var ask []int
		for i, n := range res {
			switch {
			case n != 0:
			case prev[i] == PrevNoTTL:
				res[i] = 2
			case prev[i] == PrevUnknown:
				ask = append(ask, i)
			}
		}
		r.whyUnchanged(keys, res, ask)
	}
	var applied, gone, unch, refusedKeys []string
	var donePrev []int64
	var gonePrev, unchPrev []int64
	for i := 0; i < known; i++ {
		switch res[i] {
		case 1:
			applied = append(applied, keys[i])
			donePrev = append(donePrev, prev[i])
		case 0:
			gone = append(gone, keys[i])
			gonePrev = append(gonePrev, prev[i])
		case 2: // persist: exists, had no TTL
			unch = append(unch, keys[i])
			unchPrev = append(unchPrev, prev[i])
		default:
			refusedKeys = append(refusedKeys, keys[i])
		}
	}
	r.book(r.opt.Op.command(), int64(known-len(refusedKeys)), 0, 0)
	r.rep.Applied += int64(len(applied))
	r.rep.AlreadyGone += int64(len(gone))
	r.rep.Unchanged += int64(len(unch))
	if done := append(append(append([]string(nil), applied...), gone...), unch...); len(done) > 0 {
		donePrev = append(append(donePrev, gonePrev...), unchPrev...)
		r.journal.batchPrev(JournalBatch{Seq: f.seq, Result: ResultApplied, PrevAtMs: at,
			Applied: int64(len(applied)), Gone: int64(len(gone)), Unchanged: int64(len(unch))}, done, gone, unch, donePrev)
	}
	if len(refusedKeys) > 0 {
		bookRan(r.opt.Ledger, r.opt.Node, r.opt.Op.command(), rerr)
		r.refused(f.seq, refusedKeys, rerr)
	}
	if be != nil {
		if unknown := keys[known:written]; len(unknown) > 0 {
			r.book(r.opt.Op.command(), int64(len(unknown)), 0, 0)
			r.rep.Unknown += int64(len(unknown))
			r.journal.batchPrev(JournalBatch{Seq: f.seq, Result: ResultUnknown, Error: be.Err.Error(), PrevAtMs: at},
				unknown, nil, nil, prev[known:written])
		}
		return keys[written:], r.transport(err, cmd)
	}
	if rerr != nil {
		return nil, explainBulk(r.opt.Op, rerr)
	}
	if perr != nil {
		// The writes ran; their undo records are missing (-3). Stop here.
		r.rep.Stopped = "refused"
		return nil, fmt.Errorf("PTTL refused (%v): this batch's previous TTLs were not recorded (prev_pttl_ms -3); nothing more sent", perr)
	}
	return nil, nil
}

// whyUnchanged asks EXISTS for the keys at idx (PERSIST answered 0 and
// their PTTL is unknown) and marks with 2 those that exist: they had no
// TTL. A key stays 0 (gone) only when EXISTS says so; when EXISTS fails it
// is marked unchanged, which is true either way (nothing was changed).
func (r *bulkRun) whyUnchanged(keys []string, res []int64, idx []int) {
	for _, i := range idx {
		r.w.add("EXISTS", keys[i])
	}
	if len(idx) == 0 {
		return
	}
	in := len(r.w.buf)
	out := 0
	var hits, misses int64
	err := r.w.exchange(func(j int, rp reply) error {
		out += rp.size
		if rp.err == nil && rp.kind == ':' && rp.n == 0 {
			misses++
			return nil
		}
		if rp.err == nil {
			hits++
		}
		res[idx[j]] = 2
		return nil
	})
	if err != nil {
		for _, i := range idx {
			res[i] = 2
		}
		// The connection is gone; the next batch finds out.
	}
	r.bytes(in, out)
	r.book("exists", hits+misses, hits, misses)
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
