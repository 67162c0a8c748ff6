package redisinfo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"redtop/conn"
)

// ChangeKind says what happened to a node between two discoveries.
type ChangeKind int

// Kinds of change, in the order DiffCluster reports them.
const (
	NodeAdded     ChangeKind = iota
	NodeRemoved              // no longer listed (CLUSTER FORGET, or gone)
	RoleChanged              // master ↔ replica: a failover
	MasterChanged            // a replica follows another master
	NodeFailed               // gained the fail flag
	NodeRecovered            // lost the fail flag
	SlotsChanged             // a master serves a different number of slots
)

func (k ChangeKind) String() string {
	return [...]string{"added", "removed", "role", "master", "failed", "recovered", "slots"}[k]
}

// ClusterChange is one difference between two views of a cluster.
type ClusterChange struct {
	Kind ChangeKind
	Node ClusterNode // as it is now; as it was for NodeRemoved
	Old  ClusterNode // as it was; zero for NodeAdded
}

func (c ClusterChange) String() string {
	n := c.Node.Addr
	switch c.Kind {
	case NodeAdded:
		return fmt.Sprintf("%s joined as %s", n, c.Node.Role)
	case NodeRemoved:
		return fmt.Sprintf("%s (%s) left the cluster", n, c.Node.Role)
	case RoleChanged:
		if c.setup() {
			return fmt.Sprintf("%s is now a replica of %s (was a master without slots)", n, shortID(c.Node.MasterID))
		}
		return fmt.Sprintf("%s is now %s (was %s): failover", n, c.Node.Role, c.Old.Role)
	case MasterChanged:
		return fmt.Sprintf("%s now replicates %s", n, shortID(c.Node.MasterID))
	case NodeFailed:
		return fmt.Sprintf("%s (%s) failed", n, c.Node.Role)
	case NodeRecovered:
		return fmt.Sprintf("%s (%s) recovered", n, c.Node.Role)
	case SlotsChanged:
		return fmt.Sprintf("%s serves %d slots (was %d)", n, c.Node.SlotCount, c.Old.SlotCount)
	}
	return n
}

// setup reports a role change that is no failover: a master that served
// no slots became a replica, as every replica does while a cluster is being
// formed (redis-cli --cluster create, CLUSTER REPLICATE on a new node).
func (c ClusterChange) setup() bool {
	return c.Kind == RoleChanged && c.Old.Master() && c.Old.SlotCount == 0 && !c.Node.Master()
}

