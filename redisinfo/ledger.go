package redisinfo

import (
	"strconv"
	"sync"
)

// Ledger counts what redtop itself sends, per node, so the dashboard can
// take it out of the figures it shows. TYPE, TTL, OBJECT, EXISTS and GET
// count as keyspace hits or misses on the server; a browser that inspects
// keys would otherwise move the very hit rate the operator is watching.
// It is safe for concurrent use.
type Ledger struct {
	mu    sync.Mutex
	nodes map[string]*Own
}

// Own is redtop's cumulative traffic to one node.
type Own struct {
	Hits, Misses int64            // keyspace lookups redtop caused
	Calls        map[string]int64 // commands redtop sent, lower case
	NetIn        int64            // bytes the server read from redtop
	NetOut       int64            // bytes the server sent to redtop
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{nodes: map[string]*Own{}} }

func (l *Ledger) node(addr string) *Own {
	o := l.nodes[addr]
	if o == nil {
		o = &Own{Calls: map[string]int64{}}
		l.nodes[addr] = o
	}
	return o
}

// Lookups records keyspace hits and misses redtop caused on a node.
func (l *Ledger) Lookups(addr string, hits, misses int64) {
	if l == nil {
		return
	}
	l.mu.Lock()
	o := l.node(addr)
	o.Hits += hits
	o.Misses += misses
	l.mu.Unlock()
}

// Call records n commands named cmd sent by redtop to a node.
func (l *Ledger) Call(addr, cmd string, n int64) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.node(addr).Calls[cmd] += n
	l.mu.Unlock()
}

// Handshake records what go-redis sends on each new connection (see
// conn.Target.Handshake): HELLO 2 [AUTH …] SETNAME redtop, SELECT when db
// is not 0, and CLIENT SETNAME. The bytes are the sizes of
// those commands and replies without credentials (HELLO's reply depends
// on the server's version by a few bytes): close enough for rates.
func (l *Ledger) Handshake(addr string, db int) {
	if l == nil {
		return
	}
	in := int64(respLen([]string{"hello", "2", "setname", "redtop"}) + respLen([]string{"client", "setname", "redtop"}))
	out := int64(handshakeReply + 5)
	l.mu.Lock()
	o := l.node(addr)
	o.Calls["hello"]++
	o.Calls["client|setname"]++
	if db != 0 {
		o.Calls["select"]++
		in += int64(respLen([]string{"select", strconv.Itoa(db)}))
		out += 5
	}
	o.NetIn += in
	o.NetOut += out
	l.mu.Unlock()
}

// handshakeReply is the size of HELLO 2's reply from Redis 7.0 standalone
// (an array of 14: server, version, proto, id, mode, role, modules).
const handshakeReply = 150

// Bytes records traffic between redtop and a node, as the server counts it
// in total_net_input_bytes (in) and total_net_output_bytes (out).
func (l *Ledger) Bytes(addr string, in, out int64) {
	if l == nil {
		return
	}
	l.mu.Lock()
	o := l.node(addr)
	o.NetIn += in
	o.NetOut += out
	l.mu.Unlock()
}

// Get returns a copy of the counts for a node.
func (l *Ledger) Get(addr string) Own {
	if l == nil {
		return Own{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	o := l.node(addr)
	c := Own{Hits: o.Hits, Misses: o.Misses, NetIn: o.NetIn, NetOut: o.NetOut, Calls: make(map[string]int64, len(o.Calls))}
	for k, v := range o.Calls {
		c.Calls[k] = v
	}
	return c
}

// TotalCalls is the number of commands in c.
func (c Own) TotalCalls() int64 {
	var n int64
	for _, v := range c.Calls {
		n += v
	}
	return n
}
