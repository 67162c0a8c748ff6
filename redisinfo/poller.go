package redisinfo

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// sections are what the overview needs. Asking for them by name (Redis 7+)
// skips latencystats and errorstats, which can be long; older servers only
// take one section and get "all" instead.
var sections = []string{"server", "clients", "memory", "persistence", "stats", "replication", "cpu", "commandstats", "keyspace", "cluster"}

// Node is one server the poller watches.
type Node struct {
	Addr   string
	Client *redis.Client
}

// Poller sends one INFO per node per poll, to all nodes in parallel.
type Poller struct {
	mu      sync.Mutex // guards nodes, legacy and events
	nodes   []Node
	ledger  *Ledger
	timeout time.Duration
	now     func() time.Time
	legacy  map[string]bool // nodes that answered multi-section INFO with an error
	cluster bool            // also ask the first node for CLUSTER INFO
	events  []Event         // noted since the last poll
}

// WatchCluster makes each poll also ask the first node for CLUSTER INFO
// (one more small command per tick), for the cluster's state and slots.
func (p *Poller) WatchCluster() { p.cluster = true }

// NewPoller watches nodes. The ledger (may be nil) is read with each reply
// and told about the INFO calls themselves, so they do not show up as the
// server's traffic.
func NewPoller(nodes []Node, ledger *Ledger, timeout time.Duration) *Poller {
	return &Poller{nodes: nodes, ledger: ledger, timeout: timeout, now: time.Now, legacy: map[string]bool{}}
}

// Nodes returns the watched nodes.
func (p *Poller) Nodes() []Node {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.nodes)
}

// SetNodes replaces the watched nodes, e.g. after a failover: nodes kept
// (same address and client) go on as before, the clients of nodes that
// left are closed. A poll in flight finishes with the old set.
func (p *Poller) SetNodes(nodes []Node) {
	p.mu.Lock()
	old := p.nodes
	p.nodes = slices.Clone(nodes)
	p.mu.Unlock()
	for _, o := range old {
		if !slices.ContainsFunc(nodes, func(n Node) bool { return n.Client == o.Client }) {
			o.Client.Close()
		}
	}
}

// Note queues an event (a failover, a node that joined) for the next
// poll's samples. It is safe to call from any goroutine.
func (p *Poller) Note(e Event) {
	if e.At.IsZero() {
		e.At = p.now()
	}
	p.mu.Lock()
	p.events = append(p.events, e)
	p.mu.Unlock()
}

// Poll returns one sample per node, in node order. It never takes longer
// than the timeout. Events noted since the last poll ride on the first
// sample.
func (p *Poller) Poll(ctx context.Context) []NodeSample {
	p.mu.Lock()
	nodes := slices.Clone(p.nodes)
	events := p.events
	p.events = nil
	p.mu.Unlock()
	out := make([]NodeSample, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { out[i] = p.pollNode(ctx, n, i == 0) })
	}
	wg.Wait()
	if len(out) > 0 {
		out[0].Events = events
	}
	return out
}

func (p *Poller) pollNode(ctx context.Context, n Node, first bool) NodeSample {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	start := p.now()
	text, err := p.info(ctx, n)
	s := NodeSample{Node: n.Addr, At: p.now(), Err: err}
	s.RTT = s.At.Sub(start)
	if err == nil {
		s.Info = Parse(text)
		if p.cluster && first {
			if ci, err := FetchClusterInfo(ctx, n.Client, n.Addr, p.ledger); err == nil {
				s.Cluster = &ci
			}
		}
	}
	s.Own = p.ledger.Get(n.Addr)
	return s
}

func (p *Poller) info(ctx context.Context, n Node) (string, error) {
	p.mu.Lock()
	legacy := p.legacy[n.Addr]
	p.mu.Unlock()
	if !legacy {
		text, err := n.Client.Info(ctx, sections...).Result()
		if err == nil {
			p.book(n.Addr, sections, text)
		}
		if err == nil || !isSyntaxError(err) {
			return text, err
		}
		p.mu.Lock()
		p.legacy[n.Addr] = true
		p.mu.Unlock()
	}
	text, err := n.Client.Info(ctx, "all").Result()
	if err == nil {
		p.book(n.Addr, []string{"all"}, text)
	}
	return text, err
}

// book records an INFO call in the ledger with its bytes on the wire as
// the server counts them: the RESP request in, the bulk reply out.
func (p *Poller) book(addr string, args []string, reply string) {
	in := respLen(append([]string{"info"}, args...))
	out := len(fmt.Sprintf("$%d\r\n", len(reply))) + len(reply) + 2
	p.ledger.Call(addr, "info", 1)
	p.ledger.Bytes(addr, int64(in), int64(out))
}

// respLen is the size of a command sent as a RESP array of bulk strings.
func respLen(args []string) int {
	n := len(fmt.Sprintf("*%d\r\n", len(args)))
	for _, a := range args {
		n += len(fmt.Sprintf("$%d\r\n", len(a))) + len(a) + 2
	}
	return n
}

func isSyntaxError(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "ERR") && (strings.Contains(s, "syntax") || strings.Contains(s, "wrong number"))
}

// Close closes every node's client.
func (p *Poller) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range p.nodes {
		n.Client.Close()
	}
	return nil
}
