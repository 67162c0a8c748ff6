package keys

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The write side of a bulk run: each batch's commands, sent through the
// router in one round trip (one per node on a cluster), and their replies
// booked in the report, the journal and the ledger.

// byNode keeps keys (and values) per node, in the order nodes first come.
type byNode[T any] struct {
	order []string
	m     map[string]*T
}

func (b *byNode[T]) at(node string) *T {
	if b.m == nil {
		b.m = map[string]*T{}
	}
	v := b.m[node]
	if v == nil {
		v = new(T)
		b.m[node] = v
		b.order = append(b.order, node)
	}
	return v
}

// unlink sends UNLINK for keys (one command per slot on a cluster, all
// in one round trip) and books the outcome; gone are keys of the batch
// found gone before (delete with backup), journaled with it. Each UNLINK
// reply counts the keys it removed; the others were already gone.
func (r *bulkRun) unlink(ctx context.Context, keys, gone []string) (unsent []string, err error) {
	seq, home := r.seq, r.opt.Node
	if len(keys) == 0 {
		r.rep.AlreadyGone += int64(len(gone))
		return nil, r.line(JournalBatch{Seq: seq, Result: ResultApplied, Gone: int64(len(gone))}, home, gone, gone, nil, nil)
	}
	groups := [][]string{keys}
	if r.files.cluster {
		groups = groupBySlot(keys)
	}
	cmds := make([]rcmd, len(groups))
	for i, g := range groups {
		cmds[i] = rcmd{name: "UNLINK", keys: g}
	}
	out, xerr := r.rt.exchange(ctx, cmds)
	type done struct {
		keys []string
		n    int64
	}
	var applied byNode[done]
	applied.at(home)
	var unknown byNode[[]string]
	var refusedKeys []string
	var rerr, bad error
	refusedNode := home
	for i, o := range out {
		g := groups[i]
		switch {
		case o.state == neverSent:
			unsent = append(unsent, g...)
		case o.state == noReply:
			*unknown.at(o.node) = append(*unknown.at(o.node), g...)
			r.book(o.node, "unlink", 1, 0, 0)
		case o.err != nil:
			if rerr == nil {
				rerr, refusedNode = o.err, o.node
			}
			refusedKeys = append(refusedKeys, g...)
			bookRan(r.opt.Ledger, o.node, "unlink", o.err)
		case o.kind != ':':
			bad = firstErr(bad, fmt.Errorf("UNLINK: unexpected reply %q", o.kind))
			*unknown.at(o.node) = append(*unknown.at(o.node), g...)
		default:
			d := applied.at(o.node)
			d.keys = append(d.keys, g...)
			d.n += o.n
			r.book(o.node, "unlink", 1, 0, 0)
		}
	}
	var jerr error
	for _, node := range applied.order {
		d := applied.m[node]
		all, goneHere := d.keys, []string(nil)
		if node == home {
			all, goneHere = append(append([]string(nil), d.keys...), gone...), gone
		}
		if len(all) == 0 {
			continue
		}
		g := int64(len(d.keys)) - d.n + int64(len(goneHere))
		r.rep.Applied += d.n
		r.rep.AlreadyGone += g
		jerr = firstErr(jerr, r.line(JournalBatch{Seq: seq, Result: ResultApplied, Applied: d.n, Gone: g}, node, all, goneHere, nil, nil))
	}
	for _, node := range unknown.order {
		keys := *unknown.m[node]
		r.rep.Unknown += int64(len(keys))
		r.line(JournalBatch{Seq: seq, Result: ResultUnknown, Error: firstErr(bad, xerr).Error()}, node, keys, nil, nil, nil)
	}
	if len(refusedKeys) > 0 {
		r.refused(seq, refusedNode, refusedKeys, rerr)
	}
	switch {
	case bad != nil:
		r.rep.Stopped = "failed"
		return unsent, bad // a reply we could not make sense of
	case xerr != nil:
		return unsent, r.transport(xerr, "UNLINK")
	case rerr != nil:
		return unsent, explainBulk(OpDelete, rerr)
	}
	return nil, jerr
}

