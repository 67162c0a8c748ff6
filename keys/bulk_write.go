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
	kr := make([]keyResult, len(keys))
	e := keyErrs{xerr: xerr, what: cmd, refusedNode: home}
	var looked byNode[lookups]
	for k := range keys {
		p, w := out[2*k], out[2*k+1]
		kr[k] = keyResult{node: w.node, state: w.state, prev: PrevUnknown}
		switch {
		case p.state != replied:
		case p.err != nil:
			e.perr = firstErr(e.perr, p.err)
		case p.kind != ':':
			e.bad = firstErr(e.bad, fmt.Errorf("PTTL: unexpected reply %q", p.kind))
		default:
			kr[k].prev = p.n
			if l := looked.at(p.node); p.n == PrevMissing {
				l.misses++
			} else {
				l.hits++
			}
		}
		switch {
		case w.state != replied:
		case w.err != nil:
			e.refuse(w.err, w.node)
			kr[k].res = -1
		case w.kind != ':':
			e.bad = firstErr(e.bad, fmt.Errorf("%s: unexpected reply %q", cmd, w.kind))
		default:
			kr[k].res = w.n
		}
	}
	e.unknownIfBad(kr)
	r.bookLookups("pttl", &looked)
	r.ttlShare = ttlShare(kr)
	if xerr == nil && e.bad == nil && e.rerr == nil && r.opt.Op == OpPersist {
		var ask []int
		for i, x := range kr {
			switch {
			case x.res != 0:
			case x.prev == PrevNoTTL:
				kr[i].res = 2
			case x.prev == PrevUnknown:
				ask = append(ask, i)
			}
		}
		r.whyUnchanged(ctx, keys, kr, ask)
	}
	// One write call a key sent, refused ones aside.
	var calls byNode[int64]
	for _, x := range kr {
		if x.state == noReply || x.state == replied && x.res != -1 {
			*calls.at(x.node)++
		}
	}
	for _, node := range calls.order {
		r.book(node, r.opt.Op.command(), *calls.m[node], 0, 0)
	}
	if e.rerr != nil {
		bookRan(r.opt.Ledger, e.refusedNode, r.opt.Op.command(), e.rerr)
	}
	return r.settle(seq, keys, kr, at, &e)
}

// nxBelow: an expire batch tries PEXPIRE … NX first (expireNX) while at
// most this share of the previous batch's keys had a TTL; above it, NX
// would mostly answer 0 and cost a command and a round trip more a key.
const nxBelow = 0.5

// expireNX sends PEXPIRE key ttl NX for each key, in one round trip: a
// key it applies to had no TTL, and that is its undo record (-1), taken
// in the same command, with nothing in between. Keys without TTL, the
// usual target of an expire, so take one command instead of two (PTTL,
// PEXPIRE). The keys NX left alone (0: they have a TTL, or are gone) then
// go through perKey, in a second round trip. When the first one did not
// go through whole (a transport failure, a refusal, a reply that made no
// sense) the second is not sent: those keys were not changed, and are
// "not attempted". A server that refuses the NX option (it is older than
// its version said) ran nothing: the batch goes through perKey, and so do
// the next ones.
//
// On 1M keys of which 400k match, none with a TTL, a run takes about a
// fifth less time (measured interleaved: 1.13-1.21 s against 1.47-1.62 s;
// the server's CPU, the bottleneck, 1.0 s against 1.15-1.25 s, of which
// SCAN is 0.6 s). One EVALSHA a batch of a Lua script doing the same
// (PEXPIRE NX, else PTTL and PEXPIRE) was measured too and is slower
// (1.22-1.29 s): the script's calls cost the server more than parsing the
// pipeline, and it holds the server 0.55-0.8 ms a call.
func (r *bulkRun) expireNX(ctx context.Context, keys []string) (unsent []string, err error) {
	seq, home := r.seq, r.opt.Node
	cmds := make([]rcmd, len(keys))
	extra := []string{r.ttlArg, "NX"}
	for i := range keys {
		cmds[i] = rcmd{name: "PEXPIRE", keys: keys[i : i+1 : i+1], extra: extra}
	}
	out, xerr := r.rt.exchange(ctx, cmds)
	at := time.Now().UnixMilli()
	e := keyErrs{xerr: xerr, what: "PEXPIRE", refusedNode: home}
	settled := make([]string, 0, len(keys))
	kr := make([]keyResult, 0, len(keys))
	var rest []string // NX answered 0
	var calls byNode[int64]
	noNX := false
	for i, o := range out {
		x := keyResult{node: o.node, state: o.state, prev: PrevUnknown}
		switch {
		case o.state == neverSent:
		case o.state == noReply:
			*calls.at(o.node)++
		case o.err != nil && nxRefused(o.err):
			noNX = true
			rest = append(rest, keys[i])
			continue
		case o.err != nil:
			bookRan(r.opt.Ledger, o.node, "pexpire", o.err)
			e.refuse(o.err, o.node)
			x.res = -1
		case o.kind != ':' || o.n < 0 || o.n > 1:
			*calls.at(o.node)++
			e.bad = firstErr(e.bad, fmt.Errorf("PEXPIRE NX: unexpected reply %q %d", o.kind, o.n))
		case o.n == 1:
			*calls.at(o.node)++
			x.prev, x.res = PrevNoTTL, 1
		default:
			*calls.at(o.node)++
			rest = append(rest, keys[i])
			continue
		}
		settled = append(settled, keys[i])
		kr = append(kr, x)
	}
	e.unknownIfBad(kr)
	for _, node := range calls.order {
		r.book(node, "pexpire", *calls.m[node], 0, 0)
	}
	if noNX {
		r.nx = false
	}
	unsent, err = r.settle(seq, settled, kr, at, &e)
	switch {
	case err != nil:
		return append(unsent, rest...), err // NX changed none of rest
	case len(rest) == 0:
		r.ttlShare = 0
		return nil, nil
	}
	unsent, err = r.perKey(ctx, rest)
	r.ttlShare = float64(len(rest)) / float64(len(keys))
	if noNX {
		r.ttlShare = 0
	}
	return unsent, err
}

