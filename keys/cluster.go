package keys

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"redtop/conn"
	"redtop/redisinfo"
)

// Cluster defaults.
const (
	// DefaultParallel is how many masters a cluster run works on at once.
	DefaultParallel = 4
	// DefaultFailoverWait bounds the wait for a master's slots to be served
	// again after it failed or was demoted.
	DefaultFailoverWait = 20 * time.Second
	// roleEvery is how often a scan asks its master whether it still is
	// one (ROLE): a master demoted by a failover keeps answering SCAN, as a
	// replica, so nothing else would tell.
	roleEvery = time.Second
	// maxFailovers bounds the restarts of one master's part of a run.
	maxFailovers = 3
)

// Cluster is a Redis Cluster as the key operations see it: its masters,
// who serves which slot, and a reading and a writing client per node,
// opened on first use. When a master fails over, Successor finds the node
// that took its slots. It is safe for concurrent use.
type Cluster struct {
	target conn.Target
	ledger *redisinfo.Ledger
	seed   *redis.Client // the caller's: asked first when rediscovering, never closed here

	// Parallel is how many masters a run works on at once (0:
	// DefaultParallel). FailoverWait bounds the wait for a failed
	// master's slots to be served again (0: DefaultFailoverWait).
	Parallel     int
	FailoverWait time.Duration

	mu      sync.Mutex
	masters []ClusterMaster
	owner   [ClusterSlots]int16 // index in masters; -1: nobody
	known   []string            // every node address seen, for rediscovery
	readers map[string]*redis.Client
	writers map[string]*redis.Client
	hook    func(addr string, o *redis.Options)
}

// ClusterMaster is one master and the slots it serves.
type ClusterMaster struct {
	Addr      string
	ID        string
	Slots     [][2]int // inclusive ranges
	SlotCount int
}

// OpenCluster discovers the masters of the cluster seed belongs to (seed
// may be any node, a replica too). t gives the credentials, TLS and
// timeouts of the clients opened for each node; ledger (may be nil) books
// every command sent.
func OpenCluster(ctx context.Context, seed *redis.Client, t conn.Target, ledger *redisinfo.Ledger) (*Cluster, error) {
	c := &Cluster{target: t, ledger: ledger, seed: seed,
		readers: map[string]*redis.Client{}, writers: map[string]*redis.Client{}}
	dctx, cancel := context.WithTimeout(ctx, 2*t.Timeout)
	defer cancel()
	nodes, err := redisinfo.DiscoverCluster(dctx, seed, t, ledger)
	if err != nil {
		return nil, err
	}
	if err := c.set(nodes); err != nil {
		return nil, err
	}
	return c, nil
}

// set installs a discovery.
func (c *Cluster) set(nodes []redisinfo.ClusterNode) error {
	var masters []ClusterMaster
	for _, n := range redisinfo.Masters(nodes) {
		if n.SlotCount > 0 {
			masters = append(masters, ClusterMaster{Addr: n.Addr, ID: n.ID, Slots: n.Slots, SlotCount: n.SlotCount})
		}
	}
	if len(masters) == 0 {
		return errors.New("the cluster has no master with slots")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.masters = masters
	for i := range c.owner {
		c.owner[i] = -1
	}
	for i, m := range masters {
		for _, r := range m.Slots {
			for s := max(r[0], 0); s <= min(r[1], ClusterSlots-1); s++ {
				c.owner[s] = int16(i)
			}
		}
	}
	for _, n := range nodes {
		if !slices.Contains(c.known, n.Addr) {
			c.known = append(c.known, n.Addr)
		}
	}
	return nil
}

// Target is the target the cluster was opened with.
func (c *Cluster) Target() conn.Target { return c.target }

// Ledger is where the cluster's commands are booked.
func (c *Cluster) Ledger() *redisinfo.Ledger { return c.ledger }

// Masters returns the masters in slot order, as last discovered.
func (c *Cluster) Masters() []ClusterMaster {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.masters)
}

// Owner is the address of the master serving key's slot, "" when none
// does.
func (c *Cluster) Owner(key string) string { return c.SlotOwner(Slot(key)) }

// SlotOwner is the address of the master serving slot, "" when none does.
func (c *Cluster) SlotOwner(slot int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := c.owner[slot]; i >= 0 {
		return c.masters[i].Addr
	}
	return ""
}

// SetReaderHook lets the caller adjust the options of each reading client
// before it is made (e.g. EnableNoTouch). Call it before the first Reader.
func (c *Cluster) SetReaderHook(hook func(addr string, o *redis.Options)) {
	c.mu.Lock()
	c.hook = hook
	c.mu.Unlock()
}

// Reader is the pooled reading client of the node at addr (retries on).
func (c *Cluster) Reader(addr string) *redis.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.readers[addr]
	if r == nil {
		o := c.target.ForNode(addr).Options()
		if c.hook != nil {
			c.hook(addr, o)
		}
		r = redis.NewClient(o)
		c.readers[addr] = r
	}
	return r
}