// deleteWithBackup saves each key (DUMP, PTTL in one round trip), writes
// them to the backup file, then unlinks the keys saved.
func (r *bulkRun) deleteWithBackup(ctx context.Context, keys []string) (unsent []string, err error) {
	cmds := make([]rcmd, 0, 2*len(keys))
	for _, k := range keys {
		cmds = append(cmds, rcmd{name: "DUMP", keys: []string{k}}, rcmd{name: "PTTL", keys: []string{k}})
	}
	out, xerr := r.rt.exchange(ctx, cmds)
	at := time.Now()
	if xerr != nil {
		// Reads only: nothing was changed.
		return keys, r.transport(xerr, "DUMP for the backup")
	}
	dumps := make([][]byte, len(keys))
	pttls := make([]int64, len(keys))
	var rerr error
	for i, o := range out {
		switch {
		case o.err != nil:
			rerr = firstErr(rerr, o.err)
		case i%2 == 0 && o.kind != '$':
			r.rep.Stopped = "failed"
			return keys, fmt.Errorf("DUMP: unexpected reply %q", o.kind)
		case i%2 == 0:
			dumps[i/2] = o.b // nil: gone
		default:
			pttls[i/2] = o.n
		}
	}
	type lookups struct{ hits, misses, thits, tmisses int64 }
	var looked byNode[lookups]
	var saved, gone []string
	for i, k := range keys {
		l := looked.at(out[2*i].node)
		if dumps[i] != nil {
			l.hits++
		} else {
			l.misses++
		}
		if pttls[i] == -2 {
			l.tmisses++
		} else {
			l.thits++
		}
		if dumps[i] == nil || pttls[i] == -2 {
			gone = append(gone, k) // gone before DUMP, or between DUMP and PTTL: not unlinked
			continue
		}
		r.files.backup.add(k, pttls[i], dumps[i], at)
		saved = append(saved, k)
	}
	for _, node := range looked.order {
		l := looked.m[node]
		r.book(node, "dump", l.hits+l.misses, l.hits, l.misses)
		r.book(node, "pttl", l.thits+l.tmisses, l.thits, l.tmisses)
	}
	if rerr != nil {
		r.refused(r.seq, r.opt.Node, keys, rerr)
		return nil, fmt.Errorf("backup: DUMP/PTTL refused (%v): nothing deleted; --no-backup deletes without a backup", rerr)
	}
	if err := r.files.backup.flush(); err != nil {
		r.rep.Stopped = "failed"
		return keys, err
	}
	return r.unlink(ctx, saved, gone)
}

