package keys

import (
	"context"
	"errors"
	"fmt"
	"net"
	"redtop/conn"
	"strconv"
	"strings"
	"time"

	"redtop/redisinfo"
)

// rcmd is one command of a batch: its name, arguments before its keys
// (EVALSHA's sha and key count), its key (or a variadic command's keys,
// all in one slot on a cluster), then other arguments.
//
// With tx set it is a transaction instead: MULTI, the commands of tx,
// EXEC, written together, sent to the node of its first key and
// redirected as a whole (its own name, head, keys and extra are unused).
// The keys of a transaction must share a slot on a cluster. Its result is
// EXEC's reply: an array of the commands' replies, in elems. When a
// command was refused while queued (MOVED, ASK, CROSSSLOT, NOPERM…) EXEC
// answers EXECABORT and nothing ran: the result's err is then that
// refusal, the first one other than a redirect when there is one (a
// partly migrated slot answers ASK for some keys and TRYAGAIN for the
// others: following the ASK would only meet TRYAGAIN there), so a
// redirect is followed only when the whole transaction was redirected.
type rcmd struct {
	name  string
	head  []string
	keys  []string
	extra []string
	tx    []rcmd
}

// key is the key that routes the command ("" when it has none).
func (c rcmd) key() string {
	if c.tx != nil {
		return c.tx[0].key()
	}
	if len(c.keys) == 0 {
		return ""
	}
	return c.keys[0]
}

func (c rcmd) appendTo(w *wconn) {
	b := append(w.buf, '*')
	b = strconv.AppendInt(b, int64(1+len(c.head)+len(c.keys)+len(c.extra)), 10)
	b = append(b, '\r', '\n')
	b = conn.AppendBulk(b, c.name)
	for _, a := range c.head {
		b = conn.AppendBulk(b, a)
	}
	for _, k := range c.keys {
		b = conn.AppendBulk(b, k)
	}
	for _, a := range c.extra {
		b = conn.AppendBulk(b, a)
	}
	w.buf = b
	w.ends = append(w.ends, len(w.buf))
}

// resState is what became of a command sent.
type resState uint8

const (
	replied   resState = iota // its reply was read
	noReply                   // written whole, no reply: it may have run
	neverSent                 // not written whole: it did not run
)

// res is what became of one command: its reply, when read, and the node
// that gave it (another one than the batch's when it was redirected).
type res struct {
	reply
	state resState
	node  string
	// notTx is MULTI's refusal (an ACL without +multi) when a
	// transaction's commands ran one by one instead; elems holds their
	// replies, as EXEC's would.
	notTx error
}

// clusterDownError is the error of a batch some of whose commands a cluster
// node refused before running them (CLUSTERDOWN, TRYAGAIN, MASTERDOWN,
// LOADING): they are left unsent.
type clusterDownError struct{ err error }

func (e *clusterDownError) Error() string { return e.err.Error() }
func (e *clusterDownError) Unwrap() error { return e.err }

// router sends batches of commands on raw connections, one per node, each
// batch one write per node and never a command twice. With a cluster it
// sends each command to the master serving its key, and sends again, once,
// to the node named, a command answered with MOVED or ASK (ASKING first
// for ASK): the server refused it before running it, so that is no
// retry. A command whose reply did not come stays unknown. A transaction
// (rcmd.tx) is one command here: routed, redirected, unknown or unsent
// as a whole; one whose EXEC was not written whole never ran.
type router struct {
	home    string                                                 // the node of the batch, where commands go by default
	owner   func(key string) string                                // nil, or the node serving a key ("" unknown: home)
	dial    func(ctx context.Context, addr string) (*wconn, error) // nil: no redirects followed
	conns   map[string]*wconn
	abort   <-chan struct{}
	stops   []func()
	ledger  *redisinfo.Ledger
	cluster bool // the cluster-down replies leave commands unsent

	moved int64 // commands re-sent after MOVED or ASK
}

func newRouter(home string, w *wconn, ledger *redisinfo.Ledger, abort <-chan struct{}) *router {
	rt := &router{home: home, conns: map[string]*wconn{home: w}, ledger: ledger, abort: abort}
	rt.stops = append(rt.stops, w.watch(abort))
	return rt
}

