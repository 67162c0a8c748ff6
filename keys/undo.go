package keys

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// readUndo reads an expire or persist journal and checks that it can be
// undone.
func readUndo(path string) (*JournalKeys, error) {
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
	// A key the run met twice (SCAN may return a key again, a cluster
	// master's part may start over) has two records; the second one read
	// the TTL the run itself had set. The first one is the TTL before.
	seen := make(map[string]struct{}, len(jk.Prev))
	prev := jk.Prev[:0]
	for _, p := range jk.Prev {
		if _, ok := seen[p.Key]; !ok {
			seen[p.Key] = struct{}{}
			prev = append(prev, p)
		}
	}
	jk.Prev = prev
	return jk, nil
}

// UndoCount is how many keys an undo of the expire or persist journal at
// path would look at (those whose TTL before the run it records), and the
// op undone: what a confirmation asks to be typed.
func UndoCount(path string) (int64, Op, error) {
	jk, err := readUndo(path)
	if err != nil {
		return 0, "", err
	}
	return int64(len(jk.Prev)), jk.Header.Op, nil
}

// undo puts back the TTLs an expire or persist run changed, from the
// previous PTTLs its journal recorded (prev_pttl_ms): PEXPIRE with what
// was left of the old TTL (prev_pttl_ms minus the time since prev_at_ms,
// on the client's clock), PERSIST where the key had no TTL.
//
// Only where the key still has what the run left (see undoRule): a key
// whose TTL someone changed since (persisted it, set another TTL,
// rewrote it) is left alone and counted in Changed, unless opt.Force.
// The check and the write go together in a small Lua script (undoScript),
// so nothing can change the key in between; one script call handles up to
// undoKeysPerCall keys (one slot's on a cluster), and holds the server
// about a millisecond. The TTL each key had before the undo is journaled
// with it. Keys gone since are counted in Gone. Keys whose old TTL has run
// out since the run are left as they are and counted in Expired: putting
// it back would delete them. Keys the run left alone (gone, persist
// without TTL, not attempted, refused) are not touched; unknown ones are,
// when their previous TTL was recorded and they carry the run's TTL. A
// dry run sends one PTTL per key and applies the same rule.
func undo(ctx context.Context, tgt restoreTarget, path string, opt RestoreOptions) (*RestoreReport, error) {
	if opt.Replace {
		return nil, errors.New("--replace goes with a backup file, not a journal: an undo puts back TTLs only")
	}
	jk, err := readUndo(path)
	if err != nil {
		return nil, err
	}
	rule := &undoRule{op: jk.Header.Op, ttl: jk.Header.TTLms, force: opt.Force}
	if rule.op == OpExpire && rule.ttl <= 0 && !opt.Force {
		return nil, fmt.Errorf("%s: the journal does not record the TTL the run set, so an undo cannot tell the keys changed since: --force puts the old TTLs back regardless", path)
	}
	start := time.Now()
	rep := &RestoreReport{Path: path, DryRun: opt.DryRun, Undo: jk.Header.Op, Force: opt.Force,
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
		err = rs.undoBatch(ctx, rule, batch)
		recs = recs[n:]
		if err != nil {
			break
		}
		if opt.Progress != nil {
			opt.Progress(*rep)
		}
	}
	if err != nil {
		rep.stop(ctx, opt.Abort, err)
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

// undoRule tells a key that still has what the run left from one changed
// since.
type undoRule struct {
	op    Op    // the op undone
	ttl   int64 // expire: the TTL the run set, ms
	force bool  // put the old TTL back regardless
}

// Margins of undoRule.bounds.
const (
	// undoSlack: a key's PTTL may be this far from what the run's TTL has
	// come down to, plus 1% of the time elapsed: the write landed somewhere
	// in its batch's round trip, and the client's clock (prev_at_ms, now)
	// and the server's countdown may drift apart.
	undoSlack = 2000
	// undoUnknownSlack: a write whose reply never came landed up to its
	// timeout before prev_at_ms, which is when the failure was seen.
	undoUnknownSlack = 60_000
	// undoKeysPerCall bounds the keys of one script call, so that it holds
	// the server about a millisecond.
	undoKeysPerCall = 1000
)

// bounds is the PTTL range a key is in while it still has what the run
// left: for expire, the run's TTL less the time elapsed since prev_at_ms
// (within the margins above, and never above the TTL set); for persist,
// no TTL (-1). An expire whose TTL has run out gives an empty range: a key
// there now was made again since.
func (u *undoRule) bounds(p PrevTTL, now time.Time) (lo, hi int64) {
	if u.op == OpPersist {
		return PrevNoTTL, PrevNoTTL
	}
	elapsed := max(0, now.UnixMilli()-p.AtMs)
	left := u.ttl - elapsed
	below, above := undoSlack+elapsed/100, undoSlack+elapsed/100
	if p.Result == ResultUnknown {
		below += undoUnknownSlack
	}
	return max(1, left-below), min(u.ttl, left+above)
}

// undoScript puts back the old TTL of each key in KEYS whose PTTL is
// still in range: ARGV holds, for each key, lo, hi and the TTL to set
// (PEXPIRE milliseconds; -1: PERSIST). It answers, for each key, a code (1
// put back, 2 left alone: changed since, 0 gone) and the PTTL it found.
// The script sees each key as no other client can change it in between.
const undoScript = `local out = {}
for i, k in ipairs(KEYS) do
  local cur = redis.call('PTTL', k)
  local code = 0
  if cur ~= -2 then
    code = 2
    if cur >= tonumber(ARGV[3*i-2]) and cur <= tonumber(ARGV[3*i-1]) then
      if ARGV[3*i] == '-1' then
        redis.call('PERSIST', k)
      else
        redis.call('PEXPIRE', k, ARGV[3*i])
      end
      code = 1
    end
  end
  out[2*i-1] = code
  out[2*i] = cur
end
return out
`

var undoSHA = func() string {
	sum := sha1.Sum([]byte(undoScript))
	return hex.EncodeToString(sum[:])
}()

// Codes of undoScript.
const (
	undoGone      = 0
	undoPutBack   = 1
	undoLeftAlone = 2
)

// undoItem is one key of an undo batch: its record, the TTL to put back
// (-1: none) and the range of undoRule.bounds.
type undoItem struct {
	p           PrevTTL
	ttl, lo, hi int64
}

// undoCalls groups the items of a batch into commands: one PTTL per key in
// a dry run; otherwise one script call per up to undoKeysPerCall keys, of
// one slot on a cluster. It returns the commands and, for each, the
// indexes of its items.
func (rs *restoreRun) undoCalls(items []undoItem) ([]rcmd, [][]int) {
	var cmds []rcmd
	var idx [][]int
	if rs.opt.DryRun {
		for i, it := range items {
			cmds = append(cmds, rcmd{name: "PTTL", keys: []string{it.p.Key}})
			idx = append(idx, []int{i})
		}
		return cmds, idx
	}
	all := make([]int, len(items))
	for i := range all {
		all[i] = i
	}
	groups := [][]int{all}
	if rs.rt.cluster {
		groups = slotGroups(all, func(i int) string { return items[i].p.Key })
	}
	for _, g := range groups {
		for len(g) > 0 {
			part := g[:min(len(g), undoKeysPerCall)]
			g = g[len(part):]
			c := rcmd{name: "EVALSHA", head: []string{undoSHA, strconv.Itoa(len(part))}}
			c.keys = make([]string, len(part))
			c.extra = make([]string, 0, 3*len(part))
			for j, i := range part {
				it := items[i]
				lo, hi := it.lo, it.hi
				if rs.opt.Force {
					lo, hi = PrevNoTTL, math.MaxInt64
				}
				c.keys[j] = it.p.Key
				c.extra = append(c.extra, strconv.FormatInt(lo, 10), strconv.FormatInt(hi, 10), strconv.FormatInt(it.ttl, 10))
			}
			cmds = append(cmds, c)
			idx = append(idx, part)
		}
	}
	return cmds, idx
}

// undoBatch sends one batch of an undo: the script calls (a dry run: one
// PTTL per key), all in one round trip, and books what each key became.
// It returns an error to stop the undo.
func (rs *restoreRun) undoBatch(ctx context.Context, u *undoRule, batch []PrevTTL) error {
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
	var items []undoItem
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
		lo, hi := u.bounds(p, now)
		items = append(items, undoItem{p: p, ttl: ttl, lo: lo, hi: hi})
	}
	if len(noRecord) > 0 {
		rs.noteError(fmt.Sprintf("%d keys: their TTL before the run was not recorded (prev_pttl_ms -3)", len(noRecord)))
	}
	rs.line(ResultSkippedExpired, "", expired, "", nil, 0)
	rs.line(ResultFailed, "", noRecord, "the TTL before the run was not recorded", nil, 0)
	if len(items) == 0 {
		return nil
	}
	cmds, idx := rs.undoCalls(items)
	out, xerr := rs.rt.exchange(ctx, cmds)
	asEval := make([]bool, len(cmds))
	if xerr == nil && !rs.opt.DryRun {
		xerr = rs.evalNoScript(ctx, cmds, out, asEval)
	}
	at := time.Now().UnixMilli()
	oc := rs.undoReplies(out, idx, items, asEval)
	rs.undoLines(items, oc, at, firstErr(oc.bad, xerr))
	switch {
	case oc.bad != nil:
		rs.rep.Stopped = "failed"
		return oc.bad
	case xerr != nil:
		return rs.stop(xerr)
	case oc.refused != nil:
		rs.rep.Stopped = "refused"
		if strings.HasPrefix(oc.refused.Error(), "NOPERM") && strings.Contains(oc.refused.Error(), "eval") {
			return fmt.Errorf("the server refused the undo: %v (an undo checks and puts back each key's TTL in a Lua script: it needs +evalsha and +eval)", oc.refused)
		}
		return fmt.Errorf("the server refused the undo: %v", oc.refused)
	}
	return nil
}

// What became of a key of an undo batch.
const (
	undoUnknown = iota
	undoUnsent
	undoFailed
	undoWasGone
	undoRestored
	undoChanged // left alone
)

// undoOutcome is what became of each item of an undo batch (kind, the
// PTTL found before the undo, the node), and the errors met: refused (an
// error reply before anything ran), failed (any error reply), bad (a
// reply that leaves what ran unknown).
type undoOutcome struct {
	kind                 []int
	cur                  []int64
	node                 []string
	refused, failed, bad error
}

// undoReplies reads the replies of an undo batch's commands (idx: each
// command's items) and books them in the ledger as the server counts
// them: a script call, and inside it a PTTL per key and the PEXPIRE or
// PERSIST of each key put back.
func (rs *restoreRun) undoReplies(out []res, idx [][]int, items []undoItem, asEval []bool) *undoOutcome {
	oc := &undoOutcome{kind: make([]int, len(items)), cur: make([]int64, len(items)), node: make([]string, len(items))}
	type counts struct{ pttl, evalsha, eval, hits, misses, pexp, pers int64 }
	var booked byNode[counts]
	for ci, o := range out {
		its := idx[ci]
		for _, i := range its {
			oc.node[i], oc.cur[i] = o.node, PrevUnknown
		}
		switch {
		case o.state == neverSent:
			for _, i := range its {
				oc.kind[i] = undoUnsent
			}
			continue
		case o.state == noReply:
			continue // undoUnknown
		}
		c := booked.at(o.node)
		ran := func() {
			if asEval[ci] {
				c.eval++
			} else {
				c.evalsha++
			}
		}
		if o.err != nil {
			oc.failed = firstErr(oc.failed, o.err)
			if who := Escape(items[its[0]].p.Key); len(its) > 1 {
				rs.noteError(fmt.Sprintf("%s and %d more keys: %v", who, len(its)-1, o.err))
			} else {
				rs.noteError(fmt.Sprintf("%s: %v", who, o.err))
			}
			if strings.Contains(o.err.Error(), " script: ") {
				// The script failed part way: what it did is unknown.
				oc.bad = firstErr(oc.bad, fmt.Errorf("the undo script failed: %v", o.err))
				ran()
				continue
			}
			switch {
			case isRejected(o.err):
				oc.refused = firstErr(oc.refused, o.err)
			case rs.opt.DryRun:
				c.pttl++
			default:
				ran()
			}
			for _, i := range its {
				oc.kind[i] = undoFailed
			}
			continue
		}
		if rs.opt.DryRun {
			if o.kind != ':' {
				oc.bad = firstErr(oc.bad, fmt.Errorf("PTTL: unexpected reply %q", o.kind))
				continue
			}
			i := its[0]
			c.pttl++
			oc.cur[i] = o.n
			switch {
			case o.n == PrevMissing:
				oc.kind[i] = undoWasGone
				c.misses++
			case rs.opt.Force || items[i].lo <= o.n && o.n <= items[i].hi:
				oc.kind[i] = undoRestored
				c.hits++
			default:
				oc.kind[i] = undoChanged
				c.hits++
			}
			continue
		}
		ran()
		if o.kind != '*' || len(o.elems) != 2*len(its) {
			oc.bad = firstErr(oc.bad, fmt.Errorf("the undo script: unexpected reply %q with %d elements for %d keys", o.kind, len(o.elems), len(its)))
			continue
		}
		for j, i := range its {
			code, pt := o.elems[2*j], o.elems[2*j+1]
			if code.kind != ':' || pt.kind != ':' || code.n < undoGone || code.n > undoLeftAlone {
				oc.bad = firstErr(oc.bad, fmt.Errorf("the undo script: unexpected reply for %s", Escape(items[i].p.Key)))
				continue
			}
			oc.cur[i] = pt.n
			c.pttl++
			if pt.n == PrevMissing {
				c.misses++
			} else {
				c.hits++
			}
			switch code.n {
			case undoGone:
				oc.kind[i] = undoWasGone
			case undoPutBack:
				oc.kind[i] = undoRestored
				if items[i].ttl < 0 {
					c.pers++
				} else {
					c.pexp++
				}
			default:
				oc.kind[i] = undoChanged
			}
		}
	}
	if oc.bad != nil {
		// A reply we could not make sense of leaves everything sent unknown.
		for i := range oc.kind {
			if oc.kind[i] != undoUnsent {
				oc.kind[i] = undoUnknown
			}
		}
	}
	if l := rs.opt.Ledger; l != nil {
		for _, n := range booked.order {
			c := booked.m[n]
			l.Call(n, "pttl", c.pttl)
			l.Lookups(n, c.hits, c.misses)
			if !rs.opt.DryRun {
				l.Call(n, "evalsha", c.evalsha)
				l.Call(n, "eval", c.eval)
				l.Call(n, "pexpire", c.pexp)
				l.Call(n, "persist", c.pers)
			}
		}
	}
	return oc
}

// undoLines adds an undo batch's outcome to the report and journals it,
// per node: the keys put back with the PTTL each had before (answered at
// atMs), those gone, those changed since the run (left alone; with Force
// put back, and counted changed too), failed, unknown (why) and unsent.
func (rs *restoreRun) undoLines(items []undoItem, oc *undoOutcome, atMs int64, why error) {
	type lines struct {
		restored, gone, changed, failed, unknown, unsent []string
		restoredPrev                                     []int64
	}
	var byN byNode[lines]
	for i, it := range items {
		ln := byN.at(oc.node[i])
		k := it.p.Key
		switch oc.kind[i] {
		case undoUnknown:
			ln.unknown = append(ln.unknown, k)
		case undoUnsent:
			ln.unsent = append(ln.unsent, k)
		case undoFailed:
			ln.failed = append(ln.failed, k)
		case undoWasGone:
			ln.gone = append(ln.gone, k)
		case undoChanged:
			ln.changed = append(ln.changed, k)
			rs.changed(k)
		case undoRestored:
			ln.restored = append(ln.restored, k)
			ln.restoredPrev = append(ln.restoredPrev, oc.cur[i])
			if oc.cur[i] < it.lo || oc.cur[i] > it.hi {
				rs.changed(k) // Force: put back over a change
			}
		}
	}
	failText := ""
	if oc.failed != nil {
		failText = oc.failed.Error()
	}
	for _, n := range byN.order {
		ln := byN.m[n]
		rs.rep.Restored += int64(len(ln.restored))
		rs.rep.Gone += int64(len(ln.gone))
		rs.rep.Failed += int64(len(ln.failed))
		rs.rep.Unknown += int64(len(ln.unknown))
		rs.rep.NotAttempted += int64(len(ln.unsent))
		if rs.opt.DryRun {
			ln.restoredPrev = nil
		}
		rs.line(ResultRestored, n, ln.restored, "", ln.restoredPrev, atMs)
		rs.line(ResultSkippedGone, n, ln.gone, "", nil, 0)
		rs.line(ResultSkippedChanged, n, ln.changed, "", nil, 0)
		rs.line(ResultFailed, n, ln.failed, failText, nil, 0)
		if len(ln.unknown) > 0 {
			rs.line(ResultUnknown, n, ln.unknown, why.Error(), nil, 0)
		}
		rs.line(ResultNotAttempted, n, ln.unsent, "", nil, 0)
	}
}

// changed counts a key changed since the run and keeps the first few.
func (rs *restoreRun) changed(key string) {
	rs.rep.Changed++
	if len(rs.rep.ChangedKeys) < changedSamples {
		rs.rep.ChangedKeys = append(rs.rep.ChangedKeys, Escape(key))
	}
}

// changedSamples is how many keys changed since the run a report names.
const changedSamples = 5

// evalNoScript sends once more, as EVAL (which caches the script), the
// script calls answered NOSCRIPT: the node had not seen the script (its
// first undo, a restart, SCRIPT FLUSH, a failover). NOSCRIPT ran nothing.
// Their results replace those in out, and asEval marks them.
func (rs *restoreRun) evalNoScript(ctx context.Context, cmds []rcmd, out []res, asEval []bool) error {
	var again []int
	for i, o := range out {
		if o.state == replied && o.err != nil && strings.HasPrefix(o.err.Error(), "NOSCRIPT") {
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		return nil
	}
	re := make([]rcmd, len(again))
	for j, i := range again {
		c := cmds[i]
		c.name, c.head = "EVAL", []string{undoScript, c.head[1]}
		re[j] = c
		rs.opt.Ledger.Call(out[i].node, "evalsha", 1) // NOSCRIPT counts as a call
	}
	out2, err := rs.rt.exchange(ctx, re)
	for j, i := range again {
		out[i], asEval[i] = out2[j], true
	}
	return err
}
