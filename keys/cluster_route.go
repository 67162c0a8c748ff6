package keys

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"redtop/redisinfo"
)

// rcmd is one command of a batch: its name, its key (or a variadic
// command's keys, all in one slot on a cluster), then other arguments.
type rcmd struct {
	name  string
	keys  []string
	extra []string
}

func (c rcmd) appendTo(w *wconn) {
	b := append(w.buf, '*')
	b = strconv.AppendInt(b, int64(1+len(c.keys)+len(c.extra)), 10)
	b = append(b, '\r', '\n')
	b = appendBulk(b, c.name)
	for _, k := range c.keys {
		b = appendBulk(b, k)
	}
	for _, a := range c.extra {
		b = appendBulk(b, a)
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
// retry. A command whose reply did not come stays unknown.
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
		if rt.owner != nil && len(c.keys) > 0 {
			if o := rt.owner(c.keys[0]); o != "" {
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

// round sends the commands grouped by node, all writes first, then reads
// each node's replies into out.
func (rt *router) round(ctx context.Context, cmds []rcmd, order []string, groups map[string][]int, ask map[int]bool, out []res) error {
	type flight struct {
		addr string
		w    *wconn
		pos  []int // per command on the wire, its index in cmds; -1 for ASKING
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
				f.pos = append(f.pos, -1)
			}
			cmds[i].appendTo(w)
			f.pos = append(f.pos, i)
		}
		f.s, f.err = w.send()
		fl = append(fl, f)
	}
	for _, f := range fl {
		var read int
		out0 := 0
		err := f.err
		if err == nil {
			err = f.w.recv(f.s, func(p int, rp reply) error {
				read = p + 1
				out0 += rp.size
				if i := f.pos[p]; i >= 0 {
					out[i] = res{reply: rp, state: replied, node: f.addr}
				} else if rp.err == nil && rt.ledger != nil {
					rt.ledger.Call(f.addr, "asking", 1)
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
		for p := read; p < len(f.pos); p++ {
			if i := f.pos[p]; i >= 0 {
				st := neverSent
				if p < written {
					st = noReply
				}
				out[i] = res{state: st, node: f.addr}
			}
		}
		delete(rt.conns, f.addr) // closed by the failure
		note(err)
	}
	return first
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