// Writer is the writing client of the node at addr: retries off
// (conn.Target.WriterOptions), for single-key writes and as the options a
// raw bulk connection is dialed with.
func (c *Cluster) Writer(addr string) *redis.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.writers[addr]
	if w == nil {
		w = redis.NewClient(c.target.ForNode(addr).WriterOptions())
		c.writers[addr] = w
	}
	return w
}

// Close closes the clients the cluster opened; a nil Cluster opened none.
func (c *Cluster) Close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range []map[string]*redis.Client{c.readers, c.writers} {
		for addr, cl := range m {
			cl.Close()
			delete(m, addr)
		}
	}
}

// Refresh discovers the cluster again, asking the seed first, then every
// node seen so far but avoid, until one answers.
func (c *Cluster) Refresh(ctx context.Context, avoid string) error {
	c.mu.Lock()
	known := slices.Clone(c.known)
	c.mu.Unlock()
	var firstErr error
	try := func(cl *redis.Client) bool {
		dctx, cancel := context.WithTimeout(ctx, c.target.Timeout)
		defer cancel()
		nodes, err := redisinfo.DiscoverCluster(dctx, cl, c.target, c.ledger)
		if err == nil {
			err = c.set(nodes)
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return err == nil
	}
	if c.seed != nil && c.seed.Options().Addr != avoid && try(c.seed) {
		return nil
	}
	for _, addr := range known {
		if addr == avoid {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if try(c.Reader(addr)) {
			return nil
		}
	}
	if firstErr == nil {
		firstErr = errors.New("no node of the cluster answered")
	}
	return firstErr
}

// failKind is what an error says about the master that gave it.
type failKind int

const (
	notFailover failKind = iota
	// nodeLost: the connection broke; a failover if another master now
	// serves the node's slots.
	nodeLost
	// nodeDemoted: the node answers as a replica (the role check, READONLY,
	// MOVED, ASK): a failover if it no longer is a master.
	nodeDemoted
	// clusterDown: CLUSTERDOWN, TRYAGAIN, MASTERDOWN, LOADING: the node's
	// part starts again once its slots are served, by whichever master.
	clusterDown
)

// demotedError is the role check's error: the master scanned became a
// replica.
type demotedError struct{ node, master string }

func (e *demotedError) Error() string {
	if e.master != "" {
		return fmt.Sprintf("%s is now a replica of %s", e.node, e.master)
	}
	return e.node + " is no longer a master"
}

// failoverKind reads an error from a master's part of a run.
func failoverKind(err error) failKind {
	var dem *demotedError
	var re redis.Error
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, errAborted), errors.Is(err, ErrStop):
		return notFailover
	case errors.As(err, &dem):
		return nodeDemoted
	case errors.As(err, &re):
		msg := re.Error()
		for _, p := range []string{"MOVED ", "ASK ", "READONLY"} {
			if strings.HasPrefix(msg, p) {
				return nodeDemoted
			}
		}
		for _, p := range []string{"CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "LOADING"} {
			if strings.HasPrefix(msg, p) {
				return clusterDown
			}
		}
		return notFailover
	case errors.Is(err, ErrReadOnly), errors.Is(err, ErrDenied):
		return notFailover
	}
	var ne net.Error
	var be *batchError
	if errors.As(err, &ne) || errors.As(err, &be) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "EOF") ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "connection refused") ||
		strings.Contains(err.Error(), "broken pipe") {
		return nodeLost
	}
	return notFailover
}

// errNoFailover: the master that failed still serves its slots and
// answers: the error was not a failover and stands.
var errNoFailover = errors.New("no failover")

