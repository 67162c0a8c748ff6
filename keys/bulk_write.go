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

// lost are keys of a batch whose reply did not come or made no sense,
// with each key's PTTL before the write where the op records it.
type lost struct {
	keys []string
	prev []int64
}

func (l *lost) add(keys ...string) { l.keys = append(l.keys, keys...) }

// journalUnknown books the keys of unknown as unknown, node by node; why
// is what left their outcome unknown, atMs when their prev PTTLs were read.
func (r *bulkRun) journalUnknown(seq int, unknown *byNode[lost], why error, atMs int64) {
	for _, node := range unknown.order {
		u := unknown.m[node]
		r.rep.Unknown += int64(len(u.keys))
		r.line(JournalBatch{Seq: seq, Result: ResultUnknown, Error: why.Error(), PrevAtMs: atMs}, node, u.keys, nil, nil, u.prev)
	}
}

// lookups are a command's keyspace hits and misses on one node.
type lookups struct{ hits, misses int64 }

// bookLookups books cmd on each node of looked, one call a key.
func (r *bulkRun) bookLookups(cmd string, looked *byNode[lookups]) {
	for _, node := range looked.order {
		l := looked.m[node]
		r.book(node, cmd, l.hits+l.misses, l.hits, l.misses)
	}
}

// unlink sends UNLINK for keys (one command per slot on a cluster, all
// in one round trip) and books the outcome. Each UNLINK reply counts the
// keys it removed; the others were already gone.
func (r *bulkRun) unlink(ctx context.Context, keys []string) (unsent []string, err error) {
	seq, home := r.seq, r.opt.Node
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
	var unknown byNode[lost]
	var refusedKeys []string
	var rerr, bad error
	refusedNode := home
	for i, o := range out {
		g := groups[i]
		switch {
		case o.state == neverSent:
			unsent = append(unsent, g...)
		case o.state == noReply:
			unknown.at(o.node).add(g...)
			r.book(o.node, "unlink", 1, 0, 0)
		case o.err != nil:
			if rerr == nil {
				rerr, refusedNode = o.err, o.node
			}
			refusedKeys = append(refusedKeys, g...)
			bookRan(r.opt.Ledger, o.node, "unlink", o.err)
		case o.kind != ':':
			bad = firstErr(bad, fmt.Errorf("UNLINK: unexpected reply %q", o.kind))
			unknown.at(o.node).add(g...)
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
		if len(d.keys) == 0 {
			continue
		}
		g := int64(len(d.keys)) - d.n
		r.rep.Applied += d.n
		r.rep.AlreadyGone += g
		jerr = firstErr(jerr, r.line(JournalBatch{Seq: seq, Result: ResultApplied, Applied: d.n, Gone: g}, node, d.keys, nil, nil, nil))
	}
	r.journalUnknown(seq, &unknown, firstErr(bad, xerr), 0)
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

// deleteWithBackup saves and deletes the keys in one transaction (one per
// slot on a cluster, all in the batch's one round trip):
//
//	MULTI; DUMP k1; PTTL k1; …; DUMP kn; PTTL kn; UNLINK k1 … kn; EXEC
//
// The server runs it with nothing in between, so the backup holds each
// key as it was when it was deleted: another client's write lands either
// before it (and is saved) or after it (and makes the key anew). The
// outcome comes from the replies inside EXEC: a key DUMP found gone was
// not there to delete, and UNLINK's count must be the keys saved. A
// transaction whose reply did not come is "unknown" and never resent: its
// keys may have been deleted, their values lost with the reply. A
// transaction refused while queued (EXECABORT) ran nothing; MOVED and ASK
// are followed by the router. The backup lines are handed to the OS
// before the batch is journaled.
func (r *bulkRun) deleteWithBackup(ctx context.Context, keys []string) (unsent []string, err error) {
	seq, home := r.seq, r.opt.Node
	keys, dups := dedupe(keys)
	groups := [][]string{keys}
	if r.files.cluster {
		groups = groupBySlot(keys)
	}
	dupsOf := groupDups(groups, dups)
	cmds := make([]rcmd, len(groups))
	for i, g := range groups {
		tx := make([]rcmd, 0, 2*len(g)+1)
		for j := range g {
			k := g[j : j+1 : j+1]
			tx = append(tx, rcmd{name: "DUMP", keys: k}, rcmd{name: "PTTL", keys: k})
		}
		cmds[i] = rcmd{tx: append(tx, rcmd{name: "UNLINK", keys: g})}
	}
	out, xerr := r.rt.exchange(ctx, cmds)
	at := time.Now()

	type part struct{ saved, gone, dups []string }
	var parts byNode[part]
	parts.at(home)
	var unknown byNode[lost]
	var refusedKeys []string
	var rerr, bad, notTx error
	refusedNode := home
	for i, o := range out {
		g, all := groups[i], groups[i]
		if dupsOf != nil {
			// A key SCAN returned twice shares the fate of its first time.
			all = append(g[:len(g):len(g)], dupsOf[i]...)
		}
		switch {
		case o.state == neverSent:
			unsent = append(unsent, all...)
			continue
		case o.state == noReply:
			unknown.at(o.node).add(all...)
			continue
		case o.err != nil:
			// EXECABORT (the cause in o.err) or EXEC rejected: nothing ran.
			if rerr == nil {
				rerr, refusedNode = o.err, o.node
			}
			refusedKeys = append(refusedKeys, all...)
			continue
		}
		dumps, pttls, perr := backupReplies(g, o)
		if perr != nil {
			bad = firstErr(bad, perr)
			unknown.at(o.node).add(all...)
			continue
		}
		notTx = firstErr(notTx, o.notTx)
		p := parts.at(o.node)
		p.dups = append(p.dups, all[len(g):]...)
		var saved int64
		for j, k := range g {
			if dumps[j] == nil {
				p.gone = append(p.gone, k)
				continue
			}
			r.files.backup.add(k, pttls[j], dumps[j], at)
			p.saved = append(p.saved, k)
			saved++
		}
		gone := int64(len(g)) - saved
		r.book(o.node, "dump", int64(len(g)), saved, gone)
		r.book(o.node, "pttl", int64(len(g)), saved, gone)
		r.book(o.node, "unlink", 1, 0, 0)
	}
	// The values go to the OS before the journal says the keys are
	// deleted; a backup that cannot be written stops the run, and the
	// batch is journaled as the server has it all the same.
	ferr := r.files.backup.flush()
	var jerr error
	for _, node := range parts.order {
		p := parts.m[node]
		if len(p.saved)+len(p.gone) == 0 {
			continue
		}
		// A key twice in the batch is listed twice, and counted gone the
		// second time, as an UNLINK of it would count it.
		all := append(append(append([]string(nil), p.saved...), p.gone...), p.dups...)
		gone := int64(len(p.gone) + len(p.dups))
		r.rep.Applied += int64(len(p.saved))
		r.rep.AlreadyGone += gone
		jerr = firstErr(jerr, r.line(JournalBatch{Seq: seq, Result: ResultApplied, Applied: int64(len(p.saved)), Gone: gone},
			node, all, p.gone, nil, nil))
	}
	r.journalUnknown(seq, &unknown, firstErr(bad, xerr), 0)
	if len(refusedKeys) > 0 {
		r.refused(seq, refusedNode, refusedKeys, rerr)
	}
	switch {
	case ferr != nil:
		r.rep.Stopped = "failed"
		return unsent, fmt.Errorf("%v: batch %d is deleted and its keys may be missing from the backup (the journal lists them)", ferr, seq)
	case bad != nil:
		r.rep.Stopped = "failed"
		return unsent, bad
	case xerr != nil:
		return unsent, r.transport(xerr, "MULTI/EXEC (backup and UNLINK)")
	case rerr != nil:
		return unsent, fmt.Errorf("backup: the server refused the batch's transaction (%v): nothing of it was deleted; --no-backup deletes without a backup", rerr)
	case notTx != nil:
		r.rep.Stopped = "refused"
		return unsent, fmt.Errorf("%w: the server refused MULTI (%v): this batch's DUMPs and UNLINK ran one by one, not as one transaction, so a key written in between may be missing from the backup; nothing more sent (grant +multi +exec, or --no-backup)", ErrDenied, notTx)
	}
	return nil, jerr
}

// dedupe splits keys into their first occurrences, in order, and the
// repeats (SCAN may return a key twice).
func dedupe(keys []string) (uniq, dups []string) {
	seen := make(map[string]struct{}, len(keys))
	for i, k := range keys {
		if _, ok := seen[k]; ok {
			if dups == nil {
				uniq = append([]string(nil), keys[:i]...)
			}
			dups = append(dups, k)
			continue
		}
		seen[k] = struct{}{}
		if dups != nil {
			uniq = append(uniq, k)
		}
	}
	if dups == nil {
		return keys, nil
	}
	return uniq, dups
}

// groupDups hands each repeated key to the group holding its first
// occurrence; nil when there are none.
func groupDups(groups [][]string, dups []string) [][]string {
	if len(dups) == 0 {
		return nil
	}
	in := map[string]int{}
	for i, g := range groups {
		for _, k := range g {
			in[k] = i
		}
	}
	out := make([][]string, len(groups))
	for _, k := range dups {
		out[in[k]] = append(out[in[k]], k)
	}
	return out
}

// backupReplies reads a delete-with-backup transaction's replies for keys
// g: each key's DUMP (nil: gone) and PTTL, then UNLINK's count, which
// must be the number of keys DUMP found.
func backupReplies(g []string, o res) (dumps [][]byte, pttls []int64, err error) {
	if o.kind != '*' || len(o.elems) != 2*len(g)+1 {
		return nil, nil, fmt.Errorf("EXEC: unexpected reply %q with %d elements for %d keys", o.kind, len(o.elems), len(g))
	}
	dumps = make([][]byte, len(g))
	pttls = make([]int64, len(g))
	var saved int64
	for j := range g {
		d, p := o.elems[2*j], o.elems[2*j+1]
		switch {
		case d.err != nil:
			return nil, nil, fmt.Errorf("DUMP failed in the transaction: %v", d.err)
		case p.err != nil:
			return nil, nil, fmt.Errorf("PTTL failed in the transaction: %v", p.err)
		case d.kind != '$' || p.kind != ':':
			return nil, nil, fmt.Errorf("DUMP, PTTL: unexpected replies %q, %q", d.kind, p.kind)
		case (d.b == nil) != (p.n == PrevMissing) || p.n < PrevMissing:
			return nil, nil, fmt.Errorf("DUMP and PTTL of %s disagree (PTTL %d)", Escape(g[j]), p.n)
		}
		if d.b != nil {
			dumps[j], pttls[j] = d.b, p.n
			saved++
		}
	}
	u := o.elems[2*len(g)]
	switch {
	case u.err != nil:
		return nil, nil, fmt.Errorf("UNLINK failed in the transaction: %v", u.err)
	case u.kind != ':' || u.n != saved:
		return nil, nil, fmt.Errorf("UNLINK removed %d keys where DUMP found %d", u.n, saved)
	}
	return dumps, pttls, nil
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
	r.bookLookups("pttl", &looked)
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
	r.journalUnknown(seq, &unknown, firstErr(bad, xerr), at)
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
	r.bookLookups("exists", &looked)
}
