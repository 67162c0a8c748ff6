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
func undo(ctx context.Context, tgt restoreTarget, path string, opt RestoreOptions) (*RestoreReport, error) {
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
	rt, err := tgt.open(ctx, opt)
	if err != nil {
		return nil, fmt.Errorf("opening the write connection: %w", err)
	}
	defer rt.close()
	rs := &restoreRun{opt: opt, rep: rep, rt: rt}
	if !opt.DryRun {
		if err := rs.openJournal(tgt, JournalHeader{File: path, Pattern: jk.Header.Pattern, Undo: jk.Header.Op}); err != nil {
			return nil, err
		}
	}
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
			rs.line(ResultNotAttempted, "", prevKeys(recs[:n]), "", nil, 0)
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
		rs.line(ResultNotAttempted, "", prevKeys(batch), "", nil, 0)
		if isClosed(rs.opt.Abort) {
			return errAborted
		}
		return ctx.Err()
	}
	now := rs.opt.now()
	var sent []PrevTTL
	var cmds []rcmd
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
		k := []string{p.Key}
		switch {
		case rs.opt.DryRun:
			cmds = append(cmds, rcmd{name: "EXISTS", keys: k})
		case ttl < 0:
			cmds = append(cmds, rcmd{name: "PTTL", keys: k}, rcmd{name: "PERSIST", keys: k})
		default:
			cmds = append(cmds, rcmd{name: "PTTL", keys: k}, rcmd{name: "PEXPIRE", keys: k, extra: []string{strconv.FormatInt(ttl, 10)}})
		}
		sent = append(sent, p)
	}
	if len(noRecord) > 0 {
		rs.noteError(fmt.Sprintf("%d keys: their TTL before the run was not recorded (prev_pttl_ms -3)", len(noRecord)))
	}
	rs.line(ResultSkippedExpired, "", expired, "", nil, 0)
	rs.line(ResultFailed, "", noRecord, "the TTL before the run was not recorded", nil, 0)
	if len(sent) == 0 {
		return nil
	}
	per := 2 // commands per key
	if rs.opt.DryRun {
		per = 1
	}
	out, xerr := rs.rt.exchange(ctx, cmds)
	at := time.Now().UnixMilli()
	cur := make([]int64, len(sent)) // PTTL before the undo's write
	res := make([]int64, len(sent))
	for i := range cur {
		cur[i], res[i] = PrevUnknown, -1
	}
	var refused, werr, bad error
	type counts struct{ exists, hits, pexp, pers, thits, tmisses int64 }
	var booked byNode[counts]
	for i, o := range out {
		k := i / per
		if o.state != replied {
			continue
		}
		c := booked.at(o.node)
		switch {
		case o.err != nil:
			if isRejected(o.err) {
				refused = firstErr(refused, o.err)
			}
			werr = firstErr(werr, o.err)
			rs.noteError(fmt.Sprintf("%s: %v", Escape(sent[k].Key), o.err))
		case o.kind != ':':
			bad = firstErr(bad, fmt.Errorf("unexpected reply %q", o.kind))
		case per == 2 && i%2 == 0:
			cur[k] = o.n
			if o.n == PrevMissing {
				c.tmisses++
			} else {
				c.thits++
			}
		default:
			switch {
			case per == 1:
				c.exists++
				if o.n == 1 {
					c.hits++
				}
			case sent[k].PTTLms == PrevNoTTL:
				c.pers++
			default:
				c.pexp++
			}
			res[k] = o.n
		}
	}
	if l := rs.opt.Ledger; l != nil {
		for _, node := range booked.order {
			c := booked.m[node]
			if rs.opt.DryRun {
				l.Call(node, "exists", c.exists)
				l.Lookups(node, c.hits, c.exists-c.hits)
			} else {
				l.Call(node, "pttl", c.thits+c.tmisses)
				l.Lookups(node, c.thits, c.tmisses)
				l.Call(node, "pexpire", c.pexp)
				l.Call(node, "persist", c.pers)
			}
		}
	}
	type lines struct {
		restored, gone, failed, unknown, unsent []string
		restoredPrev                            []int64
	}
	var byN byNode[lines]
	for k, p := range sent {
		o := out[k*per+per-1] // the write (or EXISTS)
		ln := byN.at(o.node)
		switch {
		case bad != nil || o.state == noReply:
			// A reply we could not make sense of leaves everything sent unknown.
			ln.unknown = append(ln.unknown, p.Key)
		case o.state == neverSent:
			ln.unsent = append(ln.unsent, p.Key)
		case res[k] == 1:
			ln.restored = append(ln.restored, p.Key)
			ln.restoredPrev = append(ln.restoredPrev, cur[k])
		case res[k] == 0 && rs.opt.DryRun:
			ln.gone = append(ln.gone, p.Key)
		case res[k] == 0 && p.PTTLms == PrevNoTTL && cur[k] == PrevNoTTL:
			// PERSIST on a key without TTL: it is as it was.
			ln.restored = append(ln.restored, p.Key)
			ln.restoredPrev = append(ln.restoredPrev, cur[k])
		case res[k] == 0:
			ln.gone = append(ln.gone, p.Key)
		default:
			ln.failed = append(ln.failed, p.Key)
		}
	}
	failText := ""
	if werr != nil {
		failText = werr.Error()
	}
	why := firstErr(bad, xerr)
	for _, node := range byN.order {
		ln := byN.m[node]
		rs.rep.Restored += int64(len(ln.restored))
		rs.rep.Gone += int64(len(ln.gone))
		rs.rep.Failed += int64(len(ln.failed))
		rs.rep.Unknown += int64(len(ln.unknown))
		rs.rep.NotAttempted += int64(len(ln.unsent))
		if rs.opt.DryRun {
			ln.restoredPrev = nil
		}
		rs.line(ResultRestored, node, ln.restored, "", ln.restoredPrev, at)
		rs.line(ResultSkippedGone, node, ln.gone, "", nil, 0)
		rs.line(ResultFailed, node, ln.failed, failText, nil, 0)
		if len(ln.unknown) > 0 {
			rs.line(ResultUnknown, node, ln.unknown, why.Error(), nil, 0)
		}
		rs.line(ResultNotAttempted, node, ln.unsent, "", nil, 0)
	}
	switch {
	case bad != nil:
		rs.rep.Stopped = "failed"
		return bad
	case xerr != nil:
		return rs.stop(xerr)
	case refused != nil:
		rs.rep.Stopped = "refused"
		return fmt.Errorf("the server refused the undo: %v", refused)
	}
	return nil
}