// perKey sends PTTL then PEXPIRE or PERSIST for each key, in one round
// trip, and books the replies key by key, with each key's previous PTTL
// in the journal. For PERSIST's zeros, the PTTL tells a key without TTL
// (-1) from one gone; EXISTS is asked only where the PTTL did not answer.
func (r *bulkRun) perKey(ctx context.Context, keys []string) (unsent []string, err error) {
	seq, home := r.seq, r.opt.Node
	cmd := strings.ToUpper(r.opt.Op.command())
	cmds := make([]rcmd, 0, 2*len(keys))
	for _, k := range keys {
		w := rcmd{name: cmd, keys: []string{k}}
		if r.opt.Op == OpExpire {
			w.extra = []string{r.ttlArg}
		}
		cmds = append(cmds, rcmd{name: "PTTL", keys: []string{k}}, w) // the PTTL is the undo record, read just before the write
	}
	out, xerr := r.rt.exchange(ctx, cmds)
	at := time.Now().UnixMilli()
	res := make([]int64, len(keys))
	prev := make([]int64, len(keys))
	state := make([]resState, len(keys))
	var rerr, perr, bad error
	refusedNode := home
	type lookups struct{ hits, misses int64 }
	var looked byNode[lookups]
	for k := range keys {
		p, w := out[2*k], out[2*k+1]
		prev[k] = PrevUnknown
		switch {
		case p.state != replied:
		case p.err != nil:
			perr = firstErr(perr, p.err)
		case p.kind != ':':
			bad = firstErr(bad, fmt.Errorf("PTTL: unexpected reply %q", p.kind))
		default:
			prev[k] = p.n
			if l := looked.at(p.node); p.n == PrevMissing {
				l.misses++
			} else {
				l.hits++
			}
		}
		state[k] = w.state
		switch {
		case w.state != replied:
		case w.err != nil:
			if rerr == nil {
				rerr, refusedNode = w.err, w.node
			}
			res[k] = -1
		case w.kind != ':':
			bad = firstErr(bad, fmt.Errorf("%s: unexpected reply %q", cmd, w.kind))
		default:
			res[k] = w.n
		}
	}
	if bad != nil {
		// A reply we could not make sense of: everything sent is unknown.
		for k := range state {
			if state[k] == replied {
				state[k] = noReply
			}
		}
	}
	for _, node := range looked.order {
		l := looked.m[node]
		r.book(node, "pttl", l.hits+l.misses, l.hits, l.misses)
	}
	if xerr == nil && bad == nil && rerr == nil && r.opt.Op == OpPersist {
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
		r.whyUnchanged(ctx, keys, res, ask)
	}
	type part struct {
		done, gone, unch   []string
		prev, gprev, uprev []int64
		applied            int64
	}
	var parts byNode[part]
	parts.at(home)
	type lost struct {
		keys []string
		prev []int64
	}
	var refusedKeys []string
	var unknown byNode[lost]
	var calls byNode[int64]
	for k, key := range keys {
		node := out[2*k+1].node
		switch state[k] {
		case neverSent:
			unsent = append(unsent, key)
			continue
		case noReply:
			u := unknown.at(node)
			u.keys = append(u.keys, key)
			u.prev = append(u.prev, prev[k])
			*calls.at(node)++
			continue
		}
		p := parts.at(node)
		switch res[k] {
		case 1:
			p.applied++
			p.done = append(p.done, key)
			p.prev = append(p.prev, prev[k])
		case 0:
			p.gone = append(p.gone, key)
			p.gprev = append(p.gprev, prev[k])
		case 2: // persist: exists, had no TTL
			p.unch = append(p.unch, key)
			p.uprev = append(p.uprev, prev[k])
		default:
			refusedKeys = append(refusedKeys, key)
			continue
		}
		*calls.at(node)++
	}
	for _, node := range calls.order {
		r.book(node, r.opt.Op.command(), *calls.m[node], 0, 0)
	}
	var jerr error
	for _, node := range parts.order {
		p := parts.m[node]
		done := append(append(append([]string(nil), p.done...), p.gone...), p.unch...)
		if len(done) == 0 {
			continue
		}
		dprev := append(append(p.prev, p.gprev...), p.uprev...) // in the order of done
		r.rep.Applied += p.applied
		r.rep.AlreadyGone += int64(len(p.gone))
		r.rep.Unchanged += int64(len(p.unch))
		jerr = firstErr(jerr, r.line(JournalBatch{Seq: seq, Result: ResultApplied, PrevAtMs: at,
			Applied: p.applied, Gone: int64(len(p.gone)), Unchanged: int64(len(p.unch))}, node, done, p.gone, p.unch, dprev))
	}
	if len(refusedKeys) > 0 {
		bookRan(r.opt.Ledger, refusedNode, r.opt.Op.command(), rerr)
		r.refused(seq, refusedNode, refusedKeys, rerr)
	}
	for _, node := range unknown.order {
		u := unknown.m[node]
		r.rep.Unknown += int64(len(u.keys))
		r.line(JournalBatch{Seq: seq, Result: ResultUnknown, Error: firstErr(bad, xerr).Error(), PrevAtMs: at}, node, u.keys, nil, nil, u.prev)
	}
	switch {
	case bad != nil:
		r.rep.Stopped = "failed"
		return unsent, bad
	case xerr != nil:
		return unsent, r.transport(xerr, cmd)
	case rerr != nil:
		return unsent, explainBulk(r.opt.Op, rerr)
	case perr != nil:
		// The writes ran; their undo records are missing (-3). Stop here.
		r.rep.Stopped = "refused"
		return nil, fmt.Errorf("PTTL refused (%v): this batch's previous TTLs were not recorded (prev_pttl_ms -3); nothing more sent", perr)
	}
	return nil, jerr
}

// whyUnchanged asks EXISTS for the keys at idx (PERSIST answered 0 and
// their PTTL is unknown) and marks with 2 those that exist: they had no
// TTL. A key stays 0 (gone) only when EXISTS says so; when EXISTS fails it
// is marked unchanged, which is true either way (nothing was changed).
func (r *bulkRun) whyUnchanged(ctx context.Context, keys []string, res []int64, idx []int) {
	if len(idx) == 0 {
		return
	}
	cmds := make([]rcmd, len(idx))
	for j, i := range idx {
		cmds[j] = rcmd{name: "EXISTS", keys: []string{keys[i]}}
	}
	// A failed connection is left to the next batch to find out.
	out, _ := r.rt.exchange(ctx, cmds)
	type lookups struct{ hits, misses int64 }
	var looked byNode[lookups]
	for j, o := range out {
		if o.state == replied && o.err == nil && o.kind == ':' && o.n == 0 {
			looked.at(o.node).misses++
			continue
		}
		if o.state == replied && o.err == nil {
			looked.at(o.node).hits++
		}
		res[idx[j]] = 2
	}
	for _, node := range looked.order {
		l := looked.m[node]
		r.book(node, "exists", l.hits+l.misses, l.hits, l.misses)
	}
}