// Level grades a change for the dashboard's events: a node that failed is
// crit; a failover, a node that left and a replica that follows another
// master warn; a node that joined or recovered and slots that moved are ok, and so is a
// slotless master becoming a replica (setup).
func (c ClusterChange) Level() Level {
	switch {
	case c.setup():
		return OK
	case c.Kind == NodeFailed:
		return Crit
	case c.Kind == RoleChanged || c.Kind == NodeRemoved || c.Kind == MasterChanged:
		return Warn
	}
	return OK
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// DiffCluster compares two discoveries, node by node (by ID), and returns
// the changes grouped by kind, in the order of cur (of old for removals).
func DiffCluster(old, cur []ClusterNode) []ClusterChange {
	before := make(map[string]ClusterNode, len(old))
	for _, n := range old {
		before[n.ID] = n
	}
	now := make(map[string]bool, len(cur))
	var out []ClusterChange
	for _, n := range cur {
		now[n.ID] = true
		o, ok := before[n.ID]
		if !ok {
			out = append(out, ClusterChange{Kind: NodeAdded, Node: n})
			continue
		}
		if o.Role != n.Role {
			out = append(out, ClusterChange{Kind: RoleChanged, Node: n, Old: o})
		} else if !n.Master() && o.MasterID != n.MasterID {
			out = append(out, ClusterChange{Kind: MasterChanged, Node: n, Old: o})
		}
		if f, was := n.HasFlag("fail"), o.HasFlag("fail"); f != was {
			k := NodeFailed
			if was {
				k = NodeRecovered
			}
			out = append(out, ClusterChange{Kind: k, Node: n, Old: o})
		}
		if n.Master() && o.Master() && n.SlotCount != o.SlotCount {
			out = append(out, ClusterChange{Kind: SlotsChanged, Node: n, Old: o})
		}
	}
	for _, o := range old {
		if !now[o.ID] {
			out = append(out, ClusterChange{Kind: NodeRemoved, Node: o})
		}
	}
	slices.SortStableFunc(out, func(a, b ClusterChange) int { return int(a.Kind) - int(b.Kind) })
	return out
}

// ClusterUpdate is the outcome of one discovery.
type ClusterUpdate struct {
	At      time.Time
	Seed    string        // node that answered
	Nodes   []ClusterNode // the new view; the previous one when Err != nil
	Changes []ClusterChange
	Err     error
}

// ClusterWatcher re-discovers a cluster's nodes every interval, or sooner
// when a command met a redirection or a connection error (Kick), and
// reports what changed. It asks the nodes it knows in turn, healthy
// masters first, so losing the node redtop was started with loses nothing.
// It is safe for concurrent use.
type ClusterWatcher struct {
	target   conn.Target
	ledger   *Ledger
	interval time.Duration
	now      func() time.Time
	kick     chan struct{}

	mu      sync.Mutex
	nodes   []ClusterNode
	last    time.Time
	kicked  bool
	clients map[string]*redis.Client
}

// NewClusterWatcher watches the cluster whose nodes were discovered as
// nodes, dialling like t. ledger (may be nil) books every call.
func NewClusterWatcher(t conn.Target, nodes []ClusterNode, interval time.Duration, ledger *Ledger) *ClusterWatcher {
	return &ClusterWatcher{
		target: t, ledger: ledger, interval: interval, now: time.Now,
		kick: make(chan struct{}, 1), nodes: slices.Clone(nodes), clients: map[string]*redis.Client{},
	}
}

// Nodes returns the latest view.
func (w *ClusterWatcher) Nodes() []ClusterNode {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.nodes)
}

// Due reports whether a discovery is due at now: the interval has passed
// since the last one, or Kick asked for one.
func (w *ClusterWatcher) Due(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.kicked || w.last.IsZero() || !now.Before(w.last.Add(w.interval))
}

// Kick asks for a discovery now when err suggests the topology moved: a
// MOVED or ASK redirection, CLUSTERDOWN, or a failure to reach a node. It
// reports whether it did.
func (w *ClusterWatcher) Kick(err error) bool {
	if !TopologyError(err) {
		return false
	}
	w.wake()
	return true
}

