package keys

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// FileKind reads the first line of a file and says what redtop wrote it
// as: "redtop-backup" (a delete's backup) or "redtop-journal" (a run's
// journal).
func FileKind(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	line, err := bufio.NewReaderSize(f, 64<<10).ReadSlice('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		if errors.Is(err, bufio.ErrBufferFull) {
			return "", fmt.Errorf("%s: not a redtop backup or journal (first line too long)", path)
		}
		return "", err
	}
	var h struct {
		Format string `json:"format"`
	}
	if json.Unmarshal(line, &h) != nil || (h.Format != "redtop-backup" && h.Format != "redtop-journal") {
		return "", fmt.Errorf("%s: not a redtop backup (no redtop-backup header line) nor a redtop journal", path)
	}
	return h.Format, nil
}

// CountBackup counts the keys in a backup file (its lines after the
// header), without decoding them.
func CountBackup(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := NewBackupReader(f); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	// NewBackupReader buffered past the header: count from the top.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	br := bufio.NewReaderSize(f, 256<<10)
	var n int64
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 1 || (len(line) == 1 && line[0] != '\n') {
			n++
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				break
			}
			return 0, err
		}
		for errors.Is(err, bufio.ErrBufferFull) { // a long line: read through
			_, err = br.ReadSlice('\n')
		}
	}
	return n - 1, nil
}