// close stops watching for abort and closes every connection.
func (rt *router) close() {
	for _, stop := range rt.stops {
		stop()
	}
	rt.stops = nil
	for addr, w := range rt.conns {
		w.Close()
		delete(rt.conns, addr)
	}
}

func (rt *router) conn(ctx context.Context, addr string) (*wconn, error) {
	if w := rt.conns[addr]; w != nil {
		return w, nil
	}
	if rt.dial == nil {
		return nil, fmt.Errorf("no connection to %s", addr)
	}
	w, err := rt.dial(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	rt.conns[addr] = w
	rt.stops = append(rt.stops, w.watch(rt.abort))
	return w, nil
}

// exchange sends cmds, each to its node, and reads every reply; the
// results are in the order of cmds. The error is the first transport
// failure (a *batchError, or a failed dial), a clusterDownError, or nil:
// error replies are in the results.
func (rt *router) exchange(ctx context.Context, cmds []rcmd) ([]res, error) {
	out := make([]res, len(cmds))
	var order []string
	groups := map[string][]int{}
	for i, c := range cmds {
		node := rt.home
		if k := c.key(); rt.owner != nil && k != "" {
			if o := rt.owner(k); o != "" {
				node = o
			}
		}
		if _, ok := groups[node]; !ok {
			order = append(order, node)
		}
		groups[node] = append(groups[node], i)
	}
	err := rt.round(ctx, cmds, order, groups, nil, out)

	// Redirects, once.
	order, groups = nil, map[string][]int{}
	ask := map[int]bool{}
	for i := range out {
		if out[i].state != replied || out[i].err == nil || rt.dial == nil {
			continue
		}
		rd, ok := parseRedirect(out[i].err)
		if !ok {
			continue
		}
		addr := rd.Addr
		if strings.HasPrefix(addr, ":") { // the host that answered
			if h, _, herr := net.SplitHostPort(out[i].node); herr == nil {
				addr = net.JoinHostPort(h, addr[1:])
			}
		}
		if _, ok := groups[addr]; !ok {
			order = append(order, addr)
		}
		groups[addr] = append(groups[addr], i)
		ask[i] = rd.Ask
	}
	if len(order) > 0 {
		for _, g := range groups {
			rt.moved += int64(len(g))
		}
		if rerr := rt.round(ctx, cmds, order, groups, ask, out); err == nil {
			err = rerr
		}
	}
	if err == nil && rt.cluster {
		for i := range out {
			if out[i].state == replied && out[i].err != nil && failoverKind(out[i].err) == clusterDown {
				if err == nil {
					err = &clusterDownError{err: out[i].err}
				}
				out[i].state = neverSent
			}
		}
	}
	return out, err
}

// The parts of a batch on the wire, per command written.
const (
	wireCmd    = iota // a command, or a transaction's EXEC: its reply is the result
	wireAsking        // ASKING before a command redirected by ASK
	wireMulti         // a transaction's MULTI
	wireQueued        // a command queued in a transaction
)

// wire is one command written: the index in cmds of the command it is part of.
type wire struct {
	i    int
	part uint8
}

// txReplies gathers what a transaction's MULTI and queued commands
// answered, until its EXEC's reply makes the result.
type txReplies struct {
	multiErr error
	queued   []reply
}

// round sends the commands grouped by node, all writes first, then reads
// each node's replies into out.
func (rt *router) round(ctx context.Context, cmds []rcmd, order []string, groups map[string][]int, ask map[int]bool, out []res) error {
	type flight struct {
		addr string
		w    *wconn
		pos  []wire
		s    sent
		err  error
	}
	var first error
	note := func(err error) {
		if first == nil {
			first = err
		}
	}
	var fl []*flight
	for _, addr := range order {
		idx := groups[addr]
		f := &flight{addr: addr}
		for _, i := range idx {
			out[i] = res{state: neverSent, node: addr}
		}
		w, err := rt.conn(ctx, addr)
		if err != nil {
			note(err)
			continue
		}
		f.w = w
		for _, i := range idx {
			if ask[i] {
				w.add("ASKING")
				f.pos = append(f.pos, wire{i, wireAsking})
			}
			c := cmds[i]
			if c.tx == nil {
				c.appendTo(w)
				f.pos = append(f.pos, wire{i, wireCmd})
				continue
			}
			w.add("MULTI")
			f.pos = append(f.pos, wire{i, wireMulti})
			for _, q := range c.tx {
				q.appendTo(w)
				f.pos = append(f.pos, wire{i, wireQueued})
			}
			w.add("EXEC")
			f.pos = append(f.pos, wire{i, wireCmd})
		}
		f.s, f.err = w.send()
		fl = append(fl, f)
	}
	for _, f := range fl {
		var read int
		out0 := 0
		err := f.err
		var tx *txReplies
		if err == nil {
			err = f.w.recv(f.s, func(p int, rp reply) error {
				read = p + 1
				out0 += rp.size
				wp := f.pos[p]
				switch wp.part {
				case wireAsking:
					if rp.err == nil {
						rt.ledger.Call(f.addr, "asking", 1)
					}
				case wireMulti:
					tx = &txReplies{multiErr: rp.err}
					if rp.err == nil {
						rt.ledger.Call(f.addr, "multi", 1)
					} else {
						bookRan(rt.ledger, f.addr, "multi", rp.err)
					}
				case wireQueued:
					tx.queued = append(tx.queued, rp)
				default:
					o := res{reply: rp, state: replied, node: f.addr}
					if cmds[wp.i].tx != nil {
						o = rt.endTx(o, tx)
						tx = nil
					}
					out[wp.i] = o
				}
				return nil
			})
		}
		var be *batchError
		written := len(f.pos)
		if errors.As(err, &be) {
			written, read = be.Written, be.Read
		}
		if rt.ledger != nil && written > 0 {
			rt.ledger.Bytes(f.addr, int64(f.s.in), int64(out0))
		}
		if err == nil {
			continue
		}
		// A transaction whose EXEC was not written whole never ran: the
		// server drops the queued commands with the connection.
		for p := read; p < len(f.pos); p++ {
			if wp := f.pos[p]; wp.part == wireCmd {
				st := neverSent
				if p < written {
					st = noReply
				}
				out[wp.i] = res{state: st, node: f.addr}
			}
		}
		delete(rt.conns, f.addr) // closed by the failure
		note(err)
	}
	return first
}

// endTx makes a transaction's result from EXEC's reply o and what its
// MULTI and queued commands answered, and books MULTI's EXEC.
func (rt *router) endTx(o res, tx *txReplies) res {
	if tx.multiErr != nil {
		// MULTI refused: each command ran as it came, and EXEC answered
		// "without MULTI". Their replies are the result.
		bookRan(rt.ledger, o.node, "exec", o.err)
		o.reply = reply{kind: '*', n: int64(len(tx.queued)), elems: tx.queued, size: o.size}
		o.notTx = tx.multiErr
		return o
	}
	// EXEC runs (and counts as a call) when it answers its results or
	// EXECABORT for errors while queuing; a redirect or CROSSSLOT at EXEC
	// (a slot that moved in between) rejects it.
	if o.err == nil || strings.HasPrefix(o.err.Error(), "EXECABORT Transaction discarded because of previous errors") {
		rt.ledger.Call(o.node, "exec", 1)
	} else {
		bookRan(rt.ledger, o.node, "exec", o.err)
	}
	if o.err == nil {
		return o
	}
	var redirected error
	for _, q := range tx.queued {
		if q.err == nil {
			continue
		}
		if _, ok := parseRedirect(q.err); !ok {
			o.err = q.err
			return o
		}
		redirected = firstErr(redirected, q.err)
	}
	if redirected != nil {
		o.err = redirected
	}
	return o
}

// dialNode is how a cluster run dials a raw write connection to any node:
// with the writer's options for that address, its handshake booked.
func (c *Cluster) dialNode(timeout time.Duration) func(ctx context.Context, addr string) (*wconn, error) {
	return func(ctx context.Context, addr string) (*wconn, error) {
		w, err := dialWriter(ctx, c.Writer(addr), timeout)
		if err != nil {
			return nil, err
		}
		w.book(c.ledger, addr)
		return w, nil
	}
}
