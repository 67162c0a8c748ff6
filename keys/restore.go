package keys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"redtop/redisinfo"
)

// OpRestore names a restore in its journal.
const OpRestore Op = "restore"

// RestoreOptions shape a Restore.
type RestoreOptions struct {
	// Replace overwrites keys that exist again (RESTORE … REPLACE);
	// without it they are skipped and counted in Existing.
	Replace bool
	// DryRun sends no write: EXISTS for each key (an undo: PTTL) tells
	// what would happen.
	DryRun bool
	// Force (an undo only): put each key's old TTL back even where it has
	// changed since the run; without it such keys are left alone.
	Force bool

	Batch   int           // keys per round trip; 0 means DefaultBatch
	Timeout time.Duration // deadline of each round trip; 0 means DefaultTimeout
	Caps    *Caps         // when set, a read-only server or user is refused up front
	Abort   <-chan struct{}

	// JournalDir is where the restore's journal goes ("" means
	// StateDir()); a dry run writes none. Target names the server in it
	// (never with a password); "" uses w's address.
	JournalDir string
	Target     string

	Node     string
	Ledger   *redisinfo.Ledger
	Progress func(RestoreReport) // after each batch, with the counts so far

	now func() time.Time // the clock; time.Now when nil
}

// RestoreReport is what a Restore did (or, with DryRun, would do).
type RestoreReport struct {
	Path    string       `json:"path"`
	Header  BackupHeader `json:"header"`
	DryRun  bool         `json:"dry_run"`
	Replace bool         `json:"replace"`

	Keys         int64 `json:"keys"`          // keys read from the file
	Restored     int64 `json:"restored"`      // restored (dry run: would be)
	Existing     int64 `json:"existing"`      // exist on the server: skipped (with Replace: overwritten, also counted in Restored)
	Expired      int64 `json:"expired"`       // their TTL ran out since the backup: skipped
	Failed       int64 `json:"failed"`        // the server refused the payload (e.g. from a newer Redis)
	Unknown      int64 `json:"unknown"`       // sent, no reply: may or may not be restored
	NotAttempted int64 `json:"not_attempted"` // in the file, never sent (the run stopped)

	// Undo (restore from an expire or persist journal): the op undone;
	// Gone counts keys that no longer exist (nothing to put back).
	Undo Op    `json:"undo,omitempty"`
	Gone int64 `json:"gone,omitempty"`
	// Changed (an undo): keys whose TTL is no longer what the run left
	// (persisted, given another TTL, rewritten since): left alone, or with
	// Force put back all the same (and counted in Restored too).
	// ChangedKeys names the first few, escaped.
	Changed     int64    `json:"changed"`
	ChangedKeys []string `json:"changed_keys,omitempty"`
	Force       bool     `json:"force,omitempty"`

	Journal string `json:"journal,omitempty"` // this restore's own journal

	Errors  []string `json:"errors,omitempty"` // the first distinct error replies
	Stopped string   `json:"stopped,omitempty"`
	Error   string   `json:"error,omitempty"`

	Elapsed    time.Duration `json:"elapsed_ns"`
	KeysPerSec float64       `json:"keys_per_sec"`
}

// OK reports a restore where nothing failed, stayed unknown or was left
// out (keys skipped because they exist or expired are not failures).
func (r *RestoreReport) OK() bool {
	return r.Failed == 0 && r.Unknown == 0 && r.NotAttempted == 0 && r.Error == ""
}

// Restore puts back the keys of a backup file made by a delete with
// backup: RESTORE key ttl payload [REPLACE], pipelined in batches, on one
// connection opened with w's options (which must have retries off: a
// RESTORE is never sent twice). Each key gets the TTL it had left: the
// PTTL saved minus the time since it was saved; keys whose TTL has run out
// are skipped and counted. A key that exists again is skipped (BUSYKEY)
// and counted, unless Replace. Cancelling ctx stops after the batch in
// flight; Abort cuts it.
//
// path may also be the journal of an expire or persist run: then Restore
// puts back the TTLs the keys had before it (see undo).
//
// Unless DryRun, the restore writes its own journal (op "restore"), batch
// by batch, and names it in the report.
func Restore(ctx context.Context, w *redis.Client, path string, opt RestoreOptions) (*RestoreReport, error) {
	if !opt.DryRun {
		if err := checkWriter(w); err != nil {
			return nil, err
		}
	}
	name := opt.Target
	if name == "" {
		name = w.Options().Addr
		if w.Options().Network == "unix" {
			name = "unix:" + name
		}
	}
	return restore(ctx, restoreTarget{name: name, db: w.Options().DB, open: func(ctx context.Context, opt RestoreOptions) (*router, error) {
		c, err := dialWriter(ctx, w, opt.Timeout)
		if err != nil {
			return nil, err
		}
		c.book(opt.Ledger, opt.Node)
		return newRouter(opt.Node, c, opt.Ledger, opt.Abort), nil
	}}, path, opt)
}