// undo puts back the TTLs an expire or persist run changed, from the
// previous PTTLs its journal recorded (prev_pttl_ms): PEXPIRE with what
// was left of the old TTL (prev_pttl_ms minus the time since prev_at_ms,
// on the client's clock), PERSIST where the key had no TTL. Each write
// goes after a PTTL of the key in the same round trip, which tells a key
// gone (counted in Gone, nothing sent to it matters) and is journaled as
// the key's TTL before the undo. Keys whose old TTL has run out since the
// run are left as they are and counted in Expired: putting it back would
// delete them. Keys the run left alone (gone, persist without TTL, not
// attempted, refused) are not touched; unknown ones are, when their
// previous TTL was recorded. A dry run sends EXISTS instead.
func undo(ctx context.Context, w *redis.Client, path string, opt RestoreOptions) (*RestoreReport, error) {
	if opt.Replace {
		return nil, errors.New("--replace goes with a backup file, not a journal: an undo puts back TTLs only")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	jk, err := ReadJournal(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch h := jk.Header; {
	case h.Op == OpDelete:
		return nil, fmt.Errorf("%s: a delete is undone from its backup file, not its journal (backup: %s)", path, orNone(h.Backup))
	case h.Op != OpExpire && h.Op != OpPersist:
		return nil, fmt.Errorf("%s: a %s journal cannot be undone: only expire and persist journals record the TTLs before the run", path, h.Op)
	}
	if len(jk.Prev) == 0 && len(jk.Applied)+len(jk.Unknown) > 0 {
		return nil, fmt.Errorf("%s: the journal records no previous TTLs (written by an older redtop): nothing can be undone", path)
	}
	start := time.Now()
	rep := &RestoreReport{Path: path, DryRun: opt.DryRun, Undo: jk.Header.Op,
		Header: BackupHeader{Format: "redtop-journal", Version: jk.Header.Version, Created: jk.Header.Time,
			Target: jk.Header.Target, DB: jk.Header.DB, Pattern: jk.Header.Pattern}}
	c, err := dialWriter(ctx, w, opt.Timeout)
	if err != nil {
		return nil, fmt.Errorf("opening the write connection: %w", err)
	}
	defer c.Close()
	c.book(opt.Ledger, opt.Node)
	rs := &restoreRun{opt: opt, rep: rep, c: c}
	if !opt.DryRun {
		if err := rs.openJournal(w, JournalHeader{File: path, Pattern: jk.Header.Pattern, Undo: jk.Header.Op}); err != nil {
			return nil, err
		}
	}
	stopWatch := c.watch(opt.Abort)
	recs := jk.Prev
	for len(recs) > 0 {
		n := min(opt.Batch, len(recs))
		batch := recs[:n]
		rep.Keys += int64(n)
		err = rs.undoBatch(ctx, batch)
		recs = recs[n:]
		if err != nil {
			break
		}
		if opt.Progress != nil {
			opt.Progress(*rep)
		}
	}
	stopWatch()
	if err != nil {
		switch {
		case isClosed(opt.Abort):
			rep.Stopped = "aborted"
		case ctx.Err() != nil && errors.Is(err, ctx.Err()):
			rep.Stopped = "cancelled"
		case rep.Stopped == "":
			rep.Stopped = "failed"
		}
		rep.Error = err.Error()
		rep.Keys += int64(len(recs))
		rep.NotAttempted += int64(len(recs))
		for len(recs) > 0 {
			n := min(opt.Batch, len(recs))
			rs.line(ResultNotAttempted, prevKeys(recs[:n]), "", nil, 0)
			recs = recs[n:]
		}
	}
	return rs.finish(start, err)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func prevKeys(recs []PrevTTL) []string {
	out := make([]string, len(recs))
	for i, p := range recs {
		out[i] = p.Key
	}
	return out
}

// undoBatch sends one batch of an undo: PTTL then PEXPIRE or PERSIST per
// key (a dry run: EXISTS per key).
func (rs *restoreRun) undoBatch(ctx context.Context, batch []PrevTTL) error {
	rs.seq++
	if isClosed(rs.opt.Abort) || ctx.Err() != nil {
		rs.rep.NotAttempted += int64(len(batch))
		rs.line(ResultNotAttempted, prevKeys(batch), "", nil, 0)
		if isClosed(rs.opt.Abort) {
			return errAborted
		}
		return ctx.Err()
	}
	now := rs.opt.now()
	var sent []PrevTTL
	var expired, noRecord []string
	for _, p := range batch {
		ttl := int64(-1)
		switch {
		case p.PTTLms == PrevMissing:
			// It did not exist before the run (an unknown line): nothing to put back.
			rs.rep.Gone++
			continue
		case p.PTTLms == PrevUnknown || p.PTTLms < PrevNoTTL:
			rs.rep.Failed++
			noRecord = append(noRecord, p.Key)
			continue
		case p.PTTLms >= 0:
			ttl = p.PTTLms - now.Sub(time.UnixMilli(p.AtMs)).Milliseconds()
			if ttl <= 0 {
				rs.rep.Expired++
				expired = append(expired, p.Key)
				continue
			}
		}
		switch {
		case rs.opt.DryRun:
			rs.c.add("EXISTS", p.Key)
		case ttl < 0:
			rs.c.add("PTTL", p.Key)
			rs.c.add("PERSIST", p.Key)
		default:
			rs.c.add("PTTL", p.Key)
			rs.c.add("PEXPIRE", p.Key, strconv.FormatInt(ttl, 10))
		}
		sent = append(sent, p)
	}
	if len(noRecord) > 0 {
		rs.noteError(fmt.Sprintf("%d keys: their TTL before the run was not recorded (prev_pttl_ms -3)", len(noRecord)))
	}
	rs.line(ResultSkippedExpired, expired, "", nil, 0)
	rs.line(ResultFailed, noRecord, "the TTL before the run was not recorded", nil, 0)
	if len(sent) == 0 {
		return nil
	}
	per := 2 // commands per key
	if rs.opt.DryRun {
		per = 1
	}
	cur := make([]int64, len(sent)) // PTTL before the undo's write
	res := make([]int64, len(sent))
	for i := range cur {
		cur[i], res[i] = PrevUnknown, -1
	}
	var refused, werr error
	var pexp, pers, thits, tmisses int64
	in := len(rs.c.buf)
	out := 0
	err := rs.c.exchange(func(i int, rp reply) error {
		out += rp.size
		k := i / per
		switch {
		case rp.err != nil:
			if isRejected(rp.err) {
				refused = firstErr(refused, rp.err)
			}
			werr = firstErr(werr, rp.err)
			rs.noteError(fmt.Sprintf("%s: %v", Escape(sent[k].Key), rp.err))
		case rp.kind != ':':
			return fmt.Errorf("unexpected reply %q", rp.kind)
		case per == 2 && i%2 == 0:
			cur[k] = rp.n
			if rp.n == PrevMissing {
				tmisses++
			} else {
				thits++
			}
		default:
			if per == 2 && sent[k].PTTLms == PrevNoTTL {
				pers++
			} else if per == 2 {
				pexp++
			}
			res[k] = rp.n
		}
		return nil
	})
	at := time.Now().UnixMilli()
	known, written := len(sent), len(sent)
	var be *batchError
	if err != nil && !errors.As(err, &be) {
		be = &batchError{Written: len(sent) * per, Read: 0, Err: err}
	}
	if be != nil {
		known, written = be.Read/per, be.Written/per
	}
	if l := rs.opt.Ledger; l != nil {
		if rs.opt.DryRun {
			var h int64
			for k := 0; k < known; k++ {
				if res[k] == 1 {
					h++
				}
			}
			l.Call(rs.opt.Node, "exists", int64(known))
			l.Lookups(rs.opt.Node, h, int64(known)-h)
		} else {
			l.Call(rs.opt.Node, "pttl", thits+tmisses)
			l.Lookups(rs.opt.Node, thits, tmisses)
			l.Call(rs.opt.Node, "pexpire", pexp)
			l.Call(rs.opt.Node, "persist", pers)
		}
		l.Bytes(rs.opt.Node, int64(in), int64(out))
	}
	var restored, gone, failed []string
	var restoredPrev []int64
	for k := 0; k < known; k++ {
		p := sent[k]
		switch {
		case res[k] == 1:
			restored = append(restored, p.Key)
			restoredPrev = append(restoredPrev, cur[k])
		case res[k] == 0 && rs.opt.DryRun:
			gone = append(gone, p.Key)
		case res[k] == 0 && p.PTTLms == PrevNoTTL && cur[k] == PrevNoTTL:
			// PERSIST on a key without TTL: it is as it was.
			restored = append(restored, p.Key)
			restoredPrev = append(restoredPrev, cur[k])
		case res[k] == 0:
			gone = append(gone, p.Key)
		default:
			failed = append(failed, p.Key)
		}
	}
	rs.rep.Restored += int64(len(restored))
	rs.rep.Gone += int64(len(gone))
	rs.rep.Failed += int64(len(failed))
	if rs.opt.DryRun {
		restoredPrev = nil
	}
	rs.line(ResultRestored, restored, "", restoredPrev, at)
	rs.line(ResultSkippedGone, gone, "", nil, 0)
	failText := ""
	if werr != nil {
		failText = werr.Error()
	}
	rs.line(ResultFailed, failed, failText, nil, 0)
	if be != nil {
		unknown, unsent := prevKeys(sent[known:written]), prevKeys(sent[written:])
		rs.rep.Unknown += int64(len(unknown))
		rs.rep.NotAttempted += int64(len(unsent))
		rs.line(ResultUnknown, unknown, be.Err.Error(), nil, 0)
		rs.line(ResultNotAttempted, unsent, "", nil, 0)
		if errors.Is(be.Err, errAborted) {
			rs.rep.Stopped = "aborted"
			return errAborted
		}
		rs.rep.Stopped = "connection lost"
		return fmt.Errorf("connection lost: %w", be.Err)
	}
	if refused != nil {
		rs.rep.Stopped = "refused"
		return fmt.Errorf("the server refused the undo: %v", refused)
	}
	return nil
}
