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
	// ClusterNode is how the cluster described the node at the last
	// discovery; nil off a cluster. Samples carry it to the nodes table.
	ClusterNode *ClusterNode
}

// Poller sends one INFO per node per poll, to all nodes in parallel.
type Poller struct {
	mu       sync.Mutex // guards nodes, legacy and events
	nodes    []Node
	ledger   *Ledger
	timeout  time.Duration
	now      func() time.Time
	legacy   map[string]bool      // nodes that answered multi-section INFO with an error
	cluster  bool                 // also ask the first node for CLUSTER INFO
	events   []Event              // noted since the last poll
	resting  map[string]time.Time // failed nodes that did not answer: not asked before then
	sentinel *SentinelWatcher     // also ask Sentinel each poll (WatchSentinel)
}

// WatchCluster makes each poll also ask the first node for CLUSTER INFO,
// for the cluster's state and slots: one more small command per tick, in
// the same round trip as its INFO (a pipeline).
func (p *Poller) WatchCluster() { p.cluster = true }

// NewPoller watches nodes. The ledger (may be nil) is read with each reply
// and told about the INFO calls themselves, so they do not show up as the
// server's traffic.
func NewPoller(nodes []Node, ledger *Ledger, timeout time.Duration) *Poller {
	return &Poller{nodes: nodes, ledger: ledger, timeout: timeout, now: time.Now, legacy: map[string]bool{},
		resting: map[string]time.Time{}}
}

// failedRetry is how often a node the cluster marks failed, and that did
// not answer, is asked again: a dead host must not hold every poll for the
// whole timeout.
const failedRetry = 10 * time.Second

var errResting = fmt.Errorf("marked failed by the cluster: asked again every %v", failedRetry)

// rest reports whether a failed node is left out of this poll, and books
// the outcome of a poll that asked it.
func (p *Poller) rest(n Node, asked bool, err error) bool {
	if n.ClusterNode == nil || !n.ClusterNode.HasFlag("fail") {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	switch {
	case !asked:
		until, ok := p.resting[n.Addr]
		return ok && now.Before(until)
	case err != nil:
		p.resting[n.Addr] = now.Add(failedRetry)
	default:
		delete(p.resting, n.Addr)
	}
	return false
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
	var sent sentinelFetch
	if p.sentinel != nil {
		wg.Go(func() { sent = p.fetchSentinel(ctx) })
	}
	wg.Wait()
	if len(out) > 0 {
		out[0].Events = events
		p.sentinelSample(&out[0], sent)
	}
	return out
}

func (p *Poller) pollNode(ctx context.Context, n Node, first bool) NodeSample {
	if p.rest(n, false, nil) {
		return NodeSample{Node: n.Addr, At: p.now(), Err: errResting, ClusterNode: n.ClusterNode, Own: p.ledger.Get(n.Addr)}
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	start := p.now()
	var (
		text string
		ci   *ClusterInfo
		err  error
	)
	if p.cluster && first {
		text, ci, err = p.infoAndCluster(ctx, n)
	} else {
		text, err = p.info(ctx, n)
	}
	p.rest(n, true, err)
	s := NodeSample{Node: n.Addr, At: p.now(), Err: err, Cluster: ci, ClusterNode: n.ClusterNode}
	s.RTT = s.At.Sub(start)
	if err == nil {
		s.Info = Parse(text)
	}
	s.Own = p.ledger.Get(n.Addr)
	return s
}

var clusterInfoArgs = []string{"cluster", "info"}

// infoAndCluster sends INFO and CLUSTER INFO in one round trip (a
// pipeline), so watching a cluster's state costs no extra wait. A failed
// CLUSTER INFO only leaves the state out.
func (p *Poller) infoAndCluster(ctx context.Context, n Node) (string, *ClusterInfo, error) {
	p.mu.Lock()
	legacy := p.legacy[n.Addr]
	p.mu.Unlock()
	if legacy { // one section per INFO: two round trips, as before 7.0
		text, err := p.info(ctx, n)
		if err != nil {
			return "", nil, err
		}
		if ci, err := FetchClusterInfo(ctx, n.Client, n.Addr, p.ledger); err == nil {
			return text, &ci, nil
		}
		return text, nil, nil
	}
	pipe := n.Client.Pipeline()
	infoCmd := pipe.Info(ctx, sections...)
	clusterCmd := pipe.ClusterInfo(ctx)
	_, _ = pipe.Exec(ctx) // errors are read per command below
	w := wire{l: p.ledger, node: n.Addr}
	ctext, cerr := clusterCmd.Result()
	if cerr != nil {
		w.failed("cluster|info", clusterInfoArgs, cerr)
	} else {
		w.ok("cluster|info", clusterInfoArgs, wireBulk(len(ctext)))
	}
	text, err := infoCmd.Result()
	switch {
	case err != nil && isSyntaxError(err):
		p.mu.Lock()
		p.legacy[n.Addr] = true
		p.mu.Unlock()
		return p.infoAndCluster(ctx, n)
	case err != nil:
		return "", nil, err
	}
	p.book(n.Addr, sections, text)
	if cerr != nil {
		return text, nil, nil
	}
	ci := ParseClusterInfo(ctext)
	return text, &ci, nil
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
	if p.sentinel != nil {
		p.sentinel.Close()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range p.nodes {
		n.Client.Close()
	}
	return nil
}