// Successor finds the master that serves m's slots after m failed with an
// error of kind: it rediscovers the cluster until the owner of m's first
// slot is a master that answers PING and, unless the cluster was down, is
// another node (or m itself answers ROLE as a replica). It waits up to
// FailoverWait; errNoFailover means m still serves its slots.
func (c *Cluster) Successor(ctx context.Context, m ClusterMaster, kind failKind) (ClusterMaster, error) {
	wait := c.FailoverWait
	if wait <= 0 {
		wait = DefaultFailoverWait
	}
	deadline := time.Now().Add(wait)
	slot := m.Slots[0][0]
	var last error
	for {
		avoid := ""
		if kind == nodeLost {
			avoid = m.Addr
		}
		if err := c.Refresh(ctx, avoid); err != nil {
			last = err
		} else {
			owner, ok := c.master(slot)
			switch {
			case !ok:
				last = fmt.Errorf("slot %d is served by no master", slot)
			case owner.Addr != m.Addr || kind == clusterDown:
				err := c.ping(ctx, owner.Addr)
				if err == nil && kind == clusterDown {
					// It answers, but may still say CLUSTERDOWN: the
					// nodes have not agreed on the failover yet.
					err = c.clusterUp(ctx, owner.Addr)
				}
				if err == nil {
					return owner, nil
				}
				last = fmt.Errorf("%s does not answer yet: %v", owner.Addr, err)
			case kind == nodeLost:
				if c.ping(ctx, m.Addr) == nil {
					return ClusterMaster{}, errNoFailover // a blip, not a failover
				}
				last = fmt.Errorf("%s is unreachable and no replica has taken over yet", m.Addr)
			default: // demoted, the cluster not updated yet
				if replica, err := c.isReplica(ctx, m.Addr); err == nil && !replica {
					return ClusterMaster{}, errNoFailover
				}
				last = fmt.Errorf("%s is demoted and the cluster does not name its new master yet", m.Addr)
			}
		}
		if ctx.Err() != nil {
			return ClusterMaster{}, ctx.Err()
		}
		if time.Now().After(deadline) {
			return ClusterMaster{}, fmt.Errorf("waited %s for a master to serve the slots of %s: %v", wait, m.Addr, last)
		}
		select {
		case <-ctx.Done():
			return ClusterMaster{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *Cluster) master(slot int) (ClusterMaster, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := c.owner[slot]; i >= 0 {
		return c.masters[i], true
	}
	return ClusterMaster{}, false
}

func (c *Cluster) ping(ctx context.Context, addr string) error {
	pctx, cancel := context.WithTimeout(ctx, c.target.Timeout)
	defer cancel()
	err := c.Reader(addr).Ping(pctx).Err()
	if err == nil {
		c.ledger.Call(addr, "ping", 1)
	}
	return err
}

// clusterUp checks that the node at addr sees the cluster up
// (cluster_state:ok in CLUSTER INFO), so it serves keys.
func (c *Cluster) clusterUp(ctx context.Context, addr string) error {
	cctx, cancel := context.WithTimeout(ctx, c.target.Timeout)
	defer cancel()
	text, err := c.Reader(addr).ClusterInfo(cctx).Result()
	if err != nil {
		return err
	}
	c.ledger.Call(addr, "cluster|info", 1)
	if !strings.Contains(text, "cluster_state:ok") {
		return errors.New("the cluster is down for it (cluster_state is not ok)")
	}
	return nil
}

// CheckMaster asks the node at addr whether it still is a master (ROLE);
// its error, when it is not, names the master it follows now.
func (c *Cluster) CheckMaster(ctx context.Context, addr string) error {
	return c.newGuard(addr, c.target.Timeout).check(ctx)
}

// FailedOver reports whether an error from a master says it may have
// failed over: its connection broke, it answers as a replica (READONLY,
// MOVED, or ROLE), or the cluster is down.
func FailedOver(err error) bool { return failoverKind(err) != notFailover }

func (c *Cluster) isReplica(ctx context.Context, addr string) (bool, error) {
	err := c.newGuard(addr, c.target.Timeout).check(ctx)
	var dem *demotedError
	if errors.As(err, &dem) {
		return true, nil
	}
	return false, err
}

// newGuard is a role check of the node at addr, each ROLE bounded by
// timeout.
func (c *Cluster) newGuard(addr string, timeout time.Duration) *roleGuard {
	return &roleGuard{c: c.Reader(addr), node: addr, ledger: c.ledger, timeout: timeout, last: time.Now()}
}

// roleCheck is the role check a scan of the master at addr makes before
// each SCAN (ScanOptions.guard).
func (c *Cluster) roleCheck(addr string, timeout time.Duration) func(ctx context.Context, final bool) error {
	return c.newGuard(addr, timeout).due
}

// roleGuard asks a master, at most every roleEvery and once more at the
// end of the scan, whether it still is one. A scan calls it before each
// SCAN.
type roleGuard struct {
	c       *redis.Client
	node    string
	ledger  *redisinfo.Ledger
	timeout time.Duration
	last    time.Time
}

func (g *roleGuard) due(ctx context.Context, final bool) error {
	if !final && time.Since(g.last) < roleEvery {
		return nil
	}
	return g.check(ctx)
}

// check sends ROLE: "master", or "slave" with its master's address.
func (g *roleGuard) check(ctx context.Context) error {
	g.last = time.Now()
	cctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	v, err := g.c.Do(cctx, "role").Slice()
	if err != nil {
		if isServerReply(err) {
			return nil // ROLE refused (ACL): no guard
		}
		return err
	}
	out := arrayHeaderLen(len(v))
	for _, e := range v {
		switch x := e.(type) {
		case string:
			out += bulkLen(len(x))
		case int64:
			out += intReplyLen(x)
		default:
			out += 4
		}
	}
	if g.ledger != nil {
		g.ledger.Call(g.node, "role", 1)
		g.ledger.Bytes(g.node, int64(respArrayLen("role")), int64(out))
	}
	if len(v) == 0 {
		return nil
	}
	if role, _ := v[0].(string); role != "master" {
		e := &demotedError{node: g.node}
		if len(v) >= 3 {
			h, _ := v[1].(string)
			if p, ok := v[2].(int64); ok {
				e.master = net.JoinHostPort(h, fmt.Sprint(p))
			}
		}
		return e
	}
	return nil
}