// RestoreCluster is Restore on a Redis Cluster: each key goes to the
// master serving its slot (a batch is one write per master), and a key
// answered MOVED or ASK (a slot migrated meanwhile) is sent once more to
// the node named. opt.Node and opt.Target are ignored.
func RestoreCluster(ctx context.Context, cl *Cluster, path string, opt RestoreOptions) (*RestoreReport, error) {
	masters := cl.Masters()
	if !opt.DryRun {
		if err := checkWriter(cl.Writer(masters[0].Addr)); err != nil {
			return nil, err
		}
	}
	opt.Ledger = cl.ledger
	return restore(ctx, restoreTarget{name: cl.target.String(), open: func(ctx context.Context, opt RestoreOptions) (*router, error) {
		dial := cl.dialNode(opt.Timeout)
		home := masters[0].Addr
		c, err := dial(ctx, home)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", home, err)
		}
		rt := newRouter(home, c, opt.Ledger, opt.Abort)
		rt.owner, rt.dial, rt.cluster = cl.Owner, dial, true
		return rt, nil
	}}, path, opt)
}

// restoreTarget is where a restore writes: its name and database for the
// journal, and how to open its connections.
type restoreTarget struct {
	name string
	db   int
	open func(ctx context.Context, opt RestoreOptions) (*router, error)
}

