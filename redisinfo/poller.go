package redisinfo

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
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
	nodes   []Node
	ledger  *Ledger
	timeout time.Duration
	now     func() time.Time
	legacy  []atomic.Bool // node answered multi-section INFO with an error
	cluster bool          // also ask the first node for CLUSTER INFO
}

// WatchCluster makes each poll also ask the first node for CLUSTER INFO
// (one more small command per tick), for the cluster's state and slots.
func (p *Poller) WatchCluster() { p.cluster = true }

// NewPoller watches nodes. The ledger (may be nil) is read with each reply
// and told about the INFO calls themselves, so they do not show up as the
// server's traffic.
func NewPoller(nodes []Node, ledger *Ledger, timeout time.Duration) *Poller {
	return &Poller{nodes: nodes, ledger: ledger, timeout: timeout, now: time.Now, legacy: make([]atomic.Bool, len(nodes))}
}

// Nodes returns the watched nodes.
func (p *Poller) Nodes() []Node { return p.nodes }

// Poll returns one sample per node, in node order. It never takes longer
// than the timeout.
func (p *Poller) Poll(ctx context.Context) []NodeSample {
	out := make([]NodeSample, len(p.nodes))
	var wg sync.WaitGroup
	for i := range p.nodes {
		wg.Go(func() { out[i] = p.pollNode(ctx, i) })
	}
	wg.Wait()
	return out
}

func (p *Poller) pollNode(ctx context.Context, i int) NodeSample {
	n := p.nodes[i]
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	start := p.now()
	text, err := p.info(ctx, i)
	s := NodeSample{Node: n.Addr, At: p.now(), Err: err}
	s.RTT = s.At.Sub(start)
	if err == nil {
		s.Info = Parse(text)
		if p.cluster && i == 0 {
			if ci, err := FetchClusterInfo(ctx, n.Client, n.Addr, p.ledger); err == nil {
				s.Cluster = &ci
			}
		}
	}
	s.Own = p.ledger.Get(n.Addr)
	return s
}

func (p *Poller) info(ctx context.Context, i int) (string, error) {
	n := p.nodes[i]
	if !p.legacy[i].Load() {
		text, err := n.Client.Info(ctx, sections...).Result()
		if err == nil {
			p.book(n.Addr, sections, text)
		}
		if err == nil || !isSyntaxError(err) {
			return text, err
		}
		p.legacy[i].Store(true)
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
	for _, n := range p.nodes {
		n.Client.Close()
	}
	return nil
}