func (w *ClusterWatcher) wake() {
	w.mu.Lock()
	w.kicked = true
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// kickGap is the least time between a discovery and one that Check asks
// for: a node that stays unreachable must not turn every poll into a
// discovery.
const kickGap = 2 * time.Second

// Check reads a poll round for signs that the topology moved under
// redtop and asks for a discovery when it finds one: a node the cluster
// thinks healthy failed with a topology error (Kick), or a node's own
// INFO role is not the cluster's view of it (a failover). It asks at most
// once per kickGap and reports whether it asked.
func (w *ClusterWatcher) Check(samples []NodeSample) bool {
	w.mu.Lock()
	recent := !w.last.IsZero() && w.now().Sub(w.last) < kickGap
	w.mu.Unlock()
	if recent {
		return false
	}
	for _, s := range samples {
		view := s.ClusterNode
		switch {
		case s.Err != nil:
			if (view == nil || !view.Failing()) && w.Kick(s.Err) {
				return true
			}
		case view != nil:
			if role := InfoRole(s.Info); role != "" && role != view.Role {
				w.wake()
				return true
			}
		}
	}
	return false
}

// InfoRole is a node's role as its INFO says it, in the cluster's words:
// "master" or "replica" (INFO says "slave"); "" when INFO has no role.
func InfoRole(in Info) string {
	if r := in.Str("role"); r != "slave" {
		return r
	}
	return "replica"
}

// TopologyError reports errors that mean the cluster's layout may have
// changed under redtop.
func TopologyError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, redis.Nil) {
		return false
	}
	if !isServerReply(err) {
		return true // refused, reset, timed out: the node may be gone
	}
	msg := err.Error()
	for _, p := range []string{"MOVED ", "ASK ", "CLUSTERDOWN", "TRYAGAIN"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// Refresh discovers the cluster now and diffs it against the last view.
func (w *ClusterWatcher) Refresh(ctx context.Context) ClusterUpdate {
	w.mu.Lock()
	prev := w.nodes
	w.mu.Unlock()

	var errs []error
	for _, addr := range w.seeds(prev) {
		c := w.client(addr)
		cctx, cancel := context.WithTimeout(ctx, w.timeout())
		nodes, err := DiscoverCluster(cctx, c, w.target, w.ledger)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		u := ClusterUpdate{At: w.now(), Seed: addr, Nodes: nodes, Changes: DiffCluster(prev, nodes)}
		w.mu.Lock()
		w.nodes, w.last, w.kicked = nodes, u.At, false
		w.dropClients(nodes)
		w.mu.Unlock()
		return u
	}
	w.mu.Lock()
	w.last, w.kicked = w.now(), false
	w.mu.Unlock()
	return ClusterUpdate{At: w.now(), Nodes: prev, Err: fmt.Errorf("cluster discovery: %w", errors.Join(errs...))}
}

// Run refreshes whenever one is due, until ctx ends, and hands fn every
// update: the new view (link states and flags move without a change being
// reported), its changes, or the error.
func (w *ClusterWatcher) Run(ctx context.Context, fn func(ClusterUpdate)) {
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-w.kick:
		}
		if !w.Due(w.now()) {
			continue
		}
		if u := w.Refresh(ctx); ctx.Err() == nil {
			fn(u)
		}
	}
}

// Close closes the watcher's connections.
func (w *ClusterWatcher) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for a, c := range w.clients {
		c.Close()
		delete(w.clients, a)
	}
	return nil
}

func (w *ClusterWatcher) timeout() time.Duration {
	if w.target.Timeout > 0 {
		return w.target.Timeout
	}
	return 2 * time.Second
}

// seeds orders the addresses to ask: healthy masters, healthy replicas,
// failing nodes, then the address redtop was started with.
func (w *ClusterWatcher) seeds(nodes []ClusterNode) []string {
	var good, bad []string
	for _, n := range nodes {
		if n.Failing() {
			bad = append(bad, n.Addr)
		} else if n.Master() {
			good = append(good, n.Addr)
		}
	}
	for _, n := range nodes {
		if !n.Failing() && !n.Master() {
			good = append(good, n.Addr)
		}
	}
	out := append(good, bad...)
	if w.target.Addr != "" && !slices.Contains(out, w.target.Addr) {
		out = append(out, w.target.Addr)
	}
	return out
}

func (w *ClusterWatcher) client(addr string) *redis.Client {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.clients[addr]
	if c == nil {
		o := w.target.ForNode(addr).Options()
		if addr == w.target.Addr {
			o.Network = w.target.Network
		}
		o.PoolSize = 1
		c = redis.NewClient(o)
		w.clients[addr] = c
	}
	return c
}

// dropClients closes connections to nodes that left. Called with mu held.
func (w *ClusterWatcher) dropClients(nodes []ClusterNode) {
	for a, c := range w.clients {
		if a == w.target.Addr || slices.ContainsFunc(nodes, func(n ClusterNode) bool { return n.Addr == a }) {
			continue
		}
		c.Close()
		delete(w.clients, a)
	}
}