func restore(ctx context.Context, tgt restoreTarget, path string, opt RestoreOptions) (*RestoreReport, error) {
	if opt.Batch <= 0 {
		opt.Batch = DefaultBatch
	}
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.now == nil {
		opt.now = time.Now
	}
	if !opt.DryRun && opt.Caps != nil && opt.Caps.ReadOnly {
		return nil, fmt.Errorf("%w: nothing restored: %s", ErrReadOnly, opt.Caps.ReadOnlyReason)
	}
	kind, err := FileKind(path)
	if err != nil {
		return nil, err
	}
	if kind == "redtop-journal" {
		return undo(ctx, tgt, path, opt)
	}
	if opt.Force {
		return nil, errors.New("--force goes with a journal (an undo), not a backup file: --replace overwrites keys that exist")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br, err := NewBackupReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	start := time.Now()
	rep := &RestoreReport{Path: path, Header: br.Header, DryRun: opt.DryRun, Replace: opt.Replace}
	rt, err := tgt.open(ctx, opt)
	if err != nil {
		return nil, fmt.Errorf("opening the write connection: %w", err)
	}
	defer rt.close()
	rs := &restoreRun{opt: opt, rep: rep, rt: rt}
	if !opt.DryRun {
		if err := rs.openJournal(tgt, JournalHeader{File: path, Pattern: br.Header.Pattern}); err != nil {
			return nil, err
		}
	}
	err = rs.run(ctx, br)
	if err != nil {
		rep.stop(ctx, opt.Abort, err)
		// The keys left in the file were not attempted.
		var left []string
		for {
			e, nerr := br.Next()
			if nerr != nil {
				break
			}
			rep.Keys++
			rep.NotAttempted++
			if left = append(left, string(e.Key)); len(left) == opt.Batch {
				rs.line(ResultNotAttempted, "", left, "", nil, 0)
				left = left[:0]
			}
		}
		rs.line(ResultNotAttempted, "", left, "", nil, 0)
	}
	return rs.finish(start, err)
}

type restoreRun struct {
	opt RestoreOptions
	rep *RestoreReport
	rt  *router
	j   *journal // nil in a dry run
	seq int
}

// openJournal creates the restore's journal and writes its header; h
// brings File, Pattern and (undo) Undo.
func (rs *restoreRun) openJournal(tgt restoreTarget, h JournalHeader) error {
	dir := rs.opt.JournalDir
	if dir == "" {
		d, err := StateDir()
		if err != nil {
			return err
		}
		dir = d
	}
	now := time.Now()
	j, err := createJournal(dir, fileStem(now, OpRestore))
	if err != nil {
		return err
	}
	h.Type, h.Format, h.Version, h.Time = "header", "redtop-journal", journalVersion, now.UTC()
	h.Target, h.DB, h.Op = tgt.name, tgt.db, OpRestore
	if err := j.write(h); err != nil {
		j.close()
		os.Remove(j.path)
		return err
	}
	rs.j = j
	rs.rep.Journal = j.path
	return nil
}

// line journals keys that share a result, sent to node (named on a
// cluster); prev, when set, holds each key's PTTL before the write,
// answered at atMs.
func (rs *restoreRun) line(result, node string, keys []string, errText string, prev []int64, atMs int64) {
	if rs.j == nil || len(keys) == 0 {
		return
	}
	b := JournalBatch{Seq: rs.seq, Result: result, Error: errText, PrevAtMs: atMs}
	if rs.rt.cluster {
		b.Node = node
	}
	rs.j.batchPrev(b, keys, nil, nil, prev)
}

// finish closes the journal with the report as its footer.
func (rs *restoreRun) finish(start time.Time, err error) (*RestoreReport, error) {
	rep := rs.rep
	rep.Elapsed = time.Since(start)
	if s := rep.Elapsed.Seconds(); s > 0 {
		rep.KeysPerSec = float64(rep.Keys) / s
	}
	if rs.j != nil {
		ferr := rs.j.write(restoreFooter{Type: "footer", Time: time.Now().UTC(), Report: rep})
		if cerr := rs.j.close(); ferr == nil && cerr != nil {
			ferr = fmt.Errorf("journal %s: %w", rs.j.path, cerr)
		}
		rs.j = nil
		if ferr != nil && err == nil {
			err = ferr
			rep.Error = ferr.Error()
		}
	}
	return rep, err
}

func (rs *restoreRun) run(ctx context.Context, br *BackupReader) error {
	batch := make([]BackupEntry, 0, rs.opt.Batch)
	for {
		e, err := br.Next()
		if err != nil && !errors.Is(err, io.EOF) {
			// A damaged line (a backup cut short when redtop was killed):
			// restore what came before it, then say where it stopped.
			if ferr := rs.flush(ctx, batch); ferr != nil {
				return ferr
			}
			rs.rep.Stopped = "damaged file"
			return err
		}
		if err == nil {
			rs.rep.Keys++
			batch = append(batch, e)
			if len(batch) < rs.opt.Batch {
				continue
			}
		}
		if ferr := rs.flush(ctx, batch); ferr != nil {
			return ferr
		}
		batch = batch[:0]
		if rs.opt.Progress != nil {
			rs.opt.Progress(*rs.rep)
		}
		if err != nil { // io.EOF
			return nil
		}
	}
}

// flush sends one batch.
func (rs *restoreRun) flush(ctx context.Context, batch []BackupEntry) error {
	if len(batch) == 0 {
		return nil
	}
	rs.seq++
	names := func(es []BackupEntry) []string {
		out := make([]string, len(es))
		for i, e := range es {
			out[i] = string(e.Key)
		}
		return out
	}
	if isClosed(rs.opt.Abort) {
		rs.rep.NotAttempted += int64(len(batch))
		rs.line(ResultNotAttempted, "", names(batch), "", nil, 0)
		return errAborted
	}
	if err := ctx.Err(); err != nil {
		rs.rep.NotAttempted += int64(len(batch))
		rs.line(ResultNotAttempted, "", names(batch), "", nil, 0)
		return err
	}
	now := rs.opt.now()
	var sent []BackupEntry
	var cmds []rcmd
	var expired []string
	for _, e := range batch {
		ttl := int64(0)
		if e.PTTLms >= 0 {
			ttl = e.PTTLms - now.Sub(time.UnixMilli(e.AtMs)).Milliseconds()
			if ttl <= 0 {
				rs.rep.Expired++
				expired = append(expired, string(e.Key))
				continue
			}
		}
		k := []string{string(e.Key)}
		switch {
		case rs.opt.DryRun:
			cmds = append(cmds, rcmd{name: "EXISTS", keys: k})
		case rs.opt.Replace:
			cmds = append(cmds, rcmd{name: "RESTORE", keys: k, extra: []string{strconv.FormatInt(ttl, 10), string(e.Dump), "REPLACE"}})
		default:
			cmds = append(cmds, rcmd{name: "RESTORE", keys: k, extra: []string{strconv.FormatInt(ttl, 10), string(e.Dump)}})
		}
		sent = append(sent, e)
	}
	rs.line(ResultSkippedExpired, "", expired, "", nil, 0)
	if len(sent) == 0 {
		return nil
	}
	cmd := "restore"
	if rs.opt.DryRun {
		cmd = "exists"
	}
	out, xerr := rs.rt.exchange(ctx, cmds)
	outcome := make([]string, len(sent)) // per key sent: its journal result
	var failErr string
	var refused error
	type lookups struct{ calls, hits, misses int64 }
	var looked byNode[lookups]
	for i, o := range out {
		l := looked.at(o.node)
		switch {
		case o.state == noReply:
			rs.rep.Unknown++
			l.calls++
			outcome[i] = ResultUnknown
			continue
		case o.state == neverSent:
			rs.rep.NotAttempted++
			outcome[i] = ResultNotAttempted
			continue
		case o.err == nil && rs.opt.DryRun:
			l.calls++
			if o.n == 1 {
				l.hits++
				rs.rep.Existing++
				if rs.opt.Replace {
					rs.rep.Restored++
				}
			} else {
				l.misses++
				rs.rep.Restored++
			}
		case o.err == nil:
			l.calls++
			rs.rep.Restored++ // with REPLACE, OK whether the key existed or not
			outcome[i] = ResultRestored
		case strings.HasPrefix(o.err.Error(), "BUSYKEY"):
			l.calls++
			rs.rep.Existing++
			outcome[i] = ResultSkippedExists
		case isRejected(o.err):
			// NOPERM, READONLY, OOM…: the next ones would be refused too.
			refused = firstErr(refused, o.err)
			rs.rep.Failed++
			rs.noteError(e2s(sent[i].Key, o.err))
			outcome[i] = ResultFailed
		default:
			l.calls++
			rs.rep.Failed++
			rs.noteError(e2s(sent[i].Key, o.err))
			outcome[i] = ResultFailed
		}
		if outcome[i] == ResultFailed && failErr == "" {
			failErr = o.err.Error()
		}
	}
	var byResult byNode[[]string]
	at := func(result, node string) *[]string { return byResult.at(result + "\x00" + node) }
	for i, o := range outcome {
		if o != "" {
			*at(o, out[i].node) = append(*at(o, out[i].node), string(sent[i].Key))
		}
	}
	for _, res := range []string{ResultRestored, ResultSkippedExists, ResultFailed, ResultUnknown, ResultNotAttempted} {
		text := ""
		switch res {
		case ResultFailed:
			text = failErr
		case ResultUnknown:
			if xerr != nil {
				text = xerr.Error()
			}
		}
		for _, k := range byResult.order {
			if r, node, _ := strings.Cut(k, "\x00"); r == res {
				rs.line(res, node, *byResult.m[k], text, nil, 0)
			}
		}
	}
	if l := rs.opt.Ledger; l != nil {
		for _, node := range looked.order {
			lk := looked.m[node]
			l.Call(node, cmd, lk.calls)
			l.Lookups(node, lk.hits, lk.misses)
		}
	}
	if xerr != nil {
		return rs.stop(xerr)
	}
	if refused != nil {
		rs.rep.Stopped = "refused"
		return fmt.Errorf("the server refused RESTORE: %v", refused)
	}
	return nil
}

// stop names the transport failure that cut a batch.
func (rs *restoreRun) stop(err error) error {
	var be *batchError
	var cd *clusterDownError
	switch {
	case errors.As(err, &be) && errors.Is(be.Err, errAborted):
		rs.rep.Stopped = "aborted"
		return errAborted
	case errors.As(err, &cd):
		rs.rep.Stopped = "cluster down"
		return err
	}
	rs.rep.Stopped = "connection lost"
	if be != nil {
		err = be.Err
	}
	return fmt.Errorf("connection lost: %w", err)
}

func (rs *restoreRun) noteError(s string) {
	if len(rs.rep.Errors) < 5 {
		rs.rep.Errors = append(rs.rep.Errors, s)
	}
}

func e2s(key []byte, err error) string {
	return fmt.Sprintf("%s: %v", Escape(string(key)), err)
}

// stop records why a restore or undo ended early: aborted, cancelled, or
// failed unless a more precise reason is set already.
func (r *RestoreReport) stop(ctx context.Context, abort <-chan struct{}, err error) {
	switch {
	case isClosed(abort):
		r.Stopped = "aborted"
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		r.Stopped = "cancelled"
	case r.Stopped == "":
		r.Stopped = "failed"
	}
	r.Error = err.Error()
}