// nxRefused reports PEXPIRE's refusal of the NX option (Redis < 7.0
// checks its arity before running it): it ran nothing.
func nxRefused(err error) bool {
	return strings.HasPrefix(err.Error(), "ERR wrong number of arguments")
}

// ttlShare is the share of the keys whose PTTL was read that had a TTL or
// were gone.
func ttlShare(kr []keyResult) float64 {
	var read, ttl int
	for _, x := range kr {
		if x.prev != PrevUnknown {
			read++
			if x.prev != PrevNoTTL {
				ttl++
			}
		}
	}
	if read == 0 {
		return 0
	}
	return float64(ttl) / float64(read)
}

// keyResult is what became of one key of an expire or persist batch: the
// node that answered, what became of its write, the key's PTTL before the
// write (PrevUnknown when it was not read) and the write's outcome: 1
// applied, 0 gone, 2 unchanged (persist: it had no TTL), -1 refused.
type keyResult struct {
	node  string
	state resState
	prev  int64
	res   int64
}

// keyErrs are what went wrong in an expire or persist batch.
type keyErrs struct {
	xerr        error  // a transport failure
	what        string // the commands it cut, for its message
	bad         error  // a reply that made no sense: everything sent is unknown
	rerr        error  // the first write refused: its keys have res -1
	refusedNode string //
	perr        error  // a PTTL refused: its key's write ran without its undo record
}

func (e *keyErrs) refuse(err error, node string) {
	if e.rerr == nil {
		e.rerr, e.refusedNode = err, node
	}
}

// unknownIfBad makes every key that got a reply unknown when a reply made
// no sense.
func (e *keyErrs) unknownIfBad(kr []keyResult) {
	if e.bad == nil {
		return
	}
	for k := range kr {
		if kr[k].state == replied {
			kr[k].state = noReply
		}
	}
}

// settle books the outcome of an expire or persist batch in the report
// and the journal, node by node: the keys applied, gone and unchanged with
// their PTTL before the write (read at atMs), refused, unknown and never
// sent. It returns the keys never sent and, to stop the run, why.
func (r *bulkRun) settle(seq int, keys []string, kr []keyResult, atMs int64, e *keyErrs) (unsent []string, err error) {
	type part struct {
		done, gone, unch   []string
		prev, gprev, uprev []int64
		applied            int64
	}
	var parts byNode[part]
	parts.at(r.opt.Node)
	var refusedKeys []string
	var unknown byNode[lost]
	for k, key := range keys {
		x := kr[k]
		switch x.state {
		case neverSent:
			unsent = append(unsent, key)
			continue
		case noReply:
			u := unknown.at(x.node)
			u.keys = append(u.keys, key)
			u.prev = append(u.prev, x.prev)
			continue
		}
		p := parts.at(x.node)
		switch x.res {
		case 1:
			p.applied++
			p.done = append(p.done, key)
			p.prev = append(p.prev, x.prev)
		case 0:
			p.gone = append(p.gone, key)
			p.gprev = append(p.gprev, x.prev)
		case 2: // persist: exists, had no TTL
			p.unch = append(p.unch, key)
			p.uprev = append(p.uprev, x.prev)
		default:
			refusedKeys = append(refusedKeys, key)
		}
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
		jerr = firstErr(jerr, r.line(JournalBatch{Seq: seq, Result: ResultApplied, PrevAtMs: atMs,
			Applied: p.applied, Gone: int64(len(p.gone)), Unchanged: int64(len(p.unch))}, node, done, p.gone, p.unch, dprev))
	}
	if len(refusedKeys) > 0 {
		r.refused(seq, e.refusedNode, refusedKeys, e.rerr)
	}
	r.journalUnknown(seq, &unknown, firstErr(e.bad, e.xerr), atMs)
	switch {
	case e.bad != nil:
		r.rep.Stopped = "failed"
		return unsent, e.bad
	case e.xerr != nil:
		return unsent, r.transport(e.xerr, e.what)
	case e.rerr != nil:
		return unsent, explainBulk(r.opt.Op, e.rerr)
	case e.perr != nil:
		// The writes ran; their undo records are missing (-3). Stop here.
		r.rep.Stopped = "refused"
		return nil, fmt.Errorf("PTTL refused (%v): this batch's previous TTLs were not recorded (prev_pttl_ms -3); nothing more sent", e.perr)
	}
	return nil, jerr
}

// whyUnchanged asks EXISTS for the keys at idx (PERSIST answered 0 and
// their PTTL is unknown) and marks with 2 those that exist: they had no
// TTL. A key stays 0 (gone) only when EXISTS says so; when EXISTS fails it
// is marked unchanged, which is true either way (nothing was changed).
func (r *bulkRun) whyUnchanged(ctx context.Context, keys []string, kr []keyResult, idx []int) {
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
		kr[idx[j]].res = 2
	}
	r.bookLookups("exists", &looked)
}
